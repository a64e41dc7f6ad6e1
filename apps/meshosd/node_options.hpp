#pragma once
// meshosd's configuration: a CAF-dialect INI file checked key by key (CAF itself ignores unknown keys in a
// file), `--section.key=value` overrides on the command line, and everything it names loaded and checked
// (node key, operator registry, TLS files, plugins) before anything starts.
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builtin_daemons.hpp"
#include "meshos/config.hpp"
#include "meshos/identity.hpp"
#include "meshos/node.hpp"
#include "meshos/operators.hpp"
#include "meshos/result.hpp"

namespace meshos::apps {

// What SIGHUP does: reload (default) re-reads and validates the TLS files and keeps what the node had on any
// error; drain stops the node like SIGTERM (meshos-run passes it to nodes it starts through `ssh -tt`, whose
// hang-up is how they learn that the session ended).
enum class OnHangup { Reload, Drain };

struct CommandLine {
  std::string config_path;
  bool help = false;
  OnHangup on_hangup = OnHangup::Reload;
  // "section.key" -> value as written after '='; CLI values may be bare strings.
  std::vector<std::pair<std::string, std::string>> overrides;
};

// Kind "invalid_config": an argument that is neither --config, --help, --fresh-state (= --node.fresh-state=true),
// --on-hangup=drain|reload nor --section.key=value.
Result<CommandLine> parse_command_line(int argc, const char* const* argv);

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
  bool fresh_state = false; // an unusable state file is set aside and the node starts fresh
  OnHangup on_hangup = OnHangup::Reload;  // from the command line
};

// Every problem as one line (kind "invalid_config", or the loader's kind: key_file_not_found,
// invalid_key_file, invalid_operator_registry, invalid_tls, invalid_plugin), naming where it is.
Result<NodeProgramOptions> load_node_options(const CommandLine& command_line);

// The daemon's key: seed = BLAKE2s-MAC(node seed, "meshosd-daemon:" + name), so its id is stable across
// restarts of the same node and differs between nodes.
EntityKeypair daemon_keypair(const EntityKeypair& node_key, const std::string& daemon_name);

std::string usage_text();

}  // namespace meshos::apps
