// End-to-end behaviours of the runtime: reconcile driving daemon actors, drains, crashes, bounds, shutdown.
#include <doctest/doctest.h>

#include <algorithm>
#include <future>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "meshos/caf.hpp"
#include "meshos/reconcile.hpp"  // restart_backoff: the delays the loop is expected to apply
#include "support.hpp"

using namespace meshos;
using namespace meshos::test;

namespace {

MaintenanceKind local_kind(const MeshOsSnapshot& s) { return kind_of(s.local_maintenance); }

// The daemon's next Shutdown from its inbox (what else comes first, DrainStart say, is passed over).
std::optional<Shutdown> next_shutdown(MeshOsDaemonHandle& h) {
  for (int i = 0; i < 16; ++i) {
    auto c = h.next_control(10s);
    if (!c) return std::nullopt;
    if (auto* shutdown = std::get_if<Shutdown>(&*c)) return *shutdown;
  }
  return std::nullopt;
}


}  // namespace

TEST_CASE("intent Stop stops the daemon, intent Run starts it again through StartDaemon") {
  auto dispatcher = std::make_shared<LoggingDispatcher>();
  auto sdk = MeshOsDaemonSdk::start(fast_config(), dispatcher);
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("svc", probe), EntityKeypair::generate());
  REQUIRE(h);
  DaemonRef ref{h->daemon_id(), "svc"};
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Running); }));

  REQUIRE(sdk.publish(event::DaemonIntentUpdate{ref, DaemonIntent::Stop}));
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Stopped); }));
  auto stopped = sdk.process(ref.id, CausalEvent{}, 5s);
  REQUIRE_FALSE(stopped);
  CHECK(stopped.error().code() == Errc::not_running);

  REQUIRE(sdk.publish(event::DaemonIntentUpdate{ref, DaemonIntent::Run}));
  CHECK(dispatcher->wait_for([&](const PendingAction& p) { return is_start_of(p, ref.id); }, 10s));
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Running); }));
  CausalEvent ev;
  ev.payload = {1, 2, 3};
  auto out = sdk.process(ref.id, ev, 5s);
  REQUIRE(out);
  CHECK(out.value() == std::vector<Bytes>{Bytes{1, 2, 3}});
  CHECK(sdk.shutdown());
}

