#include "meshos/state.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <set>
#include <type_traits>

#include "meshos/blast_radius.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/replication.hpp"
#include "meshos/utf8.hpp"

namespace meshos {
namespace {

constexpr const char kTruncationMarker[] = "...[truncated]";
// What an undecodable commit may leave in the audit: the gateway's kind and message, cut.
constexpr std::size_t kMaxUndecodableKindBytes = 64;
constexpr std::size_t kMaxUndecodableMessageBytes = 512;

// Operator-supplied durations (drain_for, freeze ttl) are clamped so that adding them to a steady-clock
// time point can never overflow: a century is far beyond any meaningful deadline.
constexpr std::uint64_t kMaxOperatorDurationMs = 100ull * 365 * 24 * 3600 * 1000;

TimePoint add_ms_clamped(TimePoint t, std::uint64_t ms) {
  return t + Millis{static_cast<Millis::rep>(std::min(ms, kMaxOperatorDurationMs))};
}

SdkError reject(Errc kind, std::string message) { return SdkError{kind, std::move(message)}; }

// Cuts a message to fit kMaxLogMessageBytes including the marker.
std::string truncate_log_message(const std::string& message) {
  if (message.size() <= kMaxLogMessageBytes) return message;
  return utf8_prefix(message, kMaxLogMessageBytes - (sizeof(kTruncationMarker) - 1)) + kTruncationMarker;
}

void clear_restart_hold(RestartState& r) {
  r.consecutive_crashes = 0;
  r.recent_crashes.clear();
  r.current_backoff = Millis{0};
  r.next_start_at.reset();
  r.crash_looping_until.reset();
  r.backoff_announced_until.reset();
}

void record_crash(DaemonState& d, const std::string& reason, TimePoint now, const MeshOsConfig& config) {
  RestartState& r = d.restart;
  if (d.running_since && now - *d.running_since >= config.healthy_run_reset) {
    r.consecutive_crashes = 0;
    r.current_backoff = Millis{0};
  }
  d.lifecycle = DaemonLifecycleState::Stopped;
  d.running_since.reset();
  d.last_exit = now;
  d.transition_started.reset();
  ++r.total_crashes;
  r.last_crash_reason = reason;
  if (r.consecutive_crashes < UINT32_MAX) ++r.consecutive_crashes;
  r.current_backoff = restart_backoff(r.consecutive_crashes, config);
  r.next_start_at = now + r.current_backoff;
  r.recent_crashes.push_back(now);
  while (!r.recent_crashes.empty() && now - r.recent_crashes.front() > config.crash_loop_window) {
    r.recent_crashes.pop_front();
  }
  const std::size_t threshold = std::max<std::uint32_t>(config.crash_loop_threshold, 1);
  while (r.recent_crashes.size() > threshold) r.recent_crashes.pop_front();
  if (r.recent_crashes.size() >= threshold) r.crash_looping_until = now + config.crash_loop_hold;
}

void fold_lifecycle(DaemonState& d, const LifecycleSignal& signal, TimePoint now, const MeshOsConfig& config) {
  std::visit(
      [&](const auto& s) {
        using T = std::decay_t<decltype(s)>;
        if constexpr (std::is_same_v<T, lifecycle::Started>) {
          // As in the original: a start at least healthy_run_reset after the previous one begins a fresh backoff.
          RestartState& r = d.restart;
          if (r.last_started && now - *r.last_started >= config.healthy_run_reset) {
            r.consecutive_crashes = 0;
            r.current_backoff = Millis{0};
          }
          r.last_started = now;
          d.lifecycle = DaemonLifecycleState::Running;
          d.running_since = now;
          d.transition_started.reset();
          ++d.restart.starts;
        } else if constexpr (std::is_same_v<T, lifecycle::ExitedCleanly>) {
          d.lifecycle = DaemonLifecycleState::Stopped;
          d.running_since.reset();
          d.last_exit = now;
          d.transition_started.reset();
        } else if constexpr (std::is_same_v<T, lifecycle::Crashed>) {
          record_crash(d, s.reason, now, config);
        } else if constexpr (std::is_same_v<T, lifecycle::HealthChanged>) {
          d.health = s.health;
        } else if constexpr (std::is_same_v<T, lifecycle::SaturationChanged>) {
          d.saturation = std::isnan(s.saturation) ? 0.0f : std::clamp(s.saturation, 0.0f, 1.0f);
        }
        // Registered / Unregistered change the registry itself and are handled by the caller.
      },
      signal);
}

PeerState& peer_entry(ActualState& actual, NodeId id, TimePoint now) {
  auto [it, inserted] = actual.peers.try_emplace(id);
  if (inserted) {
    it->second.id = id;
    it->second.last_seen = now;
  }
  return it->second;
}

// What a round of inventory probes reported replaces what was known; what it did not report is forgotten only
// after kInventoryMissedRounds clean rounds without it (event::InventoryReport says which rounds count).
void fold_inventory(ActualState& actual, const event::InventoryReport& report, TimePoint now) {
  std::set<NodeId> reported;
  for (const auto& r : report.readings) {
    const NodeId node = r.node == 0 ? actual.this_node : r.node;
    auto& entry = node == actual.this_node ? actual.inventory : peer_entry(actual, node, now).inventory;
    entry = InventoryEntry{r.inventory, now, 0, false};
    reported.insert(node);
  }
  const bool clean = report.failed == 0 && !report.readings.empty();
  if (!clean) return;
  auto miss = [&](NodeId node, std::optional<InventoryEntry>& entry) {
    if (!entry || entry->from_peer || reported.count(node) != 0) return;
    if (++entry->missed_rounds >= kInventoryMissedRounds) entry.reset();
  };
  miss(actual.this_node, actual.inventory);
  for (auto& [id, p] : actual.peers) miss(id, p.inventory);
}

const DaemonState* find_by_name(const ActualState& actual, const std::string& name) {
  for (const auto& [id, d] : actual.daemons) {
    if (d.ref.name == name) return &d;
  }
  return nullptr;
}

// Reverts what record_emitted marked as in flight so the next reconcile tries again.
void undo_in_flight(ActualState& actual, const MeshOsAction& a) {
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, action::StartDaemon> || std::is_same_v<T, action::StopDaemon>) {
          auto it = actual.daemons.find(x.daemon.id);
          if (it == actual.daemons.end()) return;
          DaemonState& d = it->second;
          if constexpr (std::is_same_v<T, action::StartDaemon>) {
            if (d.lifecycle != DaemonLifecycleState::Starting) return;
            d.lifecycle = DaemonLifecycleState::Stopped;
          } else {
            if (d.lifecycle != DaemonLifecycleState::Stopping) return;
            d.lifecycle = DaemonLifecycleState::Running;
          }
          d.transition_started.reset();
        } else if constexpr (std::is_same_v<T, action::ApplyBackoff>) {
          auto it = actual.daemons.find(x.daemon.id);
          if (it != actual.daemons.end() && it->second.restart.backoff_announced_until == x.until) {
            it->second.restart.backoff_announced_until.reset();
          }
        } else if constexpr (std::is_same_v<T, action::MarkAvoid>) {
          actual.avoid.erase(x.peer);
        } else if constexpr (std::is_same_v<T, action::MigrateDaemon>) {
          actual.migrations.erase(x.migration);
        } else {
          static_assert(std::is_same_v<T, action::CommitMaintenanceTransition>, "every action handled");
          if (actual.pending_transition == kind_of(x.target)) actual.pending_transition.reset();
        }
      },
      a);
}

