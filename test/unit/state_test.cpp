// MeshOsState::fold and record_emitted: what each event and each emitted action does to the state,
// the effects handed back to the loop, and the bounded journals (logs, audit, failures, recent actions).
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <string>

#include "meshos/admin.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/state.hpp"
#include "../support/state_node.hpp"
#include "../support/keys.hpp"

using namespace meshos;
using namespace std::chrono_literals;

namespace {

constexpr NodeId kThisNode = 0x5EED;
constexpr NodeId kPeer = 0x9EE2;
const DaemonRef kEcho{0xE1, "echo"};
const DaemonRef kSink{0xE2, "sink"};

MeshOsConfig test_config() {
  MeshOsConfig c;
  c.this_node = kThisNode;
  return c;
}

struct Node : test::StateNode {
  explicit Node(MeshOsConfig config = test_config(), std::shared_ptr<AdminVerifier> verifier = nullptr)
      : StateNode(std::move(config), std::move(verifier)) {}
};

SignedIceCommit ice_commit(IceAction proposal, std::int64_t issued_at_ms) {
  SignedIceCommit c;
  c.issued_at_ms = issued_at_ms;
  c.blast_radius_hash[0] = 1;
  c.proposal = std::move(proposal);
  return c;
}

}  // namespace

TEST_CASE("Registered adds a running daemon with intent Run - Unregistered forgets it") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  const DaemonState& d = n.daemon(kEcho);
  CHECK(d.ref == kEcho);
  CHECK(d.lifecycle == DaemonLifecycleState::Running);
  CHECK(d.registered_at == n.now);
  CHECK(d.running_since == n.now);
  CHECK(d.restart.starts == 1);
  CHECK(n.state.desired().intents.at(kEcho.id) == DaemonIntent::Run);

  n.fold(event::DaemonIntentUpdate{kEcho, DaemonIntent::Stop});
  n.lifecycle(kEcho, lifecycle::Registered{});  // re-registration keeps the operator's intent
  CHECK(n.state.desired().intents.at(kEcho.id) == DaemonIntent::Stop);

  n.lifecycle(kEcho, lifecycle::Unregistered{});
  CHECK(n.actual().daemons.count(kEcho.id) == 0);
  CHECK(n.state.desired().intents.count(kEcho.id) == 0);
}

TEST_CASE("lifecycle signals move the daemon - signals for unknown daemons are ignored") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.advance(5s);
  n.lifecycle(kEcho, lifecycle::ExitedCleanly{});
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Stopped);
  CHECK_FALSE(n.daemon(kEcho).running_since.has_value());
  n.lifecycle(kEcho, lifecycle::Started{});
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Running);
  CHECK(n.daemon(kEcho).running_since == n.now);
  CHECK(n.daemon(kEcho).restart.starts == 2);

  n.lifecycle(kEcho, lifecycle::HealthChanged{health::Degraded{"slow disk"}});
  CHECK(n.daemon(kEcho).health == DaemonHealth{health::Degraded{"slow disk"}});
  n.lifecycle(kEcho, lifecycle::SaturationChanged{0.25f});
  CHECK(n.daemon(kEcho).saturation == 0.25f);
  n.lifecycle(kEcho, lifecycle::SaturationChanged{7.0f});
  CHECK(n.daemon(kEcho).saturation == 1.0f);
  n.lifecycle(kEcho, lifecycle::SaturationChanged{-1.0f});
  CHECK(n.daemon(kEcho).saturation == 0.0f);
  n.lifecycle(kEcho, lifecycle::SaturationChanged{std::numeric_limits<float>::quiet_NaN()});
  CHECK(n.daemon(kEcho).saturation == 0.0f);

  auto fx = n.lifecycle(kSink, lifecycle::Crashed{"ghost"});
  CHECK(n.actual().daemons.count(kSink.id) == 0);
  CHECK_FALSE(fx.rejected.has_value());
  CHECK(n.state.loop_stats().events_folded == 9);
}

TEST_CASE("Crashed stops the daemon and arms the restart gate") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kEcho, lifecycle::Crashed{"segfault"});
  const DaemonState& d = n.daemon(kEcho);
  CHECK(d.lifecycle == DaemonLifecycleState::Stopped);
  CHECK(d.restart.consecutive_crashes == 1);
  CHECK(d.restart.total_crashes == 1);
  CHECK(d.restart.last_crash_reason == "segfault");
  CHECK(d.restart.current_backoff == 500ms);
  CHECK(d.restart.next_start_at == n.now + 500ms);
  CHECK(d.restart.recent_crashes.size() == 1);
  CHECK_FALSE(d.restart.crash_looping_until.has_value());
}