TEST_CASE("an operator drain walks Active -> Entering -> Maintenance -> Exiting -> Recovery -> Active") {
  auto cfg = fast_config();
  cfg.recovery_ramp_window = 50ms;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto a = sdk.register_daemon(make_daemon("a", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  auto b = sdk.register_daemon(make_daemon("b", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(a);
  REQUIRE(b);
  SnapshotWatch watch(sdk);
  REQUIRE(sdk.publish(event::Admin{admin::EnterMaintenance{0, 60'000}}));
  for (auto* h : {&a.value(), &b.value()}) {
    auto first = h->next_control(10s);
    REQUIRE(first);
    CHECK(std::holds_alternative<DrainStart>(*first));
    auto second = h->next_control(10s);
    REQUIRE(second);
    CHECK(std::holds_alternative<Shutdown>(*second));  // the drain stops every daemon
    h->acknowledge_shutdown();  // it takes its control events itself: the drain waits for its word
  }
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) { return local_kind(s) == MaintenanceKind::Maintenance; }));
  for (auto* h : {&a.value(), &b.value()}) {
    auto finish = h->next_control(10s);
    REQUIRE(finish);
    CHECK(std::holds_alternative<DrainFinish>(*finish));
  }
  REQUIRE(sdk.publish(event::Admin{admin::ExitMaintenance{0}}));
  auto back = watch.wait([&](const MeshOsSnapshot& s) {
    return local_kind(s) == MaintenanceKind::Active && s.audit.size() >= 2 &&
           lifecycle_is(s, a->daemon_id(), DaemonLifecycleState::Running) &&
           lifecycle_is(s, b->daemon_id(), DaemonLifecycleState::Running);
  });
  REQUIRE(static_cast<bool>(back));
  // The walk went through Recovery: three transitions were committed (Entering -> Maintenance, Exiting ->
  // Recovery, Recovery -> Active); skipping Recovery would leave two. ExitMaintenance itself is an event.
  const auto transitions = std::count_if(back->recent_actions.begin(), back->recent_actions.end(),
                                         [](const auto& act) { return act.kind == "commit_maintenance_transition"; });
  CHECK(transitions == 3);
  CHECK(sdk.shutdown());
}

TEST_CASE("drain() waits for the verdict: Maintenance once every daemon stopped, at once when already there") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto h = sdk.register_daemon(make_daemon("prompt", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  auto drained = sdk.drain(30s);
  REQUIRE_MESSAGE(drained, (drained ? "" : drained.error().to_string()));
  CHECK(drained->state == MaintenanceKind::Maintenance);
  CHECK(drained->reason.empty());
  CHECK(drained->took < 30s);
  const auto* d = find_daemon(*sdk.snapshot(), h->daemon_id());
  REQUIRE(d);
  CHECK(d->lifecycle == DaemonLifecycleState::Stopped);
  auto again = sdk.drain_async(30s).get();  // already in maintenance: the same verdict
  REQUIRE(again);
  CHECK(again->state == MaintenanceKind::Maintenance);
  CHECK(sdk.shutdown());
  auto closed = sdk.drain(1s);
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code() == Errc::loop_closed);
}

TEST_CASE("a drain whose daemon cannot stop ends in DrainFailed at the deadline, and drain() returns that verdict") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto h = sdk.register_daemon(make_daemon("stuck", probe), EntityKeypair::generate());
  REQUIRE(h);
  REQUIRE(sdk.deliver(h->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));  // its actor is busy for good: it will not stop
  auto drained = sdk.drain(200ms);
  REQUIRE_MESSAGE(drained, (drained ? "" : drained.error().to_string()));
  CHECK(drained->state == MaintenanceKind::DrainFailed);
  CHECK(drained->reason.find("drain deadline elapsed") != std::string::npos);
  CHECK(drained->took >= 200ms);
  probe->gate->release();
  CHECK(sdk.shutdown());
}

TEST_CASE("a drain waits for a pull-model daemon to say it finished after its Shutdown before it stops it") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto h = sdk.register_daemon(make_daemon("puller", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  const auto id = h->daemon_id();
  CHECK_FALSE(h->try_next_control());  // its handle takes its control events: a pull-model daemon
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, id, DaemonLifecycleState::Running); }));
  auto drained = sdk.drain_async(30s);
  auto shutdown = next_shutdown(*h);
  REQUIRE(shutdown);
  CHECK(shutdown->grace_period_ms > 10'000);  // the drain's deadline is its grace
  // Still finishing its work: ticks go by, it is still stopping and the drain has not settled.
  const auto seq = sdk.snapshot()->seq;
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return s.seq >= seq + 5; }));
  CHECK(lifecycle_is(*sdk.snapshot(), id, DaemonLifecycleState::Stopping));
  CHECK(drained.wait_for(0s) == std::future_status::timeout);
  h->acknowledge_shutdown();
  REQUIRE(drained.wait_for(10s) == std::future_status::ready);
  auto verdict = drained.get();
  REQUIRE(verdict);
  CHECK(verdict->state == MaintenanceKind::Maintenance);
  CHECK(verdict->took < 10s);  // at its word, not at the end of the grace
  CHECK(lifecycle_is(*sdk.snapshot(), id, DaemonLifecycleState::Stopped));
  CHECK(sdk.shutdown());
}

TEST_CASE("a pull-model daemon that never says it finished is stopped when its Shutdown grace runs out") {
  auto cfg = fast_config();
  cfg.stop_grace = 300ms;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto h = sdk.register_daemon(make_daemon("silent", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  const DaemonRef ref{h->daemon_id(), "silent"};
  CHECK_FALSE(h->try_next_control());
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Running); }));
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{ref, DaemonIntent::Stop}));
  auto shutdown = next_shutdown(*h);
  REQUIRE(shutdown);
  CHECK(shutdown->grace_period_ms <= 300);
  auto stopped = watch.wait([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Stopped); });
  REQUIRE(stopped);
  // Stopped for its silence, and the log says so.
  CHECK(watch.seen([&](const MeshOsSnapshot& s) {
    return std::any_of(s.logs.begin(), s.logs.end(), [&](const LogRecord& r) {
      return r.daemon_id == ref.id && r.message.find("did not say it finished") != std::string::npos;
    });
  }));
  CHECK(sdk.shutdown());
}

TEST_CASE("a push-model daemon is stopped as soon as its on_control handled the Shutdown") {
  auto cfg = fast_config();
  cfg.stop_grace = 60s;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("pushed", probe), EntityKeypair::generate());
  REQUIRE(h);
  const DaemonRef ref{h->daemon_id(), "pushed"};
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Running); }));
  const auto started = Clock::now();
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{ref, DaemonIntent::Stop}));
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Stopped); }));
  CHECK(Clock::now() - started < 30s);  // not at the end of its 60 s grace
  CHECK(probe->controls.load() >= 1);
  CHECK(sdk.shutdown());
}

