#include "meshos/persistent_state.hpp"

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "json_reader.hpp"
#include "meshos/file_io.hpp"
#include "meshos/state.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos {
namespace {

using nlohmann::json;

constexpr const char* kFormatName = "meshos-node-state";
constexpr JsonLimits kStateFileLimits{kMaxStateFileBytes, kMaxJsonDepth};
// Wall-clock instants a state file may hold: from the epoch to about the year 33658. Keeps every
// difference of two of them, and its conversion to a steady-clock span, far from overflowing.
constexpr std::int64_t kMaxWallMs = 1'000'000'000'000'000;
// A restored deadline lies at most this far from now (a century), whatever the file says.
constexpr std::int64_t kMaxSpanMs = 100LL * 365 * 24 * 3600 * 1000;

SdkError invalid(const std::string& message) { return SdkError{Errc::invalid_state_file, message}; }

// ---- the two clocks -------------------------------------------------------------------------------------

std::int64_t to_wall(TimePoint t, TimePoint now, std::int64_t wall_ms) {
  const auto span = std::chrono::duration_cast<Millis>(t - now).count();
  return std::clamp<std::int64_t>(wall_ms + std::clamp<std::int64_t>(span, -kMaxSpanMs, kMaxSpanMs), 0, kMaxWallMs);
}

TimePoint from_wall(std::int64_t w, TimePoint now, std::int64_t wall_ms) {
  return now + Millis{std::clamp<std::int64_t>(w - wall_ms, -kMaxSpanMs, kMaxSpanMs)};
}

PersistedMaintenance persist(const MaintenanceState& m, TimePoint now, std::int64_t wall_ms) {
  PersistedMaintenance p;
  p.kind = kind_of(m);
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (!std::is_same_v<T, maintenance::Active>) p.since_wall_ms = to_wall(s.since, now, wall_ms);
        if constexpr (std::is_same_v<T, maintenance::EnteringMaintenance>) {
          if (s.deadline) p.deadline_wall_ms = to_wall(*s.deadline, now, wall_ms);
        }
        if constexpr (std::is_same_v<T, maintenance::DrainFailed>) p.reason = s.reason;
      },
      m);
  return p;
}

MaintenanceState restore(const PersistedMaintenance& p, TimePoint now, std::int64_t wall_ms) {
  const TimePoint since = from_wall(p.since_wall_ms, now, wall_ms);
  switch (p.kind) {
    case MaintenanceKind::Active:
      return maintenance::Active{};
    case MaintenanceKind::EnteringMaintenance: {
      std::optional<TimePoint> deadline;
      if (p.deadline_wall_ms) deadline = from_wall(*p.deadline_wall_ms, now, wall_ms);
      return maintenance::EnteringMaintenance{since, deadline};
    }
    case MaintenanceKind::Maintenance:
      return maintenance::Maintenance{since};
    case MaintenanceKind::ExitingMaintenance:
      return maintenance::ExitingMaintenance{since};
    case MaintenanceKind::DrainFailed:
      return maintenance::DrainFailed{since, p.reason};
    case MaintenanceKind::Recovery:
      return maintenance::Recovery{since};
  }
  return maintenance::Active{};
}

// ---- decoding -------------------------------------------------------------------------------------------

using json_read::Reader;

std::optional<std::int64_t> optional_wall(Reader& r, const json& j, const std::string& path, const char* key) {
  const json* v = r.require(j, path, key);
  if (!v || v->is_null()) return std::nullopt;
  auto n = json_read::as_i64(*v);
  if (!n || *n < 0 || *n > kMaxWallMs) {
    r.fail(path + "." + key, "expected wall-clock milliseconds (0.." + std::to_string(kMaxWallMs) + ") or null");
    return std::nullopt;
  }
  return n;
}

std::int64_t wall(Reader& r, const json& j, const std::string& path, const char* key) {
  const json* v = r.require(j, path, key);
  if (v && v->is_null()) r.fail(path + "." + key, "must not be null");
  return optional_wall(r, j, path, key).value_or(0);
}

