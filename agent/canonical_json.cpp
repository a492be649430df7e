#include "agent/canonical_json.h"

#include <locale.h>
#include <openssl/evp.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <new>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <vector>

#include "common/text.h"

// Python-compatible canonical JSON in two passes: a single-pass parser builds
// a compact tree (strings are views into the input unless they hold escapes,
// object members are filtered and sorted once when the object closes), then a
// writer prints it into one growing buffer exactly as
// json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=True) would.
//
// Decoded strings are held as UTF-8, with lone surrogates from \uD800-style
// escapes encoded as 3-byte sequences (as WTF-8 does). Byte order of that
// encoding is code point order, which is how Python sorts str keys.

namespace edge {
namespace json_detail {

// CPython >= 3.11 refuses to convert integer literals longer than this
// (sys.get_int_max_str_digits()); the master would fail on such a document,
// so there is no hash to agree on.
constexpr std::size_t kMaxPythonIntDigits = 4300;

enum class Kind : std::uint8_t { kNull, kTrue, kFalse, kInt, kFloat, kString, kArray, kObject };

struct Value {
  Kind kind = Kind::kNull;
  std::uint32_t size = 0;  // kInt/kString: bytes; kArray/kObject: children
  union {
    const char* text = nullptr;  // kInt: the literal (sign and digits); kString: decoded UTF-8
    double number;               // kFloat
    std::size_t first;           // kArray: index into elements; kObject: index into members
  };
};

struct Member {
  const char* key = nullptr;  // decoded UTF-8
  std::uint32_t key_size : 31 = 0;
  std::uint32_t stripped : 1 = 0;  // a DESIGN §2 volatile key: in the tree, not in the hash
  std::uint32_t order = 0;         // position in the source object: the last duplicate wins
  Value value;
};

// A growable array of trivially copyable nodes, grown with realloc: past
// glibc's mmap threshold, realloc moves pages with mremap instead of copying
// them, so growing the tree of a 16 MiB body never holds an old and a new
// copy at once, and capacity not yet written is not resident. std::vector
// would copy on every doubling (a transient 2x of the largest array).
template <typename T>
class PodBuffer {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  PodBuffer() = default;
  PodBuffer(PodBuffer&& o) noexcept
      : data_(std::exchange(o.data_, nullptr)),
        size_(std::exchange(o.size_, 0)),
        capacity_(std::exchange(o.capacity_, 0)),
        released_to_(std::exchange(o.released_to_, 0)) {}
  PodBuffer& operator=(PodBuffer&& o) noexcept {
    if (this != &o) {
      std::free(data_);
      data_ = std::exchange(o.data_, nullptr);
      size_ = std::exchange(o.size_, 0);
      capacity_ = std::exchange(o.capacity_, 0);
      released_to_ = std::exchange(o.released_to_, 0);
    }
    return *this;
  }
  PodBuffer(const PodBuffer&) = delete;
  PodBuffer& operator=(const PodBuffer&) = delete;
  ~PodBuffer() { std::free(data_); }

