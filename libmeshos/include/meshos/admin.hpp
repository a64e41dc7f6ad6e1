#pragma once
// Library: meshos_core.
// Operator-issued changes: ordinary admin events (one signature) and break-glass ("ice") actions
// (M-of-N signatures over a simulated blast radius), plus their signed envelopes.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/identity.hpp"
#include "meshos/result.hpp"
#include "meshos/time.hpp"
#include "meshos/types.hpp"

namespace meshos {

namespace admin {
struct EnterMaintenance {
  NodeId node = 0;
  std::optional<std::uint64_t> drain_for_ms;
};
struct ExitMaintenance {
  NodeId node = 0;
};
struct Drain {
  NodeId node = 0;
};
struct Cordon {
  NodeId node = 0;
};
struct Uncordon {
  NodeId node = 0;
};
struct RestartAllDaemons {
  NodeId node = 0;
};
struct ClearAvoidList {
  NodeId node = 0;
};
// Not in the Rust crate's list: per-daemon intent from an operator (meshos-ctl daemon start|stop).
struct SetDaemonIntent {
  NodeId node = 0;
  std::string daemon;  // name as registered
  bool run = true;
};
// Not in the Rust crate's list either: one daemon stopped and started again (meshos-ctl daemon restart),
// the operator's counterpart of the break-glass ForceRestartDaemon, by name and for one node.
struct RestartDaemon {
  NodeId node = 0;
  std::string daemon;  // name as registered
};
}  // namespace admin

using AdminEvent = std::variant<admin::EnterMaintenance, admin::ExitMaintenance, admin::Drain, admin::Cordon,
                                admin::Uncordon, admin::RestartAllDaemons, admin::ClearAvoidList,
                                admin::SetDaemonIntent, admin::RestartDaemon>;
// "enter_maintenance", "exit_maintenance", "drain", "cordon", "uncordon", "restart_all_daemons",
// "clear_avoid_list", "set_daemon_intent", "restart_daemon".
const char* admin_kind(const AdminEvent& e);
NodeId admin_target(const AdminEvent& e);

// Which avoid lists a flush empties, as in the original: every node's, one node's own, or one peer removed
// from every node's list (idempotent where it is not listed).
namespace avoid_scope {
struct Global {
  bool operator==(const Global&) const { return true; }
};
struct Local {
  NodeId node = 0;
  bool operator==(const Local& o) const { return node == o.node; }
};
struct OnPeer {
  NodeId peer = 0;
  bool operator==(const OnPeer& o) const { return peer == o.peer; }
};
}  // namespace avoid_scope
using AvoidScope = std::variant<avoid_scope::Global, avoid_scope::Local, avoid_scope::OnPeer>;

namespace ice {
struct FreezeCluster {
  std::uint64_t ttl_ms = 0;
};
struct ThawCluster {};
struct FlushAvoidLists {
  AvoidScope scope = avoid_scope::Global{};
};
struct ForceRestartDaemon {
  DaemonId daemon = 0;
};
struct KillMigration {
  std::uint64_t migration_id = 0;
};
}  // namespace ice

using IceAction = std::variant<ice::FreezeCluster, ice::ThawCluster, ice::FlushAvoidLists, ice::ForceRestartDaemon,
                               ice::KillMigration>;
// "freeze_cluster", "thaw_cluster", "flush_avoid_lists", "force_restart_daemon", "kill_migration".
const char* ice_kind(const IceAction& a);
// The cooldown key: "cluster" for the cluster-wide actions (freeze, thaw, flush: one bucket), else one per
// (kind, target): "force_restart_daemon:<hex id>", "kill_migration:<hex id>".
inline constexpr const char kClusterCooldownKey[] = "cluster";
std::string ice_target_key(const IceAction& a);

using BlastRadiusHash = std::array<std::uint8_t, 32>;

// Every commit names the cluster it is signed for (in its signed bytes), so a commit signed for one cluster
// is refused by every other. A node that configures no cluster name belongs to this one.
inline constexpr const char kDefaultClusterName[] = "meshos";
inline constexpr std::size_t kMaxClusterNameBytes = 256;  // names are 1 to 256 bytes

struct OperatorSignature {
  OperatorId operator_id = 0;
  Signature signature{};
};

// An admin commit is for one node: its event's node, never 0 (nodes refuse 0 as wrong_node). It is signed
// for the cluster too.
struct SignedAdminCommit {
  std::int64_t issued_at_ms = 0;  // wall clock of the signer
  AdminEvent event;
  OperatorSignature signature;
  std::string cluster = kDefaultClusterName;  // the cluster it is signed for
};

// A break-glass commit is for the whole of one cluster.
struct SignedIceCommit {
  std::int64_t issued_at_ms = 0;
  BlastRadiusHash blast_radius_hash{};  // all zero = not simulated, always rejected
  IceAction proposal;
  std::vector<OperatorSignature> signatures;
  std::string cluster = kDefaultClusterName;  // the cluster it is signed for
};

// Canonical signed bytes, version 2 (documented in libmeshos/docs/signing.md):
//   admin: "meshos/admin-commit/v2" 0x00 | str cluster | i64 LE issued_at_ms | encode(event)
//   ice:   "meshos/ice-commit/v2"   0x00 | str cluster | i64 LE issued_at_ms | 32-byte blast hash | encode(proposal)
// encode(x) = u8 variant index | fields in declaration order; integers u64 LE, bool one byte,
// strings (str) u32 LE length + UTF-8 bytes, optionals one byte (0 absent, 1 present) + value.
Bytes admin_signing_bytes(std::int64_t issued_at_ms, const AdminEvent& e,
                          const std::string& cluster = kDefaultClusterName);
Bytes ice_signing_bytes(std::int64_t issued_at_ms, const BlastRadiusHash& blast, const IceAction& a,
                        const std::string& cluster = kDefaultClusterName);
Bytes signing_bytes(const SignedAdminCommit& c);
Bytes signing_bytes(const SignedIceCommit& c);  // what each of its signatures covers

// Signing helpers (errors: "public_key_only"; "invalid_cluster_name" for a name that is empty or longer
// than kMaxClusterNameBytes).
Result<SignedAdminCommit> sign_admin(const EntityKeypair& op, std::int64_t issued_at_ms, AdminEvent e,
                                     const std::string& cluster = kDefaultClusterName);
Result<OperatorSignature> sign_ice(const EntityKeypair& op, std::int64_t issued_at_ms, const BlastRadiusHash& blast,
                                   const IceAction& a, const std::string& cluster = kDefaultClusterName);
// Kind "invalid_cluster_name" unless `name` is 1 to kMaxClusterNameBytes bytes.
Result<void> check_cluster_name(const std::string& name);

// JSON forms, as meshos-ctl writes them and nodes read them. Decoding rejects anything malformed or
// incomplete with kind "invalid_commit" (never a partial value); an envelope without "cluster" is a version 1
// commit (signed before commits named their cluster) and is refused as such.
void to_json(nlohmann::json& j, const AdminEvent& e);
void to_json(nlohmann::json& j, const IceAction& a);
void to_json(nlohmann::json& j, const SignedAdminCommit& c);
void to_json(nlohmann::json& j, const SignedIceCommit& c);
Result<AdminEvent> admin_event_from_json(const nlohmann::json& j);
Result<IceAction> ice_action_from_json(const nlohmann::json& j);
Result<SignedAdminCommit> signed_admin_commit_from_json(const nlohmann::json& j);
Result<SignedIceCommit> signed_ice_commit_from_json(const nlohmann::json& j);

}  // namespace meshos

// AdminEvent's and IceAction's alternatives live in meshos::admin / meshos::ice, so argument-dependent
// lookup alone would not find meshos::to_json; this lets `nlohmann::json j = event;` work. Decoding stays
// with the Result-returning *_from_json functions.
NLOHMANN_JSON_NAMESPACE_BEGIN
template <>
struct adl_serializer<meshos::AdminEvent> {
  static void to_json(json& j, const meshos::AdminEvent& e) { meshos::to_json(j, e); }
};
template <>
struct adl_serializer<meshos::IceAction> {
  static void to_json(json& j, const meshos::IceAction& a) { meshos::to_json(j, a); }
};
NLOHMANN_JSON_NAMESPACE_END