TEST_CASE("graceful_shutdown from another thread waits for the pull-model daemon's word, from its own thread it is that word") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto h = sdk.register_daemon(make_daemon("worker", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  CHECK_FALSE(h->try_next_control());  // this thread takes its control events
  auto outcome = std::async(std::launch::async, [&] { return h->graceful_shutdown(30s); });
  auto shutdown = next_shutdown(*h);
  REQUIRE(shutdown);
  CHECK(outcome.wait_for(50ms) == std::future_status::timeout);  // the daemon has not said it finished
  h->acknowledge_shutdown();
  REQUIRE(outcome.wait_for(10s) == std::future_status::ready);
  auto finished = outcome.get();
  REQUIRE(finished);
  CHECK(*finished == ShutdownOutcome::Consumed);

  auto own = sdk.register_daemon(make_daemon("own", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(own);
  CHECK_FALSE(own->try_next_control());
  const auto started = Clock::now();
  auto itself = own->graceful_shutdown(30s);  // the thread that takes its control events: its own word
  REQUIRE(itself);
  CHECK(*itself == ShutdownOutcome::Consumed);
  CHECK(Clock::now() - started < 10s);
  CHECK(sdk.shutdown());
}

TEST_CASE("shutdown_daemons tells every daemon before it waits for the first, and says how each one left") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto a = sdk.register_daemon(make_daemon("a", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  auto b = sdk.register_daemon(make_daemon("b", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(a);
  REQUIRE(b);
  // One thread takes both daemons' control events and finishes b before a: waited for one after the other, a
  // would hold b's Shutdown back until a's grace ran out.
  Latch taking;
  auto worker = std::async(std::launch::async, [&] {
    CHECK_FALSE(a->try_next_control());
    CHECK_FALSE(b->try_next_control());
    taking.release();
    auto b_shutdown = next_shutdown(*b);
    if (!b_shutdown) return false;
    b->acknowledge_shutdown();
    auto a_shutdown = next_shutdown(*a);
    if (!a_shutdown) return false;
    a->acknowledge_shutdown();
    return true;
  });
  REQUIRE(taking.wait(10s));
  auto outcomes = shutdown_daemons({&*a, &*b}, 30s);
  REQUIRE(worker.wait_for(10s) == std::future_status::ready);
  CHECK(worker.get());
  REQUIRE(outcomes.size() == 2);
  for (auto& o : outcomes) {
    REQUIRE(o);
    CHECK(*o == ShutdownOutcome::Consumed);
  }

  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto stuck = sdk.register_daemon(make_daemon("stuck", probe), EntityKeypair::generate());
  auto prompt = sdk.register_daemon(make_daemon("prompt", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(stuck);
  REQUIRE(prompt);
  REQUIRE(sdk.deliver(stuck->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));
  auto mixed = shutdown_daemons({&*stuck, &*prompt, nullptr, &*a}, 200ms);
  REQUIRE(mixed.size() == 4);
  REQUIRE(mixed[0]);
  CHECK(*mixed[0] == ShutdownOutcome::Forced);
  REQUIRE(mixed[1]);
  CHECK(*mixed[1] == ShutdownOutcome::Consumed);
  REQUIRE_FALSE(mixed[2]);
  CHECK(mixed[2].error().code() == Errc::invalid_argument);
  REQUIRE_FALSE(mixed[3]);
  CHECK(mixed[3].error().code() == Errc::already_shutdown);
  probe->gate->release();
  SnapshotWatch watch(sdk);
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return s.daemons.empty(); }));
  CHECK(sdk.shutdown());
}

TEST_CASE("a drain's Shutdown reaches a daemon whose control queue is full") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  sdk.with_control_capacity(1);
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto h = sdk.register_daemon(make_daemon("busy", probe), EntityKeypair::generate());
  REQUIRE(h);
  CHECK_FALSE(h->try_next_control());  // a pull-model daemon: its stop waits for its word
  REQUIRE(sdk.deliver(h->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));  // its actor is busy: control events wait in its mailbox
  sdk.route(h->daemon_id(), BackpressureOn{0.5f});  // takes its one control credit
  auto drained = sdk.drain_async(30s);
  // Everything after the credit was taken is dropped and counted, but not the drain's Shutdown.
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return local_kind(s) == MaintenanceKind::EnteringMaintenance; }));
  probe->gate->release();
  auto shutdown = next_shutdown(*h);
  REQUIRE(shutdown);
  CHECK(shutdown->grace_period_ms > 10'000);  // the drain's, not the one a leaving daemon finds
  h->acknowledge_shutdown();
  REQUIRE(drained.wait_for(10s) == std::future_status::ready);
  auto verdict = drained.get();
  REQUIRE(verdict);
  CHECK(verdict->state == MaintenanceKind::Maintenance);
  CHECK(sdk.shutdown());
}

TEST_CASE("a crashing daemon restarts with growing delays, then is held off as crash-looping") {
  auto cfg = fast_config();
  cfg.restart_backoff_initial = 200ms;
  cfg.restart_backoff_max = 10s;
  cfg.crash_loop_threshold = 3;
  cfg.crash_loop_hold = 60s;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto probe = std::make_shared<DaemonProbe>();
  probe->crash_on_process = true;
  auto h = sdk.register_daemon(make_daemon("crashy", probe), EntityKeypair::generate());
  auto healthy_probe = std::make_shared<DaemonProbe>();
  auto other = sdk.register_daemon(make_daemon("steady", healthy_probe), EntityKeypair::generate());
  REQUIRE(h);
  REQUIRE(other);
  auto id = h->daemon_id();
  SnapshotWatch watch(sdk);
  std::uint64_t previous_delay = 0;
  for (std::uint64_t n = 1; n <= 2; ++n) {
    REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, id, DaemonLifecycleState::Running); }));
    auto r = sdk.process(id, CausalEvent{}, 5s);
    REQUIRE_FALSE(r);
    auto snap = watch.wait([&](const MeshOsSnapshot& s) {
      auto* d = find_daemon(s, id);
      return d && d->total_crashes == n && s.restart_in_ms(*d).has_value();
    });
    REQUIRE(static_cast<bool>(snap));
    auto* d = find_daemon(*snap, id);
    CHECK(d->restart == RestartPhase::BackingOff);
    CHECK(d->consecutive_crashes == n);
    CHECK(d->last_crash_reason.find("boom") != std::string::npos);
    auto expected = static_cast<std::uint64_t>(restart_backoff(static_cast<std::uint32_t>(n), cfg).count());
    CHECK(*snap->restart_in_ms(*d) <= expected);
    CHECK(*snap->restart_in_ms(*d) > previous_delay);  // grows: 200 ms, then up to 400 ms
    previous_delay = expected;
  }
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, id, DaemonLifecycleState::Running); }));
  REQUIRE_FALSE(sdk.process(id, CausalEvent{}, 5s));
  auto looping = watch.wait([&](const MeshOsSnapshot& s) {
    auto* d = find_daemon(s, id);
    return d && d->restart == RestartPhase::CrashLooping;
  });
  REQUIRE(static_cast<bool>(looping));
  CHECK(looping->restart_in_ms(*find_daemon(*looping, id)) > 30'000u);
  // The node and the other daemon carry on.
  CausalEvent ev;
  ev.payload = {9};
  auto out = sdk.process(other->daemon_id(), ev, 5s);
  REQUIRE(out);
  CHECK(out->size() == 1);
  CHECK(sdk.shutdown());
}

