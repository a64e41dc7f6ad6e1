// Probes without actors: the /proc inventory reader, the checks on readings, a round of polls (throws,
// refused readings, news only on a change), and how the state folds inventory reports, forgetting what no
// probe reports any more but not on a failing or an empty round.
#include <doctest/doctest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "meshos/probe.hpp"
#include "meshos/state.hpp"
#include "../support/state_node.hpp"
#include "../support/temp_dir.hpp"

using namespace meshos;
using namespace std::chrono_literals;

namespace {

constexpr NodeId kThisNode = 0xA1;
constexpr NodeId kPeer = 0xB2;
constexpr NodeId kOtherPeer = 0xC3;

const char* kLoadavg = "1.25 0.80 0.40 2/512 4242\n";
const char* kMeminfo =
    "MemTotal:        8000000 kB\n"
    "MemFree:          500000 kB\n"
    "MemAvailable:    6000000 kB\n"
    "Buffers:          100000 kB\n";

struct Node : test::StateNode {
  Node() : StateNode([] {
      MeshOsConfig c;
      c.this_node = kThisNode;
      return c;
    }()) {}
  std::optional<NodeInventory> inventory_of(NodeId node) const {
    const auto& entry = node == kThisNode ? actual().inventory : actual().peers.at(node).inventory;
    if (!entry) return std::nullopt;
    return entry->inventory;
  }
};

InventoryReading reading(NodeId node, double load) { return InventoryReading{node, NodeInventory{load, 100, 200}}; }

}  // namespace

TEST_CASE("parse_proc_inventory: the 1-minute load and MemTotal less MemAvailable") {
  auto inv = parse_proc_inventory(kLoadavg, kMeminfo);
  REQUIRE_MESSAGE(inv, (inv ? "" : inv.error().message));
  CHECK(inv->cpu_load_1m == doctest::Approx(1.25));
  CHECK(inv->memory_total_bytes == 8'000'000ull * 1024);
  CHECK(inv->memory_used_bytes == 2'000'000ull * 1024);
}

TEST_CASE("parse_proc_inventory refuses text that is not /proc's, naming the file") {
  auto no_load = parse_proc_inventory("busy 0.8", kMeminfo);
  REQUIRE_FALSE(no_load);
  CHECK(no_load.error().code() == Errc::invalid_inventory);
  CHECK(no_load.error().message.find("loadavg") != std::string::npos);
  CHECK_FALSE(parse_proc_inventory("-1.0 0.8 0.4", kMeminfo));
  CHECK_FALSE(parse_proc_inventory("", kMeminfo));
  auto no_available = parse_proc_inventory(kLoadavg, "MemTotal: 100 kB\nMemFree: 50 kB\n");
  REQUIRE_FALSE(no_available);
  CHECK(no_available.error().message.find("MemAvailable") != std::string::npos);
  CHECK_FALSE(parse_proc_inventory(kLoadavg, "MemTotal: lots kB\nMemAvailable: 50 kB\n"));
  // "MemTotalX" is not "MemTotal".
  CHECK_FALSE(parse_proc_inventory(kLoadavg, "MemTotalX: 100 kB\nMemAvailable: 50 kB\n"));
}

TEST_CASE("read_proc_inventory reads the two files under a root, and says which one it could not read") {
  test::TempDir dir("meshos-proc");
  dir.write("loadavg", kLoadavg);
  auto missing = read_proc_inventory(dir.path());
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == Errc::read_failed);
  CHECK(missing.error().message.find("meminfo") != std::string::npos);
  dir.write("meminfo", kMeminfo);
  auto inv = read_proc_inventory(dir.path());
  REQUIRE(inv);
  CHECK(inv->memory_used_bytes == 2'000'000ull * 1024);
}

TEST_CASE("read_proc_inventory on this machine's /proc") {
  auto inv = read_proc_inventory();
  REQUIRE_MESSAGE(inv, (inv ? "" : inv.error().message));
  CHECK(inv->memory_total_bytes > 0);
  CHECK(inv->memory_used_bytes <= inv->memory_total_bytes);
  CHECK(inv->cpu_load_1m >= 0.0);
}

TEST_CASE("check_inventory_reading refuses node 0, an impossible load or more memory used than there is") {
  CHECK(check_inventory_reading(reading(kPeer, 0.5)));
  CHECK(check_inventory_reading(reading(0, 0.5)));  // node 0: the node polling the probe
  CHECK_FALSE(check_inventory_reading(reading(kPeer, -0.1)));
  CHECK_FALSE(check_inventory_reading(reading(kPeer, std::numeric_limits<double>::quiet_NaN())));
  CHECK_FALSE(check_inventory_reading(InventoryReading{kPeer, NodeInventory{0.5, 300, 200}}));
}

TEST_CASE("check_probe: a probe needs a name and a function") {
  CHECK(check_probe(Probe{"rtt", LocalityProbe([] { return std::vector<RttReading>{}; })}));
  CHECK(check_probe(Probe{"", LocalityProbe([] { return std::vector<RttReading>{}; })}).error().code() == Errc::invalid_probe);
  CHECK_FALSE(check_probe(Probe{"empty", HealthProbe{}}));
  ProbeSet set;
  CHECK_FALSE(set.attach(1, Probe{"empty", InventoryProbe{}}));
  CHECK(set.size() == 0);
}

