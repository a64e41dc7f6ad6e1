#include "meshos/snapshot.hpp"

#include <algorithm>
#include <initializer_list>
#include <limits>
#include <set>
#include <tuple>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "json_reader.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos {
namespace {

using nlohmann::json;

// MaintenanceStateView and DaemonHealth are std::variants of nested-namespace types, so ADL (and with it
// nlohmann's implicit conversion) cannot find meshos::to_json for them: convert explicitly.
template <class T>
json as_json(const T& v) {
  json j;
  to_json(j, v);
  return j;
}

template <class T>
json optional_json(const std::optional<T>& v) {
  if (!v) return json(nullptr);
  if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
    return json(*v);
  } else {
    return as_json(*v);
  }
}

json inventory_json(const std::optional<InventorySnapshot>& i) {
  if (!i) return json(nullptr);
  json j = i->inventory;
  j["age_ms"] = i->age_ms;
  return j;
}

json avoid_json(const AvoidSnapshot& a) {
  return json{{"peer", to_hex(a.peer)}, {"reason", a.reason}, {"remaining_ms", a.remaining_ms}};
}

json action_json(const ActionSnapshot& a) {
  return json{{"id", a.id}, {"kind", a.kind}, {"target", a.target}, {"age_ms", a.age_ms}};
}

json migration_json(const MigrationSnapshot& m) {
  return json{{"id", to_hex(m.id)}, {"daemon", to_hex(m.daemon)}, {"target", to_hex(m.target)}, {"phase", m.phase}};
}

json executor_json(const ExecutorStats& e) {
  return json{{"dispatched", e.dispatched},
              {"failed", e.failed},
              {"deferred", e.deferred},
              {"gated", e.gated},
              {"retries", e.retries},
              {"dropped", e.dropped},
              {"backpressure_asserts", e.backpressure_asserts},
              {"backpressure_releases", e.backpressure_releases},
              {"queue_depth", e.queue_depth},
              {"backpressure_active", e.backpressure_active}};
}

json loop_json(const LoopStats& l) {
  return json{{"ticks", l.ticks},
              {"events_folded", l.events_folded},
              {"events_rejected", l.events_rejected},
              {"actions_emitted", l.actions_emitted},
              {"actions_dropped", l.actions_dropped},
              {"control_dropped", l.control_dropped},
              {"logs_evicted", l.logs_evicted},
              {"failures_evicted", l.failures_evicted},
              {"audit_evicted", l.audit_evicted},
              {"audit_rejected_evicted", l.audit_rejected_evicted},
              {"commits_relayed", l.commits_relayed},
              {"commits_relayed_known", l.commits_relayed_known},
              {"commit_log_evicted", l.commit_log_evicted},
              {"probe_rounds", l.probe_rounds},
              {"probe_failures", l.probe_failures},
              {"probe_readings_invalid", l.probe_readings_invalid},
              {"probe_rounds_skipped", l.probe_rounds_skipped}};
}

// The Rust C SDK spells peer health and maintenance mirrors in CamelCase; metadata JSON keeps its shape.
const char* camel_case(PeerHealth h) {
  switch (h) {
    case PeerHealth::Healthy: return "Healthy";
    case PeerHealth::Degraded: return "Degraded";
    case PeerHealth::Unreachable: return "Unreachable";
  }
  return "Unknown";
}

const char* camel_case(MaintenanceKind k) {
  switch (k) {
    case MaintenanceKind::Active: return "Active";
    case MaintenanceKind::EnteringMaintenance: return "EnteringMaintenance";
    case MaintenanceKind::Maintenance: return "Maintenance";
    case MaintenanceKind::ExitingMaintenance: return "ExitingMaintenance";
    case MaintenanceKind::DrainFailed: return "DrainFailed";
    case MaintenanceKind::Recovery: return "Recovery";
  }
  return "Unknown";
}

using json_read::Reader;

