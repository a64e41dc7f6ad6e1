// The loop's per-tick work at the cost of what changed (issue 8, point 1): next_snapshot() shares unchanged
// daemon entries with the previous one, and reconcile looks only at the unsettled daemons. Both must give
// exactly what the full computation gives, whatever happened in between.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/snapshot.hpp"
#include "meshos/state.hpp"
#include "../support/state_node.hpp"

using namespace meshos;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr NodeId kThisNode = 0x00C0FFEE;

struct Node : test::StateNode {
  Node() : StateNode([] {
      MeshOsConfig c;
      c.this_node = kThisNode;
      return c;
    }()) {}
};

DaemonRef daemon(std::uint64_t i) { return DaemonRef{i, "d" + std::to_string(i)}; }

std::vector<std::string> as_text(const std::vector<MeshOsAction>& actions, TimePoint now) {
  std::vector<std::string> out;
  for (const auto& a : actions) out.push_back(action_to_json(PendingAction{0, a, now}, now).dump());
  return out;
}

json daemons_json(const MeshOsSnapshot& s) {
  json out = json::array();
  for (const auto& entry : s.daemons) out.push_back(daemon_json(entry.second, s));
  return out;
}

// reconcile with the unsettled index against reconcile over every daemon.
void check_reconcile_matches_full(const Node& n) {
  ActualState without_index = n.state.actual();
  without_index.unsettled.reset();
  REQUIRE(n.state.actual().unsettled.has_value());
  CHECK(as_text(reconcile(n.state.actual(), n.state.desired(), n.now, n.state.config()), n.now) ==
        as_text(reconcile(without_index, n.state.desired(), n.now, n.state.config()), n.now));
}

}  // namespace

TEST_CASE("next_snapshot shares every unchanged daemon entry with the one before") {
  Node n;
  for (std::uint64_t i = 1; i <= 1000; ++i) n.lifecycle(daemon(i), lifecycle::Registered{});
  const MeshOsSnapshot first = n.state.next_snapshot(n.now, n.wall_ms, 1, 1);
  REQUIRE(first.daemons.size() == 1000);
  n.advance(10ms);
  n.tick();
  const MeshOsSnapshot idle = n.state.next_snapshot(n.now, n.wall_ms, 1, 2);
  CHECK(idle.daemons.chunks_shared_with(first.daemons) == first.daemons.chunk_count());  // nothing changed
  CHECK(idle.age_ms(idle.daemons.at(7)) == first.age_ms(first.daemons.at(7)) + 10);  // the clock moved, not the entry

  n.lifecycle(daemon(500), lifecycle::HealthChanged{health::Degraded{"slow"}});
  n.advance(10ms);
  n.tick();
  const MeshOsSnapshot changed = n.state.next_snapshot(n.now, n.wall_ms, 1, 3);
  CHECK(changed.daemons.chunks_shared_with(idle.daemons) == idle.daemons.chunk_count() - 1);
  CHECK(changed.daemons.at(500).health == DaemonHealth{health::Degraded{"slow"}});
  CHECK_FALSE(idle.daemons.at(500).health.has_value());  // the earlier snapshot did not move
  // Every kind of news about one settled daemon reaches its entry.
  n.lifecycle(daemon(600), lifecycle::SaturationChanged{0.5f});
  n.fold(event::CapabilitiesPublished{DaemonId{601}, CapabilitySet{{"gpu"}, {}}});
  const MeshOsSnapshot news = n.state.next_snapshot(n.now, n.wall_ms, 1, 4);
  CHECK(news.daemons.at(600).saturation == 0.5f);
  CHECK(news.daemons.at(601).capabilities.has("gpu"));
  CHECK(news.daemons.chunks_shared_with(changed.daemons) == changed.daemons.chunk_count() - 1);  // one chunk: 600, 601
  // A daemon that crashes is unsettled while it backs off: reconcile looks at it, and only at it.
  n.lifecycle(daemon(3), lifecycle::Crashed{"boom"});
  REQUIRE(n.state.actual().unsettled.has_value());
  CHECK(*n.state.actual().unsettled == std::set<DaemonId>{3});
}

