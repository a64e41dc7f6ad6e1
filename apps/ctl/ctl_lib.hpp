#pragma once
// meshos-ctl's logic without the process around it: argument parsing, rendering, commit building and
// the command runner. The connection is injected, so all of it is testable without a node.
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/logs.hpp"
#include "meshos/node.hpp"
#include "meshos/result.hpp"
#include "meshos/snapshot.hpp"

namespace meshos::ctl {

// Exit codes: usage errors (Errc::usage, Errc::invalid_argument) exit with 2, everything else with 1.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitUsage = 2;

std::string usage_text();

struct Invocation {
  std::vector<std::string> command;          // positional words: "maintenance", "enter", ...
  std::map<std::string, std::string> values; // options with a value, by name without "--"
  std::set<std::string> flags;               // options without a value

  bool flag(const std::string& name) const { return flags.count(name) != 0; }
  std::optional<std::string> value(const std::string& name) const;
};

// Splits argv (without the program name) into words, flags and option values. Options may come before or
// after the command, as "--name value" or "--name=value". Kind "usage" on unknown or incomplete options and
// on options the command does not take.
Result<Invocation> parse_arguments(const std::vector<std::string>& args);

// ---- building what is sent ------------------------------------------------------------------------

// --target HEX if given: a node id, never 0 (commits name the node they are for; there is no "any node").
Result<std::optional<NodeId>> target_node(const Invocation& inv);
// --cluster NAME if given (1 to 256 bytes).
Result<std::optional<std::string>> cluster_option(const Invocation& inv);

// What an admin commit is for: a node and its cluster.
struct CommitTarget {
  NodeId node = 0;
  std::string cluster = kDefaultClusterName;
};
// --target and --cluster where given; the rest from the node's answer to "status" (asked only then): its
// "node_id", and its "cluster" when it names one (else the default cluster, which a node without
// [node] cluster-name belongs to). Kinds "invalid_argument", "invalid_answer", or the request's.
Result<CommitTarget> commit_target(const Invocation& inv, const std::function<Result<nlohmann::json>()>& status);
// The admin event a command names (maintenance enter|exit, daemon start|stop) for node `target` (meshos-ctl
// builds it first, to check the command line, and sets the node once commit_target() has found it).
// Kind "usage" / "invalid_argument".
Result<AdminEvent> admin_event_for(const Invocation& inv, NodeId target);
// The request body for "admin": the commit signed for `cluster` when a key is given, else {"unsigned": event}.
Result<nlohmann::json> admin_request_body(const AdminEvent& event, const EntityKeypair* signer, std::int64_t now_wall_ms,
                                          const std::string& cluster = kDefaultClusterName);
// The action `ice propose <...>` names.
Result<IceAction> ice_action_for(const Invocation& inv);
// An unsigned proposal for `cluster`: the commit without signatures, and not simulated yet (its blast-radius
// hash all zero, which every node refuses until meshos-ctl sets the hash of the radius it simulated).
Result<SignedIceCommit> ice_proposal(const IceAction& action, std::int64_t now_wall_ms,
                                     const std::string& cluster = kDefaultClusterName);
// Adds `signer`'s signature; signing twice with one key is refused (kind "already_signed").
Result<void> add_ice_signature(SignedIceCommit& commit, const EntityKeypair& signer);

// ---- rendering for people -----------------------------------------------------------------------

// "850 ms", "12.3 s", "4 min 2 s", "3 h 12 min".
std::string format_ms(std::uint64_t ms);
// "load 0.52, memory 3.1/7.8 GiB" (used/total).
std::string describe_inventory(const NodeInventory& inv);
std::string describe_maintenance(const MaintenanceStateView& v);
// Operators by id, as the node's registry names them (its answer to "status"); daemons by id, by name.
using OperatorNames = std::map<OperatorId, std::string>;
using DaemonNames = std::map<DaemonId, std::string>;
OperatorNames operator_names(const nlohmann::json& status);
DaemonNames daemon_names(const MeshOsSnapshot& s);
// The peers that give a name, by id.
std::map<NodeId, std::string> peer_names(const MeshOsSnapshot& s);

// kubectl's habit: a header row, each column as wide as its widest cell, three spaces between columns.
std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                         const std::string& indent = "");
// The node's snapshot for people; `node_name` is its own name (its answer to "status"), "" for none.
std::string render_status(const MeshOsSnapshot& s, const OperatorNames& names = {}, const std::string& node_name = "",
                          std::size_t audit_records = 10);