// A failed or gated action leaves a mark where retrying at once would fail the same way: a peer that could not
// take a daemon is not asked again during this drain (a move an operator aborted pins the daemon instead); a daemon the node could not build waits out a backoff, as
// after a crash, instead of being built again on every tick.
void note_failure(ActualState& actual, const MeshOsAction& a, const std::string& reason, TimePoint now,
                  const MeshOsConfig& config) {
  if (const auto* move = std::get_if<action::MigrateDaemon>(&a)) {
    auto it = actual.daemons.find(move->daemon.id);
    if (it != actual.daemons.end()) it->second.move_refused[move->target] = reason;
  } else if (const auto* start = std::get_if<action::StartDaemon>(&a)) {
    auto it = actual.daemons.find(start->daemon.id);
    if (it == actual.daemons.end() || it->second.registered) return;
    RestartState& r = it->second.restart;
    ++r.consecutive_crashes;
    ++r.total_crashes;
    r.current_backoff = restart_backoff(r.consecutive_crashes, config);
    r.next_start_at = now + r.current_backoff;
    r.last_crash_reason = reason;
  }
}

RestartPhase restart_phase(const RestartState& r, TimePoint now) {
  if (r.crash_looping_until && *r.crash_looping_until > now) return RestartPhase::CrashLooping;
  if (r.next_start_at && *r.next_start_at > now) return RestartPhase::BackingOff;
  return RestartPhase::Ready;
}

// Events that may change what persistent_state.hpp keeps: commits (their effect, the verifier's memory and
// the audit), this node's maintenance transitions, intents, and an avoid entry taken back. Expiry on a tick
// is not among them: a restored deadline expires by itself.
bool may_change_persistent_state(const MeshOsEvent& ev, NodeId this_node) {
  if (std::holds_alternative<event::Admin>(ev) || std::holds_alternative<event::SignedAdmin>(ev) ||
      std::holds_alternative<event::SignedIce>(ev) || std::holds_alternative<event::DaemonIntentUpdate>(ev))
    return true;
  if (const auto* t = std::get_if<event::MaintenanceTransitionObserved>(&ev)) return t->node == this_node;
  if (const auto* o = std::get_if<event::ActionOutcome>(&ev))
    return o->outcome != ActionOutcomeKind::Dispatched && std::holds_alternative<action::MarkAvoid>(o->action);
  return false;
}

}  // namespace

DaemonId hosted_daemon_id(NodeId node, const std::string& name) {
  std::uint64_t h = 0xcbf29ce484222325ULL;  // FNV-1a over the name, then the node mixed in
  for (unsigned char c : name) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  h ^= node * 0x9E3779B97F4A7C15ULL;
  return h == 0 ? 1 : h;
}

MeshOsState::MeshOsState(MeshOsConfig config, std::shared_ptr<AdminVerifier> verifier)
    : config_(std::move(config)),
      verifier_(std::move(verifier)),
      logs_(config_.log_ring_capacity),
      audit_(config_.audit_ring_capacity),
      audit_rejected_(config_.audit_ring_capacity),
      failures_(config_.failure_ring_capacity),
      recent_actions_(config_.recent_actions_capacity) {
  actual_.this_node = config_.this_node;
}

namespace {

// Everything one fold step reads and writes, so the per-event handlers stay small free functions.
struct FoldStep {
  const MeshOsConfig& config;
  ActualState& actual;
  DesiredState& desired;
  TimePoint now;
  std::int64_t wall_ms;
  FoldEffects& effects;

  // A commit for another node changes that node's state, on that node; here only the mirror follows, until
  // the node's own description (its hello) says where it really is.
  void mirror_admin(const AdminEvent& e) {
    auto peer = actual.peers.find(admin_target(e));
    if (peer == actual.peers.end()) return;
    auto& mirror = peer->second.maintenance;
    if (const auto* enter = std::get_if<admin::EnterMaintenance>(&e)) {
      const auto drain = enter->drain_for_ms ? std::min(*enter->drain_for_ms, kMaxOperatorDurationMs)
                                             : static_cast<std::uint64_t>(config.default_drain_deadline.count());
      mirror = view::EnteringMaintenance{0, drain};
    } else if (std::holds_alternative<admin::ExitMaintenance>(e) && mirror &&
               kind_of(*mirror) != MaintenanceKind::Active) {
      mirror = view::ExitingMaintenance{0};
    }
  }

