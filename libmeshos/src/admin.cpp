#include "meshos/admin.hpp"

#include <algorithm>
#include <limits>
#include <set>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "meshos/canonical.hpp"
#include "text.hpp"

namespace meshos {
namespace {

using nlohmann::json;

template <class... Fs>
struct Overloaded : Fs... {
  using Fs::operator()...;
};
template <class... Fs>
Overloaded(Fs...) -> Overloaded<Fs...>;

// Version 2: the cluster follows the tag. Version 1 bytes (no cluster) are never produced or accepted.
constexpr char kAdminDomain[] = "meshos/admin-commit/v2";
constexpr char kIceDomain[] = "meshos/ice-commit/v2";
// Names travel inside signed envelopes and audit records; anything longer is an attack or a bug.
constexpr std::size_t kMaxNameBytes = 4096;
// Far above any real operator quorum, low enough that one envelope cannot make a node verify
// signatures for long.
constexpr std::size_t kMaxIceSignatures = 256;
// Unknown kinds are quoted in error messages, but never at full length.
constexpr std::size_t kMaxQuotedChars = 64;

// ---- canonical bytes (meshos/canonical.hpp) -----------------------------------------------

void encode(CanonicalWriter& w, const AdminEvent& e) {
  w.u8(static_cast<std::uint8_t>(e.index()));
  std::visit(Overloaded{
                 [&](const admin::EnterMaintenance& x) {
                   w.u64(x.node);
                   w.optional_u64(x.drain_for_ms);
                 },
                 [&](const admin::SetDaemonIntent& x) {
                   w.u64(x.node);
                   w.str(x.daemon);
                   w.boolean(x.run);
                 },
                 [&](const admin::RestartDaemon& x) {
                   w.u64(x.node);
                   w.str(x.daemon);
                 },
                 [&](const auto& x) { w.u64(x.node); },
             },
             e);
}

void encode(CanonicalWriter& w, const IceAction& a) {
  w.u8(static_cast<std::uint8_t>(a.index()));
  std::visit(Overloaded{
                 [&](const ice::FreezeCluster& x) { w.u64(x.ttl_ms); },
                 [&](const ice::ThawCluster&) {},
                 [&](const ice::FlushAvoidLists& x) {
                   // Global adds nothing: its bytes are the scope-less flush's, as signed before scopes existed.
                   std::visit(Overloaded{
                                  [](const avoid_scope::Global&) {},
                                  [&](const avoid_scope::Local& l) {
                                    w.u8(1);
                                    w.u64(l.node);
                                  },
                                  [&](const avoid_scope::OnPeer& p) {
                                    w.u8(2);
                                    w.u64(p.peer);
                                  },
                              },
                              x.scope);
                 },
                 [&](const ice::ForceRestartDaemon& x) { w.u64(x.daemon); },
                 [&](const ice::KillMigration& x) { w.u64(x.migration_id); },
             },
             a);
}

// ---- JSON decoding ---------------------------------------------------------------------------

// Thrown inside the decoders only; the public entry points turn it into an SdkError.
struct DecodeFailure {
  std::string message;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw DecodeFailure{(path.empty() ? std::string("commit") : path) + ": " + what};
}

// Reads the fields of one JSON object. Every field read is marked, so finish() can refuse the fields
// nobody asked for: an envelope must not carry data its signature does not cover.
class ObjectReader {
 public:
  ObjectReader(const json& j, std::string path) : j_(j), path_(std::move(path)) {
    if (!j_.is_object()) fail(path_, "expected a JSON object");
  }

  std::string field_path(const char* key) const { return path_.empty() ? key : path_ + "." + key; }

  const json& require(const char* key) {
    auto it = j_.find(key);
    if (it == j_.end()) fail(field_path(key), "missing");
    read_.insert(key);
    return *it;
  }

  // Absent and null both mean "not given".
  const json* optional(const char* key) {
    auto it = j_.find(key);
    if (it == j_.end()) return nullptr;
    read_.insert(key);
    return it->is_null() ? nullptr : &*it;
  }

  std::string string(const char* key) {
    const json& v = require(key);
    if (!v.is_string()) fail(field_path(key), "expected a string");
    return v.get<std::string>();
  }