// A daemon or peer entry written by another version of meshos (a cluster in the middle of a rolling upgrade)
// may lack fields added since, or carry ones added later: only the fields that say who it is are required;
// any other absent field takes its default. A field that is there with the wrong type is still an error.
// The JSON form carries durations ("age_ms"...) up to the snapshot's clock_ms; the entry keeps stamps on that
// clock. A snapshot that carries no clock_ms (written before it existed) gets this one, far enough from 0 that
// no real age reaches below it.
constexpr std::uint64_t kClockOfSnapshotsWithoutOne = std::uint64_t{1} << 52;
constexpr std::uint64_t kNever = std::numeric_limits<std::uint64_t>::max();

std::uint64_t stamp_before(std::uint64_t clock_ms, std::uint64_t duration) {
  return clock_ms > duration ? clock_ms - duration : 0;
}

std::optional<std::uint64_t> stamp_before(std::uint64_t clock_ms, const std::optional<std::uint64_t>& duration) {
  if (!duration) return std::nullopt;
  return stamp_before(clock_ms, *duration);
}

DaemonSnapshot read_daemon(Reader& r, const json& j, const std::string& path, std::uint64_t clock_ms) {
  DaemonSnapshot d;
  auto has = [&](const char* key) { return r.optional(j, path, key) != nullptr; };
  d.id = r.id(j, path, "id");
  d.name = r.string(j, path, "name");
  d.lifecycle = r.enumeration(j, path, "lifecycle",
                              {DaemonLifecycleState::Stopped, DaemonLifecycleState::Starting,
                               DaemonLifecycleState::Running, DaemonLifecycleState::Stopping});
  if (has("intent")) d.intent = r.enumeration(j, path, "intent", {DaemonIntent::Run, DaemonIntent::Stop});
  if (const json* h = r.optional(j, path, "health"); h && !h->is_null()) {
    d.health = r.adopt(daemon_health_from_json(*h), path + ".health");
  }
  if (const json* s = r.optional(j, path, "saturation")) {
    const double saturation = r.number(*s, path + ".saturation");
    if (saturation < 0.0 || saturation > 1.0) r.fail(path + ".saturation", "must lie in [0, 1]");
    d.saturation = static_cast<float>(std::clamp(saturation, 0.0, 1.0));
  }
  if (has("restart"))
    d.restart = r.enumeration(j, path, "restart",
                              {RestartPhase::Ready, RestartPhase::BackingOff, RestartPhase::CrashLooping});
  if (has("consecutive_crashes")) d.consecutive_crashes = r.u32(j, path, "consecutive_crashes");
  if (has("total_crashes")) d.total_crashes = r.u64(j, path, "total_crashes");
  if (has("starts")) d.starts = r.u64(j, path, "starts");
  if (has("restart_in_ms")) {
    if (auto in = r.optional_u64(j, path, "restart_in_ms"))
      d.restart_at_ms = *in > kNever - clock_ms ? kNever : clock_ms + *in;
  }
  if (has("last_crash_reason")) d.last_crash_reason = r.string(j, path, "last_crash_reason");
  d.registered_at_ms = clock_ms;
  if (has("age_ms")) d.registered_at_ms = stamp_before(clock_ms, r.u64(j, path, "age_ms"));
  if (has("running_for_ms")) d.running_since_ms = stamp_before(clock_ms, r.optional_u64(j, path, "running_for_ms"));
  if (has("since_exit_ms")) d.last_exit_at_ms = stamp_before(clock_ms, r.optional_u64(j, path, "since_exit_ms"));
  if (has("node")) d.node = r.id(j, path, "node");
  if (const json* held = r.optional(j, path, "start_held"); held && !held->is_null())
    d.start_held = r.string(j, path, "start_held");
  if (const json* c = r.optional(j, path, "capabilities")) {
    d.capabilities = r.adopt(capability_set_from_json(*c), path + ".capabilities");
  }
  return d;
}

// Absent or null: none (a node of a version before probes writes none).
std::optional<InventorySnapshot> read_inventory(Reader& r, const json& j, const std::string& path) {
  const json* i = r.optional(j, path, "inventory");
  if (!i || i->is_null()) return std::nullopt;
  InventorySnapshot out;
  out.inventory = r.adopt(inventory_from_json(*i), path + ".inventory");
  out.age_ms = r.u64(*i, path + ".inventory", "age_ms");
  return out;
}

