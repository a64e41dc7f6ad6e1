// reconcile: every arm and branch, driven through MeshOsState the way the loop drives it
// (fold events, reconcile, record what was emitted) on a hand-advanced clock.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "meshos/admin.hpp"
#include "meshos/identity.hpp"
#include "meshos/operators.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/state.hpp"
#include "../support/state_node.hpp"

using namespace meshos;
using namespace std::chrono_literals;

namespace {

constexpr NodeId kThisNode = 0xA11CE;
constexpr NodeId kPeer = 0xB0B;
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

template <class T>
const T& only(const std::vector<MeshOsAction>& actions) {
  REQUIRE(actions.size() == 1);
  REQUIRE(std::holds_alternative<T>(actions[0]));
  return std::get<T>(actions[0]);
}

// Registers the daemon, then lets it exit so that it sits Stopped with intent Run.
void register_stopped(Node& n, const DaemonRef& d) {
  n.lifecycle(d, lifecycle::Registered{});
  n.lifecycle(d, lifecycle::ExitedCleanly{});
}

// Crash now, wait out the backoff, start again and confirm the start; returns the backoff that applied.
Millis crash_and_restart(Node& n, const DaemonRef& d) {
  n.lifecycle(d, lifecycle::Crashed{"boom"});
  const Millis backoff = n.daemon(d).restart.current_backoff;
  n.advance(backoff);
  auto start = n.tick();
  // The tick right after the crash (if any) announced the backoff; this one, at the gate, starts.
  REQUIRE(std::holds_alternative<action::StartDaemon>(start.back()));
  n.lifecycle(d, lifecycle::Started{});
  return backoff;
}

}  // namespace

TEST_CASE("daemon arm: a stopped daemon with intent Run is started") {
  Node n;
  register_stopped(n, kEcho);
  auto actions = n.tick();
  CHECK(only<action::StartDaemon>(actions).daemon == kEcho);
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Starting);
}

TEST_CASE("daemon arm: no second start while the first is in flight") {
  Node n;
  register_stopped(n, kEcho);
  REQUIRE(n.tick().size() == 1);
  n.advance(10s);
  CHECK(n.tick().empty());
  n.lifecycle(kEcho, lifecycle::Started{});
  CHECK(n.tick().empty());
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Running);
}

TEST_CASE("daemon arm: a start not confirmed within start_timeout is retried") {
  Node n;
  register_stopped(n, kEcho);
  REQUIRE(n.tick().size() == 1);
  n.advance(n.state.config().start_timeout - 1ms);
  CHECK(n.tick().empty());
  n.advance(1ms);
  auto retry = n.tick();
  CHECK(only<action::StartDaemon>(retry).daemon == kEcho);
}

TEST_CASE("daemon arm: intent Stop stops a running daemon with a 30 s grace, once") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  CHECK(n.tick().empty());
  n.fold(event::DaemonIntentUpdate{kEcho, DaemonIntent::Stop});
  auto actions = n.tick();
  const auto& stop = only<action::StopDaemon>(actions);
  CHECK(stop.daemon == kEcho);
  CHECK(stop.reason == "intent_stop");
  CHECK(stop.deadline == n.now + 30s);
  CHECK(n.daemon(kEcho).lifecycle == DaemonLifecycleState::Stopping);
  CHECK(n.tick().empty());
  n.lifecycle(kEcho, lifecycle::ExitedCleanly{});
  CHECK(n.tick().empty());
  n.fold(event::DaemonIntentUpdate{kEcho, DaemonIntent::Run});
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kEcho);
}

TEST_CASE("daemon arm: a daemon still starting is stopped when its intent turns to Stop") {
  Node n;
  register_stopped(n, kEcho);
  REQUIRE(n.tick().size() == 1);
  n.fold(event::DaemonIntentUpdate{kEcho, DaemonIntent::Stop});
  CHECK(only<action::StopDaemon>(n.tick()).reason == "intent_stop");
}

TEST_CASE("restart backoff doubles from 500 ms and is capped at 60 s") {
  MeshOsConfig config = test_config();
  config.crash_loop_threshold = 1000;  // keep the crash-loop hold out of this sequence
  // Keep the reset out too: with the default (60 s), the start after a 60 s backoff begins a fresh backoff
  // (tested below), so the cap would be reached only once.
  config.healthy_run_reset = 1h;
  Node n(config);
  n.lifecycle(kEcho, lifecycle::Registered{});
  std::vector<Millis> seen;
  for (int i = 0; i < 9; ++i) seen.push_back(crash_and_restart(n, kEcho));
  CHECK(seen == std::vector<Millis>{500ms, 1000ms, 2000ms, 4000ms, 8000ms, 16000ms, 32000ms, 60000ms, 60000ms});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 9);
  CHECK(n.daemon(kEcho).restart.total_crashes == 9);
  CHECK(n.daemon(kEcho).restart.last_crash_reason == "boom");
}

TEST_CASE("restart_backoff saturates for long streaks and odd factors") {
  const MeshOsConfig c = test_config();
  CHECK(restart_backoff(1, c) == 500ms);
  CHECK(restart_backoff(2, c) == 1000ms);
  CHECK(restart_backoff(8, c) == 60s);
  CHECK(restart_backoff(64, c) == 60s);
  CHECK(restart_backoff(UINT32_MAX, c) == 60s);
  MeshOsConfig flat = c;
  flat.restart_backoff_factor = 1;
  CHECK(restart_backoff(40, flat) == 500ms);
  MeshOsConfig huge = c;
  huge.restart_backoff_max = Millis{INT64_MAX / 2};
  huge.restart_backoff_factor = 1000;
  CHECK(restart_backoff(UINT32_MAX, huge) == huge.restart_backoff_max);
}

TEST_CASE("restart_gate: the later of backoff and crash-loop hold, nullopt once passed") {
  const TimePoint t0 = TimePoint{} + 1h;
  RestartState r;
  CHECK_FALSE(restart_gate(r, t0).has_value());
  r.next_start_at = t0 + 1s;
  CHECK(restart_gate(r, t0) == t0 + 1s);
  r.crash_looping_until = t0 + 5min;
  CHECK(restart_gate(r, t0) == t0 + 5min);
  CHECK(restart_gate(r, t0 + 2s) == t0 + 5min);
  CHECK_FALSE(restart_gate(r, t0 + 5min).has_value());
}