TEST_CASE("ProbeSet::poll: every kind of probe, refused readings counted, a throw fails that probe only") {
  ProbeSet set;
  REQUIRE(set.attach(1, Probe{"rtt", LocalityProbe([] {
                                return std::vector<RttReading>{{kPeer, 12ms}, {0, 1ms}, {kOtherPeer, -1ms}};
                              })}));
  REQUIRE(set.attach(2, Probe{"health", HealthProbe([] {
                                return std::vector<HealthReading>{{kPeer, PeerHealth::Degraded}, {0, PeerHealth::Healthy}};
                              })}));
  REQUIRE(set.attach(3, Probe{"inventory", InventoryProbe([] {
                                return std::vector<InventoryReading>{reading(kPeer, 0.5), reading(kOtherPeer, -3)};
                              })}));
  REQUIRE(set.attach(4, Probe{"broken", InventoryProbe([]() -> std::vector<InventoryReading> {
                                throw std::runtime_error("no such sensor");
                              })}));
  CHECK_FALSE(set.attach(4, Probe{"again", HealthProbe([] { return std::vector<HealthReading>{}; })}));

  ProbeRound round = set.poll();
  REQUIRE(round.rtts.size() == 1);
  CHECK(round.rtts[0].peer == kPeer);
  CHECK(round.rtts[0].rtt == 12ms);
  REQUIRE(round.health.size() == 1);
  CHECK(round.health[0].health == PeerHealth::Degraded);
  REQUIRE(round.inventory.readings.size() == 1);
  CHECK(round.inventory.readings[0].node == kPeer);
  CHECK(round.inventory.probes == 2);
  CHECK(round.inventory.failed == 1);
  CHECK(round.failed == 1);
  CHECK(round.invalid == 4);
  REQUIRE(round.news.size() == 1);
  CHECK(round.news[0].level == LogLevel::Warn);
  CHECK(round.news[0].message.find("probe broken failed: no such sensor") != std::string::npos);

  // Failing the same way again is not news; detached, it is neither polled nor counted.
  CHECK(set.poll().news.empty());
  CHECK(set.detach(4));
  CHECK_FALSE(set.detach(4));
  ProbeRound after = set.poll();
  CHECK(after.failed == 0);
  CHECK(after.inventory.probes == 1);
}

TEST_CASE("ProbeSet::poll says when a failing probe works again, and what a probe throws that is no exception") {
  ProbeSet set;
  int calls = 0;
  REQUIRE(set.attach(1, Probe{"flaky", HealthProbe([&calls]() -> std::vector<HealthReading> {
                                ++calls;
                                if (calls == 1) throw 42;
                                return {};
                              })}));
  ProbeRound first = set.poll();
  REQUIRE(first.news.size() == 1);
  CHECK(first.news[0].message.find("not a std::exception") != std::string::npos);
  ProbeRound second = set.poll();
  REQUIRE(second.news.size() == 1);
  CHECK(second.news[0].level == LogLevel::Info);
  CHECK(second.news[0].message == "probe flaky works again");
}

TEST_CASE("proc_inventory_probe reports this node's inventory, and fails the round when /proc cannot be read") {
  auto probe = proc_inventory_probe();
  CHECK(probe.name == "proc-inventory");
  auto readings = std::get<InventoryProbe>(probe.poll)();
  REQUIRE(readings.size() == 1);
  CHECK(readings[0].node == 0);  // the node that polls it
  CHECK(readings[0].inventory.memory_total_bytes > 0);

  test::TempDir empty("meshos-proc");
  ProbeSet set;
  REQUIRE(set.attach(1, proc_inventory_probe(empty.path())));
  ProbeRound round = set.poll();
  CHECK(round.failed == 1);
  REQUIRE(round.news.size() == 1);
  CHECK(round.news[0].message.find("loadavg") != std::string::npos);
}

TEST_CASE("inventory reports: this node's (by its id or as node 0) and peers' inventory, replaced by each report") {
  Node n;
  n.fold(event::InventoryReport{{reading(kThisNode, 0.5), reading(kPeer, 1.5)}, 1, 0});
  CHECK(n.inventory_of(kThisNode)->cpu_load_1m == 0.5);
  CHECK(n.inventory_of(kPeer)->cpu_load_1m == 1.5);
  n.fold(event::InventoryReport{{reading(0, 0.6)}, 1, 0});
  CHECK(n.inventory_of(kThisNode)->cpu_load_1m == 0.6);
  CHECK(n.actual().peers.count(0) == 0);
  n.fold(event::InventoryReport{{reading(kThisNode, 0.7), reading(kPeer, 1.7)}, 1, 0});
  CHECK(n.inventory_of(kThisNode)->cpu_load_1m == 0.7);
  CHECK(n.inventory_of(kPeer)->cpu_load_1m == 1.7);
}

