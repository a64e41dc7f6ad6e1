// A peer's maintenance state, as its hello carries it.
#include "fuzz_support.hpp"
#include "meshos/maintenance.hpp"

namespace {
nlohmann::json as_json(const meshos::MaintenanceStateView& v) {
  nlohmann::json j;
  meshos::to_json(j, v);
  return j;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto view = meshos::maintenance_view_from_json_text(meshos::fuzz::text_of(data, size));
  if (!view) return 0;
  // MaintenanceStateView is a std::variant: nlohmann's implicit conversion does not reach it, so no
  // require_round_trip here.
  auto again = meshos::maintenance_view_from_json_text(as_json(*view).dump());
  meshos::fuzz::require(again && *again == *view, "a maintenance view reads back as another view");
  return 0;
}