TEST_CASE("peer events: RTT, health, info, removal and mirrored maintenance") {
  Node n;
  n.fold(event::RttSample{kPeer, 42ms});
  REQUIRE(n.actual().peers.count(kPeer) == 1);
  CHECK(n.actual().peers.at(kPeer).id == kPeer);
  CHECK(n.actual().peers.at(kPeer).rtt == Clock::duration{42ms});
  CHECK(n.actual().peers.at(kPeer).last_seen == n.now);

  const TimePoint seen = n.now;
  n.advance(3s);
  n.fold(event::NodeHealth{kPeer, PeerHealth::Unreachable});
  CHECK(n.actual().peers.at(kPeer).health == PeerHealth::Unreachable);
  CHECK(n.actual().peers.at(kPeer).last_seen == seen);  // unreachable is no sign of life
  n.fold(event::NodeHealth{kPeer, PeerHealth::Degraded});
  CHECK(n.actual().peers.at(kPeer).last_seen == n.now);

  CapabilitySet caps;
  caps.tags = {"hardware.gpu"};
  n.fold(event::PeerInfo{kPeer, "0.3.1", caps, MaintenanceStateView{view::Maintenance{12}}, {}, "peer-b", std::nullopt});
  CHECK(n.actual().peers.at(kPeer).version == "0.3.1");
  CHECK(n.actual().peers.at(kPeer).name == "peer-b");
  CHECK(n.actual().peers.at(kPeer).capabilities == caps);
  CHECK(n.actual().peers.at(kPeer).maintenance == MaintenanceStateView{view::Maintenance{12}});

  n.fold(event::MaintenanceTransitionObserved{kPeer, maintenance::EnteringMaintenance{n.now - 2s, n.now + 8s}});
  CHECK(n.actual().peers.at(kPeer).maintenance == MaintenanceStateView{view::EnteringMaintenance{2000, 8000}});
  CHECK(std::holds_alternative<maintenance::Active>(n.actual().maintenance));  // ours is untouched

  n.fold(event::PeerRemoved{kPeer});
  CHECK(n.actual().peers.empty());
}

TEST_CASE("admin events: wrong node, cordon, restart all, clear avoid, set daemon intent") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});

  auto wrong = n.fold(event::Admin{admin::Cordon{kThisNode + 1}});
  REQUIRE(wrong.rejected.has_value());
  CHECK(wrong.rejected->kind == "wrong_node");
  CHECK_FALSE(n.actual().cordoned);

  // No wildcard: 0 is no node, and a target is required.
  auto no_target = n.fold(event::Admin{admin::Cordon{0}});
  REQUIRE(no_target.rejected.has_value());
  CHECK(no_target.rejected->kind == "wrong_node");
  CHECK(no_target.rejected->message.find("a target is required") != std::string::npos);
  CHECK_FALSE(n.actual().cordoned);
  CHECK_FALSE(n.fold(event::Admin{admin::Cordon{kThisNode}}).rejected.has_value());
  CHECK(n.actual().cordoned);
  n.fold(event::Admin{admin::Uncordon{kThisNode}});
  CHECK_FALSE(n.actual().cordoned);

  auto restart = n.fold(event::Admin{admin::RestartAllDaemons{kThisNode}});
  CHECK(restart.restart_daemons == std::vector<DaemonId>{kEcho.id, kSink.id});
  auto restart_one = n.fold(event::Admin{admin::RestartDaemon{kThisNode, "sink"}});
  CHECK_FALSE(restart_one.rejected.has_value());
  CHECK(restart_one.restart_daemons == std::vector<DaemonId>{kSink.id});
  auto restart_nobody = n.fold(event::Admin{admin::RestartDaemon{kThisNode, "nobody"}});
  REQUIRE(restart_nobody.rejected.has_value());
  CHECK(restart_nobody.rejected->kind == "unknown_daemon");
  CHECK(restart_nobody.restart_daemons.empty());

  n.state.mutable_actual().avoid[kPeer] = AvoidEntry{"slow", n.now + 1min};
  n.fold(event::Admin{admin::ClearAvoidList{kThisNode}});
  CHECK(n.actual().avoid.empty());

  CHECK_FALSE(n.fold(event::Admin{admin::SetDaemonIntent{kThisNode, "sink", false}}).rejected.has_value());
  CHECK(n.state.desired().intents.at(kSink.id) == DaemonIntent::Stop);
  auto unknown = n.fold(event::Admin{admin::SetDaemonIntent{kThisNode, "nobody", false}});
  REQUIRE(unknown.rejected.has_value());
  CHECK(unknown.rejected->kind == "unknown_daemon");
}

TEST_CASE("a node without an identity (this_node 0, an SDK off the network) is node 0, and only that") {
  Node n(MeshOsConfig{});
  CHECK_FALSE(n.fold(event::Admin{admin::Cordon{0}}).rejected.has_value());
  CHECK(n.actual().cordoned);
  auto other = n.fold(event::Admin{admin::Uncordon{kThisNode}});
  REQUIRE(other.rejected.has_value());
  CHECK(other.rejected->kind == "wrong_node");
  CHECK(n.actual().cordoned);
}