TEST_CASE("daemon arm: ApplyBackoff is announced once per backoff window") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kEcho, lifecycle::Crashed{"first"});
  auto announce = n.tick();
  const auto& backoff = only<action::ApplyBackoff>(announce);
  CHECK(backoff.daemon == kEcho);
  CHECK(backoff.until == n.now + 500ms);
  n.advance(200ms);
  CHECK(n.tick().empty());
  n.advance(300ms);
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kEcho);
  n.lifecycle(kEcho, lifecycle::Started{});
  n.lifecycle(kEcho, lifecycle::Crashed{"second"});
  CHECK(only<action::ApplyBackoff>(n.tick()).until == n.now + 1000ms);
  CHECK(n.tick().empty());
}

TEST_CASE("daemon arm: 5 crashes within 60 s hold the daemon off for 5 minutes, then it starts again") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  for (int i = 0; i < 4; ++i) crash_and_restart(n, kEcho);  // 7.5 s of backoff in all: well inside the window
  n.lifecycle(kEcho, lifecycle::Crashed{"fifth"});
  const TimePoint hold_until = n.now + 5min;
  CHECK(n.daemon(kEcho).restart.crash_looping_until == hold_until);
  CHECK(only<action::ApplyBackoff>(n.tick()).until == hold_until);
  n.advance(5min - 1ms);
  CHECK(n.tick().empty());
  n.advance(1ms);
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kEcho);
}

TEST_CASE("daemon arm: crashes spread wider than the window never count as a crash loop") {
  MeshOsConfig config = test_config();
  config.healthy_run_reset = 1h;  // keep the backoff growing so only the window is under test
  Node n(config);
  n.lifecycle(kEcho, lifecycle::Registered{});
  for (int i = 0; i < 8; ++i) {
    n.advance(16s);  // four crashes span 48 s; a fifth would need to land within 60 s of the first
    n.lifecycle(kEcho, lifecycle::Crashed{"slow"});
    n.advance(n.daemon(kEcho).restart.current_backoff);
    n.tick();
    n.lifecycle(kEcho, lifecycle::Started{});
  }
  CHECK_FALSE(n.daemon(kEcho).restart.crash_looping_until.has_value());
  CHECK(n.daemon(kEcho).restart.recent_crashes.size() <= 5);
}

TEST_CASE("daemon arm: a run of 60 s resets the backoff") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  crash_and_restart(n, kEcho);
  crash_and_restart(n, kEcho);
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 2);
  n.advance(60s - 1ms);
  n.lifecycle(kEcho, lifecycle::Crashed{"short of a minute"});
  CHECK(n.daemon(kEcho).restart.current_backoff == 2000ms);
  n.advance(2000ms);
  n.tick();
  n.lifecycle(kEcho, lifecycle::Started{});
  n.advance(60s);
  n.lifecycle(kEcho, lifecycle::Crashed{"after a healthy minute"});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 1);
  CHECK(n.daemon(kEcho).restart.current_backoff == 500ms);
  CHECK(n.daemon(kEcho).restart.total_crashes == 4);
}

TEST_CASE("daemon arm: the start after a full 60 s backoff begins a fresh backoff") {
  MeshOsConfig config = test_config();
  config.crash_loop_threshold = 1000;
  Node n(config);
  n.lifecycle(kEcho, lifecycle::Registered{});
  std::vector<Millis> seen;
  for (int i = 0; i < 9; ++i) seen.push_back(crash_and_restart(n, kEcho));
  CHECK(seen == std::vector<Millis>{500ms, 1000ms, 2000ms, 4000ms, 8000ms, 16000ms, 32000ms, 60000ms, 500ms});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 1);
}

TEST_CASE("daemon arm: a start 60 s after the previous start begins a fresh backoff, however short the run") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  for (int i = 0; i < 3; ++i) crash_and_restart(n, kEcho);
  n.lifecycle(kEcho, lifecycle::Crashed{"fourth"});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 4);
  // Held off for a minute (an operator, a long backoff): the next start is 60 s after the previous one.
  n.advance(60s);
  n.lifecycle(kEcho, lifecycle::Started{});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 0);
  n.advance(1ms);
  n.lifecycle(kEcho, lifecycle::Crashed{"at once"});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 1);
  CHECK(n.daemon(kEcho).restart.current_backoff == 500ms);

  // A start sooner than that keeps the backoff growing.
  n.advance(500ms);
  n.tick();
  n.lifecycle(kEcho, lifecycle::Started{});
  n.advance(1ms);
  n.lifecycle(kEcho, lifecycle::Crashed{"again"});
  CHECK(n.daemon(kEcho).restart.consecutive_crashes == 2);
  CHECK(n.daemon(kEcho).restart.current_backoff == 1000ms);
}

TEST_CASE("maintenance arm: Entering stops every daemon by the drain deadline, then commits Maintenance") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});
  auto fx = n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 120'000}});
  REQUIRE(fx.maintenance_changed.has_value());
  CHECK(fx.maintenance_changed->first == MaintenanceKind::Active);
  CHECK(fx.maintenance_changed->second == MaintenanceKind::EnteringMaintenance);
  const TimePoint deadline = n.now + 120s;

  n.advance(1s);
  auto stops = n.tick();
  REQUIRE(stops.size() == 2);
  for (const auto& a : stops) {
    const auto& stop = std::get<action::StopDaemon>(a);
    CHECK(stop.reason == "drain");
    CHECK(stop.deadline == deadline);
  }
  CHECK(n.tick().empty());
  n.lifecycle(kEcho, lifecycle::ExitedCleanly{});
  CHECK(n.tick().empty());  // sink still running: nothing to commit, nothing to start
  n.lifecycle(kSink, lifecycle::ExitedCleanly{});
  auto commit_actions = n.tick();
  const auto& commit = only<action::CommitMaintenanceTransition>(commit_actions);
  CHECK(commit.node == kThisNode);
  REQUIRE(std::holds_alternative<maintenance::Maintenance>(commit.target));
  CHECK(std::get<maintenance::Maintenance>(commit.target).since == n.now);
  CHECK(n.state.actual().pending_transition == MaintenanceKind::Maintenance);
  CHECK(n.tick().empty());  // pending: not emitted twice

  auto observed = n.fold(event::MaintenanceTransitionObserved{kThisNode, commit.target});
  REQUIRE(observed.maintenance_changed.has_value());
  CHECK(observed.maintenance_changed->second == MaintenanceKind::Maintenance);
  CHECK_FALSE(n.state.actual().pending_transition.has_value());
  n.advance(1h);
  CHECK(n.tick().empty());  // operators exit maintenance; daemons stay down
}

