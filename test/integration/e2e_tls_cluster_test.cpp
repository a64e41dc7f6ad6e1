// The TLS cluster over the real programs: meshos-run starts three meshosd nodes whose certificates one CA
// signed (scripts/make-test-certs.sh) and they form; a meshosd holding a certificate from another CA, told to
// join, is never admitted; an operator without TLS is refused. Watched through meshos-ctl over TLS.
#include <doctest/doctest.h>

#include <algorithm>
#include <iostream>

#include "e2e_support.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kMembers = {"node-a", "node-b", "node-c"};

std::string tls_node_config(const std::string& dir, const std::string& name, const std::string& ca,
                            const std::string& extra_node_keys = "") {
  return "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir + "/" + name +
         ".key.json\"\nmembers-file = \"" + dir + "/members.json\"\nheartbeat-interval = 100ms\npeer-timeout = 1s\ndrain-deadline = 10s\n" + extra_node_keys +
         "\n[tls]\ncertificate = \"" + dir + "/" + name + ".pem\"\nkey = \"" + dir + "/" + name + ".key\"\nca-file = \"" +
         dir + "/" + ca + ".pem\"\n\n[daemons]\nbuiltin = [\"echo\"]\n";
}

// meshos-ctl's TLS options: a certificate the cluster CA signed, and the CA that signed the node it talks to.
std::vector<std::string> ctl_tls(const std::string& dir, const std::string& server_ca = "ca") {
  return {"--tls-cert", dir + "/node.pem", "--tls-key", dir + "/node.key", "--tls-ca", dir + "/" + server_ca + ".pem"};
}

// When the node first logged a refused connection attempt (its wall clock), if it has.
std::optional<std::int64_t> first_refusal_ms(const MeshOsSnapshot& s) {
  for (const auto& r : s.logs)
    if (r.message.find("cannot connect") != std::string::npos) return r.wall_ms;
  return std::nullopt;
}

}  // namespace

