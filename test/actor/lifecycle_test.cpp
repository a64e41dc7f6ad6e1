// The lifecycle primitives on their own (issue 11, point 2): the ShutdownGate every shutdown closes, and the
// one sequence that stops actors (ask, wait, kill, wait) with the tracker that counts them.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <thread>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/send.hpp>

#include "detail/actor_tracker.hpp"
#include "detail/shutdown_gate.hpp"
#include "support.hpp"

namespace meshos::detail {

using namespace std::chrono_literals;

namespace {
TimePoint in(std::chrono::milliseconds d) { return Clock::now() + d; }
}  // namespace

TEST_CASE("a shutdown gate lets calls in until it closes, and closes once") {
  ShutdownGate gate;
  {
    auto hold = gate.try_enter();
    CHECK(static_cast<bool>(hold));
    CHECK(gate.holds() == 1);
  }
  CHECK(gate.holds() == 0);
  CHECK_FALSE(gate.closed());
  CHECK(gate.close());
  CHECK(gate.closed());
  CHECK_FALSE(gate.close());  // the second close is told apart: "already shut down"
  auto late = gate.try_enter();
  CHECK_FALSE(static_cast<bool>(late));
  CHECK(gate.holds() == 0);  // a refused entry leaves no hold behind
  CHECK(gate.wait(in(0ms)));
}

TEST_CASE("closing a shutdown gate waits for the call inside it, and only until the deadline") {
  ShutdownGate gate;
  std::promise<void> entered;
  std::promise<void> finish;
  auto call = std::async(std::launch::async, [&] {
    auto hold = gate.try_enter();
    REQUIRE(static_cast<bool>(hold));
    entered.set_value();
    finish.get_future().wait();
  });
  entered.get_future().wait();
  REQUIRE(gate.close());
  CHECK_FALSE(gate.wait(in(30ms)));  // the call is still inside: the deadline ends the wait
  CHECK(gate.holds() == 1);
  auto waiter = std::async(std::launch::async, [&] { return gate.wait(in(30s)); });
  CHECK(waiter.wait_for(20ms) == std::future_status::timeout);
  finish.set_value();
  REQUIRE(waiter.wait_for(10s) == std::future_status::ready);
  CHECK(waiter.get());
  call.get();
  CHECK(gate.holds() == 0);
}

TEST_CASE("a thread that closes the gate it is inside does not wait for itself") {
  ShutdownGate gate;
  auto outer = gate.try_enter();
  auto inner = gate.try_enter();  // re-entered, as a callback calling back into its own runtime does
  REQUIRE(gate.close());
  CHECK(gate.wait(in(30s)));  // returns at once: only this thread's own holds are out
  CHECK(gate.holds() == 2);
  // Another thread's wait does count them.
  auto other = std::async(std::launch::async, [&] { return gate.wait(in(30ms)); });
  CHECK_FALSE(other.get());
  inner.release();
  outer = ShutdownGate::Hold{};  // a moved-over empty hold releases the one it replaced
  CHECK(gate.holds() == 0);
}

TEST_CASE("a hold moved to another variable is released once") {
  ShutdownGate gate;
  auto first = gate.try_enter();
  ShutdownGate::Hold second = std::move(first);
  CHECK_FALSE(static_cast<bool>(first));
  CHECK(gate.holds() == 1);
  second.release();
  second.release();
  CHECK(gate.holds() == 0);
}

TEST_CASE("many threads entering while the gate closes: every entry after close is refused, none is lost") {
  ShutdownGate gate;
  std::atomic<bool> closed_seen{false};
  std::atomic<int> entered_after_close{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; ++t) {
    callers.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        const bool closed_before = closed_seen.load();
        auto hold = gate.try_enter();
        if (hold && closed_before) entered_after_close.fetch_add(1);
      }
    });
  }
  std::this_thread::yield();
  REQUIRE(gate.close());
  closed_seen.store(true);
  CHECK(gate.wait(in(30s)));
  for (auto& c : callers) c.join();
  CHECK(entered_after_close.load() == 0);
  CHECK(gate.holds() == 0);
}

