#pragma once
// Library: meshos_core.
// The immutable picture of a node that the loop publishes after every reconcile.
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/capability.hpp"
#include "meshos/daemon.hpp"
#include "meshos/event.hpp"
#include "meshos/logs.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/replication.hpp"
#include "meshos/result.hpp"
#include "meshos/shared_map.hpp"
#include "meshos/types.hpp"

namespace meshos {

enum class DaemonLifecycleState { Stopped, Starting, Running, Stopping };
const char* to_string(DaemonLifecycleState s);  // "stopped", "starting", "running", "stopping"

enum class RestartPhase { Ready, BackingOff, CrashLooping };
const char* to_string(RestartPhase p);  // "ready", "backing_off", "crash_looping"

// One daemon as of a snapshot. Its times are stamps on the node's monotonic clock (MeshOsSnapshot::clock_ms),
// not ages, so that an entry stays the same from one snapshot to the next while nothing happens to the daemon
// and consecutive snapshots can share it; MeshOsSnapshot::age_ms() and its siblings turn them into durations.
struct DaemonSnapshot {
  DaemonId id = 0;
  std::string name;
  DaemonLifecycleState lifecycle = DaemonLifecycleState::Stopped;
  DaemonIntent intent = DaemonIntent::Run;
  std::optional<DaemonHealth> health;  // unknown until first reported
  float saturation = 0.0f;
  RestartPhase restart = RestartPhase::Ready;
  std::uint32_t consecutive_crashes = 0;
  std::uint64_t total_crashes = 0;
  std::uint64_t starts = 0;
  std::optional<std::uint64_t> restart_at_ms;     // while backing off / crash looping: when it may start again
  std::string last_crash_reason;
  std::uint64_t registered_at_ms = 0;              // when it registered
  std::optional<std::uint64_t> running_since_ms;  // while running: since when
  std::optional<std::uint64_t> last_exit_at_ms;   // when it last stopped or crashed (none: never has)
  NodeId node = 0;                               // placement: the node hosting it (the snapshot's own)
  CapabilitySet capabilities;
  // A stopped daemon whose start the admit gate holds back: "backoff", "crash_loop" or "backpressure".
  std::optional<std::string> start_held;
};

// A node's inventory as its probes last reported it, and how long ago.
struct InventorySnapshot {
  NodeInventory inventory;
  std::uint64_t age_ms = 0;
  bool operator==(const InventorySnapshot& o) const { return inventory == o.inventory && age_ms == o.age_ms; }
};

struct PeerSnapshot {
  NodeId node = 0;
  std::string name;  // what the peer calls itself ([node] name), "" when it gives no name
  std::optional<double> rtt_ms;
  PeerHealth health = PeerHealth::Healthy;
  std::optional<MaintenanceStateView> maintenance;
  std::vector<std::string> capability_tags;
  std::vector<DaemonDescription> daemons;  // as the peer last described them
  std::string version;
  std::uint64_t last_seen_ms = 0;  // ms since the last sign of life
  std::optional<InventorySnapshot> inventory;  // none until a probe reports one (or after it stopped)
};

struct AvoidSnapshot {
  NodeId peer = 0;
  std::string reason;
  std::uint64_t remaining_ms = 0;
};

struct ActionSnapshot {
  ActionId id = 0;
  std::string kind;
  std::string target;
  std::uint64_t age_ms = 0;
};

struct FailureRecord {
  ActionId id = 0;
  std::string action_kind;
  std::string target;
  std::string reason;
  std::uint32_t attempts = 0;
  std::int64_t wall_ms = 0;
  std::uint64_t age_ms = 0;  // since wall_ms, as of the snapshot
};

struct AuditRecord {
  std::uint64_t seq = 0;
  std::int64_t wall_ms = 0;
  std::string commit;  // "admin", "ice" or "local"
  std::string event;   // admin_kind / ice_kind ("" for a commit that did not decode)
  // The commit's signers (one per signature, in order), split by what is known of them: `operators` signed
  // it (their signatures verified against the registry); `claimed` are only named by it (a node that verifies
  // nothing, or a stranger's commit). No record names an operator as author whose signature did not verify.
  std::vector<OperatorId> operators;
  std::vector<OperatorId> claimed;
  std::string outcome;  // "accepted", "rejected", "unverified"
  std::string reason_kind;
  std::string reason;
  // The peer node that forwarded the commit (it had accepted it); 0: an operator handed it to this node.
  NodeId relayed_from = 0;
  // The node an admin commit is for, when not this one: accepted here, its state mirrored (SPEC.md).
  NodeId mirrored_for = 0;
};

// Refused commits no registered operator's signature vouches for (unknown operator, bad signature, no
// signature, unsigned on a verifying node, a body that did not decode): counted by reason kind, not kept one
// by one, so that strangers cannot flood the audit. `last` is the most recent (its signers only claimed).
struct StrangerRejects {
  std::uint64_t total = 0;
  std::map<std::string, std::uint64_t> by_kind;  // at most kMaxStrangerKinds kinds, the rest as "other"
  std::optional<AuditRecord> last;
};
inline constexpr std::size_t kMaxStrangerKinds = 32;

struct ExecutorStats {
  std::uint64_t dispatched = 0;
  std::uint64_t failed = 0;
  std::uint64_t deferred = 0;
  std::uint64_t gated = 0;
  std::uint64_t retries = 0;
  std::uint64_t dropped = 0;  // action queue full
  std::uint64_t backpressure_asserts = 0;
  std::uint64_t backpressure_releases = 0;
  std::uint64_t queue_depth = 0;
  bool backpressure_active = false;
};

struct LoopStats {
  std::uint64_t ticks = 0;
  std::uint64_t events_folded = 0;
  std::uint64_t events_rejected = 0;   // publish() on a full intake
  std::uint64_t actions_emitted = 0;
  std::uint64_t actions_dropped = 0;   // action queue full
  std::uint64_t control_dropped = 0;   // control events dropped by the router, all daemons
  std::uint64_t logs_evicted = 0;
  std::uint64_t failures_evicted = 0;
  std::uint64_t audit_evicted = 0;           // accepted commits' records
  std::uint64_t audit_rejected_evicted = 0;  // refused commits' records (a separate ring)
  std::uint64_t commits_relayed = 0;         // commits peers forwarded that were new here (any outcome)
  std::uint64_t commits_relayed_known = 0;   // forwarded commits this node knew already (ignored)
  std::uint64_t commit_log_evicted = 0;      // known commits dropped from a full log while still fresh
  // Probes (probe.hpp): rounds polled, probe calls that threw, readings refused, and ticks whose round was
  // skipped because the previous one was still running.
  std::uint64_t probe_rounds = 0;
  std::uint64_t probe_failures = 0;
  std::uint64_t probe_readings_invalid = 0;
  std::uint64_t probe_rounds_skipped = 0;
};

struct MigrationSnapshot {
  std::uint64_t id = 0;
  DaemonId daemon = 0;
  NodeId target = 0;
  std::string phase;
};

// The daemons of a snapshot, by id. Consecutive snapshots share the entries that did not change
// (shared_map.hpp), so a copy of a snapshot costs little whatever the number of daemons.
using DaemonSnapshots = SharedMap<DaemonId, DaemonSnapshot>;

struct MeshOsSnapshot {
  NodeId node_id = 0;
  std::uint64_t runtime_epoch = 0;  // random per start: consumers reset watermarks when it changes
  std::uint64_t seq = 0;            // snapshot number within the epoch, from 1
  std::int64_t wall_ms = 0;
  // The node's monotonic clock when the snapshot was taken, in ms: the clock of the daemons' stamps. Only
  // differences mean something (a stamp and this, two snapshots of one epoch).
  std::uint64_t clock_ms = 0;
  DaemonSnapshots daemons;
  std::map<NodeId, PeerSnapshot> peers;
  std::vector<AvoidSnapshot> avoid;
  MaintenanceStateView local_maintenance = view::Active{};
  bool cordoned = false;
  std::optional<InventorySnapshot> inventory;  // this node's (probe.hpp); none until a probe reports one
  CapabilitySet node_capabilities;
  std::vector<ActionSnapshot> recent_actions;
  std::vector<FailureRecord> recent_failures;
  std::optional<std::uint64_t> freeze_remaining_ms;
  // The audit: accepted and refused commits from two separate rings (rejects never evict accepted
  // records), by seq, oldest first; strangers' refused commits only as counts.
  std::vector<AuditRecord> audit;
  StrangerRejects audit_strangers;
  std::vector<LogRecord> logs;
  std::vector<MigrationSnapshot> migrations;
  // The cluster's signed commits this node knows of (replication.hpp); shared between snapshots, never null
  // in a snapshot a node published. Not part of the JSON form.
  std::shared_ptr<const CommitKnowledge> commits;
  ExecutorStats executor;
  LoopStats loop;