TEST_CASE("maintenance arm: an empty node enters Maintenance at once") {
  Node n;
  n.fold(event::Admin{admin::Drain{kThisNode}});
  auto actions = n.tick();
  CHECK(std::holds_alternative<maintenance::Maintenance>(only<action::CommitMaintenanceTransition>(actions).target));
}

TEST_CASE("maintenance arm: the drain deadline passing first commits DrainFailed with the elapsed time") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 120'000}});
  REQUIRE(n.tick().size() == 1);  // the stop; the daemon never goes
  n.advance(120s - 1ms);
  CHECK(n.tick().empty());
  n.advance(1ms);
  auto actions = n.tick();
  const auto& commit = only<action::CommitMaintenanceTransition>(actions);
  REQUIRE(std::holds_alternative<maintenance::DrainFailed>(commit.target));
  CHECK(std::get<maintenance::DrainFailed>(commit.target).reason == "drain deadline elapsed after 120000 ms");
  auto fx = n.fold(event::MaintenanceTransitionObserved{kThisNode, commit.target});
  CHECK(fx.maintenance_changed == std::make_pair(MaintenanceKind::EnteringMaintenance, MaintenanceKind::DrainFailed));
  CHECK(n.tick().empty());
}

TEST_CASE("maintenance arm: exit restarts the daemons, then Recovery, then Active after the ramp window") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kSink, lifecycle::Registered{});
  n.fold(event::DaemonIntentUpdate{kSink, DaemonIntent::Stop});  // the operator wants sink down regardless
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, std::nullopt}});
  n.tick();
  n.lifecycle(kEcho, lifecycle::ExitedCleanly{});
  n.lifecycle(kSink, lifecycle::ExitedCleanly{});
  auto to_maintenance = n.tick();
  n.fold(event::MaintenanceTransitionObserved{kThisNode, only<action::CommitMaintenanceTransition>(to_maintenance).target});

  auto fx = n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});
  CHECK(fx.maintenance_changed == std::make_pair(MaintenanceKind::Maintenance, MaintenanceKind::ExitingMaintenance));
  auto starts = n.tick();
  CHECK(only<action::StartDaemon>(starts).daemon == kEcho);  // sink keeps its Stop intent
  CHECK(n.tick().empty());
  n.lifecycle(kEcho, lifecycle::Started{});
  n.lifecycle(kEcho, lifecycle::HealthChanged{health::Degraded{"warming up"}});
  CHECK(n.tick().empty());  // degraded: not yet ready to leave
  n.lifecycle(kEcho, lifecycle::HealthChanged{health::Healthy{}});
  auto recovery_actions = n.tick();
  const auto& recovery = only<action::CommitMaintenanceTransition>(recovery_actions);
  REQUIRE(std::holds_alternative<maintenance::Recovery>(recovery.target));
  n.fold(event::MaintenanceTransitionObserved{kThisNode, recovery.target});

  n.advance(n.state.config().recovery_ramp_window - 1ms);
  CHECK(n.tick().empty());
  n.advance(1ms);
  auto active_actions = n.tick();
  CHECK(std::holds_alternative<maintenance::Active>(only<action::CommitMaintenanceTransition>(active_actions).target));
  auto done = n.fold(event::MaintenanceTransitionObserved{kThisNode, maintenance::Active{}});
  CHECK(done.maintenance_changed == std::make_pair(MaintenanceKind::Recovery, MaintenanceKind::Active));
  CHECK(n.tick().empty());
}

TEST_CASE("maintenance arm: a daemon of unknown health counts as ready when exiting") {
  Node n;
  n.fold(event::Admin{admin::Drain{kThisNode}});
  n.fold(event::MaintenanceTransitionObserved{kThisNode, maintenance::Maintenance{n.now}});
  n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});
  n.lifecycle(kEcho, lifecycle::Registered{});
  CHECK_FALSE(n.daemon(kEcho).health.has_value());
  CHECK(std::holds_alternative<maintenance::Recovery>(only<action::CommitMaintenanceTransition>(n.tick()).target));
}

TEST_CASE("maintenance: invalid transitions are rejected and change nothing") {
  Node n;
  auto exit = n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});
  REQUIRE(exit.rejected.has_value());
  CHECK(exit.rejected->kind == "invalid_transition");
  CHECK_FALSE(exit.maintenance_changed.has_value());
  CHECK(n.state.audit_rejected().items().back().outcome == "rejected");
  CHECK(n.state.audit_rejected().items().back().reason_kind == "invalid_transition");

  auto jump = n.fold(event::MaintenanceTransitionObserved{kThisNode, maintenance::Recovery{n.now}});
  REQUIRE(jump.rejected.has_value());
  CHECK(jump.rejected->kind == "invalid_transition");
  CHECK(std::holds_alternative<maintenance::Active>(n.state.actual().maintenance));

  auto same = n.fold(event::MaintenanceTransitionObserved{kThisNode, maintenance::Active{}});
  CHECK_FALSE(same.rejected.has_value());
  CHECK_FALSE(same.maintenance_changed.has_value());
}

TEST_CASE("maintenance: a failed commit dispatch is retried by the next reconcile") {
  Node n;
  n.fold(event::Admin{admin::Drain{kThisNode}});
  auto pending = n.state.record_emitted(n.plan(), n.now);
  REQUIRE(pending.size() == 1);
  CHECK(n.tick().empty());
  n.fold(event::ActionOutcome{pending[0].id, pending[0].action, ActionOutcomeKind::Failed, "dispatcher down", 16});
  CHECK_FALSE(n.state.actual().pending_transition.has_value());
  CHECK(only<action::CommitMaintenanceTransition>(n.tick()).node == kThisNode);
}

TEST_CASE("locality arm: a slow peer is avoided once - the avoid expires after its TTL and re-arms") {
  Node n;
  n.fold(event::RttSample{kPeer, 250ms});
  CHECK(n.tick().empty());  // at the threshold is not over it
  n.fold(event::RttSample{kPeer, 300ms});
  auto actions = n.tick();
  const auto& avoid = only<action::MarkAvoid>(actions);
  CHECK(avoid.peer == kPeer);
  CHECK(avoid.reason == "rtt 300 ms over threshold 250 ms");
  CHECK(avoid.ttl == 5min);
  CHECK(n.state.actual().avoid.at(kPeer).until == n.now + 5min);
  n.advance(5min - 1ms);
  CHECK(n.tick().empty());
  n.advance(1ms);
  CHECK(only<action::MarkAvoid>(n.tick()).peer == kPeer);
}