TEST_CASE("admin EnterMaintenance restarts the drain even while already entering") {
  Node n;
  auto first = n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 1000}});
  CHECK(first.maintenance_changed == std::make_pair(MaintenanceKind::Active, MaintenanceKind::EnteringMaintenance));
  n.advance(500ms);
  auto again = n.fold(event::Admin{admin::EnterMaintenance{kThisNode, std::nullopt}});
  CHECK(again.maintenance_changed ==
        std::make_pair(MaintenanceKind::EnteringMaintenance, MaintenanceKind::EnteringMaintenance));
  const auto& entering = std::get<maintenance::EnteringMaintenance>(n.actual().maintenance);
  CHECK(entering.since == n.now);
  CHECK(entering.deadline == n.now + n.state.config().default_drain_deadline);

  auto huge = n.fold(event::Admin{admin::EnterMaintenance{kThisNode, std::numeric_limits<std::uint64_t>::max()}});
  CHECK_FALSE(huge.rejected.has_value());
  CHECK(*std::get<maintenance::EnteringMaintenance>(n.actual().maintenance).deadline > n.now);
}

TEST_CASE("break-glass actions without a verifier apply as unverified") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  for (int i = 0; i < 5; ++i) n.lifecycle(kEcho, lifecycle::Crashed{"loop"});
  REQUIRE(n.daemon(kEcho).restart.crash_looping_until.has_value());

  auto force = n.fold(event::SignedIce{ice_commit(ice::ForceRestartDaemon{kEcho.id}, n.wall_ms)});
  CHECK(force.restart_daemons == std::vector<DaemonId>{kEcho.id});
  const RestartState& r = n.daemon(kEcho).restart;
  CHECK_FALSE(r.crash_looping_until.has_value());
  CHECK_FALSE(r.next_start_at.has_value());
  CHECK(r.consecutive_crashes == 0);
  CHECK(r.total_crashes == 5);  // history stays
  CHECK_FALSE(restart_gate(r, n.now).has_value());
  CHECK(n.state.audit().items().back().outcome == "unverified");
  CHECK(n.state.audit().items().back().operators.empty());  // nothing verified them

  auto ghost = n.fold(event::SignedIce{ice_commit(ice::ForceRestartDaemon{0xDEAD}, n.wall_ms)});
  CHECK(ghost.rejected->kind == "unknown_daemon");
  CHECK(ghost.restart_daemons.empty());

  auto kill = n.fold(event::SignedIce{ice_commit(ice::KillMigration{7}, n.wall_ms)});
  CHECK(kill.rejected->kind == "unknown_migration");

  // Flush scopes: one peer off the list (idempotent), another node's list (not this one's), this node's, all.
  constexpr NodeId kOtherPeer = kPeer + 1;
  auto& avoid = n.state.mutable_actual().avoid;
  avoid[kPeer] = AvoidEntry{"slow", n.now + 1min};
  avoid[kOtherPeer] = AvoidEntry{"unreachable", n.now + 1min};
  auto flush = [&](AvoidScope scope, std::int64_t at) {
    auto effects = n.fold(event::SignedIce{ice_commit(ice::FlushAvoidLists{scope}, n.wall_ms + at)});
    CHECK_FALSE(effects.rejected.has_value());
  };
  flush(avoid_scope::OnPeer{kPeer}, 1);
  CHECK(n.actual().avoid.count(kPeer) == 0);
  CHECK(n.actual().avoid.count(kOtherPeer) == 1);
  flush(avoid_scope::OnPeer{kPeer}, 2);  // not listed any more: nothing to do, not refused
  flush(avoid_scope::Local{kThisNode + 100}, 3);
  CHECK(n.actual().avoid.count(kOtherPeer) == 1);
  flush(avoid_scope::Local{kThisNode}, 4);
  CHECK(n.actual().avoid.empty());
  avoid[kPeer] = AvoidEntry{"slow", n.now + 1min};
  n.fold(event::SignedIce{ice_commit(ice::FlushAvoidLists{}, n.wall_ms)});
  CHECK(n.actual().avoid.empty());

  n.fold(event::SignedIce{ice_commit(ice::FreezeCluster{10'000}, n.wall_ms)});
  CHECK(n.actual().frozen(n.now));
  CHECK(n.actual().frozen_until == n.now + 10s);
  n.fold(event::SignedIce{ice_commit(ice::ThawCluster{}, n.wall_ms)});
  CHECK_FALSE(n.actual().frozen(n.now));
}

TEST_CASE("audit: every commit with its source, signers, outcome and reason - two bounded rings") {
  MeshOsConfig config = test_config();
  config.audit_ring_capacity = 3;
  Node n(config);
  n.fold(event::Admin{admin::Cordon{kThisNode}});
  SignedAdminCommit signed_commit;
  signed_commit.issued_at_ms = n.wall_ms;
  signed_commit.event = admin::Uncordon{kThisNode};
  signed_commit.signature.operator_id = 0x0BE;
  n.fold(event::SignedAdmin{signed_commit});
  n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});

  const auto items = n.state.audit_records();
  REQUIRE(items.size() == 3);
  CHECK(items[0].seq == 1);
  CHECK(items[0].commit == "local");
  CHECK(items[0].event == "cordon");
  CHECK(items[0].outcome == "accepted");
  CHECK(items[0].operators.empty());
  CHECK(items[0].wall_ms == n.wall_ms);
  CHECK(items[1].seq == 2);
  CHECK(items[1].commit == "admin");
  // This node verifies nothing: the operator is only claimed, never named as the author.
  CHECK(items[1].operators.empty());
  CHECK(items[1].claimed == std::vector<OperatorId>{0x0BE});
  CHECK(items[1].outcome == "unverified");
  CHECK(items[2].outcome == "rejected");
  CHECK(items[2].reason_kind == "invalid_transition");
  CHECK_FALSE(items[2].reason.empty());
  CHECK(n.state.audit().size() == 2);
  CHECK(n.state.audit_rejected().size() == 1);

  // Refusals fill their own ring: three more evict the first refusal, never an accepted record.
  for (int i = 0; i < 3; ++i) n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});
  CHECK(n.state.audit().size() == 2);
  CHECK(n.state.audit().items().front().seq == 1);
  CHECK(n.state.audit_rejected().size() == 3);
  CHECK(n.state.audit_rejected().items().front().seq == 4);
  CHECK(n.state.loop_stats().audit_rejected_evicted == 1);
  CHECK(n.state.loop_stats().audit_evicted == 0);

  // Accepted records evict only accepted ones.
  n.fold(event::Admin{admin::Cordon{kThisNode}});
  n.fold(event::Admin{admin::Cordon{kThisNode}});
  CHECK(n.state.audit().size() == 3);
  CHECK(n.state.audit().items().front().seq == 2);
  CHECK(n.state.loop_stats().audit_evicted == 1);
  const auto merged = n.state.audit_records();
  CHECK(merged.size() == 6);
  CHECK(std::is_sorted(merged.begin(), merged.end(),
                       [](const AuditRecord& a, const AuditRecord& b) { return a.seq < b.seq; }));
}