  std::optional<SdkError> apply_admin(const AdminEvent& e) {
    if (admin_target(e) != actual.this_node) {
      mirror_admin(e);
      return std::nullopt;
    }
    return std::visit(
        [&](const auto& x) -> std::optional<SdkError> {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, admin::EnterMaintenance> || std::is_same_v<T, admin::Drain>) {
            std::optional<Millis> drain_for;
            if constexpr (std::is_same_v<T, admin::EnterMaintenance>) {
              if (x.drain_for_ms) {
                drain_for = Millis{static_cast<Millis::rep>(std::min(*x.drain_for_ms, kMaxOperatorDurationMs))};
              }
            }
            const MaintenanceKind from = kind_of(actual.maintenance);
            actual.maintenance = enter_maintenance(now, drain_for, config.default_drain_deadline);
            actual.pending_transition.reset();
            // Every drain asks the peers afresh.
            for (auto& kv : actual.daemons) {
              kv.second.move_refused.clear();
              kv.second.unmovable.clear();
              kv.second.pinned = false;
            }
            // Reported even when already entering: the drain restarted with a new deadline.
            effects.maintenance_changed = std::make_pair(from, MaintenanceKind::EnteringMaintenance);
          } else if constexpr (std::is_same_v<T, admin::ExitMaintenance>) {
            auto next = exit_maintenance(actual.maintenance, now);
            if (!next) return next.error();
            const MaintenanceKind from = kind_of(actual.maintenance);
            actual.maintenance = std::move(next.value());
            actual.pending_transition.reset();
            effects.maintenance_changed = std::make_pair(from, kind_of(actual.maintenance));
          } else if constexpr (std::is_same_v<T, admin::Cordon>) {
            actual.cordoned = true;
          } else if constexpr (std::is_same_v<T, admin::Uncordon>) {
            actual.cordoned = false;
          } else if constexpr (std::is_same_v<T, admin::RestartAllDaemons>) {
            for (const auto& kv : actual.daemons) effects.restart_daemons.push_back(kv.first);
          } else if constexpr (std::is_same_v<T, admin::ClearAvoidList>) {
            actual.avoid.clear();
          } else if constexpr (std::is_same_v<T, admin::RestartDaemon>) {
            const DaemonState* d = find_by_name(actual, x.daemon);
            if (!d || !d->registered)
              return reject(Errc::unknown_daemon, "no daemon named '" + x.daemon + "' is registered");
            effects.restart_daemons.push_back(d->ref.id);
          } else {
            static_assert(std::is_same_v<T, admin::SetDaemonIntent>, "every admin event handled");
            const DaemonState* d = find_by_name(actual, x.daemon);
            if (d && !d->registered && !x.run) {
              // Still being built for the first time: forgotten; should the build finish all the same, the
              // daemon registers stopped (the operator's intent by name applies on registration).
              const DaemonId id = d->ref.id;
              actual.daemons.erase(id);
              desired.hosted.erase(id);
              desired.intents.erase(id);
              desired.operator_intents[x.daemon] = DaemonIntent::Stop;
              return std::nullopt;
            }
            if (!d) {
              // None of that name here: the operator asks this node to build one from its factory (placement),
              // or no longer wants the one it asked for.
              const DaemonId id = hosted_daemon_id(actual.this_node, x.daemon);
              if (x.run) {
                desired.hosted[id] = DaemonRef{id, x.daemon};
                desired.intents[id] = DaemonIntent::Run;
                desired.operator_intents[x.daemon] = DaemonIntent::Run;
                return std::nullopt;
              }
              if (desired.hosted.erase(id) != 0) {
                desired.intents.erase(id);
                return std::nullopt;
              }
              return reject(Errc::unknown_daemon, "no daemon named '" + x.daemon + "' is registered");
            }
            desired.intents[d->ref.id] = x.run ? DaemonIntent::Run : DaemonIntent::Stop;
            desired.operator_intents[x.daemon] = desired.intents[d->ref.id];
          }
          return std::nullopt;
        },
        e);
  }

  // Freeze and thaw: the commit issued last decides (ties: the higher digest), whatever order the commits
  // arrived in, so nodes that saw the same commits agree. A freeze lasts until its issue time plus its ttl.
  std::optional<SdkError> decide_freeze(const SignedIceCommit& c, CommitDigest digest) {
    const std::pair<std::int64_t, CommitDigest> key{c.issued_at_ms, digest};
    if (actual.freeze_decided_by && key < *actual.freeze_decided_by) {
      return reject(Errc::superseded, std::string("a freeze or thaw issued later (at ") +
                                      std::to_string(actual.freeze_decided_by->first) +
                                      " ms) decides the cluster's freeze");
    }
    actual.freeze_decided_by = key;
    actual.frozen_until.reset();
    if (const auto* freeze = std::get_if<ice::FreezeCluster>(&c.proposal)) {
      const std::int64_t end = saturating_add(c.issued_at_ms, static_cast<std::int64_t>(std::min(
                                                                   freeze->ttl_ms, kMaxOperatorDurationMs)));
      if (end > wall_ms) actual.frozen_until = add_ms_clamped(now, distance_ms(wall_ms, end));
    }
    return std::nullopt;
  }

  // `relayed`: a peer accepted the commit; what targets something this node does not hold is only known here.
  std::optional<SdkError> apply_ice(const SignedIceCommit& c, CommitDigest digest, bool relayed) {
    return std::visit(
        [&](const auto& x) -> std::optional<SdkError> {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, ice::FreezeCluster> || std::is_same_v<T, ice::ThawCluster>) {
            return decide_freeze(c, digest);
          } else if constexpr (std::is_same_v<T, ice::FlushAvoidLists>) {
            if (const auto* local = std::get_if<avoid_scope::Local>(&x.scope)) {
              if (local->node == actual.this_node) actual.avoid.clear();  // another node's list is its own
            } else if (const auto* on_peer = std::get_if<avoid_scope::OnPeer>(&x.scope)) {
              actual.avoid.erase(on_peer->peer);
            } else {
              actual.avoid.clear();
            }
          } else if constexpr (std::is_same_v<T, ice::ForceRestartDaemon>) {
            auto it = actual.daemons.find(x.daemon);
            if (it == actual.daemons.end()) {
              if (relayed) return std::nullopt;
              return reject(Errc::unknown_daemon, "no daemon " + to_hex(x.daemon));
            }
            clear_restart_hold(it->second.restart);
            effects.restart_daemons = {x.daemon};
          } else {
            static_assert(std::is_same_v<T, ice::KillMigration>, "every ice action handled");
            auto it = actual.migrations.find(x.migration_id);
            if (it == actual.migrations.end()) {
              if (relayed) return std::nullopt;
              return reject(Errc::unknown_migration, "no migration " + to_hex(x.migration_id) + " on this node");
            }
            it->second.phase = "aborting";
            effects.abort_migrations.push_back(x.migration_id);
            if (auto d = actual.daemons.find(it->second.daemon.id); d != actual.daemons.end()) d->second.pinned = true;
          }
          return std::nullopt;
        },
        c.proposal);
  }

  // Refusals that do not depend on who signed: checked before verification so that a refused commit
  // does not consume its signature in the verifier's replay memory.
  // A commit for a peer this node knows is accepted and mirrored (apply_admin), then forwarded to the
  // cluster; one relayed by a peer is mirrored whatever it targets and whatever the freeze here: the node it
  // is for decides for itself.
  std::optional<SdkError> precheck_admin(const AdminEvent& e, bool relayed) const {
    const NodeId target = admin_target(e);
    const bool mine = target == actual.this_node;
    if (actual.frozen(now) && (mine || !relayed)) {
      return reject(Errc::freeze_in_effect, "cluster frozen for another " +
                                            std::to_string(saturating_ms_until(*actual.frozen_until, now)) +
                                            " ms; only break-glass commits apply");
    }
    // No wildcard: a commit applies to the node it names, and only there. 0 names no node (only a node
    // without an identity of its own, an SDK off the network, is node 0).
    if (target == 0 && !mine) {
      return reject(Errc::wrong_node, "commit names no target node (0); a target is required: this is node " +
                                      to_hex(actual.this_node));
    }
    if (mine || relayed || actual.peers.count(target) != 0) return std::nullopt;
    return reject(Errc::wrong_node, "commit targets node " + to_hex(target) + ", which is neither this node (" +
                                    to_hex(actual.this_node) + ") nor a peer it knows");
  }

  void fold_observed_transition(const event::MaintenanceTransitionObserved& e) {
    if (e.node != actual.this_node) {
      peer_entry(actual, e.node, now).maintenance = view_of(e.state, now);
      return;
    }
    const MaintenanceKind from = kind_of(actual.maintenance);
    const MaintenanceKind to = kind_of(e.state);
    if (actual.pending_transition == to) actual.pending_transition.reset();
    if (!is_valid_successor(from, to)) {
      effects.rejected = reject(Errc::invalid_transition, std::string("maintenance cannot go from ") + to_string(from) +
                                                          " to " + to_string(to));
      return;
    }
    actual.maintenance = e.state;
    actual.pending_transition.reset();
    if (from != to) effects.maintenance_changed = std::make_pair(from, to);
  }
};

}  // namespace

