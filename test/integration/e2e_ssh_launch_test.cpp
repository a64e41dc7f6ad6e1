// meshos-run's remote path: a node whose host is not local is started through `ssh HOST COMMAND`. An `ssh`
// stand-in first on PATH runs COMMAND here, so the launcher's own ssh invocation (options, quoting, output
// relay, port learning, stop by signal) is exercised without an ssh server. The "remote" node listens on
// 127.0.0.2, which is loopback too but not one of the hosts meshos-run treats as local.
#include <doctest/doctest.h>

#include "e2e_support.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

TEST_CASE("meshos-run starts a remote node through ssh, the cluster forms, and SIGTERM stops it cleanly") {
  const std::string root = scratch_dir("e2e-ssh");
  REQUIRE(make_test_certs(root + "/certs"));
  write_ssh_stand_in(root);
  const std::string node = "[meshos]\ntick-interval = 50ms\n[node]\nheartbeat-interval = 100ms\npeer-timeout = 1s\n";
  write_file(root + "/node-a.conf", node + "key-file = \"" + root + "/certs/node-a.key.json\"\nmembers-file = \"" + root + "/certs/members.json\"\n");
  write_file(root + "/node-b.conf",
             node + "key-file = \"" + root + "/certs/node-b.key.json\"\nmembers-file = \"" + root + "/certs/members.json\"\nlisten-host = \"127.0.0.2\"\n");
  write_file(root + "/cluster.conf", "[cluster]\nstop-timeout = 20s\nremote-meshosd = \"" + meshosd_path() +
                                         "\"\n[node-a]\nhost = \"127.0.0.1\"\nport = 0\nconfig = \"" + root +
                                         "/node-a.conf\"\n[node-b]\nhost = \"127.0.0.2\"\nport = 0\nconfig = \"" +
                                         root + "/node-b.conf\"\njoin = [\"node-a\"]\n");

  ClusterRun run({"/bin/sh", "-c",
                  "PATH='" + root + "/bin':\"$PATH\" exec '" + meshos_run_path() + "' '" + root +
                      "/cluster.conf' '--meshosd=" + meshosd_path() + "'"});
  auto nodes = run.wait_until_up({"node-a", "node-b"}, deadline_in(30s));
  INFO("meshos-run output:\n" << run.transcript());
  REQUIRE(nodes.size() == 2);
  CHECK(contains(run.transcript(), "node-b: starting (pid"));
  CHECK(contains(run.transcript(), "via ssh 127.0.0.2"));
  CHECK(read_file(root + "/ssh-host-127.0.0.2") == "ssh stand-in: host 127.0.0.2\n");  // really went through ssh

  SnapshotStream a(nodes["node-a"].address());
  CHECK(a.until([&](const MeshOsSnapshot& s) { return health_of(s, nodes["node-b"].node) == PeerHealth::Healthy; },
                deadline_in(30s)));

  const Exit e = run.stop();
  CHECK(e.exited);
  CHECK(e.code == 0);
}
