#include "node_log.hpp"

#include <nlohmann/json.hpp>

#include "meshos/time.hpp"
#include "meshos/types.hpp"

namespace meshos::apps {

namespace {

// Drops the entries `now` no longer holds, after `gone(id)` wrote their line.
template <class Seen, class Now, class Gone>
void forget_missing(Seen& seen, const Now& now, Gone gone) {
  for (auto it = seen.begin(); it != seen.end();) {
    if (now.count(it->first) != 0) {
      ++it;
      continue;
    }
    gone(it->first);
    it = seen.erase(it);
  }
}

}  // namespace

NodeLog::NodeLog(std::ostream& out, Format format, std::map<OperatorId, std::string> operator_names)
    : out_(out), format_(format), operator_names_(std::move(operator_names)), started_wall_ms_(wall_clock_ms()) {}

void NodeLog::write(LogLevel level, const std::string& source, const std::string& message, std::int64_t wall_ms) {
  std::lock_guard<std::mutex> lock(mu_);
  write_locked(level, source, message, wall_ms);
}

void NodeLog::write_locked(LogLevel level, const std::string& source, const std::string& message,
                           std::int64_t wall_ms) {
  const std::string time = format_wall_ms(wall_ms != 0 ? wall_ms : wall_clock_ms());
  if (format_ == Format::Json) {
    // A daemon's message is anybody's bytes: invalid UTF-8 is replaced rather than refused.
    const nlohmann::json line{{"time", time}, {"level", to_string(level)}, {"source", source}, {"message", message}};
    out_ << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
  } else {
    std::string text = message;
    for (auto& c : text)
      if (c == '\n' || c == '\r') c = ' ';  // one event, one line
    out_ << time << ' ' << to_string(level) << ' ' << source << ": " << text << '\n';
  }
  out_.flush();
}

std::string NodeLog::who(const AuditRecord& r) const {
  std::string names;
  auto add = [&](OperatorId id, const char* suffix) {
    auto known = operator_names_.find(id);
    names += (names.empty() ? "" : ", ") + (known != operator_names_.end() ? known->second : to_hex(id)) + suffix;
  };
  for (auto id : r.operators) add(id, "");
  for (auto id : r.claimed) add(id, " (claimed)");
  return names.empty() ? "nobody" : names;
}

void NodeLog::observe(const MeshOsSnapshot& s) {
  std::lock_guard<std::mutex> lock(mu_);
  if (s.runtime_epoch != epoch_) {  // a new runtime numbers its logs and audit from 1 again
    epoch_ = s.runtime_epoch;
    log_seq_ = 0;
    audit_seq_ = 0;
  }
  auto daemon_name = [&](std::optional<DaemonId> id) -> std::string {
    if (!id) return "node";
    auto d = s.daemons.find(*id);
    return "daemon " + (d != s.daemons.end() ? d->second.name : to_hex(*id));
  };
  // Records stamped before this process started were restored from the state dir: earlier runs wrote them.
  for (const auto& r : s.logs) {
    if (r.seq <= log_seq_) continue;
    log_seq_ = r.seq;
    if (r.wall_ms < started_wall_ms_) continue;
    write_locked(r.level, daemon_name(r.daemon_id), r.message, r.wall_ms);
  }
  for (const auto& r : s.audit) {
    if (r.seq <= audit_seq_) continue;
    audit_seq_ = std::max(audit_seq_, r.seq);
    if (r.wall_ms < started_wall_ms_) continue;
    std::string text = r.commit + " " + (r.event.empty() ? std::string("commit") : r.event) + " " + r.outcome +
                       ", signed by " + who(r);
    if (r.relayed_from != 0) text += ", relayed by " + to_hex(r.relayed_from);
    if (r.mirrored_for != 0) text += ", for node " + to_hex(r.mirrored_for);
    if (!r.reason_kind.empty()) text += " (" + r.reason_kind + (r.reason.empty() ? "" : ": " + r.reason) + ")";
    write_locked(r.outcome == "accepted" ? LogLevel::Info : LogLevel::Warn, "commit", text, r.wall_ms);
  }
  if (s.audit_strangers.total > strangers_) {
    std::string text = std::to_string(s.audit_strangers.total - strangers_) + " commit(s) refused from strangers";
    if (const auto& last = s.audit_strangers.last) text += ", the last " + last->reason_kind;
    if (seen_any_) write_locked(LogLevel::Warn, "commit", text, s.wall_ms);
  }
  strangers_ = s.audit_strangers.total;

  const MaintenanceKind kind = kind_of(s.local_maintenance);
  if (kind != maintenance_) {
    std::string text = std::string("node state ") + to_string(maintenance_) + " -> " + to_string(kind);
    if (auto* failed = std::get_if<view::DrainFailed>(&s.local_maintenance)) text += ": " + failed->reason;
    write_locked(kind == MaintenanceKind::DrainFailed ? LogLevel::Error : LogLevel::Info, "node", text, s.wall_ms);
    maintenance_ = kind;
  }

  for (const auto& [id, peer] : s.peers) {
    // By its name where it gives one, with its id: the name is the peer's own claim, the id is proven.
    const std::string source = "peer " + (peer.name.empty() ? to_hex(id) : peer.name + " (" + to_hex(id) + ")");
    auto known = peers_.find(id);
    if (known == peers_.end()) {
      write_locked(LogLevel::Info, source, std::string("joined, ") + to_string(peer.health), s.wall_ms);
    } else if (known->second.health != peer.health) {
      write_locked(peer.health == PeerHealth::Healthy ? LogLevel::Info : LogLevel::Warn, source,
                   std::string(to_string(known->second.health)) + " -> " + to_string(peer.health), s.wall_ms);
    }
    peers_[id] = PeerSeen{peer.health, source};
  }
  forget_missing(peers_, s.peers,
                 [&](NodeId id) { write_locked(LogLevel::Info, peers_.at(id).source, "left", s.wall_ms); });

  for (const auto& [id, d] : s.daemons) {
    const std::string source = "daemon " + d.name;
    auto known = daemons_.find(id);
    if (known == daemons_.end()) {
      if (seen_any_) write_locked(LogLevel::Info, source, std::string("registered, ") + to_string(d.lifecycle), s.wall_ms);
    } else {
      const DaemonSeen& was = known->second;
      if (d.total_crashes > was.crashes)
        write_locked(LogLevel::Warn, source,
                     "crashed" + (d.last_crash_reason.empty() ? std::string() : ": " + d.last_crash_reason), s.wall_ms);
      if (d.restart != was.restart && d.restart != RestartPhase::Ready) {
        std::string text = to_string(d.restart);
        if (auto in = s.restart_in_ms(d)) text += ", restart in " + std::to_string(*in) + " ms";
        write_locked(d.restart == RestartPhase::CrashLooping ? LogLevel::Error : LogLevel::Warn, source, text, s.wall_ms);
      }
      if (d.lifecycle != was.lifecycle)
        write_locked(LogLevel::Info, source, std::string(to_string(was.lifecycle)) + " -> " + to_string(d.lifecycle),
                     s.wall_ms);
    }
    daemons_[id] = DaemonSeen{d.lifecycle, d.restart, d.total_crashes};
  }
  forget_missing(daemons_, s.daemons,
                 [&](DaemonId id) { write_locked(LogLevel::Info, "daemon " + to_hex(id), "unregistered", s.wall_ms); });
  seen_any_ = true;
}

}  // namespace meshos::apps