FoldEffects MeshOsState::fold(const MeshOsEvent& ev, TimePoint now, std::int64_t wall_ms) {
  FoldEffects effects;
  FoldStep step{config_, actual_, desired_, now, wall_ms, effects};
  ++loop_stats_.events_folded;

  // For a signed commit: the peer that forwarded it, and the node it is for when not this one.
  NodeId relayed_from = 0;
  NodeId mirrored_for = 0;
  // One commit's record: `verified` signed it, `claimed` only name themselves as its signers; a stranger's
  // refusal is counted, not kept (see audit()).
  auto audit = [&](const char* commit, std::string event_name, const std::vector<OperatorId>& signers,
                   bool verified, const char* applied_outcome, const std::optional<SdkError>& refusal,
                   bool stranger = false) {
    AuditRecord rec;
    rec.seq = ++audit_seq_;
    rec.wall_ms = wall_ms;
    rec.commit = commit;
    rec.event = std::move(event_name);
    (verified ? rec.operators : rec.claimed) = signers;
    rec.outcome = refusal ? "rejected" : applied_outcome;
    rec.relayed_from = relayed_from;
    if (!refusal) rec.mirrored_for = mirrored_for;
    if (refusal) {
      rec.reason_kind = refusal->kind;
      rec.reason = refusal->message;
      effects.rejected = refusal;
    }
    effects.stranger = stranger;
    audit_commit(std::move(rec), stranger);
  };
  // Applies a signed commit once its verification outcome is known; audits it as accepted, as refused by
  // its verified signers, or as a stranger's refusal.
  auto settle = [&](const char* commit, std::string event_name, const std::vector<OperatorId>& signers,
                    const VerificationOutcome& verdict, auto&& apply) {
    if (const auto* rejected = std::get_if<outcome::Rejected>(&verdict)) {
      audit(commit, std::move(event_name), signers, rejected->authenticated, "rejected",
            SdkError::from_wire(rejected->kind, rejected->message), !rejected->authenticated);
      return;
    }
    audit(commit, std::move(event_name), signers, true, outcome_kind(verdict), apply());
  };
  // A commit a peer forwards is folded once: a copy of one this node knows (accepted or refused) is ignored.
  bool known_copy = false;
  auto first_sight_of_relayed = [&](NodeId from, CommitDigest digest) {
    if (from == 0) return true;
    if (!commits_->knows(digest)) return true;
    ++loop_stats_.commits_relayed_known;
    known_copy = true;
    return false;
  };
  // A relayed commit the verifier remembers accepting (before a restart emptied the log): known, not refused.
  auto accepted_before = [&](NodeId from, const VerificationOutcome& verdict) {
    const auto* rejected = std::get_if<outcome::Rejected>(&verdict);
    if (from == 0 || rejected == nullptr || rejected->kind != to_string(Errc::commit_replayed)) return false;
    ++loop_stats_.commits_relayed_known;
    known_copy = true;
    return true;
  };
  // What this node now knows of the commit: kept to offer peers once applied; a refused relayed one is only
  // remembered as seen.
  auto settle_knowledge = [&](AnySignedCommit c, CommitDigest digest, NodeId from, const FoldEffects& fx) {
    if (from != 0) ++loop_stats_.commits_relayed;
    if (!fx.rejected) {
      know_commit(std::move(c), digest, from);
    } else if (from != 0) {
      refuse_relayed(digest);
    }
  };
  // Without a verifier nothing is authenticated: the commit applies as unverified, its signers only claimed.
  auto unverified = [&](const char* commit, std::string event_name, const std::vector<OperatorId>& signers,
                        std::optional<SdkError> refusal, auto&& apply) {
    if (!refusal) refusal = apply();
    audit(commit, std::move(event_name), signers, false, "unverified", refusal);
  };

  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, event::Tick>) {
          ++loop_stats_.ticks;
          for (auto it = actual_.avoid.begin(); it != actual_.avoid.end();) {
            it = it->second.until <= now ? actual_.avoid.erase(it) : std::next(it);
          }
          if (actual_.frozen_until && *actual_.frozen_until <= now) actual_.frozen_until.reset();
          prune_commits(wall_ms);
          // A start that timed out: only an unsettled daemon can be starting.
          auto time_out_start = [&](DaemonState& d) {
            if (d.lifecycle == DaemonLifecycleState::Starting && d.transition_started &&
                now - *d.transition_started >= config_.start_timeout) {
              d.lifecycle = DaemonLifecycleState::Stopped;
              d.transition_started.reset();
            }
          };
          if (actual_.unsettled) {
            for (DaemonId id : *actual_.unsettled)
              if (auto it = actual_.daemons.find(id); it != actual_.daemons.end()) time_out_start(it->second);
          } else {
            for (auto& entry : actual_.daemons) time_out_start(entry.second);
          }
        } else if constexpr (std::is_same_v<T, event::DaemonLifecycle>) {
          const DaemonId id = e.daemon.id;
          if (const auto* registered = std::get_if<lifecycle::Registered>(&e.signal)) {
            DaemonState d;
            d.ref = e.daemon;
            d.requirements = registered->requirements;
            d.from_factory = registered->from_factory;
            if (d.from_factory) desired_.hosted[id] = e.daemon;
            d.lifecycle = DaemonLifecycleState::Running;
            d.registered_at = now;
            d.running_since = now;
            d.restart.starts = 1;
            d.restart.last_started = now;
            actual_.daemons[id] = std::move(d);
            auto set_by_operator = desired_.operator_intents.find(e.daemon.name);
            if (set_by_operator != desired_.operator_intents.end()) {
              desired_.intents[id] = set_by_operator->second;
            } else {
              desired_.intents.try_emplace(id, DaemonIntent::Run);
            }
          } else if (std::holds_alternative<lifecycle::Unregistered>(e.signal)) {
            actual_.daemons.erase(id);
            desired_.intents.erase(id);
            desired_.hosted.erase(id);
            // A daemon that moved leaves this node here: its migration is over.
            for (auto m = actual_.migrations.begin(); m != actual_.migrations.end();)
              m = m->second.daemon.id == id ? actual_.migrations.erase(m) : std::next(m);
          } else if (auto it = actual_.daemons.find(id); it != actual_.daemons.end()) {
            fold_lifecycle(it->second, e.signal, now, config_);
          }
        } else if constexpr (std::is_same_v<T, event::RttSample>) {
          PeerState& p = peer_entry(actual_, e.peer, now);
          p.rtt = std::max(e.rtt, Clock::duration::zero());
          p.last_seen = now;
        } else if constexpr (std::is_same_v<T, event::NodeHealth>) {
          PeerState& p = peer_entry(actual_, e.peer, now);
          p.health = e.health;
          if (e.health != PeerHealth::Unreachable) p.last_seen = now;
        } else if constexpr (std::is_same_v<T, event::Admin>) {
          auto refusal = step.precheck_admin(e.event, false);
          if (!refusal) refusal = step.apply_admin(e.event);
          audit("local", admin_kind(e.event), {}, true, "accepted", refusal);
        } else if constexpr (std::is_same_v<T, event::SignedAdmin>) {
          const auto& c = e.commit;
          const CommitDigest digest = commit_digest(c);
          if (!first_sight_of_relayed(e.relayed_from, digest)) return;
          relayed_from = e.relayed_from;
          if (admin_target(c.event) != actual_.this_node) mirrored_for = admin_target(c.event);
          const bool relayed = e.relayed_from != 0;
          const std::vector<OperatorId> signers{c.signature.operator_id};
          auto apply = [&] { return step.apply_admin(c.event); };
          if (!verifier_) {
            unverified("admin", admin_kind(c.event), signers, step.precheck_admin(c.event, relayed), apply);
          } else {
            // The node's own checks run once the signer is known, so their refusals are the signer's.
            auto precheck = [&]() -> std::optional<outcome::Rejected> {
              auto refusal = step.precheck_admin(c.event, relayed);
              if (!refusal) return std::nullopt;
              return outcome::Rejected{refusal->kind, refusal->message};
            };
            auto verdict = verifier_->verify_admin(c, wall_ms, precheck);
            if (accepted_before(e.relayed_from, verdict)) return know_commit(AnySignedCommit{c}, digest, e.relayed_from);
            settle("admin", admin_kind(c.event), signers, verdict, apply);
          }
          settle_knowledge(AnySignedCommit{c}, digest, e.relayed_from, effects);
        } else if constexpr (std::is_same_v<T, event::SignedIce>) {
          const auto& c = e.commit;
          const CommitDigest digest = commit_digest(c);
          if (!first_sight_of_relayed(e.relayed_from, digest)) return;
          relayed_from = e.relayed_from;
          const bool relayed = e.relayed_from != 0;
          std::vector<OperatorId> signers;
          for (const auto& s : c.signatures) signers.push_back(s.operator_id);
          auto apply = [&] { return step.apply_ice(c, digest, relayed); };
          if (!verifier_) {
            unverified("ice", ice_kind(c.proposal), signers, std::nullopt, apply);
          } else {
            IceChecks checks;
            if (relayed) {
              checks.cooldown = false;
              // A node back from a long absence still learns a freeze that outlives the freshness window.
              if (const auto* freeze = std::get_if<ice::FreezeCluster>(&c.proposal))
                checks.freshness = !(c.issued_at_ms <= wall_ms &&
                                     distance_ms(c.issued_at_ms, wall_ms) < freeze->ttl_ms);
            }
            // The node it is submitted to simulates it again: signers signed the radius they were shown. A
            // relayed copy was checked where it was submitted; another node's view of the cluster differs.
            auto same_radius = [&]() -> std::optional<outcome::Rejected> {
              const BlastRadius radius = simulate(c.proposal, snapshot(now, wall_ms, 0, 0));
              if (blast_radius_hash(radius) == c.blast_radius_hash) return std::nullopt;
              return outcome::Rejected{
                  to_string(Errc::blast_radius_changed),
                  std::string("break-glass ") + ice_kind(c.proposal) + " was signed for another blast radius than " +
                      "it has now (" + std::to_string(radius.nodes.size()) + " nodes, " +
                      std::to_string(radius.daemons.size()) + " daemons, " + std::to_string(radius.peers.size()) +
                      " peers); simulate it again and sign that"};
            };
            auto verdict = relayed ? verifier_->verify_ice(c, wall_ms, checks)
                                   : verifier_->verify_ice(c, wall_ms, checks, same_radius);
            if (accepted_before(e.relayed_from, verdict)) return know_commit(AnySignedCommit{c}, digest, e.relayed_from);
            settle("ice", ice_kind(c.proposal), signers, verdict, apply);
          }
          settle_knowledge(AnySignedCommit{c}, digest, e.relayed_from, effects);
        } else if constexpr (std::is_same_v<T, event::CommitUndecodable>) {
          audit(utf8_prefix(e.commit, kMaxUndecodableKindBytes).c_str(), "", {}, false, "rejected",
                SdkError::from_wire(e.kind.empty() ? std::string(to_string(Errc::invalid_commit))
                                                   : utf8_prefix(e.kind, kMaxUndecodableKindBytes),
                                    utf8_prefix(e.message, kMaxUndecodableMessageBytes)),
                true);
        } else if constexpr (std::is_same_v<T, event::Log>) {
          LogRecord rec;
          rec.seq = ++log_seq_;
          rec.wall_ms = wall_ms;
          rec.node_id = actual_.this_node;
          rec.level = e.line.level;
          rec.daemon_id = e.line.daemon_id;
          rec.message = truncate_log_message(e.line.message);
          logs_.push(std::move(rec));
          loop_stats_.logs_evicted = logs_.evicted();
        } else if constexpr (std::is_same_v<T, event::DaemonIntentUpdate>) {
          if (actual_.daemons.count(e.daemon.id) == 0) {
            // Desired state first: a daemon the node lacks is built from the factory of its name.
            if (e.daemon.name.empty()) {
              effects.rejected = reject(Errc::invalid_daemon, "a daemon to host needs a name (its factory's)");
            } else if (e.intent == DaemonIntent::Run) {
              desired_.hosted[e.daemon.id] = e.daemon;
              desired_.intents[e.daemon.id] = DaemonIntent::Run;
            } else if (desired_.hosted.erase(e.daemon.id) != 0) {
              desired_.intents.erase(e.daemon.id);
            } else {
              effects.rejected = reject(Errc::unknown_daemon, "no daemon " + to_hex(e.daemon.id) + " is registered");
            }
          } else {
            desired_.intents[e.daemon.id] = e.intent;
            // The application's word is the latest: an operator's older one must not come back on a restart.
            desired_.operator_intents.erase(actual_.daemons.at(e.daemon.id).ref.name);
          }
        } else if constexpr (std::is_same_v<T, event::MaintenanceTransitionObserved>) {
          step.fold_observed_transition(e);
        } else if constexpr (std::is_same_v<T, event::Shutdown>) {
          effects.shutdown_requested = true;
        } else if constexpr (std::is_same_v<T, event::MigrationProgress>) {
          auto it = actual_.migrations.find(e.migration);
          // An abort decided here outranks what the moving code reports afterwards.
          if (it != actual_.migrations.end() && it->second.phase != "aborting") it->second.phase = e.phase;
        } else if constexpr (std::is_same_v<T, event::CapabilitiesPublished>) {
          if (!e.daemon) {
            actual_.node_capabilities = e.capabilities;
          } else if (auto it = actual_.daemons.find(*e.daemon); it != actual_.daemons.end()) {
            it->second.capabilities = e.capabilities;
          } else {
            effects.rejected = reject(Errc::unknown_daemon, "no daemon " + to_hex(*e.daemon) + " is registered");
          }
        } else if constexpr (std::is_same_v<T, event::PeerInfo>) {
          PeerState& p = peer_entry(actual_, e.peer, now);
          p.name = e.name;
          p.version = e.version;
          p.capabilities = e.capabilities;
          p.daemons = e.daemons;
          p.maintenance = e.maintenance;
          p.last_seen = now;
          if (e.inventory) {
            // Unchanged figures keep their age: a peer describes itself anew only when something changed.
            if (!p.inventory || !p.inventory->from_peer || p.inventory->inventory != *e.inventory)
              p.inventory = InventoryEntry{*e.inventory, now, 0, true};
          } else if (p.inventory && p.inventory->from_peer) {
            p.inventory.reset();
          }
        } else if constexpr (std::is_same_v<T, event::PeerRemoved>) {
          actual_.peers.erase(e.peer);
        } else if constexpr (std::is_same_v<T, event::InventoryReport>) {
          fold_inventory(actual_, e, now);
        } else {
          static_assert(std::is_same_v<T, event::ActionOutcome>, "every event handled");
          if (e.outcome == ActionOutcomeKind::Dispatched) return;
          if (e.outcome == ActionOutcomeKind::Failed) {
            FailureRecord rec;
            rec.id = e.id;
            rec.action_kind = action_kind(e.action);
            rec.target = action_target(e.action);
            rec.reason = e.reason;
            rec.attempts = e.attempts;
            rec.wall_ms = wall_ms;
            failures_.push(std::move(rec));
            loop_stats_.failures_evicted = failures_.evicted();
          }
          note_failure(actual_, e.action, e.reason, now, config_);
          // A gated action never reached the dispatcher either: both leave nothing in flight.
          undo_in_flight(actual_, e.action);
        }
      },
      ev);
  // A stranger's refusal is only counted (strangers()), not kept: a flood of them must not mean a flood of writes.
  if (!effects.stranger && !known_copy && may_change_persistent_state(ev, actual_.this_node)) ++persistent_revision_;
  touched_by(ev);
  settle_index(now);
  return effects;
}

