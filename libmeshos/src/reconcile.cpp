#include "meshos/reconcile.hpp"

#include <algorithm>
#include <string>
#include <tuple>

namespace meshos {
namespace {

bool is_health_ready(const std::optional<DaemonHealth>& h) {
  return !h || std::holds_alternative<health::Healthy>(*h);
}

// The operator's own intent, before maintenance overrides it.
DaemonIntent operator_intent(const DesiredState& desired, DaemonId id) {
  auto it = desired.intents.find(id);
  return it == desired.intents.end() ? DaemonIntent::Run : it->second;
}

bool is_moving(const ActualState& actual, DaemonId id) {
  return std::any_of(actual.migrations.begin(), actual.migrations.end(),
                     [&](const auto& kv) { return kv.second.daemon.id == id; });
}

// What one daemon needs now: a start, a backoff announced, a stop, or a move while the node drains.
void reconcile_daemon(const ActualState& actual, const DesiredState& desired, TimePoint now,
                      const MeshOsConfig& config, const DaemonState& d, std::vector<MeshOsAction>& out);

void reconcile_daemons(const ActualState& actual, const DesiredState& desired, TimePoint now,
                       const MeshOsConfig& config, std::vector<MeshOsAction>& out) {
  auto start_hosted = [&](DaemonId id, const DaemonRef& ref) {
    if (actual.daemons.count(id) == 0 && effective_intent(actual, desired, id) == DaemonIntent::Run &&
        !start_hold(actual, nullptr, now))
      out.emplace_back(action::StartDaemon{ref});
  };
  // Only unsettled daemons can need anything (ActualState::unsettled): with the index, a tick looks at those.
  if (actual.unsettled) {
    for (DaemonId id : *actual.unsettled)
      if (auto it = desired.hosted.find(id); it != desired.hosted.end()) start_hosted(id, it->second);
    for (DaemonId id : *actual.unsettled)
      if (auto it = actual.daemons.find(id); it != actual.daemons.end()) reconcile_daemon(actual, desired, now, config, it->second, out);
  } else {
    for (const auto& [id, ref] : desired.hosted) start_hosted(id, ref);
    for (const auto& entry : actual.daemons) reconcile_daemon(actual, desired, now, config, entry.second, out);
  }
}

void reconcile_daemon(const ActualState& actual, const DesiredState& desired, TimePoint now,
                      const MeshOsConfig& config, const DaemonState& d, std::vector<MeshOsAction>& out) {
  const auto* entering = std::get_if<maintenance::EnteringMaintenance>(&actual.maintenance);
  const DaemonId id = d.ref.id;
  {
    if (is_moving(actual, id)) return;  // it stays as it is until it has left or the move failed
    const DaemonIntent intent = effective_intent(actual, desired, id);
    if (entering && d.from_factory && !d.pinned && d.lifecycle == DaemonLifecycleState::Running) {
      // A drain moves what the node built from a factory; what cannot move stops, and the drain says why.
      auto target = migration_target(actual, d, now);
      if (target) {
        out.emplace_back(action::MigrateDaemon{0, d.ref, target.value()});
      } else {
        TimePoint deadline = entering->deadline ? *entering->deadline : now + config.stop_grace;
        out.emplace_back(action::StopDaemon{d.ref, std::string(kStopUnmovable) + target.error().message, deadline});
      }
      return;
    }
    if (intent == DaemonIntent::Run && d.lifecycle == DaemonLifecycleState::Stopped) {
      auto hold = start_hold(actual, &d, now);
      if (!hold) {
        out.emplace_back(action::StartDaemon{d.ref});
      } else if (hold->until && d.restart.backoff_announced_until != hold->until) {
        out.emplace_back(action::ApplyBackoff{d.ref, *hold->until});
      }
    } else if (intent == DaemonIntent::Stop &&
               (d.lifecycle == DaemonLifecycleState::Running || d.lifecycle == DaemonLifecycleState::Starting)) {
      const bool operator_stop = operator_intent(desired, id) == DaemonIntent::Stop;
      TimePoint deadline = now + config.stop_grace;
      // A drain must finish by the maintenance deadline, so that deadline bounds every stop it causes.
      if (entering && entering->deadline) deadline = *entering->deadline;
      out.emplace_back(action::StopDaemon{d.ref, operator_stop ? "intent_stop" : "drain", deadline});
    }
  }
}

void reconcile_maintenance(const ActualState& actual, const DesiredState& desired, TimePoint now,
                           const MeshOsConfig& config, std::vector<MeshOsAction>& out) {
  if (actual.pending_transition) return;
  const NodeId node = actual.this_node;
  if (const auto* entering = std::get_if<maintenance::EnteringMaintenance>(&actual.maintenance)) {
    // A pinned daemon runs on through the drain: it does not hold it up.
    const bool all_stopped = std::all_of(actual.daemons.begin(), actual.daemons.end(), [](const auto& kv) {
      return kv.second.lifecycle == DaemonLifecycleState::Stopped || kv.second.pinned;
    });
    if (all_stopped) {
      std::string unmoved;
      for (const auto& [id, d] : actual.daemons) {
        if (d.unmovable.empty() && !d.pinned) continue;
        if (!unmoved.empty()) unmoved += "; ";
        unmoved += d.ref.name + " (" + to_hex(id) + "): " +
                   (d.pinned ? std::string("kept here, running: its move was aborted by a KillMigration") : d.unmovable);
      }
      if (unmoved.empty()) {
        out.emplace_back(action::CommitMaintenanceTransition{node, maintenance::Maintenance{now}});
      } else {
        out.emplace_back(action::CommitMaintenanceTransition{
            node, maintenance::DrainFailed{now, "daemons that could not move: " + unmoved}});
      }
    } else if (entering->deadline && *entering->deadline <= now) {
      std::string reason =
          "drain deadline elapsed after " + std::to_string(saturating_ms_since(entering->since, now)) + " ms";
      out.emplace_back(action::CommitMaintenanceTransition{node, maintenance::DrainFailed{now, std::move(reason)}});
    }
  } else if (std::holds_alternative<maintenance::ExitingMaintenance>(actual.maintenance)) {
    const bool all_back = std::all_of(actual.daemons.begin(), actual.daemons.end(), [&](const auto& kv) {
      if (effective_intent(actual, desired, kv.first) != DaemonIntent::Run) return true;
      return kv.second.lifecycle == DaemonLifecycleState::Running && is_health_ready(kv.second.health);
    });
    if (all_back) out.emplace_back(action::CommitMaintenanceTransition{node, maintenance::Recovery{now}});
  } else if (const auto* recovery = std::get_if<maintenance::Recovery>(&actual.maintenance)) {
    if (now - recovery->since >= config.recovery_ramp_window) {
      out.emplace_back(action::CommitMaintenanceTransition{node, maintenance::Active{}});
    }
  }
}

void reconcile_locality(const ActualState& actual, TimePoint now, const MeshOsConfig& config,
                        std::vector<MeshOsAction>& out) {
  for (const auto& [id, peer] : actual.peers) {
    auto avoided = actual.avoid.find(id);
    if (avoided != actual.avoid.end() && avoided->second.until > now) continue;
    if (peer.health == PeerHealth::Unreachable) {
      out.emplace_back(action::MarkAvoid{id, "unreachable", config.avoid_ttl});
    } else if (peer.rtt && *peer.rtt > config.rtt_degraded_threshold) {
      std::string reason = "rtt " + std::to_string(to_ms(*peer.rtt)) + " ms over threshold " +
                           std::to_string(config.rtt_degraded_threshold.count()) + " ms";
      out.emplace_back(action::MarkAvoid{id, std::move(reason), config.avoid_ttl});
    }
  }
}

}  // namespace

DaemonIntent effective_intent(const ActualState& actual, const DesiredState& desired, DaemonId id) {
  switch (kind_of(actual.maintenance)) {
    case MaintenanceKind::EnteringMaintenance:
    case MaintenanceKind::Maintenance:
    case MaintenanceKind::DrainFailed: {
      auto d = actual.daemons.find(id);
      if (d != actual.daemons.end() && d->second.pinned) return operator_intent(desired, id);
      return DaemonIntent::Stop;
    }
    default:
      return operator_intent(desired, id);
  }
}

std::vector<MeshOsAction> reconcile(const ActualState& actual, const DesiredState& desired, TimePoint now,
                                    const MeshOsConfig& config) {
  std::vector<MeshOsAction> out;
  if (actual.frozen(now)) return out;
  reconcile_daemons(actual, desired, now, config, out);
  reconcile_maintenance(actual, desired, now, config, out);
  reconcile_locality(actual, now, config, out);
  return out;
}

Result<NodeId> migration_target(const ActualState& actual, const DaemonState& daemon, TimePoint now) {
  struct Candidate {
    Clock::duration rtt;
    std::size_t load;
    NodeId id;
    bool operator<(const Candidate& o) const {
      return std::tie(rtt, load, id) < std::tie(o.rtt, o.load, o.id);
    }
  };
  std::optional<Candidate> best;
  std::size_t peers = 0;
  std::string refusals;
  for (const auto& [id, peer] : actual.peers) {
    ++peers;
    if (auto refused = daemon.move_refused.find(id); refused != daemon.move_refused.end()) {
      refusals += (refusals.empty() ? "" : ", ") + to_hex(id) + " refused: " + refused->second;
      continue;
    }
    if (peer.health == PeerHealth::Unreachable) continue;
    if (auto avoided = actual.avoid.find(id); avoided != actual.avoid.end() && avoided->second.until > now) continue;
    if (peer.maintenance && kind_of(*peer.maintenance) != MaintenanceKind::Active) continue;
    if (!daemon.requirements.matches(peer.capabilities)) continue;
    std::size_t load = 0;
    for (const auto& hosted : peer.daemons) load += hosted.running ? 1 : 0;
    // A peer whose RTT is not measured yet ranks behind every measured one.
    Candidate c{peer.rtt.value_or(Clock::duration::max()), load, id};
    if (!best || c < *best) best = c;
  }
  if (best) return best->id;
  std::string why = peers == 0 ? "no peer is known" : "no peer can take it";
  if (!refusals.empty()) why += " (" + refusals + ")";
  return SdkError{Errc::no_migration_target, why};
}

std::optional<TimePoint> restart_gate(const RestartState& r, TimePoint now) {
  std::optional<TimePoint> gate = r.next_start_at;
  if (r.crash_looping_until && (!gate || *r.crash_looping_until > *gate)) gate = r.crash_looping_until;
  if (gate && *gate > now) return gate;
  return std::nullopt;
}

std::optional<StartHold> start_hold(const ActualState& actual, const DaemonState* daemon, TimePoint now) {
  if (daemon) {
    if (auto gate = restart_gate(daemon->restart, now)) {
      const bool looping = daemon->restart.crash_looping_until && *daemon->restart.crash_looping_until == *gate;
      return StartHold{looping ? StartHold::Reason::CrashLoop : StartHold::Reason::Backoff, gate};
    }
  }
  if (actual.backpressure) return StartHold{StartHold::Reason::Backpressure, std::nullopt};
  return std::nullopt;
}

const char* to_string(StartHold::Reason reason) {
  switch (reason) {
    case StartHold::Reason::Backoff:
      return "backoff";
    case StartHold::Reason::CrashLoop:
      return "crash_loop";
    case StartHold::Reason::Backpressure:
      return "backpressure";
  }
  return "backoff";
}

Millis restart_backoff(std::uint32_t consecutive_crashes, const MeshOsConfig& config) {
  using Rep = Millis::rep;
  const Rep cap = std::max<Rep>(config.restart_backoff_max.count(), 0);
  Rep value = std::min(std::max<Rep>(config.restart_backoff_initial.count(), 0), cap);
  const Rep factor = static_cast<Rep>(config.restart_backoff_factor);
  for (std::uint32_t i = 1; i < consecutive_crashes && value < cap; ++i) {
    if (factor <= 1) {
      if (factor == 0) value = 0;
      break;
    }
    // Checked before multiplying so a long crash streak saturates at the cap instead of overflowing.
    value = value > cap / factor ? cap : value * factor;
  }
  return Millis{std::min(value, cap)};
}

BackpressureGauge::Change BackpressureGauge::update(std::size_t depth) {
  if (!active_ && depth >= assert_depth_) {
    active_ = true;
    return Change::Asserted;
  }
  if (active_ && depth <= release_depth_) {
    active_ = false;
    return Change::Released;
  }
  return Change::None;
}

float BackpressureGauge::level(std::size_t depth) const {
  if (assert_depth_ == 0 || depth >= assert_depth_) return 1.0f;
  return static_cast<float>(static_cast<double>(depth) / static_cast<double>(assert_depth_));
}

std::optional<MeshOsControl> control_for_transition(MaintenanceKind from, const MaintenanceState& to, TimePoint now,
                                                    Millis default_drain) {
  if (const auto* entering = std::get_if<maintenance::EnteringMaintenance>(&to)) {
    return control::DrainStart{entering->deadline ? *entering->deadline : now + default_drain};
  }
  const MaintenanceKind to_kind = kind_of(to);
  if (from == MaintenanceKind::EnteringMaintenance &&
      (to_kind == MaintenanceKind::Maintenance || to_kind == MaintenanceKind::DrainFailed)) {
    return control::DrainFinish{};
  }
  return std::nullopt;
}

}  // namespace meshos
