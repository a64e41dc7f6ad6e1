// The runtime's shared pieces on their own: the daemon registry, the snapshot hub and the intake's gate.
#include <doctest/doctest.h>

#include <algorithm>

#include <caf/all.hpp>

#include "detail/daemon_registry.hpp"
#include "detail/credits.hpp"
#include "detail/messages.hpp"
#include "detail/snapshot_hub.hpp"

namespace meshos::detail {

namespace {

std::shared_ptr<DaemonSlot> live_slot(DaemonId id, const std::string& name, std::size_t control_capacity = 2) {
  auto slot = std::make_shared<DaemonSlot>(DaemonRef{id, name}, control_capacity, 4);
  slot->live.store(true);
  return slot;
}

}  // namespace

TEST_CASE("the registry holds one slot per id and hands out live slots only") {
  DaemonRegistry registry;
  auto a = live_slot(1, "a");
  REQUIRE(registry.add(a));
  auto again = registry.add(live_slot(1, "a-again"));
  REQUIRE_FALSE(again);
  CHECK(again.error().code() == Errc::register_failed);
  CHECK(registry.find(1) == a);

  auto spawning = std::make_shared<DaemonSlot>(DaemonRef{2, "b"}, 2, 4);  // its actor is not there yet
  REQUIRE(registry.add(spawning));
  CHECK(registry.find(2) == nullptr);
  CHECK(registry.live().size() == 1);
  CHECK(registry.size() == 2);

  // Only the slot given is removed: a newer slot under the same id stays.
  CHECK_FALSE(registry.remove(live_slot(1, "a")));
  CHECK(registry.remove(a));
  CHECK_FALSE(registry.remove(a));
  CHECK(registry.find(1) == nullptr);
  CHECK(registry.take_all().size() == 1);
  CHECK(registry.size() == 0);
}

TEST_CASE("control reservations stop at each daemon's capacity and the drops stay counted after it leaves") {
  DaemonRegistry registry;
  auto a = live_slot(1, "a", 2);
  auto b = live_slot(2, "b", 1);
  REQUIRE(registry.add(a));
  REQUIRE(registry.add(b));
  CHECK(registry.reserve_control(1) == a);
  CHECK(registry.reserve_control(1) == a);
  CHECK(registry.reserve_control(1) == nullptr);  // full: dropped, counted
  CHECK(registry.reserve_control(99) == nullptr);  // unknown: not a drop
  CHECK(registry.control_dropped() == 1);

  // One reservation per daemon with room: a is full, b takes one.
  std::vector<const DaemonSlot*> reserved;
  registry.reserve_control_each([&](const DaemonSlot& slot) { reserved.push_back(&slot); });
  REQUIRE(reserved.size() == 1);
  CHECK(reserved[0] == b.get());
  CHECK(registry.control_dropped() == 2);
  CHECK(a->dropped() == 2);
  // The list a broadcast walks is built once per change of the set, and sees the change.
  const auto every = registry.every();
  CHECK(registry.every() == every);
  auto c = live_slot(3, "c", 1);
  REQUIRE(registry.add(c));
  CHECK(registry.every() != every);
  CHECK(registry.every()->size() == 3);
  CHECK(every->size() == 2);  // what an earlier walk holds does not move
  CHECK(registry.remove(c));

  a->control_credits.release(2);
  CHECK(registry.remove(a));
  CHECK(registry.control_dropped() == 2);  // a running total: a daemon that left keeps its drops counted
}

TEST_CASE("factories: one per name, and a missing one names the node") {
  DaemonRegistry registry;
  auto make = [] { return std::unique_ptr<MeshDaemon>(); };
  REQUIRE(registry.add_factory("counter", make));
  CHECK(registry.add_factory("counter", make).error().code() == Errc::register_failed);
  CHECK(registry.add_factory("", make).error().code() == Errc::register_failed);
  CHECK(registry.add_factory("null", nullptr).error().code() == Errc::register_failed);
  CHECK(registry.factory("counter", 7));
  auto missing = registry.factory("echo", 0xab);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == Errc::no_factory);
  CHECK(missing.error().message.find(to_hex(NodeId{0xab})) != std::string::npos);
}

TEST_CASE("the snapshot hub keeps the latest snapshot and skips a subscriber that is still busy") {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  SnapshotHub hub;
  CHECK(hub.latest() == nullptr);
  CHECK_FALSE(hub.wait_first(std::chrono::milliseconds(1)));

  // A subscriber that never releases its gate: it gets the first snapshot, then is skipped.
  auto gate = std::make_shared<Credits>(1);
  auto received = std::make_shared<std::atomic<int>>(0);
  // The counter travels as a spawn argument: CAF 0.17 dereferences a null argument tuple for a spawn without
  // arguments (UBSan reports it).
  auto subscriber = system.spawn(
      [](caf::event_based_actor*, std::shared_ptr<std::atomic<int>> count) -> caf::behavior {
        return {[count](snapshot_atom, const SnapshotMsg&) { ++*count; }};
      },
      received);
  const auto id = hub.add_subscriber(subscriber, gate);

  auto first = std::make_shared<const MeshOsSnapshot>();
  hub.publish(first);
  CHECK(hub.wait_first(std::chrono::milliseconds(1)));
  CHECK(hub.latest() == first);
  auto second = std::make_shared<const MeshOsSnapshot>();
  hub.publish(second);
  CHECK(hub.latest() == second);
  CHECK(hub.published() == 2);
  CHECK(hub.subscriber_drops() == 1);

  CHECK(hub.remove_subscriber(id) == subscriber);
  CHECK(hub.remove_subscriber(id) == nullptr);
  hub.publish(first);
  CHECK(hub.subscriber_drops() == 1);  // nobody left to skip
  caf::anon_send_exit(subscriber, caf::exit_reason::user_shutdown);
}

TEST_CASE("a daemon's control inbox keeps the newest events but never lets a Shutdown go, and counts what it let go") {
  DaemonSlot slot(DaemonRef{1, "d"}, 2, 4);
  slot.consumed(Shutdown{1000});
  for (int i = 1; i <= 5; ++i) slot.consumed(BackpressureOn{0.1f * static_cast<float>(i)});
  CHECK(slot.inbox_dropped == 4);
  REQUIRE(slot.inbox.size() == 2);
  CHECK(std::get<Shutdown>(slot.inbox[0]).grace_period_ms == 1000);
  CHECK(std::get<BackpressureOn>(slot.inbox[1]).level == doctest::Approx(0.5f));

  // Nothing but Shutdowns in there: the newer event is the one let go; a Shutdown still gets in.
  slot.inbox.clear();
  slot.consumed(Shutdown{1});
  slot.consumed(Shutdown{2});
  slot.consumed(BackpressureOff{});
  CHECK(slot.inbox_dropped == 5);
  slot.consumed(Shutdown{3});
  REQUIRE(slot.inbox.size() == 3);
  CHECK(std::all_of(slot.inbox.begin(), slot.inbox.end(), [](const DaemonControl& c) { return std::holds_alternative<Shutdown>(c); }));

  // Closing adds a Shutdown only for a daemon that never heard one.
  slot.close();
  CHECK(slot.inbox.size() == 3);
  DaemonSlot quiet(DaemonRef{2, "q"}, 2, 4);
  quiet.consumed(DrainStart{});
  quiet.close();
  REQUIRE(quiet.inbox.size() == 2);
  CHECK(std::holds_alternative<Shutdown>(quiet.inbox.back()));
  quiet.consumed(BackpressureOn{1.0f});  // closed: nothing more comes in
  CHECK(quiet.inbox.size() == 2);
}

}  // namespace meshos::detail
