// The behaviours of the Rust SDK's own tests, against the actors (sdk.rs's tests, translated in behaviour).
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include "support.hpp"

using namespace meshos;
using namespace meshos::test;

TEST_CASE("snapshot() is there as soon as start() returns, every time") {
  // Issue 9, bug 1: the first snapshot was stored by the loop on a scheduler thread, after start() returned.
  for (int i = 0; i < 30; ++i) {
    auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
    auto snap = sdk.snapshot();
    REQUIRE(static_cast<bool>(snap));
    CHECK(snap->node_id == sdk.node_id());
    CHECK(sdk.shutdown());
  }
}

TEST_CASE("a Shutdown event stops the loop: everything before it folded, everything after it refused") {
  // Issue 9, bug 2: the fold set a flag that nothing read.
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch watch(sdk);
  auto has_log = [](const MeshOsSnapshot& s, const std::string& message) {
    return std::any_of(s.logs.begin(), s.logs.end(), [&](const LogRecord& r) { return r.message == message; });
  };
  constexpr int kBurst = 500;
  for (int i = 0; i < kBurst; ++i)
    REQUIRE(sdk.publish(event::Log{LogLine{LogLevel::Info, std::nullopt, "burst " + std::to_string(i)}}));
  REQUIRE(sdk.publish(event::Shutdown{}));
  const auto last = watch.wait([&](const MeshOsSnapshot& s) { return has_log(s, "loop stopped by a Shutdown event"); });
  REQUIRE(static_cast<bool>(last));
  for (int i = 0; i < kBurst; ++i) CHECK_MESSAGE(has_log(*last, "burst " + std::to_string(i)), i);
  auto after = sdk.publish(event::Log{LogLine{LogLevel::Info, std::nullopt, "too late"}});
  REQUIRE_FALSE(after);
  CHECK(after.error().code() == Errc::loop_closed);
  // No tick runs any more: the loop publishes nothing after its last snapshot.
  CHECK_FALSE(watch.next(200ms));
  CHECK(sdk.snapshot()->seq == last->seq);
  CHECK(sdk.shutdown());
}

TEST_CASE("a slow subscriber still ends on the latest snapshot, even when the loop publishes no other") {
  // A subscriber has one snapshot in flight at most; the ones published meanwhile are dropped for it. It
  // catches up with the latest when its callback returns: after a Shutdown event no tick would bring one.
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  SnapshotWatch fast(sdk);
  Latch entered, released;
  std::atomic<bool> first{true};
  std::mutex mu;
  std::condition_variable cv;
  SnapshotPtr seen_last;
  std::atomic<std::uint64_t> blocked_on{0};
  auto subscription = sdk.subscribe([&](const SnapshotPtr& s) {
    if (first.exchange(false)) {
      blocked_on = s->seq;
      entered.release();
      released.wait(10s);
    }
    {
      std::lock_guard<std::mutex> lock(mu);
      seen_last = s;
    }
    cv.notify_all();
  });
  REQUIRE(entered.wait(10s));  // the slow subscriber sits in its first callback
  // Two more ticks: the first of them waits in its mailbox, the second was dropped for it.
  REQUIRE(fast.seen([&](const MeshOsSnapshot& s) { return s.seq >= blocked_on + 2; }));
  REQUIRE(sdk.publish(event::Shutdown{}));
  const auto final_snapshot = fast.wait([](const MeshOsSnapshot& s) {
    return std::any_of(s.logs.begin(), s.logs.end(),
                       [](const LogRecord& r) { return r.message == "loop stopped by a Shutdown event"; });
  });
  REQUIRE(static_cast<bool>(final_snapshot));
  released.release();
  {
    std::unique_lock<std::mutex> lock(mu);
    CHECK(cv.wait_for(lock, 10s, [&] { return seen_last && seen_last->seq == final_snapshot->seq; }));
  }
  REQUIRE(subscription.cancel());  // the callback refers to this test's locals
  CHECK(sdk.shutdown());
}

TEST_CASE("register_daemon returns a handle with the keypair's identity and the daemon's name") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto kp = EntityKeypair::generate();
  auto handle = sdk.register_daemon(make_daemon("telemetry", std::make_shared<DaemonProbe>()), kp);
  REQUIRE(handle);
  CHECK(handle->daemon_id() == kp.origin_hash());
  CHECK(handle->daemon_name() == "telemetry");
  CHECK(handle->metadata().daemon_id == kp.origin_hash());
  CHECK(sdk.shutdown());
}

