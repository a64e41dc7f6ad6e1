// MeshOsState::snapshot (every field against `now`), the snapshot's JSON form and its inverse, the
// metadata view daemons read, and action_to_json.
#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/snapshot.hpp"
#include "meshos/state.hpp"
#include "../support/state_node.hpp"

using namespace meshos;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr NodeId kThisNode = 0x00C0FFEE;
constexpr NodeId kPeer = 0xFEED;
constexpr NodeId kOtherPeer = 0x0123;
constexpr std::uint64_t kGiB = std::uint64_t{1} << 30;
const DaemonRef kEcho{0xE1, "echo"};
const DaemonRef kSink{0xE2, "sink"};
const DaemonRef kLoop{0xE3, "looper"};

struct Node : test::StateNode {
  Node() : StateNode([] {
      MeshOsConfig c;
      c.this_node = kThisNode;
      c.log_ring_capacity = 2;
      return c;
    }()) {}
};

// A node with something in every field of the snapshot.
Node busy_node() {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});
  n.lifecycle(kLoop, lifecycle::Registered{});
  n.advance(2s);
  n.lifecycle(kEcho, lifecycle::HealthChanged{health::Degraded{"cache cold"}});
  n.lifecycle(kEcho, lifecycle::SaturationChanged{0.375f});
  n.lifecycle(kSink, lifecycle::Crashed{"oom"});
  for (int i = 0; i < 5; ++i) n.lifecycle(kLoop, lifecycle::Crashed{"again"});
  n.fold(event::DaemonIntentUpdate{kSink, DaemonIntent::Stop});
  CapabilitySet caps;
  caps.tags = {"hardware.gpu", "hardware.memory_gb=64"};
  caps.metadata = {{"rack", "b7"}};
  n.fold(event::CapabilitiesPublished{std::nullopt, caps});
  n.fold(event::CapabilitiesPublished{kEcho.id, caps});
  n.fold(event::RttSample{kPeer, std::chrono::microseconds(312'500)});
  n.fold(event::InventoryReport{{InventoryReading{kThisNode, NodeInventory{0.75, 3 * kGiB, 8 * kGiB}},
                                 InventoryReading{kPeer, NodeInventory{2.5, kGiB, 4 * kGiB}}},
                                1,
                                0});
  n.fold(event::PeerInfo{kOtherPeer, "0.9.0", caps, MaintenanceStateView{view::DrainFailed{5, "stuck"}},
                         {DaemonDescription{0x77, "remote-echo", caps, true}}, "peer-b", std::nullopt});
  n.fold(event::Admin{admin::Cordon{kThisNode}});
  n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});  // refused: audited with a reason
  for (int i = 0; i < 3; ++i) n.fold(event::Log{LogLine{LogLevel::Info, kEcho.id, "line " + std::to_string(i)}});
  auto pending = n.state.record_emitted({action::MarkAvoid{kPeer, "rtt 312 ms over threshold 250 ms", 5min},
                                         action::StartDaemon{kSink}},
                                        n.now);
  n.fold(event::ActionOutcome{pending[1].id, pending[1].action, ActionOutcomeKind::Failed, "spawn failed", 2});
  SignedIceCommit freeze;
  freeze.issued_at_ms = n.wall_ms;
  freeze.blast_radius_hash[3] = 9;
  freeze.proposal = ice::FreezeCluster{90'000};
  n.fold(event::SignedIce{freeze});
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 60'000}});  // refused: frozen
  n.fold(event::CommitUndecodable{"admin", "invalid_commit", "event: missing"});  // counted, not kept
  ExecutorStats executor;
  executor.dispatched = 10;
  executor.failed = 1;
  executor.queue_depth = 3;
  executor.backpressure_active = true;
  n.state.set_executor_stats(executor);
  n.advance(1500ms);
  return n;
}

}  // namespace

