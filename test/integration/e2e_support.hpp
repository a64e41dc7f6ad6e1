#pragma once
// Shared by the end-to-end suites (e2e_*_test.cpp): meshos-ctl run as a child process, a snapshot stream read
// from `meshos-ctl snapshot --watch` against a deadline, and the lines meshosd / meshos-run print when they
// are up. Everything the tests observe goes through the real programs; every child is reaped by its handle.
#include <doctest/doctest.h>

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/snapshot.hpp"
#include "meshos/types.hpp"
#include "meshosd_process.hpp"

namespace meshos::test {

struct CtlRun {
  Exit exit;
  std::string out;
  std::string err;
};

inline CtlRun run_ctl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {MESHOS_CTL_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess child(argv);
  CtlRun run;
  run.exit = child.wait_exit(deadline_in(std::chrono::seconds(30)));
  run.out = child.out();
  run.err = child.err();
  return run;
}

inline bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// An operator's key made by `meshos-ctl keygen`, and the operator id it printed.
struct Operator {
  std::string key_file;
  std::string id_hex;
};

inline Operator make_operator(const std::string& dir, const std::string& name) {
  Operator op{dir + "/" + name + ".key.json", ""};
  auto keygen = run_ctl({"--json", "keygen", "--out", op.key_file, "--name", name});
  INFO("keygen stderr: " << keygen.err);
  REQUIRE(keygen.exit.code == 0);
  op.id_hex = nlohmann::json::parse(keygen.out).at("operator_id").get<std::string>();
  return op;
}

// An operator registry holding `op` alone, from `meshos-ctl operator-entry`.
inline void write_operator_registry(const std::string& path, const Operator& op) {
  auto entry = run_ctl({"operator-entry", op.key_file});
  REQUIRE(entry.exit.code == 0);
  write_file(path, nlohmann::json{{"operators", nlohmann::json::array({nlohmann::json::parse(entry.out)})}}.dump());
}

// `meshos-ctl snapshot --watch` against one node: each pushed snapshot is one stdout line. With `reopen`, a
// stream the node ends (connection_lost) is opened again until the deadline: for nodes whose connections
// CAF 0.17's TLS layer drops when a handshake is refused.
class SnapshotStream {
 public:
  SnapshotStream(const std::string& address, const std::vector<std::string>& tls_args = {}, bool reopen = false)
      : argv_(argv(address, tls_args)), reopen_(reopen) {
    child_.emplace(argv_);
  }

