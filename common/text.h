#pragma once
// Small text helpers every module needs once: one definition each.

#include <string>
#include <string_view>

namespace edge {

// Lowercase hex SHA-256 of `data` (OpenSSL). Never fails: aborts only if
// libcrypto itself is broken.
std::string sha256_hex(std::string_view data);

// Whether `s` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
bool is_valid_utf8(std::string_view s);
// Length of the well-formed UTF-8 sequence starting at s[i] (i < s.size()),
// or 0 when it is not one.
std::size_t utf8_sequence_length(std::string_view s, std::size_t i);

// True for "localhost" (any case), 127.0.0.0/8 and ::1, with or without
// IPv6 brackets.
bool is_loopback_host(std::string_view host);

// ASCII lowercase.
std::string ascii_lower(std::string_view s);

// Lowercases UTF-8 text code point by code point (C.UTF-8's towlower: the
// simple mappings Python's str.lower() applies to network names). Bytes that
// are not UTF-8 are kept.
std::string unicode_lower(std::string_view s);

// At most `max` bytes of `s` for a message a person reads: control and
// non-ASCII bytes escaped as \xNN, and "..." when cut. Never echoes an
// arbitrarily large value back.
std::string excerpt(std::string_view s, std::size_t max = 64);

}  // namespace edge