  // A daemon's stamps as durations up to this snapshot (0 for a stamp after it, which only a malformed
  // snapshot has).
  std::uint64_t age_ms(const DaemonSnapshot& d) const { return since(d.registered_at_ms); }
  std::optional<std::uint64_t> running_for_ms(const DaemonSnapshot& d) const { return since(d.running_since_ms); }
  std::optional<std::uint64_t> since_exit_ms(const DaemonSnapshot& d) const { return since(d.last_exit_at_ms); }
  // How long until a backing-off or crash-looping daemon may start again; none when it may now.
  std::optional<std::uint64_t> restart_in_ms(const DaemonSnapshot& d) const {
    if (!d.restart_at_ms || *d.restart_at_ms <= clock_ms) return std::nullopt;
    return *d.restart_at_ms - clock_ms;
  }

 private:
  std::uint64_t since(std::uint64_t stamp) const { return clock_ms > stamp ? clock_ms - stamp : 0; }
  std::optional<std::uint64_t> since(const std::optional<std::uint64_t>& stamp) const {
    if (!stamp) return std::nullopt;
    return since(*stamp);
  }
};

// A daemon entry as JSON, its stamps as durations up to `as_of` (the snapshot it belongs to): "age_ms",
// "running_for_ms", "since_exit_ms", "restart_in_ms".
nlohmann::json daemon_json(const DaemonSnapshot& d, const MeshOsSnapshot& as_of);
void to_json(nlohmann::json& j, const PeerSnapshot& p);
void to_json(nlohmann::json& j, const AuditRecord& a);
void to_json(nlohmann::json& j, const FailureRecord& f);
void to_json(nlohmann::json& j, const MeshOsSnapshot& s);
void to_json(nlohmann::json& j, const StrangerRejects& r);
// Inverse of to_json (what meshos-ctl reads back). Kind "invalid_snapshot" on malformed input. Fields newer
// than the first release ("claimed", "audit_strangers", "audit_rejected_evicted") may be absent.
Result<MeshOsSnapshot> snapshot_from_json(const nlohmann::json& j);

// The highest audit seq the snapshot shows (records and the last stranger's refusal); 0 when none.
std::uint64_t last_audit_seq(const MeshOsSnapshot& s);
// The record of a commit folded after `after_seq`: the first one with this commit ("admin", "ice", "local")
// and event whose signers, verified or claimed, are exactly `signers` (one id per signature, in order; {0}
// for an unsigned commit). Looks at the audit and at the last stranger's refusal; nullptr when not there.
const AuditRecord* find_commit_record(const MeshOsSnapshot& s, std::uint64_t after_seq, const std::string& commit,
                                      const std::string& event, const std::vector<OperatorId>& signers);
// One audit record (as a node's state file keeps them). Kind "invalid_audit_record".
Result<AuditRecord> audit_record_from_json(const nlohmann::json& j);
// The same from text, within json_limits::kSnapshot (untrusted_json.hpp).
Result<MeshOsSnapshot> snapshot_from_json_text(const std::string& text);

// How a node describes one of its daemons to its peers.
DaemonDescription describe_daemon(const DaemonSnapshot& d);

// A daemon somewhere in the cluster, as a node knows it (its own daemons, and its peers' as they describe them).
struct DaemonLocation {
  NodeId node = 0;
  DaemonDescription daemon;
};
// The daemons of this node and of every peer in the snapshot whose capabilities match `filter`, this node's
// first, then by node id and daemon id.
std::vector<DaemonLocation> find_daemons(const MeshOsSnapshot& s, const CapabilityFilter& filter);

// Where to place a new daemon needing `requirements`, from one node's view (its snapshot): that node or one of
// its peers, reachable, not avoided, not in or entering maintenance (unknown counts as active), capabilities
// matching; the one running the fewest daemons, then the lowest RTT (the node itself: 0), then the lowest id.
// Kind no_placement_target when none qualifies.
Result<NodeId> placement_target(const MeshOsSnapshot& s, const CapabilityFilter& requirements = {});

// A daemon as a caller names it: by id, or by name (names are unique on one node, not across the cluster).
struct DaemonAddress {
  DaemonId id = 0;   // used when not 0
  std::string name;  // used when id is 0
  static DaemonAddress by_id(DaemonId id) { return DaemonAddress{id, {}}; }
  static DaemonAddress by_name(std::string name) { return DaemonAddress{0, std::move(name)}; }
  // 16 hex digits: an id; anything else: a name.
  static DaemonAddress parse(const std::string& text);
  std::string to_string() const;
};

// Where the daemon lives, from one node's snapshot: by id, this node's daemon or the peer's that describes it;
// by name, this node's daemon of that name first, else the one peer daemon of that name. Kinds: not_found,
// ambiguous_daemon (several peers have a daemon of that name: address it by id), invalid_request (neither an
// id nor a name).
Result<DaemonLocation> locate_daemon(const MeshOsSnapshot& s, const DaemonAddress& address);

// What a daemon may read about its surroundings.
struct MetadataView {
  NodeId node_id = 0;
  DaemonId daemon_id = 0;
  std::string daemon_name;
  MaintenanceStateView maintenance_state = view::Active{};
  std::map<NodeId, PeerSnapshot> peers;
  std::optional<InventorySnapshot> node_inventory;  // the hosting node's
};
MetadataView metadata_from_snapshot(const MeshOsSnapshot& s, DaemonId daemon, const std::string& name);
void to_json(nlohmann::json& j, const MetadataView& m);

}  // namespace meshos
