// meshos-demo: one node's pure core driven through simulated time. Two daemons register, one crashes and
// is restarted with backoff, a slow peer is avoided, an operator takes the node into maintenance and back
// out. Each tick folds the scheduled events, plays the executor (every action succeeds one tick later),
// runs reconcile and prints what it emitted; the final snapshot is printed as JSON.
// Time is a TimePoint advanced by hand: nothing sleeps, so the run is instant and repeatable.
#include <cstdint>
#include <iostream>
#include <map>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/core.hpp"
#include "meshos/version.hpp"

namespace {

using namespace meshos;

Seed seed_of(std::uint8_t fill) {
  Seed s{};
  s.fill(fill);
  return s;
}

struct ScheduledEvent {
  int tick = 0;
  std::string what;  // for people
  MeshOsEvent event;
};

class Demo {
 public:
  Demo()
      : node_key_(EntityKeypair::from_seed(seed_of(0x01))),
        echo_{EntityKeypair::from_seed(seed_of(0x02)).origin_hash(), "echo"},
        counter_{EntityKeypair::from_seed(seed_of(0x03)).origin_hash(), "counter"},
        slow_peer_(EntityKeypair::from_seed(seed_of(0x04)).node_id()),
        config_(make_config(node_key_.node_id())),
        state_(config_),
        start_(Clock::now()),
        wall_start_(wall_clock_ms()) {}

  int run() {
    std::cout << "meshos-demo (meshos " << version() << ")\n"
              << "node " << to_hex(config_.this_node) << ", tick " << config_.tick_interval.count()
              << " ms, recovery ramp " << config_.recovery_ramp_window.count() << " ms (shortened for the demo)\n"
              << "daemons: echo " << to_hex(echo_.id) << ", counter " << to_hex(counter_.id) << "\n\n";

    const std::vector<ScheduledEvent> script = scenario();
    constexpr int kTicks = 26;
    TimePoint now = start_;
    for (int tick = 0; tick < kTicks; ++tick) {
      now = start_ + tick * config_.tick_interval;
      for (const auto& scheduled : script) {
        if (scheduled.tick == tick) fold(scheduled.what, scheduled.event, now);
      }
      complete_in_flight_actions(now);
      fold_quietly(event::Tick{}, now);
      auto actions = reconcile(state_.actual(), state_.desired(), now, state_.config());
      for (const auto& pending : state_.record_emitted(std::move(actions), now)) {
        std::cout << stamp(now) << "action  " << action_to_json(pending, now).dump() << "\n";
        in_flight_.push_back(pending);
      }
    }

    const MeshOsSnapshot snapshot = state_.snapshot(now, wall(now), /*epoch=*/1, /*seq=*/1);
    std::cout << "\nfinal state after " << kTicks << " ticks:\n";
    for (const auto& [id, daemon] : snapshot.daemons) {
      std::cout << "  " << daemon.name << " (" << to_hex(id) << "): " << to_string(daemon.lifecycle)
                << ", restart " << to_string(daemon.restart) << ", starts " << daemon.starts << ", crashes "
                << daemon.total_crashes << "\n";
    }
    std::cout << "  maintenance: " << to_string(kind_of(snapshot.local_maintenance)) << "\n"
              << "  avoided peers: " << snapshot.avoid.size() << "\n\n";
    nlohmann::json j = snapshot;
    // The actions were printed as they were emitted; the JSON would only repeat them.
    if (j.is_object()) j.erase("recent_actions");
    std::cout << "snapshot JSON (recent_actions left out: " << snapshot.recent_actions.size()
              << " actions, printed above):\n"
              << j.dump(2) << "\n";
    return 0;
  }

 private:
  static MeshOsConfig make_config(NodeId node) {
    MeshOsConfig c;
    c.this_node = node;
    // Five minutes of ramp would need 600 ticks; two seconds shows the same transition.
    c.recovery_ramp_window = Millis(2000);
    return c;
  }