namespace {
struct SystemFixture {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
};

caf::behavior polite(caf::event_based_actor* self, int) {
  return {[self](caf::atom_value) { self->quit(); }};
}

// Blocks its thread until told to go (a daemon stuck in user code): only a kill ends it, once it returns.
caf::behavior stuck(caf::event_based_actor*, std::shared_future<void> go) {
  return {[go](caf::atom_value) { go.wait(); }};
}
}  // namespace

TEST_CASE("stop_actors: actors that quit when asked end before the deadline, nobody is killed") {
  SystemFixture fx;
  ActorTracker tracker;
  std::vector<caf::actor> actors;
  for (int i = 0; i < 3; ++i) {
    actors.push_back(fx.system.spawn(polite, i));
    tracker.track(actors.back());
  }
  CHECK(tracker.live() == 3);
  for (auto& a : actors) caf::anon_send(a, caf::atom("quit"));
  CHECK(stop_actors(tracker, in(30s), actors));
  CHECK(tracker.live() == 0);
}

TEST_CASE("stop_actors: an actor that ignores the request is killed after the deadline and ends") {
  SystemFixture fx;
  ActorTracker tracker;
  auto deaf = fx.system.spawn([](caf::event_based_actor*, int) -> caf::behavior { return {[](caf::atom_value) {}}; }, 0);
  tracker.track(deaf);
  caf::anon_send(deaf, caf::atom("quit"));
  const auto started = Clock::now();
  // A generous grace for the kill (a slow, sanitized machine): the wait ends as soon as the actor does.
  CHECK(stop_actors(tracker, in(50ms), {deaf}, 30s));
  CHECK(Clock::now() - started >= 50ms);  // it waited out the deadline before it killed
  CHECK(tracker.live() == 0);
}

TEST_CASE("stop_actors: an actor stuck in user code outlives the kill, and the caller is told to abandon") {
  std::promise<void> go;
  std::shared_future<void> released = go.get_future().share();
  auto fx = std::make_shared<SystemFixture>();
  ActorTracker tracker;
  auto blocked = fx->system.spawn(stuck, released);
  tracker.track(blocked);
  caf::anon_send(blocked, caf::atom("work"));
  CHECK_FALSE(stop_actors(tracker, in(20ms), {blocked}));
  CHECK(tracker.live() == 1);
  // Let it go, so this test's system can be destroyed instead of abandoned.
  go.set_value();
  CHECK(tracker.wait_all(in(30s)));
}

}  // namespace meshos::detail

using namespace std::chrono_literals;

// CAF 0.17 keeps a reference to a system's logger in every thread that constructed it, spawned on it or made a
// scoped_actor on it, and the system's destructor waits for the last one: without caller_thread.hpp a
// shutdown() on any other thread than those waited forever.
TEST_CASE("shutdown() may come from any thread, whichever threads started and used the SDK and live on") {
  auto started = std::make_unique<meshos::MeshOsDaemonSdk>(
      meshos::MeshOsDaemonSdk::start(meshos::test::fast_config(), nullptr));  // on this thread
  auto& sdk = *started;
  std::promise<void> used;
  std::promise<void> may_end;
  std::thread user([&] {
    // Another thread registers (a spawn), subscribes (a spawn) and waits for outputs (a scoped_actor) ...
    auto probe = std::make_shared<meshos::test::DaemonProbe>();
    auto h = sdk.register_daemon(meshos::test::make_daemon("echo", probe), meshos::EntityKeypair::generate());
    REQUIRE(h);
    auto subscription = sdk.subscribe([](const meshos::SnapshotPtr&) {});
    meshos::CausalEvent ev;
    ev.payload = {1};
    CHECK(sdk.process(h->daemon_id(), ev, 10s));
    CHECK(subscription.cancel(10s));
    used.set_value();
    may_end.get_future().wait();  // ... and lives on while a third thread shuts the node down
  });
  used.get_future().wait();
  auto stopping = std::async(std::launch::async, [&] { return sdk.shutdown(); });
  const bool ended = stopping.wait_for(30s) == std::future_status::ready;
  CHECK(ended);
  may_end.set_value();
  user.join();
  if (ended) CHECK(stopping.get());
}