TEST_CASE("registering the same identity twice fails with register_failed") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto kp = EntityKeypair::from_seed(seed_of(1));
  auto first = sdk.register_daemon(make_daemon("a", std::make_shared<DaemonProbe>()), kp);
  REQUIRE(first);
  auto second = sdk.register_daemon(make_daemon("b", std::make_shared<DaemonProbe>()), kp);
  REQUIRE_FALSE(second);
  CHECK(second.error().code() == Errc::register_failed);
  CHECK(sdk.shutdown());
}

TEST_CASE("a routed control event reaches the daemon's handle and its on_control") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  auto handle = sdk.register_daemon(make_daemon("d", probe), EntityKeypair::generate());
  REQUIRE(handle);
  sdk.route(handle->daemon_id(), Shutdown{5000});
  auto ev = handle->next_control(5s);
  REQUIRE(ev);
  REQUIRE(std::holds_alternative<Shutdown>(*ev));
  CHECK(std::get<Shutdown>(*ev).grace_period_ms == 5000);
  CHECK(probe->controls.load() == 1);
  CHECK(sdk.shutdown());
}

TEST_CASE("at capacity, the router drops the new control event and counts it") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  sdk.with_control_capacity(1);
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto handle = sdk.register_daemon(make_daemon("slow", probe), EntityKeypair::generate());
  REQUIRE(handle);
  // Hold the daemon's actor inside process() so nothing it was sent gets consumed.
  REQUIRE(sdk.deliver(handle->daemon_id(), CausalEvent{}));
  REQUIRE(probe->entered->wait(5s));
  sdk.route(handle->daemon_id(), BackpressureOn{0.5f});
  sdk.route(handle->daemon_id(), BackpressureOn{0.8f});  // over capacity 1
  // Both sends went through the router actor; wait until it has handled them (the drop is counted there).
  SnapshotWatch watch(sdk);
  auto snap = watch.wait([](const MeshOsSnapshot& s) { return s.loop.control_dropped >= 1; });
  REQUIRE(static_cast<bool>(snap));
  CHECK(sdk.dropped_control_events() == 1);
  CHECK(handle->dropped_control_events() == 1);
  probe->gate->release();
  auto ev = handle->next_control(5s);
  REQUIRE(ev);
  CHECK(std::get<BackpressureOn>(*ev).level == doctest::Approx(0.5f));
  CHECK_FALSE(handle->next_control(50ms));
  CHECK(sdk.shutdown());
}

TEST_CASE("StopDaemon reaches the daemon as Shutdown with the remaining grace") {
  auto cfg = fast_config();
  cfg.stop_grace = 2500ms;
  auto dispatcher = std::make_shared<LoggingDispatcher>();
  auto sdk = MeshOsDaemonSdk::start(cfg, dispatcher);
  auto handle = sdk.register_daemon(make_daemon("x", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(handle);
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{DaemonRef{handle->daemon_id(), "x"}, DaemonIntent::Stop}));
  auto ev = handle->next_control(5s);
  REQUIRE(ev);
  REQUIRE(std::holds_alternative<Shutdown>(*ev));
  auto grace = std::get<Shutdown>(*ev).grace_period_ms;
  CHECK(grace <= 2500);
  CHECK(grace >= 2000);  // emitted at a tick, routed at once
  CHECK(dispatcher->wait_for([&](const PendingAction& p) { return is_stop_of(p, handle->daemon_id()); }, 5s));
  CHECK(sdk.shutdown());
}

