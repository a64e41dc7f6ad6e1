// The committed three-node example (conf/cluster-3.conf with conf/cluster/node-*.conf, their own heartbeat
// and peer-timeout settings) under meshos-run, with ephemeral ports: a frozen node (SIGSTOP) is seen
// Unreachable and Healthy again after SIGCONT; a killed node (SIGKILL) is seen Unreachable, and Healthy again
// once meshos-run has restarted it. Detection times are measured and printed; only a generous bound is
// asserted, since test machines are loaded.
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <iostream>
#include <regex>

#include "e2e_support.hpp"
#include "meshos/time.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kNodes = {"node-a", "node-b", "node-c"};
constexpr std::int64_t kDetectionBoundMs = 10'000;

// The example's paths are relative to its files (conf/cluster/*.conf name ../../build/certs): a scratch root
// with conf/cluster linked in and the throwaway keys where the example expects them (build/certs).
std::string example_root() {
  const std::string root = scratch_dir("e2e-cluster-3");
  REQUIRE(make_test_certs(root + "/build/certs"));
  REQUIRE(mkdir((root + "/conf").c_str(), 0700) == 0);
  REQUIRE(symlink((std::string(MESHOS_SOURCE_DIR) + "/conf/cluster").c_str(), (root + "/conf/cluster").c_str()) == 0);
  // Ephemeral ports instead of 7001..7003 (tests run side by side), and a restart backoff well above the
  // detection bound, so that the killed node is seen gone before meshos-run brings it back.
  std::string cluster = read_file(std::string(MESHOS_SOURCE_DIR) + "/conf/cluster-3.conf");
  cluster = std::regex_replace(cluster, std::regex("\nport = [0-9]+"), "\nport = 0");
  cluster = std::regex_replace(cluster, std::regex("\nrestart-initial = [^\n]*"), "\nrestart-initial = 12s");
  REQUIRE(contains(cluster, "restart-initial = 12s"));
  write_file(root + "/conf/cluster-3.conf", cluster);
  return root;
}

// Waits on the observers' streams until each has published a snapshot where `peer` has health `h`; the
// slowest observer's delay from `since_wall_ms` (by the snapshots' own publication times), or nullopt.
std::optional<std::int64_t> seen_by_all(std::map<std::string, std::unique_ptr<SnapshotStream>>& streams,
                                        const std::vector<std::string>& observers, NodeId peer, PeerHealth h,
                                        std::int64_t since_wall_ms) {
  std::int64_t slowest = 0;
  for (const auto& name : observers) {
    auto seen = streams[name]->until([&](const MeshOsSnapshot& s) { return health_of(s, peer) == h; },
                                     deadline_in(std::chrono::milliseconds(kDetectionBoundMs + 20'000)));
    if (!seen) return std::nullopt;
    slowest = std::max(slowest, seen->wall_ms - since_wall_ms);
  }
  return slowest;
}

}  // namespace

TEST_CASE("the conf cluster-3 example under meshos-run sees frozen and killed nodes and re-admits them") {
  const std::string root = example_root();
  ClusterRun run({"/bin/sh", "-c", "cd '" + root + "' && exec '" + meshos_run_path() + "' conf/cluster-3.conf '--meshosd=" +
                                       meshosd_path() + "'"});
  auto nodes = run.wait_until_up(kNodes, deadline_in(30s));
  INFO("meshos-run output:\n" << run.transcript());
  REQUIRE(nodes.size() == 3);

  std::map<std::string, std::unique_ptr<SnapshotStream>> streams;
  for (const auto& name : kNodes) {
    // Reopened when it ends: the stream to the stopped node is closed by meshos-ctl's own idle timeout while
    // that node is frozen (longer under sanitizers), and the test reads that node's stream again later.
    streams[name] = std::make_unique<SnapshotStream>(nodes[name].address(), std::vector<std::string>{}, /*reopen=*/true);
    CHECK(streams[name]->until(
        [&](const MeshOsSnapshot& s) {
          std::size_t healthy = 0;
          for (const auto& other : kNodes)
            healthy += other != name && health_of(s, nodes[other].node) == PeerHealth::Healthy;
          return healthy == 2;
        },
        deadline_in(30s)));
  }

  // SIGSTOP: node-b stops answering without closing its connections.
  const std::int64_t stopped_at = wall_clock_ms();
  REQUIRE(kill(nodes["node-b"].pid, SIGSTOP) == 0);
  auto frozen = seen_by_all(streams, {"node-a", "node-c"}, nodes["node-b"].node, PeerHealth::Unreachable, stopped_at);
  const std::int64_t continued_at = wall_clock_ms();
  kill(nodes["node-b"].pid, SIGCONT);
  auto thawed = seen_by_all(streams, {"node-a", "node-c"}, nodes["node-b"].node, PeerHealth::Healthy, continued_at);
  std::cout << "cluster-3: SIGSTOP seen Unreachable by both others after "
            << (frozen ? std::to_string(*frozen) + " ms" : std::string("(never)")) << ", Healthy again "
            << (thawed ? std::to_string(*thawed) + " ms" : std::string("(never)")) << " after SIGCONT" << std::endl;
  REQUIRE(frozen);
  CHECK(*frozen <= kDetectionBoundMs);
  REQUIRE(thawed);
  CHECK(*thawed <= kDetectionBoundMs);

  // SIGKILL: node-c's connections close; meshos-run restarts it after its backoff, under the same node id.
  const std::int64_t killed_at = wall_clock_ms();
  REQUIRE(kill(nodes["node-c"].pid, SIGKILL) == 0);
  auto gone = seen_by_all(streams, {"node-a", "node-b"}, nodes["node-c"].node, PeerHealth::Unreachable, killed_at);
  std::cout << "cluster-3: SIGKILL seen Unreachable by both others after "
            << (gone ? std::to_string(*gone) + " ms" : std::string("(never)")) << std::endl;
  REQUIRE(gone);
  CHECK(*gone <= kDetectionBoundMs);
  streams.erase("node-c");

  auto restarted = run.wait_until_up({"node-c"}, deadline_in(60s));
  REQUIRE(restarted.count("node-c") == 1);
  CHECK(restarted["node-c"].node == nodes["node-c"].node);
  const std::int64_t restarted_at = wall_clock_ms();
  auto back = seen_by_all(streams, {"node-a", "node-b"}, nodes["node-c"].node, PeerHealth::Healthy, restarted_at);
  std::cout << "cluster-3: restarted node Healthy again "
            << (back ? std::to_string(*back) + " ms" : std::string("(never)")) << " after meshos-run reported it up"
            << std::endl;
  CHECK(back);

  streams.clear();
  const Exit e = run.stop();
  CHECK(e.exited);
  CHECK(e.code == 0);
}
