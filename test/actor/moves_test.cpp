// Daemons built from factories: started by desired state, moved to a peer when the node drains. The moves here
// go between two runtimes of one process through a transport the test holds in its hand, so every step of a
// move (hand-out, transfer, abort) can be held and looked at; mesh_moves runs the same over the network.
#include <doctest/doctest.h>

#include <future>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "support.hpp"

using namespace meshos;
using namespace meshos::test;

namespace {

const DaemonRef kCounterRef{0xC0C0, "counter"};

std::uint64_t count_after_one_more(MeshOsDaemonSdk& sdk) {
  auto out = sdk.process(kCounterRef.id, CausalEvent{}, 5s);
  REQUIRE(out);
  REQUIRE(out.value().size() == 1);
  return CountingDaemon::decode(out.value()[0]);
}

bool runs(const MeshOsSnapshot& s, DaemonId id) {
  auto d = find_daemon(s, id);
  return d && d->lifecycle == DaemonLifecycleState::Running;
}

// Moves daemons into `target`'s runtime the way a peer's gateway does; adopt() can be held at its start.
class InProcessTransport : public detail::MigrationTransport {
 public:
  explicit InProcessTransport(MeshOsDaemonSdk& target) : target_(target) {}

  Result<void> adopt(NodeId, std::uint64_t migration, const DaemonRef& daemon,
                     const std::optional<Bytes>& state) override {
    adopt_entered.release();
    if (hold) hold->wait(30s);
    auto& rt = detail::SdkInternals::runtime(target_);
    auto slot = rt.accept_move(migration, daemon);
    if (!slot) return slot.error();
    if (!state) return {};
    caf::scoped_actor self{rt.system()};
    Result<void> out = SdkError{Errc::restore_failed, "no answer"};
    self->request(slot.value()->actor, 5s, detail::restore_atom::value, detail::StateMsg{*state})
        .receive(
            [&](detail::OutputsMsg& m) {
              if (m.error) out = *m.error;
              else out = Result<void>{};
            },
            [&](caf::error&) {});
    if (!out) rt.unregister_daemon(slot.value(), true);
    return out;
  }

  Result<void> release(NodeId, std::uint64_t migration, const DaemonRef& daemon) override {
    ++releases;
    return detail::SdkInternals::runtime(target_).release(migration, daemon);
  }

  Latch adopt_entered;
  std::shared_ptr<Latch> hold;
  std::atomic<int> releases{0};

 private:
  MeshOsDaemonSdk& target_;
};

struct TwoNodes {
  MeshOsDaemonSdk a;
  MeshOsDaemonSdk b;
  std::shared_ptr<InProcessTransport> transport;

  static MeshOsConfig config(NodeId id) {
    auto cfg = fast_config();
    cfg.this_node = id;
    return cfg;
  }

  explicit TwoNodes(std::size_t padding = 0)
      : a(MeshOsDaemonSdk::start(config(0xA), nullptr)), b(MeshOsDaemonSdk::start(config(0xB), nullptr)) {
    for (auto* sdk : {&a, &b})
      REQUIRE(sdk->register_factory("counter", [padding] { return std::make_unique<CountingDaemon>(padding); }));
    transport = std::make_shared<InProcessTransport>(b);
    detail::SdkInternals::runtime(a).set_migration_transport(transport);
    // a knows b as a healthy peer, active, close by.
    event::PeerInfo info;
    info.peer = 0xB;
    info.maintenance = view::Active{};
    REQUIRE(a.publish(info));
    REQUIRE(a.publish(event::RttSample{0xB, std::chrono::milliseconds(1)}));
  }
};

}  // namespace

TEST_CASE("a daemon desired state wants is built from its factory, runs, and is supervised like any") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  REQUIRE(sdk.register_factory("counter", [] { return std::make_unique<CountingDaemon>(); }));
  SnapshotWatch watch(sdk);
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{kCounterRef, DaemonIntent::Run}));
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) { return runs(s, kCounterRef.id); }));
  CHECK(find_daemon(*sdk.snapshot(), kCounterRef.id)->name == "counter");
  CHECK(count_after_one_more(sdk) == 1);
  CHECK(count_after_one_more(sdk) == 2);
  (void)sdk.shutdown();
}