TEST_CASE("snapshot: every field, measured against now") {
  Node n = busy_node();
  const MeshOsSnapshot s = n.state.snapshot(n.now, n.wall_ms, 0xABCDEF0123456789, 7);
  CHECK(s.node_id == kThisNode);
  CHECK(s.runtime_epoch == 0xABCDEF0123456789);
  CHECK(s.seq == 7);
  CHECK(s.wall_ms == n.wall_ms);

  REQUIRE(s.daemons.size() == 3);
  const DaemonSnapshot& echo = s.daemons.at(kEcho.id);
  CHECK(echo.name == "echo");
  CHECK(echo.lifecycle == DaemonLifecycleState::Running);
  CHECK(echo.intent == DaemonIntent::Run);
  CHECK(echo.health == DaemonHealth{health::Degraded{"cache cold"}});
  CHECK(echo.saturation == 0.375f);
  CHECK(echo.restart == RestartPhase::Ready);
  CHECK_FALSE(s.restart_in_ms(echo).has_value());
  CHECK(s.age_ms(echo) == 3500);
  CHECK(s.running_for_ms(echo) == 3500u);
  CHECK_FALSE(s.since_exit_ms(echo).has_value());  // never stopped
  CHECK(echo.node == kThisNode);                // placement
  CHECK(echo.capabilities.has("hardware.gpu"));

  const DaemonSnapshot& sink = s.daemons.at(kSink.id);
  CHECK(sink.lifecycle == DaemonLifecycleState::Stopped);  // the failed start was undone
  CHECK(sink.intent == DaemonIntent::Stop);
  CHECK_FALSE(s.running_for_ms(sink).has_value());
  CHECK(s.since_exit_ms(sink) == 1500u);  // it crashed 1.5 s ago (registered 3.5 s ago)
  CHECK(sink.restart == RestartPhase::Ready);  // its 500 ms backoff is over
  CHECK(sink.consecutive_crashes == 1);
  CHECK(sink.last_crash_reason == "oom");
  CHECK_FALSE(sink.start_held.has_value());  // its intent is Stop: nothing holds back a start it does not want

  const DaemonSnapshot& looper = s.daemons.at(kLoop.id);
  CHECK(looper.restart == RestartPhase::CrashLooping);
  CHECK(s.restart_in_ms(looper) == 300'000u - 1500u);
  CHECK(looper.total_crashes == 5);
  CHECK(looper.starts == 1);
  CHECK(looper.start_held == std::optional<std::string>("crash_loop"));

  REQUIRE(s.peers.size() == 2);
  const PeerSnapshot& peer = s.peers.at(kPeer);
  CHECK(peer.rtt_ms == doctest::Approx(312.5));
  CHECK(peer.health == PeerHealth::Healthy);
  CHECK(peer.last_seen_ms == 1500);
  CHECK_FALSE(peer.maintenance.has_value());
  REQUIRE(peer.inventory.has_value());
  CHECK(peer.inventory->inventory == NodeInventory{2.5, kGiB, 4 * kGiB});
  CHECK(peer.inventory->age_ms == 1500);
  const PeerSnapshot& other = s.peers.at(kOtherPeer);
  CHECK_FALSE(other.rtt_ms.has_value());
  CHECK_FALSE(other.inventory.has_value());  // no probe reported it
  CHECK(other.version == "0.9.0");
  CHECK(other.capability_tags == std::vector<std::string>{"hardware.gpu", "hardware.memory_gb=64"});
  CHECK(other.maintenance == MaintenanceStateView{view::DrainFailed{5, "stuck"}});
  REQUIRE(other.daemons.size() == 1);
  CHECK(other.daemons[0].name == "remote-echo");
  CHECK(other.daemons[0].capabilities.has("hardware.gpu"));

  REQUIRE(s.avoid.size() == 1);
  CHECK(s.avoid[0].peer == kPeer);
  CHECK(s.avoid[0].remaining_ms == 300'000 - 1500);
  CHECK(s.local_maintenance == MaintenanceStateView{view::Active{}});
  CHECK(s.cordoned);
  REQUIRE(s.inventory.has_value());
  CHECK(s.inventory->inventory == NodeInventory{0.75, 3 * kGiB, 8 * kGiB});
  CHECK(s.inventory->age_ms == 1500);
  CHECK(s.node_capabilities.metadata.at("rack") == "b7");

  REQUIRE(s.recent_actions.size() == 2);
  CHECK(s.recent_actions[0].id == 1);
  CHECK(s.recent_actions[0].kind == "mark_avoid");
  CHECK(s.recent_actions[0].target == to_hex(kPeer));
  CHECK(s.recent_actions[1].id == 2);  // newest last
  CHECK(s.recent_actions[1].target == "sink");
  CHECK(s.recent_actions[1].age_ms == 1500);

  REQUIRE(s.recent_failures.size() == 1);
  CHECK(s.recent_failures[0].reason == "spawn failed");
  CHECK(s.recent_failures[0].age_ms == 1500);  // from its wall-clock stamp
  CHECK(s.freeze_remaining_ms == 88'500u);

  REQUIRE(s.audit.size() == 4);
  CHECK(s.audit[1].reason_kind == "invalid_transition");
  CHECK(s.audit[2].commit == "ice");
  CHECK(s.audit[3].reason_kind == "freeze_in_effect");
  CHECK(s.audit_strangers.total == 1);
  CHECK(s.audit_strangers.by_kind == std::map<std::string, std::uint64_t>{{"invalid_commit", 1}});
  REQUIRE(s.audit_strangers.last.has_value());
  CHECK(s.audit_strangers.last->seq == 5);

  REQUIRE(s.logs.size() == 2);
  CHECK(s.logs[0].seq == 2);
  CHECK(s.logs[1].message == "line 2");
  CHECK(s.loop.logs_evicted == 1);
  CHECK(s.loop.actions_emitted == 2);
  CHECK(s.loop.events_folded == n.state.loop_stats().events_folded);
  CHECK(s.executor.dispatched == 10);
  CHECK(s.executor.backpressure_active);
  CHECK(s.migrations.empty());
}

TEST_CASE("snapshot: restart phase BackingOff while the backoff runs, freeze absent when not frozen") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kEcho, lifecycle::Crashed{"x"});
  n.advance(200ms);
  auto s = n.state.snapshot(n.now, n.wall_ms, 1, 1);
  CHECK(s.daemons.at(kEcho.id).restart == RestartPhase::BackingOff);
  CHECK(s.restart_in_ms(s.daemons.at(kEcho.id)) == 300u);
  CHECK_FALSE(s.freeze_remaining_ms.has_value());
  n.advance(300ms);
  CHECK(n.state.snapshot(n.now, n.wall_ms, 1, 2).daemons.at(kEcho.id).restart == RestartPhase::Ready);
}

TEST_CASE("snapshot JSON: hex ids, arrays sorted by id, ms durations, nulls for absent values") {
  Node n = busy_node();
  const json j = n.state.snapshot(n.now, n.wall_ms, 0xABCDEF0123456789, 7);
  CHECK(j.at("node_id") == "0000000000c0ffee");
  CHECK(j.at("runtime_epoch") == "abcdef0123456789");
  CHECK(j.at("seq") == 7);
  REQUIRE(j.at("daemons").is_array());
  REQUIRE(j.at("daemons").size() == 3);
  CHECK(j.at("daemons")[0].at("id") == "00000000000000e1");
  CHECK(j.at("daemons")[2].at("id") == "00000000000000e3");
  const json& echo = j.at("daemons")[0];
  CHECK(echo.at("lifecycle") == "running");
  CHECK(echo.at("intent") == "run");
  CHECK(echo.at("health").at("status") == "degraded");
  CHECK(echo.at("restart_in_ms").is_null());
  CHECK(echo.at("running_for_ms") == 3500);
  CHECK(j.at("daemons")[2].at("restart") == "crash_looping");
  REQUIRE(j.at("peers").size() == 2);
  CHECK(j.at("peers")[0].at("node") == "0000000000000123");  // sorted by id, not by insertion
  CHECK(j.at("peers")[0].at("rtt_ms").is_null());
  CHECK(j.at("peers")[1].at("rtt_ms") == 312.5);
  CHECK(j.at("peers")[0].at("maintenance").at("state") == "drain_failed");
  CHECK(j.at("avoid")[0].at("peer") == "000000000000feed");
  CHECK(j.at("local_maintenance").at("state") == "active");
  CHECK(j.at("freeze_remaining_ms") == 88'500);
  CHECK(j.at("audit")[0].at("operators").is_array());
  CHECK(j.at("audit")[2].at("operators").empty());
  CHECK(j.at("audit")[2].at("claimed").empty());  // a break-glass commit without signatures
  CHECK(j.at("audit_strangers").at("total") == 1);
  CHECK(j.at("audit_strangers").at("by_kind") == json{{"invalid_commit", 1}});
  CHECK(j.at("audit_strangers").at("last").at("reason") == "event: missing");
  CHECK(j.at("loop").at("audit_rejected_evicted") == 0);
  CHECK(j.at("logs")[0].at("node_id") == "0000000000c0ffee");
  CHECK(j.at("recent_failures")[0].at("action_kind") == "start_daemon");
  CHECK(j.at("executor").at("queue_depth") == 3);
  CHECK(j.at("loop").at("logs_evicted") == 1);
  CHECK(j.at("migrations").is_array());

  Node quiet;
  const json empty = quiet.state.snapshot(quiet.now, quiet.wall_ms, 1, 1);
  CHECK(empty.at("daemons") == json::array());
  CHECK(empty.at("peers") == json::array());
  CHECK(empty.at("freeze_remaining_ms").is_null());
  CHECK(empty.at("audit_strangers") == json{{"total", 0}, {"by_kind", json::object()}, {"last", nullptr}});
}

TEST_CASE("snapshot JSON from a node before the audit split still reads") {
  Node n = busy_node();
  json old = n.state.snapshot(n.now, n.wall_ms, 5, 5);
  old.erase("audit_strangers");
  old["loop"].erase("audit_rejected_evicted");
  for (auto& rec : old["audit"]) rec.erase("claimed");
  auto back = snapshot_from_json(old);
  REQUIRE(back);
  CHECK(back->audit.size() == 4);
  CHECK(back->audit_strangers.total == 0);
  CHECK_FALSE(back->audit_strangers.last.has_value());
}

TEST_CASE("find_commit_record finds a commit's record by signers, verified or claimed, and strangers' last") {
  MeshOsSnapshot s;
  AuditRecord local;
  local.seq = 1;
  local.commit = "local";
  local.event = "cordon";
  AuditRecord verified;
  verified.seq = 2;
  verified.commit = "admin";
  verified.event = "cordon";
  verified.operators = {7};
  AuditRecord unverified = verified;
  unverified.seq = 3;
  unverified.operators.clear();
  unverified.claimed = {8};
  AuditRecord stranger = verified;
  stranger.seq = 9;
  stranger.operators.clear();
  stranger.claimed = {0};
  s.audit = {local, verified, unverified};
  s.audit_strangers.last = stranger;

  auto seq_of = [&](std::uint64_t after, const std::string& commit, std::vector<OperatorId> signers) {
    const AuditRecord* rec = find_commit_record(s, after, commit, "cordon", signers);
    return rec ? rec->seq : 0;
  };
  CHECK(seq_of(0, "local", {}) == 1);
  CHECK(seq_of(0, "admin", {7}) == 2);
  CHECK(seq_of(2, "admin", {7}) == 0);  // only records after the baseline
  CHECK(seq_of(0, "admin", {8}) == 3);
  CHECK(seq_of(0, "admin", {0}) == 9);  // the unsigned commit a verifying node refused
  CHECK(seq_of(0, "admin", {}) == 0);   // a record with only claimed signers is not signed by nobody
  CHECK(seq_of(0, "ice", {7}) == 0);
  CHECK(find_commit_record(s, 0, "admin", "drain", {7}) == nullptr);
  // A copy relayed by a peer is not the fold of the commit this node was handed.
  AuditRecord relayed = verified;
  relayed.seq = 4;
  relayed.relayed_from = 0xB;
  relayed.operators = {5};
  s.audit.push_back(relayed);
  CHECK(seq_of(0, "admin", {5}) == 0);
  s.audit.pop_back();
  CHECK(last_audit_seq(s) == 9);
  s.audit_strangers.last.reset();
  CHECK(last_audit_seq(s) == 3);
  CHECK(last_audit_seq(MeshOsSnapshot{}) == 0);
}

TEST_CASE("snapshot JSON round trip: to_json(from_json(to_json(s))) == to_json(s)") {
  Node n = busy_node();
  MeshOsSnapshot s = n.state.snapshot(n.now, n.wall_ms, 0xFFFFFFFFFFFFFFFF, 42);
  MigrationSnapshot migration;
  migration.id = 3;
  migration.daemon = kEcho.id;
  migration.target = kPeer;
  migration.phase = "snapshotting";
  s.migrations.push_back(migration);
  s.peers.at(kOtherPeer).maintenance = MaintenanceStateView{view::EnteringMaintenance{10, std::nullopt}};
  const json first = s;
  auto back = snapshot_from_json(first);
  REQUIRE(back);
  CHECK(json(*back) == first);
  CHECK(back->daemons.at(kLoop.id).restart == RestartPhase::CrashLooping);
  CHECK(back->daemons.at(kEcho.id).saturation == 0.375f);
  CHECK(back->runtime_epoch == 0xFFFFFFFFFFFFFFFF);
  CHECK(back->migrations.at(0).phase == "snapshotting");

  // Through text as well: what meshos-ctl actually reads.
  auto reparsed = snapshot_from_json(json::parse(first.dump()));
  REQUIRE(reparsed);
  CHECK(json(*reparsed) == first);
}

TEST_CASE("snapshot_from_json refuses malformed input with invalid_snapshot and a path") {
  Node n = busy_node();
  const json good = n.state.snapshot(n.now, n.wall_ms, 5, 5);

  auto expect_invalid = [](const json& j, const std::string& where) {
    auto r = snapshot_from_json(j);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == Errc::invalid_snapshot);
    CHECK_MESSAGE(r.error().message.find(where) != std::string::npos, r.error().message);
  };
  expect_invalid(json::array(), "object");
  expect_invalid(json(nullptr), "object");
  {
    json j = good;
    j.erase("seq");
    expect_invalid(j, "snapshot.seq");
  }
  {
    json j = good;
    j["node_id"] = "c0ffee";  // not 16 digits
    expect_invalid(j, "snapshot.node_id");
  }
  {
    json j = good;
    j["node_id"] = 12648430;
    expect_invalid(j, "snapshot.node_id");
  }
  {
    json j = good;
    j["daemons"][1]["lifecycle"] = "sleeping";
    expect_invalid(j, "snapshot.daemons[1].lifecycle");
  }
  {
    json j = good;
    j["daemons"][0]["saturation"] = 1.5;
    expect_invalid(j, "snapshot.daemons[0].saturation");
  }
  {
    json j = good;
    j["daemons"][0]["health"] = json{{"status", "confused"}};
    expect_invalid(j, "snapshot.daemons[0].health");
  }
  {
    json j = good;
    j["daemons"].push_back(j["daemons"][0]);
    expect_invalid(j, "duplicate daemon");
  }
  {
    json j = good;
    j["peers"][0]["maintenance"] = json{{"state", "nap"}};
    expect_invalid(j, "snapshot.peers[0].maintenance");
  }
  {
    json j = good;
    j["seq"] = -1;
    expect_invalid(j, "snapshot.seq");
  }
  {
    json j = good;
    j["logs"][0]["level"] = "loud";
    expect_invalid(j, "snapshot.logs[0]");
  }
  {
    json j = good;
    j["audit"][0]["operators"] = json::array({"xyz"});
    expect_invalid(j, "snapshot.audit[0].operators[0]");
  }
  {
    json j = good;
    j["audit"][1]["claimed"] = json::array({7});
    expect_invalid(j, "snapshot.audit[1].claimed[0]");
  }
  {
    json j = good;
    j["audit_strangers"]["by_kind"] = json::array();
    expect_invalid(j, "snapshot.audit_strangers.by_kind");
  }
  {
    json j = good;
    j["audit_strangers"]["last"]["seq"] = "five";
    expect_invalid(j, "snapshot.audit_strangers.last.seq");
  }
  {
    json j = good;
    j["executor"]["backpressure_active"] = "yes";
    expect_invalid(j, "snapshot.executor.backpressure_active");
  }
  {
    json j = good;
    j["recent_actions"] = json::object();
    expect_invalid(j, "snapshot.recent_actions");
  }
}

TEST_CASE("metadata_from_snapshot and its JSON (the C SDK's shape)") {
  Node n = busy_node();
  const MeshOsSnapshot s = n.state.snapshot(n.now, n.wall_ms, 5, 5);
  const MetadataView m = metadata_from_snapshot(s, kEcho.id, "echo");
  CHECK(m.node_id == kThisNode);
  CHECK(m.daemon_id == kEcho.id);
  CHECK(m.daemon_name == "echo");
  CHECK(m.maintenance_state == s.local_maintenance);
  CHECK(m.peers.size() == 2);
  CHECK(m.node_inventory == s.inventory);

  const json j = m;
  CHECK(j.at("node_id") == kThisNode);
  CHECK(j.at("daemon_id") == kEcho.id);
  CHECK(j.at("daemon_name") == "echo");
  CHECK(j.at("maintenance_state").at("kind") == "active");
  REQUIRE(j.at("peers").size() == 2);
  const json& other = j.at("peers")[0];
  CHECK(other.at("node_id") == kOtherPeer);
  CHECK(other.at("health") == "Healthy");
  CHECK(other.at("maintenance") == "DrainFailed");
  CHECK(other.at("capability_set") == json::array({"hardware.gpu", "hardware.memory_gb=64"}));
  CHECK(other.at("software_version") == "0.9.0");
  CHECK(other.at("cpu_load_1m").is_null());  // no probe reported it
  CHECK(j.at("peers")[1].at("rtt_ms") == 312.5);
  CHECK(j.at("peers")[1].at("cpu_load_1m") == 2.5);
  CHECK(j.at("peers")[1].at("mem_used_bytes") == kGiB);
  CHECK(j.at("peers")[1].at("mem_total_bytes") == 4 * kGiB);
  CHECK(j.at("node_inventory").at("cpu_load_1m") == 0.75);
  CHECK(j.at("node_inventory").at("age_ms") == 1500);
  CHECK(j.at("peers")[1].at("maintenance").is_null());
}

TEST_CASE("action_to_json: common fields and relative times") {
  const TimePoint t0 = TimePoint{} + 1h;
  const TimePoint now = t0 + 2s;
  json stop = action_to_json(PendingAction{4, action::StopDaemon{kEcho, "drain", t0 + 32s}, t0}, now);
  CHECK(stop.at("id") == 4);
  CHECK(stop.at("kind") == "stop_daemon");
  CHECK(stop.at("target") == "echo");
  CHECK(stop.at("age_ms") == 2000);
  CHECK(stop.at("daemon") == "00000000000000e1");
  CHECK(stop.at("reason") == "drain");
  CHECK(stop.at("deadline_in_ms") == 30'000);

  json avoid = action_to_json(PendingAction{5, action::MarkAvoid{kPeer, "unreachable", 5min}, t0}, now);
  CHECK(avoid.at("peer") == "000000000000feed");
  CHECK(avoid.at("ttl_ms") == 300'000);

  json backoff = action_to_json(PendingAction{6, action::ApplyBackoff{kSink, t0 + 1s}, t0}, now);
  CHECK(backoff.at("until_in_ms") == 0);  // already past: clamped

  json commit = action_to_json(
      PendingAction{7, action::CommitMaintenanceTransition{kThisNode, maintenance::Maintenance{t0}}, t0}, now);
  CHECK(commit.at("target") == "0000000000c0ffee");
  CHECK(commit.at("maintenance").at("state") == "maintenance");
  CHECK(commit.at("maintenance").at("since_ms") == 2000);

  json start = action_to_json(PendingAction{8, action::StartDaemon{kSink}, now}, now);
  CHECK(start.at("kind") == "start_daemon");
  CHECK(start.at("age_ms") == 0);
}

TEST_CASE("find_daemons: this node's and its peers' daemons whose capabilities match, this node's first") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});
  CapabilitySet gpu;
  gpu.tags = {"hardware.gpu"};
  CapabilitySet cpu;
  cpu.tags = {"hardware.cpu"};
  n.fold(event::CapabilitiesPublished{kEcho.id, gpu});
  n.fold(event::PeerInfo{kOtherPeer, "0.9.0", {}, std::nullopt,
                         {DaemonDescription{0x77, "remote-gpu", gpu, true}, DaemonDescription{0x78, "remote-cpu", cpu, false}}, "peer-b", std::nullopt});
  const auto s = n.state.snapshot(n.now, n.wall_ms, 1, 1);
  CapabilityFilter wants_gpu;
  wants_gpu.required_tags = {"hardware.gpu"};
  auto found = find_daemons(s, wants_gpu);
  REQUIRE(found.size() == 2);
  CHECK(found[0].node == kThisNode);
  CHECK(found[0].daemon.id == kEcho.id);
  CHECK(found[1].node == kOtherPeer);
  CHECK(found[1].daemon.name == "remote-gpu");
  CHECK(found[1].daemon.running);
  CHECK(find_daemons(s, {}).size() == 4);  // the default filter: every daemon of the cluster
  CapabilityFilter wants_tpu;
  wants_tpu.required_tags = {"hardware.tpu"};
  CHECK(find_daemons(s, wants_tpu).empty());
}

