#pragma once
// Library: meshos_core.
// Everything the loop folds into state, in arrival order.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "meshos/action.hpp"
#include "meshos/admin.hpp"
#include "meshos/capability.hpp"
#include "meshos/daemon.hpp"
#include "meshos/inventory.hpp"
#include "meshos/logs.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/time.hpp"
#include "meshos/types.hpp"

namespace meshos {

enum class PeerHealth { Healthy, Degraded, Unreachable };
const char* to_string(PeerHealth h);  // "healthy", "degraded", "unreachable"

enum class DaemonIntent { Run, Stop };
const char* to_string(DaemonIntent i);  // "run", "stop"

namespace lifecycle {
// The daemon joined the registry (running, intent Run). `requirements`: what it needs from a host, read once
// at registration (a move picks a peer that matches). `from_factory`: the node built it from the factory
// registered under its name (desired state, or a move from a peer), so it can be built elsewhere too.
struct Registered {
  CapabilityFilter requirements;
  bool from_factory = false;
};
struct Unregistered {};  // the daemon left the registry; its state is forgotten
struct Started {};
struct ExitedCleanly {};
struct Crashed {
  std::string reason;
};
struct HealthChanged {
  DaemonHealth health;
};
struct SaturationChanged {
  float saturation = 0.0f;
};
}  // namespace lifecycle

using LifecycleSignal = std::variant<lifecycle::Registered, lifecycle::Unregistered, lifecycle::Started,
                                     lifecycle::ExitedCleanly, lifecycle::Crashed, lifecycle::HealthChanged,
                                     lifecycle::SaturationChanged>;

// What the executor tells the loop about an action it finished with.
enum class ActionOutcomeKind { Dispatched, Failed, Gated };

namespace event {
struct Tick {};
struct DaemonLifecycle {
  DaemonRef daemon;
  LifecycleSignal signal;
};
struct RttSample {
  NodeId peer = 0;
  Clock::duration rtt{};
};
struct NodeHealth {
  NodeId peer = 0;
  PeerHealth health = PeerHealth::Healthy;
};
// An admin event from a trusted local source (the node's own code, tests); no signature.
struct Admin {
  AdminEvent event;
};
// A signed commit, from an operator (relayed_from 0) or forwarded by the peer node `relayed_from`, which had
// accepted it (SPEC.md, "The cluster protocol": what a relayed commit is checked for).
struct SignedAdmin {
  SignedAdminCommit commit;
  NodeId relayed_from = 0;
};
struct SignedIce {
  SignedIceCommit commit;
  NodeId relayed_from = 0;
};
struct Log {
  LogLine line;
};
struct DaemonIntentUpdate {
  DaemonRef daemon;
  DaemonIntent intent = DaemonIntent::Run;
};
// node == this node: the local state changes (validated against the successor table);
// any other node: the peer's maintenance mirror is updated.
struct MaintenanceTransitionObserved {
  NodeId node = 0;
  MaintenanceState state;
};
struct Shutdown {};
// A move of a daemon to a peer (action::MigrateDaemon) reached `phase` ("transferring", "aborting"): shown in
// the snapshot. How it ends: the daemon leaves this node (Unregistered), or the action's outcome says why not.
struct MigrationProgress {
  std::uint64_t migration = 0;
  std::string phase;
};
// daemon = nullopt: the node's own capabilities.
struct CapabilitiesPublished {
  std::optional<DaemonId> daemon;
  CapabilitySet capabilities;
};
// A peer's self-description as learned over the network.
struct PeerInfo {
  NodeId peer = 0;
  std::string version;
  CapabilitySet capabilities;
  std::optional<MaintenanceStateView> maintenance;
  std::vector<DaemonDescription> daemons;
  std::string name;  // the peer's own name for itself ([node] name), "" when it gives none
  std::optional<NodeInventory> inventory;  // what its own probes report of it; none when they report nothing
};
struct PeerRemoved {
  NodeId peer = 0;
};
struct ActionOutcome {
  ActionId id = 0;
  MeshOsAction action;
  ActionOutcomeKind outcome = ActionOutcomeKind::Dispatched;
  std::string reason;  // for Failed / Gated
  std::uint32_t attempts = 1;
};
// A commit whose body did not decode (the gateway's "admin" / "ice" request refused as invalid_commit or
// invalid_request): nobody is known to have sent it, so it is counted among the strangers' refusals
// (StrangerRejects), under `kind`, and never stored one by one.
struct CommitUndecodable {
  std::string commit;   // "admin" or "ice": the request it came as
  std::string kind;     // the decoder's error kind, e.g. "invalid_commit"
  std::string message;  // the decoder's message (cut to a bounded length when folded)
};
// One round of the node's inventory probes (probe.hpp): what they read, how many were polled and how many failed.
// An inventory no probe reports any more is forgotten after kInventoryMissedRounds rounds without it, but only
// rounds in which every inventory probe worked and some reported anything count: a probe that fails, or a
// round that is empty altogether (a source that is down for a moment), forgets nothing.
struct InventoryReport {
  std::vector<InventoryReading> readings;
  std::uint32_t probes = 0;
  std::uint32_t failed = 0;
};
}  // namespace event

inline constexpr std::uint32_t kInventoryMissedRounds = 3;

using MeshOsEvent =
    std::variant<event::Tick, event::DaemonLifecycle, event::RttSample, event::NodeHealth, event::Admin,
                 event::SignedAdmin, event::SignedIce, event::Log, event::DaemonIntentUpdate,
                 event::MaintenanceTransitionObserved, event::Shutdown, event::CapabilitiesPublished,
                 event::PeerInfo, event::PeerRemoved, event::ActionOutcome, event::CommitUndecodable,
                 event::MigrationProgress, event::InventoryReport>;

// "tick", "daemon_lifecycle", "rtt_sample", ... (the struct name in snake_case).
const char* event_kind(const MeshOsEvent& e);

}  // namespace meshos