  std::size_t size() const { return size_; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& operator[](std::size_t i) { return data_[i]; }
  const T& operator[](std::size_t i) const { return data_[i]; }

  void push_back(const T& v) {
    if (size_ == capacity_) grow(size_ + 1);
    data_[size_++] = v;
  }
  void append(const T* first, const T* last) {
    const auto n = static_cast<std::size_t>(last - first);
    if (n == 0) return;
    if (size_ + n > capacity_) grow(size_ + n);
    std::memcpy(static_cast<void*>(data_ + size_), first, n * sizeof(T));
    size_ += n;
  }
  void shrink_to(std::size_t n) { size_ = n < size_ ? n : size_; }
  // Returns the whole pages holding elements [0, n) to the kernel: the caller
  // never reads them again (they would read as zeros). The pages around the
  // data's first byte and past n are kept, so malloc's chunk header is never
  // touched; free() and the later elements work as before.
  void release_prefix(std::size_t n) {
    static const auto kPage = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    if (n > size_) n = size_;
    const auto first_page = (reinterpret_cast<std::uintptr_t>(data_) + kPage - 1) & ~(kPage - 1);
    const auto lo = std::max(first_page, released_to_);
    const auto hi = reinterpret_cast<std::uintptr_t>(data_ + n) & ~(kPage - 1);
    if (hi > lo && hi - lo >= kReleaseMin) {
      ::madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
      released_to_ = hi;
    }
  }
  // Gives back the capacity past size() (a finished tree keeps exactly what it holds).
  void shrink_to_fit() {
    if (capacity_ == size_) return;
    if (size_ == 0) {
      std::free(std::exchange(data_, nullptr));
      capacity_ = 0;
      return;
    }
    if (void* p = std::realloc(data_, size_ * sizeof(T))) {
      data_ = static_cast<T*>(p);
      capacity_ = size_;
    }
  }

 private:
  void grow(std::size_t need) {
    std::size_t cap = capacity_ < 64 ? 64 : capacity_ + capacity_ / 2;
    if (cap < need) cap = need;
    void* p = std::realloc(data_, cap * sizeof(T));
    if (p == nullptr) throw std::bad_alloc();
    data_ = static_cast<T*>(p);
    capacity_ = cap;
  }

  static constexpr std::uintptr_t kReleaseMin = 64u << 10;  // fewer, larger madvise calls

  T* data_ = nullptr;
  std::size_t size_ = 0;
  std::size_t capacity_ = 0;
  std::uintptr_t released_to_ = 0;  // release_prefix has given back the pages below
};

using Elements = PodBuffer<Value>;
using Members = PodBuffer<Member>;

}  // namespace json_detail
namespace {
using json_detail::Kind;
using json_detail::kMaxPythonIntDigits;
using json_detail::Member;
using json_detail::Value;

bool key_less(const Member& a, const Member& b) {
  const std::size_t n = std::min(a.key_size, b.key_size);
  const int c = n == 0 ? 0 : std::memcmp(a.key, b.key, n);
  if (c != 0) return c < 0;
  if (a.key_size != b.key_size) return a.key_size < b.key_size;
  return a.order < b.order;
}

bool key_equal(const Member& a, const Member& b) {
  return a.key_size == b.key_size &&
         (a.key_size == 0 || std::memcmp(a.key, b.key, a.key_size) == 0);
}

template <std::size_t N>
bool is(const char* p, std::size_t n, const char (&lit)[N]) {
  return n == N - 1 && std::memcmp(p, lit, N - 1) == 0;
}

// The keys DESIGN §2 strips at every level.
bool is_volatile(const char* p, std::size_t n) {
  switch (n) {
    case 1:
      return *p == 'x' || *p == 'y' || *p == 'w' || *p == 'h';
    case 6:
      return is(p, n, "status");
    case 7:
      return is(p, n, "version");
    case 9:
      return is(p, n, "last_seen");
    case 10:
      return is(p, n, "created_at") || is(p, n, "updated_at") || is(p, n, "last_error");
    case 17:
      return is(p, n, "status_changed_at");
    default:
      return false;
  }
}

// Bytes that may be copied as-is inside a string, on input and on output.
constexpr std::array<bool, 256> make_plain_table() {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x7f; ++c) t[c] = true;
  t['"'] = false;
  t['\\'] = false;
  return t;
}
constexpr std::array<bool, 256> kPlainOut = make_plain_table();
constexpr std::array<bool, 256> kPlainIn = [] {
  std::array<bool, 256> t = make_plain_table();
  t[0x7f] = true;  // DEL is not a control character for the JSON grammar
  return t;
}();

// Length of the valid UTF-8 sequence at s (lead byte >= 0x80), 0 if invalid
// (overlong, surrogate, above U+10FFFF, truncated), per Unicode table 3-7.
std::size_t utf8_sequence(const unsigned char* s, const unsigned char* end) {
  const unsigned char c = s[0];
  const std::size_t avail = static_cast<std::size_t>(end - s);
  auto cont = [&](std::size_t i, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return i < avail && s[i] >= lo && s[i] <= hi;
  };
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c == 0xE0) return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) return cont(1) && cont(2) ? 3 : 0;
  if (c == 0xED) return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (c == 0xF0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xF1 && c <= 0xF3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c == 0xF4) return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

char* put_utf8(char* w, std::uint32_t cp) {
  if (cp < 0x80) {
    *w++ = static_cast<char>(cp);
  } else if (cp < 0x800) {
    *w++ = static_cast<char>(0xC0 | (cp >> 6));
    *w++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *w++ = static_cast<char>(0xE0 | (cp >> 12));
    *w++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *w++ = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *w++ = static_cast<char>(0xF0 | (cp >> 18));
    *w++ = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *w++ = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *w++ = static_cast<char>(0x80 | (cp & 0x3F));
  }
  return w;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Python's float(): correctly rounded, overflow to +-inf, underflow to +-0.
double to_double(const char* first, const char* last) {
  double d = 0;
  const auto r = std::from_chars(first, last, d);
  if (r.ec == std::errc() && r.ptr == last) return d;
  // Out of range: let glibc's strtod (also correctly rounded) say whether
  // it overflows or underflows, in the C locale whatever the process uses.
  static const locale_t c_locale = newlocale(LC_ALL_MASK, "C", static_cast<locale_t>(nullptr));
  const std::string copy(first, last);
  return c_locale != nullptr ? strtod_l(copy.c_str(), nullptr, c_locale)
                             : std::strtod(copy.c_str(), nullptr);
}

class Parser {
 public:
  Parser(std::string_view text, bool reject_duplicates)
      : begin_(text.data()),
        p_(text.data()),
        end_(text.data() + text.size()),
        reject_duplicates_(reject_duplicates) {}

  // Parses the whole text into `root`; false with error() set otherwise.
  bool parse(Value& root) {
    if (static_cast<std::uint64_t>(end_ - begin_) >= 0xFFFFFFFFull) {
      return fail_at(begin_, "document larger than 4 GiB");
    }
    if (end_ - begin_ >= 3 && std::memcmp(begin_, "\xEF\xBB\xBF", 3) == 0) {
      return fail_at(begin_, "UTF-8 byte order mark before the document");
    }
    if (!value(root)) return false;
    skip_ws();
    if (p_ != end_) return fail_at(p_, "trailing data after the JSON document");
    return true;
  }

  const std::string& error() const { return error_; }
  bool duplicate() const { return duplicate_; }
  const json_detail::Elements& elements() const { return elements_; }
  const json_detail::Members& members() const { return members_; }
  std::size_t size_hint() const { return static_cast<std::size_t>(end_ - begin_); }
  // Raw text of each member of the root object, in source order.
  const std::vector<std::pair<std::string_view, std::string_view>>& root_raw() const {
    return root_raw_;
  }
  json_detail::Elements take_elements() {
    elements_.shrink_to_fit();
    return std::move(elements_);
  }
  json_detail::Members take_members() {
    members_.shrink_to_fit();
    return std::move(members_);
  }
  std::unique_ptr<char[]> take_arena() { return std::move(arena_); }

 private:
  bool fail_at(const char* at, std::string_view what) {
    error_ = "invalid JSON: ";
    error_ += what;
    error_ += " at byte offset ";
    error_ += std::to_string(at - begin_);
    return false;
  }

  bool fail_unexpected(std::string_view expected) {
    if (p_ == end_) return fail_at(p_, std::string(expected) + ", found the end of the text");
    const unsigned char c = static_cast<unsigned char>(*p_);
    std::string found;
    if (c > 0x20 && c < 0x7f) {
      found = std::string("'") + static_cast<char>(c) + "'";
    } else {
      static constexpr char kHex[] = "0123456789ABCDEF";
      found = std::string("byte 0x") + kHex[c >> 4] + kHex[c & 15];
    }
    return fail_at(p_, std::string(expected) + ", found " + found);
  }

  // "duplicate key 'name' in hydrated.lans[0]": the key and the path of the
  // object it repeats in, each quoted as a short excerpt.
  bool fail_duplicate(const Member& m) {
    std::string where;
    for (const auto& [key, n] : path_) {
      if (key == nullptr) {
        where += "[" + std::to_string(n) + "]";
      } else {
        where += (where.empty() ? "" : ".") + excerpt(std::string_view(key, n), 40);
      }
    }
    error_ = "duplicate key '" + excerpt(std::string_view(m.key, m.key_size), 40) + "' in " +
             (where.empty() ? std::string("the top-level object") : "'" + where + "'");
    duplicate_ = true;
    return false;
  }

  void skip_ws() {
    while (p_ != end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) ++p_;
  }

  bool literal(std::string_view word) {
    if (static_cast<std::size_t>(end_ - p_) < word.size() ||
        std::memcmp(p_, word.data(), word.size()) != 0) {
      return fail_unexpected("expected a JSON value");
    }
    p_ += word.size();
    return true;
  }

  bool value(Value& v) {
    skip_ws();
    if (p_ == end_) return fail_unexpected("expected a JSON value");
    switch (*p_) {
      case '{':
        return object(v);
      case '[':
        return array(v);
      case '"':
        v.kind = Kind::kString;
        return string(v.text, v.size);
      case 't':
        v.kind = Kind::kTrue;
        return literal("true");
      case 'f':
        v.kind = Kind::kFalse;
        return literal("false");
      case 'n':
        v.kind = Kind::kNull;
        return literal("null");
      case 'N':  // Python's json accepts (and prints) NaN and Infinity
        v.kind = Kind::kFloat;
        v.number = std::numeric_limits<double>::quiet_NaN();
        return literal("NaN");
      case 'I':
        v.kind = Kind::kFloat;
        v.number = std::numeric_limits<double>::infinity();
        return literal("Infinity");
      default:
        if (*p_ == '-' || is_digit(*p_)) return number(v);
        return fail_unexpected("expected a JSON value");
    }
  }

  bool enter(const char* at) {
    if (++depth_ > kMaxJsonDepth) {
      return fail_at(at, "nesting deeper than " + std::to_string(kMaxJsonDepth) + " levels");
    }
    return true;
  }

  bool object(Value& v) {
    if (!enter(p_)) return false;
    ++p_;
    const std::size_t base = member_stack_.size();
    skip_ws();
    if (p_ != end_ && *p_ == '}') {
      ++p_;
    } else {
      for (std::uint32_t order = 0;; ++order) {
        skip_ws();
        if (p_ == end_ || *p_ != '"') return fail_unexpected("expected a string key in object");
        Member m;
        m.order = order;
        const char* key = nullptr;
        std::uint32_t key_size = 0;
        if (!string(key, key_size)) return false;
        m.key = key;
        m.key_size = key_size;
        m.stripped = is_volatile(key, key_size) ? 1 : 0;
        skip_ws();
        if (p_ == end_ || *p_ != ':') return fail_unexpected("expected ':' after object key");
        ++p_;
        skip_ws();
        const char* value_start = p_;
        path_.emplace_back(key, key_size);
        if (!value(m.value)) return false;
        path_.pop_back();
        if (depth_ == 1) {
          root_raw_.emplace_back(
              std::string_view(key, key_size),
              std::string_view(value_start, static_cast<std::size_t>(p_ - value_start)));
        }
        member_stack_.push_back(m);
        skip_ws();
        if (p_ != end_ && *p_ == ',') {
          ++p_;
          continue;
        }
        if (p_ != end_ && *p_ == '}') {
          ++p_;
          break;
        }
        return fail_unexpected("expected ',' or '}' in object");
      }
    }
    Member* const first = member_stack_.begin() + base;
    Member* const last = member_stack_.end();
    if (!std::is_sorted(first, last, key_less)) std::sort(first, last, key_less);
    v.kind = Kind::kObject;
    v.first = members_.size();
    for (Member* it = first; it != last; ++it) {
      if (it + 1 != last && key_equal(*it, *(it + 1))) {
        if (reject_duplicates_) return fail_duplicate(*it);
        continue;  // a later duplicate wins, as in Python
      }
      members_.push_back(*it);
    }
    v.size = static_cast<std::uint32_t>(members_.size() - v.first);
    member_stack_.shrink_to(base);
    --depth_;
    return true;
  }

  bool array(Value& v) {
    if (!enter(p_)) return false;
    ++p_;
    const std::size_t base = element_stack_.size();
    skip_ws();
    if (p_ != end_ && *p_ == ']') {
      ++p_;
    } else {
      for (std::size_t index = 0;; ++index) {
        Value e;
        path_.emplace_back(nullptr, index);
        if (!value(e)) return false;
        path_.pop_back();
        element_stack_.push_back(e);
        skip_ws();
        if (p_ != end_ && *p_ == ',') {
          ++p_;
          continue;
        }
        if (p_ != end_ && *p_ == ']') {
          ++p_;
          break;
        }
        return fail_unexpected("expected ',' or ']' in array");
      }
    }
    v.kind = Kind::kArray;
    v.first = elements_.size();
    v.size = static_cast<std::uint32_t>(element_stack_.size() - base);
    elements_.append(element_stack_.begin() + base, element_stack_.end());
    element_stack_.shrink_to(base);
    --depth_;
    return true;
  }

  bool number(Value& v) {
    const char* start = p_;
    if (*p_ == '-') {
      ++p_;
      if (p_ != end_ && *p_ == 'I') {
        v.kind = Kind::kFloat;
        v.number = -std::numeric_limits<double>::infinity();
        return literal("Infinity");
      }
    }
    if (p_ == end_ || !is_digit(*p_)) return fail_unexpected("expected a digit");
    if (*p_ == '0') {
      ++p_;
    } else {
      while (p_ != end_ && is_digit(*p_)) ++p_;
    }
    const char* int_end = p_;
    bool is_float = false;
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail_unexpected("expected a digit after '.'");
      while (p_ != end_ && is_digit(*p_)) ++p_;
      is_float = true;
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !is_digit(*p_)) return fail_unexpected("expected a digit in the exponent");
      while (p_ != end_ && is_digit(*p_)) ++p_;
      is_float = true;
    }
    if (is_float) {
      v.kind = Kind::kFloat;
      v.number = to_double(start, p_);
      return true;
    }
    const std::size_t digits = static_cast<std::size_t>(int_end - start) - (*start == '-' ? 1 : 0);
    if (digits > kMaxPythonIntDigits) {
      return fail_at(start, "integer of " + std::to_string(digits) +
                                " digits exceeds Python's limit of " +
                                std::to_string(kMaxPythonIntDigits) + " digits");
    }
    v.kind = Kind::kInt;
    v.text = start;
    v.size = static_cast<std::uint32_t>(p_ - start);
    return true;
  }