TEST_CASE("locate_daemon: by id or by name, this node's daemon first, one peer's otherwise, clear errors") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.fold(event::PeerInfo{kOtherPeer, "0.9.0", {}, std::nullopt,
                         {DaemonDescription{0x77, "echo", {}, true}, DaemonDescription{0x78, "worker", {}, true}}, "peer-b", std::nullopt});
  n.fold(event::PeerInfo{kOtherPeer + 1, "0.9.0", {}, std::nullopt,
                         {DaemonDescription{0x79, "twin", {}, true}, DaemonDescription{0x7A, "twin2", {}, true}}, "peer-b", std::nullopt});
  n.fold(event::PeerInfo{kOtherPeer + 2, "0.9.0", {}, std::nullopt, {DaemonDescription{0x7B, "twin", {}, true}}, "peer-b", std::nullopt});
  const auto s = n.state.snapshot(n.now, n.wall_ms, 1, 1);

  auto echo = locate_daemon(s, DaemonAddress::by_name("echo"));  // this node's, although a peer has one too
  REQUIRE(echo);
  CHECK(echo->node == kThisNode);
  CHECK(echo->daemon.id == kEcho.id);
  auto theirs = locate_daemon(s, DaemonAddress::by_id(0x77));
  REQUIRE(theirs);
  CHECK(theirs->node == kOtherPeer);
  auto worker = locate_daemon(s, DaemonAddress::parse("worker"));
  REQUIRE(worker);
  CHECK(worker->daemon.id == 0x78);
  auto twin = locate_daemon(s, DaemonAddress::by_name("twin"));
  REQUIRE_FALSE(twin);
  CHECK(twin.error().code() == Errc::ambiguous_daemon);
  CHECK(locate_daemon(s, DaemonAddress::by_id(0x7B))->node == kOtherPeer + 2);
  CHECK(locate_daemon(s, DaemonAddress::by_name("nobody")).error().code() == Errc::not_found);
  CHECK(locate_daemon(s, DaemonAddress::by_id(0xDEAD)).error().code() == Errc::not_found);
  CHECK(locate_daemon(s, DaemonAddress{}).error().code() == Errc::invalid_request);

  CHECK(DaemonAddress::parse("0000000000000077").id == 0x77);
  CHECK(DaemonAddress::parse("0000000000000000").name == "0000000000000000");  // 0 is no id
  CHECK(DaemonAddress::parse("echo").name == "echo");
  CHECK(DaemonAddress::by_id(0x77).to_string() == "0000000000000077");
  CHECK(DaemonAddress::by_name("echo").to_string() == "'echo'");
}