TEST_CASE("meshos-run forms a TLS cluster that never admits a node from another CA") {
  const std::string dir = scratch_dir("e2e-tls-cluster");
  REQUIRE(make_test_certs(dir));
  std::string cluster = "[cluster]\nstop-timeout = 20s\nrestart-initial = 60s\nrestart-max = 60s\n";
  for (const auto& name : kMembers) {
    write_file(dir + "/" + name + ".conf", tls_node_config(dir, name, "ca"));
    cluster += "\n[" + name + "]\nport = 0\nconfig = \"" + dir + "/" + name + ".conf\"\n" +
               (name == "node-a" ? "" : "join = [\"node-a\"]\n");
  }
  write_file(dir + "/cluster.conf", cluster);

  ClusterRun run({meshos_run_path(), dir + "/cluster.conf", "--meshosd=" + meshosd_path()});
  auto nodes = run.wait_until_up(kMembers, deadline_in(30s));
  INFO("meshos-run output:\n" << run.transcript());
  REQUIRE(nodes.size() == 3);

  // Every member sees the other two Healthy, as told over TLS.
  std::map<std::string, std::unique_ptr<SnapshotStream>> streams;
  for (const auto& name : kMembers) {
    streams[name] = std::make_unique<SnapshotStream>(nodes[name].address(), ctl_tls(dir), /*reopen=*/true);
    auto formed = streams[name]->until(
        [&](const MeshOsSnapshot& s) {
          std::size_t healthy = 0;
          for (const auto& other : kMembers)
            healthy += other != name && health_of(s, nodes[other].node) == PeerHealth::Healthy;
          return healthy == 2;
        },
        deadline_in(30s));
    INFO(name << " watch stderr: " << streams[name]->err());
    CHECK(formed);
  }

  // An operator without TLS does not get through.
  auto plain = run_ctl({"--node", nodes["node-a"].address(), "status"});
  INFO("plain status stdout: " << plain.out << "\nstderr: " << plain.err);
  CHECK(plain.exit.exited);
  CHECK(plain.exit.code == 1);
  CHECK(plain.err.rfind("meshos-ctl: ", 0) == 0);
  CHECK_FALSE(contains(plain.out, "node "));

  // The intruder trusts the cluster's CA but holds a certificate the foreign CA signed. It knocks rarely:
  // each refused handshake may disturb the member it knocks at.
  write_file(dir + "/foreign-node.conf",
             tls_node_config(dir, "foreign-node", "ca",
                             "listen-port = 0\npeers = [\"" + nodes["node-a"].address() +
                                 "\"]\nreconnect-initial = 500ms\nreconnect-max = 1s\n"));
  ChildProcess intruder({meshosd_path(), "--config", dir + "/foreign-node.conf"});
  auto intruder_line = intruder.wait_for_line("listening on", deadline_in(20s));
  INFO("intruder stderr: " << intruder.err());
  REQUIRE(intruder_line);
  auto intruder_start = parse_start_line(*intruder_line);
  REQUIRE(intruder_start);
  const NodeId intruder_id = intruder_start->node;

  // The intruder's first refusal, as its own log tells (it logs a refusal once per reason and keeps knocking
  // with its backoff). The observation window runs from there until each member has published a snapshot
  // 3 s later: the intruder knocks at least three more times meanwhile (reconnect-initial 500ms, max 1s).
  SnapshotStream intruder_stream("127.0.0.1:" + std::to_string(intruder_start->port), ctl_tls(dir, "foreign-ca"),
                                 /*reopen=*/true);
  std::size_t members_healthy_at_intruder = 0;
  auto count_members = [&](const MeshOsSnapshot& s) {
    for (const auto& name : kMembers) members_healthy_at_intruder += health_of(s, nodes[name].node) == PeerHealth::Healthy;
  };
  auto refused = intruder_stream.until([](const MeshOsSnapshot& s) { return first_refusal_ms(s).has_value(); },
                                       deadline_in(30s), count_members);
  INFO("intruder watch stderr: " << intruder_stream.err());
  REQUIRE(refused);
  const std::int64_t window_end_ms = *first_refusal_ms(*refused) + 3'000;
  auto after_window = [&](const MeshOsSnapshot& s) { return s.wall_ms >= window_end_ms; };
  for (const auto& name : kMembers) {
    std::size_t admitted = 0;
    auto reached = streams[name]->until(after_window, deadline_in(30s), [&](const MeshOsSnapshot& s) {
      admitted += health_of(s, intruder_id) == PeerHealth::Healthy;
    });
    INFO(name << " watch stderr: " << streams[name]->err());
    CHECK(reached);
    CHECK(admitted == 0);
  }
  CHECK(intruder_stream.until(after_window, deadline_in(30s), count_members));
  CHECK(members_healthy_at_intruder == 0);
  std::cout << "tls cluster: operator streams reopened during the intruder's knocks: intruder "
            << intruder_stream.reopened();
  for (const auto& name : kMembers) std::cout << ", " << name << " " << streams[name]->reopened();
  std::cout << std::endl;

  // Whatever the refusals disturbed, the members end up together again.
  for (const auto& name : kMembers) {
    CHECK(streams[name]->until(
        [&](const MeshOsSnapshot& s) {
          std::size_t healthy = 0;
          for (const auto& other : kMembers)
            healthy += other != name && health_of(s, nodes[other].node) == PeerHealth::Healthy;
          return healthy == 2 && health_of(s, intruder_id) != PeerHealth::Healthy;
        },
        deadline_in(30s)));
  }
  streams.clear();

  intruder.signal(SIGTERM);
  const Exit intruder_exit = intruder.wait_exit(deadline_in(30s));
  CHECK(intruder_exit.exited);
  CHECK(intruder_exit.code == 0);
  const Exit e = run.stop();
  CHECK(e.exited);
  CHECK(e.code == 0);
}