  // At the opening quote. Yields the decoded content: a view into the input
  // when there is no escape, else a copy in the arena.
  bool string(const char*& out, std::uint32_t& size) {
    const char* open = p_;
    const char* start = p_ + 1;
    const auto* s = reinterpret_cast<const unsigned char*>(start);
    const auto* end = reinterpret_cast<const unsigned char*>(end_);
    for (;;) {
      while (s != end && kPlainIn[*s]) ++s;
      if (s == end) return fail_at(open, "unterminated string");
      if (*s == '"') {
        out = start;
        size = static_cast<std::uint32_t>(reinterpret_cast<const char*>(s) - start);
        p_ = reinterpret_cast<const char*>(s) + 1;
        return true;
      }
      if (*s == '\\') break;
      if (!check_non_plain(s, end)) return false;
    }
    // Slow path: decoded text never exceeds its source, so the arena sized
    // to the whole input never reallocates and views into it stay valid.
    if (!arena_) {
      arena_ = std::make_unique_for_overwrite<char[]>(static_cast<std::size_t>(end_ - begin_));
      arena_used_ = 0;
    }
    char* const dst = arena_.get() + arena_used_;
    const std::size_t prefix = static_cast<std::size_t>(reinterpret_cast<const char*>(s) - start);
    std::memcpy(dst, start, prefix);
    char* w = dst + prefix;
    for (;;) {
      const unsigned char* run = s;
      while (s != end && kPlainIn[*s]) ++s;
      std::memcpy(w, run, static_cast<std::size_t>(s - run));
      w += s - run;
      if (s == end) return fail_at(open, "unterminated string");
      if (*s == '"') break;
      if (*s == '\\') {
        if (!escape(s, end, w)) return false;
        continue;
      }
      const unsigned char* seq = s;
      if (!check_non_plain(s, end)) return false;
      std::memcpy(w, seq, static_cast<std::size_t>(s - seq));
      w += s - seq;
    }
    out = dst;
    size = static_cast<std::uint32_t>(w - dst);
    arena_used_ += static_cast<std::size_t>(w - dst);
    p_ = reinterpret_cast<const char*>(s) + 1;
    return true;
  }

