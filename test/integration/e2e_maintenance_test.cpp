// meshosd with an operator registry, driven by meshos-ctl as an operator would: a signed `maintenance enter`
// drains its two daemons into Maintenance, a signed `maintenance exit` brings it back to Active through
// Exiting and Recovery and the daemons run again; commits signed by a key outside the registry, or issued
// too long ago, are refused and audited. Keys come from `meshos-ctl keygen`, the registry from
// `meshos-ctl operator-entry`.
#include <doctest/doctest.h>

#include <algorithm>

#include "e2e_support.hpp"
#include "meshos/admin.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/node.hpp"
#include "meshos/time.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// meshosd hosting echo and counter, with `registered` as its only operator (threshold 1).
class OperatedNode {
 public:
  OperatedNode(const std::string& dir, const Operator& registered) {
    REQUIRE(make_test_certs(dir));
    write_operator_registry(dir + "/operators.json", registered);
    // A short ramp window: Recovery lasts long enough to be seen in the snapshots, and no longer.
    write_file(dir + "/node.conf", "[meshos]\ntick-interval = 50ms\nrecovery-ramp-window = 300ms\n\n[node]\n"
                                   "key-file = \"" + dir + "/node.key.json\"\nlisten-port = 0\n"
                                   "drain-deadline = 10s\n\n[operators]\nregistry-file = \"" + dir +
                                   "/operators.json\"\nthreshold = 1\n\n[daemons]\nbuiltin = [\"echo\", \"counter\"]\n");
    process_.emplace(std::vector<std::string>{meshosd_path(), "--config", dir + "/node.conf"});
    auto line = process_->wait_for_line("listening on", deadline_in(20s));
    INFO("meshosd stderr: " << process_->err());
    REQUIRE(line);
    auto start = parse_start_line(*line);
    REQUIRE(start);
    start_ = *start;
  }
  ~OperatedNode() {
    if (!process_) return;
    process_->signal(SIGTERM);
    const Exit e = process_->wait_exit(deadline_in(30s));
    CHECK(e.exited);
    CHECK(e.code == 0);
  }

  NodeId node_id() const { return start_.node; }
  std::string address() const { return "127.0.0.1:" + std::to_string(start_.port); }

 private:
  std::optional<ChildProcess> process_;
  StartLine start_;
};

bool is(const MeshOsSnapshot& s, MaintenanceKind k) { return kind_of(s.local_maintenance) == k; }

}  // namespace

TEST_CASE("meshos-ctl maintenance enter drains both daemons and exit returns through Recovery") {
  const std::string dir = scratch_dir("e2e-maintenance");
  const Operator alice = make_operator(dir, "alice");
  OperatedNode node(dir, alice);
  SnapshotStream stream(node.address());
  INFO("watch stderr: " << stream.err());
  REQUIRE(stream.until([](const auto& s) { return is(s, MaintenanceKind::Active) && running_daemons(s) == 2; },
                       deadline_in(20s)));

  auto enter = run_ctl({"--node", node.address(), "--key", alice.key_file, "maintenance", "enter", "--drain-for", "5s"});
  INFO("enter stdout: " << enter.out << "\nstderr: " << enter.err);
  CHECK(enter.exit.code == 0);
  CHECK(contains(enter.out, "enter_maintenance: accepted"));
  auto drained = stream.until([](const auto& s) { return is(s, MaintenanceKind::Maintenance); }, deadline_in(20s));
  REQUIRE(drained);
  CHECK(drained->daemons.size() == 2);
  CHECK(running_daemons(*drained) == 0);

  auto exit = run_ctl({"--node", node.address(), "--key", alice.key_file, "maintenance", "exit"});
  INFO("exit stdout: " << exit.out << "\nstderr: " << exit.err);
  CHECK(exit.exit.code == 0);
  CHECK(contains(exit.out, "exit_maintenance: accepted"));
  std::vector<MaintenanceKind> path;
  auto back = stream.until([](const auto& s) { return is(s, MaintenanceKind::Active) && running_daemons(s) == 2; },
                           deadline_in(20s), [&](const MeshOsSnapshot& s) {
                             const auto k = kind_of(s.local_maintenance);
                             if (path.empty() || path.back() != k) path.push_back(k);
                           });
  std::string seen;
  for (auto k : path) seen += std::string(to_string(k)) + " ";
  INFO("maintenance states seen after exit: " << seen);
  REQUIRE(back);
  const auto recovery = std::find(path.begin(), path.end(), MaintenanceKind::Recovery);
  CHECK(recovery != path.end());
  CHECK(std::find(path.begin(), recovery, MaintenanceKind::ExitingMaintenance) != recovery);
  CHECK(path.back() == MaintenanceKind::Active);

  auto status = run_ctl({"--node", node.address(), "status"});
  INFO("status: " << status.out << status.err);
  CHECK(status.exit.code == 0);
  CHECK(contains(status.out, "maintenance: active"));
  CHECK(contains(status.out, "inventory: load "));  // meshosd reads its /proc every tick
  CHECK(contains(status.out, "enter_maintenance  by alice (" + alice.id_hex + ")  accepted"));
  CHECK(contains(status.out, "exit_maintenance  by alice (" + alice.id_hex + ")  accepted"));
}

