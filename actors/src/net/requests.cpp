#include "net/requests.hpp"

#include <map>

#include <nlohmann/json.hpp>

#include "meshos/untrusted_json.hpp"

namespace meshos::net {

using nlohmann::json;

namespace {

json audit_tail(const MeshOsSnapshot& s, std::size_t n) {
  json out = json::array();
  std::size_t start = s.audit.size() > n ? s.audit.size() - n : 0;
  for (std::size_t i = start; i < s.audit.size(); ++i) out.push_back(s.audit[i]);
  return out;
}

json addresses_json(const GatewayFacts& facts) {
  json out = json::array();
  for (const auto& a : facts.addresses) {
    out.push_back(json{{"address", a.address},
                       {"node", a.node == 0 ? json(nullptr) : json(to_hex(a.node))},
                       {"connected", a.connected}});
  }
  return out;
}

json work_json(const GatewayFacts::Work& w) {
  json links = json::array();
  for (const auto& l : w.links)
    links.push_back(json{{"node", to_hex(l.node)},      {"connected", l.connected}, {"in_flight", l.in_flight},
                         {"sent", l.sent},              {"window_full", l.window_full}, {"failed", l.failed},
                         {"window", kWorkWindow}});
  return json{{"received", w.received}, {"refused", w.refused}, {"links", std::move(links)}};
}

// Bodies come from any client that reaches the gateway: size and nesting are bounded before parsing.
Result<json> parse_body(const std::string& body) {
  if (body.empty()) return json::object();
  return parse_untrusted_json(body, json_limits::kCommit, Errc::invalid_request, "request body");
}

}  // namespace

std::string status_json(const MeshOsSnapshot& s, const GatewayFacts& facts) {
  std::map<std::string, std::uint64_t> states;
  json daemons = json::array();
  for (const auto& kv : s.daemons) {
    ++states[to_string(kv.second.lifecycle)];
    daemons.push_back(json{{"id", to_hex(kv.first)},
                           {"name", kv.second.name},
                           {"lifecycle", to_string(kv.second.lifecycle)},
                           {"intent", to_string(kv.second.intent)}});
  }
  json peers = json::array();
  for (const auto& kv : s.peers) peers.push_back(kv.second);
  // The registry's names: an operator reads "alice" where the audit says which id signed.
  json operators = json::array();
  if (facts.operator_names != nullptr)
    for (const auto& [id, name] : *facts.operator_names) operators.push_back(json{{"id", to_hex(id)}, {"name", name}});
  json j{{"node_id", to_hex(s.node_id)},
         {"name", facts.node_name},
         {"version", facts.version},
         {"listen", facts.listen},
         {"tls", facts.tls},
         {"verifies_commits", facts.verifies_commits},
         {"cluster", facts.cluster},
         {"operators", std::move(operators)},
         {"scheduler", {{"workers", facts.scheduler_workers}, {"policy", facts.scheduler_policy}}},
         {"runtime_epoch", to_hex(s.runtime_epoch)},
         {"seq", s.seq},
         {"wall_ms", s.wall_ms},
         {"maintenance", s.local_maintenance},
         {"cordoned", s.cordoned},
         {"freeze_remaining_ms", s.freeze_remaining_ms ? json(*s.freeze_remaining_ms) : json(nullptr)},
         {"daemons", json{{"count", s.daemons.size()}, {"states", states}, {"list", std::move(daemons)}}},
         {"peers", std::move(peers)},
         {"avoid_count", s.avoid.size()},
         {"audit", audit_tail(s, kStatusAuditTail)},
         {"watchers", facts.watchers},
         {"watch_drops", facts.watch_drops},
         {"refused",
          {{"connections_over_capacity", facts.guard.refused_capacity},
           {"pending_evicted", facts.guard.evicted_pending},
           {"handshake_timeouts", facts.guard.handshake_timeouts},
           {"idle_timeouts", facts.guard.idle_timeouts},
           {"oversize_messages", facts.guard.oversize_frames},
           {"malformed", facts.guard.malformed_frames},
           {"forbidden_messages", facts.guard.forbidden_messages},
           {"tls_handshakes", facts.guard.tls_failures},
           {"peer_hellos", facts.hellos_refused},
           {"peers_over_capacity", facts.peers_refused},
           {"watchers_over_capacity", facts.watch_refused},
           {"commits_queue_full", facts.commits_refused_full}}},
         {"connections", facts.guard.open},
         {"replication",
          {{"known_commits", s.commits ? s.commits->log.size() : 0},
           {"relays_sent", facts.replication.relays_sent},
           {"relays_unsent", facts.replication.relays_unsent},
           {"relays_failed", facts.replication.relays_failed},
           {"relays_received", facts.replication.relays_received},
           {"relays_refused", facts.replication.relays_refused},
           {"syncs", facts.replication.syncs},
           {"commits_fetched", facts.replication.commits_fetched},
           {"syncs_served", facts.replication.syncs_served}}},
         {"work", work_json(facts.work)}};
  return j.dump();
}

std::string snapshot_json(const MeshOsSnapshot& s) { return json(s).dump(); }

std::string peers_json(const MeshOsSnapshot& s, const GatewayFacts& facts) {
  json peers = json::array();
  for (const auto& kv : s.peers) peers.push_back(kv.second);
  return json{{"node_id", to_hex(s.node_id)}, {"peers", std::move(peers)}, {"addresses", addresses_json(facts)}}
      .dump();
}

Result<std::string> logs_json(const MeshOsSnapshot& s, const std::string& body) {
  auto parsed = parse_body(body);
  if (!parsed) return parsed.error();
  const json& q = *parsed;
  if (!q.is_object()) return SdkError{Errc::invalid_request, "logs: the body must be a JSON object"};
  std::optional<DaemonId> daemon;
  std::optional<LogLevel> min_level;
  std::uint64_t after_seq = 0;
  for (auto it = q.begin(); it != q.end(); ++it) {
    const std::string& key = it.key();
    const json& v = it.value();
    if (v.is_null()) continue;
    if (key == "daemon") {
      DaemonId id = 0;
      if (!v.is_string() || !parse_hex_u64(v.get<std::string>(), id))
        return SdkError{Errc::invalid_request, "logs: \"daemon\" must be a hex daemon id"};
      daemon = id;
    } else if (key == "level") {
      if (!v.is_string()) return SdkError{Errc::invalid_request, "logs: \"level\" must be a string"};
      auto level = log_level_from_string(v.get<std::string>());
      if (!level) return SdkError{Errc::invalid_request, "logs: " + level.error().message};
      min_level = *level;
    } else if (key == "after_seq") {
      if (!v.is_number_unsigned()) return SdkError{Errc::invalid_request, "logs: \"after_seq\" must be a number >= 0"};
      after_seq = v.get<std::uint64_t>();
    } else {
      return SdkError{Errc::invalid_request, "logs: unknown field \"" + key + "\" (daemon, level, after_seq)"};
    }
  }
  json lines = json::array();
  std::uint64_t last_seq = after_seq;
  for (const auto& rec : s.logs) {
    if (rec.seq > last_seq) last_seq = rec.seq;
    if (rec.seq <= after_seq) continue;
    if (daemon && rec.daemon_id != daemon) continue;
    if (min_level && static_cast<int>(rec.level) < static_cast<int>(*min_level)) continue;
    lines.push_back(rec);
  }
  return json{{"node_id", to_hex(s.node_id)},
              {"runtime_epoch", to_hex(s.runtime_epoch)},
              {"last_seq", last_seq},
              {"logs", std::move(lines)}}
      .dump();
}

Result<CommitPlan> plan_commit(const std::string& kind, const std::string& body, bool verifies_commits,
                               std::int64_t now_wall_ms) {
  auto parsed = parse_body(body);
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  CommitPlan plan;
  if (kind == "ice") {
    auto commit = signed_ice_commit_from_json(j);
    if (!commit) return commit.error();
    plan.audit_commit = "ice";
    plan.audit_event = ice_kind(commit->proposal);
    for (const auto& s : commit->signatures) plan.operators.push_back(s.operator_id);
    plan.event = event::SignedIce{std::move(*commit)};
    return plan;
  }
  if (j.is_object() && j.size() == 1 && j.contains("unsigned")) {
    auto ev = admin_event_from_json(j["unsigned"]);
    if (!ev) return ev.error();
    plan.audit_event = admin_kind(*ev);
    if (verifies_commits) {
      // Published as a commit signed by nobody: the verifier refuses it and the refusal is audited like
      // any other, so operators see unsigned attempts too.
      SignedAdminCommit c;
      c.issued_at_ms = now_wall_ms;
      c.event = std::move(*ev);
      plan.audit_commit = "admin";
      plan.operators = {0};
      plan.unsigned_refused = true;
      plan.event = event::SignedAdmin{std::move(c)};
    } else {
      plan.audit_commit = "local";
      plan.event = event::Admin{std::move(*ev)};
    }
    return plan;
  }
  auto commit = signed_admin_commit_from_json(j);
  if (!commit) return commit.error();
  plan.audit_commit = "admin";
  plan.audit_event = admin_kind(commit->event);
  plan.operators = {commit->signature.operator_id};
  plan.event = event::SignedAdmin{std::move(*commit)};
  return plan;
}

Result<MeshOsEvent> relayed_commit_event(const std::string& channel, const std::string& body, NodeId from) {
  auto parsed = parse_body(body);
  if (!parsed) return parsed.error();
  if (channel == "ice") {
    auto commit = signed_ice_commit_from_json(*parsed);
    if (!commit) return commit.error();
    return MeshOsEvent{event::SignedIce{std::move(*commit), from}};
  }
  if (channel != "admin") return SdkError{Errc::invalid_commit, "unknown commit channel \"" + channel + "\""};
  auto commit = signed_admin_commit_from_json(*parsed);
  if (!commit) return commit.error();
  return MeshOsEvent{event::SignedAdmin{std::move(*commit), from}};
}

Result<WorkRequest> parse_work_request(const std::string& body) {
  auto parsed = parse_body(body);
  if (!parsed) return parsed.error();
  const json& j = *parsed;
  auto bad = [](const std::string& why) { return SdkError{Errc::invalid_request, why}; };
  if (!j.is_object()) return bad("work request: expected an object");
  WorkRequest w;
  for (const auto& [key, value] : j.items()) {
    if (key == "daemon") {
      if (!value.is_string() || value.get<std::string>().empty()) return bad("\"daemon\": expected an id or a name");
      w.daemon = DaemonAddress::parse(value.get<std::string>());
    } else if (key == "payload") {
      if (!value.is_string()) return bad("\"payload\": expected text");
      const auto& text = value.get_ref<const std::string&>();
      w.event.payload.assign(text.begin(), text.end());
    } else if (key == "payload_hex") {
      if (!value.is_string() || !hex_to_bytes(value.get<std::string>(), w.event.payload))
        return bad("\"payload_hex\": expected hex digits");
    } else if (key == "timeout_ms") {
      if (!value.is_number_unsigned() || value.get<std::uint64_t>() == 0 ||
          value.get<std::uint64_t>() > static_cast<std::uint64_t>(kMaxWorkTimeout.count()))
        return bad("\"timeout_ms\": expected 1 to " + std::to_string(kMaxWorkTimeout.count()));
      w.timeout = std::chrono::milliseconds(value.get<std::uint64_t>());
    } else {
      return bad("work request: unknown field \"" + key + "\" (daemon, payload, payload_hex, timeout_ms)");
    }
  }
  if (w.daemon.id == 0 && w.daemon.name.empty()) return bad("work request: \"daemon\" is required");
  if (j.contains("payload") && j.contains("payload_hex")) return bad("work request: payload or payload_hex, not both");
  return w;
}

std::string work_reply_json(const DaemonAddress& daemon, const std::vector<Bytes>* outputs) {
  json j{{"daemon", daemon.id != 0 ? to_hex(daemon.id) : daemon.name}};
  if (outputs) {
    json list = json::array();
    for (const auto& o : *outputs) list.push_back(json{{"text", std::string(o.begin(), o.end())}, {"hex", bytes_to_hex(o)}});
    j["outputs"] = std::move(list);
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

NetReply commit_reply(const AuditRecord& rec, const CommitPlan& plan) {
  std::string message = rec.reason;
  if (plan.unsigned_refused && rec.outcome == "rejected" && rec.reason_kind == to_string(Errc::not_authorized))
    message = "unsigned admin commits are refused: this node verifies operator signatures (" + rec.reason + ")";
  json j{{"outcome", rec.outcome},   {"kind", rec.reason_kind}, {"message", message},
         {"commit", rec.commit},     {"event", rec.event},      {"audit_seq", rec.seq}};
  NetReply r;
  r.json = j.dump();
  if (rec.outcome == "rejected") {
    r.error_kind = rec.reason_kind.empty() ? "rejected" : rec.reason_kind;
    r.error_message = message;
  }
  return r;
}

}  // namespace meshos::net