TEST_CASE("entering maintenance broadcasts DrainStart to every registered daemon") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto a = sdk.register_daemon(make_daemon("a", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  auto b = sdk.register_daemon(make_daemon("b", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(sdk.publish(event::Admin{admin::EnterMaintenance{0, 30'000}}));
  for (auto* h : {&a.value(), &b.value()}) {
    auto ev = h->next_control(5s);
    REQUIRE(ev);
    REQUIRE(std::holds_alternative<DrainStart>(*ev));
    CHECK(std::get<DrainStart>(*ev).grace_period_ms <= 30'000);
    CHECK(std::get<DrainStart>(*ev).grace_period_ms > 20'000);
  }
  CHECK(sdk.shutdown());
}

TEST_CASE("after unregistering, routing to the daemon is a no-op that drops nothing") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  DaemonId id;
  {
    auto h = sdk.register_daemon(make_daemon("temp", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
    REQUIRE(h);
    id = h->daemon_id();
  }
  for (int i = 0; i < 20; ++i) sdk.route(id, Shutdown{1});
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return s.daemons.count(id) == 0; }));
  CHECK(sdk.dropped_control_events() == 0);
  CHECK(sdk.shutdown());
}

TEST_CASE("publish_log lands in the snapshot's log ring tagged with daemon, node and seq") {
  auto cfg = fast_config();
  cfg.this_node = 0x42;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto kp = EntityKeypair::generate();
  auto handle = sdk.register_daemon(make_daemon("logger", std::make_shared<DaemonProbe>()), kp);
  REQUIRE(handle);
  REQUIRE(handle->publish_log(LogLevel::Warn, "throttling: queue depth high"));
  SnapshotWatch watch(sdk);
  auto snap = watch.wait([&](const MeshOsSnapshot& s) {
    for (auto& r : s.logs)
      if (r.daemon_id == kp.origin_hash()) return true;
    return false;
  });
  REQUIRE(static_cast<bool>(snap));
  int matching = 0;
  std::uint64_t previous_seq = 0;
  for (auto& r : snap->logs) {
    CHECK(r.seq == previous_seq + 1);  // the ring numbers every record from 1, without gaps, in order
    previous_seq = r.seq;
    if (r.daemon_id != kp.origin_hash()) continue;
    ++matching;
    CHECK(r.level == LogLevel::Warn);
    CHECK(r.message == "throttling: queue depth high");
    CHECK(r.node_id == 0x42);
    CHECK(r.wall_ms > 0);
  }
  CHECK(matching == 1);
  CHECK(sdk.shutdown());
}

TEST_CASE("publish_log after the runtime shut down returns loop_closed") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto handle = sdk.register_daemon(make_daemon("logger", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(handle);
  REQUIRE(sdk.shutdown());
  auto r = handle->publish_log(LogLevel::Info, "after shutdown");
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == Errc::loop_closed);
  CHECK_FALSE(sdk.publish(event::Tick{}));
  CHECK(sdk.publish(event::Tick{}).error().code() == Errc::loop_closed);
}

TEST_CASE("dropping a handle unregisters the daemon: the identity can register again") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto kp = EntityKeypair::generate();
  {
    auto handle = sdk.register_daemon(make_daemon("temp", std::make_shared<DaemonProbe>()), kp);
    REQUIRE(handle);
  }
  SnapshotWatch watch(sdk);
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return s.daemons.count(kp.origin_hash()) == 0; }));
  auto again = sdk.register_daemon(make_daemon("temp", std::make_shared<DaemonProbe>()), kp);
  CHECK(again);
  CHECK(sdk.shutdown());
}

TEST_CASE("graceful_shutdown delivers Shutdown to a waiting consumer, then unregisters") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto handle = sdk.register_daemon(make_daemon("graceful", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(handle);
  std::optional<DaemonControl> received;
  std::thread consumer([&] {
    received = handle->next_control(10s);
    handle->acknowledge_shutdown();  // the daemon's word that it finished: graceful_shutdown waits for it
  });
  auto outcome = handle->graceful_shutdown(10s);
  consumer.join();
  REQUIRE(outcome);
  CHECK(*outcome == ShutdownOutcome::Consumed);
  REQUIRE(received);
  CHECK(std::holds_alternative<Shutdown>(*received));
  auto again = handle->graceful_shutdown(1s);
  REQUIRE_FALSE(again);
  CHECK(again.error().code() == Errc::already_shutdown);
  CHECK(sdk.shutdown());
}

TEST_CASE("publish_capabilities shows the daemon's capabilities in the snapshot") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto handle = sdk.register_daemon(make_daemon("caps", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(handle);
  auto caps = make_capability_set({"hardware.gpu", "hardware.memory_gb=64"});
  REQUIRE(caps);
  REQUIRE(handle->publish_capabilities(caps.value()));
  SnapshotWatch watch(sdk);
  auto snap = watch.wait([&](const MeshOsSnapshot& s) {
    auto* d = find_daemon(s, handle->daemon_id());
    return d && d->capabilities.has("hardware.gpu");
  });
  REQUIRE(static_cast<bool>(snap));
  CHECK(find_daemon(*snap, handle->daemon_id())->capabilities.memory_gb() == 64u);
  CapabilitySet bad;
  bad.tags.insert("Not A Tag!");
  auto r = handle->publish_capabilities(bad);
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == Errc::invalid_capability);
  CHECK(sdk.shutdown());
}

TEST_CASE("refresh_metadata reflects the node's real maintenance state") {
  auto cfg = fast_config();
  cfg.this_node = 7;
  auto sdk = MeshOsDaemonSdk::start(cfg, std::make_shared<LoggingDispatcher>());
  auto handle = sdk.register_daemon(make_daemon("inspect", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(handle);
  auto& view = handle->refresh_metadata();
  CHECK(view.daemon_name == "inspect");
  CHECK(view.node_id == 7);
  CHECK(std::holds_alternative<view::Active>(view.maintenance_state));
  REQUIRE(sdk.publish(event::Admin{admin::EnterMaintenance{7, 60'000}}));
  REQUIRE(handle->next_control(5s));  // DrainStart: the loop has folded the admin event
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) {
    return kind_of(s.local_maintenance) != MaintenanceKind::Active;
  }));
  auto& after = handle->refresh_metadata();
  CHECK(kind_of(after.maintenance_state) != MaintenanceKind::Active);
  CHECK(sdk.shutdown());
}

TEST_CASE("a second shutdown is a clear error, not a crash") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  REQUIRE(sdk.shutdown());
  auto again = sdk.shutdown();
  REQUIRE_FALSE(again);
  CHECK(again.error().code() == Errc::already_shutdown);
}

TEST_CASE("daemon_main runs one daemon until Shutdown and exits cleanly") {
  auto probe = std::make_shared<DaemonProbe>();
  DaemonMainOptions options;
  options.config = fast_config();
  std::vector<std::string> seen;
  options.on_start = [](MeshOsDaemonSdk& sdk, MeshOsDaemonHandle& h) {
    REQUIRE(h.publish_log(LogLevel::Info, "up"));
    sdk.route(h.daemon_id(), DrainStart{1000});
    sdk.route(h.daemon_id(), Shutdown{500});
  };
  options.on_control = [&](MeshOsDaemonHandle&, const DaemonControl& c) { seen.emplace_back(control_kind(c)); };
  int code = daemon_main(make_daemon("solo", probe), EntityKeypair::generate(), std::move(options));
  CHECK(code == 0);
  CHECK(seen == std::vector<std::string>{"drain_start", "shutdown"});
  CHECK(probe->controls.load() >= 2);
}

namespace {

// Stateful: its state is how many events it accepted. It refuses the payload "bad" with an error and any
// state that is not one byte.
class Tally : public MeshDaemon {
 public:
  std::string name() const override { return "tally"; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override {
    if (ev.payload == Bytes{'b', 'a', 'd'}) return SdkError{Errc::process_failed, "tally refuses bad"};
    if (ev.payload == Bytes{'b', 'o', 'o', 'm'}) throw std::runtime_error("tally blew up");
    ++count_;
    return std::vector<Bytes>{ev.payload, ev.payload};
  }
  bool is_stateful() const override { return true; }
  std::optional<Bytes> snapshot() const override { return Bytes{count_}; }
  Result<void> restore(const Bytes& state) override {
    if (state.size() != 1) return SdkError{Errc::restore_failed, "tally's state is one byte"};
    count_ = state[0];
    return {};
  }

 private:
  std::uint8_t count_ = 0;
};

CausalEvent payload(const std::string& text) {
  CausalEvent ev;
  ev.payload.assign(text.begin(), text.end());
  return ev;
}

}  // namespace

TEST_CASE("a daemon's host counts processed events, outputs, errors and the last error, in order with its work") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto h = sdk.register_daemon(std::make_unique<Tally>(), EntityKeypair::generate());
  REQUIRE(h);
  auto fresh = h->stats();
  REQUIRE(fresh);
  CHECK(fresh->processed == 0);
  CHECK(fresh->running);
  CHECK_FALSE(fresh->last_error);

  // Fire and forget: the stats request queues behind these, so it sees all of them.
  for (int i = 0; i < 3; ++i) REQUIRE(sdk.deliver(h->daemon_id(), payload("ok")));
  REQUIRE(sdk.deliver(h->daemon_id(), payload("bad")));
  auto counted = sdk.daemon_stats(h->daemon_id());
  REQUIRE(counted);
  CHECK(counted->processed == 3);
  CHECK(counted->outputs == 6);
  CHECK(counted->errors == 1);
  CHECK(counted->crashes == 0);
  REQUIRE(counted->last_error);
  CHECK(counted->last_error->find("tally refuses bad") != std::string::npos);

  auto crashed = sdk.process(h->daemon_id(), payload("boom"), 5s);
  REQUIRE_FALSE(crashed);
  CHECK(crashed.error().code() == Errc::process_failed);
  auto after_crash = h->stats();
  REQUIRE(after_crash);
  CHECK(after_crash->errors == 2);
  CHECK(after_crash->crashes == 1);
  REQUIRE(after_crash->last_error);
  CHECK(after_crash->last_error->find("tally blew up") != std::string::npos);

  auto unknown = sdk.daemon_stats(DaemonId{12345});
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code() == Errc::not_found);
  CHECK(sdk.shutdown());
  auto closed = h->stats();
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code() == Errc::loop_closed);
}

TEST_CASE("snapshot_daemon and restore_daemon reach a running daemon's state through the public API") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto h = sdk.register_daemon(std::make_unique<Tally>(), EntityKeypair::generate());
  REQUIRE(h);
  for (int i = 0; i < 5; ++i) REQUIRE(sdk.deliver(h->daemon_id(), payload("ok")));
  auto state = sdk.snapshot_daemon(h->daemon_id());
  REQUIRE(state);
  REQUIRE(state->has_value());
  CHECK(**state == Bytes{5});

  REQUIRE(sdk.restore_daemon(h->daemon_id(), Bytes{42}));
  REQUIRE(sdk.deliver(h->daemon_id(), payload("ok")));
  auto restored = sdk.snapshot_daemon(h->daemon_id());
  REQUIRE(restored);
  CHECK(restored->value_or(Bytes{}) == Bytes{43});

  // A state the daemon refuses: restore_failed with its reason, and it goes on as it was (not a crash).
  auto refused = sdk.restore_daemon(h->daemon_id(), Bytes{1, 2, 3});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::restore_failed);
  CHECK(refused.error().message.find("one byte") != std::string::npos);
  auto stats = h->stats();
  REQUIRE(stats);
  CHECK(stats->running);
  CHECK(stats->crashes == 0);
  auto unchanged = sdk.snapshot_daemon(h->daemon_id());
  REQUIRE(unchanged);
  CHECK(unchanged->value_or(Bytes{}) == Bytes{43});
  CHECK(sdk.shutdown());
}

TEST_CASE("a stateless daemon has no state to take or restore") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto h = sdk.register_daemon(make_daemon("plain", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  auto state = sdk.snapshot_daemon(h->daemon_id());
  REQUIRE(state);
  CHECK_FALSE(state->has_value());
  auto restored = sdk.restore_daemon(h->daemon_id(), Bytes{1});
  REQUIRE_FALSE(restored);
  CHECK(restored.error().code() == Errc::restore_failed);
  auto missing = sdk.snapshot_daemon(DaemonId{777});
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == Errc::not_found);
  CHECK(sdk.shutdown());
}

namespace {

// Keeps every lifecycle notice the observer hears; a test waits for one instead of for time to pass.
class NoticeLog {
 public:
  LifecycleObserver observer() {
    return [this](const LifecycleNotice& n) {
      if (hold_) hold_->wait(30s);
      {
        std::lock_guard<std::mutex> lock(mu_);
        notices_.push_back(n);
      }
      cv_.notify_all();
    };
  }
  // Every notice waits until release() (the first one is taken, then waits inside the observer).
  void hold() { hold_ = std::make_shared<Latch>(); }
  void release() { hold_->release(); }

  template <class Signal>
  bool wait_for(DaemonId id, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return std::any_of(notices_.begin(), notices_.end(), [&](const LifecycleNotice& n) {
        return n.daemon.id == id && std::holds_alternative<Signal>(n.signal);
      });
    });
  }
  // The signals heard for one daemon, by their index in LifecycleSignal, in order.
  std::vector<std::size_t> signals_of(DaemonId id) const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::size_t> out;
    for (const auto& n : notices_)
      if (n.daemon.id == id && !std::holds_alternative<lifecycle::HealthChanged>(n.signal) &&
          !std::holds_alternative<lifecycle::SaturationChanged>(n.signal))
        out.push_back(n.signal.index());
    return out;
  }
  std::size_t size() const {
    std::lock_guard<std::mutex> lock(mu_);
    return notices_.size();
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::vector<LifecycleNotice> notices_;
  std::shared_ptr<Latch> hold_;
};

template <class Signal>
std::size_t index_of() {
  return LifecycleSignal(Signal{}).index();
}

}  // namespace