TEST_CASE("snapshot_from_json reads daemon and peer entries of other versions: absent fields default, wrong types fail") {
  // Issue 9, point 7: a cluster in the middle of a rolling upgrade reads its peers' snapshots.
  Node n;
  json j = n.state.snapshot(n.now, n.wall_ms, 1, 1);
  j["daemons"] = json::array({json{{"id", to_hex(kEcho.id)}, {"name", "echo"}, {"lifecycle", "running"}}});
  j["peers"] = json::array({json{{"node", to_hex(kOtherPeer)}}});
  j["some_field_of_a_newer_version"] = 42;
  auto s = snapshot_from_json(j);
  REQUIRE_MESSAGE(s, (s ? "" : s.error().message));
  const auto& d = s->daemons.at(kEcho.id);
  CHECK(d.name == "echo");
  CHECK(d.intent == DaemonIntent::Run);
  CHECK(d.restart == RestartPhase::Ready);
  CHECK(s->age_ms(d) == 0);
  CHECK(d.capabilities.tags.empty());
  const auto& p = s->peers.at(kOtherPeer);
  CHECK(p.health == PeerHealth::Healthy);
  CHECK(p.capability_tags.empty());
  CHECK(p.version.empty());
  CHECK_FALSE(p.inventory.has_value());
  CHECK_FALSE(s->inventory.has_value());

  json wrong = j;
  wrong["daemons"][0]["age_ms"] = "old";
  auto bad = snapshot_from_json(wrong);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.find("snapshot.daemons[0].age_ms") != std::string::npos);
  json nameless = j;
  nameless["daemons"][0].erase("name");
  CHECK_FALSE(snapshot_from_json(nameless));
  json wrong_tags = j;
  wrong_tags["peers"][0]["capability_tags"] = "gpu";
  CHECK_FALSE(snapshot_from_json(wrong_tags));
  json wrong_inventory = j;
  wrong_inventory["peers"][0]["inventory"] = json{{"cpu_load_1m", "high"}, {"memory_used_bytes", 1},
                                                  {"memory_total_bytes", 2}, {"age_ms", 0}};
  auto refused = snapshot_from_json(wrong_inventory);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.find("snapshot.peers[0].inventory") != std::string::npos);
}