  std::string cluster() {
    if (j_.find("cluster") == j_.end())
      fail(field_path("cluster"), "missing: this is a version 1 commit, signed before commits named the cluster they are for, "
                      "and no longer accepted; sign it again with a current meshos-ctl");
    std::string s = string("cluster");
    if (s.empty() || s.size() > kMaxClusterNameBytes)
      fail(field_path("cluster"), "must be 1 to " + std::to_string(kMaxClusterNameBytes) + " bytes (" + std::to_string(s.size()) +
                          ")");
    return s;
  }

  std::string name(const char* key) {
    std::string s = string(key);
    if (s.empty()) fail(field_path(key), "must not be empty");
    if (s.size() > kMaxNameBytes)
      fail(field_path(key), "longer than " + std::to_string(kMaxNameBytes) + " bytes (" + std::to_string(s.size()) +
                                ")");
    return s;
  }

  std::uint64_t id(const char* key) {
    const json& v = require(key);
    std::uint64_t out = 0;
    if (!v.is_string() || v.get_ref<const std::string&>().size() != 16 ||
        !parse_hex_u64(v.get_ref<const std::string&>(), out))
      fail(field_path(key), "expected an id of exactly 16 hex digits");
    return out;
  }

  std::uint64_t u64(const char* key) { return to_u64(require(key), field_path(key)); }

  std::optional<std::uint64_t> optional_u64(const char* key) {
    const json* v = optional(key);
    if (v == nullptr) return std::nullopt;
    return to_u64(*v, field_path(key));
  }