TEST_CASE("factories handed to start() build daemons from the first tick, and the observer hears every change in order") {
  NoticeLog heard;
  auto built = std::make_shared<std::atomic<int>>(0);
  SdkOptions options;
  options.factories["counter"] = [built] {
    ++*built;
    return make_daemon("counter", std::make_shared<DaemonProbe>());
  };
  options.lifecycle_observer = heard.observer();
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>(), options);

  const DaemonRef counter{0xC0FFEE, "counter"};
  REQUIRE(sdk.publish(event::DaemonIntentUpdate{counter, DaemonIntent::Run}));
  REQUIRE(heard.wait_for<lifecycle::Registered>(counter.id));
  CHECK(built->load() == 1);

  auto probe = std::make_shared<DaemonProbe>();
  probe->crash_on_process = true;
  auto h = sdk.register_daemon(make_daemon("fragile", probe), EntityKeypair::generate());
  REQUIRE(h);
  const DaemonId fragile = h->daemon_id();
  CHECK_FALSE(sdk.process(fragile, CausalEvent{}, 5s));  // crashes it
  // Restarted after its backoff: the crash that lasted only until then is heard, not just the end state.
  REQUIRE(heard.wait_for<lifecycle::Started>(fragile));
  REQUIRE(h->graceful_shutdown(5s));
  REQUIRE(heard.wait_for<lifecycle::Unregistered>(fragile));
  const auto signals = heard.signals_of(fragile);
  REQUIRE(signals.size() >= 4);
  CHECK(signals.front() == index_of<lifecycle::Registered>());
  CHECK(signals[1] == index_of<lifecycle::Crashed>());
  CHECK(signals[2] == index_of<lifecycle::Started>());
  // Its actor's last word (ExitedCleanly) and the registry's Unregistered come from two senders: either order.
  CHECK(std::find(signals.begin() + 3, signals.end(), index_of<lifecycle::Unregistered>()) != signals.end());
  auto stats = sdk.shutdown();
  REQUIRE(stats);
  CHECK(stats->lifecycle_dropped == 0);
}