  // s at a control character or a non-ASCII lead byte inside a string.
  bool check_non_plain(const unsigned char*& s, const unsigned char* end) {
    const char* at = reinterpret_cast<const char*>(s);
    if (*s < 0x20) {
      static constexpr char kHex[] = "0123456789ABCDEF";
      return fail_at(at, std::string("raw control character 0x") + kHex[*s >> 4] + kHex[*s & 15] +
                             " inside a string (must be escaped)");
    }
    const std::size_t n = utf8_sequence(s, end);
    if (n == 0) return fail_at(at, "invalid UTF-8");
    s += n;
    return true;
  }

  bool read_hex4(const unsigned char* s, const unsigned char* end, std::uint32_t& cp) {
    if (end - s < 4) return false;
    cp = 0;
    for (int i = 0; i < 4; ++i) {
      const int h = hex_value(static_cast<char>(s[i]));
      if (h < 0) return false;
      cp = (cp << 4) | static_cast<std::uint32_t>(h);
    }
    return true;
  }

  // s at a backslash. Python's rules: a high surrogate escape directly
  // followed by a low surrogate escape is one character; any other
  // surrogate escape stays a lone surrogate.
  bool escape(const unsigned char*& s, const unsigned char* end, char*& w) {
    const char* at = reinterpret_cast<const char*>(s);
    if (end - s < 2) return fail_at(at, "unterminated string");
    const unsigned char c = s[1];
    char simple = 0;
    switch (c) {
      case '"':
        simple = '"';
        break;
      case '\\':
        simple = '\\';
        break;
      case '/':
        simple = '/';
        break;
      case 'b':
        simple = '\b';
        break;
      case 'f':
        simple = '\f';
        break;
      case 'n':
        simple = '\n';
        break;
      case 'r':
        simple = '\r';
        break;
      case 't':
        simple = '\t';
        break;
      case 'u':
        break;
      default:
        return fail_at(at, "invalid escape sequence in string");
    }
    if (simple != 0) {
      *w++ = simple;
      s += 2;
      return true;
    }
    std::uint32_t cp = 0;
    if (!read_hex4(s + 2, end, cp)) return fail_at(at, "invalid \\uXXXX escape");
    s += 6;
    if (cp >= 0xD800 && cp <= 0xDBFF && end - s >= 6 && s[0] == '\\' && s[1] == 'u') {
      std::uint32_t low = 0;
      if (!read_hex4(s + 2, end, low)) {
        return fail_at(reinterpret_cast<const char*>(s), "invalid \\uXXXX escape");
      }
      if (low >= 0xDC00 && low <= 0xDFFF) {
        cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
        s += 6;
      }
    }
    w = put_utf8(w, cp);
    return true;
  }