PeerSnapshot read_peer(Reader& r, const json& j, const std::string& path) {
  PeerSnapshot p;
  auto has = [&](const char* key) { return r.optional(j, path, key) != nullptr; };
  p.node = r.id(j, path, "node");
  if (const json* rtt = r.optional(j, path, "rtt_ms"); rtt && !rtt->is_null()) {
    p.rtt_ms = r.number(*rtt, path + ".rtt_ms");
    if (*p.rtt_ms < 0) r.fail(path + ".rtt_ms", "must not be negative");
  }
  if (has("health"))
    p.health = r.enumeration(j, path, "health", {PeerHealth::Healthy, PeerHealth::Degraded, PeerHealth::Unreachable});
  if (const json* m = r.optional(j, path, "maintenance"); m && !m->is_null()) {
    p.maintenance = r.adopt(maintenance_view_from_json(*m), path + ".maintenance");
  }
  if (has("capability_tags")) {
    r.each(j, path, "capability_tags", [&](const json& tag, const std::string& tag_path) {
      if (!tag.is_string()) return r.fail(tag_path, "expected a string");
      p.capability_tags.push_back(tag.get<std::string>());
    });
  }
  if (const json* daemons = r.optional(j, path, "daemons"))
    p.daemons = r.adopt(daemon_descriptions_from_json(*daemons), path + ".daemons");
  if (has("name")) p.name = r.string(j, path, "name");
  if (has("version")) p.version = r.string(j, path, "version");
  if (has("last_seen_ms")) p.last_seen_ms = r.u64(j, path, "last_seen_ms");
  p.inventory = read_inventory(r, j, path);
  return p;
}

std::vector<OperatorId> read_ids(Reader& r, const json& ids, const std::string& path) {
  std::vector<OperatorId> out;
  if (!ids.is_array()) {
    r.fail(path, "expected an array");
    return out;
  }
  for (std::size_t i = 0; i < ids.size() && !r.failed(); ++i) {
    std::uint64_t id = 0;
    const json& op = ids[i];
    if (!op.is_string() || op.get<std::string>().size() != 16 || !parse_hex_u64(op.get<std::string>(), id)) {
      r.fail(path + "[" + std::to_string(i) + "]", "expected 16 hex digits");
      return out;
    }
    out.push_back(id);
  }
  return out;
}

AuditRecord read_audit(Reader& r, const json& j, const std::string& path) {
  AuditRecord a;
  a.seq = r.u64(j, path, "seq");
  a.wall_ms = r.i64(j, path, "wall_ms");
  a.commit = r.string(j, path, "commit");
  a.event = r.string(j, path, "event");
  if (const json* ops = r.require(j, path, "operators")) a.operators = read_ids(r, *ops, path + ".operators");
  if (const json* claimed = r.optional(j, path, "claimed")) a.claimed = read_ids(r, *claimed, path + ".claimed");
  a.outcome = r.string(j, path, "outcome");
  a.reason_kind = r.string(j, path, "reason_kind");
  a.reason = r.string(j, path, "reason");
  if (r.optional(j, path, "relayed_from")) a.relayed_from = r.id(j, path, "relayed_from");
  if (r.optional(j, path, "mirrored_for")) a.mirrored_for = r.id(j, path, "mirrored_for");
  return a;
}

StrangerRejects read_strangers(Reader& r, const json& j, const std::string& path) {
  StrangerRejects s;
  s.total = r.u64(j, path, "total");
  if (const json* kinds = r.require(j, path, "by_kind")) {
    if (!kinds->is_object() || kinds->size() > kMaxStrangerKinds + 1) {
      r.fail(path + ".by_kind", "expected an object of at most " + std::to_string(kMaxStrangerKinds + 1) + " counts");
    } else {
      for (auto it = kinds->begin(); it != kinds->end(); ++it) s.by_kind[it.key()] = r.u64(*kinds, path + ".by_kind", it.key().c_str());
    }
  }
  if (const json* last = r.require(j, path, "last"); last && !last->is_null()) s.last = read_audit(r, *last, path + ".last");
  return s;
}