TEST_CASE("a factory without a name handed to start() refuses the start with register_failed") {
  SdkOptions options;
  options.factories[""] = [] { return make_daemon("x", std::make_shared<DaemonProbe>()); };
  try {
    auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr, options);
    FAIL("start() accepted a nameless factory");
  } catch (const SdkException& e) {
    CHECK(e.error().code() == Errc::register_failed);
  }
}

TEST_CASE("an observer too far behind loses the newest notices, counted, and the node carries on") {
  NoticeLog heard;
  heard.hold();
  SdkOptions options;
  options.lifecycle_observer = heard.observer();
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr, options);
  constexpr int kDaemons = 700;  // a Registered and an Unregistered each: 1400 notices, beyond the backlog
  for (int i = 0; i < kDaemons; ++i) {
    auto h = sdk.register_daemon(make_daemon("brief", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
    REQUIRE(h);
  }  // each handle unregisters its daemon as it goes
  REQUIRE(sdk.publish(event::Log{LogLine::info("all gone")}));
  SnapshotWatch watch(sdk);
  REQUIRE(watch.seen([](const MeshOsSnapshot& s) {
    return std::any_of(s.logs.begin(), s.logs.end(), [](const LogRecord& r) { return r.message == "all gone"; });
  }));
  heard.release();
  auto stats = sdk.shutdown();
  REQUIRE(stats);
  CHECK(stats->lifecycle_dropped > 0);
  CHECK(heard.size() >= kLifecycleBacklog);
  CHECK(heard.size() + stats->lifecycle_dropped >= 2u * kDaemons);
}

TEST_CASE("the control inbox never lets a Shutdown go for a newer event, and counts what it let go") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  sdk.with_control_capacity(2);
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("pull", probe), EntityKeypair::generate());
  REQUIRE(h);
  // One at a time, each seen by the daemon before the next is sent: nothing is dropped on the way, and the
  // inbox overflows.
  sdk.route(h->daemon_id(), Shutdown{1000});
  REQUIRE(probe->controls_seen.wait_at_least(1, 10s));
  for (int i = 1; i <= 5; ++i) {
    sdk.route(h->daemon_id(), BackpressureOn{0.1f * static_cast<float>(i)});
    REQUIRE(probe->controls_seen.wait_at_least(1 + i, 10s));
  }
  // The actor keeps the last one after its on_control returned; a request queued behind it answers after.
  auto stats = h->stats();
  REQUIRE(stats);
  CHECK(sdk.dropped_control_events() == 0);
  CHECK(h->control_inbox_evicted() == 4);
  CHECK(stats->control_inbox_evicted == 4);  // and in the host's statistics
  auto first = h->try_next_control();
  REQUIRE(first);
  CHECK(std::get<Shutdown>(*first).grace_period_ms == 1000);
  auto newest = h->try_next_control();
  REQUIRE(newest);
  CHECK(std::get<BackpressureOn>(*newest).level == doctest::Approx(0.5f));
  CHECK_FALSE(h->try_next_control());
  CHECK(sdk.shutdown());
}