TEST_CASE("a stateful daemon is restarted from its last snapshot after a crash") {
  auto cfg = fast_config();
  cfg.restart_backoff_initial = 10ms;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("counter", probe, /*stateful=*/true), EntityKeypair::generate());
  REQUIRE(h);
  auto id = h->daemon_id();
  for (int i = 0; i < 3; ++i) REQUIRE(sdk.process(id, CausalEvent{}, 5s));
  // The first check after the work takes the daemon's state: from then on there is one to restart from.
  REQUIRE(probe->states_taken.wait_at_least(1, 5s));
  SnapshotWatch watch(sdk);
  probe->crash_on_process = true;
  REQUIRE_FALSE(sdk.process(id, CausalEvent{}, 5s));
  probe->crash_on_process = false;
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) {
    auto* d = find_daemon(s, id);
    return d && d->total_crashes == 1 && d->lifecycle == DaemonLifecycleState::Running;
  }));
  CHECK(probe->restores.load() >= 1);
  CHECK(sdk.shutdown());
}

TEST_CASE("a flood of control events drops exactly the overflow and counts it") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  sdk.with_control_capacity(4);
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto h = sdk.register_daemon(make_daemon("flooded", probe), EntityKeypair::generate());
  REQUIRE(h);
  REQUIRE(sdk.deliver(h->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));
  for (int i = 0; i < 100; ++i) sdk.route(h->daemon_id(), BackpressureOn{0.1f});
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) { return s.loop.control_dropped >= 96; }));
  CHECK(h->dropped_control_events() == 96);
  probe->gate->release();
  // The four it holds arrive, each waited for; then nothing is left (not "nothing came for a while").
  for (int i = 0; i < 4; ++i) REQUIRE(h->next_control(10s));
  CHECK_FALSE(h->try_next_control());
  CHECK(probe->controls.load() == 4);
  CHECK(sdk.dropped_control_events() == 96);
  CHECK(sdk.shutdown());
}