void MeshOsState::touched_by(const MeshOsEvent& ev) {
  std::visit(
      [&](const auto& e) {
        using T = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<T, event::Tick>) {
          // Time moved: an unsettled daemon may settle (its restart gate passed, its start timed out).
          if (actual_.unsettled) recheck_.insert(recheck_.end(), actual_.unsettled->begin(), actual_.unsettled->end());
        } else if constexpr (std::is_same_v<T, event::DaemonLifecycle> || std::is_same_v<T, event::DaemonIntentUpdate>) {
          touched(e.daemon.id);
        } else if constexpr (std::is_same_v<T, event::CapabilitiesPublished>) {
          if (e.daemon) touched(*e.daemon);
        } else if constexpr (std::is_same_v<T, event::ActionOutcome>) {
          if (auto id = action_daemon(e.action)) touched(*id);
        } else if constexpr (std::is_same_v<T, event::RttSample> || std::is_same_v<T, event::NodeHealth> ||
                             std::is_same_v<T, event::Log> || std::is_same_v<T, event::PeerInfo> ||
                             std::is_same_v<T, event::PeerRemoved> || std::is_same_v<T, event::InventoryReport> ||
                             std::is_same_v<T, event::CommitUndecodable> || std::is_same_v<T, event::Shutdown> ||
                             std::is_same_v<T, event::MigrationProgress>) {
          // About peers, the node or the record: no daemon's entry or need of reconcile depends on them.
        } else {
          // Commits and maintenance reach across daemons (intents by name, drains, restarts of all).
          static_assert(std::is_same_v<T, event::Admin> || std::is_same_v<T, event::SignedAdmin> ||
                            std::is_same_v<T, event::SignedIce> || std::is_same_v<T, event::MaintenanceTransitionObserved>,
                        "every event classified");
          forget_changes();
        }
      },
      ev);
}