// A peers answer's "addresses" ([{"address", "node"}]) by node.
std::map<NodeId, std::string> peer_addresses(const nlohmann::json& addresses);
// A table of the peers' JSON (PeerSnapshot's form; unknown fields ignored): node, name, address, health, RTT,
// maintenance; wide adds version, last seen, daemons and capability tags.
std::string render_peers(const nlohmann::json& peers, const std::map<NodeId, std::string>& addresses = {},
                         bool wide = false, const std::string& indent = "");
// A table of daemons: node (its name beside, marked when it is `this_node`), daemon id, name, running or
// stopped, tags; wide
// adds the capability metadata.
std::string render_daemons(const std::vector<DaemonLocation>& found, NodeId this_node, bool wide = false,
                           const std::map<NodeId, std::string>& node_names = {});
// A table of audit records, the signers by name beside their ids; wide adds relayed-by and for-node.
std::string render_audit(const std::vector<AuditRecord>& records, const OperatorNames& names, bool wide = false);
// One log line: the daemon by name where known (wide: name and id).
std::string render_log(const LogRecord& r, const DaemonNames& names = {}, bool wide = false);

// ---- logs ---------------------------------------------------------------------------------------

struct LogFilter {
  std::optional<DaemonId> daemon;
  std::optional<std::string> daemon_name;  // --daemon NAME, to be resolved to `daemon` from the node's snapshot
  std::optional<LogLevel> min_level;
  std::optional<std::int64_t> since_wall_ms;  // --since: records at or after this wall-clock time
  bool matches(const LogRecord& r) const;
};
// --daemon ID (hex) or NAME, --level L, --since DURATION (back from `now_wall_ms`).
Result<LogFilter> log_filter_for(const Invocation& inv, std::int64_t now_wall_ms);
// The node's answer to "logs": an array of records or {"logs": [...]}. Kind "invalid_answer".
Result<std::vector<LogRecord>> logs_from_answer(const nlohmann::json& answer);

// Picks from each published snapshot the records not printed yet: seq above the last printed one. When the
// node's runtime epoch changes it restarted: it starts over from 1, unless the node read its log back from
// its state dir and numbers on (the last record seen is still there).
class LogFollower {
 public:
  explicit LogFollower(LogFilter filter) : filter_(std::move(filter)) {}
  struct Step {
    bool epoch_changed = false;  // not on the first snapshot
    std::vector<LogRecord> records;
  };
  Step next(const MeshOsSnapshot& s);

 private:
  LogFilter filter_;
  std::optional<std::uint64_t> epoch_;
  std::uint64_t last_seq_ = 0;
  std::int64_t last_wall_ms_ = 0;  // of the record numbered last_seq_
};

// ---- running ------------------------------------------------------------------------------------

// Connects to a node, trying again until `timeout` when it cannot be reached yet (a node still starting).
using Connector = std::function<Result<std::unique_ptr<RemoteNode>>(const std::string& address, const TlsOptions& tls,
                                                                    std::chrono::milliseconds timeout)>;

// What `snapshot --watch` compares to tell a change: the snapshot without what moves by itself every tick
// (seq, times, ages, RTTs: every field named seq or ending in _ms).
nlohmann::json without_clock_fields(const nlohmann::json& snapshot);

struct Environment {
  std::ostream& out;
  std::ostream& err;
  Connector connect;
  std::function<std::int64_t()> wall_clock_ms;
};

// Runs one invocation; returns the exit code. Errors are one line on `err`:
// "meshos-ctl: KIND: MESSAGE".
int run(const std::vector<std::string>& args, Environment& env);

}  // namespace meshos::ctl