  const char* begin_;
  const char* p_;
  const char* end_;
  std::size_t depth_ = 0;
  std::string error_;
  json_detail::Elements elements_;  // array elements, contiguous per array
  json_detail::Members members_;    // object members, sorted and unique per object
  json_detail::Elements element_stack_;
  json_detail::Members member_stack_;
  std::unique_ptr<char[]> arena_;
  std::size_t arena_used_ = 0;
  const bool reject_duplicates_;
  bool duplicate_ = false;
  // Where the parser is: (key, size) for an object member, (nullptr, index)
  // for an array element. Only read to name a duplicate key.
  std::vector<std::pair<const char*, std::size_t>> path_;
  std::vector<std::pair<std::string_view, std::string_view>> root_raw_;
};

// Prints into one growing buffer, or, given a digest, through a fixed
// buffer that is hashed and reused whenever it fills: a hash then costs
// 64 KiB however large the document, instead of a second copy of it.
class Writer {
 public:
  static constexpr std::size_t kDigestChunk = 64u << 10;

  Writer(const json_detail::Elements& elements, const json_detail::Members& members,
         std::size_t size_hint, EVP_MD_CTX* digest = nullptr)
      : elements_(elements), members_(members), digest_(digest) {
    out_.resize(digest_ != nullptr ? kDigestChunk : size_hint + size_hint / 8 + 64);
  }