bool MeshOsState::needs_reconcile(DaemonId id, TimePoint now) const {
  auto it = actual_.daemons.find(id);
  if (it == actual_.daemons.end()) return desired_.hosted.count(id) != 0;
  const DaemonState& d = it->second;
  return d.lifecycle != DaemonLifecycleState::Running || d.transition_started ||
         restart_phase(d.restart, now) != RestartPhase::Ready ||
         effective_intent(actual_, desired_, id) != DaemonIntent::Run;
}

void MeshOsState::settle_index(TimePoint now) {
  if (!actual_.unsettled) {
    std::set<DaemonId> unsettled;
    for (const auto& entry : actual_.daemons)
      if (needs_reconcile(entry.first, now)) unsettled.insert(unsettled.end(), entry.first);
    for (const auto& entry : desired_.hosted)
      if (actual_.daemons.count(entry.first) == 0) unsettled.insert(entry.first);
    actual_.unsettled = std::move(unsettled);
  } else {
    for (DaemonId id : recheck_) {
      if (needs_reconcile(id, now)) {
        actual_.unsettled->insert(id);
      } else if (actual_.unsettled->erase(id) != 0) {
        changed_.insert(id);  // settled by time passing: its entry (restart phase) is rebuilt once more
      }
    }
  }
  recheck_.clear();
}

