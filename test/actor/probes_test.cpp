// Probes on a running node (issue 9, point 10): polled every tick on a thread of their own, attachable and
// detachable while the node runs, a throwing or stuck probe never stopping the loop, their readings in the
// snapshot (RTT and avoidance, peer health, inventory) and in daemons' metadata, and an inventory forgotten
// only when no probe reports it any more.
#include <doctest/doctest.h>

#include <atomic>
#include <stdexcept>

#include "support.hpp"

using namespace meshos;
using namespace meshos::test;

namespace {

constexpr NodeId kPeer = 0xBEE;

bool avoids(const MeshOsSnapshot& s, NodeId peer) {
  return std::any_of(s.avoid.begin(), s.avoid.end(), [&](const AvoidSnapshot& a) { return a.peer == peer; });
}

std::size_t log_lines_with(const MeshOsSnapshot& s, const std::string& text) {
  return static_cast<std::size_t>(std::count_if(s.logs.begin(), s.logs.end(), [&](const LogRecord& r) {
    return r.message.find(text) != std::string::npos;
  }));
}

bool peer_has_inventory(const MeshOsSnapshot& s, NodeId peer) {
  auto p = s.peers.find(peer);
  return p != s.peers.end() && p->second.inventory.has_value();
}

Probe counting_probe(std::shared_ptr<CallCounter> calls) {
  return Probe{"counting", HealthProbe([calls] {
                 calls->add();
                 return std::vector<HealthReading>{};
               })};
}

}  // namespace

TEST_CASE("a locality probe's RTTs reach the snapshot, and one over the threshold makes the node avoid the peer") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto rtt = std::make_shared<std::atomic<std::int64_t>>(12);
  auto attached = sdk.attach_probe(Probe{"ping", LocalityProbe([rtt] {
                                           return std::vector<RttReading>{{kPeer, std::chrono::milliseconds(rtt->load())}};
                                         })});
  REQUIRE(attached);
  CHECK(attached->attached());
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) {
    auto p = s.peers.find(kPeer);
    return p != s.peers.end() && p->second.rtt_ms == 12.0;
  }));
  rtt->store(400);  // over rtt_degraded_threshold (250 ms)
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return avoids(s, kPeer); }));
  CHECK(sdk.shutdown());
}

TEST_CASE("a health probe's reports set peers' health") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto attached = sdk.attach_probe(Probe{"health", HealthProbe([] {
                                           return std::vector<HealthReading>{{kPeer, PeerHealth::Degraded}};
                                         })});
  REQUIRE(attached);
  CHECK(watch.seen([](const MeshOsSnapshot& s) {
    auto p = s.peers.find(kPeer);
    return p != s.peers.end() && p->second.health == PeerHealth::Degraded;
  }));
  CHECK(sdk.shutdown());
}

TEST_CASE("inventory from /proc and from a probe of peers: in the snapshot and in daemons' metadata") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto own = sdk.attach_probe(proc_inventory_probe());
  auto peers = sdk.attach_probe(Probe{"peer-inventory", InventoryProbe([] {
                                        return std::vector<InventoryReading>{{kPeer, NodeInventory{3.5, 100, 400}}};
                                      })});
  REQUIRE(own);
  REQUIRE(peers);
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return s.inventory && peer_has_inventory(s, kPeer); });
  REQUIRE(static_cast<bool>(snap));
  CHECK(snap->inventory->inventory.memory_total_bytes > 0);
  CHECK(snap->inventory->inventory.memory_used_bytes <= snap->inventory->inventory.memory_total_bytes);
  CHECK(snap->peers.at(kPeer).inventory->inventory == NodeInventory{3.5, 100, 400});

  auto handle = sdk.register_daemon(make_daemon("reader", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(handle);
  const MetadataView& metadata = handle->refresh_metadata();
  REQUIRE(metadata.node_inventory.has_value());
  CHECK(metadata.node_inventory->inventory.memory_total_bytes == snap->inventory->inventory.memory_total_bytes);
  REQUIRE(metadata.peers.count(kPeer) == 1);
  CHECK(metadata.peers.at(kPeer).inventory->inventory.cpu_load_1m == 3.5);
  CHECK(sdk.shutdown());
}

TEST_CASE("a throwing probe never stops the loop: counted, logged once, the other probes still polled") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto broken = sdk.attach_probe(Probe{"broken", LocalityProbe([]() -> std::vector<RttReading> {
                                         throw std::runtime_error("sensor unplugged");
                                       })});
  auto calls = std::make_shared<CallCounter>();
  auto working = sdk.attach_probe(counting_probe(calls));
  REQUIRE(broken);
  REQUIRE(working);
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return s.loop.probe_failures >= 5; });
  REQUIRE(static_cast<bool>(snap));
  CHECK(calls->count() >= 5);
  CHECK(log_lines_with(*snap, "probe broken failed: sensor unplugged") == 1);
  // The loop goes on ticking.
  const auto ticks = snap->loop.ticks;
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return s.loop.ticks >= ticks + 3; }));
  CHECK(sdk.shutdown());
}

