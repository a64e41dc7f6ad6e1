// One cluster, not nodes that watch each other (issue 7): what one node's daemons offer is known on every
// node. Three-node loopback clusters, plain and TLS; meshos-ctl as a child process.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mesh_support.hpp"
#include "meshosd_process.hpp"

namespace meshos::test {

namespace {

CapabilityFilter requiring(const std::string& tag) {
  CapabilityFilter f;
  f.required_tags = {tag};
  return f;
}

bool finds(const MeshOsSnapshot& s, const CapabilityFilter& filter, NodeId node, DaemonId daemon) {
  auto found = find_daemons(s, filter);
  return std::any_of(found.begin(), found.end(),
                     [&](const DaemonLocation& d) { return d.node == node && d.daemon.id == daemon; });
}

// Whether `s` shows peer `node`'s inventory, as that node's probes report it, with this load.
bool shows_load_of(const MeshOsSnapshot& s, NodeId node, double load) {
  auto p = s.peers.find(node);
  return p != s.peers.end() && p->second.inventory && p->second.inventory->inventory.cpu_load_1m == load;
}

void capabilities_are_cluster_wide(TestPki* pki) {
  ThreeNodeCluster cluster(pki);
  auto& a = cluster[0];
  auto& c = cluster[2];
  auto key = EntityKeypair::generate();
  auto trainer = a.sdk().register_daemon(make_daemon("trainer", std::make_shared<DaemonProbe>()), key);
  REQUIRE(trainer);
  auto gpu = make_capability_set({"hardware.gpu", "region.eu"});
  REQUIRE(gpu);
  REQUIRE(trainer->publish_capabilities(*gpu));

  // Published on a, found from c (and from b, which learned of c only through gossip).
  for (std::size_t i : {1u, 2u}) {
    SnapshotWatch w(cluster[i].sdk());
    CHECK(w.seen([&](const MeshOsSnapshot& s) { return finds(s, requiring("hardware.gpu"), a.node_id(), key.origin_hash()); }));
  }
  auto found = c.find(requiring("hardware.gpu"));
  REQUIRE(found.size() == 1);
  CHECK(found[0].node == a.node_id());
  CHECK(found[0].daemon.name == "trainer");
  CHECK(found[0].daemon.capabilities.has("region.eu"));
  CHECK(c.find(requiring("hardware.tpu")).empty());

  // A change reaches the peers with their next heartbeat: c stops finding it under the old tag.
  auto cpu = make_capability_set({"hardware.cpu"});
  REQUIRE(cpu);
  REQUIRE(trainer->publish_capabilities(*cpu));
  SnapshotWatch wc(c.sdk());
  CHECK(wc.seen([&](const MeshOsSnapshot& s) {
    return !finds(s, requiring("hardware.gpu"), a.node_id(), key.origin_hash()) &&
           finds(s, requiring("hardware.cpu"), a.node_id(), key.origin_hash());
  }));

  // What a's probes report of a reaches its peers the same way; a change worth telling reaches them too.
  auto load = std::make_shared<std::atomic<double>>(0.5);
  auto inventory = a.sdk().attach_probe(Probe{"fixed", InventoryProbe([load] {
                                                 return std::vector<InventoryReading>{
                                                     {0, NodeInventory{load->load(), 1 << 20, 1 << 30}}};
                                               })});
  REQUIRE(inventory);
  const NodeId a_id = a.node_id();
  CHECK(wc.seen([&](const MeshOsSnapshot& s) { return shows_load_of(s, a_id, 0.5); }));
  load->store(2.0);
  CHECK(wc.seen([&](const MeshOsSnapshot& s) { return shows_load_of(s, a_id, 2.0); }));

  // meshos-ctl daemons --capability on c lists the daemon with its node.
  std::vector<std::string> args = {MESHOS_CTL_PATH, "--node", "127.0.0.1:" + std::to_string(c.port()), "daemons",
                                   "--capability", "hardware.cpu", "--json"};
  if (pki != nullptr) {
    for (auto extra : {"--tls-cert", cluster.operator_tls.certificate.c_str(), "--tls-key",
                       cluster.operator_tls.key.c_str(), "--tls-ca", cluster.operator_tls.ca_file.c_str()})
      args.emplace_back(extra);
  }
  ChildProcess ctl(args);
  auto exit = ctl.wait_exit(deadline_in(30s));
  INFO("meshos-ctl stderr: " << ctl.err());
  REQUIRE(exit.exited);
  REQUIRE(exit.code == 0);
  auto listed = nlohmann::json::parse(ctl.out());
  REQUIRE(listed.size() == 1);
  CHECK(listed[0]["node"] == to_hex(a.node_id()));
  CHECK(listed[0]["daemon"]["name"] == "trainer");
}

}  // namespace

TEST_CASE("a daemon's capabilities published on one node are found from every node (plain)") {
  capabilities_are_cluster_wide(nullptr);
}

TEST_CASE("a daemon's capabilities published on one node are found from every node (TLS)") {
  TestPki pki;
  pki.make_ca("ca");
  capabilities_are_cluster_wide(&pki);
}

}  // namespace meshos::test