TEST_CASE("meshos-ctl commits signed by an unknown key or issued too long ago are refused and audited") {
  const std::string dir = scratch_dir("e2e-refused-commits");
  const Operator alice = make_operator(dir, "alice");
  const Operator mallory = make_operator(dir, "mallory");  // a well-formed key the registry does not hold
  OperatedNode node(dir, alice);

  auto forged = run_ctl({"--node", node.address(), "--key", mallory.key_file, "maintenance", "enter"});
  INFO("forged stdout: " << forged.out << "\nstderr: " << forged.err);
  CHECK(forged.exit.code == 1);
  CHECK(forged.err.rfind("meshos-ctl: not_authorized: ", 0) == 0);

  // meshos-ctl signs with the current time; a stale commit is built here, signed with alice's own key.
  auto alice_key = load_key_file(alice.key_file);
  REQUIRE(alice_key);
  auto stale = sign_admin(alice_key->keypair, wall_clock_ms() - 3'600'000,
                          admin::EnterMaintenance{node.node_id(), 5'000});
  REQUIRE(stale);
  {
    auto parsed = PeerAddress::parse(node.address());
    REQUIRE(parsed);
    auto remote = RemoteNode::connect(*parsed);
    REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
    auto reply = (*remote)->request("admin", json(*stale).dump());
    REQUIRE_FALSE(reply);
    CHECK(reply.error().code() == Errc::envelope_expired);
  }

  auto status = run_ctl({"--node", node.address(), "status"});
  INFO("status: " << status.out << status.err);
  CHECK(status.exit.code == 0);
  CHECK(contains(status.out, "maintenance: active"));
  // Alice's stale commit is hers, audited under her name; mallory's is a stranger's: counted, and shown as
  // claimed, never as by mallory.
  CHECK(contains(status.out, "enter_maintenance  by alice (" + alice.id_hex + ")  rejected envelope_expired"));
  CHECK(contains(status.out, "refused from strangers (no registered operator's signature): 1 (not_authorized 1)"));
  CHECK(contains(status.out, "enter_maintenance  claimed by " + mallory.id_hex + " (unverified)  rejected not_authorized"));
  CHECK_FALSE(contains(status.out, "by " + mallory.id_hex + "  rejected"));
  CHECK_FALSE(contains(status.out, "accepted"));
}

TEST_CASE("meshos-ctl ice propose shows the node's blast radius - the signed freeze is accepted, a made-up one not") {
  const std::string dir = scratch_dir("e2e-ice");
  const Operator alice = make_operator(dir, "alice");
  OperatedNode node(dir, alice);
  const std::string freeze = dir + "/freeze.json";

  auto proposed = run_ctl({"--node", node.address(), "ice", "propose", "freeze", "--ttl", "3s", "--out", freeze});
  INFO("propose: " << proposed.out << proposed.err);
  REQUIRE(proposed.exit.code == 0);
  // A node alone: the freeze reaches that node and nothing else.
  const std::string id = to_hex(node.node_id());
  CHECK(contains(proposed.out,
                 "blast radius at node " + id + ": 1 node(s) " + id + "; 0 daemon(s); 0 avoided peer(s)"));
  REQUIRE(run_ctl({"ice", "sign", freeze, "--key", alice.key_file}).exit.code == 0);
  auto submitted = run_ctl({"--node", node.address(), "ice", "submit", freeze});
  INFO("submit: " << submitted.out << submitted.err);
  CHECK(submitted.exit.code == 0);
  CHECK(submitted.out.rfind("freeze_cluster: accepted", 0) == 0);

  // A thaw signed over a hash nobody simulated is refused before anything else the node would say of it
  // (the cluster-wide cooldown the freeze started comes after).
  const std::string thaw = dir + "/thaw.json";
  REQUIRE(run_ctl({"--node", node.address(), "ice", "propose", "thaw", "--out", thaw}).exit.code == 0);
  json made_up = json::parse(read_file(thaw));
  made_up["blast_radius_hash"] = std::string(64, '5');
  write_file(thaw, made_up.dump());
  REQUIRE(run_ctl({"ice", "sign", thaw, "--key", alice.key_file}).exit.code == 0);
  auto refused = run_ctl({"--node", node.address(), "ice", "submit", thaw});
  INFO("refused: " << refused.out << refused.err);
  CHECK(refused.exit.code == 1);
  CHECK(refused.err.rfind("meshos-ctl: blast_radius_changed: ", 0) == 0);

  auto status = run_ctl({"--node", node.address(), "status"});
  CHECK(contains(status.out, "thaw_cluster  by alice (" + alice.id_hex + ")  rejected blast_radius_changed"));

  // The freeze ends by itself, so that the node drains on SIGTERM as it would unfrozen.
  auto parsed = PeerAddress::parse(node.address());
  REQUIRE(parsed);
  auto remote = RemoteNode::connect(*parsed);
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
  bool thawed = false;
  (void)(*remote)->watch(
      [&](const std::string& snapshot) {
        thawed = json::parse(snapshot)["freeze_remaining_ms"].is_null();
        return !thawed;
      },
      20s);
  CHECK(thawed);
}