FailureRecord read_failure(Reader& r, const json& j, const std::string& path) {
  FailureRecord f;
  f.id = r.u64(j, path, "id");
  f.action_kind = r.string(j, path, "action_kind");
  f.target = r.string(j, path, "target");
  f.reason = r.string(j, path, "reason");
  f.attempts = r.u32(j, path, "attempts");
  f.wall_ms = r.i64(j, path, "wall_ms");
  if (r.optional(j, path, "age_ms") != nullptr) f.age_ms = r.u64(j, path, "age_ms");  // older nodes leave it out
  return f;
}

ExecutorStats read_executor(Reader& r, const json& j, const std::string& path) {
  ExecutorStats e;
  e.dispatched = r.u64(j, path, "dispatched");
  e.failed = r.u64(j, path, "failed");
  e.deferred = r.u64(j, path, "deferred");
  e.gated = r.u64(j, path, "gated");
  e.retries = r.u64(j, path, "retries");
  e.dropped = r.u64(j, path, "dropped");
  e.backpressure_asserts = r.u64(j, path, "backpressure_asserts");
  e.backpressure_releases = r.u64(j, path, "backpressure_releases");
  e.queue_depth = r.u64(j, path, "queue_depth");
  e.backpressure_active = r.boolean(j, path, "backpressure_active");
  return e;
}

LoopStats read_loop(Reader& r, const json& j, const std::string& path) {
  LoopStats l;
  l.ticks = r.u64(j, path, "ticks");
  l.events_folded = r.u64(j, path, "events_folded");
  l.events_rejected = r.u64(j, path, "events_rejected");
  l.actions_emitted = r.u64(j, path, "actions_emitted");
  l.actions_dropped = r.u64(j, path, "actions_dropped");
  l.control_dropped = r.u64(j, path, "control_dropped");
  l.logs_evicted = r.u64(j, path, "logs_evicted");
  l.failures_evicted = r.u64(j, path, "failures_evicted");
  l.audit_evicted = r.u64(j, path, "audit_evicted");
  if (r.optional(j, path, "audit_rejected_evicted")) l.audit_rejected_evicted = r.u64(j, path, "audit_rejected_evicted");
  if (r.optional(j, path, "commits_relayed")) l.commits_relayed = r.u64(j, path, "commits_relayed");
  if (r.optional(j, path, "commits_relayed_known")) l.commits_relayed_known = r.u64(j, path, "commits_relayed_known");
  if (r.optional(j, path, "commit_log_evicted")) l.commit_log_evicted = r.u64(j, path, "commit_log_evicted");
  for (auto [key, field] : {std::pair{"probe_rounds", &LoopStats::probe_rounds},
                            std::pair{"probe_failures", &LoopStats::probe_failures},
                            std::pair{"probe_readings_invalid", &LoopStats::probe_readings_invalid},
                            std::pair{"probe_rounds_skipped", &LoopStats::probe_rounds_skipped}})
    if (r.optional(j, path, key)) l.*field = r.u64(j, path, key);
  return l;
}

}  // namespace

const char* to_string(DaemonLifecycleState s) {
  switch (s) {
    case DaemonLifecycleState::Stopped: return "stopped";
    case DaemonLifecycleState::Starting: return "starting";
    case DaemonLifecycleState::Running: return "running";
    case DaemonLifecycleState::Stopping: return "stopping";
  }
  return "unknown";
}

const char* to_string(RestartPhase p) {
  switch (p) {
    case RestartPhase::Ready: return "ready";
    case RestartPhase::BackingOff: return "backing_off";
    case RestartPhase::CrashLooping: return "crash_looping";
  }
  return "unknown";
}