  void value(const Value& v) {
    switch (v.kind) {
      case Kind::kNull:
        raw("null", 4);
        return;
      case Kind::kTrue:
        raw("true", 4);
        return;
      case Kind::kFalse:
        raw("false", 5);
        return;
      case Kind::kInt:
        if (v.size == 2 && v.text[0] == '-' && v.text[1] == '0') {
          raw("0", 1);  // Python's int has no negative zero
        } else {
          raw(v.text, v.size);
        }
        return;
      case Kind::kFloat:
        number(v.number);
        return;
      case Kind::kString:
        string(v.text, v.size);
        return;
      case Kind::kArray: {
        put('[');
        for (std::uint32_t i = 0; i < v.size; ++i) {
          if (i != 0) put(',');
          value(elements_[v.first + i]);
        }
        put(']');
        return;
      }
      case Kind::kObject: {
        put('{');
        bool first = true;
        for (std::uint32_t i = 0; i < v.size; ++i) {
          const Member& m = members_[v.first + i];
          if (m.stripped) continue;
          if (!first) put(',');
          first = false;
          string(m.key, m.key_size);
          put(':');
          value(m.value);
        }
        put('}');
        return;
      }
    }
  }

  std::string take() {
    out_.resize(len_);
    return std::move(out_);
  }

  // Digest mode: hashes what is still buffered. False if OpenSSL failed.
  bool finish() { return flush() && ok_; }

 private:
  bool flush() {
    if (len_ > 0 && EVP_DigestUpdate(digest_, out_.data(), len_) != 1) ok_ = false;
    len_ = 0;
    return ok_;
  }

  // Room for n more bytes (n is small, or raw() streams it past the buffer).
  char* reserve(std::size_t n) {
    if (len_ + n > out_.size()) {
      if (digest_ != nullptr) {
        flush();
        if (n > out_.size()) out_.resize(n);
      } else {
        out_.resize(std::max(out_.size() * 2, len_ + n));
      }
    }
    return out_.data() + len_;
  }

  void put(char c) {
    *reserve(1) = c;
    ++len_;
  }

  void raw(const char* p, std::size_t n) {
    if (digest_ != nullptr && n > kDigestChunk / 2) {
      flush();
      if (EVP_DigestUpdate(digest_, p, n) != 1) ok_ = false;
      return;
    }
    std::memcpy(reserve(n), p, n);
    len_ += n;
  }

  // float.__repr__, with json's spellings of the non-finite values.
  void number(double d) {
    if (std::isnan(d)) return raw("NaN", 3);
    if (std::isinf(d)) return d > 0 ? raw("Infinity", 8) : raw("-Infinity", 9);
    char buf[40];
    const auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
    // buf: [-]D[.DDDD]e(+|-)XX[X], shortest round-trip digits.
    const char* p = buf;
    char* w = reserve(40);
    char* const w0 = w;
    if (*p == '-') *w++ = *p++;
    char digits[20];
    int n = 0;
    for (; *p != 'e'; ++p) {
      if (*p != '.') digits[n++] = *p;
    }
    ++p;
    int exp = 0;
    std::from_chars(p + (*p == '+' ? 1 : 0), r.ptr, exp);
    if (exp < -4 || exp >= 16) {
      *w++ = digits[0];
      if (n > 1) {
        *w++ = '.';
        std::memcpy(w, digits + 1, static_cast<std::size_t>(n - 1));
        w += n - 1;
      }
      *w++ = 'e';
      *w++ = exp < 0 ? '-' : '+';
      const int a = exp < 0 ? -exp : exp;
      if (a < 10) *w++ = '0';
      w = std::to_chars(w, w + 4, a).ptr;
    } else if (exp >= 0) {
      const int int_digits = exp + 1;
      for (int i = 0; i < int_digits; ++i) *w++ = i < n ? digits[i] : '0';
      *w++ = '.';
      if (n > int_digits) {
        std::memcpy(w, digits + int_digits, static_cast<std::size_t>(n - int_digits));
        w += n - int_digits;
      } else {
        *w++ = '0';
      }
    } else {
      *w++ = '0';
      *w++ = '.';
      for (int i = 1; i < -exp; ++i) *w++ = '0';
      std::memcpy(w, digits, static_cast<std::size_t>(n));
      w += n;
    }
    len_ += static_cast<std::size_t>(w - w0);
  }