TEST_CASE("locality arm: an unreachable peer is avoided") {
  Node n;
  n.fold(event::NodeHealth{kPeer, PeerHealth::Unreachable});
  CHECK(only<action::MarkAvoid>(n.tick()).reason == "unreachable");
  n.fold(event::Admin{admin::ClearAvoidList{kThisNode}});
  CHECK(n.state.actual().avoid.empty());
  CHECK(n.plan().size() == 1);
}

TEST_CASE("freeze: nothing is emitted and admin events are refused until thawed or expired") {
  Node n;
  register_stopped(n, kEcho);
  n.fold(event::RttSample{kPeer, 900ms});
  SignedIceCommit freeze;
  freeze.issued_at_ms = n.wall_ms;
  freeze.blast_radius_hash[0] = 1;
  freeze.proposal = ice::FreezeCluster{60'000};
  auto fx = n.fold(event::SignedIce{freeze});
  CHECK_FALSE(fx.rejected.has_value());
  CHECK(n.state.audit().items().back().outcome == "unverified");
  CHECK(n.tick().empty());

  auto cordon = n.fold(event::Admin{admin::Cordon{kThisNode}});
  REQUIRE(cordon.rejected.has_value());
  CHECK(cordon.rejected->kind == "freeze_in_effect");
  CHECK_FALSE(n.state.actual().cordoned);
  const AuditRecord& refused = n.state.audit_rejected().items().back();
  CHECK(refused.commit == "local");
  CHECK(refused.event == "cordon");
  CHECK(refused.outcome == "rejected");
  CHECK(refused.reason_kind == "freeze_in_effect");

  SignedAdminCommit signed_cordon{n.wall_ms, admin::Cordon{kThisNode}, {}};
  CHECK(n.fold(event::SignedAdmin{signed_cordon}).rejected->kind == "freeze_in_effect");

  SignedIceCommit thaw = freeze;
  thaw.proposal = ice::ThawCluster{};
  CHECK_FALSE(n.fold(event::SignedIce{thaw}).rejected.has_value());
  CHECK(n.tick().size() == 2);  // the start and the avoid, held back by the freeze
  n.lifecycle(kEcho, lifecycle::Started{});

  n.fold(event::SignedIce{freeze});
  n.fold(event::DaemonIntentUpdate{kEcho, DaemonIntent::Stop});
  CHECK(n.tick().empty());
  n.advance(60s);
  CHECK(only<action::StopDaemon>(n.tick()).daemon == kEcho);  // the freeze ran out
  CHECK_FALSE(n.state.actual().frozen_until.has_value());
}

TEST_CASE("verifier: signed commits apply only when accepted, and every one is audited") {
  const EntityKeypair alice = EntityKeypair::from_seed(Seed{1});
  const EntityKeypair bob = EntityKeypair::from_seed(Seed{2});
  const EntityKeypair mallory = EntityKeypair::from_seed(Seed{3});
  OperatorRegistry registry;
  REQUIRE(registry.add(alice.public_key()));
  REQUIRE(registry.add(bob.public_key()));
  Node n(test_config(), std::make_shared<AdminVerifier>(registry, 2));
  n.lifecycle(kEcho, lifecycle::Registered{});

  SUBCASE("admin commit by a registered operator is accepted and applied") {
    auto commit = sign_admin(alice, n.wall_ms, admin::Cordon{kThisNode});
    REQUIRE(commit);
    auto fx = n.fold(event::SignedAdmin{*commit});
    CHECK_FALSE(fx.rejected.has_value());
    CHECK(n.state.actual().cordoned);
    const AuditRecord& a = n.state.audit().items().back();
    CHECK(a.commit == "admin");
    CHECK(a.event == "cordon");
    CHECK(a.operators == std::vector<OperatorId>{alice.origin_hash()});
    CHECK(a.outcome == "accepted");
    CHECK(a.reason_kind.empty());

    auto replay = n.fold(event::SignedAdmin{*commit});
    REQUIRE(replay.rejected.has_value());
    CHECK(replay.rejected->kind == "commit_replayed");
  }
  SUBCASE("admin commit by an unknown operator is rejected and not applied") {
    auto commit = sign_admin(mallory, n.wall_ms, admin::Cordon{kThisNode});
    REQUIRE(commit);
    auto fx = n.fold(event::SignedAdmin{*commit});
    REQUIRE(fx.rejected.has_value());
    CHECK(fx.rejected->kind == "not_authorized");
    CHECK_FALSE(n.state.actual().cordoned);
    // A stranger's refusal is counted, not kept, and does not name mallory as its author.
    CHECK(n.state.audit_records().empty());
    REQUIRE(n.state.strangers().last.has_value());
    CHECK(n.state.strangers().last->outcome == "rejected");
    CHECK(n.state.strangers().last->reason_kind == "not_authorized");
    CHECK(n.state.strangers().last->claimed == std::vector<OperatorId>{mallory.origin_hash()});
    CHECK(n.state.strangers().by_kind.at("not_authorized") == 1);
  }
  SUBCASE("a tampered admin commit is rejected") {
    auto commit = sign_admin(alice, n.wall_ms, admin::Cordon{kThisNode});
    REQUIRE(commit);
    commit->event = admin::RestartAllDaemons{kThisNode};
    auto fx = n.fold(event::SignedAdmin{*commit});
    CHECK(fx.rejected->kind == "signature_invalid");
    CHECK(fx.restart_daemons.empty());
  }
  SUBCASE("a stale admin commit is rejected; the verifier judges it by the fold's wall clock") {
    auto commit = sign_admin(alice, n.wall_ms - 301'000, admin::Cordon{kThisNode});
    REQUIRE(commit);
    CHECK(n.fold(event::SignedAdmin{*commit}).rejected->kind == "envelope_expired");
  }
  SUBCASE("an accepted admin commit whose effect is invalid is audited as rejected") {
    auto commit = sign_admin(alice, n.wall_ms, admin::SetDaemonIntent{kThisNode, "nope", false});
    REQUIRE(commit);
    CHECK(n.fold(event::SignedAdmin{*commit}).rejected->kind == "unknown_daemon");
    CHECK(n.state.audit_rejected().items().back().reason_kind == "unknown_daemon");
    CHECK(n.state.audit_rejected().items().back().operators == std::vector<OperatorId>{alice.origin_hash()});
  }
  SUBCASE("break-glass needs the threshold of distinct operators and a simulated blast radius") {
    SignedIceCommit ice;
    ice.issued_at_ms = n.wall_ms;
    ice.proposal = ice::ForceRestartDaemon{kEcho.id};
    ice.blast_radius_hash = n.radius_hash(ice.proposal);
    auto by_alice = sign_ice(alice, ice.issued_at_ms, ice.blast_radius_hash, ice.proposal);
    auto by_bob = sign_ice(bob, ice.issued_at_ms, ice.blast_radius_hash, ice.proposal);
    REQUIRE(by_alice);
    REQUIRE(by_bob);
    ice.signatures = {*by_alice};
    auto short_one = n.fold(event::SignedIce{ice});
    CHECK(short_one.rejected->kind == "insufficient_signatures");
    CHECK(short_one.restart_daemons.empty());

    ice.signatures = {*by_alice, *by_bob};
    auto accepted = n.fold(event::SignedIce{ice});
    CHECK_FALSE(accepted.rejected.has_value());
    CHECK(accepted.restart_daemons == std::vector<DaemonId>{kEcho.id});
    const AuditRecord& a = n.state.audit().items().back();
    CHECK(a.commit == "ice");
    CHECK(a.event == "force_restart_daemon");
    CHECK(a.operators == std::vector<OperatorId>{alice.origin_hash(), bob.origin_hash()});
    CHECK(a.outcome == "accepted");

    // Signed over an all-zero hash: the operators really asked for it unsimulated, and are named for it.
    SignedIceCommit unsimulated = ice;
    unsimulated.blast_radius_hash = {};
    unsimulated.signatures = {*sign_ice(alice, ice.issued_at_ms, {}, ice.proposal),
                              *sign_ice(bob, ice.issued_at_ms, {}, ice.proposal)};
    CHECK(n.fold(event::SignedIce{unsimulated}).rejected->kind == "simulation_required");
    CHECK(n.state.audit_rejected().items().back().operators ==
          std::vector<OperatorId>{alice.origin_hash(), bob.origin_hash()});
    // With the signatures of the simulated proposal it no longer verifies at all.
    unsimulated.signatures = ice.signatures;
    CHECK(n.fold(event::SignedIce{unsimulated}).rejected->kind == "signature_invalid");
  }
  SUBCASE("while frozen, signed admin is refused before it is admitted; ice still applies") {
    SignedIceCommit freeze;
    freeze.issued_at_ms = n.wall_ms;
    freeze.proposal = ice::FreezeCluster{600'000};
    freeze.blast_radius_hash = n.radius_hash(freeze.proposal);
    freeze.signatures = {*sign_ice(alice, freeze.issued_at_ms, freeze.blast_radius_hash, freeze.proposal),
                         *sign_ice(bob, freeze.issued_at_ms, freeze.blast_radius_hash, freeze.proposal)};
    REQUIRE_FALSE(n.fold(event::SignedIce{freeze}).rejected.has_value());
    n.advance(300s);  // the cluster-wide cooldown the freeze started (a thaw shares it); the freeze goes on
    auto commit = sign_admin(alice, n.wall_ms, admin::Cordon{kThisNode});
    REQUIRE(commit);
    CHECK(n.fold(event::SignedAdmin{*commit}).rejected->kind == "freeze_in_effect");
    SignedIceCommit thaw;
    thaw.issued_at_ms = n.wall_ms;
    thaw.proposal = ice::ThawCluster{};
    thaw.blast_radius_hash = n.radius_hash(thaw.proposal);
    thaw.signatures = {*sign_ice(alice, thaw.issued_at_ms, thaw.blast_radius_hash, thaw.proposal),
                       *sign_ice(bob, thaw.issued_at_ms, thaw.blast_radius_hash, thaw.proposal)};
    REQUIRE_FALSE(n.fold(event::SignedIce{thaw}).rejected.has_value());
    // Refused while frozen means never seen by the verifier: the same commit is accepted now.
    CHECK_FALSE(n.fold(event::SignedAdmin{*commit}).rejected.has_value());
    CHECK(n.state.actual().cordoned);
  }
}

TEST_CASE("failed start: the failure is recorded and the next reconcile retries") {
  Node n;
  register_stopped(n, kEcho);
  auto pending = n.state.record_emitted(n.plan(), n.now);
  REQUIRE(pending.size() == 1);
  CHECK(n.tick().empty());
  n.fold(event::ActionOutcome{pending[0].id, pending[0].action, ActionOutcomeKind::Failed, "spawn failed", 3});
  REQUIRE(n.state.failures().size() == 1);
  CHECK(n.state.failures().items().back().reason == "spawn failed");
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kEcho);
}

TEST_CASE("BackpressureGauge asserts at the high mark and releases at the low mark") {
  BackpressureGauge g(1000, 200);
  CHECK(g.update(999) == BackpressureGauge::Change::None);
  CHECK_FALSE(g.active());
  CHECK(g.update(1000) == BackpressureGauge::Change::Asserted);
  CHECK(g.active());
  CHECK(g.update(5000) == BackpressureGauge::Change::None);
  CHECK(g.update(201) == BackpressureGauge::Change::None);
  CHECK(g.active());
  CHECK(g.update(200) == BackpressureGauge::Change::Released);
  CHECK(g.update(0) == BackpressureGauge::Change::None);
  CHECK(g.level(500) == doctest::Approx(0.5f));
  CHECK(g.level(4000) == 1.0f);
}

TEST_CASE("control_for_transition: DrainStart on entering, DrainFinish on leaving Entering, else nothing") {
  const TimePoint t0 = TimePoint{} + 1h;
  auto own = control_for_transition(MaintenanceKind::Active,
                                    maintenance::EnteringMaintenance{t0, t0 + 90s}, t0, 10min);
  REQUIRE(own.has_value());
  CHECK(std::get<control::DrainStart>(*own).deadline == t0 + 90s);
  auto fallback =
      control_for_transition(MaintenanceKind::Active, maintenance::EnteringMaintenance{t0, std::nullopt}, t0, 10min);
  CHECK(std::get<control::DrainStart>(*fallback).deadline == t0 + 10min);
  CHECK(std::holds_alternative<control::DrainFinish>(
      *control_for_transition(MaintenanceKind::EnteringMaintenance, maintenance::Maintenance{t0}, t0, 10min)));
  CHECK(std::holds_alternative<control::DrainFinish>(*control_for_transition(
      MaintenanceKind::EnteringMaintenance, maintenance::DrainFailed{t0, "late"}, t0, 10min)));
  CHECK_FALSE(control_for_transition(MaintenanceKind::Maintenance, maintenance::ExitingMaintenance{t0}, t0, 10min));
  CHECK_FALSE(control_for_transition(MaintenanceKind::Recovery, maintenance::Active{}, t0, 10min));
  CHECK_FALSE(control_for_transition(MaintenanceKind::Maintenance, maintenance::DrainFailed{t0, "x"}, t0, 10min));
}

TEST_CASE("effective_intent: Stop while draining or in maintenance, the operator's intent otherwise") {
  ActualState actual;
  DesiredState desired;
  desired.intents[1] = DaemonIntent::Run;
  desired.intents[2] = DaemonIntent::Stop;
  const TimePoint t0 = TimePoint{} + 1h;
  CHECK(effective_intent(actual, desired, 1) == DaemonIntent::Run);
  CHECK(effective_intent(actual, desired, 2) == DaemonIntent::Stop);
  CHECK(effective_intent(actual, desired, 3) == DaemonIntent::Run);
  for (MaintenanceState s : {MaintenanceState{maintenance::EnteringMaintenance{t0, std::nullopt}},
                             MaintenanceState{maintenance::Maintenance{t0}},
                             MaintenanceState{maintenance::DrainFailed{t0, "x"}}}) {
    actual.maintenance = s;
    CHECK(effective_intent(actual, desired, 1) == DaemonIntent::Stop);
  }
  for (MaintenanceState s :
       {MaintenanceState{maintenance::ExitingMaintenance{t0}}, MaintenanceState{maintenance::Recovery{t0}}}) {
    actual.maintenance = s;
    CHECK(effective_intent(actual, desired, 1) == DaemonIntent::Run);
  }
}

TEST_CASE("reconcile is deterministic: same input, same output") {
  Node n;
  register_stopped(n, kEcho);
  register_stopped(n, kSink);
  n.fold(event::RttSample{kPeer, 400ms});
  auto first = n.plan();
  auto second = n.plan();
  REQUIRE(first.size() == 3);
  REQUIRE(second.size() == first.size());
  for (std::size_t i = 0; i < first.size(); ++i) {
    CHECK(action_kind(first[i]) == std::string(action_kind(second[i])));
    CHECK(action_target(first[i]) == action_target(second[i]));
  }
  CHECK(action_target(first[0]) == "echo");  // daemons in id order, then peers
  CHECK(action_target(first[1]) == "sink");
  CHECK(action_target(first[2]) == to_hex(kPeer));
}

// ---- desired state first (daemons built from factories) and moves on drain ----

namespace {

const DaemonRef kCounter{0xC0, "counter"};
constexpr NodeId kFar = 0xFA5;

// A peer as its hello and heartbeats describe it.
void peer(Node& n, NodeId id, Millis rtt, std::vector<std::string> tags = {}) {
  event::PeerInfo info;
  info.peer = id;
  info.maintenance = view::Active{};
  for (auto& t : tags) info.capabilities.tags.insert(t);
  n.fold(info);
  n.fold(event::RttSample{id, rtt});
}

// The counter as the node built it from its factory, running.
void host_counter(Node& n, CapabilityFilter requirements = {}) {
  n.fold(event::DaemonIntentUpdate{kCounter, DaemonIntent::Run});
  REQUIRE(only<action::StartDaemon>(n.tick()).daemon == kCounter);
  n.lifecycle(kCounter, lifecycle::Registered{std::move(requirements), true});
}

SignedIceCommit kill_migration(const Node& n, std::uint64_t id) {
  SignedIceCommit kill;
  kill.issued_at_ms = n.wall_ms;
  kill.blast_radius_hash[0] = 1;
  kill.proposal = ice::KillMigration{id};
  return kill;
}

}  // namespace

TEST_CASE("desired state: intent Run for a daemon the node lacks starts it from its factory, recorded at once") {
  Node n;
  auto fx = n.fold(event::DaemonIntentUpdate{kCounter, DaemonIntent::Run});
  CHECK_FALSE(fx.rejected.has_value());
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kCounter);
  // Shown from its first start on, and not started twice while that start is in flight.
  CHECK(n.daemon(kCounter).lifecycle == DaemonLifecycleState::Starting);
  CHECK_FALSE(n.daemon(kCounter).registered);
  CHECK(n.state.snapshot(n.now, n.wall_ms, 1, 1).daemons.count(kCounter.id) == 1);
  CHECK(n.tick().empty());

  n.lifecycle(kCounter, lifecycle::Registered{{}, true});
  CHECK(n.daemon(kCounter).lifecycle == DaemonLifecycleState::Running);
  CHECK(n.daemon(kCounter).registered);
  CHECK(n.daemon(kCounter).from_factory);
  CHECK(n.tick().empty());
  // Its lifecycle is recorded like any daemon's: a crash is restarted.
  n.lifecycle(kCounter, lifecycle::Crashed{"boom"});
  n.advance(n.daemon(kCounter).restart.current_backoff);
  CHECK(std::holds_alternative<action::StartDaemon>(n.tick().back()));
}

TEST_CASE("desired state: a start that fails (no factory) waits out a backoff instead of retrying every tick") {
  Node n;
  n.fold(event::DaemonIntentUpdate{kCounter, DaemonIntent::Run});
  auto pending = n.state.record_emitted(n.plan(), n.now);
  REQUIRE(pending.size() == 1);
  n.fold(event::ActionOutcome{pending[0].id, pending[0].action, ActionOutcomeKind::Failed, "no_factory: none", 1});
  CHECK(n.daemon(kCounter).lifecycle == DaemonLifecycleState::Stopped);
  CHECK(n.daemon(kCounter).restart.last_crash_reason == "no_factory: none");
  const Millis backoff = n.daemon(kCounter).restart.current_backoff;
  REQUIRE(backoff.count() > 0);
  auto held = n.tick();
  CHECK(only<action::ApplyBackoff>(held).daemon == kCounter);
  n.advance(backoff / 2);
  CHECK(n.tick().empty());
  n.advance(backoff);
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kCounter);
}