TEST_CASE("placement_target: the least loaded node of the view that can take a daemon, the node itself included") {
  MeshOsSnapshot s;
  s.node_id = 0xA;
  DaemonSnapshot running;
  running.lifecycle = DaemonLifecycleState::Running;
  s.daemons.insert_or_assign(1, running);
  s.daemons.insert_or_assign(2, running);
  PeerSnapshot b;
  b.node = 0xB;
  b.rtt_ms = 2.0;
  b.maintenance = view::Active{};
  b.daemons = {DaemonDescription{7, "x", {}, true}};
  PeerSnapshot c = b;
  c.node = 0xC;
  c.rtt_ms = 1.0;
  c.capability_tags = {"zone.eu"};
  s.peers[0xB] = b;
  s.peers[0xC] = c;
  CHECK(placement_target(s).value() == 0xC);  // one daemon each, c is closer
  s.peers[0xC].daemons.push_back(DaemonDescription{8, "y", {}, true});
  CHECK(placement_target(s).value() == 0xB);
  CapabilityFilter eu;
  eu.required_tags = {"zone.eu"};
  CHECK(placement_target(s, eu).value() == 0xC);
  s.peers[0xC].health = PeerHealth::Unreachable;
  CHECK(placement_target(s, eu).error().code() == Errc::no_placement_target);
  s.avoid.push_back(AvoidSnapshot{0xB, "slow", 1000});
  s.peers[0xC].health = PeerHealth::Healthy;
  s.peers[0xC].maintenance = view::EnteringMaintenance{0, 1000};
  CHECK(placement_target(s).value() == 0xA);  // b avoided, c draining: the node itself
  s.cordoned = true;
  CHECK(placement_target(s).error().code() == Errc::no_placement_target);
}