  std::vector<ScheduledEvent> scenario() const {
    const NodeId node = config_.this_node;
    return {
        {0, "echo registers", event::DaemonLifecycle{echo_, lifecycle::Registered{}}},
        {0, "counter registers", event::DaemonLifecycle{counter_, lifecycle::Registered{}}},
        {1, "counter reports degraded health",
         event::DaemonLifecycle{counter_, lifecycle::HealthChanged{health::Degraded{"cache cold"}}}},
        {2, "echo crashes", event::DaemonLifecycle{echo_, lifecycle::Crashed{"segfault in handler"}}},
        {3, "peer answers in 400 ms", event::RttSample{slow_peer_, std::chrono::milliseconds(400)}},
        {4, "counter is healthy again", event::DaemonLifecycle{counter_, lifecycle::HealthChanged{health::Healthy{}}}},
        {4, "echo logs a line",
         event::Log{LogLine{LogLevel::Info, echo_.id, "restarted, replaying from sequence 42"}}},
        {8, "operator: enter maintenance, drain within 3 s",
         event::Admin{admin::EnterMaintenance{node, std::uint64_t{3000}}}},
        {15, "operator: exit maintenance", event::Admin{admin::ExitMaintenance{node}}},
    };
  }

  void fold(const std::string& what, const MeshOsEvent& ev, TimePoint now) {
    std::cout << stamp(now) << "event   " << event_kind(ev) << ": " << what << "\n";
    report(state_.fold(ev, now, wall(now)), now);
  }

  void fold_quietly(const MeshOsEvent& ev, TimePoint now) { report(state_.fold(ev, now, wall(now)), now); }

  void report(const FoldEffects& effects, TimePoint now) {
    if (effects.rejected) std::cout << stamp(now) << "refused " << effects.rejected->to_string() << "\n";
    if (effects.maintenance_changed) {
      const auto [from, to] = *effects.maintenance_changed;
      std::cout << stamp(now) << "state   maintenance " << to_string(from) << " -> " << to_string(to) << "\n";
      if (auto control = control_for_transition(from, state_.actual().maintenance, now,
                                                config_.default_drain_deadline)) {
        nlohmann::json j = to_daemon_control(*control, now);
        std::cout << stamp(now) << "control to every daemon: " << j.dump() << "\n";
      }
    }
  }

  // The executor's part: every action of the previous tick succeeded, and the world answers.
  void complete_in_flight_actions(TimePoint now) {
    std::vector<PendingAction> done;
    done.swap(in_flight_);
    for (const auto& pending : done) {
      fold_quietly(event::ActionOutcome{pending.id, pending.action, ActionOutcomeKind::Dispatched, "", 1}, now);
      if (auto* start = std::get_if<action::StartDaemon>(&pending.action)) {
        fold(start->daemon.name + " started", event::DaemonLifecycle{start->daemon, lifecycle::Started{}}, now);
      } else if (auto* stop = std::get_if<action::StopDaemon>(&pending.action)) {
        fold(stop->daemon.name + " exited cleanly", event::DaemonLifecycle{stop->daemon, lifecycle::ExitedCleanly{}},
             now);
      } else if (auto* commit = std::get_if<action::CommitMaintenanceTransition>(&pending.action)) {
        fold(std::string("maintenance transition to ") + to_string(kind_of(commit->target)) + " committed",
             event::MaintenanceTransitionObserved{commit->node, commit->target}, now);
      }
    }
  }

  std::string stamp(TimePoint now) const {
    std::string ms = std::to_string(to_ms(now - start_));
    return "[t+" + std::string(ms.size() < 5 ? 5 - ms.size() : 0, ' ') + ms + " ms] ";
  }

  std::int64_t wall(TimePoint now) const { return wall_start_ + static_cast<std::int64_t>(to_ms(now - start_)); }

  EntityKeypair node_key_;
  DaemonRef echo_;
  DaemonRef counter_;
  NodeId slow_peer_;
  MeshOsConfig config_;
  MeshOsState state_;
  TimePoint start_;
  std::int64_t wall_start_;
  std::vector<PendingAction> in_flight_;
};

}  // namespace

int main() {
  try {
    return Demo().run();
  } catch (const std::exception& e) {
    std::cerr << "meshos-demo: " << e.what() << "\n";
    return 1;
  }
}
