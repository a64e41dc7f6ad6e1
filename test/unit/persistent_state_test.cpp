// PersistentState: what a node keeps across restarts, taken out of a MeshOsState and put back into a fresh one
// (with wall-clock deadlines that a restart does not extend), its JSON file form and how a damaged file is
// refused or, with fresh_state, set aside.
#include "../support/state_node.hpp"
#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <filesystem>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/file_io.hpp"
#include "meshos/persistent_state.hpp"
#include "meshos/state.hpp"

using namespace meshos;
using namespace std::chrono_literals;
using nlohmann::json;
using meshos::test::StateNode;
using meshos::test::TempDir;

namespace {

constexpr NodeId kThisNode = 0x5EED;
constexpr NodeId kPeer = 0x9EE2;
const DaemonRef kEcho{0xE1, "echo"};
const DaemonRef kCounter{0xE2, "counter"};

EntityKeypair operator_key() {
  Seed seed{};
  seed.fill(0xa1);
  return EntityKeypair::from_seed(seed);
}

std::shared_ptr<AdminVerifier> make_verifier() {
  OperatorRegistry registry;
  REQUIRE(registry.add(operator_key().public_key()));
  return std::make_shared<AdminVerifier>(std::move(registry), 1);
}

MeshOsConfig test_config() {
  MeshOsConfig c;
  c.this_node = kThisNode;
  return c;
}

// One node's state with a verifier of its own (one process: a restart is a new Node), and alice to sign.
struct Node : StateNode {
  Node() : StateNode(test_config(), make_verifier()) {}
  SignedAdminCommit sign(AdminEvent e) { return sign_admin(operator_key(), wall_ms, std::move(e)).value(); }
  SignedIceCommit sign_ice_commit(IceAction a) {
    SignedIceCommit c;
    c.issued_at_ms = wall_ms;
    c.proposal = std::move(a);
    c.blast_radius_hash = radius_hash(c.proposal);
    c.signatures.push_back(sign_ice(operator_key(), c.issued_at_ms, c.blast_radius_hash, c.proposal).value());
    return c;
  }
  PersistentState extract() const { return extract_persistent_state(state, now, wall_ms); }
};

// What a node that lived through every kind of operator commit holds: entering maintenance with a 60 s
// drain, cordoned, the cluster frozen for 120 s, a peer avoided for 300 s, counter stopped by an operator.
struct Committed {
  Node node;
  SignedAdminCommit enter;
  Committed() {
    node.fold(event::DaemonLifecycle{kEcho, lifecycle::Registered{}});
    node.fold(event::DaemonLifecycle{kCounter, lifecycle::Registered{}});
    const auto stop_counter = node.sign(admin::SetDaemonIntent{kThisNode, "counter", false});
    REQUIRE_FALSE(node.fold(event::SignedAdmin{stop_counter}).rejected);
    REQUIRE_FALSE(node.fold(event::SignedAdmin{node.sign(admin::Cordon{kThisNode})}).rejected);
    node.advance(1s);
    enter = node.sign(admin::EnterMaintenance{kThisNode, 60'000});
    REQUIRE_FALSE(node.fold(event::SignedAdmin{enter}).rejected);
    node.state.record_emitted({action::MarkAvoid{kPeer, "unreachable", 300s}}, node.now);
    REQUIRE_FALSE(node.fold(event::SignedIce{node.sign_ice_commit(ice::FreezeCluster{120'000})}).rejected);
  }
};

std::string write_state(const TempDir& dir, const std::string& text) { return dir.write(kStateFileName, text); }

std::string valid_file() {
  Committed c;
  return encode_state_file(c.node.extract());
}

}  // namespace

TEST_CASE("extract takes maintenance with its deadline, cordon, freeze, avoid, operator intents, audit and verifier memory") {
  Committed c;
  const PersistentState s = c.node.extract();
  CHECK(s.node == kThisNode);
  CHECK(s.saved_wall_ms == c.node.wall_ms);
  CHECK(s.maintenance.kind == MaintenanceKind::EnteringMaintenance);
  CHECK(s.maintenance.since_wall_ms == c.node.wall_ms);
  CHECK(s.maintenance.deadline_wall_ms == c.node.wall_ms + 60'000);
  CHECK(s.cordoned);
  CHECK(s.frozen_until_wall_ms == c.node.wall_ms + 120'000);
  REQUIRE(s.avoid.size() == 1);
  CHECK(s.avoid[0] == PersistedAvoid{kPeer, "unreachable", c.node.wall_ms + 300'000});
  CHECK(s.daemon_intents == std::map<std::string, DaemonIntent>{{"counter", DaemonIntent::Stop}});
  CHECK(s.audit_seq == 4);
  REQUIRE(s.audit.size() == 4);
  CHECK(s.audit.back().event == "freeze_cluster");
  REQUIRE(s.verifier.has_value());
  CHECK(s.verifier->seen.size() == 4);
  CHECK(s.verifier->cooldown_until_ms.size() == 1);
}

TEST_CASE("PersistentState survives its JSON file form unchanged") {
  Committed c;
  const PersistentState s = c.node.extract();
  auto back = decode_state_file(encode_state_file(s));
  REQUIRE_MESSAGE(back, (back ? "" : back.error().to_string()));
  CHECK(*back == s);

  PersistentState fresh;  // nothing committed: Active, no verifier, empty audit
  auto empty_back = decode_state_file(encode_state_file(fresh));
  REQUIRE(empty_back);
  CHECK(*empty_back == fresh);
}

TEST_CASE("the persistent revision moves with commits and avoid entries, not with ticks, logs or peers") {
  Node n;
  const auto start = n.state.persistent_revision();
  n.fold(event::Tick{});
  n.fold(event::Log{LogLine{LogLevel::Info, std::nullopt, "hello"}});
  n.fold(event::RttSample{kPeer, 5ms});
  n.fold(event::DaemonLifecycle{kEcho, lifecycle::Registered{}});
  CHECK(n.state.persistent_revision() == start);

  n.fold(event::SignedAdmin{n.sign(admin::Cordon{kThisNode})});
  const auto after_commit = n.state.persistent_revision();
  CHECK(after_commit > start);
  n.state.record_emitted({action::MarkAvoid{kPeer, "slow", 1s}}, n.now);
  CHECK(n.state.persistent_revision() > after_commit);
  const auto after_avoid = n.state.persistent_revision();
  n.fold(event::MaintenanceTransitionObserved{kPeer, maintenance::Maintenance{n.now}});  // a peer's: not ours
  CHECK(n.state.persistent_revision() == after_avoid);
  n.fold(event::MaintenanceTransitionObserved{kThisNode, maintenance::EnteringMaintenance{n.now, std::nullopt}});
  CHECK(n.state.persistent_revision() > after_avoid);
}

TEST_CASE("an operator's daemon intent is kept by name across re-registration - the application's own replaces it") {
  Node n;
  n.fold(event::DaemonLifecycle{kCounter, lifecycle::Registered{}});
  REQUIRE_FALSE(n.fold(event::SignedAdmin{n.sign(admin::SetDaemonIntent{kThisNode, "counter", false})}).rejected);
  n.fold(event::DaemonLifecycle{kCounter, lifecycle::Unregistered{}});
  const DaemonRef new_counter{0xE3, "counter"};  // the same name under another key
  n.fold(event::DaemonLifecycle{new_counter, lifecycle::Registered{}});
  CHECK(n.state.desired().intents.at(new_counter.id) == DaemonIntent::Stop);
  CHECK(n.extract().daemon_intents.at("counter") == DaemonIntent::Stop);

  n.fold(event::DaemonIntentUpdate{new_counter, DaemonIntent::Run});
  CHECK(n.state.desired().intents.at(new_counter.id) == DaemonIntent::Run);
  CHECK(n.extract().daemon_intents.empty());
}

TEST_CASE("apply restores every commit after a restart, with deadlines that kept running meanwhile") {
  Committed c;
  const PersistentState saved = c.node.extract();

  Node next;  // a new process: its steady clock has nothing to do with the old one's
  next.now = TimePoint{} + 5min;
  next.wall_ms = c.node.wall_ms + 10'000;  // restarted 10 s later
  REQUIRE(apply_persistent_state(next.state, saved, next.now, next.wall_ms));

  const auto* entering = std::get_if<maintenance::EnteringMaintenance>(&next.state.actual().maintenance);
  REQUIRE(entering);
  REQUIRE(entering->deadline.has_value());
  CHECK(*entering->deadline == next.now + 50s);  // 60 s drain, 10 s of it passed while down
  CHECK(entering->since == next.now - 10s);
  CHECK(next.state.actual().cordoned);
  CHECK(next.state.actual().frozen_until == next.now + 110s);
  REQUIRE(next.state.actual().avoid.count(kPeer) == 1);
  CHECK(next.state.actual().avoid.at(kPeer).until == next.now + 290s);
  CHECK(next.state.audit_records().size() == 4);
  CHECK(next.state.audit_seq() == 4);

  // Intents are by name: a daemon that registers after the restart gets its operator's intent.
  next.fold(event::DaemonLifecycle{kCounter, lifecycle::Registered{}});
  next.fold(event::DaemonLifecycle{kEcho, lifecycle::Registered{}});
  CHECK(next.state.desired().intents.at(kCounter.id) == DaemonIntent::Stop);
  CHECK(next.state.desired().intents.at(kEcho.id) == DaemonIntent::Run);

  // The verifier remembers: the enter_maintenance accepted before the restart is a replay now. (The freeze
  // is over first, or the commit would be refused for that.)
  next.advance(110s);  // (a thaw would have to wait out the cluster-wide cooldown the freeze started)
  auto replay = next.fold(event::SignedAdmin{c.enter});
  REQUIRE(replay.rejected.has_value());
  CHECK(replay.rejected->kind == "commit_replayed");
  CHECK(next.state.audit_records().back().seq == 5);  // numbering goes on

  // And the break-glass cooldown of the freeze kept running across the restart.
  auto refreeze = next.fold(event::SignedIce{next.sign_ice_commit(ice::FreezeCluster{1'000})});
  REQUIRE(refreeze.rejected.has_value());
  CHECK(refreeze.rejected->kind == "ice_cooldown_active");
}

TEST_CASE("refused commits come back into the audit as refused, in order") {
  Committed c;
  REQUIRE(c.node.fold(event::SignedAdmin{c.enter}).rejected);  // refused (the cluster is frozen)
  const PersistentState saved = c.node.extract();
  REQUIRE(saved.audit.size() == 5);
  Node next;
  REQUIRE(apply_persistent_state(next.state, saved, next.now, next.wall_ms));
  CHECK(next.state.audit_rejected().size() == 1);
  CHECK(next.state.audit().size() == 4);
  CHECK(json(next.state.audit_records()) == json(saved.audit));
}

TEST_CASE("apply after the deadlines passed: the drain deadline lies in the past, freeze and avoid are gone") {
  Committed c;
  const PersistentState saved = c.node.extract();
  Node next;
  next.wall_ms = c.node.wall_ms + 3'600'000;  // an hour later
  REQUIRE(apply_persistent_state(next.state, saved, next.now, next.wall_ms));
  const auto& entering = std::get<maintenance::EnteringMaintenance>(next.state.actual().maintenance);
  CHECK(*entering.deadline <= next.now);
  CHECK_FALSE(next.state.actual().frozen(next.now));
  CHECK(next.state.actual().avoid.empty());
}

TEST_CASE("every maintenance state survives extract and apply") {
  const std::vector<MaintenanceState> states = {
      maintenance::Active{}, maintenance::Maintenance{TimePoint{} + 50min},
      maintenance::ExitingMaintenance{TimePoint{} + 55min}, maintenance::DrainFailed{TimePoint{} + 58min, "stuck"},
      maintenance::Recovery{TimePoint{} + 59min}};
  for (const auto& m : states) {
    Node n;
    n.state.mutable_actual().maintenance = m;
    auto decoded = decode_state_file(encode_state_file(n.extract()));
    REQUIRE(decoded);
    Node next;
    REQUIRE(apply_persistent_state(next.state, *decoded, next.now, next.wall_ms));
    CHECK(kind_of(next.state.actual().maintenance) == kind_of(m));
    CHECK(view_of(next.state.actual().maintenance, next.now) == view_of(m, n.now));
  }
}

TEST_CASE("a damaged state file is refused with invalid_state_file and what is wrong") {
  const std::string good = valid_file();
  json j = json::parse(good);

  auto refused = [](const std::string& text) {
    auto r = decode_state_file(text);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_state_file);
    return r.error().message;
  };
  CHECK(refused("{not json").find("not valid JSON") != std::string::npos);
  CHECK(refused(good.substr(0, good.size() / 2)).find("not valid JSON") != std::string::npos);  // truncated
  CHECK(refused("").find("not valid JSON") != std::string::npos);
  CHECK(refused(std::string(1000, '[')).find("nests deeper") != std::string::npos);

  json v2 = j;
  v2["version"] = 2;
  CHECK(refused(v2.dump()).find("format version 2 is not supported") != std::string::npos);
  json foreign = j;
  foreign["format"] = "something-else";
  CHECK(refused(foreign.dump()).find("state.format") != std::string::npos);
  json unknown = j;
  unknown["extra"] = 1;
  CHECK(refused(unknown.dump()).find("state.extra: unknown field") != std::string::npos);
  json missing = j;
  missing.erase("cordoned");
  CHECK(refused(missing.dump()).find("state.cordoned: missing") != std::string::npos);
  json bad_kind = j;
  bad_kind["maintenance"]["state"] = "napping";
  CHECK(refused(bad_kind.dump()).find("state.maintenance.state: unknown value 'napping'") != std::string::npos);
  json bad_intent = j;
  bad_intent["daemon_intents"]["counter"] = "pause";
  CHECK(refused(bad_intent.dump()).find("state.daemon_intents.counter") != std::string::npos);
  json bad_wall = j;
  bad_wall["avoid"][0]["until_wall_ms"] = -5;
  CHECK(refused(bad_wall.dump()).find("state.avoid[0].until_wall_ms") != std::string::npos);
  json bad_audit = j;
  bad_audit["audit"]["last_seq"] = 1;
  CHECK(refused(bad_audit.dump()).find("state.audit.records[1].seq") != std::string::npos);
  json bad_memory = j;
  bad_memory["verifier"]["seen"][0]["signature"] = "zz";
  CHECK(refused(bad_memory.dump()).find("state.verifier") != std::string::npos);
}

TEST_CASE("open_state_dir: no file yet is a fresh start, a saved file is loaded, the dir is made when missing") {
  TempDir dir("meshos-state");
  const std::string sub = dir.file("deeper/state");
  auto empty = open_state_dir(sub, kThisNode, false, 1);
  REQUIRE(empty);
  CHECK(empty->path == sub + "/node-state.json");
  CHECK_FALSE(empty->saved.has_value());
  CHECK(std::filesystem::is_directory(sub));

  write_state(dir, valid_file());
  auto loaded = open_state_dir(dir.path(), kThisNode, false, 1);
  REQUIRE_MESSAGE(loaded, (loaded ? "" : loaded.error().to_string()));
  REQUIRE(loaded->saved.has_value());
  CHECK(loaded->saved->cordoned);

  const std::string file = dir.write("not-a-dir", "x");
  auto not_dir = open_state_dir(file, kThisNode, false, 1);
  REQUIRE_FALSE(not_dir);
  CHECK(not_dir.error().code() == Errc::invalid_state_dir);
}

TEST_CASE("open_state_dir refuses a damaged file or another node's, naming the file - fresh_state sets it aside") {
  TempDir dir("meshos-state");
  const std::string path = write_state(dir, "{\"format\": \"meshos-node-state\", \"version\": 1, \"no");

  auto refused = open_state_dir(dir.path(), kThisNode, false, 1'700'000'000'000);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::invalid_state_file);
  CHECK(refused.error().message.rfind(path + ": ", 0) == 0);
  CHECK(refused.error().message.find("not valid JSON") != std::string::npos);
  CHECK(std::filesystem::exists(path));  // refusing touches nothing

  auto fresh = open_state_dir(dir.path(), kThisNode, true, 1'700'000'000'000);
  REQUIRE_MESSAGE(fresh, (fresh ? "" : fresh.error().to_string()));
  CHECK_FALSE(fresh->saved.has_value());
  CHECK(fresh->set_aside == path + ".bad-20231114T221320Z");
  CHECK(fresh->set_aside_reason.find("not valid JSON") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(path));
  CHECK(read_file_bounded(fresh->set_aside, 1024).value().find("\"no") != std::string::npos);

  // Another node's file; set aside beside the first one under a name of its own.
  write_state(dir, valid_file());
  auto foreign = open_state_dir(dir.path(), 0xBEEF, false, 1'700'000'000'000);
  REQUIRE_FALSE(foreign);
  CHECK(foreign.error().message.find("saved by node 0000000000005eed, this node is 000000000000beef") !=
        std::string::npos);
  auto again = open_state_dir(dir.path(), 0xBEEF, true, 1'700'000'000'000);
  REQUIRE(again);
  CHECK(again->set_aside == path + ".bad-20231114T221320Z-1");
}