  std::int64_t i64(const char* key) {
    const json& v = require(key);
    if (v.is_number_unsigned()) {
      if (v.get<std::uint64_t>() > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
        fail(field_path(key), "out of range for a signed 64-bit integer");
      return static_cast<std::int64_t>(v.get<std::uint64_t>());
    }
    if (!v.is_number_integer()) fail(field_path(key), "expected an integer");
    return v.get<std::int64_t>();
  }

  bool boolean(const char* key) {
    const json& v = require(key);
    if (!v.is_boolean()) fail(field_path(key), "expected true or false");
    return v.get<bool>();
  }

  template <std::size_t N>
  std::array<std::uint8_t, N> hex_bytes(const char* key) {
    const json& v = require(key);
    Bytes bytes;
    if (!v.is_string() || v.get_ref<const std::string&>().size() != 2 * N ||
        !hex_to_bytes(v.get_ref<const std::string&>(), bytes))
      fail(field_path(key), "expected exactly " + std::to_string(2 * N) + " hex digits");
    std::array<std::uint8_t, N> out{};
    std::copy(bytes.begin(), bytes.end(), out.begin());
    return out;
  }

  void finish() const {
    for (auto it = j_.begin(); it != j_.end(); ++it)
      if (read_.count(it.key()) == 0) fail(field_path(it.key().c_str()), "unknown field");
  }

 private:
  static std::uint64_t to_u64(const json& v, const std::string& path) {
    if (v.is_number_unsigned()) return v.get<std::uint64_t>();
    if (v.is_number_integer() && v.get<std::int64_t>() >= 0) return static_cast<std::uint64_t>(v.get<std::int64_t>());
    fail(path, "expected a non-negative integer");
  }

  const json& j_;
  std::string path_;
  std::set<std::string> read_;
};

AdminEvent decode_admin_event(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  const std::string kind = r.string("kind");
  AdminEvent e = [&]() -> AdminEvent {
    if (kind == "enter_maintenance") {
      admin::EnterMaintenance x;
      x.node = r.id("node");
      x.drain_for_ms = r.optional_u64("drain_for_ms");
      return x;
    }
    if (kind == "exit_maintenance") return admin::ExitMaintenance{r.id("node")};
    if (kind == "drain") return admin::Drain{r.id("node")};
    if (kind == "cordon") return admin::Cordon{r.id("node")};
    if (kind == "uncordon") return admin::Uncordon{r.id("node")};
    if (kind == "restart_all_daemons") return admin::RestartAllDaemons{r.id("node")};
    if (kind == "clear_avoid_list") return admin::ClearAvoidList{r.id("node")};
    if (kind == "set_daemon_intent") {
      admin::SetDaemonIntent x;
      x.node = r.id("node");
      x.daemon = r.name("daemon");
      x.run = r.boolean("run");
      return x;
    }
    if (kind == "restart_daemon") return admin::RestartDaemon{r.id("node"), r.name("daemon")};
    fail(r.field_path("kind"), "unknown admin event kind " + quoted_prefix(kind, kMaxQuotedChars));
  }();
  r.finish();
  return e;
}

IceAction decode_ice_action(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  const std::string kind = r.string("kind");
  IceAction a = [&]() -> IceAction {
    if (kind == "freeze_cluster") return ice::FreezeCluster{r.u64("ttl_ms")};
    if (kind == "thaw_cluster") return ice::ThawCluster{};
    if (kind == "flush_avoid_lists") {
      const json* scope = r.optional("scope");  // absent: global, as written before scopes existed
      if (scope == nullptr) return ice::FlushAvoidLists{};
      if (!scope->is_string()) fail(r.field_path("scope"), "expected a string");
      const std::string name = scope->get<std::string>();
      if (name == "global") return ice::FlushAvoidLists{avoid_scope::Global{}};
      if (name == "local") return ice::FlushAvoidLists{avoid_scope::Local{r.id("node")}};
      if (name == "on_peer") return ice::FlushAvoidLists{avoid_scope::OnPeer{r.id("peer")}};
      fail(r.field_path("scope"), "unknown scope " + quoted_prefix(name, kMaxQuotedChars) + " (global, local, on_peer)");
    }
    if (kind == "force_restart_daemon") return ice::ForceRestartDaemon{r.id("daemon")};
    if (kind == "kill_migration") return ice::KillMigration{r.id("migration_id")};
    fail(r.field_path("kind"), "unknown break-glass action kind " + quoted_prefix(kind, kMaxQuotedChars));
  }();
  r.finish();
  return a;
}

OperatorSignature decode_operator_signature(const json& j, const std::string& path) {
  ObjectReader r(j, path);
  OperatorSignature s;
  s.operator_id = r.id("operator_id");
  s.signature = r.hex_bytes<64>("signature");
  r.finish();
  return s;
}

json operator_signature_json(const OperatorSignature& s) {
  return json{{"operator_id", to_hex(s.operator_id)},
              {"signature", bytes_to_hex(s.signature.data(), s.signature.size())}};
}

// The one place decoding failures become errors, so no caller ever sees a half-built value.
template <class T, class Decode>
Result<T> decode_or_error(Decode&& decode) {
  try {
    return decode();
  } catch (const DecodeFailure& f) {
    return SdkError{Errc::invalid_commit, f.message};
  } catch (const json::exception& e) {
    return SdkError{Errc::invalid_commit, std::string("malformed JSON value: ") + e.what()};
  }
}

}  // namespace

const char* admin_kind(const AdminEvent& e) {
  return std::visit(Overloaded{
                        [](const admin::EnterMaintenance&) { return "enter_maintenance"; },
                        [](const admin::ExitMaintenance&) { return "exit_maintenance"; },
                        [](const admin::Drain&) { return "drain"; },
                        [](const admin::Cordon&) { return "cordon"; },
                        [](const admin::Uncordon&) { return "uncordon"; },
                        [](const admin::RestartAllDaemons&) { return "restart_all_daemons"; },
                        [](const admin::ClearAvoidList&) { return "clear_avoid_list"; },
                        [](const admin::SetDaemonIntent&) { return "set_daemon_intent"; },
                        [](const admin::RestartDaemon&) { return "restart_daemon"; },
                    },
                    e);
}

NodeId admin_target(const AdminEvent& e) {
  return std::visit([](const auto& x) { return x.node; }, e);
}

const char* ice_kind(const IceAction& a) {
  return std::visit(Overloaded{
                        [](const ice::FreezeCluster&) { return "freeze_cluster"; },
                        [](const ice::ThawCluster&) { return "thaw_cluster"; },
                        [](const ice::FlushAvoidLists&) { return "flush_avoid_lists"; },
                        [](const ice::ForceRestartDaemon&) { return "force_restart_daemon"; },
                        [](const ice::KillMigration&) { return "kill_migration"; },
                    },
                    a);
}

std::string ice_target_key(const IceAction& a) {
  // The cluster-wide actions (freeze, thaw, flush of every avoid list) all act on the cluster: one bucket, as
  // in the original, so a thaw right after a freeze waits out the cooldown like a second freeze would.
  return std::visit(Overloaded{
                        [](const ice::ForceRestartDaemon& x) { return std::string("force_restart_daemon:") + to_hex(x.daemon); },
                        [](const ice::KillMigration& x) { return std::string("kill_migration:") + to_hex(x.migration_id); },
                        [](const ice::FlushAvoidLists& x) {
                          // A global flush acts on the cluster; a scoped one on its node or peer.
                          if (const auto* l = std::get_if<avoid_scope::Local>(&x.scope))
                            return std::string("flush_avoid_lists:node:") + to_hex(l->node);
                          if (const auto* p = std::get_if<avoid_scope::OnPeer>(&x.scope))
                            return std::string("flush_avoid_lists:peer:") + to_hex(p->peer);
                          return std::string(kClusterCooldownKey);
                        },
                        [](const auto&) { return std::string(kClusterCooldownKey); },
                    },
                    a);
}

Bytes admin_signing_bytes(std::int64_t issued_at_ms, const AdminEvent& e, const std::string& cluster) {
  CanonicalWriter w;
  w.domain(kAdminDomain);
  w.str(cluster);
  w.i64(issued_at_ms);
  encode(w, e);
  return w.take();
}

Bytes ice_signing_bytes(std::int64_t issued_at_ms, const BlastRadiusHash& blast, const IceAction& a,
                        const std::string& cluster) {
  CanonicalWriter w;
  w.domain(kIceDomain);
  w.str(cluster);
  w.i64(issued_at_ms);
  w.raw(blast);
  encode(w, a);
  return w.take();
}

Bytes signing_bytes(const SignedAdminCommit& c) { return admin_signing_bytes(c.issued_at_ms, c.event, c.cluster); }

Bytes signing_bytes(const SignedIceCommit& c) {
  return ice_signing_bytes(c.issued_at_ms, c.blast_radius_hash, c.proposal, c.cluster);
}

Result<void> check_cluster_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxClusterNameBytes)
    return SdkError{Errc::invalid_cluster_name, "a cluster name must be 1 to " + std::to_string(kMaxClusterNameBytes) +
                                                " bytes (got " + std::to_string(name.size()) + ")"};
  return ok();
}