json daemon_json(const DaemonSnapshot& d, const MeshOsSnapshot& as_of) {
  return json{{"id", to_hex(d.id)},
              {"name", d.name},
              {"lifecycle", to_string(d.lifecycle)},
              {"intent", to_string(d.intent)},
              {"health", optional_json(d.health)},
              {"saturation", d.saturation},
              {"restart", to_string(d.restart)},
              {"consecutive_crashes", d.consecutive_crashes},
              {"total_crashes", d.total_crashes},
              {"starts", d.starts},
              {"restart_in_ms", optional_json(as_of.restart_in_ms(d))},
              {"last_crash_reason", d.last_crash_reason},
              {"age_ms", as_of.age_ms(d)},
              {"running_for_ms", optional_json(as_of.running_for_ms(d))},
              {"since_exit_ms", optional_json(as_of.since_exit_ms(d))},
              {"node", to_hex(d.node)},
              {"capabilities", d.capabilities},
              {"start_held", optional_json(d.start_held)}};
}

void to_json(json& j, const PeerSnapshot& p) {
  j = json{{"node", to_hex(p.node)},
           {"name", p.name},
           {"rtt_ms", optional_json(p.rtt_ms)},
           {"health", to_string(p.health)},
           {"maintenance", optional_json(p.maintenance)},
           {"capability_tags", p.capability_tags},
           {"daemons", p.daemons},
           {"version", p.version},
           {"last_seen_ms", p.last_seen_ms},
           {"inventory", inventory_json(p.inventory)}};
}

void to_json(json& j, const AuditRecord& a) {
  auto ids = [](const std::vector<OperatorId>& list) {
    json out = json::array();
    for (OperatorId op : list) out.push_back(to_hex(op));
    return out;
  };
  j = json{{"seq", a.seq},
           {"wall_ms", a.wall_ms},
           {"commit", a.commit},
           {"event", a.event},
           {"operators", ids(a.operators)},
           {"claimed", ids(a.claimed)},
           {"outcome", a.outcome},
           {"reason_kind", a.reason_kind},
           {"reason", a.reason}};
  if (a.relayed_from != 0) j["relayed_from"] = to_hex(a.relayed_from);
  if (a.mirrored_for != 0) j["mirrored_for"] = to_hex(a.mirrored_for);
}

void to_json(json& j, const StrangerRejects& r) {
  j = json{{"total", r.total}, {"by_kind", r.by_kind}, {"last", r.last ? json(*r.last) : json(nullptr)}};
}

void to_json(json& j, const FailureRecord& f) {
  j = json{{"id", f.id},         {"action_kind", f.action_kind}, {"target", f.target},
           {"reason", f.reason}, {"attempts", f.attempts},       {"wall_ms", f.wall_ms},
           {"age_ms", f.age_ms}};
}

void to_json(json& j, const MeshOsSnapshot& s) {
  json daemons = json::array();
  for (const auto& kv : s.daemons) daemons.push_back(daemon_json(kv.second, s));
  json peers = json::array();
  for (const auto& kv : s.peers) peers.push_back(kv.second);
  json avoid = json::array();
  for (const auto& a : s.avoid) avoid.push_back(avoid_json(a));
  json actions = json::array();
  for (const auto& a : s.recent_actions) actions.push_back(action_json(a));
  json migrations = json::array();
  for (const auto& m : s.migrations) migrations.push_back(migration_json(m));
  j = json{{"node_id", to_hex(s.node_id)},
           {"runtime_epoch", to_hex(s.runtime_epoch)},
           {"seq", s.seq},
           {"wall_ms", s.wall_ms},
           {"clock_ms", s.clock_ms},
           {"daemons", std::move(daemons)},
           {"peers", std::move(peers)},
           {"avoid", std::move(avoid)},
           {"local_maintenance", as_json(s.local_maintenance)},
           {"cordoned", s.cordoned},
           {"inventory", inventory_json(s.inventory)},
           {"node_capabilities", s.node_capabilities},
           {"recent_actions", std::move(actions)},
           {"recent_failures", s.recent_failures},
           {"freeze_remaining_ms", optional_json(s.freeze_remaining_ms)},
           {"audit", s.audit},
           {"audit_strangers", s.audit_strangers},
           {"logs", s.logs},
           {"migrations", std::move(migrations)},
           {"executor", executor_json(s.executor)},
           {"loop", loop_json(s.loop)}};
}