namespace {

// A node on the application's own one-thread actor system, whose only scheduler thread is held inside a
// daemon's process(): the loop folds nothing until unblock(), so its event queue fills and stays full.
class StalledLoop {
 public:
  explicit StalledLoop(std::size_t event_queue_capacity) : system_(one_thread(config_)) {
    auto mcfg = fast_config();
    mcfg.event_queue_capacity = event_queue_capacity;
    sdk.emplace(start_sdk(system_, mcfg, nullptr));
    probe_->gate = std::make_shared<Latch>();
    auto h = sdk->register_daemon(make_daemon("blocker", probe_), EntityKeypair::generate());
    REQUIRE(h);
    blocker_.emplace(std::move(*h));
    REQUIRE(sdk->deliver(blocker_->daemon_id(), CausalEvent{}));
    REQUIRE(probe_->entered->wait(5s));
  }
  StalledLoop(const StalledLoop&) = delete;
  StalledLoop& operator=(const StalledLoop&) = delete;
  ~StalledLoop() {
    unblock();
    blocker_.reset();
    sdk.reset();  // before the actor system it runs on
  }
  void unblock() { probe_->gate->release(); }

  std::optional<MeshOsDaemonSdk> sdk;

 private:
  static caf::actor_system_config& one_thread(caf::actor_system_config& cfg) {
    cfg.set("scheduler.max-threads", 1);
    return cfg;
  }
  caf::actor_system_config config_;
  caf::actor_system system_;
  std::shared_ptr<DaemonProbe> probe_ = std::make_shared<DaemonProbe>();
  std::optional<MeshOsDaemonHandle> blocker_;
};

}  // namespace

TEST_CASE("publish on a full event queue returns queue_full (on the application's own actor system)") {
  StalledLoop loop(8);
  auto& sdk = *loop.sdk;
  int accepted = 0;
  Result<void> last;
  for (int i = 0; i < 20; ++i) {
    last = sdk.publish(event::Log{LogLine{LogLevel::Info, std::nullopt, "fill"}});
    if (!last) break;
    ++accepted;
  }
  CHECK(accepted == 8);
  REQUIRE_FALSE(last);
  CHECK(last.error().code() == Errc::queue_full);
  loop.unblock();
  SnapshotWatch watch(sdk);
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return s.loop.events_rejected == 1 && s.logs.size() >= 8; }));
  CHECK(sdk.publish(event::Tick{}));  // room again once the loop caught up
  CHECK(sdk.shutdown());
}

TEST_CASE("publish with a timeout waits for room in a full event queue, and fails with queue_full when none comes") {
  StalledLoop loop(4);
  auto& sdk = *loop.sdk;
  const auto rejected_before = sdk.snapshot()->loop.events_rejected;
  auto fill = [] { return event::Log{LogLine::info("fill")}; };
  int accepted = 0;
  while (sdk.publish(fill()) && accepted < 100) ++accepted;
  REQUIRE(accepted == 4);

  // The queue stays full for the whole timeout: refused, and counted like an immediate refusal.
  auto timed_out = sdk.publish(fill(), 20ms);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().code() == Errc::queue_full);

  // Room comes once the loop can fold again: the waiting publish goes through.
  auto waiting = std::async(std::launch::async, [&] { return sdk.publish(event::Log{LogLine::warn("waited")}, 30s); });
  CHECK(waiting.wait_for(50ms) == std::future_status::timeout);
  loop.unblock();
  REQUIRE(waiting.wait_for(20s) == std::future_status::ready);
  CHECK(waiting.get());
  SnapshotWatch watch(sdk);
  CHECK(watch.seen([&](const MeshOsSnapshot& s) {
    // Two refusals: the one that ended the fill, and the wait that timed out.
    return s.loop.events_rejected == rejected_before + 2 &&
           std::any_of(s.logs.begin(), s.logs.end(), [](const LogRecord& r) { return r.message == "waited"; });
  }));
  CHECK(sdk.shutdown());
}

TEST_CASE("a publish waiting for room ends with loop_closed when the node shuts down meanwhile") {
  StalledLoop loop(2);
  auto& sdk = *loop.sdk;
  while (sdk.publish(event::Tick{})) {
  }
  auto waiting = std::async(std::launch::async, [&] { return sdk.publish(event::Tick{}, 60s); });
  CHECK(waiting.wait_for(50ms) == std::future_status::timeout);
  auto stopping = std::async(std::launch::async, [&] { return sdk.shutdown(2s); });
  REQUIRE(waiting.wait_for(20s) == std::future_status::ready);
  auto result = waiting.get();
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == Errc::loop_closed);
  loop.unblock();
  CHECK(stopping.get());
}