Result<SignedAdminCommit> sign_admin(const EntityKeypair& op, std::int64_t issued_at_ms, AdminEvent e,
                                     const std::string& cluster) {
  if (auto valid = check_cluster_name(cluster); !valid) return valid.error();
  auto sig = op.sign(admin_signing_bytes(issued_at_ms, e, cluster));
  if (!sig) return sig.error();
  return SignedAdminCommit{issued_at_ms, std::move(e), OperatorSignature{op.origin_hash(), *sig}, cluster};
}

Result<OperatorSignature> sign_ice(const EntityKeypair& op, std::int64_t issued_at_ms, const BlastRadiusHash& blast,
                                   const IceAction& a, const std::string& cluster) {
  if (auto valid = check_cluster_name(cluster); !valid) return valid.error();
  auto sig = op.sign(ice_signing_bytes(issued_at_ms, blast, a, cluster));
  if (!sig) return sig.error();
  return OperatorSignature{op.origin_hash(), *sig};
}

void to_json(json& j, const AdminEvent& e) {
  j = json{{"kind", admin_kind(e)}, {"node", to_hex(admin_target(e))}};
  if (const auto* enter = std::get_if<admin::EnterMaintenance>(&e)) {
    if (enter->drain_for_ms) j["drain_for_ms"] = *enter->drain_for_ms;
  } else if (const auto* intent = std::get_if<admin::SetDaemonIntent>(&e)) {
    j["daemon"] = intent->daemon;
    j["run"] = intent->run;
  } else if (const auto* restart = std::get_if<admin::RestartDaemon>(&e)) {
    j["daemon"] = restart->daemon;
  }
}