TEST_CASE("next_snapshot and the unsettled index agree with the full computation under random events") {
  std::mt19937_64 rng(0x5eed2026);
  Node n;
  std::uint64_t seq = 0;
  std::vector<PendingAction> in_flight;
  std::size_t settled_seen = 0;
  auto pick = [&](std::uint64_t bound) { return rng() % bound; };
  for (int step = 0; step < 2000; ++step) {
    const DaemonRef d = daemon(1 + pick(40));
    switch (pick(24)) {  // 12 and above: time passes and the loop ticks
      case 0: case 1: n.lifecycle(d, lifecycle::Registered{}); break;
      case 2: n.lifecycle(d, lifecycle::Started{}); break;
      case 3: n.lifecycle(d, lifecycle::Crashed{"boom " + std::to_string(step)}); break;
      case 4: n.lifecycle(d, lifecycle::ExitedCleanly{}); break;
      case 5: n.lifecycle(d, lifecycle::HealthChanged{pick(2) == 0 ? DaemonHealth{health::Healthy{}}
                                                                  : DaemonHealth{health::Degraded{"x"}}});
        break;
      case 6: n.lifecycle(d, lifecycle::SaturationChanged{static_cast<float>(pick(5)) / 4.0f}); break;
      case 7: n.lifecycle(d, lifecycle::Unregistered{}); break;
      case 8: n.fold(event::DaemonIntentUpdate{d, pick(2) == 0 ? DaemonIntent::Run : DaemonIntent::Stop}); break;
      case 9: n.fold(event::CapabilitiesPublished{d.id, CapabilitySet{{"tag" + std::to_string(pick(3))}, {}}}); break;
      case 10:
        // Rarely into maintenance (every daemon is unsettled there), readily out of it.
        if (pick(40) == 0) n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 60'000}});
        if (pick(4) == 0) n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});
        break;
      case 11:
        // Some of what was emitted fails, the rest is carried out.
        for (auto& p : in_flight) {
          if (pick(3) == 0) {
            n.fold(event::ActionOutcome{p.id, p.action, ActionOutcomeKind::Failed, "refused", 1});
          } else if (const auto* start = std::get_if<action::StartDaemon>(&p.action)) {
            n.lifecycle(start->daemon, lifecycle::Started{});
          } else if (const auto* stop = std::get_if<action::StopDaemon>(&p.action)) {
            n.lifecycle(stop->daemon, lifecycle::ExitedCleanly{});
          } else if (const auto* transition = std::get_if<action::CommitMaintenanceTransition>(&p.action)) {
            n.fold(event::MaintenanceTransitionObserved{kThisNode, transition->target});  // drains end, and so on
          }
        }
        in_flight.clear();
        break;
      default: {
        n.advance(Millis(static_cast<std::int64_t>(pick(700))));
        check_reconcile_matches_full(n);
        settled_seen += n.state.actual().daemons.size() - std::min(n.state.actual().daemons.size(), n.state.actual().unsettled->size());
        n.fold(event::Tick{});
        auto emitted = n.state.record_emitted(n.plan(), n.now);
        in_flight.insert(in_flight.end(), emitted.begin(), emitted.end());
        ++seq;
        // The daemons on every tick; the whole snapshot now and then (the rest is built the same way by both).
        const MeshOsSnapshot incremental = n.state.next_snapshot(n.now, n.wall_ms, 1, seq);
        const MeshOsSnapshot full = n.state.snapshot(n.now, n.wall_ms, 1, seq);
        REQUIRE_MESSAGE(daemons_json(incremental) == daemons_json(full), "step " << step);
        if (seq % 16 == 0) REQUIRE_MESSAGE(json(incremental) == json(full), "step " << step);
      }
    }
  }
  CHECK(seq > 600);
  CHECK(settled_seen > 100);  // the index mattered: reconcile skipped settled daemons that many times
}

TEST_CASE("after mutable_actual() the next snapshot and reconcile see the change, whatever it was") {
  Node n;
  n.lifecycle(daemon(1), lifecycle::Registered{});
  n.lifecycle(daemon(2), lifecycle::Registered{});
  (void)n.state.next_snapshot(n.now, n.wall_ms, 1, 1);
  n.state.mutable_actual().daemons.at(2).lifecycle = DaemonLifecycleState::Stopped;  // behind the fold's back
  CHECK_FALSE(n.state.actual().unsettled.has_value());  // reconcile looks at every daemon until the next fold
  CHECK(as_text(n.plan(), n.now) == as_text({action::StartDaemon{daemon(2)}}, n.now));
  const auto s = n.state.next_snapshot(n.now, n.wall_ms, 1, 2);
  CHECK(s.daemons.at(2).lifecycle == DaemonLifecycleState::Stopped);
  n.fold(event::Tick{});
  REQUIRE(n.state.actual().unsettled.has_value());
  CHECK(*n.state.actual().unsettled == std::set<DaemonId>{2});
}