TEST_CASE("desired state: intent Stop for a daemon the node was to host forgets it, one without a name is refused") {
  Node n;
  n.fold(event::DaemonIntentUpdate{kCounter, DaemonIntent::Run});
  n.fold(event::DaemonIntentUpdate{kCounter, DaemonIntent::Stop});
  CHECK(n.state.desired().hosted.empty());
  CHECK(n.tick().empty());
  auto fx = n.fold(event::DaemonIntentUpdate{DaemonRef{0xC1, ""}, DaemonIntent::Run});
  REQUIRE(fx.rejected.has_value());
  CHECK(fx.rejected->kind == "invalid_daemon");
}

TEST_CASE("migration_target: the closest reachable, matching peer not avoided nor in maintenance") {
  Node n;
  host_counter(n);
  const DaemonState& counter = n.daemon(kCounter);
  CHECK(migration_target(n.state.actual(), counter, n.now).error().code() == Errc::no_migration_target);
  peer(n, kPeer, 40ms);
  peer(n, kFar, 90ms, {"zone.eu"});
  CHECK(migration_target(n.state.actual(), counter, n.now).value() == kPeer);

  n.fold(event::NodeHealth{kPeer, PeerHealth::Unreachable});
  CHECK(migration_target(n.state.actual(), counter, n.now).value() == kFar);
  n.fold(event::NodeHealth{kPeer, PeerHealth::Healthy});
  n.state.mutable_actual().avoid[kPeer] = AvoidEntry{"slow", n.now + 1min};
  CHECK(migration_target(n.state.actual(), counter, n.now).value() == kFar);
  n.state.mutable_actual().avoid.clear();
  n.state.mutable_actual().peers.at(kPeer).maintenance = view::EnteringMaintenance{0, 1000};
  CHECK(migration_target(n.state.actual(), counter, n.now).value() == kFar);
  n.state.mutable_actual().peers.at(kPeer).maintenance = view::Active{};

  DaemonState needs_eu = counter;
  needs_eu.requirements.required_tags = {"zone.eu"};
  CHECK(migration_target(n.state.actual(), needs_eu, n.now).value() == kFar);
  needs_eu.requirements.required_tags = {"zone.us"};
  auto none = migration_target(n.state.actual(), needs_eu, n.now);
  REQUIRE_FALSE(none);
  CHECK(none.error().message == "no peer can take it");
  // Equal RTT: the peer running fewer daemons.
  n.fold(event::RttSample{kFar, 40ms});
  n.state.mutable_actual().peers.at(kPeer).daemons = {DaemonDescription{0x1, "x", {}, true}};
  CHECK(migration_target(n.state.actual(), counter, n.now).value() == kFar);
}