TEST_CASE("a thread waiting in next_control ends on Shutdown when the node shuts down, never on silence") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto h = sdk.register_daemon(make_daemon("waiting", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  std::optional<DaemonControl> received;
  std::thread consumer([&] { received = h->next_control(30s); });
  REQUIRE(sdk.shutdown());
  consumer.join();
  REQUIRE(received);
  CHECK(std::holds_alternative<Shutdown>(*received));
  CHECK_FALSE(h->try_next_control());  // and then nothing
}

namespace {

// A daemon held inside process() with its queue (event_queue_capacity) full behind it.
struct FullDaemon {
  std::shared_ptr<DaemonProbe> probe = std::make_shared<DaemonProbe>();
  std::optional<MeshOsDaemonHandle> handle;
  int accepted = 0;
  FullDaemon(MeshOsDaemonSdk& sdk, const std::string& name) {
    probe->gate = std::make_shared<Latch>();
    auto h = sdk.register_daemon(make_daemon(name, probe), EntityKeypair::generate());
    REQUIRE(h);
    handle.emplace(std::move(*h));
    REQUIRE(sdk.deliver(id(), CausalEvent{}));
    REQUIRE(probe->entered->wait(5s));
    ++accepted;
    while (accepted < 100 && sdk.deliver(id(), CausalEvent{})) ++accepted;
  }
  DaemonId id() const { return handle->daemon_id(); }
};

MeshOsConfig small_queue_config() {
  auto cfg = fast_config();
  cfg.event_queue_capacity = 3;
  return cfg;
}

}  // namespace

TEST_CASE("deliver with a timeout waits for room in a full daemon queue instead of failing at once") {
  auto sdk = MeshOsDaemonSdk::start(small_queue_config(), std::make_shared<LoggingDispatcher>());
  FullDaemon full(sdk, "held");
  REQUIRE(full.accepted < 100);  // the queue did fill up

  auto timed_out = sdk.deliver(full.id(), CausalEvent{}, 20ms);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error().code() == Errc::queue_full);

  // Room comes as the daemon works again: the waiting event goes through and is processed.
  auto waiting = std::async(std::launch::async, [&] { return sdk.deliver(full.id(), CausalEvent{}, 30s); });
  full.probe->gate->release();
  auto delivered = waiting.get();
  CHECK_MESSAGE(delivered, (delivered ? "" : delivered.error().message));
  auto stats = sdk.daemon_stats(full.id(), 10s);
  REQUIRE(stats);
  CHECK(stats->processed == static_cast<std::uint64_t>(full.accepted + 1));
  CHECK(sdk.shutdown());
}

