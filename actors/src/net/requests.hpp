#pragma once
// Operator requests answered from a snapshot, and the decoding of admin/ice commits. Pure functions: the
// gateway actor owns the timing (waiting for a commit's audit record).
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "meshos/event.hpp"
#include "meshos/result.hpp"
#include "meshos/snapshot.hpp"
#include "net/guard.hpp"
#include "net/wire.hpp"
#include "net/work.hpp"

namespace meshos::net {

inline NetReply reply_error(Errc kind, const std::string& message) { return NetReply{to_string(kind), message, {}}; }
inline NetReply reply_error(const SdkError& e) { return NetReply{e.kind, e.message, {}}; }

// What the gateway knows beyond the snapshot.
struct GatewayFacts {
  std::string version;
  std::string node_name;
  std::string listen;  // host:port
  bool tls = false;
  bool verifies_commits = false;
  std::string cluster;  // what signed commits must name
  const std::map<OperatorId, std::string>* operator_names = nullptr;  // the registry's (none without one)
  // The node's actor system as it runs (its config's scheduler.* keys, or meshos' choice).
  std::size_t scheduler_workers = 0;
  std::string scheduler_policy;
  std::size_t watchers = 0;
  std::uint64_t watch_drops = 0;
  // What the node's front door refused (SPEC.md, "Threat model").
  GuardStats guard;
  std::uint64_t hellos_refused = 0;
  std::uint64_t watch_refused = 0;
  std::uint64_t commits_refused_full = 0;
  std::uint64_t peers_refused = 0;
  struct Replication {
    std::uint64_t relays_sent = 0, relays_unsent = 0, relays_failed = 0, relays_received = 0, relays_refused = 0;
    std::uint64_t syncs = 0, commits_fetched = 0, syncs_served = 0;
  } replication;
  struct Work {
    std::uint64_t received = 0, refused = 0;
    std::vector<PeerLinkStats> links;
  } work;
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

// A commit a peer node forwarded (or offered in a sync): channel "admin" or "ice", signed only, folded as
// relayed by `from`. Kinds: invalid_request (not JSON), invalid_commit.
Result<MeshOsEvent> relayed_commit_event(const std::string& channel, const std::string& body, NodeId from);

// An operator's work for a daemon anywhere in the cluster (meshos-ctl send / call), request kinds "deliver"
// and "process": {"daemon": "<16 hex id>" or "<name>", "payload": "<text>" | "payload_hex": "<hex>",
// "timeout_ms"?: N (process only; default 5000, at most kMaxWorkTimeout)}. Kind invalid_request.
inline constexpr std::chrono::milliseconds kDefaultWorkTimeout{5000};
inline constexpr std::chrono::milliseconds kMaxWorkTimeout{60'000};
struct WorkRequest {
  DaemonAddress daemon;
  CausalEvent event;
  std::chrono::milliseconds timeout = kDefaultWorkTimeout;
};
Result<WorkRequest> parse_work_request(const std::string& body);
// {"daemon": "<address>", "outputs": [{"text": ..., "hex": ...}]} (outputs only for process); text that is not
// UTF-8 shows with replacement characters, hex is exact.
std::string work_reply_json(const DaemonAddress& daemon, const std::vector<Bytes>* outputs);

// The reply for a commit whose audit record was found.
NetReply commit_reply(const AuditRecord& rec, const CommitPlan& plan);

}  // namespace meshos::net
