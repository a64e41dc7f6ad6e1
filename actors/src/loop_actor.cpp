// The loop: sole owner of the node's state. Folds events in arrival order, reconciles once per tick, hands
// the actions to the executor and publishes an immutable snapshot after every reconcile.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/state.hpp"

namespace meshos::detail {

namespace {

struct LoopState {
  RuntimePtr rt;
  std::unique_ptr<MeshOsState> state;
  std::uint64_t snapshot_seq = 0;
  TimePoint next_tick;

  static std::optional<NodeId> peer_of(const MeshOsEvent& ev) {
    if (auto* e = std::get_if<event::NodeHealth>(&ev)) return e->peer;
    if (auto* e = std::get_if<event::RttSample>(&ev)) return e->peer;
    if (auto* e = std::get_if<event::PeerInfo>(&ev)) return e->peer;
    if (auto* e = std::get_if<event::PeerRemoved>(&ev)) return e->peer;
    return std::nullopt;
  }

  std::optional<PeerHealth> peer_health(NodeId peer) const {
    auto i = state->actual().peers.find(peer);
    if (i == state->actual().peers.end()) return std::nullopt;
    return i->second.health;
  }

  void fold(const MeshOsEvent& ev) {
    auto now = Clock::now();
    auto peer = peer_of(ev);
    auto health_before = peer ? peer_health(*peer) : std::nullopt;
    auto effects = state->fold(ev, now, wall_clock_ms());
    // A peer that appeared, left, became unreachable or came back is news that should not wait for the next
    // tick (RTT samples of a known peer are not).
    if (peer && peer_health(*peer) != health_before) publish_snapshot(now);
    if (effects.maintenance_changed) {
      auto from = effects.maintenance_changed->first;
      if (auto c = control_for_transition(from, state->actual().maintenance, now,
                                          state->config().default_drain_deadline))
        rt->broadcast(to_daemon_control(*c, now));
    }
    for (auto id : effects.restart_daemons)
      if (auto slot = rt->find(id)) caf::anon_send(slot->actor, restart_atom::value);
    if (effects.rejected && !std::holds_alternative<event::Log>(ev)) {
      state->fold(event::Log{LogLine{LogLevel::Warn, std::nullopt,
                                     std::string("rejected ") + event_kind(ev) + ": " + effects.rejected->to_string()}},
                  now, wall_clock_ms());
    }
  }

  void publish_snapshot(TimePoint now) {
    auto& stats = state->loop_stats();
    stats.events_rejected = rt->intake.dropped();
    stats.control_dropped = rt->control_dropped();
    stats.actions_dropped = rt->actions_dropped.load(std::memory_order_relaxed);
    auto built = state->snapshot(now, wall_clock_ms(), rt->epoch(), ++snapshot_seq);
    // The executor reports when it finishes something; a stuck dispatcher must not freeze these figures.
    built.executor.dropped = stats.actions_dropped;
    built.executor.queue_depth = rt->action_depth.load(std::memory_order_relaxed);
    auto snap = std::make_shared<const MeshOsSnapshot>(std::move(built));
    rt->store_snapshot(snap);
    rt->snapshots_published.fetch_add(1, std::memory_order_relaxed);
    rt->fan_out(snap);
  }

  void tick(caf::event_based_actor* self) {
    auto now = Clock::now();
    fold(event::Tick{});  // counts the tick
    auto actions = reconcile(state->actual(), state->desired(), now, state->config());
    auto pending = state->record_emitted(std::move(actions), now);
    auto capacity = state->config().action_queue_capacity;
    for (auto& p : pending) {
      if (rt->action_depth.load(std::memory_order_acquire) >= capacity) {
        rt->actions_dropped.fetch_add(1, std::memory_order_relaxed);
        // The action never runs: undo its in-flight marks so a later reconcile emits it again.
        fold(event::ActionOutcome{p.id, p.action, ActionOutcomeKind::Failed, "action queue full", 0});
        continue;
      }
      rt->action_depth.fetch_add(1, std::memory_order_acq_rel);
      self->send(rt->executor, action_atom::value, ActionMsg{std::move(p)});
    }
    self->send(rt->router, poll_atom::value);
    publish_snapshot(now);
    schedule_tick(self, now);
  }

  // Drift-compensated: the next tick is due one interval after the previous due time, not after now.
  void schedule_tick(caf::event_based_actor* self, TimePoint now) {
    auto interval = state->config().tick_interval;
    next_tick += interval;
    if (next_tick <= now) next_tick = now + interval;
    self->delayed_send(self, next_tick - now, tick_atom::value);
  }
};

}  // namespace

caf::actor spawn_loop(RuntimePtr rt, std::shared_ptr<AdminVerifier> verifier) {
  using self_t = caf::stateful_actor<LoopState>;
  return rt->system().spawn(
      [](self_t* self, RuntimePtr runtime, std::shared_ptr<AdminVerifier> v) -> caf::behavior {
        auto& st = self->state;
        st.rt = std::move(runtime);
        st.state = std::make_unique<MeshOsState>(st.rt->config(), std::move(v));
        auto now = Clock::now();
        st.next_tick = now;
        st.publish_snapshot(now);  // snapshot() is never empty, even before the first tick
        st.schedule_tick(self, now);
        return {
            [=](event_atom, const EventMsg& m) {
              self->state.rt->intake.release();
              self->state.fold(m.event);
            },
            [=](internal_atom, const EventMsg& m) { self->state.fold(m.event); },
            [=](tick_atom) { self->state.tick(self); },
            [=](exec_stats_atom, const StatsMsg& m) { self->state.state->set_executor_stats(m.stats); },
            [=](quit_atom) { self->quit(); },
        };
      },
      std::move(rt), std::move(verifier));
}

}  // namespace meshos::detail