TEST_CASE("graceful shutdown: a prompt daemon returns Consumed long before its grace, a stuck one is Forced") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto prompt = sdk.register_daemon(make_daemon("prompt", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(prompt);
  auto started = Clock::now();
  auto outcome = prompt->graceful_shutdown(60s);
  REQUIRE(outcome);
  CHECK(*outcome == ShutdownOutcome::Consumed);
  CHECK(Clock::now() - started < 30s);  // it did not wait out the grace window

  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto stuck = sdk.register_daemon(make_daemon("stuck", probe), EntityKeypair::generate());
  REQUIRE(stuck);
  REQUIRE(sdk.deliver(stuck->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));
  auto forced = stuck->graceful_shutdown(100ms);
  REQUIRE(forced);
  CHECK(*forced == ShutdownOutcome::Forced);
  probe->gate->release();
  SnapshotWatch watch(sdk);
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return s.daemons.empty(); }));
  CHECK(sdk.shutdown());
}

TEST_CASE("executor: failures land in the failure ring, retries stay within the budget, a throwing dispatcher is a failure") {
  auto dispatcher = std::make_shared<LoggingDispatcher>();
  auto cfg = fast_config();
  cfg.dispatch_budget = 3;
  auto sdk = MeshOsDaemonSdk::start(cfg, dispatcher);
  auto h = sdk.register_daemon(make_daemon("svc", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  DaemonRef ref{h->daemon_id(), "svc"};
  SnapshotWatch watch(sdk);
  dispatcher->fail_next(DispatchOutcome::retry_after(1ms, "not yet"), 10);
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{ref, DaemonIntent::Stop}));
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return !s.recent_failures.empty(); });
  REQUIRE(static_cast<bool>(snap));
  CHECK(snap->recent_failures.front().reason.find("budget") != std::string::npos);
  CHECK(snap->executor.retries == 3);
  CHECK(snap->executor.failed >= 1);
}

namespace {
struct ThrowingDispatcher : ActionDispatcher {
  std::atomic<int> calls{0};
  DispatchOutcome dispatch(const PendingAction&) override {
    ++calls;
    throw std::runtime_error("dispatcher exploded");
  }
};
}  // namespace

TEST_CASE("a throwing dispatcher is a recorded failure and the node carries on") {
  auto dispatcher = std::make_shared<ThrowingDispatcher>();
  auto sdk = MeshOsDaemonSdk::start(fast_config(), dispatcher);
  auto h = sdk.register_daemon(make_daemon("svc", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  SnapshotWatch watch(sdk);
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{DaemonRef{h->daemon_id(), "svc"}, DaemonIntent::Stop}));
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return !s.recent_failures.empty(); });
  REQUIRE(static_cast<bool>(snap));
  CHECK(snap->recent_failures.front().reason.find("dispatcher exploded") != std::string::npos);
  REQUIRE(h->publish_log(LogLevel::Info, "still alive"));
  CHECK(watch.seen([](const MeshOsSnapshot& s) {
    for (auto& r : s.logs)
      if (r.message == "still alive") return true;
    return false;
  }));
  CHECK(sdk.shutdown());
}

TEST_CASE("every local subscriber receives the same immutable snapshot object") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  std::mutex mu;
  std::condition_variable cv;
  std::map<std::uint64_t, std::vector<const MeshOsSnapshot*>> by_seq;
  auto record = [&](const SnapshotPtr& s) {
    {
      std::lock_guard<std::mutex> lock(mu);
      by_seq[s->seq].push_back(s.get());
    }
    cv.notify_all();
  };
  auto s1 = sdk.subscribe(record);
  auto s2 = sdk.subscribe(record);
  std::unique_lock<std::mutex> lock(mu);
  bool both = cv.wait_for(lock, 10s, [&] {
    for (auto& kv : by_seq)
      if (kv.second.size() == 2) return true;
    return false;
  });
  REQUIRE(both);
  for (auto& kv : by_seq)
    if (kv.second.size() == 2) CHECK(kv.second[0] == kv.second[1]);
  lock.unlock();
  REQUIRE(s1.cancel());
  REQUIRE(s2.cancel());
  CHECK(sdk.shutdown());
}

namespace {
// Blocks every dispatch until released, so actions pile up in the executor.
struct BlockingDispatcher : ActionDispatcher {
  std::shared_ptr<Latch> latch = std::make_shared<Latch>();
  DispatchOutcome dispatch(const PendingAction&) override {
    latch->wait(30s);
    return DispatchOutcome::done();
  }
};
}  // namespace