PersistedMaintenance read_maintenance(Reader& f, const json& j, const std::string& path) {
  PersistedMaintenance m;
  f.only(j, path, {"state", "since_wall_ms", "deadline_wall_ms", "reason"});
  using K = MaintenanceKind;
  m.kind = f.enumeration(j, path, "state",
                         {K::Active, K::EnteringMaintenance, K::Maintenance, K::ExitingMaintenance, K::DrainFailed,
                          K::Recovery});
  m.since_wall_ms = wall(f, j, path, "since_wall_ms");
  m.deadline_wall_ms = optional_wall(f, j, path, "deadline_wall_ms");
  m.reason = f.string(j, path, "reason");
  if (m.deadline_wall_ms && m.kind != MaintenanceKind::EnteringMaintenance)
    f.fail(path + ".deadline_wall_ms",
           std::string("a deadline only belongs to entering_maintenance, not ") + to_string(m.kind));
  return m;
}

void read_avoid(Reader& f, const json& j, const std::string& path, std::vector<PersistedAvoid>& out) {
  f.each(j, path, "avoid", [&](const json& e, const std::string& at) {
    PersistedAvoid a;
    f.only(e, at, {"peer", "reason", "until_wall_ms"});
    a.peer = f.id(e, at, "peer");
    a.reason = f.string(e, at, "reason");
    a.until_wall_ms = wall(f, e, at, "until_wall_ms");
    if (!f.failed() && std::any_of(out.begin(), out.end(), [&](const auto& o) { return o.peer == a.peer; }))
      f.fail(at + ".peer", "listed twice");
    out.push_back(std::move(a));
  });
}

void read_intents(Reader& f, const json& j, const std::string& path, std::map<std::string, DaemonIntent>& out) {
  if (f.failed()) return;
  if (!j.is_object()) return f.fail(path, "expected an object of daemon name -> \"run\" or \"stop\"");
  for (auto it = j.begin(); it != j.end(); ++it) {
    const std::string at = path + "." + it.key();
    if (it.key().empty()) return f.fail(path, "a daemon name is empty");
    if (!it->is_string()) return f.fail(at, "expected \"run\" or \"stop\"");
    const auto& word = it->get_ref<const std::string&>();
    if (word != to_string(DaemonIntent::Run) && word != to_string(DaemonIntent::Stop))
      return f.fail(at, "expected \"run\" or \"stop\", not \"" + word + "\"");
    out[it.key()] = word == to_string(DaemonIntent::Run) ? DaemonIntent::Run : DaemonIntent::Stop;
  }
}

void read_audit(Reader& f, const json& j, const std::string& path, PersistentState& s) {
  f.only(j, path, {"last_seq", "records"});
  s.audit_seq = f.u64(j, path, "last_seq");
  std::uint64_t previous = 0;
  f.each(j, path, "records", [&](const json& r, const std::string& at) {
    AuditRecord record = f.adopt(audit_record_from_json(r), at);
    if (f.failed()) return;
    if (record.seq <= previous || record.seq > s.audit_seq)
      return f.fail(at + ".seq", "expected numbers rising up to last_seq (" + std::to_string(s.audit_seq) + ")");
    previous = record.seq;
    s.audit.push_back(std::move(record));
  });
}

}  // namespace

bool PersistentState::operator==(const PersistentState& o) const {
  // Every field of a record, those added later included.
  auto same_audit = [](const AuditRecord& a, const AuditRecord& b) { return json(a) == json(b); };
  return node == o.node && saved_wall_ms == o.saved_wall_ms && maintenance == o.maintenance &&
         cordoned == o.cordoned && frozen_until_wall_ms == o.frozen_until_wall_ms && avoid == o.avoid &&
         daemon_intents == o.daemon_intents && verifier == o.verifier && audit_seq == o.audit_seq &&
         std::equal(audit.begin(), audit.end(), o.audit.begin(), o.audit.end(), same_audit);
}

