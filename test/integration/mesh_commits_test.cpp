// One cluster, not nodes that watch each other (issue 7, point 1): a commit accepted by any node reaches every
// node, is verified there and applied or mirrored; a replay is refused on another node too; a node that was
// down catches up when it comes back. Three-node loopback clusters, plain and TLS.
#include <doctest/doctest.h>

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "meshos/blast_radius.hpp"
#include "mesh_support.hpp"

namespace meshos::test {

namespace {

struct Operator {
  EntityKeypair key = EntityKeypair::generate();
  std::shared_ptr<AdminVerifier> verifier() const {
    OperatorRegistry registry;
    REQUIRE(registry.add(key.public_key()));
    // No break-glass cooldown: the test thaws right after its freeze (the unit tests cover the cooldown).
    VerifierPolicy policy;
    policy.ice_cooldown_ms = 0;
    return std::make_shared<AdminVerifier>(std::move(registry), 1, policy);
  }
  std::string admin(AdminEvent e) const {
    auto c = sign_admin(key, wall_clock_ms(), std::move(e));
    REQUIRE(c);
    return nlohmann::json(*c).dump();
  }
  // Signed for the blast radius of `a` on the node as `seen` shows it (what meshos-ctl ice propose does).
  std::string ice(IceAction a, const MeshOsSnapshot& seen) const {
    SignedIceCommit c;
    c.issued_at_ms = wall_clock_ms();
    c.proposal = std::move(a);
    c.blast_radius_hash = blast_radius_hash(simulate(c.proposal, seen));
    auto sig = sign_ice(key, c.issued_at_ms, c.blast_radius_hash, c.proposal);
    REQUIRE(sig);
    c.signatures.push_back(*sig);
    return nlohmann::json(c).dump();
  }
};

std::unique_ptr<RemoteNode> operator_at(MeshNode& node, const TlsOptions& tls) {
  auto remote = RemoteNode::connect(loopback(node.port()), tls);
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
  return std::move(*remote);
}

bool frozen(const MeshOsSnapshot& s) { return s.freeze_remaining_ms.has_value(); }

const AuditRecord* audited(const MeshOsSnapshot& s, const std::string& event) {
  for (const auto& rec : s.audit)
    if (rec.event == event && rec.outcome == "accepted") return &rec;
  return nullptr;
}

MaintenanceKind mirrored(const MeshOsSnapshot& s, NodeId peer) {
  auto it = s.peers.find(peer);
  if (it == s.peers.end() || !it->second.maintenance) return MaintenanceKind::Active;
  return kind_of(*it->second.maintenance);
}

void commits_reach_the_cluster(TestPki* pki) {
  Operator op;
  ThreeNodeCluster cluster(pki, fast_network(), [&] {
    SdkOptions o;
    o.verifier = op.verifier();
    return o;
  });
  auto& a = cluster[0];
  auto& b = cluster[1];
  const NodeId a_id = a.node_id();
  const NodeId b_id = b.node_id();

  // Maintenance for b, handed to a: a accepts it and mirrors it, b applies it, c sees b in maintenance.
  auto at_a = operator_at(a, cluster.operator_tls);
  auto enter = at_a->request("admin", op.admin(admin::EnterMaintenance{b_id, 60'000}));
  REQUIRE_MESSAGE(enter, (enter ? "" : enter.error().to_string()));
  CHECK(nlohmann::json::parse(*enter)["outcome"] == "accepted");
  SnapshotWatch wb(b.sdk());
  const auto b_entered = wb.wait([&](const MeshOsSnapshot& s) {
    return kind_of(s.local_maintenance) != MaintenanceKind::Active && audited(s, "enter_maintenance");
  });
  REQUIRE(b_entered);
  CHECK(audited(*b_entered, "enter_maintenance")->relayed_from == a_id);
  {
    SnapshotWatch wc(cluster[2].sdk());  // c stops below: its watch must end first
    CHECK(wc.seen([&](const MeshOsSnapshot& s) {
      return mirrored(s, b_id) != MaintenanceKind::Active && audited(s, "enter_maintenance");
    }));
  }
  SnapshotWatch wa(a.sdk());
  const auto a_after = wa.wait([&](const MeshOsSnapshot& s) { return audited(s, "enter_maintenance") != nullptr; });
  REQUIRE(a_after);
  CHECK(audited(*a_after, "enter_maintenance")->mirrored_for == b_id);
  CHECK(kind_of(a_after->local_maintenance) == MaintenanceKind::Active);

  // c goes down; a freeze handed to a reaches b at once.
  cluster.stop(2);
  const std::string freeze = op.ice(ice::FreezeCluster{120'000}, *a.sdk().snapshot());
  auto frozen_at_a = at_a->request("ice", freeze);
  REQUIRE_MESSAGE(frozen_at_a, (frozen_at_a ? "" : frozen_at_a.error().to_string()));
  CHECK(wb.seen(frozen));

  // The same commit handed to b is a replay there too.
  auto at_b = operator_at(b, cluster.operator_tls);
  auto replay = at_b->request("ice", freeze);
  REQUIRE_FALSE(replay);
  CHECK(replay.error().code() == Errc::commit_replayed);

  // c comes back and catches up from its peers: frozen too, the freeze recorded as relayed.
  cluster.restart(2);
  SnapshotWatch wc2(cluster[2].sdk());
  const auto c_caught_up = wc2.wait([&](const MeshOsSnapshot& s) { return frozen(s) && audited(s, "freeze_cluster"); });
  REQUIRE(c_caught_up);
  CHECK(audited(*c_caught_up, "freeze_cluster")->relayed_from != 0);

  // Every node's status says the same: frozen, and b in maintenance.
  for (std::size_t i = 0; i < 3; ++i) {
    auto remote = operator_at(cluster[i], cluster.operator_tls);
    auto status = remote->request("status", "{}");
    REQUIRE(status);
    auto j = nlohmann::json::parse(*status);
    CHECK_MESSAGE(!j["freeze_remaining_ms"].is_null(), "node " << i);
    if (i != 1) {
      bool b_in_maintenance = false;
      for (const auto& p : j["peers"])
        if (p["node"] == to_hex(b_id)) b_in_maintenance = p["maintenance"].is_object() && p["maintenance"]["state"] != "active";
      CHECK_MESSAGE(b_in_maintenance, "node " << i << ": " << j["peers"].dump());
    }
  }
  // An operator's thaw at c: every node thaws.
  auto at_c = operator_at(cluster[2], cluster.operator_tls);
  auto thaw = at_c->request("ice", op.ice(ice::ThawCluster{}, *cluster[2].sdk().snapshot()));
  REQUIRE_MESSAGE(thaw, (thaw ? "" : thaw.error().to_string()));
  CHECK(wa.seen([](const MeshOsSnapshot& s) { return !frozen(s); }));
  CHECK(wb.seen([](const MeshOsSnapshot& s) { return !frozen(s); }));
}

}  // namespace

TEST_CASE("a commit accepted by one node reaches every node - a node back from down catches up (plain)") {
  commits_reach_the_cluster(nullptr);
}

TEST_CASE("a commit accepted by one node reaches every node - a node back from down catches up (TLS)") {
  TestPki pki;
  pki.make_ca("ca");
  commits_reach_the_cluster(&pki);
}

TEST_CASE("RestartAllDaemons and ForceRestartDaemon handed to a live node restart its daemons") {
  Operator op;
  SdkOptions options;
  options.verifier = op.verifier();
  auto node = start_node(fast_network(), options);
  auto& sdk = node->sdk();
  auto first = sdk.register_daemon(make_daemon("first", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  auto second = sdk.register_daemon(make_daemon("second", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(first);
  REQUIRE(second);
  const DaemonId a = first->daemon_id();
  const DaemonId b = second->daemon_id();
  SnapshotWatch watch(sdk);
  auto starts = [](const MeshOsSnapshot& s, DaemonId id) {
    auto it = s.daemons.find(id);
    return it == s.daemons.end() || it->second.lifecycle != DaemonLifecycleState::Running ? 0 : it->second.starts;
  };
  const auto before = watch.wait([&](const MeshOsSnapshot& s) { return s.daemons.count(a) && s.daemons.count(b); });
  REQUIRE(before);
  const auto a0 = before->daemons.at(a).starts;
  const auto b0 = before->daemons.at(b).starts;

  auto remote = operator_at(*node, TlsOptions{});
  auto all = remote->request("admin", op.admin(admin::RestartAllDaemons{node->node_id()}));
  REQUIRE_MESSAGE(all, (all ? "" : all.error().to_string()));
  CHECK(nlohmann::json::parse(*all)["outcome"] == "accepted");
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return starts(s, a) == a0 + 1 && starts(s, b) == b0 + 1; }));

  auto one = remote->request("ice", op.ice(ice::ForceRestartDaemon{b}, *sdk.snapshot()));
  REQUIRE_MESSAGE(one, (one ? "" : one.error().to_string()));
  CHECK(nlohmann::json::parse(*one)["outcome"] == "accepted");
  CHECK(watch.seen([&](const MeshOsSnapshot& s) { return starts(s, b) == b0 + 2; }));
  CHECK(starts(*sdk.snapshot(), a) == a0 + 1);  // only the one it named
  REQUIRE(node->shutdown());
}

}  // namespace meshos::test
