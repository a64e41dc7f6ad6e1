// meshos-ctl as a program against a live node: a MeshNode in this process (loopback, ephemeral port) with
// an operator registry, and meshos-ctl run as a child process for each command.
#include <doctest/doctest.h>

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "../actor/support.hpp"
#include "meshos/node.hpp"
#include "meshos/operators.hpp"
#include "e2e_support.hpp"
#include "meshosd_process.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

bool has_log(const MeshOsSnapshot& s, const std::string& message) {
  for (const auto& r : s.logs)
    if (r.message == message) return true;
  return false;
}

// An operator key made by meshos-ctl (`keygen`) in `dir`, and the registry holding it (`operator-entry`).
std::pair<std::string, OperatorRegistry> ctl_operator(const std::string& dir) {
  const std::string key = dir + "/alice.key";
  REQUIRE(run_ctl({"keygen", "--out", key, "--name", "alice"}).exit.code == 0);
  auto entry = run_ctl({"operator-entry", key});
  REQUIRE(entry.exit.code == 0);
  auto registry = OperatorRegistry::from_json(json{{"operators", json::array({json::parse(entry.out)})}});
  REQUIRE(registry);
  return {key, std::move(*registry)};
}

}  // namespace

TEST_CASE("meshos-ctl drives a live node: status, signed maintenance, refused unsigned commit, logs, peers") {
  const std::string dir = scratch_dir("ctl-node");
  const std::string key = dir + "/alice.key";

  auto keygen = run_ctl({"keygen", "--out", key, "--name", "alice"});
  INFO("keygen stderr: " << keygen.err);
  REQUIRE(keygen.exit.exited);
  REQUIRE(keygen.exit.code == 0);
  CHECK(contains(keygen.out, "operator_id"));
  auto entry = run_ctl({"operator-entry", key});
  REQUIRE(entry.exit.code == 0);
  auto registry = OperatorRegistry::from_json(json{{"operators", json::array({json::parse(entry.out)})}});
  REQUIRE(registry);

  SdkOptions options;
  options.verifier = std::make_shared<AdminVerifier>(*registry, 1);
  MeshOsConfig config = fast_config();
  auto node = MeshNode::start(config, NetworkOptions{}, nullptr, options);
  REQUIRE_MESSAGE(node, (node ? "" : node.error().to_string()));
  const std::string address = "127.0.0.1:" + std::to_string((*node)->port());
  SnapshotWatch watch((*node)->sdk());

  auto probe = std::make_shared<DaemonProbe>();
  auto handle = (*node)->sdk().register_daemon(make_daemon("quiet", probe), EntityKeypair::generate());
  REQUIRE(handle);
  REQUIRE(handle->publish_log(LogLevel::Warn, "hello-from-ctl-test"));
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) {
    auto it = s.daemons.find(handle->daemon_id());
    return has_log(s, "hello-from-ctl-test") && it != s.daemons.end() &&
           it->second.lifecycle == DaemonLifecycleState::Running;
  }));

  auto status = run_ctl({"--node", address, "status"});
  INFO("status stdout: " << status.out << "\nstderr: " << status.err);
  CHECK(status.exit.code == 0);
  CHECK(contains(status.out, "node " + to_hex((*node)->node_id())));
  CHECK(contains(status.out, "maintenance: active"));
  CHECK(contains(status.out, "quiet"));
  CHECK(contains(status.out, "running"));

  // This node verifies signatures: an unsigned commit is refused, audited, and the exit code says so.
  auto unsigned_enter = run_ctl({"--node", address, "maintenance", "enter", "--drain-for", "2s"});
  INFO("unsigned stderr: " << unsigned_enter.err);
  CHECK(unsigned_enter.exit.code == 1);
  CHECK(unsigned_enter.err.rfind("meshos-ctl: not_authorized: ", 0) == 0);

  auto enter = run_ctl({"--node", address, "--key", key, "maintenance", "enter", "--drain-for", "2s"});
  INFO("enter stdout: " << enter.out << "\nstderr: " << enter.err);
  CHECK(enter.exit.code == 0);
  CHECK(contains(enter.out, "enter_maintenance: accepted"));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return kind_of(s.local_maintenance) != MaintenanceKind::Active; }));

  auto after = run_ctl({"--node", address, "status"});
  INFO("status after: " << after.out);
  CHECK(after.exit.code == 0);
  CHECK_FALSE(contains(after.out, "maintenance: active"));
  // The unsigned attempt is a stranger's: counted, not kept as a record naming an author.
  CHECK(contains(after.out, "refused from strangers (no registered operator's signature): 1 (not_authorized 1)"));
  CHECK(contains(after.out, "admin enter_maintenance  unsigned  rejected not_authorized"));
  CHECK(contains(after.out, "enter_maintenance  by alice (" +
                                to_hex(options.verifier->registry().keys().begin()->first) + ")  accepted"));

  auto logs = run_ctl({"--node", address, "logs", "--level", "warn", "--daemon", to_hex(handle->daemon_id())});
  INFO("logs: " << logs.out << logs.err);
  CHECK(logs.exit.code == 0);
  CHECK(contains(logs.out, "warn   quiet             hello-from-ctl-test"));  // the daemon by its name
  auto quiet_logs = run_ctl({"--node", address, "logs", "--level", "error"});
  CHECK(quiet_logs.exit.code == 0);
  CHECK_FALSE(contains(quiet_logs.out, "hello-from-ctl-test"));

  auto snapshot = run_ctl({"--node", address, "snapshot"});
  CHECK(snapshot.exit.code == 0);
  auto parsed = snapshot_from_json(json::parse(snapshot.out, nullptr, false));
  REQUIRE(parsed);
  CHECK(parsed->node_id == (*node)->node_id());

  // The streaming commands run until the connection ends: read what they print, then stop them.
  {
    ChildProcess watcher({MESHOS_CTL_PATH, "--node", address, "snapshot", "--watch"});
    auto line = watcher.next_line(deadline_in(20s));
    INFO("watch stderr: " << watcher.err());
    REQUIRE(line);
    auto pushed = snapshot_from_json(json::parse(*line, nullptr, false));
    REQUIRE(pushed);
    CHECK(pushed->node_id == (*node)->node_id());
  }
  {
    ChildProcess follower({MESHOS_CTL_PATH, "--node", address, "logs", "--follow"});
    auto line = follower.wait_for_line("hello-from-ctl-test", deadline_in(20s));
    INFO("follow stderr: " << follower.err());
    CHECK(line);
  }

  auto peers = run_ctl({"--node", address, "--json", "peers"});
  CHECK(peers.exit.code == 0);
  CHECK(json::parse(peers.out, nullptr, false).is_object());

  auto bad = run_ctl({"--node", address, "maintenance", "sideways"});
  CHECK(bad.exit.code == 2);
  CHECK(bad.err.rfind("meshos-ctl: usage: ", 0) == 0);

  handle = SdkError{Errc::already_shutdown, "released before shutdown"};
  auto stats = (*node)->shutdown(10s);
  CHECK(stats);
}

