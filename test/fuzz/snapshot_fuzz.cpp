// Snapshots (with their daemons, peers, audit records, logs) as meshos-ctl reads them from a node.
#include "fuzz_support.hpp"
#include "meshos/snapshot.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto snapshot = meshos::snapshot_from_json_text(meshos::fuzz::text_of(data, size));
  if (!snapshot) return 0;
  meshos::fuzz::require_round_trip(*snapshot, [](const std::string& t) { return meshos::snapshot_from_json_text(t); });
  return 0;
}
