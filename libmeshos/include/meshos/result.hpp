#pragma once
// Library: meshos_core.
// Result<T>: a value or an SdkError{code, message}. Codes are the entries of one catalogue (errc.hpp); their
// wire form, stable lowercase_underscore words, is what cross-language consumers parse out of the
// "<<meshos-sdk-kind:KIND>>MESSAGE" envelope.
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

#include "meshos/errc.hpp"

namespace meshos {

struct SdkError {
  std::string kind;  // the wire form of code(), or the kind an error from outside came with
  std::string message;

  SdkError() = default;
  SdkError(Errc code, std::string m) : kind(meshos::to_string(code)), message(std::move(m)) {}
  // An error as it came from outside the process (a node's reply, a peer's answer): its kind may be one this
  // build does not know, and is kept as it came (code() is then Errc::unknown).
  static SdkError from_wire(std::string kind, std::string message) {
    SdkError e;
    e.kind = std::move(kind);
    e.message = std::move(message);
    return e;
  }

  Errc code() const { return errc_from_string(kind).value_or(Errc::unknown); }
  // The same error, `context` put in front of its message ("[node] key-file: " + message).
  SdkError in_context(const std::string& context) const { return from_wire(kind, context + message); }

  std::string to_string() const { return "<<meshos-sdk-kind:" + kind + ">>" + message; }
  // For people (log lines, failure reasons): "kind: message".
  std::string describe() const { return kind + ": " + message; }
  bool operator==(const SdkError& o) const { return kind == o.kind && message == o.message; }
};

// Thrown by Result::value() on an error; carries the error so callers that prefer exceptions lose nothing.
class SdkException : public std::runtime_error {
 public:
  explicit SdkException(SdkError e) : std::runtime_error(e.to_string()), error_(std::move(e)) {}
  const SdkError& error() const noexcept { return error_; }

 private:
  SdkError error_;
};

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(SdkError err) : v_(std::in_place_index<1>, std::move(err)) {}  // NOLINT

  explicit operator bool() const noexcept { return v_.index() == 0; }
  bool has_value() const noexcept { return v_.index() == 0; }

  T& value() & { check(); return std::get<0>(v_); }
  const T& value() const& { check(); return std::get<0>(v_); }
  T&& value() && { check(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const SdkError& error() const {
    if (v_.index() != 1) throw std::logic_error("meshos::Result::error() called on a value");
    return std::get<1>(v_);
  }

 private:
  void check() const {
    if (v_.index() != 0) throw SdkException(std::get<1>(v_));
  }
  std::variant<T, SdkError> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(SdkError err) : err_(std::move(err)) {}  // NOLINT

  explicit operator bool() const noexcept { return !err_; }
  bool has_value() const noexcept { return !err_; }
  void value() const {
    if (err_) throw SdkException(*err_);
  }
  const SdkError& error() const {
    if (!err_) throw std::logic_error("meshos::Result<void>::error() called on success");
    return *err_;
  }

 private:
  std::optional<SdkError> err_;
};

inline Result<void> ok() { return {}; }

}  // namespace meshos