TEST_CASE("drain: a daemon built from a factory moves to a peer, a hand-registered one stops") {
  Node n;
  host_counter(n);
  n.lifecycle(kEcho, lifecycle::Registered{});
  peer(n, kPeer, 40ms);
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 60'000}});
  auto actions = n.tick();
  REQUIRE(actions.size() == 2);
  const auto* move = std::get_if<action::MigrateDaemon>(&actions[0]);
  REQUIRE(move != nullptr);
  CHECK(move->daemon == kCounter);
  CHECK(move->target == kPeer);
  CHECK(move->migration != 0);
  CHECK(std::get<action::StopDaemon>(actions[1]).daemon == kEcho);

  auto snap = n.state.snapshot(n.now, n.wall_ms, 1, 1);
  REQUIRE(snap.migrations.size() == 1);
  CHECK(snap.migrations[0].id == move->migration);
  CHECK(snap.migrations[0].daemon == kCounter.id);
  CHECK(snap.migrations[0].target == kPeer);
  CHECK(snap.migrations[0].phase == "snapshotting");
  CHECK(n.tick().empty());  // one move at a time per daemon, and it is not stopped meanwhile
  n.fold(event::MigrationProgress{move->migration, "transferring"});
  CHECK(n.state.actual().migrations.at(move->migration).phase == "transferring");

  n.lifecycle(kEcho, lifecycle::ExitedCleanly{});
  CHECK(n.tick().empty());  // the counter has not left yet
  n.lifecycle(kCounter, lifecycle::Unregistered{});  // it runs on the peer now
  CHECK(n.state.actual().migrations.empty());
  CHECK(n.state.desired().hosted.empty());
  auto commit = n.tick();
  CHECK(std::holds_alternative<maintenance::Maintenance>(only<action::CommitMaintenanceTransition>(commit).target));
}