TEST_CASE("logs: stamped with seq from 1, wall clock and node id - long messages are cut and say so") {
  MeshOsConfig config = test_config();
  config.log_ring_capacity = 2;
  Node n(config);
  n.fold(event::Log{LogLine{LogLevel::Warn, kEcho.id, "disk almost full"}});
  const LogRecord& first = n.state.logs().items().back();
  CHECK(first.seq == 1);
  CHECK(first.wall_ms == n.wall_ms);
  CHECK(first.node_id == kThisNode);
  CHECK(first.level == LogLevel::Warn);
  CHECK(first.daemon_id == kEcho.id);
  CHECK(first.message == "disk almost full");

  n.advance(1ms);
  n.fold(event::Log{LogLine{LogLevel::Info, std::nullopt, std::string(kMaxLogMessageBytes, 'x')}});
  CHECK(n.state.logs().items().back().seq == 2);
  CHECK(n.state.logs().items().back().message.size() == kMaxLogMessageBytes);  // at the limit: kept whole

  // "é" is two bytes; an odd prefix puts the cut inside one of them unless the cut respects UTF-8.
  std::string long_text = "a";
  while (long_text.size() < 2 * kMaxLogMessageBytes) long_text += "\xC3\xA9";
  n.fold(event::Log{LogLine{LogLevel::Error, std::nullopt, long_text}});
  const std::string& cut = n.state.logs().items().back().message;
  const std::string marker = "...[truncated]";
  CHECK(cut.size() <= kMaxLogMessageBytes);
  REQUIRE(cut.size() > marker.size());
  CHECK(cut.substr(cut.size() - marker.size()) == marker);
  const std::string body = cut.substr(0, cut.size() - marker.size());
  CHECK(long_text.compare(0, body.size(), body) == 0);
  CHECK(static_cast<unsigned char>(body.back()) == 0xA9);  // ends on a whole character

  CHECK(n.state.logs().size() == 2);
  CHECK(n.state.logs().items().front().seq == 2);
  CHECK(n.state.loop_stats().logs_evicted == 1);
}