void MeshOsState::know_commit(AnySignedCommit c, CommitDigest digest, NodeId relayed_from) {
  if (commits_->knows(digest)) return;  // an operator handed this node a commit it had from a peer
  auto next = std::make_shared<CommitKnowledge>(*commits_);
  next->log.push_back(KnownCommit{next_commit_seq_++, digest, std::move(c), relayed_from});
  while (next->log.size() > kCommitLogCapacity) {
    auto victim = next->log.begin();
    if (actual_.freeze_decided_by && victim->digest == actual_.freeze_decided_by->second) ++victim;
    next->log.erase(victim);
    ++loop_stats_.commit_log_evicted;
  }
  commits_ = std::move(next);
}

void MeshOsState::refuse_relayed(CommitDigest digest) {
  auto next = std::make_shared<CommitKnowledge>(*commits_);
  next->refused.push_back(digest);
  if (next->refused.size() > kRefusedRelayCapacity) next->refused.erase(next->refused.begin());
  commits_ = std::move(next);
}

std::int64_t MeshOsState::commit_lifetime_ms() const {
  const VerifierPolicy policy = verifier_ ? verifier_->policy() : VerifierPolicy{};
  return saturating_add(std::max<std::int64_t>(policy.freshness_ms, 0), std::max<std::int64_t>(policy.future_skew_ms, 0));
}

void MeshOsState::prune_commits(std::int64_t wall_ms) {
  const std::uint64_t lifetime = static_cast<std::uint64_t>(commit_lifetime_ms());
  auto stale = [&](const KnownCommit& k) {
    const std::int64_t issued = commit_issued_at_ms(k.commit);
    if (issued > wall_ms || distance_ms(issued, wall_ms) <= lifetime) return false;
    // The commit deciding a freeze still in force is what a returning peer must learn.
    return !(actual_.freeze_decided_by && actual_.freeze_decided_by->second == k.digest && actual_.frozen_until);
  };
  if (std::none_of(commits_->log.begin(), commits_->log.end(), stale)) return;
  auto next = std::make_shared<CommitKnowledge>(*commits_);
  next->log.erase(std::remove_if(next->log.begin(), next->log.end(), stale), next->log.end());
  commits_ = std::move(next);
}

void MeshOsState::audit_commit(AuditRecord rec, bool stranger) {
  if (stranger) {
    ++strangers_.total;
    const bool known = strangers_.by_kind.count(rec.reason_kind) != 0;
    ++strangers_.by_kind[known || strangers_.by_kind.size() < kMaxStrangerKinds ? rec.reason_kind : "other"];
    strangers_.last = std::move(rec);
  } else if (rec.outcome == "rejected") {
    audit_rejected_.push(std::move(rec));
  } else {
    audit_.push(std::move(rec));
  }
  loop_stats_.audit_evicted = audit_.evicted();
  loop_stats_.audit_rejected_evicted = audit_rejected_.evicted();
}

std::vector<AuditRecord> MeshOsState::audit_records() const {
  std::vector<AuditRecord> all;
  all.reserve(audit_.size() + audit_rejected_.size());
  std::merge(audit_.items().begin(), audit_.items().end(), audit_rejected_.items().begin(),
             audit_rejected_.items().end(), std::back_inserter(all),
             [](const AuditRecord& a, const AuditRecord& b) { return a.seq < b.seq; });
  return all;
}

void MeshOsState::restore_audit(const std::vector<AuditRecord>& records, std::uint64_t last_seq) {
  audit_.clear();
  audit_rejected_.clear();
  for (const auto& r : records) (r.outcome == "rejected" ? audit_rejected_ : audit_).push(r);
  audit_seq_ = last_seq;
}

void MeshOsState::restore_logs(std::vector<LogRecord> records) {
  for (auto& r : records) {
    // Numbers only ever rise in the ring (a follower reads from the last number it saw).
    r.seq = std::max(r.seq, log_seq_ + 1);
    log_seq_ = r.seq;
    logs_.push(std::move(r));
  }
  loop_stats_.logs_evicted = logs_.evicted();
}

std::vector<PendingAction> MeshOsState::record_emitted(std::vector<MeshOsAction> actions, TimePoint now) {
  std::vector<PendingAction> out;
  out.reserve(actions.size());
  for (auto& a : actions) {
    std::visit(
        [&](auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, action::StartDaemon> || std::is_same_v<T, action::StopDaemon>) {
            auto it = actual_.daemons.find(x.daemon.id);
            if constexpr (std::is_same_v<T, action::StartDaemon>) {
              // A daemon desired state wants and nobody registered yet: recorded from its first start on.
              if (it == actual_.daemons.end() && desired_.hosted.count(x.daemon.id) != 0) {
                DaemonState placeholder;
                placeholder.ref = x.daemon;
                placeholder.registered = false;
                placeholder.from_factory = true;
                placeholder.registered_at = now;
                it = actual_.daemons.emplace(x.daemon.id, std::move(placeholder)).first;
              }
              if (it != actual_.daemons.end()) {
                it->second.unmovable.clear();
                it->second.move_refused.clear();
              }
            } else if (it != actual_.daemons.end() && x.reason.rfind(kStopUnmovable, 0) == 0) {
              it->second.unmovable = x.reason.substr(std::size(kStopUnmovable) - 1);
            }
            if (it == actual_.daemons.end()) return;
            it->second.lifecycle = std::is_same_v<T, action::StartDaemon> ? DaemonLifecycleState::Starting
                                                                           : DaemonLifecycleState::Stopping;
            it->second.transition_started = now;
          } else if constexpr (std::is_same_v<T, action::ApplyBackoff>) {
            auto it = actual_.daemons.find(x.daemon.id);
            if (it != actual_.daemons.end()) it->second.restart.backoff_announced_until = x.until;
          } else if constexpr (std::is_same_v<T, action::MarkAvoid>) {
            actual_.avoid[x.peer] = AvoidEntry{x.reason, now + x.ttl};
            ++persistent_revision_;
          } else if constexpr (std::is_same_v<T, action::MigrateDaemon>) {
            // Unique among this node's moves; mixed with the node id so that ids from different nodes, as
            // operators see them in the cluster's snapshots, do not collide.
            x.migration = (actual_.this_node * 0x9E3779B97F4A7C15ULL) ^ next_action_id_;
            actual_.migrations[x.migration] = MigrationState{x.migration, x.daemon, x.target, "snapshotting", now};
          } else {
            static_assert(std::is_same_v<T, action::CommitMaintenanceTransition>, "every action handled");
            actual_.pending_transition = kind_of(x.target);
          }
        },
        a);
    if (auto id = action_daemon(a)) touched(*id);
    PendingAction p{next_action_id_++, std::move(a), now};
    recent_actions_.push(p);
    out.push_back(std::move(p));
  }
  loop_stats_.actions_emitted += out.size();
  settle_index(now);
  return out;
}