TEST_CASE("inventory reports: a node no probe reports any more is forgotten after three clean rounds") {
  Node n;
  n.fold(event::InventoryReport{{reading(kThisNode, 0.5), reading(kPeer, 1.5)}, 2, 0});
  for (std::uint32_t round = 1; round < kInventoryMissedRounds; ++round) {
    n.fold(event::InventoryReport{{reading(kThisNode, 0.5)}, 2, 0});
    CHECK(n.inventory_of(kPeer).has_value());
  }
  n.fold(event::InventoryReport{{reading(kThisNode, 0.5)}, 2, 0});
  CHECK_FALSE(n.inventory_of(kPeer).has_value());
  CHECK(n.inventory_of(kThisNode).has_value());
  CHECK(n.actual().peers.count(kPeer) == 1);  // the peer stays; only its inventory is forgotten
}

TEST_CASE("inventory reports: an empty round or one with a failing probe forgets nothing") {
  Node n;
  n.fold(event::InventoryReport{{reading(kThisNode, 0.5), reading(kPeer, 1.5)}, 2, 0});
  for (std::uint32_t round = 0; round < 2 * kInventoryMissedRounds; ++round) {
    n.fold(event::InventoryReport{{}, 2, 0});                           // every source empty for a moment
    n.fold(event::InventoryReport{{reading(kThisNode, 0.5)}, 2, 1});  // the peer's probe failed
  }
  CHECK(n.inventory_of(kPeer).has_value());
  CHECK(n.inventory_of(kThisNode).has_value());
  // A report of the peer starts its count afresh.
  for (std::uint32_t round = 1; round < kInventoryMissedRounds; ++round)
    n.fold(event::InventoryReport{{reading(kThisNode, 0.5)}, 2, 0});
  n.fold(event::InventoryReport{{reading(kThisNode, 0.5), reading(kPeer, 1.5)}, 2, 0});
  for (std::uint32_t round = 1; round < kInventoryMissedRounds; ++round)
    n.fold(event::InventoryReport{{reading(kThisNode, 0.5)}, 2, 0});
  CHECK(n.inventory_of(kPeer).has_value());
}

TEST_CASE("inventory in the snapshot: the node's own and each peer's, with its age") {
  Node n;
  n.fold(event::InventoryReport{{reading(kThisNode, 0.5), reading(kPeer, 1.5)}, 1, 0});
  n.advance(700ms);
  auto s = n.state.snapshot(n.now, n.wall_ms, 1, 1);
  REQUIRE(s.inventory.has_value());
  CHECK(s.inventory->inventory.cpu_load_1m == 0.5);
  CHECK(s.inventory->age_ms == 700);
  REQUIRE(s.peers.at(kPeer).inventory.has_value());
  CHECK(s.peers.at(kPeer).inventory->inventory.memory_total_bytes == 200);
}

TEST_CASE("differs_materially: a node describes its inventory to peers anew only on a change worth telling") {
  const NodeInventory base{1.00, 500, 1000};
  CHECK_FALSE(differs_materially(base, base));
  CHECK_FALSE(differs_materially(base, NodeInventory{1.04, 509, 1000}));
  CHECK(differs_materially(base, NodeInventory{1.05, 500, 1000}));
  CHECK(differs_materially(base, NodeInventory{0.90, 500, 1000}));
  CHECK(differs_materially(base, NodeInventory{1.00, 510, 1000}));
  CHECK(differs_materially(base, NodeInventory{1.00, 490, 1000}));
  CHECK(differs_materially(base, NodeInventory{1.00, 500, 1001}));
}

TEST_CASE("a peer's own word on its inventory stands whatever this node's probes report, until the peer changes it") {
  Node n;
  auto info = [](std::optional<NodeInventory> inventory) {
    return event::PeerInfo{kPeer, "1.0", {}, std::nullopt, {}, "peer", inventory};
  };
  n.fold(info(NodeInventory{2.0, 10, 20}));
  CHECK(n.inventory_of(kPeer)->cpu_load_1m == 2.0);
  n.advance(1s);
  n.fold(info(NodeInventory{2.0, 10, 20}));  // the same figures keep their age
  CHECK(n.actual().peers.at(kPeer).inventory->observed == n.now - 1s);
  // Clean rounds of probes that do not report the peer do not forget what the peer said.
  for (std::uint32_t round = 0; round < 2 * kInventoryMissedRounds; ++round)
    n.fold(event::InventoryReport{{reading(kThisNode, 0.5)}, 1, 0});
  CHECK(n.inventory_of(kPeer)->cpu_load_1m == 2.0);
  // A probe that reports the peer takes over; from then on the probes' rule applies.
  n.fold(event::InventoryReport{{reading(kPeer, 3.0)}, 1, 0});
  CHECK(n.inventory_of(kPeer)->cpu_load_1m == 3.0);
  n.fold(info(std::nullopt));  // a description without inventory leaves the probe's alone
  CHECK(n.inventory_of(kPeer)->cpu_load_1m == 3.0);
  n.fold(info(NodeInventory{4.0, 10, 20}));
  n.fold(info(std::nullopt));  // ... and drops the peer's own
  CHECK_FALSE(n.inventory_of(kPeer).has_value());
}
