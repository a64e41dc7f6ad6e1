#pragma once
// Library: meshos_core.
// Probes: what a node learns on every tick from sources other than its links to peers. A locality probe
// reports round-trip times to peers (an RTT above the degraded threshold makes reconcile avoid the peer), a
// health probe reports peers' health, an inventory probe reports CPU load and memory of this node or of peers
// (proc_inventory_probe reads this node's from /proc). The node polls every attached probe once per tick, on
// a thread of its own, never the loop's: a slow probe delays the next round, not the node.
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <variant>
#include <vector>

#include "meshos/event.hpp"
#include "meshos/inventory.hpp"
#include "meshos/logs.hpp"
#include "meshos/result.hpp"
#include "meshos/time.hpp"

namespace meshos {

// What a locality or health probe reads is what the network layer reports too.
using RttReading = event::RttSample;       // {peer, rtt}
using HealthReading = event::NodeHealth;  // {peer, health}

// Each returns what it knows now. Throwing fails this probe for this round only; what it reported before
// stays (an inventory is not forgotten while any probe fails, see event::InventoryReport).
using LocalityProbe = std::function<std::vector<RttReading>()>;
using HealthProbe = std::function<std::vector<HealthReading>()>;
using InventoryProbe = std::function<std::vector<InventoryReading>()>;

struct Probe {
  std::string name;  // how the node's log names it when it fails
  std::variant<LocalityProbe, HealthProbe, InventoryProbe> poll;
};
// Kind "invalid_probe": an empty name or no function.
Result<void> check_probe(const Probe& p);

// The inventory of the node that polls it, from `proc_root` (/proc/loadavg, /proc/meminfo). A file it cannot
// read or parse fails the round (the error names the file).
Probe proc_inventory_probe(std::string proc_root = "/proc");

// What one round of polls found, as the loop folds it: an RTT sample and a health report per reading, one
// inventory report for the round.
struct ProbeRound {
  std::vector<event::RttSample> rtts;
  std::vector<event::NodeHealth> health;
  event::InventoryReport inventory;
  std::uint32_t failed = 0;   // probes that threw this round
  std::uint32_t invalid = 0;  // readings refused (a peer 0, a negative RTT, an impossible inventory)
  // For the node's log: a probe that began failing (with its error) or works again; a probe that keeps failing
  // the same way is said once, not every tick.
  std::vector<LogLine> news;
};

// The probes a node polls, by attachment id. Not thread-safe: one owner polls and changes it.
class ProbeSet {
 public:
  // invalid_probe (check_probe), or an id already attached.
  Result<void> attach(std::uint64_t id, Probe probe);
  // False when nothing is attached under `id`.
  bool detach(std::uint64_t id);
  std::size_t size() const { return probes_.size(); }
  // Polls every probe once, in attachment id order.
  ProbeRound poll();

 private:
  struct Attached {
    Probe probe;
    std::string failing;  // the error of its last round, "" when that round worked
  };
  std::map<std::uint64_t, Attached> probes_;
};

}  // namespace meshos