PersistentState extract_persistent_state(const MeshOsState& state, TimePoint now, std::int64_t wall_ms) {
  const ActualState& actual = state.actual();
  PersistentState s;
  s.node = actual.this_node;
  s.saved_wall_ms = wall_ms;
  s.maintenance = persist(actual.maintenance, now, wall_ms);
  s.cordoned = actual.cordoned;
  if (actual.frozen(now)) s.frozen_until_wall_ms = to_wall(*actual.frozen_until, now, wall_ms);
  for (const auto& [peer, entry] : actual.avoid) {
    if (entry.until > now) s.avoid.push_back(PersistedAvoid{peer, entry.reason, to_wall(entry.until, now, wall_ms)});
  }
  s.daemon_intents = state.desired().operator_intents;
  if (const AdminVerifier* v = state.verifier()) s.verifier = v->memory();
  s.audit_seq = state.audit_seq();
  s.audit = state.audit_records();
  return s;
}

Result<void> apply_persistent_state(MeshOsState& state, const PersistentState& saved, TimePoint now,
                                    std::int64_t wall_ms) {
  if (saved.verifier && state.verifier()) {
    auto restored = state.verifier()->restore(*saved.verifier, wall_ms);
    if (!restored) return invalid("the verifier's memory: " + restored.error().message);
  }
  ActualState& actual = state.mutable_actual();
  actual.maintenance = restore(saved.maintenance, now, wall_ms);
  actual.pending_transition.reset();
  actual.cordoned = saved.cordoned;
  actual.frozen_until.reset();
  if (saved.frozen_until_wall_ms && *saved.frozen_until_wall_ms > wall_ms)
    actual.frozen_until = from_wall(*saved.frozen_until_wall_ms, now, wall_ms);
  actual.avoid.clear();
  for (const auto& a : saved.avoid) {
    if (a.until_wall_ms > wall_ms)
      actual.avoid[a.peer] = AvoidEntry{a.reason, from_wall(a.until_wall_ms, now, wall_ms)};
  }
  DesiredState& desired = state.mutable_desired();
  desired.operator_intents = saved.daemon_intents;
  for (const auto& [id, d] : actual.daemons) {
    auto intent = saved.daemon_intents.find(d.ref.name);
    if (intent != saved.daemon_intents.end()) desired.intents[id] = intent->second;
  }
  state.restore_audit(saved.audit, saved.audit_seq);
  return {};
}

void to_json(json& j, const PersistentState& s) {
  json avoid = json::array();
  for (const auto& a : s.avoid)
    avoid.push_back(json{{"peer", to_hex(a.peer)}, {"reason", a.reason}, {"until_wall_ms", a.until_wall_ms}});
  json intents = json::object();
  for (const auto& [name, intent] : s.daemon_intents) intents[name] = to_string(intent);
  json records = json::array();
  for (const auto& r : s.audit) records.push_back(r);
  const auto& m = s.maintenance;
  j = json{{"format", kFormatName},
           {"version", kStateFormatVersion},
           {"node", to_hex(s.node)},
           {"saved_wall_ms", s.saved_wall_ms},
           {"maintenance",
            {{"state", to_string(m.kind)},
             {"since_wall_ms", m.since_wall_ms},
             {"deadline_wall_ms", m.deadline_wall_ms ? json(*m.deadline_wall_ms) : json(nullptr)},
             {"reason", m.reason}}},
           {"cordoned", s.cordoned},
           {"frozen_until_wall_ms", s.frozen_until_wall_ms ? json(*s.frozen_until_wall_ms) : json(nullptr)},
           {"avoid", std::move(avoid)},
           {"daemon_intents", std::move(intents)},
           {"verifier", s.verifier ? json(*s.verifier) : json(nullptr)},
           {"audit", {{"last_seq", s.audit_seq}, {"records", std::move(records)}}}};
}

