#pragma once
// The cluster description meshos-run reads: a CAF config file (read by CAF's config system, checked by
// StrictConfig), one [cluster] section and one section per node, in start order. Relative paths (meshosd, a
// local node's config) are taken from the cluster file's folder.
//
//   [cluster]
//   meshosd = "../build/apps/meshosd/meshosd" ; optional: the program for local nodes
//   remote-meshosd = "meshosd"               ; optional: the program on remote hosts (found in their PATH)
//   stop-timeout = 30s                       ; SIGTERM to SIGKILL
//   restart-initial = 500ms                  ; backoff of a node that died, doubling ...
//   restart-max = 30s                        ; ... up to this
//
//   [node-a]
//   host = "127.0.0.1"                       ; 127.0.0.1 / localhost / ::1: a child process; else `ssh host`
//   port = 7001                              ; 0 = ephemeral (learned from the node's start line)
//   config = "cluster/node-a.conf"           ; the node's meshosd config (on a remote host: as given)
//   join = ["node-b"]                        ; optional: nodes of this cluster to join (started first)
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "meshos/result.hpp"

namespace meshos::apps {

struct ClusterNode {
  std::string name;
  std::string host = "127.0.0.1";
  std::uint16_t port = 0;
  std::string config;
  std::vector<std::string> join;
  bool is_local() const { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }
};

struct ClusterDescription {
  std::string meshosd;  // empty: next to meshos-run
  std::string remote_meshosd = "meshosd";
  std::chrono::milliseconds stop_timeout{30'000};
  std::chrono::milliseconds restart_initial{500};
  std::chrono::milliseconds restart_max{30'000};
  std::vector<ClusterNode> nodes;
};

// Kind "invalid_config" (every problem, one per line, each with the file and line), or "config_not_found".
// `overrides`: --section.key=value arguments, over the file.
Result<ClusterDescription> load_cluster_file(const std::string& path, const std::vector<std::string>& overrides = {});

}  // namespace meshos::apps
