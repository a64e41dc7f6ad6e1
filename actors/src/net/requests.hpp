#pragma once
// Operator requests answered from a snapshot, and the decoding of admin/ice commits. Pure functions: the
// gateway actor owns the timing (waiting for a commit's audit record).
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshos/event.hpp"
#include "meshos/result.hpp"
#include "meshos/snapshot.hpp"
#include "net/guard.hpp"
#include "net/wire.hpp"

namespace meshos::net {

inline NetReply reply_error(const std::string& kind, const std::string& message) {
  return NetReply{kind, message, {}};
}
inline NetReply reply_error(const SdkError& e) { return NetReply{e.kind, e.message, {}}; }

// What the gateway knows beyond the snapshot.
struct GatewayFacts {
  std::string version;
  std::string listen;  // host:port
  bool tls = false;
  bool verifies_commits = false;
  std::string cluster;  // what signed commits must name
  std::size_t watchers = 0;
  std::uint64_t watch_drops = 0;
  // What the node's front door refused (SPEC.md, "Threat model").
  GuardStats guard;
  std::uint64_t hellos_refused = 0;
  std::uint64_t watch_refused = 0;
  std::uint64_t commits_refused_full = 0;
  std::uint64_t peers_refused = 0;
  struct Address {
    std::string address;
    std::uint64_t node = 0;  // 0: not yet greeted
    bool connected = false;
  };
  std::vector<Address> addresses;
};

inline constexpr std::size_t kStatusAuditTail = 16;

std::string status_json(const MeshOsSnapshot& s, const GatewayFacts& facts);
std::string snapshot_json(const MeshOsSnapshot& s);
std::string peers_json(const MeshOsSnapshot& s, const GatewayFacts& facts);
// body: {"daemon": hex?, "level": "info"? (minimum level), "after_seq": N?}; "" counts as {}.
Result<std::string> logs_json(const MeshOsSnapshot& s, const std::string& body);

// A commit ready to publish, and how to recognise its audit record once the loop folded it.
struct CommitPlan {
  MeshOsEvent event;
  std::string audit_commit;  // "admin", "ice" or "local"
  std::string audit_event;   // admin_kind / ice_kind
  std::vector<OperatorId> operators;
  bool unsigned_refused = false;  // an unsigned commit on a verifying node (published signed by nobody)
};

// "admin": a SignedAdminCommit as JSON, or {"unsigned": AdminEvent}. "ice": a SignedIceCommit as JSON.
// Kinds: invalid_request (not JSON), invalid_commit (decoding).
Result<CommitPlan> plan_commit(const std::string& kind, const std::string& body, bool verifies_commits,
                               std::int64_t now_wall_ms);

// The reply for a commit whose audit record was found.
NetReply commit_reply(const AuditRecord& rec, const CommitPlan& plan);

}  // namespace meshos::net