DaemonSnapshot MeshOsState::daemon_entry(DaemonId id, const DaemonState& d, TimePoint now) const {
  DaemonSnapshot ds;
  ds.id = id;
  ds.name = d.ref.name;
  ds.lifecycle = d.lifecycle;
  auto intent = desired_.intents.find(id);
  ds.intent = intent == desired_.intents.end() ? DaemonIntent::Run : intent->second;
  ds.health = d.health;
  ds.saturation = d.saturation;
  ds.restart = restart_phase(d.restart, now);
  ds.consecutive_crashes = d.restart.consecutive_crashes;
  ds.total_crashes = d.restart.total_crashes;
  ds.starts = d.restart.starts;
  if (auto gate = restart_gate(d.restart, now)) ds.restart_at_ms = clock_ms(*gate);
  ds.last_crash_reason = d.restart.last_crash_reason;
  ds.registered_at_ms = clock_ms(d.registered_at);
  if (d.last_exit) ds.last_exit_at_ms = clock_ms(*d.last_exit);
  ds.node = actual_.this_node;
  if (d.lifecycle == DaemonLifecycleState::Stopped && effective_intent(actual_, desired_, id) == DaemonIntent::Run) {
    if (auto hold = start_hold(actual_, &d, now)) ds.start_held = to_string(hold->reason);
  }
  if (d.lifecycle == DaemonLifecycleState::Running && d.running_since) ds.running_since_ms = clock_ms(*d.running_since);
  ds.capabilities = d.capabilities;
  return ds;
}

MeshOsSnapshot MeshOsState::snapshot(TimePoint now, std::int64_t wall_ms, std::uint64_t epoch,
                                     std::uint64_t seq) const {
  MeshOsSnapshot s;
  s.runtime_epoch = epoch;
  s.seq = seq;
  s.daemons = all_entries(now);
  fill_snapshot_except_daemons(s, now, wall_ms);
  return s;
}

DaemonSnapshots MeshOsState::all_entries(TimePoint now) const {
  DaemonSnapshots none;
  DaemonSnapshots::Builder daemons(none);
  for (const auto& [id, d] : actual_.daemons) daemons.put(id, daemon_entry(id, d, now));
  return std::move(daemons).finish();
}

MeshOsSnapshot MeshOsState::next_snapshot(TimePoint now, std::int64_t wall_ms, std::uint64_t epoch,
                                          std::uint64_t seq) {
  // The entries of unsettled daemons move with time (restart phase, start hold); the others only through
  // the events about them, which touched() noted.
  if (changed_all_ || !actual_.unsettled) {
    entries_ = all_entries(now);
  } else {
    DaemonSnapshots::Builder daemons(entries_);
    auto rebuild = [&](DaemonId id) {
      auto it = actual_.daemons.find(id);
      if (it == actual_.daemons.end()) {
        daemons.erase(id);
      } else {
        daemons.put(id, daemon_entry(id, it->second, now));
      }
    };
    for (DaemonId id : changed_) rebuild(id);
    for (DaemonId id : *actual_.unsettled)
      if (changed_.count(id) == 0) rebuild(id);
    entries_ = std::move(daemons).finish();
  }
  changed_.clear();
  changed_all_ = false;
  MeshOsSnapshot s;
  s.runtime_epoch = epoch;
  s.seq = seq;
  s.daemons = entries_;
  fill_snapshot_except_daemons(s, now, wall_ms);
  return s;
}

void MeshOsState::fill_snapshot_except_daemons(MeshOsSnapshot& s, TimePoint now, std::int64_t wall_ms) const {
  s.node_id = actual_.this_node;
  s.wall_ms = wall_ms;
  s.clock_ms = clock_ms(now);
  for (const auto& [id, p] : actual_.peers) {
    PeerSnapshot ps;
    ps.node = id;
    if (p.rtt) ps.rtt_ms = std::chrono::duration<double, std::milli>(*p.rtt).count();
    ps.health = p.health;
    ps.maintenance = p.maintenance;
    ps.capability_tags.assign(p.capabilities.tags.begin(), p.capabilities.tags.end());
    ps.daemons = p.daemons;
    ps.name = p.name;
    ps.version = p.version;
    ps.last_seen_ms = saturating_ms_since(p.last_seen, now);
    if (p.inventory) ps.inventory = InventorySnapshot{p.inventory->inventory, saturating_ms_since(p.inventory->observed, now)};
    s.peers.emplace(id, std::move(ps));
  }
  for (const auto& [peer, entry] : actual_.avoid) {
    if (entry.until > now) s.avoid.push_back(AvoidSnapshot{peer, entry.reason, saturating_ms_until(entry.until, now)});
  }
  s.local_maintenance = view_of(actual_.maintenance, now);
  s.cordoned = actual_.cordoned;
  if (actual_.inventory)
    s.inventory = InventorySnapshot{actual_.inventory->inventory, saturating_ms_since(actual_.inventory->observed, now)};
  s.node_capabilities = actual_.node_capabilities;
  for (const auto& p : recent_actions_.items()) {
    s.recent_actions.push_back(
        ActionSnapshot{p.id, action_kind(p.action), action_target(p.action), saturating_ms_since(p.emitted_at, now)});
  }
  s.recent_failures = failures_.to_vector();
  for (auto& f : s.recent_failures) f.age_ms = wall_ms > f.wall_ms ? static_cast<std::uint64_t>(wall_ms - f.wall_ms) : 0;
  if (actual_.frozen(now)) s.freeze_remaining_ms = saturating_ms_until(*actual_.frozen_until, now);
  s.audit = audit_records();
  s.audit_strangers = strangers_;
  s.commits = commits_;
  s.logs = logs_.to_vector();
  for (const auto& [id, m] : actual_.migrations)
    s.migrations.push_back(MigrationSnapshot{id, m.daemon.id, m.target, m.phase});
  s.executor = executor_stats_;
  s.loop = loop_stats_;
  s.loop.logs_evicted = logs_.evicted();
  s.loop.failures_evicted = failures_.evicted();
  s.loop.audit_evicted = audit_.evicted();
  s.loop.audit_rejected_evicted = audit_rejected_.evicted();
}

}  // namespace meshos
