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
