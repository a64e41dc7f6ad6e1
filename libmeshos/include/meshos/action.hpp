#pragma once
// Library: meshos_core.
// What reconcile asks the executor to do.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "meshos/maintenance.hpp"
#include "meshos/time.hpp"
#include "meshos/types.hpp"

namespace meshos {

using ActionId = std::uint64_t;  // the first action of a runtime is 1

namespace action {
struct StartDaemon {
  DaemonRef daemon;
};
struct StopDaemon {
  DaemonRef daemon;
  std::string reason;
  TimePoint deadline;  // the daemon gets Shutdown{deadline - now}
};
struct MarkAvoid {
  NodeId peer = 0;
  std::string reason;
  Millis ttl{0};
};
struct ApplyBackoff {
  DaemonRef daemon;
  TimePoint until;
};
struct CommitMaintenanceTransition {
  NodeId node = 0;
  MaintenanceState target;
};
// Move a daemon the node built from a factory to the peer `target` while the node drains: its state (none for
// a stateless daemon) travels, the peer builds it from the factory of the same name and restores it, and only
// then does it leave this node. `migration` is set when the action is emitted (MeshOsState::record_emitted).
struct MigrateDaemon {
  std::uint64_t migration = 0;
  DaemonRef daemon;
  NodeId target = 0;
};
}  // namespace action

using MeshOsAction = std::variant<action::StartDaemon, action::StopDaemon, action::MarkAvoid, action::ApplyBackoff,
                                  action::CommitMaintenanceTransition, action::MigrateDaemon>;

// "start_daemon", "stop_daemon", "mark_avoid", "apply_backoff", "commit_maintenance_transition",
// "migrate_daemon".
const char* action_kind(const MeshOsAction& a);
// What the action is about, for people: the daemon's name, the peer's hex id, or the node's hex id.
std::string action_target(const MeshOsAction& a);
// The daemon the action is about; none for an action about a peer or the node.
std::optional<DaemonId> action_daemon(const MeshOsAction& a);

struct PendingAction {
  ActionId id = 0;
  MeshOsAction action;
  TimePoint emitted_at;
};

// {"id":..,"kind":..,"target":..} plus kind-specific fields with relative ms against `now`.
nlohmann::json action_to_json(const PendingAction& p, TimePoint now);

}  // namespace meshos