  // Reads pushed snapshots until `done` holds for one (that snapshot), or nullopt at the deadline or when the
  // stream ends. `each`, when given, sees every snapshot read on the way, the last one included.
  std::optional<MeshOsSnapshot> until(const std::function<bool(const MeshOsSnapshot&)>& done, Deadline deadline,
                                      const std::function<void(const MeshOsSnapshot&)>& each = {}) {
    for (;;) {
      while (auto line = child_->next_line(deadline)) {
        auto snapshot = snapshot_from_json(nlohmann::json::parse(*line, nullptr, false));
        if (!snapshot) continue;
        if (each) each(*snapshot);
        if (done(*snapshot)) return std::move(*snapshot);
      }
      if (!reopen_ || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      (void)child_->wait_exit(deadline);
      errors_ += child_->err();
      child_.emplace(argv_);
      ++reopened_;
    }
  }
  std::string err() const { return errors_ + child_->err(); }
  std::size_t reopened() const { return reopened_; }

 private:
  static std::vector<std::string> argv(const std::string& address, const std::vector<std::string>& tls_args) {
    std::vector<std::string> a = {MESHOS_CTL_PATH, "--node", address};
    a.insert(a.end(), tls_args.begin(), tls_args.end());
    a.push_back("snapshot");
    a.push_back("--watch");
    return a;
  }
  std::vector<std::string> argv_;
  bool reopen_ = false;
  std::optional<ChildProcess> child_;
  std::string errors_;
  std::size_t reopened_ = 0;
};

// nullopt while the peer is not in the table at all (its absence is neither Healthy nor Unreachable).
inline std::optional<PeerHealth> health_of(const MeshOsSnapshot& s, NodeId peer) {
  auto it = s.peers.find(peer);
  if (it == s.peers.end()) return std::nullopt;
  return it->second.health;
}

inline std::size_t running_daemons(const MeshOsSnapshot& s) {
  std::size_t running = 0;
  for (const auto& [id, d] : s.daemons) running += d.lifecycle == DaemonLifecycleState::Running;
  return running;
}

// meshosd's start line: "meshosd: node <hex> listening on <host>:<port>[ (tls)], daemons: ...".
struct StartLine {
  NodeId node = 0;
  std::uint16_t port = 0;
};
inline std::optional<StartLine> parse_start_line(const std::string& line) {
  const std::string node_word = "meshosd: node ";
  const auto node_at = line.find(node_word);
  const auto listening_at = line.find(" listening on ");
  if (node_at == std::string::npos || listening_at == std::string::npos) return std::nullopt;
  StartLine s;
  const std::string hex = line.substr(node_at + node_word.size(), listening_at - node_at - node_word.size());
  if (!parse_hex_u64(hex, s.node)) return std::nullopt;
  const auto colon = line.find(':', listening_at + 14);
  if (colon == std::string::npos) return std::nullopt;
  s.port = static_cast<std::uint16_t>(std::stoul(line.substr(colon + 1)));
  return s;
}

// A node as meshos-run reports it: "meshos-run: <name>: starting (pid N)" then "... up (node <hex> at h:p)".
struct LaunchedNode {
  pid_t pid = -1;
  NodeId node = 0;
  std::uint16_t port = 0;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
};

// Reads meshos-run's output until every named node has reported "up" (again, for a restart); the nodes seen.
inline std::map<std::string, LaunchedNode> wait_until_up(ChildProcess& run, const std::vector<std::string>& names,
                                                         Deadline deadline) {
  std::map<std::string, LaunchedNode> nodes;
  std::size_t up = 0;
  while (up < names.size()) {
    auto line = run.next_line(deadline);
    if (!line) break;
    for (const auto& name : names) {
      const std::string prefix = "meshos-run: " + name + ": ";
      if (line->rfind(prefix, 0) != 0) continue;
      const std::string rest = line->substr(prefix.size());
      if (rest.rfind("starting (pid ", 0) == 0) nodes[name].pid = std::stoi(rest.substr(14));
      if (rest.rfind("up (node ", 0) == 0) {
        if (!parse_hex_u64(rest.substr(9, rest.find(' ', 9) - 9), nodes[name].node)) continue;
        nodes[name].port = static_cast<std::uint16_t>(std::stoul(rest.substr(rest.rfind(':') + 1)));
        ++up;
      }
    }
  }
  return nodes;
}

// meshos-run as a child, stopped with SIGTERM (it drains its nodes) when the test is done or fails: SIGKILL
// alone would leave its meshosd children running. Nodes still alive after its stop timeout are killed.
class ClusterRun {
 public:
  explicit ClusterRun(const std::vector<std::string>& argv) : process_(argv) {}
  ~ClusterRun() {
    if (!stopped_) (void)stop();
  }
  ClusterRun(const ClusterRun&) = delete;
  ClusterRun& operator=(const ClusterRun&) = delete;

  std::map<std::string, LaunchedNode> wait_until_up(const std::vector<std::string>& names, Deadline deadline) {
    auto up = meshos::test::wait_until_up(process_, names, deadline);
    for (const auto& [name, node] : up)
      if (node.pid > 0) pids_.push_back(node.pid);
    return up;
  }
  Exit stop() {
    stopped_ = true;
    for (pid_t pid : pids_) kill(pid, SIGCONT);  // a stopped node cannot drain
    process_.signal(SIGTERM);
    const Exit e = process_.wait_exit(deadline_in(std::chrono::seconds(60)));
    if (!e.exited || e.code != 0) {
      for (pid_t pid : pids_) kill(pid, SIGKILL);
    }
    return e;
  }
  std::string transcript() const { return process_.out() + process_.err(); }

 private:
  ChildProcess process_;
  std::vector<pid_t> pids_;
  bool stopped_ = false;
};

}  // namespace meshos::test
