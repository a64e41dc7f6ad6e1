#pragma once
// Library: meshos_core; not stable API (the loop's internals: meshos/meshos.hpp says why).
// The loop's state: what is (actual), what should be (desired), and the bounded journals beside them.
// Folding an event is a pure state transition; nothing here talks to an actor.
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "meshos/action.hpp"
#include "meshos/config.hpp"
#include "meshos/event.hpp"
#include "meshos/logs.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/operators.hpp"
#include "meshos/replication.hpp"
#include "meshos/snapshot.hpp"

namespace meshos {

struct RestartState {
  std::uint32_t consecutive_crashes = 0;
  std::deque<TimePoint> recent_crashes;  // within crash_loop_window; at most crash_loop_threshold kept
  Millis current_backoff{0};
  std::optional<TimePoint> next_start_at;        // restart gate: no start before this
  std::optional<TimePoint> crash_looping_until;  // held off until this
  std::optional<TimePoint> backoff_announced_until;  // ApplyBackoff already emitted for this window
  std::uint64_t total_crashes = 0;
  std::uint64_t starts = 0;
  std::optional<TimePoint> last_started;  // registration or the latest Started
  std::string last_crash_reason;
};

struct DaemonState {
  DaemonRef ref;
  DaemonLifecycleState lifecycle = DaemonLifecycleState::Running;
  std::optional<DaemonHealth> health;
  float saturation = 0.0f;
  RestartState restart;
  TimePoint registered_at;
  std::optional<TimePoint> running_since;
  std::optional<TimePoint> last_exit;           // when it last stopped or crashed
  std::optional<TimePoint> transition_started;  // when Starting / Stopping began
  CapabilitySet capabilities;
  CapabilityFilter requirements;  // what it needs from a host (a move picks a peer that matches)
  // Built by the node from the factory of its name (desired state): such a daemon moves to a peer when the
  // node drains; one the application registered by hand belongs to the application and only stops.
  bool from_factory = false;
  // False while a daemon wanted by desired state is being built for the first time (no registration yet).
  bool registered = true;
  std::map<NodeId, std::string> move_refused;  // peers a move to failed during this drain, and why
  std::string unmovable;  // why this drain could not move it (the drain then ends in DrainFailed)
  // An operator aborted its move (KillMigration): it stays at this node, running, through this drain, which
  // ends in DrainFailed naming it.
  bool pinned = false;
};

// A daemon on its way to a peer (action::MigrateDaemon), until it leaves this node or the move fails.
struct MigrationState {
  std::uint64_t id = 0;
  DaemonRef daemon;
  NodeId target = 0;
  std::string phase;  // "snapshotting" (emitted), then what MigrationProgress says
  TimePoint started;
};

// The latest inventory a probe reported for a node, and the clean rounds since that did not report it
// (event::InventoryReport); or a peer's own word on it (event::PeerInfo), which stands until the peer says
// otherwise or leaves, whatever this node's probes report.
struct InventoryEntry {
  NodeInventory inventory;
  TimePoint observed;
  std::uint32_t missed_rounds = 0;
  bool from_peer = false;
};

struct PeerState {
  NodeId id = 0;
  std::optional<Clock::duration> rtt;
  PeerHealth health = PeerHealth::Healthy;
  std::optional<MaintenanceStateView> maintenance;
  CapabilitySet capabilities;
  std::vector<DaemonDescription> daemons;
  std::string name;
  std::string version;
  TimePoint last_seen;
  std::optional<InventoryEntry> inventory;
};

struct AvoidEntry {
  std::string reason;
  TimePoint until;
};

struct ActualState {
  NodeId this_node = 0;
  std::map<DaemonId, DaemonState> daemons;
  std::map<NodeId, PeerState> peers;
  std::map<NodeId, AvoidEntry> avoid;
  std::optional<TimePoint> frozen_until;
  // The freeze or thaw commit that decides frozen_until: of all a node accepted, the one issued last (ties: the
  // higher digest), so every node that saw the same commits decides the same way (SPEC.md).
  std::optional<std::pair<std::int64_t, CommitDigest>> freeze_decided_by;
  MaintenanceState maintenance = maintenance::Active{};
  std::optional<MaintenanceKind> pending_transition;  // CommitMaintenanceTransition emitted, not yet observed
  bool cordoned = false;
  CapabilitySet node_capabilities;
  std::map<std::uint64_t, MigrationState> migrations;
  // The executor asserted backpressure (its action queue is deep) and has not released it: no daemon is
  // (re)started meanwhile (reconcile's start_hold).
  bool backpressure = false;
  std::optional<InventoryEntry> inventory;  // this node's, as its inventory probes report it
  // The daemons reconcile must look at: every one that is not running steadily as desired (running, intent
  // Run, no transition or restart gate pending), and every one desired state wants hosted and that is not
  // built yet. A settled daemon needs nothing from reconcile and changes only through an event about it, so
  // a tick costs what is unsettled, not what is registered. MeshOsState keeps it up to date after every fold
  // and emitted action; none (after mutable_actual(), or a hand-made ActualState): reconcile looks at all.
  std::optional<std::set<DaemonId>> unsettled;