TEST_CASE("drain: a refused move tries the next peer, with none left the daemon stops and the drain fails naming it") {
  Node n;
  host_counter(n);
  peer(n, kPeer, 40ms);
  peer(n, kFar, 90ms);
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 60'000}});
  for (NodeId expected : {kPeer, kFar}) {
    auto pending = n.state.record_emitted(n.plan(), n.now);
    REQUIRE(pending.size() == 1);
    const auto& move = std::get<action::MigrateDaemon>(pending[0].action);
    CHECK(move.target == expected);
    n.fold(event::ActionOutcome{pending[0].id, pending[0].action, ActionOutcomeKind::Failed, "no_factory: none", 1});
    CHECK(n.state.actual().migrations.empty());
    CHECK(n.daemon(kCounter).lifecycle == DaemonLifecycleState::Running);  // it works here meanwhile
  }
  auto stop_actions = n.tick();
  const auto& stop = only<action::StopDaemon>(stop_actions);
  CHECK(stop.reason.rfind(kStopUnmovable, 0) == 0);
  CHECK(stop.reason.find("refused: no_factory") != std::string::npos);
  n.lifecycle(kCounter, lifecycle::ExitedCleanly{});
  auto commit_actions = n.tick();
  const auto& commit = only<action::CommitMaintenanceTransition>(commit_actions);
  const auto* failed = std::get_if<maintenance::DrainFailed>(&commit.target);
  REQUIRE(failed != nullptr);
  CHECK(failed->reason.find("counter (" + to_hex(kCounter.id) + ")") != std::string::npos);
  CHECK(failed->reason.find("no peer can take it") != std::string::npos);

  // A new drain asks the peers afresh.
  n.fold(event::MaintenanceTransitionObserved{kThisNode, commit.target});
  n.fold(event::Admin{admin::ExitMaintenance{kThisNode}});
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kCounter);
  CHECK(n.daemon(kCounter).unmovable.empty());
  CHECK(n.daemon(kCounter).move_refused.empty());
}

