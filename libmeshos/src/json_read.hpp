#pragma once
// Private helpers for the JSON decoders of the core: typed field reads that never throw.
// JSON built in C++ holds small numbers as signed integers and parsed JSON as unsigned ones; both count.
#include <cmath>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

namespace meshos::json_read {

inline std::optional<std::uint64_t> as_u64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    auto signed_value = v.get<std::int64_t>();
    if (signed_value >= 0) return static_cast<std::uint64_t>(signed_value);
  }
  return std::nullopt;
}

inline std::optional<std::int64_t> as_i64(const nlohmann::json& v) {
  if (v.is_number_unsigned()) {
    auto unsigned_value = v.get<std::uint64_t>();
    if (unsigned_value <= static_cast<std::uint64_t>(INT64_MAX)) return static_cast<std::int64_t>(unsigned_value);
    return std::nullopt;
  }
  if (v.is_number_integer()) return v.get<std::int64_t>();
  return std::nullopt;
}

// Any finite number, integer or not.
inline std::optional<double> as_number(const nlohmann::json& v) {
  if (!v.is_number()) return std::nullopt;
  double d = v.get<double>();
  if (!std::isfinite(d)) return std::nullopt;
  return d;
}

// The field if `j` is an object holding `key`, else nullptr.
inline const nlohmann::json* field(const nlohmann::json& j, const char* key) {
  if (!j.is_object()) return nullptr;
  auto it = j.find(key);
  return it == j.end() ? nullptr : &*it;
}

inline std::optional<std::uint64_t> u64_field(const nlohmann::json& j, const char* key) {
  const auto* v = field(j, key);
  return v ? as_u64(*v) : std::nullopt;
}

inline std::optional<std::string> string_field(const nlohmann::json& j, const char* key) {
  const auto* v = field(j, key);
  if (!v || !v->is_string()) return std::nullopt;
  return v->get<std::string>();
}

}  // namespace meshos::json_read