TEST_CASE("without a factory the start fails, is recorded and waits, with the factory registered it runs") {
  auto cfg = fast_config();
  cfg.restart_backoff_initial = std::chrono::milliseconds(200);
  auto sdk = MeshOsDaemonSdk::start(cfg, nullptr);
  SnapshotWatch watch(sdk);
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{kCounterRef, DaemonIntent::Run}));
  auto failed = watch.wait([](const MeshOsSnapshot& s) { return !s.recent_failures.empty(); });
  REQUIRE(failed);
  CHECK(failed->recent_failures.back().action_kind == "start_daemon");
  CHECK(failed->recent_failures.back().reason.find("no_factory") != std::string::npos);
  // Recorded, stopped, held off by a backoff rather than tried on every tick.
  auto held = find_daemon(*failed, kCounterRef.id);
  REQUIRE(held != nullptr);
  CHECK(held->lifecycle != DaemonLifecycleState::Running);
  for (int i = 0; i < 5; ++i) REQUIRE(watch.next());
  CHECK(sdk.snapshot()->recent_failures.size() <= 2);

  REQUIRE(sdk.register_factory("counter", [] { return std::make_unique<CountingDaemon>(); }));
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) { return runs(s, kCounterRef.id); }));
  CHECK(count_after_one_more(sdk) == 1);
  (void)sdk.shutdown();
}

TEST_CASE("register_factory refuses an empty name, a null factory and a name registered twice") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  CHECK(sdk.register_factory("", [] { return std::make_unique<CountingDaemon>(); }).error().code() == Errc::register_failed);
  CHECK(sdk.register_factory("counter", nullptr).error().code() == Errc::register_failed);
  REQUIRE(sdk.register_factory("counter", [] { return std::make_unique<CountingDaemon>(); }));
  CHECK(sdk.register_factory("counter", [] { return std::make_unique<CountingDaemon>(); }).error().code() == Errc::register_failed);
  (void)sdk.shutdown();
}

TEST_CASE("a factory that builds a daemon of another name fails the start, clearly") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  REQUIRE(sdk.register_factory("counter", [] { return make_daemon("echo", std::make_shared<DaemonProbe>()); }));
  SnapshotWatch watch(sdk);
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{kCounterRef, DaemonIntent::Run}));
  auto failed = watch.wait([](const MeshOsSnapshot& s) { return !s.recent_failures.empty(); });
  REQUIRE(failed);
  CHECK(failed->recent_failures.back().reason.find("named 'echo'") != std::string::npos);
  (void)sdk.shutdown();
}