  bool frozen(TimePoint now) const { return frozen_until && *frozen_until > now; }
};

struct DesiredState {
  std::map<DaemonId, DaemonIntent> intents;
  // What operators set (admin::SetDaemonIntent), by daemon name: it outlives the daemon's registration and,
  // with a state dir, the node's restart; a daemon registering under the name starts with it.
  std::map<std::string, DaemonIntent> operator_intents;
  // Daemons this node should host although nobody registered them: reconcile starts each from the factory
  // registered under its name (event::DaemonIntentUpdate with intent Run for a daemon the node lacks).
  std::map<DaemonId, DaemonRef> hosted;
};

// The id of the daemon named `name` that operators ask node `node` to host (admin::SetDaemonIntent with run for
// a name the node has no daemon of): the same on every node that computes it, never 0.
DaemonId hosted_daemon_id(NodeId node, const std::string& name);

// The daemon intent reconcile acts on: the operator's intent, overridden to Stop while the node drains
// or sits in maintenance (Entering, Maintenance, DrainFailed), except for a daemon whose move an operator
// aborted (pinned).
DaemonIntent effective_intent(const ActualState& actual, const DesiredState& desired, DaemonId id);

// Side effects of folding one event that the loop must carry out (it owns the actors).
struct FoldEffects {
  // The local maintenance state changed kind: from -> to. The loop turns this into control broadcasts.
  std::optional<std::pair<MaintenanceKind, MaintenanceKind>> maintenance_changed;
  // The operator asked for every daemon to restart / one daemon to restart (force).
  std::vector<DaemonId> restart_daemons;
  // Moves a break-glass KillMigration aborted: the daemon stays (or comes back) here.
  std::vector<std::uint64_t> abort_migrations;
  bool shutdown_requested = false;
  // The event was refused (freeze in effect, invalid transition, unknown daemon...): kind + message.
  std::optional<SdkError> rejected;
  // The refused event was a stranger's commit (see MeshOsState::strangers()): only counted, so that a flood
  // of them cannot flood anything else either (the loop need not log each one).
  bool stranger = false;
};

class MeshOsState {
 public:
  MeshOsState(MeshOsConfig config, std::shared_ptr<AdminVerifier> verifier = nullptr);

  // Fold one event. `now` is monotonic, `wall_ms` the wall clock for stamps shown to people.
  FoldEffects fold(const MeshOsEvent& ev, TimePoint now, std::int64_t wall_ms);

  // Assign ids to freshly reconciled actions and note what is now in flight (Starting, Stopping,
  // pending transitions, avoid entries, announced backoffs) so the next reconcile does not repeat them.
  std::vector<PendingAction> record_emitted(std::vector<MeshOsAction> actions, TimePoint now);

  // The node as it is now, every daemon's entry built afresh.
  MeshOsSnapshot snapshot(TimePoint now, std::int64_t wall_ms, std::uint64_t epoch, std::uint64_t seq) const;
  // The same picture, built at the cost of what changed: it shares with the previous next_snapshot() every
  // daemon entry that did not change since (the state keeps those entries, not the snapshot). What the loop
  // publishes; snapshot() is for everything else.
  MeshOsSnapshot next_snapshot(TimePoint now, std::int64_t wall_ms, std::uint64_t epoch, std::uint64_t seq);

  const ActualState& actual() const noexcept { return actual_; }
  const DesiredState& desired() const noexcept { return desired_; }
  const MeshOsConfig& config() const noexcept { return config_; }
  // For tests and restore paths. Whatever the caller changes, the derived indexes are rebuilt from scratch.
  ActualState& mutable_actual() noexcept {
    forget_changes();
    return actual_;
  }
  DesiredState& mutable_desired() noexcept {
    forget_changes();
    return desired_;
  }
  AdminVerifier* verifier() const noexcept { return verifier_.get(); }

