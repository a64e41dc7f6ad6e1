#pragma once
// Library: meshos_core.
// What a node has to offer as its operating system counts it: the CPU load over the last minute and the
// memory in use. Inventory probes (probe.hpp) report it for this node and, from sources of their own, for
// peers; the snapshot shows it for the node and each peer, and daemons read it in their metadata.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos {

struct NodeInventory {
  double cpu_load_1m = 0.0;            // the 1-minute load average (runnable tasks, not a percentage)
  std::uint64_t memory_used_bytes = 0;  // total memory less what is available to start new work
  std::uint64_t memory_total_bytes = 0;
  bool operator==(const NodeInventory& o) const {
    return cpu_load_1m == o.cpu_load_1m && memory_used_bytes == o.memory_used_bytes &&
           memory_total_bytes == o.memory_total_bytes;
  }
  bool operator!=(const NodeInventory& o) const { return !(*this == o); }
};

// One node's inventory as a probe read it. Node 0: the node that polls the probe.
struct InventoryReading {
  NodeId node = 0;
  NodeInventory inventory;
};

// Whether `now` is news to whoever knows `before`: the load moved by 0.05 or more, the memory used by 1% of the
// total or more, or the total changed. A node describes its inventory to peers anew only then, not every tick.
bool differs_materially(const NodeInventory& before, const NodeInventory& now);

// Kind "invalid_inventory" for a load that is negative or not finite, or more memory used than there is.
Result<void> check_inventory(const NodeInventory& inv);
Result<void> check_inventory_reading(const InventoryReading& r);

// The inventory from the text of Linux's /proc/loadavg and /proc/meminfo (memory used: MemTotal less
// MemAvailable, both in kB there). Kind "invalid_inventory" naming the file and what is missing or malformed.
Result<NodeInventory> parse_proc_inventory(std::string_view loadavg, std::string_view meminfo);
// The same, read from `proc_root`/loadavg and `proc_root`/meminfo; kind "read_failed" when a file cannot be read.
Result<NodeInventory> read_proc_inventory(const std::string& proc_root = "/proc");

void to_json(nlohmann::json& j, const NodeInventory& inv);
// Kind "invalid_inventory": missing fields, wrong types, what check_inventory refuses.
Result<NodeInventory> inventory_from_json(const nlohmann::json& j);
// The same from text a peer sent (json_limits::kInventory).
Result<NodeInventory> inventory_from_json_text(const std::string& text);

}  // namespace meshos
