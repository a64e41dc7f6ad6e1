// DaemonHosting::OwnThread (issue 8, point 7): a daemon whose calls block gets a thread of its own, so it
// cannot stall the scheduler threads every other daemon shares; otherwise it is told, answers and leaves
// like any other.
#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

#include "support.hpp"

using namespace meshos;
using namespace meshos::test;

TEST_CASE("daemons blocked in process() on their own threads leave the shared scheduler to the others") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  // More blocked daemons than the node has scheduler threads: on shared threads they could not all be inside
  // process() at once, and nothing else would run.
  const std::size_t blocked = std::thread::hardware_concurrency() + 2;
  auto gate = std::make_shared<Latch>();
  std::vector<std::shared_ptr<DaemonProbe>> probes;
  std::vector<MeshOsDaemonHandle> handles;
  for (std::size_t i = 0; i < blocked; ++i) {
    auto probe = std::make_shared<DaemonProbe>();
    probe->gate = gate;
    probe->hosting = DaemonHosting::OwnThread;
    auto h = sdk.register_daemon(make_daemon("blocking-" + std::to_string(i), probe), EntityKeypair::generate());
    REQUIRE(h);
    REQUIRE(sdk.deliver(h->daemon_id(), event_with(1)));
    probes.push_back(probe);
    handles.push_back(std::move(h.value()));
  }
  for (auto& probe : probes) CHECK(probe->entered->wait(10s));  // every one of them blocked at once

  auto free_probe = std::make_shared<DaemonProbe>();
  auto free_daemon = sdk.register_daemon(make_daemon("free", free_probe), EntityKeypair::generate());
  REQUIRE(free_daemon);
  auto out = sdk.process(free_daemon->daemon_id(), event_with(7), 10s);
  REQUIRE_MESSAGE(out, (out ? "" : out.error().to_string()));
  CHECK(out.value() == std::vector<Bytes>{Bytes{7}});
  sdk.route(free_daemon->daemon_id(), BackpressureOff{});
  CHECK(free_probe->controls_seen.wait_at_least(1, 10s));

  gate->release();
  auto stats = sdk.shutdown();
  REQUIRE(stats);
  CHECK_FALSE(stats->forced);
}

TEST_CASE("a daemon on its own thread answers, hears control events, reports health and shuts down like any other") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  SnapshotWatch watch(sdk);
  auto probe = std::make_shared<DaemonProbe>();
  probe->hosting = DaemonHosting::OwnThread;
  auto h = sdk.register_daemon(make_daemon("own-thread", probe), EntityKeypair::generate());
  REQUIRE(h);
  const DaemonId id = h->daemon_id();
  auto out = sdk.process(id, event_with(3), 10s);
  REQUIRE_MESSAGE(out, (out ? "" : out.error().to_string()));
  CHECK(out.value() == std::vector<Bytes>{Bytes{3}});
  sdk.route(id, DrainStart{1000});
  CHECK(probe->controls_seen.wait_at_least(1, 10s));
  probe->healthy = false;  // its actor's timer-driven check (through the front) must see it
  CHECK(watch.seen([&](const MeshOsSnapshot& s) {
    auto d = s.daemons.find(id);
    return d != s.daemons.end() && d->second.health == DaemonHealth{health::Degraded{"probe says so"}};
  }));
  auto outcome = h->graceful_shutdown(5s);
  REQUIRE(outcome);
  CHECK(*outcome == ShutdownOutcome::Consumed);
  // The handle outlives the node: its daemon's thread must still end, or the actor system could not.
  auto stats = sdk.shutdown();
  REQUIRE(stats);
  CHECK_FALSE(stats->forced);
  CHECK(probe->processed.load() == 1);
}

TEST_CASE("sdk.shutdown() stops a daemon on its own thread that is still registered, and its thread ends") {
  auto probe = std::make_shared<DaemonProbe>();
  probe->hosting = DaemonHosting::OwnThread;
  std::weak_ptr<DaemonProbe> watched = probe;
  {
    auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
    auto h = sdk.register_daemon(make_daemon("own-thread", probe), EntityKeypair::generate());
    REQUIRE(h);
    REQUIRE(sdk.process(h->daemon_id(), event_with(1), 10s));
    auto stats = sdk.shutdown();
    REQUIRE(stats);
    CHECK_FALSE(stats->forced);
  }
  probe.reset();
  CHECK(watched.expired());  // the daemon (and its probe) went with its thread: nothing holds it any more
}
