#pragma once
// meshosd's configuration: CAF's config system (NodeConfig declares every key, CAF reads the file and the
// command line, StrictConfig reports what CAF lets pass), then everything it names loaded and checked (node
// key, operator registry, TLS files, plugins) before anything starts.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builtin_daemons.hpp"
#include "node_log.hpp"
#include "meshos/config.hpp"
#include "meshos/identity.hpp"
#include "meshos/node.hpp"
#include "meshos/operators.hpp"
#include "meshos/result.hpp"
#include "strict_config.hpp"

namespace meshos::apps {

// What SIGHUP does: reload (default) re-reads and validates the TLS files and keeps what the node had on any
// error; drain stops the node like SIGTERM (meshos-run passes it to nodes it starts through `ssh -tt`, whose
// hang-up is how they learn that the session ended).
enum class OnHangup { Reload, Drain };

// Every key meshosd reads: [meshos] (MeshOsConfig's keys), [node], [tls], [operators], [daemons], the command
// line's --on-hangup, and CAF's own sections (scheduler.*, middleman.*, ...), which the node's actor system
// runs with. --config is --config-file; --fresh-state is --node.fresh-state=true.
class NodeConfig : public StrictConfig {
 public:
  NodeConfig();
};

struct HostedDaemon {
  std::string kind;  // "echo", "counter" or "plugin"
  std::string name;
  std::shared_ptr<DaemonPlugin> plugin;  // for kind "plugin"
};

struct NodeProgramOptions {
  MeshOsConfig meshos;
  NetworkOptions network;
  EntityKeypair node_key = EntityKeypair::public_only(PublicKey{});
  std::string cluster_name = kDefaultClusterName;  // [node] cluster-name: the cluster commits are signed for
  std::shared_ptr<AdminVerifier> verifier;  // null without [operators] registry-file
  std::vector<HostedDaemon> daemons;
  std::chrono::milliseconds drain_deadline{30'000};     // SIGTERM: how long daemons get to drain
  std::chrono::milliseconds shutdown_deadline{5'000};   // then: bound of the network and runtime stop
  std::string state_dir;    // what operators committed survives restarts there ("" = nothing kept)
  JournalLimits journal;    // the log and audit journals kept in the state dir
  bool fresh_state = false; // an unusable state file is set aside and the node starts fresh
  OnHangup on_hangup = OnHangup::Reload;  // from the command line
  NodeLog::Format log_format = NodeLog::Format::Text;  // log-format: text or json lines on stdout
};

// What `config` (loaded) says, checked, and the files it names loaded. Kind invalid_config with every problem
// of the config at once (StrictConfig's and these values' own), one per line, each naming where it is; or the kind of the first file that does not
// load: key_file_not_found, invalid_key_file, invalid_members_file, invalid_operator_registry, invalid_tls,
// invalid_plugin.
Result<NodeProgramOptions> node_options(NodeConfig& config);

// The daemon's key: seed = BLAKE2s-MAC(node seed, "meshosd-daemon:" + name), so its id is stable across
// restarts of the same node and differs between nodes.
EntityKeypair daemon_keypair(const EntityKeypair& node_key, const std::string& daemon_name);

// What --help prints before the keys.
std::string usage_text();

}  // namespace meshos::apps
