// The blast radius of break-glass proposals (simulate) and its hash, the value operators sign.
#include <doctest/doctest.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/blast_radius.hpp"
#include "meshos/canonical.hpp"
#include "meshos/identity.hpp"

using namespace meshos;

namespace {

constexpr NodeId kHere = 0xA;
constexpr NodeId kPeerB = 0xB;
constexpr NodeId kPeerC = 0xC;
constexpr DaemonId kLocal = 0xD1;
constexpr DaemonId kAtB = 0xD2;
constexpr DaemonId kOnBoth = 0xD3;
constexpr std::uint64_t kMigration = 9;

// Node A hosts D1 and D3 and is moving D1 to B; B hosts D2 and D3; C hosts nothing; A avoids C.
MeshOsSnapshot cluster_seen_from_a() {
  MeshOsSnapshot s;
  s.node_id = kHere;
  s.daemons.insert_or_assign(kLocal, DaemonSnapshot{});
  s.daemons.insert_or_assign(kOnBoth, DaemonSnapshot{});
  PeerSnapshot b;
  b.node = kPeerB;
  b.daemons = {DaemonDescription{kAtB, "b-daemon", {}, true}, DaemonDescription{kOnBoth, "both", {}, true}};
  s.peers[kPeerB] = b;
  PeerSnapshot c;
  c.node = kPeerC;
  s.peers[kPeerC] = c;
  s.avoid = {AvoidSnapshot{kPeerC, "slow", 1000}};
  s.migrations = {MigrationSnapshot{kMigration, kLocal, kPeerB, "snapshotting"}};
  return s;
}

BlastRadius radius(std::vector<NodeId> nodes, std::vector<DaemonId> daemons, std::vector<NodeId> peers) {
  BlastRadius r;
  r.nodes = std::move(nodes);
  r.daemons = std::move(daemons);
  r.peers = std::move(peers);
  return r;
}

}  // namespace

TEST_CASE("simulate: each break-glass action's nodes, daemons and peers, as one node sees the cluster") {
  const MeshOsSnapshot s = cluster_seen_from_a();
  const std::vector<NodeId> all{kHere, kPeerB, kPeerC};
  CHECK(simulate(ice::FreezeCluster{60'000}, s) == radius(all, {}, {}));
  CHECK(simulate(ice::ThawCluster{}, s) == radius(all, {}, {}));
  CHECK(simulate(ice::FlushAvoidLists{avoid_scope::Global{}}, s) == radius(all, {}, {kPeerC}));
  CHECK(simulate(ice::FlushAvoidLists{avoid_scope::Local{kHere}}, s) == radius({kHere}, {}, {kPeerC}));
  // Another node's avoid list is not seen from here: the radius names the node only.
  CHECK(simulate(ice::FlushAvoidLists{avoid_scope::Local{kPeerB}}, s) == radius({kPeerB}, {}, {}));
  CHECK(simulate(ice::FlushAvoidLists{avoid_scope::OnPeer{kPeerB}}, s) == radius(all, {}, {kPeerB}));
  CHECK(simulate(ice::ForceRestartDaemon{kLocal}, s) == radius({kHere}, {kLocal}, {}));
  CHECK(simulate(ice::ForceRestartDaemon{kAtB}, s) == radius({kPeerB}, {kAtB}, {}));
  CHECK(simulate(ice::ForceRestartDaemon{kOnBoth}, s) == radius({kHere, kPeerB}, {kOnBoth}, {}));
  CHECK(simulate(ice::ForceRestartDaemon{0xEEEE}, s) == radius({}, {0xEEEE}, {}));  // hosted nowhere known
  CHECK(simulate(ice::KillMigration{kMigration}, s) == radius({kHere, kPeerB}, {kLocal}, {}));
  CHECK(simulate(ice::KillMigration{kMigration + 1}, s) == BlastRadius{});

  // A node alone: its freeze reaches itself only.
  MeshOsSnapshot alone;
  alone.node_id = kHere;
  CHECK(simulate(ice::FreezeCluster{1}, alone) == radius({kHere}, {}, {}));
}

TEST_CASE("simulate: lists come out ascending without repeats, whatever order the snapshot holds them in") {
  MeshOsSnapshot s = cluster_seen_from_a();
  s.avoid = {AvoidSnapshot{kPeerC, "", 1}, AvoidSnapshot{kPeerB, "", 1}, AvoidSnapshot{kPeerC, "", 2}};
  CHECK(simulate(ice::FlushAvoidLists{avoid_scope::Global{}}, s).peers == std::vector<NodeId>{kPeerB, kPeerC});
  s.node_id = 0xF;  // this node's id above its peers' ids
  CHECK(simulate(ice::ThawCluster{}, s).nodes == std::vector<NodeId>{kPeerB, kPeerC, 0xF});
}

TEST_CASE("blast_radius_hash: BLAKE2s-256 keyed meshos-blast-radius over the documented bytes") {
  const BlastRadius r = radius({kHere, kPeerB}, {kLocal}, {});
  CanonicalWriter w;  // libmeshos/docs/signing.md, "Blast radius"
  w.domain("meshos/blast-radius/v1");
  w.u32(2);
  w.u64(kHere);
  w.u64(kPeerB);
  w.u32(1);
  w.u64(kLocal);
  w.u32(0);
  const Bytes bytes = w.take();
  REQUIRE(bytes.size() == std::strlen("meshos/blast-radius/v1") + 1 + 4 + 16 + 4 + 8 + 4);
  const char key[] = "meshos-blast-radius";
  CHECK(blast_radius_hash(r) ==
        blake2s_mac(reinterpret_cast<const std::uint8_t*>(key), std::strlen(key), bytes.data(), bytes.size()));
}

TEST_CASE("blast_radius_hash: equal radii hash equally, a radius that differs anywhere hashes differently") {
  const BlastRadius base = radius({1, 2}, {3}, {4});
  CHECK(blast_radius_hash(base) == blast_radius_hash(radius({1, 2}, {3}, {4})));
  const std::vector<BlastRadius> others = {radius({1}, {3}, {4}), radius({1, 2, 5}, {3}, {4}), radius({1, 2}, {}, {4}),
                                           radius({1, 2}, {3}, {}), radius({1, 2}, {4}, {3}),
                                           // the same ids moved between lists
                                           radius({1, 2, 3}, {}, {4})};
  for (const auto& other : others) CHECK(blast_radius_hash(other) != blast_radius_hash(base));
  // The empty radius is a radius too, never the all-zero "not simulated".
  const BlastRadiusHash empty = blast_radius_hash(BlastRadius{});
  CHECK(empty != BlastRadiusHash{});
}

TEST_CASE("a blast radius in JSON lists ids in hex, as meshos-ctl shows it") {
  const nlohmann::json j = radius({kHere}, {kLocal}, {kPeerC});
  CHECK(j == nlohmann::json::parse(R"({"nodes": ["000000000000000a"], "daemons": ["00000000000000d1"],
                                      "peers": ["000000000000000c"]})"));
}