TEST_CASE("cluster backpressure is broadcast to daemons on assert and on release") {
  auto cfg = fast_config();
  cfg.backpressure_assert_depth = 3;
  cfg.backpressure_release_depth = 1;
  auto dispatcher = std::make_shared<BlockingDispatcher>();
  auto sdk = MeshOsDaemonSdk::start(cfg, dispatcher);
  std::vector<MeshOsDaemonHandle> handles;
  for (std::uint8_t i = 1; i <= 4; ++i) {
    auto h = sdk.register_daemon(make_daemon("d" + std::to_string(i), std::make_shared<DaemonProbe>()),
                                 EntityKeypair::from_seed(seed_of(i)));
    REQUIRE(h);
    handles.push_back(std::move(h.value()));
  }
  // Four StopDaemon actions, all stuck in the dispatcher: depth reaches the assert threshold.
  for (auto& h : handles) REQUIRE(sdk.publish(event::DaemonIntentUpdate{DaemonRef{h.daemon_id(), h.daemon_name()}, DaemonIntent::Stop}));
  auto& watcher = handles.front();
  bool saw_on = false, saw_off = false;
  for (int i = 0; i < 10 && !saw_on; ++i) {
    auto ev = watcher.next_control(5s);
    if (!ev) break;
    if (auto* on = std::get_if<BackpressureOn>(&*ev)) {
      saw_on = true;
      CHECK(on->level > 0.0f);
      CHECK(on->level <= 1.0f);
    }
  }
  CHECK(saw_on);
  dispatcher->latch->release();
  for (int i = 0; i < 10 && !saw_off; ++i) {
    auto ev = watcher.next_control(5s);
    if (!ev) break;
    if (std::holds_alternative<BackpressureOff>(*ev)) saw_off = true;
  }
  CHECK(saw_off);
  CHECK(sdk.shutdown());
}

TEST_CASE("daemon health is checked on the daemon's own cadence and shows in the snapshot") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("h", probe), EntityKeypair::generate());
  REQUIRE(h);
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) {
    auto* d = find_daemon(s, h->daemon_id());
    return d && d->health && std::holds_alternative<health::Healthy>(*d->health);
  }));
  probe->healthy = false;
  CHECK(watch.seen([&](const MeshOsSnapshot& s) {
    auto* d = find_daemon(s, h->daemon_id());
    return d && d->health && std::holds_alternative<health::Degraded>(*d->health);
  }));
  CHECK(sdk.shutdown());
}

TEST_CASE("shutdown is bounded even when daemon code never returns, and says it was forced") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();  // released only after shutdown returned
  auto h = sdk.register_daemon(make_daemon("wedged", probe), EntityKeypair::generate());
  REQUIRE(h);
  REQUIRE(sdk.deliver(h->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));
  auto stats = sdk.shutdown(200ms);
  REQUIRE(stats);
  CHECK(stats->forced);
  CHECK(stats->daemons_at_shutdown == 1);
  probe->gate->release();
}

TEST_CASE("a full action queue drops the action and counts it, and the action comes again later") {
  auto cfg = fast_config();
  cfg.action_queue_capacity = 1;
  auto dispatcher = std::make_shared<BlockingDispatcher>();
  auto sdk = MeshOsDaemonSdk::start(cfg, dispatcher);
  auto a = sdk.register_daemon(make_daemon("a", std::make_shared<DaemonProbe>()), EntityKeypair::from_seed(seed_of(1)));
  auto b = sdk.register_daemon(make_daemon("b", std::make_shared<DaemonProbe>()), EntityKeypair::from_seed(seed_of(2)));
  REQUIRE(a);
  REQUIRE(b);
  // Two StopDaemon actions in one reconcile: the first fills the queue (its dispatch blocks), the second drops.
  REQUIRE(sdk.publish(event::Admin{admin::EnterMaintenance{0, 60'000}}));
  SnapshotWatch watch(sdk);
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return s.loop.actions_dropped >= 1; });
  REQUIRE(static_cast<bool>(snap));
  CHECK(snap->executor.dropped >= 1);
  dispatcher->latch->release();
  // Once the queue drains, reconcile emits the dropped stop again and the drain completes.
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return kind_of(s.local_maintenance) == MaintenanceKind::Maintenance; }));
  CHECK(sdk.shutdown());
}