TEST_CASE("intent and capability updates for unknown daemons are rejected") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  CHECK(n.fold(event::DaemonIntentUpdate{kSink, DaemonIntent::Stop}).rejected->kind == "unknown_daemon");
  CHECK(n.state.desired().intents.count(kSink.id) == 0);

  CapabilitySet caps;
  caps.tags = {"hardware.memory_gb=64"};
  CHECK_FALSE(n.fold(event::CapabilitiesPublished{kEcho.id, caps}).rejected.has_value());
  CHECK(n.daemon(kEcho).capabilities == caps);
  CHECK(n.fold(event::CapabilitiesPublished{kSink.id, caps}).rejected->kind == "unknown_daemon");
  CHECK_FALSE(n.fold(event::CapabilitiesPublished{std::nullopt, caps}).rejected.has_value());
  CHECK(n.actual().node_capabilities == caps);
}

TEST_CASE("record_emitted numbers actions from 1 and marks what is in flight") {
  MeshOsConfig config = test_config();
  config.recent_actions_capacity = 4;
  Node n(config);
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::ExitedCleanly{});

  auto pending = n.state.record_emitted(
      {action::StopDaemon{kEcho, "intent_stop", n.now + 30s}, action::StartDaemon{kSink},
       action::ApplyBackoff{kSink, n.now + 2s}, action::MarkAvoid{kPeer, "slow", 1min},
       action::CommitMaintenanceTransition{kThisNode, maintenance::EnteringMaintenance{n.now, std::nullopt}}},
      n.now);
  REQUIRE(pending.size() == 5);
  for (std::size_t i = 0; i < pending.size(); ++i) {
    CHECK(pending[i].id == i + 1);
    CHECK(pending[i].emitted_at == n.now);
  }
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Stopping);
  CHECK(n.daemon(kEcho).transition_started == n.now);
  CHECK(n.daemon(kSink).lifecycle == DaemonLifecycleState::Starting);
  CHECK(n.daemon(kSink).restart.backoff_announced_until == n.now + 2s);
  CHECK(n.actual().avoid.at(kPeer).reason == "slow");
  CHECK(n.actual().avoid.at(kPeer).until == n.now + 1min);
  CHECK(n.actual().pending_transition == MaintenanceKind::EnteringMaintenance);
  CHECK(n.state.next_action_id() == 6);
  CHECK(n.state.loop_stats().actions_emitted == 5);

  auto more = n.state.record_emitted({action::StartDaemon{DaemonRef{0x77, "gone"}}}, n.now);
  CHECK(more.at(0).id == 6);  // an action for an unknown daemon still gets its id, and marks nothing
}

TEST_CASE("ActionOutcome: failures go to the ring and undo in-flight marks - Dispatched changes nothing") {
  MeshOsConfig config = test_config();
  config.failure_ring_capacity = 2;
  Node n(config);
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::ExitedCleanly{});
  auto pending = n.state.record_emitted(
      {action::StopDaemon{kEcho, "intent_stop", n.now + 30s}, action::StartDaemon{kSink},
       action::ApplyBackoff{kSink, n.now + 2s}, action::MarkAvoid{kPeer, "slow", 1min}},
      n.now);

  n.fold(event::ActionOutcome{pending[1].id, pending[1].action, ActionOutcomeKind::Dispatched, "", 1});
  CHECK(n.daemon(kSink).lifecycle == DaemonLifecycleState::Starting);
  CHECK(n.state.failures().empty());

  n.fold(event::ActionOutcome{pending[0].id, pending[0].action, ActionOutcomeKind::Failed, "no route", 16});
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Running);
  CHECK_FALSE(n.daemon(kEcho).transition_started.has_value());
  const FailureRecord& f = n.state.failures().items().back();
  CHECK(f.id == pending[0].id);
  CHECK(f.action_kind == "stop_daemon");
  CHECK(f.target == "echo");
  CHECK(f.reason == "no route");
  CHECK(f.attempts == 16);
  CHECK(f.wall_ms == n.wall_ms);

  n.fold(event::ActionOutcome{pending[1].id, pending[1].action, ActionOutcomeKind::Failed, "spawn", 1});
  CHECK(n.daemon(kSink).lifecycle == DaemonLifecycleState::Stopped);
  n.fold(event::ActionOutcome{pending[2].id, pending[2].action, ActionOutcomeKind::Gated, "budget", 1});
  CHECK_FALSE(n.daemon(kSink).restart.backoff_announced_until.has_value());
  CHECK(n.state.failures().size() == 2);  // gated is not a failure
  n.fold(event::ActionOutcome{pending[3].id, pending[3].action, ActionOutcomeKind::Failed, "x", 1});
  CHECK(n.actual().avoid.empty());
  CHECK(n.state.failures().size() == 2);
  CHECK(n.state.loop_stats().failures_evicted == 1);
}