TEST_CASE("on drain a stateful daemon moves with its state, a hand-registered one stops, the drain completes") {
  TwoNodes nodes;
  SnapshotWatch watch_a(nodes.a);
  SnapshotWatch watch_b(nodes.b);
  REQUIRE(nodes.a.publish(event::DaemonIntentUpdate{kCounterRef, DaemonIntent::Run}));
  REQUIRE(watch_a.seen([](const MeshOsSnapshot& s) { return runs(s, kCounterRef.id) && s.peers.count(0xB) == 1; }));
  for (int i = 0; i < 5; ++i) count_after_one_more(nodes.a);
  auto probe = std::make_shared<DaemonProbe>();
  auto echo = nodes.a.register_daemon(make_daemon("echo", probe), EntityKeypair::from_seed(seed_of(7)));
  REQUIRE(echo);

  REQUIRE(nodes.a.publish(event::Admin{admin::EnterMaintenance{0xA, 30'000}}));
  REQUIRE(watch_b.seen([](const MeshOsSnapshot& s) { return runs(s, kCounterRef.id); }));
  auto drained = watch_a.wait([](const MeshOsSnapshot& s) {
    return kind_of(s.local_maintenance) == MaintenanceKind::Maintenance;
  });
  REQUIRE(drained);
  CHECK(drained->daemons.count(kCounterRef.id) == 0);        // it left a
  CHECK(drained->daemons.count(echo.value().daemon_id()) == 1);  // the application's own daemon stayed, stopped
  CHECK(drained->migrations.empty());
  // The count went with it: five events on a, the sixth on b.
  CHECK(count_after_one_more(nodes.b) == 6);
  auto on_a = nodes.a.process(kCounterRef.id, CausalEvent{}, 1s);
  REQUIRE_FALSE(on_a);
  CHECK(on_a.error().code() == Errc::not_found);
  // And on b it can move again: b built it from its factory too.
  CHECK(nodes.b.snapshot()->daemons.at(kCounterRef.id).name == "counter");
  (void)nodes.a.shutdown();
  (void)nodes.b.shutdown();
}

TEST_CASE("during a move the daemon refuses work with a retriable error, KillMigration keeps it running at its source") {
  TwoNodes nodes;
  nodes.transport->hold = std::make_shared<Latch>();
  SnapshotWatch watch_a(nodes.a);
  REQUIRE(nodes.a.publish(event::DaemonIntentUpdate{kCounterRef, DaemonIntent::Run}));
  REQUIRE(watch_a.seen([](const MeshOsSnapshot& s) { return runs(s, kCounterRef.id) && s.peers.count(0xB) == 1; }));
  CHECK(count_after_one_more(nodes.a) == 1);

  REQUIRE(nodes.a.publish(event::Admin{admin::EnterMaintenance{0xA, 30'000}}));
  REQUIRE(nodes.transport->adopt_entered.wait(10s));  // the state is out; the transfer is held
  auto moving = watch_a.wait([](const MeshOsSnapshot& s) {
    return s.migrations.size() == 1 && s.migrations[0].phase == "transferring";
  });
  REQUIRE(moving);
  const auto migration = moving->migrations[0].id;
  CHECK(moving->migrations[0].daemon == kCounterRef.id);
  CHECK(moving->migrations[0].target == 0xB);
  auto refused = nodes.a.process(kCounterRef.id, CausalEvent{}, 5s);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::daemon_moving);
  REQUIRE(nodes.a.deliver(kCounterRef.id, CausalEvent{}));  // accepted by the queue, refused by the daemon: counted

  SignedIceCommit kill;
  kill.issued_at_ms = moving->wall_ms;
  kill.blast_radius_hash[0] = 1;
  kill.proposal = ice::KillMigration{migration};
  REQUIRE(nodes.a.publish(event::SignedIce{kill}));
  REQUIRE(watch_a.seen([&](const MeshOsSnapshot& s) {
    return !s.migrations.empty() && s.migrations[0].phase == "aborting";
  }));
  nodes.transport->hold->release();
  // b had taken it and lets go again; the daemon stays at a, running (it is not moved elsewhere nor stopped),
  // and the drain ends in DrainFailed, saying why.
  auto failed = watch_a.wait([](const MeshOsSnapshot& s) {
    return kind_of(s.local_maintenance) == MaintenanceKind::DrainFailed;
  });
  REQUIRE(failed);
  CHECK(std::get<view::DrainFailed>(failed->local_maintenance).reason.find("KillMigration") != std::string::npos);
  CHECK(runs(*failed, kCounterRef.id));
  CHECK(failed->migrations.empty());
  CHECK(nodes.transport->releases.load() == 1);
  SnapshotWatch watch_b(nodes.b);
  CHECK(watch_b.seen([](const MeshOsSnapshot& s) { return s.daemons.count(kCounterRef.id) == 0; }));
  // It works on at a from the count it had.
  CHECK(count_after_one_more(nodes.a) == 2);
  auto stats = nodes.a.shutdown();
  REQUIRE(stats);
  CHECK(stats.value().refused_while_moving == 2);
  (void)nodes.b.shutdown();
}

TEST_CASE("a move its source called off before it arrived is refused when it comes, and leaves nothing behind") {
  TwoNodes nodes;
  auto& b = detail::SdkInternals::runtime(nodes.b);
  REQUIRE(b.release(77, kCounterRef));  // the abort overtook the transfer
  auto late = b.accept_move(77, kCounterRef);
  REQUIRE_FALSE(late);
  CHECK(late.error().code() == Errc::migration_released);
  // The id is free again (a daemon left behind would make this register_failed), and a later move is taken.
  auto next = b.accept_move(78, kCounterRef);
  CHECK_MESSAGE(next, (next ? "" : next.error().to_string()));
  (void)nodes.a.shutdown();
  (void)nodes.b.shutdown();
}