TEST_CASE("deliver with a timeout ends as soon as the daemon leaves or the loop closes, not at its deadline") {
  auto sdk = MeshOsDaemonSdk::start(small_queue_config(), std::make_shared<LoggingDispatcher>());
  FullDaemon leaving(sdk, "leaving");
  auto waiting = std::async(std::launch::async, [&] { return sdk.deliver(leaving.id(), CausalEvent{}, 60s); });
  REQUIRE(waiting.wait_for(std::chrono::milliseconds(20)) == std::future_status::timeout);
  leaving.handle.reset();  // unregisters the daemon
  auto left = waiting.get();
  REQUIRE_FALSE(left);
  CHECK(left.error().code() == Errc::not_running);
  leaving.probe->gate->release();

  FullDaemon held(sdk, "held");
  auto closing = std::async(std::launch::async, [&] { return sdk.deliver(held.id(), CausalEvent{}, 60s); });
  REQUIRE(closing.wait_for(std::chrono::milliseconds(20)) == std::future_status::timeout);
  REQUIRE(sdk.publish(event::Shutdown{}));
  auto closed = closing.get();
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code() == Errc::loop_closed);
  held.probe->gate->release();
  CHECK(sdk.shutdown());
}

TEST_CASE("cancelling a subscription waits for the callback under way, and no call starts after it") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  Latch entered, released;
  std::atomic<int> calls{0};
  std::atomic<bool> first{true};
  auto subscription = sdk.subscribe([&](const SnapshotPtr&) {
    ++calls;
    if (first.exchange(false)) {
      entered.release();
      released.wait(30s);
    }
  });
  REQUIRE(subscription.active());
  REQUIRE(entered.wait(10s));
  // The callback is still inside: the wait ends at its timeout, and the subscription is cancelled anyway.
  auto early = subscription.cancel(50ms);
  REQUIRE_FALSE(early);
  CHECK(early.error().code() == Errc::timeout);
  auto waited = std::async(std::launch::async, [&] { return subscription.cancel(30s); });
  CHECK(waited.wait_for(50ms) == std::future_status::timeout);  // it waits for the call, not for a tick
  released.release();
  REQUIRE(waited.wait_for(10s) == std::future_status::ready);
  CHECK(waited.get());
  CHECK_FALSE(subscription.active());
  const int after_cancel = calls.load();
  // Ticks go on, other subscribers still hear them, this callback is never called again.
  SnapshotWatch watch(sdk);
  const auto seq = sdk.snapshot()->seq;
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return s.seq >= seq + 3; }));
  CHECK(calls.load() == after_cancel);
  CHECK(subscription.cancel());  // twice: no error
  CHECK(sdk.shutdown());
}