TEST_CASE("Tick expires avoid entries, the freeze and stale starts") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kEcho, lifecycle::ExitedCleanly{});
  n.state.record_emitted({action::StartDaemon{kEcho}, action::MarkAvoid{kPeer, "slow", 10s}}, n.now);
  n.fold(event::SignedIce{ice_commit(ice::FreezeCluster{20'000}, n.wall_ms)});

  n.advance(10s);
  n.fold(event::Tick{});
  CHECK(n.actual().avoid.empty());
  CHECK(n.actual().frozen_until.has_value());
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Starting);
  n.advance(20s);
  n.fold(event::Tick{});
  CHECK_FALSE(n.actual().frozen_until.has_value());
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Stopped);
  CHECK(n.state.loop_stats().ticks == 2);
}

TEST_CASE("Shutdown asks the loop to stop") {
  Node n;
  CHECK(n.fold(event::Shutdown{}).shutdown_requested);
  CHECK_FALSE(n.fold(event::Tick{}).shutdown_requested);
}

TEST_CASE("names: event kinds, action kinds and targets, enum strings") {
  CHECK(std::string(event_kind(event::Tick{})) == "tick");
  CHECK(std::string(event_kind(event::MaintenanceTransitionObserved{})) == "maintenance_transition_observed");
  CHECK(std::string(event_kind(event::ActionOutcome{})) == "action_outcome");
  CHECK(std::string(event_kind(event::SignedIce{})) == "signed_ice");
  CHECK(std::string(action_kind(action::StartDaemon{kEcho})) == "start_daemon");
  CHECK(std::string(action_kind(action::CommitMaintenanceTransition{})) == "commit_maintenance_transition");
  CHECK(action_target(action::StopDaemon{kSink, "x", TimePoint{}}) == "sink");
  CHECK(action_target(action::MarkAvoid{kPeer, "x", 1s}) == "0000000000009ee2");
  CHECK(action_target(action::CommitMaintenanceTransition{kThisNode, maintenance::Active{}}) == "0000000000005eed");
  CHECK(std::string(to_string(PeerHealth::Unreachable)) == "unreachable");
  CHECK(std::string(to_string(DaemonIntent::Stop)) == "stop");
  CHECK(std::string(to_string(DaemonLifecycleState::Stopping)) == "stopping");
  CHECK(std::string(to_string(RestartPhase::CrashLooping)) == "crash_looping");
}

// ---- signed commits on a verifying node: targets, clusters, and an audit strangers cannot flood ------------

namespace {

using meshos::test::key_from_byte;

const EntityKeypair kAlice = key_from_byte(0xa1);
const EntityKeypair kMallory = key_from_byte(0x66);

std::shared_ptr<AdminVerifier> verifier_for(const std::string& cluster = kDefaultClusterName) {
  OperatorRegistry registry;
  REQUIRE(registry.add(kAlice.public_key()));
  VerifierPolicy policy;
  policy.cluster = cluster;
  return std::make_shared<AdminVerifier>(std::move(registry), 1, policy);
}

MeshOsConfig config_for(NodeId node) {
  MeshOsConfig c;
  c.this_node = node;
  return c;
}

SignedAdminCommit signed_by(const EntityKeypair& op, std::int64_t issued_at_ms, AdminEvent e) {
  auto c = sign_admin(op, issued_at_ms, std::move(e));
  REQUIRE(c);
  return *c;
}

}  // namespace

TEST_CASE("a signed commit naming node 0 is refused as wrong_node and audited under its signer") {
  Node n(test_config(), verifier_for());
  auto fx = n.fold(event::SignedAdmin{signed_by(kAlice, n.wall_ms, admin::Cordon{0})});
  REQUIRE(fx.rejected.has_value());
  CHECK(fx.rejected->kind == "wrong_node");
  CHECK(fx.rejected->message.find("a target is required") != std::string::npos);
  CHECK_FALSE(n.actual().cordoned);
  REQUIRE(n.state.audit_rejected().size() == 1);
  const AuditRecord& rec = n.state.audit_rejected().items().back();
  CHECK(rec.reason_kind == "wrong_node");
  CHECK(rec.operators == std::vector<OperatorId>{kAlice.origin_hash()});
  CHECK(n.state.audit().empty());
}

TEST_CASE("a commit for node a is refused by b while b does not know a, and b does not use it up") {
  constexpr NodeId kA = 0xA;
  constexpr NodeId kB = 0xB;
  Node a(config_for(kA), verifier_for());
  Node b(config_for(kB), verifier_for());
  const auto for_a = signed_by(kAlice, a.wall_ms, admin::Cordon{kA});

  auto at_b = b.fold(event::SignedAdmin{for_a});
  REQUIRE(at_b.rejected.has_value());
  CHECK(at_b.rejected->kind == "wrong_node");
  CHECK(at_b.rejected->message.find("targets node 000000000000000a, which is neither this node (000000000000000b) "
                                    "nor a peer it knows") != std::string::npos);
  CHECK_FALSE(at_b.stranger);
  CHECK_FALSE(b.actual().cordoned);
  CHECK(b.state.audit_rejected().items().back().operators == std::vector<OperatorId>{kAlice.origin_hash()});

  CHECK_FALSE(a.fold(event::SignedAdmin{for_a}).rejected.has_value());
  CHECK(a.actual().cordoned);
  // ...and once accepted, a replay at a is refused too.
  a.fold(event::Admin{admin::Uncordon{kA}});
  auto replay = a.fold(event::SignedAdmin{for_a});
  REQUIRE(replay.rejected.has_value());
  CHECK(replay.rejected->kind == "commit_replayed");
  CHECK_FALSE(a.actual().cordoned);
}

TEST_CASE("a break-glass commit for cluster X is refused by a node of cluster Y") {
  Node x(test_config(), verifier_for("x"));
  Node y(test_config(), verifier_for("y"));
  SignedIceCommit freeze = ice_commit(ice::FreezeCluster{60'000}, x.wall_ms);
  freeze.blast_radius_hash = x.radius_hash(freeze.proposal);
  freeze.cluster = "x";
  auto sig = sign_ice(kAlice, freeze.issued_at_ms, freeze.blast_radius_hash, freeze.proposal, "x");
  REQUIRE(sig);
  freeze.signatures = {*sig};

  auto at_y = y.fold(event::SignedIce{freeze});
  REQUIRE(at_y.rejected.has_value());
  CHECK(at_y.rejected->kind == "wrong_cluster");
  CHECK_FALSE(y.actual().frozen(y.now));
  CHECK(y.state.audit_rejected().items().back().operators == std::vector<OperatorId>{kAlice.origin_hash()});

  CHECK_FALSE(x.fold(event::SignedIce{freeze}).rejected.has_value());
  CHECK(x.actual().frozen(x.now));
}

TEST_CASE("a break-glass commit is refused as blast_radius_changed when its radius changed since it was signed") {
  Node n(test_config(), verifier_for());
  n.fold(event::PeerInfo{kPeer, "", {}, std::nullopt, {}, "peer", std::nullopt});
  SignedIceCommit freeze = ice_commit(ice::FreezeCluster{60'000}, n.wall_ms);
  freeze.blast_radius_hash = n.radius_hash(freeze.proposal);  // signed for this node and kPeer
  auto sig = sign_ice(kAlice, freeze.issued_at_ms, freeze.blast_radius_hash, freeze.proposal);
  REQUIRE(sig);
  freeze.signatures = {*sig};

  constexpr NodeId kNewcomer = 0x1234;
  n.fold(event::PeerInfo{kNewcomer, "", {}, std::nullopt, {}, "newcomer", std::nullopt});  // the freeze would now reach three
  auto changed = n.fold(event::SignedIce{freeze});
  REQUIRE(changed.rejected.has_value());
  CHECK(changed.rejected->kind == "blast_radius_changed");
  CHECK(changed.rejected->message.find("3 nodes") != std::string::npos);
  CHECK_FALSE(n.actual().frozen(n.now));
  CHECK(n.state.audit_rejected().items().back().operators == std::vector<OperatorId>{kAlice.origin_hash()});

  // Relayed by a peer, the same commit is not simulated again here: the node it was submitted to did.
  Node other(test_config(), verifier_for());
  auto relayed = other.fold(event::SignedIce{freeze, kPeer});
  CHECK_FALSE(relayed.rejected.has_value());
  CHECK(other.actual().frozen(other.now));

  n.fold(event::PeerRemoved{kNewcomer});  // the radius the operators signed, once more: accepted
  auto accepted = n.fold(event::SignedIce{freeze});
  CHECK_FALSE(accepted.rejected.has_value());
  CHECK(n.actual().frozen(n.now));
}

TEST_CASE("1,000 forged commits are counted, evict no accepted commit and name no operator as author") {
  MeshOsConfig config = test_config();
  config.audit_ring_capacity = 4;
  Node n(config, verifier_for());
  REQUIRE_FALSE(n.fold(event::SignedAdmin{signed_by(kAlice, n.wall_ms, admin::Cordon{kThisNode})}).rejected);
  const AuditRecord accepted = n.state.audit().items().back();
  CHECK(accepted.operators == std::vector<OperatorId>{kAlice.origin_hash()});

  for (int i = 0; i < 500; ++i) {
    // Claims to be alice, signed by someone else.
    auto forged = signed_by(kMallory, n.wall_ms + i, admin::Uncordon{kThisNode});
    forged.signature.operator_id = kAlice.origin_hash();
    auto fx = n.fold(event::SignedAdmin{forged});
    REQUIRE(fx.rejected.has_value());
    CHECK(fx.rejected->kind == "signature_invalid");
    CHECK(fx.stranger);
    // Mallory under her own name: not in the registry.
    n.fold(event::SignedAdmin{signed_by(kMallory, n.wall_ms + i, admin::Uncordon{kThisNode})});
  }
  CHECK(n.actual().cordoned);
  REQUIRE(n.state.audit().size() == 1);
  CHECK(n.state.audit().items().back().seq == accepted.seq);
  CHECK(n.state.audit_rejected().empty());
  CHECK(n.state.loop_stats().audit_evicted == 0);

  const StrangerRejects& strangers = n.state.strangers();
  CHECK(strangers.total == 1000);
  CHECK(strangers.by_kind == std::map<std::string, std::uint64_t>{{"not_authorized", 500}, {"signature_invalid", 500}});
  REQUIRE(strangers.last.has_value());
  CHECK(strangers.last->operators.empty());
  CHECK(strangers.last->claimed == std::vector<OperatorId>{kMallory.origin_hash()});
  CHECK(strangers.last->seq == 1001);

  // The snapshot shows the same: the accepted commit in "audit", the strangers as counts.
  const auto snap = n.state.snapshot(n.now, n.wall_ms, 1, 1);
  REQUIRE(snap.audit.size() == 1);
  CHECK(snap.audit[0].seq == accepted.seq);
  CHECK(snap.audit_strangers.total == 1000);
}

TEST_CASE("a forged commit claiming a registered operator never names it as author") {
  Node n(test_config(), verifier_for());
  auto forged = signed_by(kAlice, n.wall_ms, admin::Cordon{kThisNode});
  forged.event = admin::Drain{kThisNode};  // the signature no longer covers it
  CHECK(n.fold(event::SignedAdmin{forged}).rejected->kind == "signature_invalid");
  REQUIRE(n.state.strangers().last.has_value());
  CHECK(n.state.strangers().last->operators.empty());
  CHECK(n.state.strangers().last->claimed == std::vector<OperatorId>{kAlice.origin_hash()});
  CHECK(n.state.audit_records().empty());

  // A forged break-glass commit likewise, and one without any signature.
  SignedIceCommit thaw = ice_commit(ice::ThawCluster{}, n.wall_ms);
  thaw.signatures = {OperatorSignature{kAlice.origin_hash(), Signature{}}};
  CHECK(n.fold(event::SignedIce{thaw}).rejected->kind == "signature_invalid");
  CHECK(n.state.strangers().last->claimed == std::vector<OperatorId>{kAlice.origin_hash()});
  thaw.signatures.clear();
  CHECK(n.fold(event::SignedIce{thaw}).rejected->kind == "insufficient_signatures");
  CHECK(n.state.strangers().by_kind.at("insufficient_signatures") == 1);
  CHECK(n.state.audit_records().empty());
}

TEST_CASE("a genuine operator's refused commits are kept under its name, apart from accepted ones") {
  MeshOsConfig config = test_config();
  config.audit_ring_capacity = 2;
  Node n(config, verifier_for());
  REQUIRE_FALSE(n.fold(event::SignedAdmin{signed_by(kAlice, n.wall_ms, admin::Cordon{kThisNode})}).rejected);
  for (int i = 0; i < 10; ++i) {
    auto stale = n.fold(event::SignedAdmin{signed_by(kAlice, n.wall_ms - 400'000 - i, admin::Uncordon{kThisNode})});
    CHECK(stale.rejected->kind == "envelope_expired");
  }
  CHECK(n.state.audit().size() == 1);
  CHECK(n.state.audit_rejected().size() == 2);
  CHECK(n.state.audit_rejected().items().back().operators == std::vector<OperatorId>{kAlice.origin_hash()});
  CHECK(n.state.strangers().total == 0);
}

TEST_CASE("an undecodable commit is counted among the strangers' refusals, with its kind") {
  Node n(test_config(), verifier_for());
  auto fx = n.fold(event::CommitUndecodable{"admin", "invalid_commit", "event.kind: unknown admin event kind"});
  REQUIRE(fx.rejected.has_value());
  CHECK(fx.rejected->kind == "invalid_commit");
  CHECK(n.state.strangers().by_kind.at("invalid_commit") == 1);
  REQUIRE(n.state.strangers().last.has_value());
  CHECK(n.state.strangers().last->commit == "admin");
  CHECK(n.state.strangers().last->reason == "event.kind: unknown admin event kind");
  CHECK(n.state.audit_records().empty());

  // Whatever the sender puts in it, it stays small.
  n.fold(event::CommitUndecodable{std::string(1000, 'c'), std::string(1000, 'k'), std::string(100'000, 'm')});
  CHECK(n.state.strangers().last->commit.size() <= 64);
  CHECK(n.state.strangers().last->reason_kind.size() <= 64);
  CHECK(n.state.strangers().last->reason.size() <= 512);
  // Kinds are counted up to a bound; the rest as "other".
  for (int i = 0; i < 100; ++i) n.fold(event::CommitUndecodable{"ice", "kind_" + std::to_string(i), ""});
  CHECK(n.state.strangers().by_kind.size() == kMaxStrangerKinds + 1);
  CHECK(n.state.strangers().by_kind.at("other") > 0);
  CHECK(n.state.strangers().total == 102);
}
