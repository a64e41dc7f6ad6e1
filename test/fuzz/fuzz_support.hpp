#pragma once
// Shared by the libFuzzer targets (one decoder of outside input each). A target may refuse any input with
// an error; it must never crash, hang, leak or trip a sanitizer, and what it accepts must survive its own
// encoder: encode, decode again, encode again gives the same text.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <nlohmann/json.hpp>

namespace meshos::fuzz {

inline std::string text_of(const std::uint8_t* data, std::size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// A broken property is a finding: abort, so libFuzzer saves the input as a crash.
inline void require(bool holds, const char* what) {
  if (holds) return;
  std::fprintf(stderr, "fuzz property broken: %s\n", what);
  std::abort();
}

// Checks that a value `decode` accepted round-trips: its JSON decodes again, to a value with the same JSON.
template <class T, class DecodeText>
void require_round_trip(const T& value, DecodeText decode_text) {
  const std::string once = nlohmann::json(value).dump();
  auto again = decode_text(once);
  require(static_cast<bool>(again), "an accepted value's own JSON is refused when read back");
  require(nlohmann::json(*again).dump() == once, "an accepted value reads back different from its JSON");
}

}  // namespace meshos::fuzz