namespace {
// Records the order in which daemon code saw causal events and control events.
class OrderDaemon : public MeshDaemon {
 public:
  OrderDaemon(std::shared_ptr<Latch> hold, std::shared_ptr<Latch> entered, std::shared_ptr<std::vector<std::string>> log,
              std::shared_ptr<std::mutex> mu)
      : hold_(std::move(hold)), entered_(std::move(entered)), log_(std::move(log)), mu_(std::move(mu)) {}
  std::string name() const override { return "order"; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override {
    if (ev.sequence == 0) {
      entered_->release();
      hold_->wait(30s);
    }
    std::lock_guard<std::mutex> lock(*mu_);
    log_->push_back("event");
    return std::vector<Bytes>{};
  }
  void on_control(const DaemonControl& c) override {
    std::lock_guard<std::mutex> lock(*mu_);
    log_->push_back(control_kind(c));
  }

 private:
  std::shared_ptr<Latch> hold_, entered_;
  std::shared_ptr<std::vector<std::string>> log_;
  std::shared_ptr<std::mutex> mu_;
};
}  // namespace

TEST_CASE("a control event overtakes the causal events queued before it") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto hold = std::make_shared<Latch>();
  auto entered = std::make_shared<Latch>();
  auto log = std::make_shared<std::vector<std::string>>();
  auto mu = std::make_shared<std::mutex>();
  auto h = sdk.register_daemon(std::make_unique<OrderDaemon>(hold, entered, log, mu), EntityKeypair::generate());
  REQUIRE(h);
  REQUIRE(sdk.deliver(h->daemon_id(), CausalEvent{}));  // sequence 0: holds the actor
  REQUIRE(entered->wait(5s));
  for (std::uint64_t i = 1; i <= 50; ++i) {
    CausalEvent ev;
    ev.sequence = i;
    REQUIRE(sdk.deliver(h->daemon_id(), ev));
  }
  sdk.route(h->daemon_id(), BackpressureOn{0.7f});
  hold->release();
  REQUIRE(h->next_control(10s));  // consumed
  std::lock_guard<std::mutex> lock(*mu);
  REQUIRE(log->size() >= 2);
  CHECK((*log)[0] == "event");            // the one that was already running
  CHECK((*log)[1] == "backpressure_on");  // before the 50 queued events
  CHECK(sdk.shutdown());
}

namespace {

// is_stateful() throws: daemon code like any other, so a crash the snapshot shows (issue 12, finding 10).
struct ThrowsOnIsStateful : MeshDaemon {
  std::string name() const override { return "moody"; }
  Result<std::vector<Bytes>> process(const CausalEvent&) override { return std::vector<Bytes>{}; }
  bool is_stateful() const override { throw std::runtime_error("cannot tell"); }
};

}  // namespace

TEST_CASE("a daemon whose is_stateful throws is a crash in the snapshot, and the node carries on") {
  auto cfg = fast_config();
  cfg.restart_backoff_initial = 10ms;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto h = sdk.register_daemon(std::make_unique<ThrowsOnIsStateful>(), EntityKeypair::generate());
  REQUIRE(h);
  const auto id = h->daemon_id();
  SnapshotWatch watch(sdk);
  // Work makes the next check take the daemon's state, which asks is_stateful() first.
  CHECK(sdk.process(id, CausalEvent{}, 5s));
  auto seen = watch.wait([&](const MeshOsSnapshot& s) {
    auto* d = find_daemon(s, id);
    return d && d->total_crashes >= 1;
  });
  REQUIRE(seen);
  CHECK(find_daemon(*seen, id)->last_crash_reason.find("is_stateful threw") != std::string::npos);
  // Everything else still works: another daemon registers and processes.
  auto probe = std::make_shared<DaemonProbe>();
  auto other = sdk.register_daemon(make_daemon("steady", probe), EntityKeypair::generate());
  REQUIRE(other);
  CHECK(sdk.process(other->daemon_id(), CausalEvent{}, 5s));
  CHECK(sdk.shutdown());
}

TEST_CASE("each daemon's actor checks its daemon on its own cadence, whatever the tick") {
  auto cfg = fast_config();
  cfg.tick_interval = std::chrono::hours(1);  // no tick runs while the test does
  cfg.daemon_check_interval = 5ms;
  auto sdk = MeshOsDaemonSdk::start(cfg, nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("checked", probe), EntityKeypair::generate());
  REQUIRE(h);
  CHECK(probe->health_checks.wait_at_least(5, 10s));
  CHECK(sdk.shutdown());
}

TEST_CASE("a stateful daemon's state is taken at the first check after work, never again while it idles") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("ledger", probe, /*stateful=*/true), EntityKeypair::generate());
  REQUIRE(h);
  const auto id = h->daemon_id();
  REQUIRE(sdk.process(id, CausalEvent{}, 5s));
  REQUIRE(probe->states_taken.wait_at_least(1, 5s));
  const int taken = probe->states_taken.count();
  // Five more checks of an idle daemon: its state is not asked for again.
  REQUIRE(probe->health_checks.wait_at_least(probe->health_checks.count() + 5, 10s));
  CHECK(probe->states_taken.count() == taken);
  REQUIRE(sdk.process(id, CausalEvent{}, 5s));
  CHECK(probe->states_taken.wait_at_least(taken + 1, 5s));
  CHECK(sdk.shutdown());
}