Result<MeshOsSnapshot> snapshot_from_json(const json& j) {
  Reader r(Errc::invalid_snapshot);
  MeshOsSnapshot s;
  const std::string root = "snapshot";
  if (!j.is_object()) return SdkError{Errc::invalid_snapshot, "a snapshot must be a JSON object"};
  s.node_id = r.id(j, root, "node_id");
  s.runtime_epoch = r.id(j, root, "runtime_epoch");
  s.seq = r.u64(j, root, "seq");
  s.wall_ms = r.i64(j, root, "wall_ms");
  s.clock_ms = r.optional(j, root, "clock_ms") != nullptr ? r.u64(j, root, "clock_ms") : kClockOfSnapshotsWithoutOne;
  DaemonSnapshots::Builder daemons(s.daemons);
  std::set<DaemonId> seen;
  r.each(j, root, "daemons", [&](const json& d, const std::string& path) {
    DaemonSnapshot daemon = read_daemon(r, d, path, s.clock_ms);
    if (r.failed()) return;
    if (!seen.insert(daemon.id).second) return r.fail(path, "duplicate daemon id");
    const DaemonId id = daemon.id;
    daemons.put(id, std::move(daemon));
  });
  s.daemons = std::move(daemons).finish();
  r.each(j, root, "peers", [&](const json& p, const std::string& path) {
    PeerSnapshot peer = read_peer(r, p, path);
    if (!r.failed() && !s.peers.emplace(peer.node, std::move(peer)).second) r.fail(path, "duplicate peer id");
  });
  r.each(j, root, "avoid", [&](const json& a, const std::string& path) {
    AvoidSnapshot avoid;
    avoid.peer = r.id(a, path, "peer");
    avoid.reason = r.string(a, path, "reason");
    avoid.remaining_ms = r.u64(a, path, "remaining_ms");
    s.avoid.push_back(std::move(avoid));
  });
  if (const json* m = r.require(j, root, "local_maintenance")) {
    s.local_maintenance = r.adopt(maintenance_view_from_json(*m), root + ".local_maintenance");
  }
  s.cordoned = r.boolean(j, root, "cordoned");
  s.inventory = read_inventory(r, j, root);
  if (const json* c = r.require(j, root, "node_capabilities")) {
    s.node_capabilities = r.adopt(capability_set_from_json(*c), root + ".node_capabilities");
  }
  r.each(j, root, "recent_actions", [&](const json& a, const std::string& path) {
    ActionSnapshot action;
    action.id = r.u64(a, path, "id");
    action.kind = r.string(a, path, "kind");
    action.target = r.string(a, path, "target");
    action.age_ms = r.u64(a, path, "age_ms");
    s.recent_actions.push_back(std::move(action));
  });
  r.each(j, root, "recent_failures",
         [&](const json& f, const std::string& path) { s.recent_failures.push_back(read_failure(r, f, path)); });
  s.freeze_remaining_ms = r.optional_u64(j, root, "freeze_remaining_ms");
  r.each(j, root, "audit", [&](const json& a, const std::string& path) { s.audit.push_back(read_audit(r, a, path)); });
  if (const json* strangers = r.optional(j, root, "audit_strangers"))
    s.audit_strangers = read_strangers(r, *strangers, root + ".audit_strangers");
  r.each(j, root, "logs", [&](const json& l, const std::string& path) {
    s.logs.push_back(r.adopt(log_record_from_json(l), path));
  });
  r.each(j, root, "migrations", [&](const json& m, const std::string& path) {
    MigrationSnapshot migration;
    migration.id = r.id(m, path, "id");
    migration.daemon = r.id(m, path, "daemon");
    migration.target = r.id(m, path, "target");
    migration.phase = r.string(m, path, "phase");
    s.migrations.push_back(std::move(migration));
  });
  if (const json* e = r.require(j, root, "executor")) s.executor = read_executor(r, *e, root + ".executor");
  if (const json* l = r.require(j, root, "loop")) s.loop = read_loop(r, *l, root + ".loop");
  if (r.failed()) return r.error();
  return s;
}