Result<PersistentState> persistent_state_from_json(const json& j) {
  Reader f(Errc::invalid_state_file);
  PersistentState s;
  const std::string root = "state";
  // Format and version first: a file of another kind or version is named as such, not as a missing field.
  if (f.string(j, root, "format") != kFormatName && !f.failed())
    f.fail(root + ".format", std::string("expected \"") + kFormatName + "\"");
  const std::uint64_t version = f.u64(j, root, "version");
  if (!f.failed() && version != kStateFormatVersion)
    f.fail(root + ".version", "format version " + std::to_string(version) + " is not supported (this meshos reads " +
                                  std::to_string(kStateFormatVersion) + ")");
  f.only(j, root,
         {"format", "version", "node", "saved_wall_ms", "maintenance", "cordoned", "frozen_until_wall_ms", "avoid",
          "daemon_intents", "verifier", "audit"});
  s.node = f.id(j, root, "node");
  s.saved_wall_ms = wall(f, j, root, "saved_wall_ms");
  if (const json* m = f.require(j, root, "maintenance")) s.maintenance = read_maintenance(f, *m, root + ".maintenance");
  s.cordoned = f.boolean(j, root, "cordoned");
  s.frozen_until_wall_ms = optional_wall(f, j, root, "frozen_until_wall_ms");
  read_avoid(f, j, root, s.avoid);
  if (const json* intents = f.require(j, root, "daemon_intents"))
    read_intents(f, *intents, root + ".daemon_intents", s.daemon_intents);
  if (const json* v = f.require(j, root, "verifier"); v && !v->is_null())
    s.verifier = f.adopt(verifier_memory_from_json(*v), root + ".verifier");
  if (const json* audit = f.require(j, root, "audit")) read_audit(f, *audit, root + ".audit", s);
  if (f.failed()) return f.error();
  return s;
}

std::string encode_state_file(const PersistentState& s) { return json(s).dump(1) + "\n"; }

Result<PersistentState> decode_state_file(const std::string& text) {
  auto parsed = parse_untrusted_json(text, kStateFileLimits, Errc::invalid_state_file, "the state file");
  if (!parsed) return parsed.error();
  return persistent_state_from_json(*parsed);
}

std::string state_file_path(const std::string& dir) { return (std::filesystem::path(dir) / kStateFileName).string(); }

namespace {

// "20240102T030405Z" (UTC) for the name of a file set aside.
std::string utc_stamp(std::int64_t wall_ms) {
  const std::time_t seconds = static_cast<std::time_t>(wall_ms / 1000);
  std::tm parts{};
  gmtime_r(&seconds, &parts);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%dT%H%M%SZ", &parts);
  return text;
}

// Renames the file to "<path>.bad-<UTC time>" (with "-N" when that name is taken); the new name.
Result<std::string> set_aside(const std::string& path, std::int64_t wall_ms) {
  namespace fs = std::filesystem;
  const std::string base = path + ".bad-" + utc_stamp(wall_ms);
  std::string target = base;
  std::error_code ec;
  for (int n = 1; fs::exists(target, ec) || ec; ++n) {
    if (ec) return invalid("cannot check '" + target + "': " + ec.message());
    target = base + "-" + std::to_string(n);
  }
  fs::rename(path, target, ec);
  if (ec) return invalid("cannot move '" + path + "' aside to '" + target + "': " + ec.message());
  return target;
}

}  // namespace

Result<OpenedState> open_state_dir(const std::string& dir, NodeId node, bool fresh_state, std::int64_t wall_ms) {
  namespace fs = std::filesystem;
  if (dir.empty()) return SdkError{Errc::invalid_state_dir, "the state dir is empty"};
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return SdkError{Errc::invalid_state_dir, "cannot create the state dir '" + dir + "': " + ec.message()};
  if (!fs::is_directory(dir, ec))
    return SdkError{Errc::invalid_state_dir, "the state dir '" + dir + "' is not a directory"};

  OpenedState opened;
  opened.path = state_file_path(dir);
  std::string problem;
  auto text = read_file_bounded(opened.path, kMaxStateFileBytes);
  if (!text) {
    if (text.error().code() == Errc::file_not_found) return opened;
    problem = text.error().message;
  } else if (auto decoded = decode_state_file(*text); !decoded) {
    problem = decoded.error().message;
  } else if (decoded->node != node) {
    problem = "it was saved by node " + to_hex(decoded->node) + ", this node is " + to_hex(node);
  } else {
    opened.saved = std::move(*decoded);
    return opened;
  }
  if (!fresh_state)
    return invalid(opened.path + ": " + problem + "; a fresh start (fresh-state) moves it aside and forgets it");
  auto moved = set_aside(opened.path, wall_ms);
  if (!moved) return moved.error();
  opened.set_aside = *moved;
  opened.set_aside_reason = problem;
  return opened;
}

}  // namespace meshos