void to_json(json& j, const IceAction& a) {
  j = json{{"kind", ice_kind(a)}};
  std::visit(Overloaded{
                 [&](const ice::FreezeCluster& x) { j["ttl_ms"] = x.ttl_ms; },
                 [&](const ice::ForceRestartDaemon& x) { j["daemon"] = to_hex(x.daemon); },
                 [&](const ice::FlushAvoidLists& x) {
                   std::visit(Overloaded{
                                  [&](const avoid_scope::Global&) { j["scope"] = "global"; },
                                  [&](const avoid_scope::Local& l) {
                                    j["scope"] = "local";
                                    j["node"] = to_hex(l.node);
                                  },
                                  [&](const avoid_scope::OnPeer& p) {
                                    j["scope"] = "on_peer";
                                    j["peer"] = to_hex(p.peer);
                                  },
                              },
                              x.scope);
                 },
                 [&](const ice::KillMigration& x) { j["migration_id"] = to_hex(x.migration_id); },
                 [](const auto&) {},
             },
             a);
}

void to_json(json& j, const SignedAdminCommit& c) {
  json event;
  to_json(event, c.event);
  j = json{{"issued_at_ms", c.issued_at_ms},
           {"cluster", c.cluster},
           {"event", std::move(event)},
           {"signature", operator_signature_json(c.signature)}};
}

void to_json(json& j, const SignedIceCommit& c) {
  json proposal;
  to_json(proposal, c.proposal);
  json signatures = json::array();
  for (const auto& s : c.signatures) signatures.push_back(operator_signature_json(s));
  j = json{{"issued_at_ms", c.issued_at_ms},
           {"cluster", c.cluster},
           {"blast_radius_hash", bytes_to_hex(c.blast_radius_hash.data(), c.blast_radius_hash.size())},
           {"proposal", std::move(proposal)},
           {"signatures", std::move(signatures)}};
}

Result<AdminEvent> admin_event_from_json(const json& j) {
  return decode_or_error<AdminEvent>([&] { return decode_admin_event(j, "event"); });
}

Result<IceAction> ice_action_from_json(const json& j) {
  return decode_or_error<IceAction>([&] { return decode_ice_action(j, "proposal"); });
}

Result<SignedAdminCommit> signed_admin_commit_from_json(const json& j) {
  return decode_or_error<SignedAdminCommit>([&] {
    ObjectReader r(j, "");
    std::int64_t issued_at_ms = r.i64("issued_at_ms");
    std::string cluster = r.cluster();
    AdminEvent event = decode_admin_event(r.require("event"), "event");
    OperatorSignature signature = decode_operator_signature(r.require("signature"), "signature");
    r.finish();
    return SignedAdminCommit{issued_at_ms, std::move(event), signature, std::move(cluster)};
  });
}

Result<SignedIceCommit> signed_ice_commit_from_json(const json& j) {
  return decode_or_error<SignedIceCommit>([&] {
    ObjectReader r(j, "");
    std::int64_t issued_at_ms = r.i64("issued_at_ms");
    std::string cluster = r.cluster();
    BlastRadiusHash blast = r.hex_bytes<32>("blast_radius_hash");
    const json& proposal = r.require("proposal");
    const json& signatures = r.require("signatures");
    r.finish();
    IceAction action = decode_ice_action(proposal, "proposal");
    if (!signatures.is_array()) fail("signatures", "expected an array");
    if (signatures.size() > kMaxIceSignatures)
      fail("signatures", "more than " + std::to_string(kMaxIceSignatures) + " entries (" +
                             std::to_string(signatures.size()) + ")");
    std::vector<OperatorSignature> decoded;
    decoded.reserve(signatures.size());
    for (std::size_t i = 0; i < signatures.size(); ++i)
      decoded.push_back(decode_operator_signature(signatures[i], "signatures[" + std::to_string(i) + "]"));
    return SignedIceCommit{issued_at_ms, blast, std::move(action), std::move(decoded), std::move(cluster)};
  });
}

}  // namespace meshos