Result<MeshOsSnapshot> snapshot_from_json_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kSnapshot, Errc::invalid_snapshot, "snapshot");
  if (!j) return j.error();
  return snapshot_from_json(*j);
}

Result<AuditRecord> audit_record_from_json(const json& j) {
  Reader r(Errc::invalid_audit_record);
  AuditRecord a = read_audit(r, j, "record");
  if (r.failed()) return r.error();
  return a;
}

std::uint64_t last_audit_seq(const MeshOsSnapshot& s) {
  std::uint64_t seq = s.audit.empty() ? 0 : s.audit.back().seq;
  if (s.audit_strangers.last) seq = std::max(seq, s.audit_strangers.last->seq);
  return seq;
}

const AuditRecord* find_commit_record(const MeshOsSnapshot& s, std::uint64_t after_seq, const std::string& commit,
                                      const std::string& event, const std::vector<OperatorId>& signers) {
  auto matches = [&](const AuditRecord& rec) {
    const auto& named = rec.operators.empty() ? rec.claimed : rec.operators;
    // A copy forwarded by a peer is another fold of the commit, not the one this node was handed.
    return rec.seq > after_seq && rec.relayed_from == 0 && rec.commit == commit && rec.event == event &&
           named == signers;
  };
  for (const auto& rec : s.audit)
    if (matches(rec)) return &rec;
  if (s.audit_strangers.last && matches(*s.audit_strangers.last)) return &*s.audit_strangers.last;
  return nullptr;
}

DaemonAddress DaemonAddress::parse(const std::string& text) {
  DaemonId id = 0;
  if (text.size() == 16 && parse_hex_u64(text, id) && id != 0) return by_id(id);
  return by_name(text);
}

std::string DaemonAddress::to_string() const { return id != 0 ? to_hex(id) : "'" + name + "'"; }

Result<NodeId> placement_target(const MeshOsSnapshot& s, const CapabilityFilter& requirements) {
  struct Candidate {
    std::size_t load;
    double rtt_ms;
    NodeId id;
    bool operator<(const Candidate& o) const { return std::tie(load, rtt_ms, id) < std::tie(o.load, o.rtt_ms, o.id); }
  };
  std::optional<Candidate> best;
  auto consider = [&](Candidate c) {
    if (!best || c < *best) best = c;
  };
  if (kind_of(s.local_maintenance) == MaintenanceKind::Active && !s.cordoned &&
      requirements.matches(s.node_capabilities)) {
    std::size_t load = 0;
    for (const auto& kv : s.daemons) load += kv.second.lifecycle == DaemonLifecycleState::Running ? 1 : 0;
    consider(Candidate{load, 0.0, s.node_id});
  }
  for (const auto& [id, peer] : s.peers) {
    if (peer.health == PeerHealth::Unreachable) continue;
    if (peer.maintenance && kind_of(*peer.maintenance) != MaintenanceKind::Active) continue;
    const NodeId node = id;  // a structured binding cannot be captured in C++17
    const bool avoided = std::any_of(s.avoid.begin(), s.avoid.end(), [node](const AvoidSnapshot& a) { return a.peer == node; });
    if (avoided) continue;
    CapabilitySet caps;
    caps.tags.insert(peer.capability_tags.begin(), peer.capability_tags.end());
    if (!requirements.matches(caps)) continue;
    std::size_t load = 0;
    for (const auto& d : peer.daemons) load += d.running ? 1 : 0;
    consider(Candidate{load, peer.rtt_ms.value_or(std::numeric_limits<double>::max()), id});
  }
  if (!best) return SdkError{Errc::no_placement_target, "no node of the cluster can take a new daemon now"};
  return best->id;
}

