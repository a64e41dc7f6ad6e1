#pragma once
// Private helper for the JSON decoders of the core: reads a document field by field; the first problem is
// kept (with its path, e.g. "snapshot.daemons[2].name: missing") and everything after it becomes a no-op,
// so a decoder checks once at the end and never hands out a partial value. Errors carry the decoder's kind.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos::json_read {

class Reader {
 public:
  using json = nlohmann::json;

  explicit Reader(Errc kind) : kind_(kind) {}

  bool failed() const { return error_.has_value(); }
  SdkError error() const { return SdkError{kind_, error_.value_or("")}; }

  void fail(const std::string& path, const std::string& what) {
    if (!error_) error_ = path + ": " + what;
  }

  // A field added after the first release: absent (from an older node) reads as its default.
  const json* optional(const json& j, const std::string& path, const char* key) {
    if (failed()) return nullptr;
    if (!j.is_object()) {
      fail(path, "expected an object");
      return nullptr;
    }
    return json_read::field(j, key);
  }

  const json* require(const json& j, const std::string& path, const char* key) {
    if (failed()) return nullptr;
    if (!j.is_object()) {
      fail(path, "expected an object");
      return nullptr;
    }
    const json* v = json_read::field(j, key);
    if (!v) fail(path + "." + key, "missing");
    return v;
  }

  std::uint64_t u64(const json& j, const std::string& path, const char* key) {
    const json* v = require(j, path, key);
    if (!v) return 0;
    auto n = json_read::as_u64(*v);
    if (!n) fail(path + "." + key, "expected a non-negative integer");
    return n.value_or(0);
  }

  std::optional<std::uint64_t> optional_u64(const json& j, const std::string& path, const char* key) {
    const json* v = require(j, path, key);
    if (!v || v->is_null()) return std::nullopt;
    auto n = json_read::as_u64(*v);
    if (!n) fail(path + "." + key, "expected a non-negative integer or null");
    return n;
  }

  std::uint32_t u32(const json& j, const std::string& path, const char* key) {
    std::uint64_t n = u64(j, path, key);
    if (n > UINT32_MAX) fail(path + "." + key, "out of range");
    return static_cast<std::uint32_t>(n);
  }

  std::int64_t i64(const json& j, const std::string& path, const char* key) {
    const json* v = require(j, path, key);
    if (!v) return 0;
    auto n = json_read::as_i64(*v);
    if (!n) fail(path + "." + key, "expected an integer");
    return n.value_or(0);
  }

  double number(const json& v, const std::string& path) {
    if (failed()) return 0;
    auto n = json_read::as_number(v);
    if (!n) fail(path, "expected a finite number");
    return n.value_or(0);
  }

  bool boolean(const json& j, const std::string& path, const char* key) {
    const json* v = require(j, path, key);
    if (!v) return false;
    if (!v->is_boolean()) {
      fail(path + "." + key, "expected true or false");
      return false;
    }
    return v->get<bool>();
  }

  std::string string(const json& j, const std::string& path, const char* key) {
    const json* v = require(j, path, key);
    if (!v) return {};
    if (!v->is_string()) {
      fail(path + "." + key, "expected a string");
      return {};
    }
    return v->get<std::string>();
  }

  std::uint64_t id(const json& j, const std::string& path, const char* key) {
    const std::string text = string(j, path, key);
    if (failed()) return 0;
    std::uint64_t out = 0;
    if (text.size() != 16 || !parse_hex_u64(text, out)) fail(path + "." + key, "expected 16 hex digits");
    return out;
  }

  // Calls read(element, element_path) for every element of the array at j[key].
  template <class F>
  void each(const json& j, const std::string& path, const char* key, F&& read) {
    const json* v = require(j, path, key);
    if (!v) return;
    if (!v->is_array()) {
      fail(path + "." + key, "expected an array");
      return;
    }
    for (std::size_t i = 0; i < v->size() && !failed(); ++i) {
      read((*v)[i], path + "." + key + "[" + std::to_string(i) + "]");
    }
  }

  template <class E>
  E enumeration(const json& j, const std::string& path, const char* key, std::initializer_list<E> values) {
    const std::string text = string(j, path, key);
    if (failed()) return *values.begin();
    for (E e : values) {
      if (text == to_string(e)) return e;
    }
    fail(path + "." + key, "unknown value '" + text + "'");
    return *values.begin();
  }

  // Only the listed keys may appear in the object j: anything else is a sign of a damaged or foreign document.
  void only(const json& j, const std::string& path, std::initializer_list<const char*> keys) {
    if (failed() || !j.is_object()) return;
    for (auto it = j.begin(); it != j.end(); ++it) {
      if (std::none_of(keys.begin(), keys.end(), [&](const char* k) { return it.key() == k; }))
        return fail(path + "." + it.key(), "unknown field");
    }
  }

  // Adopts the outcome of another module's decoder, keeping its message under our kind.
  template <class T>
  T adopt(Result<T> r, const std::string& path) {
    if (failed()) return T{};
    if (!r) {
      fail(path, r.error().message);
      return T{};
    }
    return std::move(r.value());
  }

 private:
  Errc kind_;
  std::optional<std::string> error_;
};

}  // namespace meshos::json_read