  // Rises whenever a fold or an emitted action may have changed what a node persists across restarts
  // (persistent_state.hpp: maintenance, cordon, freeze, avoid list, operator intents, the verifier's memory,
  // the audit), so the loop saves only when it moved.
  std::uint64_t persistent_revision() const noexcept { return persistent_revision_; }
  std::uint64_t audit_seq() const noexcept { return audit_seq_; }
  // Restore path: the audit as saved (audit_records(): each record back into its ring), numbering going on
  // after `last_seq`.
  void restore_audit(const std::vector<AuditRecord>& records, std::uint64_t last_seq);

  // Restore path: log records an earlier run kept (its journal), oldest first, before anything is logged;
  // numbering goes on after them.
  void restore_logs(std::vector<LogRecord> records);

  void set_executor_stats(const ExecutorStats& s) {
    executor_stats_ = s;
    if (actual_.backpressure != s.backpressure_active) forget_changes();  // holds every start: a change for all
    actual_.backpressure = s.backpressure_active;
  }
  LoopStats& loop_stats() noexcept { return loop_stats_; }
  const LoopStats& loop_stats() const noexcept { return loop_stats_; }
  const BoundedRing<LogRecord>& logs() const noexcept { return logs_; }
  // The audit, in two rings of audit_ring_capacity each so that refusals never evict accepted commits:
  // audit() holds accepted (and, on a node without verifier, unverified) commits; audit_rejected() refused
  // ones whose signers verified, local ones, and those a node without verifier refused. A refused commit no
  // registered operator vouches for (a stranger's) is only counted: strangers().
  const BoundedRing<AuditRecord>& audit() const noexcept { return audit_; }
  const BoundedRing<AuditRecord>& audit_rejected() const noexcept { return audit_rejected_; }
  const StrangerRejects& strangers() const noexcept { return strangers_; }
  // Both rings merged by seq, oldest first: the snapshot's "audit".
  std::vector<AuditRecord> audit_records() const;
  const BoundedRing<FailureRecord>& failures() const noexcept { return failures_; }
  ActionId next_action_id() const noexcept { return next_action_id_; }
  // The signed commits this node knows of (replication.hpp): an immutable value, replaced when it changes.
  const std::shared_ptr<const CommitKnowledge>& commits() const noexcept { return commits_; }

 private:
  // A signed commit this node accepted (or, without a verifier, applied): kept to offer to peers.
  void know_commit(AnySignedCommit c, CommitDigest digest, NodeId relayed_from);
  void refuse_relayed(CommitDigest digest);
  // Drops the commits no node would accept any more, keeping the one deciding the freeze.
  void prune_commits(std::int64_t wall_ms);
  std::int64_t commit_lifetime_ms() const;

  // What changed since the last next_snapshot(), and the unsettled index (ActualState::unsettled).
  void touched(DaemonId id) {
    changed_.insert(id);
    recheck_.push_back(id);
  }
  void touched_by(const MeshOsEvent& ev);
  void forget_changes() noexcept {
    changed_all_ = true;
    actual_.unsettled.reset();
  }
  void settle_index(TimePoint now);
  bool needs_reconcile(DaemonId id, TimePoint now) const;
  DaemonSnapshot daemon_entry(DaemonId id, const DaemonState& d, TimePoint now) const;
  DaemonSnapshots all_entries(TimePoint now) const;
  void fill_snapshot_except_daemons(MeshOsSnapshot& s, TimePoint now, std::int64_t wall_ms) const;

  MeshOsConfig config_;
  std::shared_ptr<AdminVerifier> verifier_;
  ActualState actual_;
  DesiredState desired_;
  BoundedRing<LogRecord> logs_;
  void audit_commit(AuditRecord rec, bool stranger);

  BoundedRing<AuditRecord> audit_;
  BoundedRing<AuditRecord> audit_rejected_;
  StrangerRejects strangers_;
  BoundedRing<FailureRecord> failures_;
  BoundedRing<PendingAction> recent_actions_;
  std::uint64_t log_seq_ = 0;
  std::uint64_t audit_seq_ = 0;
  std::uint64_t persistent_revision_ = 0;
  ActionId next_action_id_ = 1;
  ExecutorStats executor_stats_;
  LoopStats loop_stats_;
  std::shared_ptr<const CommitKnowledge> commits_ = std::make_shared<const CommitKnowledge>();
  std::uint64_t next_commit_seq_ = 1;
  std::set<DaemonId> changed_;  // daemons whose entry may have changed since the last next_snapshot()
  bool changed_all_ = true;     // ... or all of them
  std::vector<DaemonId> recheck_;  // daemons whose place in the unsettled index the current step may change
  DaemonSnapshots entries_;        // the daemons of the last next_snapshot()
};

}  // namespace meshos