Result<DaemonLocation> locate_daemon(const MeshOsSnapshot& s, const DaemonAddress& address) {
  if (address.id == 0 && address.name.empty())
    return SdkError{Errc::invalid_request, "a daemon is named by its id or its name; neither was given"};
  auto matches = [&](DaemonId id, const std::string& name) {
    return address.id != 0 ? id == address.id : name == address.name;
  };
  for (const auto& kv : s.daemons)
    if (matches(kv.first, kv.second.name)) return DaemonLocation{s.node_id, describe_daemon(kv.second)};
  std::vector<DaemonLocation> found;
  for (const auto& [node, p] : s.peers)
    for (const auto& d : p.daemons)
      if (matches(d.id, d.name)) found.push_back(DaemonLocation{node, d});
  if (found.empty())
    return SdkError{Errc::not_found, "no daemon " + address.to_string() + " on this node or any peer it knows"};
  if (found.size() > 1) {
    std::string nodes;
    for (const auto& f : found) nodes += (nodes.empty() ? "" : ", ") + to_hex(f.node);
    return SdkError{Errc::ambiguous_daemon, "daemons named " + address.to_string() + " run on nodes " + nodes +
                                            "; address one by its id"};
  }
  return found.front();
}

DaemonDescription describe_daemon(const DaemonSnapshot& d) {
  return DaemonDescription{d.id, d.name, d.capabilities, d.lifecycle == DaemonLifecycleState::Running};
}

std::vector<DaemonLocation> find_daemons(const MeshOsSnapshot& s, const CapabilityFilter& filter) {
  std::vector<DaemonLocation> found;
  for (const auto& kv : s.daemons)
    if (filter.matches(kv.second.capabilities)) found.push_back(DaemonLocation{s.node_id, describe_daemon(kv.second)});
  for (const auto& [node, p] : s.peers)
    for (const auto& d : p.daemons)
      if (filter.matches(d.capabilities)) found.push_back(DaemonLocation{node, d});
  return found;
}

MetadataView metadata_from_snapshot(const MeshOsSnapshot& s, DaemonId daemon, const std::string& name) {
  MetadataView m;
  m.node_id = s.node_id;
  m.daemon_id = daemon;
  m.daemon_name = name;
  m.maintenance_state = s.local_maintenance;
  m.peers = s.peers;
  m.node_inventory = s.inventory;
  return m;
}

// The shape of the Rust C SDK's metadata JSON (numeric ids, "kind" discriminator, CamelCase mirrors), so
// C daemons written against net_meshos.h read it unchanged. Load figures nobody reported (no inventory probe
// for the peer; disk and saturation trend, which meshos does not collect) are null, as the Rust crate renders
// them before its first report. "node_inventory" (the hosting node's) is meshos' own addition.
void to_json(json& j, const MetadataView& m) {
  json maintenance = as_json(m.maintenance_state);
  maintenance["kind"] = maintenance["state"];
  json peers = json::array();
  for (const auto& [id, p] : m.peers) {
    peers.push_back(json{
        {"node_id", id},
        {"rtt_ms", optional_json(p.rtt_ms)},
        {"health", camel_case(p.health)},
        {"maintenance", p.maintenance ? json(camel_case(kind_of(*p.maintenance))) : json(nullptr)},
        {"cpu_load_1m", p.inventory ? json(p.inventory->inventory.cpu_load_1m) : json(nullptr)},
        {"mem_used_bytes", p.inventory ? json(p.inventory->inventory.memory_used_bytes) : json(nullptr)},
        {"mem_total_bytes", p.inventory ? json(p.inventory->inventory.memory_total_bytes) : json(nullptr)},
        {"disk_used_bytes", nullptr},
        {"disk_total_bytes", nullptr},
        {"saturation_trend", nullptr},
        {"capability_set", p.capability_tags},
        {"software_version", p.version.empty() ? json(nullptr) : json(p.version)},
        {"forked_from", nullptr},
        {"last_seen_ms", p.last_seen_ms},
    });
  }
  j = json{{"node_id", m.node_id},
           {"daemon_id", m.daemon_id},
           {"daemon_name", m.daemon_name},
           {"maintenance_state", std::move(maintenance)},
           {"peers", std::move(peers)},
           {"node_inventory", inventory_json(m.node_inventory)}};
}

}  // namespace meshos