  // ensure_ascii: \uXXXX (lowercase) for everything outside printable ASCII
  // except the short escapes; surrogate pairs above U+FFFF.
  void string(const char* text, std::size_t size) {
    static constexpr char kHex[] = "0123456789abcdef";
    const auto* s = reinterpret_cast<const unsigned char*>(text);
    const auto* end = s + size;
    put('"');
    while (s != end) {
      const unsigned char* run = s;
      while (s != end && kPlainOut[*s]) ++s;
      if (s != run) raw(reinterpret_cast<const char*>(run), static_cast<std::size_t>(s - run));
      if (s == end) break;
      char* w = reserve(12);
      char* const w0 = w;
      const unsigned char c = *s;
      std::uint32_t cp = c;
      std::size_t n = 1;
      if (c >= 0x80) {  // valid (generalised) UTF-8, checked by the parser
        if (c < 0xE0) {
          cp = ((c & 0x1Fu) << 6) | (s[1] & 0x3Fu);
          n = 2;
        } else if (c < 0xF0) {
          cp = ((c & 0x0Fu) << 12) | ((s[1] & 0x3Fu) << 6) | (s[2] & 0x3Fu);
          n = 3;
        } else {
          cp =
              ((c & 0x07u) << 18) | ((s[1] & 0x3Fu) << 12) | ((s[2] & 0x3Fu) << 6) | (s[3] & 0x3Fu);
          n = 4;
        }
      }
      s += n;
      auto u4 = [&](std::uint32_t u) {
        *w++ = '\\';
        *w++ = 'u';
        *w++ = kHex[(u >> 12) & 15];
        *w++ = kHex[(u >> 8) & 15];
        *w++ = kHex[(u >> 4) & 15];
        *w++ = kHex[u & 15];
      };
      switch (cp) {
        case '"':
          *w++ = '\\';
          *w++ = '"';
          break;
        case '\\':
          *w++ = '\\';
          *w++ = '\\';
          break;
        case '\n':
          *w++ = '\\';
          *w++ = 'n';
          break;
        case '\r':
          *w++ = '\\';
          *w++ = 'r';
          break;
        case '\t':
          *w++ = '\\';
          *w++ = 't';
          break;
        case '\b':
          *w++ = '\\';
          *w++ = 'b';
          break;
        case '\f':
          *w++ = '\\';
          *w++ = 'f';
          break;
        default:
          if (cp >= 0x10000) {
            const std::uint32_t v = cp - 0x10000;
            u4(0xD800 | (v >> 10));
            u4(0xDC00 | (v & 0x3FF));
          } else {
            u4(cp);
          }
      }
      len_ += static_cast<std::size_t>(w - w0);
    }
    put('"');
  }

  const json_detail::Elements& elements_;
  const json_detail::Members& members_;
  std::string out_;
  EVP_MD_CTX* const digest_;  // null: print into out_
  bool ok_ = true;
  std::size_t len_ = 0;
};

CanonicalResult fail(std::string error) {
  CanonicalResult r;
  r.error = std::move(error);
  return r;
}

}  // namespace

namespace json_detail {
struct TreeData {
  Elements elements;
  Members members;
  std::unique_ptr<char[]> arena;
  Value root;
  std::vector<std::pair<std::string_view, std::string_view>> root_raw;
};
}  // namespace json_detail

CanonicalResult canonical_json(std::string_view json_text) {
  try {
    Parser parser(json_text, /*reject_duplicates=*/false);
    Value root;
    if (!parser.parse(root)) return fail(parser.error());
    Writer writer(parser.elements(), parser.members(), json_text.size());
    writer.value(root);
    CanonicalResult r;
    r.ok = true;
    r.text = writer.take();
    return r;
  } catch (const std::bad_alloc&) {
    return fail("out of memory while canonicalising a document of " +
                std::to_string(json_text.size()) + " bytes");
  }
}

CanonicalResult canonical_hash(std::string_view json_text) {
  CanonicalResult r = canonical_json(json_text);
  if (!r.ok) return r;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (EVP_Digest(r.text.data(), r.text.size(), md, &md_len, EVP_sha256(), nullptr) != 1) {
    return fail("OpenSSL could not compute SHA-256 (EVP_Digest failed)");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.resize(md_len * 2);
  for (unsigned int i = 0; i < md_len; ++i) {
    hex[2 * i] = kHex[md[i] >> 4];
    hex[2 * i + 1] = kHex[md[i] & 15];
  }
  r.text = std::move(hex);
  return r;
}

}  // namespace edge

namespace edge {

using json_detail::TreeData;

JsonRef::Kind JsonRef::kind() const {
  switch (value_->kind) {
    case json_detail::Kind::kNull:
      return Kind::kNull;
    case json_detail::Kind::kTrue:
    case json_detail::Kind::kFalse:
      return Kind::kBool;
    case json_detail::Kind::kInt:
      return Kind::kInt;
    case json_detail::Kind::kFloat:
      return Kind::kFloat;
    case json_detail::Kind::kString:
      return Kind::kString;
    case json_detail::Kind::kArray:
      return Kind::kArray;
    case json_detail::Kind::kObject:
      return Kind::kObject;
  }
  return Kind::kNull;
}

const char* JsonRef::type_name() const {
  switch (kind()) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "boolean";
    case Kind::kInt:
    case Kind::kFloat:
      return "number";
    case Kind::kString:
      return "string";
    case Kind::kArray:
      return "array";
    case Kind::kObject:
      return "object";
  }
  return "value";
}

std::string_view JsonRef::string() const {
  if (value_->kind != json_detail::Kind::kString) return {};
  return {value_->text, value_->size};
}

bool JsonRef::boolean() const { return value_->kind == json_detail::Kind::kTrue; }

