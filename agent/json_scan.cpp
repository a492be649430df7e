#include "agent/json_scan.h"

namespace edge {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

class Scanner {
 public:
  Scanner(std::string_view t, std::size_t max_depth) : t_(t), max_depth_(max_depth) {}

  TopLevelScan run() {
    TopLevelScan out;
    skip_ws();
    if (pos_ >= t_.size() || t_[pos_] != '{') return fail(out, "body must be a JSON object");
    ++pos_;
    depth_ = 1;
    skip_ws();
    if (peek() == '}') {
      ++pos_;
      return finish(out);
    }
    while (true) {
      skip_ws();
      std::size_t key_start = pos_ + 1;
      if (peek() != '"' || !skip_string()) return fail(out, "expected a member name");
      std::string key(t_.substr(key_start, pos_ - 1 - key_start));
      skip_ws();
      if (peek() != ':') return fail(out, "expected ':'");
      ++pos_;
      skip_ws();
      std::size_t value_start = pos_;
      if (!skip_value()) return fail(out, error_.empty() ? "malformed value" : error_);
      out.members[key] = t_.substr(value_start, pos_ - value_start);
      skip_ws();
      if (peek() == ',') {
        ++pos_;
        continue;
      }
      if (peek() == '}') {
        ++pos_;
        return finish(out);
      }
      return fail(out, "expected ',' or '}'");
    }
  }

 private:
  char peek() const { return pos_ < t_.size() ? t_[pos_] : '\0'; }
  void skip_ws() {
    while (pos_ < t_.size() && is_ws(t_[pos_])) ++pos_;
  }

  bool skip_string() {  // at '"'
    ++pos_;
    while (pos_ < t_.size()) {
      char c = t_[pos_++];
      if (c == '\\') {
        ++pos_;
      } else if (c == '"') {
        return true;
      }
    }
    error_ = "unterminated string";
    return false;
  }

  // Skips one value without recursion: containers are tracked by depth only.
  bool skip_value() {
    std::size_t base = depth_;
    do {
      skip_ws();
      char c = peek();
      if (c == '{' || c == '[') {
        if (++depth_ > max_depth_) {
          error_ = "JSON nested deeper than " + std::to_string(max_depth_) + " levels";
          return false;
        }
        ++pos_;
      } else if (c == '}' || c == ']') {
        if (depth_ == base) {
          error_ = "unbalanced brackets";
          return false;
        }
        --depth_;
        ++pos_;
      } else if (c == '"') {
        if (!skip_string()) return false;
      } else if (c == '\0' && pos_ >= t_.size()) {
        error_ = "unexpected end of body";
        return false;
      } else {
        ++pos_;  // ',', ':', literal and number characters: the parser judges them
      }
    } while (depth_ > base);
    // A scalar value: consume the rest of the literal/number.
    while (pos_ < t_.size() && depth_ == base) {
      char c = t_[pos_];
      if (c == ',' || c == '}' || c == ']' || is_ws(c)) break;
      if (c == '{' || c == '[' || c == '"') break;
      ++pos_;
    }
    return true;
  }

  TopLevelScan& finish(TopLevelScan& out) {
    skip_ws();
    if (pos_ != t_.size()) return fail(out, "trailing characters after the JSON object");
    out.ok = true;
    return out;
  }

  TopLevelScan& fail(TopLevelScan& out, const std::string& why) {
    out.ok = false;
    out.members.clear();
    out.error = why + " (at byte " + std::to_string(pos_) + ")";
    return out;
  }

  std::string_view t_;
  std::size_t max_depth_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
  std::string error_;
};

}  // namespace

TopLevelScan scan_top_level(std::string_view text, std::size_t max_depth) {
  return Scanner(text, max_depth).run();
}

}  // namespace edge