TEST_CASE("a probe that blocks holds up its own rounds, not the loop (skipped rounds are counted)") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto gate = std::make_shared<Latch>();
  auto entered = std::make_shared<CallCounter>();
  auto stuck = sdk.attach_probe(Probe{"stuck", HealthProbe([gate, entered] {
                                        entered->add();
                                        gate->wait(30s);
                                        return std::vector<HealthReading>{};
                                      })});
  REQUIRE(stuck);
  REQUIRE(entered->wait_at_least(1, 10s));
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return s.loop.probe_rounds_skipped >= 5; });
  REQUIRE(static_cast<bool>(snap));
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return s.loop.ticks >= snap->loop.ticks + 3; }));
  gate->release();
  const auto rounds = snap->loop.probe_rounds;
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return s.loop.probe_rounds > rounds + 2; }));
  CHECK(sdk.shutdown());
}

TEST_CASE("a detached probe is not called again, and detaching twice or after shutdown is no error") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto calls = std::make_shared<CallCounter>();
  auto attached = sdk.attach_probe(counting_probe(calls));
  REQUIRE(attached);
  REQUIRE(calls->wait_at_least(2, 10s));
  REQUIRE(attached->detach());
  CHECK_FALSE(attached->attached());
  const int after_detach = calls->count();
  auto snap = watch.wait([](const MeshOsSnapshot&) { return true; });
  REQUIRE(static_cast<bool>(snap));
  const auto rounds = snap->loop.probe_rounds;
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return s.loop.probe_rounds >= rounds + 3; }));
  CHECK(calls->count() == after_detach);
  CHECK(attached->detach());

  // Destroying an attachment detaches it.
  auto scoped_calls = std::make_shared<CallCounter>();
  {
    auto scoped = sdk.attach_probe(counting_probe(scoped_calls));
    REQUIRE(scoped);
    REQUIRE(scoped_calls->wait_at_least(1, 10s));
  }
  const int after_scope = scoped_calls->count();
  const auto later = sdk.snapshot()->loop.probe_rounds;
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return s.loop.probe_rounds >= later + 3; }));
  CHECK(scoped_calls->count() == after_scope);

  auto kept = sdk.attach_probe(counting_probe(std::make_shared<CallCounter>()));
  REQUIRE(kept);
  CHECK(sdk.shutdown());
  CHECK(kept->detach());
  auto refused = sdk.attach_probe(counting_probe(std::make_shared<CallCounter>()));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::loop_closed);
}

TEST_CASE("a peer's inventory stays while one probe of two fails or all report nothing, and goes once none reports it") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  const NodeId self = sdk.node_id();
  auto own = sdk.attach_probe(Probe{"own", InventoryProbe([self] {
                                      return std::vector<InventoryReading>{{self, NodeInventory{0.5, 1, 2}}};
                                    })});
  enum Mode { kReport, kThrow, kSilent };
  auto mode = std::make_shared<std::atomic<int>>(kReport);
  auto peers = sdk.attach_probe(Probe{"peers", InventoryProbe([mode]() -> std::vector<InventoryReading> {
                                        if (mode->load() == kThrow) throw std::runtime_error("registry down");
                                        if (mode->load() == kSilent) return {};
                                        return {{kPeer, NodeInventory{1.5, 1, 2}}};
                                      })});
  REQUIRE(own);
  REQUIRE(peers);
  auto reported = watch.wait([](const MeshOsSnapshot& s) { return peer_has_inventory(s, kPeer); });
  REQUIRE(static_cast<bool>(reported));

  // Failing rounds: the other probe works, yet the peer's inventory stays.
  mode->store(kThrow);
  const auto failures = reported->loop.probe_failures;
  auto failing = watch.wait([&](const MeshOsSnapshot& s) { return s.loop.probe_failures >= failures + 2 * kInventoryMissedRounds; });
  REQUIRE(static_cast<bool>(failing));
  CHECK(peer_has_inventory(*failing, kPeer));

  // Everything empty for a while (the node's own probe detached, the peers' reporting nothing): nothing goes.
  REQUIRE(own->detach());
  mode->store(kSilent);
  const auto rounds = failing->loop.probe_rounds;
  auto empty = watch.wait([&](const MeshOsSnapshot& s) { return s.loop.probe_rounds >= rounds + 2 * kInventoryMissedRounds + 2; });
  REQUIRE(static_cast<bool>(empty));
  CHECK(peer_has_inventory(*empty, kPeer));
  CHECK(empty->inventory.has_value());

  // Clean rounds that report other nodes only: the peer's inventory and this node's are forgotten.
  auto other = sdk.attach_probe(Probe{"other", InventoryProbe([] {
                                        return std::vector<InventoryReading>{{0xC0DE, NodeInventory{0.1, 1, 2}}};
                                      })});
  REQUIRE(other);
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return !peer_has_inventory(s, kPeer) && !s.inventory && peer_has_inventory(s, 0xC0DE); }));
  CHECK(sdk.shutdown());
}

TEST_CASE("probes in the options are polled from the first tick, and an invalid one fails start") {
  auto calls = std::make_shared<CallCounter>();
  SdkOptions options;
  options.probes.push_back(counting_probe(calls));
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>(), options);
  CHECK(calls->wait_at_least(1, 10s));
  CHECK(sdk.shutdown());

  SdkOptions invalid;
  invalid.probes.push_back(Probe{"", HealthProbe([] { return std::vector<HealthReading>{}; })});
  try {
    (void)MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>(), invalid);
    FAIL("start accepted a probe without a name");
  } catch (const SdkException& e) {
    CHECK(e.error().code() == Errc::invalid_probe);
  }
  auto sdk2 = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto refused = sdk2.attach_probe(Probe{"nothing", InventoryProbe{}});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::invalid_probe);
  CHECK(sdk2.shutdown());
}