std::size_t JsonRef::size() const {
  if (value_->kind != json_detail::Kind::kArray && value_->kind != json_detail::Kind::kObject) {
    return 0;
  }
  return value_->size;
}

JsonRef JsonRef::at(std::size_t index) const {
  return {tree_, &tree_->elements[value_->first + index]};
}

std::string_view JsonRef::key_at(std::size_t index) const {
  const Member& m = tree_->members[value_->first + index];
  return {m.key, m.key_size};
}

JsonRef JsonRef::value_at(std::size_t index) const {
  return {tree_, &tree_->members[value_->first + index].value};
}

std::optional<JsonRef> JsonRef::find(std::string_view key) const {
  if (value_->kind != json_detail::Kind::kObject) return std::nullopt;
  // Members are sorted by key bytes: binary search.
  const Member* first = tree_->members.begin() + value_->first;
  const Member* last = first + value_->size;
  const Member* it = std::lower_bound(first, last, key, [](const Member& m, std::string_view k) {
    return std::string_view(m.key, m.key_size) < k;
  });
  if (it == last || std::string_view(it->key, it->key_size) != key) return std::nullopt;
  return JsonRef(tree_, &it->value);
}

std::string JsonRef::dump() const {
  Writer writer(tree_->elements, tree_->members, 16);
  writer.value(*value_);
  return writer.take();
}

JsonTree::JsonTree() : data_(std::make_unique<TreeData>()) {}
JsonTree::JsonTree(JsonTree&&) noexcept = default;
JsonTree& JsonTree::operator=(JsonTree&&) noexcept = default;
JsonTree::~JsonTree() = default;

Expected<JsonTree> JsonTree::parse(std::string_view text, Duplicates duplicates) {
  try {
    Parser parser(text, duplicates == Duplicates::kReject);
    JsonTree tree;
    if (!parser.parse(tree.data_->root)) {
      return Status(parser.duplicate() ? kDuplicateKey : kInvalidJson, parser.error());
    }
    tree.data_->root_raw = parser.root_raw();
    tree.data_->elements = parser.take_elements();
    tree.data_->members = parser.take_members();
    tree.data_->arena = parser.take_arena();
    return tree;
  } catch (const std::bad_alloc&) {
    return Status(kInvalidJson, "out of memory while parsing a document of " +
                                    std::to_string(text.size()) + " bytes");
  }
}

JsonRef JsonTree::root() const { return {data_.get(), &data_->root}; }

std::string JsonTree::canonical(const JsonRef& value) const {
  Writer writer(data_->elements, data_->members, 256);
  writer.value(*value.value_);
  return writer.take();
}

std::string JsonTree::canonical_hash(const JsonRef& value) const {
  // Streamed: the canonical text of a 16 MiB topology is never held whole.
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  bool ok = ctx && EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr) == 1;
  if (ok) {
    Writer writer(data_->elements, data_->members, 0, ctx.get());
    writer.value(*value.value_);
    ok = writer.finish() && EVP_DigestFinal_ex(ctx.get(), md, &md_len) == 1;
  }
  if (!ok) return sha256_hex(canonical(value));  // the one-shot path says why, if it must
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(2 * md_len, '0');
  for (unsigned int i = 0; i < md_len; ++i) {
    out[2 * i] = kHex[md[i] >> 4];
    out[2 * i + 1] = kHex[md[i] & 15];
  }
  return out;
}

namespace {
// The lowest index, in each of the two node arrays, of anything in v's
// subtree. A container's own block is appended when it closes, after the
// blocks of everything inside it, so the lowest index is found below.
void lowest_in_subtree(const TreeData& t, const json_detail::Value& v, std::size_t* elements,
                       std::size_t* members) {
  if (v.kind == json_detail::Kind::kArray && v.size > 0) {
    *elements = std::min(*elements, v.first);
    for (std::uint32_t i = 0; i < v.size; ++i) {
      lowest_in_subtree(t, t.elements[v.first + i], elements, members);
    }
  } else if (v.kind == json_detail::Kind::kObject && v.size > 0) {
    *members = std::min(*members, v.first);
    for (std::uint32_t i = 0; i < v.size; ++i) {
      lowest_in_subtree(t, t.members[v.first + i].value, elements, members);
    }
  }
}
}  // namespace

void JsonTree::forget_before(const JsonRef& value) {
  // An array with no entry in value's subtree says nothing of where value
  // began in it: it keeps everything.
  const std::size_t none = std::numeric_limits<std::size_t>::max();
  std::size_t elements = none;
  std::size_t members = none;
  lowest_in_subtree(*data_, *value.value_, &elements, &members);
  if (elements != none) data_->elements.release_prefix(elements);
  if (members != none) data_->members.release_prefix(members);
}

std::string_view JsonTree::raw_root_member(std::string_view key) const {
  std::string_view found;
  for (const auto& [k, raw] : data_->root_raw) {
    if (k == key) found = raw;  // the last one, as the tree keeps it
  }
  return found;
}

}  // namespace edge
