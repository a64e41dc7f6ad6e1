// Capability sets from outside: a peer's hello, a daemon's (or a C daemon's) publish_capabilities.
#include "fuzz_support.hpp"
#include "meshos/capability.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto caps = meshos::capability_set_from_json_text(meshos::fuzz::text_of(data, size));
  if (!caps) return 0;
  meshos::fuzz::require_round_trip(*caps, [](const std::string& t) { return meshos::capability_set_from_json_text(t); });
  auto again = meshos::capability_set_from_json_text(nlohmann::json(*caps).dump());
  meshos::fuzz::require(again && *again == *caps, "a capability set reads back as another set");
  return 0;
}