TEST_CASE("meshos-ctl signs for the node it asks and for its cluster: another target or cluster is refused") {
  const auto made = ctl_operator(scratch_dir("ctl-node-target"));
  const std::string& key = made.first;
  const OperatorRegistry& registry = made.second;
  SdkOptions options;
  VerifierPolicy policy;
  policy.cluster = "blue";
  options.verifier = std::make_shared<AdminVerifier>(registry, 1, policy);
  auto node = MeshNode::start(fast_config(), NetworkOptions{}, nullptr, options);
  REQUIRE_MESSAGE(node, (node ? "" : node.error().to_string()));
  const std::string address = "127.0.0.1:" + std::to_string((*node)->port());
  SnapshotWatch watch((*node)->sdk());

  // Signed for another node: this one refuses it, under the operator's name.
  const std::string other = to_hex((*node)->node_id() ^ 1);
  auto elsewhere = run_ctl({"--node", address, "--key", key, "--cluster", "blue", "--target", other, "maintenance", "enter"});
  INFO("elsewhere stderr: " << elsewhere.err);
  CHECK(elsewhere.exit.code == 1);
  CHECK(elsewhere.err.rfind("meshos-ctl: wrong_node: ", 0) == 0);
  // 0 is no node: refused before anything is sent.
  auto nobody = run_ctl({"--node", address, "--key", key, "--target", "0", "maintenance", "enter"});
  CHECK(nobody.exit.code == 2);
  CHECK(nobody.err.rfind("meshos-ctl: invalid_argument: ", 0) == 0);

  // Signed for another cluster (the default one): refused as wrong_cluster.
  auto other_cluster = run_ctl({"--node", address, "--key", key, "--cluster", "green", "maintenance", "enter"});
  INFO("other cluster stderr: " << other_cluster.err);
  CHECK(other_cluster.exit.code == 1);
  CHECK(other_cluster.err.rfind("meshos-ctl: wrong_cluster: ", 0) == 0);
  CHECK(contains(other_cluster.err, "this node belongs to cluster \"blue\""));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return s.audit.size() == 2; }));
  CHECK(kind_of((*node)->sdk().snapshot()->local_maintenance) == MaintenanceKind::Active);

  // Without --target, meshos-ctl asks the node who it is and signs for exactly that node.
  auto enter = run_ctl({"--node", address, "--key", key, "--cluster", "blue", "maintenance", "enter", "--drain-for", "1s"});
  INFO("enter stdout: " << enter.out << "\nstderr: " << enter.err);
  CHECK(enter.exit.code == 0);
  CHECK(contains(enter.out, "enter_maintenance: accepted"));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return kind_of(s.local_maintenance) != MaintenanceKind::Active; }));

  auto stats = (*node)->shutdown(10s);
  CHECK(stats);
}

