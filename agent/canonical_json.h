#pragma once
// The master's version hash, byte for byte (DESIGN §2):
//   sha256_hex(json.dumps(strip(doc), sort_keys=True, separators=(",", ":")))
// computed from the JSON text as received, so integers of any size, float
// spelling and lone surrogates come out exactly as Python prints them.

#include <cstddef>
#include <string>
#include <string_view>

namespace edge {

inline constexpr std::size_t kMaxJsonDepth = 64;

struct CanonicalResult {
  bool ok = false;
  std::string text;   // canonical JSON (canonical_json) or hex digest (canonical_hash)
  std::string error;  // when !ok: what is wrong and where (byte offset)
};

// Parses `json_text` (strict RFC 8259 plus Python's NaN/Infinity literals,
// nesting capped at kMaxJsonDepth, UTF-8 validated), strips the volatile keys
// at every level, and prints it as Python would.
//
// Errors are values, never exceptions: !ok with `error` reading
// "invalid JSON: <what> at byte offset <n>" for text the master's Python
// rejects (bad syntax, raw control character or invalid UTF-8 in a string,
// trailing data) and for text refused here although some Python setups take
// it: nesting deeper than kMaxJsonDepth, integers of more than 4300 digits
// (CPython >= 3.11 refuses them by default), a leading UTF-8 byte order mark.
// Out of memory is an error too. Pure function: thread-safe, keeps no state,
// reads the input only during the call.
CanonicalResult canonical_json(std::string_view json_text);

// Lowercase sha256 hex of canonical_json(json_text); its errors unchanged.
CanonicalResult canonical_hash(std::string_view json_text);

}  // namespace edge

#include <memory>
#include <optional>

#include "common/status.h"

namespace edge {

namespace json_detail {
struct Value;
struct TreeData;
}  // namespace json_detail

// A read-only view of one value inside a JsonTree; valid while the tree and
// the text it was parsed from live. Accessors of the wrong kind return
// empty/false/0, never throw.
class JsonRef {
 public:
  enum class Kind { kNull, kBool, kInt, kFloat, kString, kArray, kObject };
  Kind kind() const;
  bool is_object() const { return kind() == Kind::kObject; }
  bool is_array() const { return kind() == Kind::kArray; }
  bool is_string() const { return kind() == Kind::kString; }
  bool is_bool() const { return kind() == Kind::kBool; }
  bool is_null() const { return kind() == Kind::kNull; }
  bool is_number() const { return kind() == Kind::kInt || kind() == Kind::kFloat; }
  bool is_scalar() const { return !is_object() && !is_array(); }
  const char* type_name() const;  // "object", "string", ... for messages

  // The decoded text (UTF-8; a lone surrogate escape as its 3-byte form).
  std::string_view string() const;
  bool boolean() const;
  // Number of array elements or object members (volatile keys included).
  std::size_t size() const;
  JsonRef at(std::size_t index) const;  // array element
  // Object member by decoded key (volatile keys included).
  std::optional<JsonRef> find(std::string_view key) const;
  std::string_view key_at(std::size_t index) const;  // object members, sorted by key
  JsonRef value_at(std::size_t index) const;
  // The value printed as the canonical form prints it (Python's json.dumps):
  // numbers as Python prints them, strings quoted and escaped.
  std::string dump() const;

 private:
  friend class JsonTree;
  JsonRef(const json_detail::TreeData* tree, const json_detail::Value* value)
      : tree_(tree), value_(value) {}
  const json_detail::TreeData* tree_;
  const json_detail::Value* value_;
};

// The one parse of a request body (DESIGN §3): the same tree yields the
// canonical hash of any subtree and the values a typed model is built from.
class JsonTree {
 public:
  enum class Duplicates { kLastWins, kReject };
  // Status codes of parse() failures.
  static constexpr int kInvalidJson = 1;
  static constexpr int kDuplicateKey = 2;  // the message names the key and its path

  // `text` must outlive the tree (strings without escapes are views into it).
  // Same grammar and limits as canonical_json().
  static Expected<JsonTree> parse(std::string_view text, Duplicates duplicates);

  JsonTree(JsonTree&&) noexcept;
  JsonTree& operator=(JsonTree&&) noexcept;
  ~JsonTree();

  JsonRef root() const;
  // Canonical JSON (stripped, sorted, Python's spelling) of a value of this tree.
  std::string canonical(const JsonRef& value) const;
  // sha256 hex of canonical(value).
  std::string canonical_hash(const JsonRef& value) const;
  // Gives the memory of every value that ends in the text before `value`
  // begins back to the kernel, so a reader that builds its own model while
  // walking the tree in document order holds the tree and the model only a
  // little at a time. Nothing parsed before `value` may be read afterwards,
  // nor may canonical() or canonical_hash() of anything that contains it:
  // hash first, then read and forget.
  void forget_before(const JsonRef& value);
  // The raw text, as received, of a member of the root object ("" if absent).
  std::string_view raw_root_member(std::string_view key) const;

 private:
  JsonTree();
  std::unique_ptr<json_detail::TreeData> data_;
};

}  // namespace edge
