#pragma once
// Expected failures as values (osquery's Status/Expected): every module
// border returns one of these instead of throwing. A Status is ok (code 0) or
// carries a code the module defines and a message a person can act on.
// Both types are [[nodiscard]]: dropping a failure is a compile error under
// -Werror.

#include <cassert>
#include <optional>
#include <string>
#include <utility>
#include <variant>

namespace edge {

class [[nodiscard]] Status {
 public:
  Status() = default;  // ok
  Status(int code, std::string message) : code_(code), message_(std::move(message)) {
    assert(code != 0 && "a failure needs a non-zero code");
  }
  static Status success() { return {}; }
  // A failure with the generic code 1, for modules that need no finer codes.
  static Status failure(std::string message) { return {1, std::move(message)}; }

  bool ok() const { return code_ == 0; }
  explicit operator bool() const { return ok(); }
  int code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  int code_ = 0;
  std::string message_;
};

// A value, or the error (by default a Status) that says why there is none.
template <typename T, typename E = Status>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : v_(std::move(value)) {}  // NOLINT: implicit on purpose
  Expected(E error) : v_(std::move(error)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  // The failure; only meaningful when !ok().
  const E& error() const { return std::get<E>(v_); }

 private:
  std::variant<T, E> v_;
};

}  // namespace edge