TEST_CASE("a callback that cancels its own subscription does not wait for itself") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  std::promise<bool> cancelled;
  auto subscription = std::make_shared<Subscription>();
  std::atomic<bool> once{true};
  *subscription = sdk.subscribe([&cancelled, subscription_ptr = std::weak_ptr<Subscription>(subscription), &once](
                                    const SnapshotPtr&) {
    if (!once.exchange(false)) return;
    auto self = subscription_ptr.lock();
    cancelled.set_value(self && static_cast<bool>(self->cancel(30s)));
  });
  auto result = cancelled.get_future();
  REQUIRE(result.wait_for(10s) == std::future_status::ready);
  CHECK(result.get());
  CHECK(sdk.shutdown());
}

TEST_CASE("a subscription ends with its object, and one made after shutdown is inactive") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), std::make_shared<LoggingDispatcher>());
  auto calls = std::make_shared<std::atomic<int>>(0);
  {
    auto subscription = sdk.subscribe([calls](const SnapshotPtr&) { ++*calls; });
    SnapshotWatch watch(sdk);
    REQUIRE(watch.seen([&](const MeshOsSnapshot&) { return calls->load() > 0; }));
  }
  const int at_end = calls->load();
  SnapshotWatch watch(sdk);
  const auto seq = sdk.snapshot()->seq;
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return s.seq >= seq + 3; }));
  CHECK(calls->load() == at_end);
  REQUIRE(sdk.shutdown());
  auto late = sdk.subscribe([calls](const SnapshotPtr&) { ++*calls; });
  CHECK_FALSE(late.active());
  CHECK(late.cancel());
}
