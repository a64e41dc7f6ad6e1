// meshos-run starts a three-node loopback cluster on ephemeral ports; the nodes find each other; a node
// killed with SIGKILL is seen Unreachable by the others; a stopped (SIGSTOP) node is seen Unreachable and
// Healthy again after SIGCONT; SIGTERM to meshos-run drains every node and exits 0.
#include <doctest/doctest.h>

#include <map>

#include <nlohmann/json.hpp>

#include "meshos/node.hpp"
#include "meshos/snapshot.hpp"
#include "meshosd_process.hpp"


using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

namespace {

struct LaunchedNode {
  pid_t pid = -1;
  std::uint16_t port = 0;
  std::string node_id;
};

std::string node_config(const std::string& dir, const std::string& name) {
  return "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir + "/" + name +
         ".key.json\"\nmembers-file = \"" + dir + "/members.json\"\nheartbeat-interval = 100ms\npeer-timeout = 1s\nreconnect-initial = 100ms\n"
         "reconnect-max = 500ms\ndrain-deadline = 10s\n\n[daemons]\nbuiltin = [\"echo\", \"counter\"]\n";
}

// Reads meshos-run's output until all three nodes are up; their pids and ports.
std::map<std::string, LaunchedNode> wait_until_up(ChildProcess& run, Deadline deadline) {
  std::map<std::string, LaunchedNode> nodes;
  std::size_t up = 0;
  while (up < 3) {
    auto line = run.next_line(deadline);
    if (!line) break;
    for (const char* name : {"node-a", "node-b", "node-c"}) {
      const std::string prefix = "meshos-run: " + std::string(name) + ": ";
      if (line->rfind(prefix, 0) != 0) continue;
      const std::string rest = line->substr(prefix.size());
      if (rest.rfind("starting (pid ", 0) == 0) nodes[name].pid = std::stoi(rest.substr(14));
      if (rest.rfind("up (node ", 0) == 0) {
        nodes[name].node_id = rest.substr(9, rest.find(' ', 9) - 9);
        nodes[name].port = static_cast<std::uint16_t>(std::stoul(rest.substr(rest.rfind(':') + 1)));
        ++up;
      }
    }
  }
  return nodes;
}

// Follows `observer`'s snapshots until `done` holds for its peer table (true) or the stream ends.
bool watch_peers(std::uint16_t observer, const std::function<bool(const std::map<NodeId, PeerSnapshot>&)>& done) {
  auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", observer});
  if (!remote) return false;
  bool reached = false;
  (void)(*remote)->watch(
      [&](const std::string& text) {
        auto snapshot = snapshot_from_json(nlohmann::json::parse(text));
        if (snapshot && done(snapshot->peers)) reached = true;
        return !reached;
      },
      std::chrono::seconds(60));
  return reached;
}

// nullopt while the peer is not in the table at all (so "Unreachable" is never satisfied by its absence).
std::optional<PeerHealth> health_of(const std::map<NodeId, PeerSnapshot>& peers, const std::string& id) {
  std::uint64_t node = 0;
  if (!parse_hex_u64(id, node)) return std::nullopt;
  auto it = peers.find(node);
  if (it == peers.end()) return std::nullopt;
  return it->second.health;
}

}  // namespace

TEST_CASE("meshos-run forms a cluster that sees killed and frozen nodes") {
  const std::string dir = scratch_dir("meshos-run-cluster");
  REQUIRE(make_test_certs(dir));
  std::string cluster = "[cluster]\nstop-timeout = 20s\nrestart-initial = 60s\nrestart-max = 60s\n";
  for (const char* node_name : {"node-a", "node-b", "node-c"}) {
    const std::string name = node_name;
    write_file(dir + "/" + name + ".conf", node_config(dir, name));
    cluster += "\n[" + name + "]\nport = 0\nconfig = \"" + dir + "/" + name + ".conf\"\n" +
               (name == "node-a" ? "" : "join = [\"node-a\"]\n");
  }
  write_file(dir + "/cluster.conf", cluster);

  ChildProcess run({meshos_run_path(), dir + "/cluster.conf", "--meshosd=" + meshosd_path()});
  auto nodes = wait_until_up(run, deadline_in(30s));
  INFO("meshos-run output:\n" << run.out() << run.err());
  REQUIRE(nodes.size() == 3);
  const auto& a = nodes["node-a"];
  const auto& b = nodes["node-b"];
  const auto& c = nodes["node-c"];

  // Every node sees the other two (b and c learn each other through a).
  for (const auto* observer : {&a, &b, &c}) {
    CHECK(watch_peers(observer->port, [&](const auto& peers) {
      std::size_t healthy = 0;
      for (const auto* other : {&a, &b, &c}) {
        if (other != observer && health_of(peers, other->node_id) == PeerHealth::Healthy) ++healthy;
      }
      return healthy == 2;
    }));
  }

  // SIGSTOP: b stops answering without closing; a sees it Unreachable, then Healthy after SIGCONT.
  kill(b.pid, SIGSTOP);
  CHECK(watch_peers(a.port, [&](const auto& peers) { return health_of(peers, b.node_id) == PeerHealth::Unreachable; }));
  kill(b.pid, SIGCONT);
  CHECK(watch_peers(a.port, [&](const auto& peers) { return health_of(peers, b.node_id) == PeerHealth::Healthy; }));

  // SIGKILL: c is gone (meshos-run's restart is 60 s away); a and b see it Unreachable.
  kill(c.pid, SIGKILL);
  for (const auto* observer : {&a, &b}) {
    CHECK(watch_peers(observer->port,
                      [&](const auto& peers) { return health_of(peers, c.node_id) == PeerHealth::Unreachable; }));
  }

  run.signal(SIGTERM);
  const Exit e = run.wait_exit(deadline_in(60s));
  CHECK(e.exited);
  CHECK(e.code == 0);
  CHECK(run.out().find("node-a: stopped (exit code 0)") != std::string::npos);
  CHECK(run.out().find("node-b: stopped (exit code 0)") != std::string::npos);
}

TEST_CASE("meshos-run refuses a bad cluster file with every problem where it is, and exit 2") {
  const std::string dir = scratch_dir("meshos-run-bad");
  write_file(dir + "/cluster.conf",
             "[cluster]\nstop-timout = 1s\n\n[n]\nconfig = \"x.conf\"\nport = \"7001\"\njoin = [\"m\"]\n\n[m]\n");
  ChildProcess run({meshos_run_path(), dir + "/cluster.conf", "--cluster.restart-max=0s"});
  const Exit e = run.wait_exit(deadline_in(20s));
  INFO(run.err());
  CHECK(e.exited);
  CHECK(e.code == 2);
  const std::string file = dir + "/cluster.conf";
  for (const std::string& problem :
       {file + ":2: unknown key stop-timout in [cluster] (did you mean stop-timeout?)",
        file + ":6: [n] port: expected a value of type uint16, got \"7001\"",
        std::string("--cluster.restart-max: [cluster] restart-max: must be a positive duration"),
        file + ":7: [n] join: \"m\" comes later in the file (join earlier nodes)",
        file + ":9: [m] config: is required (the node's meshosd config)"}) {
    CAPTURE(problem);
    CHECK(run.err().find("meshos-run: " + problem + "\n") != std::string::npos);
  }
  CHECK(run.out().empty());
}