TEST_CASE("meshos-ctl cordon, uncordon, daemon restart NAME and drain --deadline change a live node") {
  const auto made = ctl_operator(scratch_dir("ctl-node-ops"));
  const std::string& key = made.first;
  const OperatorRegistry& registry = made.second;
  SdkOptions options;
  options.verifier = std::make_shared<AdminVerifier>(registry, 1);
  auto node = MeshNode::start(fast_config(), NetworkOptions{}, nullptr, options);
  REQUIRE_MESSAGE(node, (node ? "" : node.error().to_string()));
  const std::string address = "127.0.0.1:" + std::to_string((*node)->port());
  SnapshotWatch watch((*node)->sdk());
  auto probe = std::make_shared<DaemonProbe>();
  auto handle = (*node)->sdk().register_daemon(make_daemon("keeper", probe, /*stateful=*/true), EntityKeypair::generate());
  REQUIRE(handle);
  auto running = [&](const MeshOsSnapshot& s) {
    auto it = s.daemons.find(handle->daemon_id());
    return it != s.daemons.end() && it->second.lifecycle == DaemonLifecycleState::Running;
  };
  REQUIRE(watch.seen(running));
  auto commit = [&](std::vector<std::string> words) {
    std::vector<std::string> args = {"--node", address, "--key", key};
    args.insert(args.end(), words.begin(), words.end());
    auto run = run_ctl(args);
    INFO(words[0] << ": " << run.out << run.err);
    CHECK(run.exit.code == 0);
    return run.out;
  };

  CHECK(contains(commit({"cordon"}), "cordon: accepted"));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return s.cordoned; }));
  CHECK(contains(commit({"uncordon"}), "uncordon: accepted"));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return !s.cordoned; }));

  // A restart stops the daemon (its state taken) and starts it again (the state given back).
  CHECK(contains(commit({"daemon", "restart", "keeper"}), "restart_daemon: accepted"));
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return probe->restores.load() >= 1 && running(s); }));
  auto unknown = run_ctl({"--node", address, "--key", key, "daemon", "restart", "nobody"});
  CHECK(unknown.exit.code == 1);
  CHECK(unknown.err.rfind("meshos-ctl: unknown_daemon: ", 0) == 0);

  CHECK(contains(commit({"drain", "--deadline", "5s"}), "enter_maintenance: accepted"));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return kind_of(s.local_maintenance) == MaintenanceKind::Maintenance; }));

  handle = SdkError{Errc::already_shutdown, "released before shutdown"};
  CHECK((*node)->shutdown(10s));
}