TEST_CASE("KillMigration aborts a move in flight and keeps the daemon running here, an unknown one is refused") {
  Node n;
  host_counter(n);
  peer(n, kPeer, 40ms);
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 60'000}});
  auto pending = n.state.record_emitted(n.plan(), n.now);
  REQUIRE(pending.size() == 1);
  const auto id = std::get<action::MigrateDaemon>(pending[0].action).migration;

  auto unknown = n.fold(event::SignedIce{kill_migration(n, id + 1)});
  REQUIRE(unknown.rejected.has_value());
  CHECK(unknown.rejected->kind == "unknown_migration");
  auto relayed = n.fold(event::SignedIce{kill_migration(n, id + 2), kPeer});
  CHECK_FALSE(relayed.rejected.has_value());
  CHECK(relayed.abort_migrations.empty());

  auto fx = n.fold(event::SignedIce{kill_migration(n, id)});
  CHECK_FALSE(fx.rejected.has_value());
  CHECK(fx.abort_migrations == std::vector<std::uint64_t>{id});
  CHECK(n.state.actual().migrations.at(id).phase == "aborting");
  n.fold(event::MigrationProgress{id, "transferring"});  // what the mover says afterwards does not undo it
  CHECK(n.state.actual().migrations.at(id).phase == "aborting");
  // The mover gives up: the daemon stays here, running.
  n.fold(event::ActionOutcome{pending[0].id, pending[0].action, ActionOutcomeKind::Gated, "aborted by a KillMigration", 1});
  CHECK(n.state.actual().migrations.empty());
  CHECK(n.daemon(kCounter).lifecycle == DaemonLifecycleState::Running);
  // Pinned: it is neither moved again (there is another peer) nor stopped, and the drain ends at once in
  // DrainFailed naming it; a new drain may move it again.
  peer(n, kFar, 90ms);
  CHECK(n.daemon(kCounter).pinned);
  auto commit_actions = n.tick();
  const auto& commit = only<action::CommitMaintenanceTransition>(commit_actions);
  const auto* failed = std::get_if<maintenance::DrainFailed>(&commit.target);
  REQUIRE(failed != nullptr);
  CHECK(failed->reason.find("aborted by a KillMigration") != std::string::npos);
  n.fold(event::MaintenanceTransitionObserved{kThisNode, commit.target});
  CHECK(n.tick().empty());  // DrainFailed stops everything but what an operator kept here
  CHECK(n.daemon(kCounter).lifecycle == DaemonLifecycleState::Running);
  n.fold(event::Admin{admin::EnterMaintenance{kThisNode, 60'000}});
  CHECK_FALSE(n.daemon(kCounter).pinned);
  CHECK(std::holds_alternative<action::MigrateDaemon>(n.tick().at(0)));
}

TEST_CASE("an operator's start for a name the node has no daemon of places one there, built from its factory") {
  Node n;
  auto fx = n.fold(event::Admin{admin::SetDaemonIntent{kThisNode, "counter", true}});
  CHECK_FALSE(fx.rejected.has_value());
  const DaemonId id = hosted_daemon_id(kThisNode, "counter");
  CHECK(id == hosted_daemon_id(kThisNode, "counter"));
  CHECK(id != hosted_daemon_id(kPeer, "counter"));
  CHECK(id != hosted_daemon_id(kThisNode, "counters"));
  const auto actions = n.tick();
  const auto& start = only<action::StartDaemon>(actions);
  CHECK(start.daemon.id == id);
  CHECK(start.daemon.name == "counter");
  // Changing its mind before the daemon registered: forgotten. A stop for a name never asked for is refused.
  CHECK_FALSE(n.fold(event::Admin{admin::SetDaemonIntent{kThisNode, "counter", false}}).rejected.has_value());
  CHECK(n.state.desired().hosted.empty());
  auto unknown = n.fold(event::Admin{admin::SetDaemonIntent{kThisNode, "nothing", false}});
  REQUIRE(unknown.rejected.has_value());
  CHECK(unknown.rejected->kind == "unknown_daemon");
}

TEST_CASE("admit gate: the node's backpressure holds every start back, from factories too, until it is released") {
  Node n;
  register_stopped(n, kEcho);
  ExecutorStats pressed;
  pressed.backpressure_active = true;
  n.state.set_executor_stats(pressed);
  n.fold(event::DaemonIntentUpdate{kCounter, DaemonIntent::Run});
  CHECK(n.tick().empty());
  const auto held = start_hold(n.state.actual(), &n.daemon(kEcho), n.now);
  REQUIRE(held);
  CHECK(held->reason == StartHold::Reason::Backpressure);
  CHECK_FALSE(held->until.has_value());
  CHECK(n.state.snapshot(n.now, n.wall_ms, 1, 1).daemons.at(kEcho.id).start_held == std::optional<std::string>("backpressure"));

  n.state.set_executor_stats(ExecutorStats{});  // released
  CHECK_FALSE(start_hold(n.state.actual(), &n.daemon(kEcho), n.now).has_value());
  auto actions = n.tick();
  REQUIRE(actions.size() == 2);
  CHECK(std::all_of(actions.begin(), actions.end(),
                    [](const MeshOsAction& a) { return std::holds_alternative<action::StartDaemon>(a); }));
  CHECK_FALSE(n.state.snapshot(n.now, n.wall_ms, 1, 1).daemons.at(kEcho.id).start_held.has_value());
}

TEST_CASE("admit gate: a backoff and a crash-loop hold say which, and until when, backpressure or not") {
  Node n;
  n.lifecycle(kEcho, lifecycle::Registered{});
  n.lifecycle(kEcho, lifecycle::Crashed{"first"});
  ExecutorStats pressed;
  pressed.backpressure_active = true;
  n.state.set_executor_stats(pressed);
  auto held = start_hold(n.state.actual(), &n.daemon(kEcho), n.now);
  REQUIRE(held);
  CHECK(held->reason == StartHold::Reason::Backoff);
  CHECK(held->until == n.now + 500ms);
  // The backoff is still announced under backpressure; once it passed, backpressure alone holds the start.
  CHECK(only<action::ApplyBackoff>(n.tick()).until == n.now + 500ms);
  n.advance(500ms);
  CHECK(n.tick().empty());
  CHECK(n.state.snapshot(n.now, n.wall_ms, 1, 1).daemons.at(kEcho.id).start_held == std::optional<std::string>("backpressure"));
  n.state.set_executor_stats(ExecutorStats{});
  CHECK(only<action::StartDaemon>(n.tick()).daemon == kEcho);
  n.lifecycle(kEcho, lifecycle::Started{});

  for (int i = 0; i < 3; ++i) crash_and_restart(n, kEcho);
  n.lifecycle(kEcho, lifecycle::Crashed{"fifth"});
  held = start_hold(n.state.actual(), &n.daemon(kEcho), n.now);
  REQUIRE(held);
  CHECK(held->reason == StartHold::Reason::CrashLoop);
  CHECK(held->until == n.now + 5min);
  CHECK(n.state.snapshot(n.now, n.wall_ms, 1, 1).daemons.at(kEcho.id).start_held == std::optional<std::string>("crash_loop"));
  CHECK(std::string(to_string(StartHold::Reason::CrashLoop)) == "crash_loop");
}
