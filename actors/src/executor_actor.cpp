// The executor: hands actions to the dispatcher on a thread of its own (dispatcher code may block),
// retries and defers within a budget, records every outcome, and drives cluster backpressure.
#include <map>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/reconcile.hpp"

namespace meshos::detail {

namespace {

struct Waiting {
  PendingAction action;
  std::uint32_t attempts = 0;
};

struct ExecutorState {
  RuntimePtr rt;
  caf::actor worker;  // detached: runs the dispatcher
  ActionAdmission admission;
  std::unique_ptr<BackpressureGauge> gauge;
  ExecutorStats stats;
  std::map<ActionId, Waiting> waiting;  // retries and deferrals due later

  void attempt(caf::event_based_actor* self, PendingAction p, std::uint32_t attempts) {
    if (auto why = refusal(p)) {
      settle(self, p, DispatchOutcome::gated(std::move(*why)), attempts);
      return;
    }
    if (attempts == 1) {
      if (auto* stop = std::get_if<action::StopDaemon>(&p.action)) {
        // The daemon hears Shutdown before any dispatcher sees the action, even with its control queue full.
        if (auto slot = rt->find(stop->daemon.id))
          rt->tell_shutdown(slot, saturating_ms_until(stop->deadline, Clock::now()));
      }
    }
    self->request(worker, caf::infinite, dispatch_atom::value, ActionMsg{p})
        .then([this, self, p, attempts](const OutcomeMsg& m) { settle(self, p, m.outcome, attempts); });
  }

  std::optional<std::string> refusal(const PendingAction& p) const {
    if (!admission) return std::nullopt;
    try {
      return admission(p);
    } catch (const std::exception& e) {
      return std::string("admission threw: ") + e.what();
    } catch (...) {
      return std::string("admission threw a non-standard exception");
    }
  }

  void settle(caf::event_based_actor* self, PendingAction p, const DispatchOutcome& out, std::uint32_t attempts) {
    auto budget = rt->config().dispatch_budget;
    switch (out.kind) {
      case DispatchOutcome::Kind::Done:
        ++stats.dispatched;
        finish(self, p, ActionOutcomeKind::Dispatched, {}, attempts);
        return;
      case DispatchOutcome::Kind::Gated:
        ++stats.gated;
        finish(self, p, ActionOutcomeKind::Gated, out.reason, attempts);
        return;
      case DispatchOutcome::Kind::Failed:
        ++stats.failed;
        finish(self, p, ActionOutcomeKind::Failed, out.reason, attempts);
        return;
      case DispatchOutcome::Kind::RetryAfter:
      case DispatchOutcome::Kind::Defer:
        if (attempts > budget) {
          ++stats.failed;
          finish(self, p, ActionOutcomeKind::Failed,
                 "retry budget of " + std::to_string(budget) + " exhausted: " + out.reason, attempts);
          return;
        }
        if (out.kind == DispatchOutcome::Kind::RetryAfter)
          ++stats.retries;
        else
          ++stats.deferred;
        auto id = p.id;
        waiting[id] = Waiting{std::move(p), attempts};
        self->delayed_send(self, out.after, retry_atom::value, id);
        report(self);
        return;
    }
  }

  void finish(caf::event_based_actor* self, const PendingAction& p, ActionOutcomeKind kind, std::string reason,
              std::uint32_t attempts) {
    rt->action_finished();
    if (kind != ActionOutcomeKind::Dispatched)
      rt->publish_internal(event::ActionOutcome{p.id, p.action, kind, std::move(reason), attempts});
    update_backpressure();
    report(self);
  }

  void update_backpressure() {
    auto depth = rt->actions_in_flight();
    switch (gauge->update(depth)) {
      case BackpressureGauge::Change::Asserted:
        ++stats.backpressure_asserts;
        rt->broadcast(BackpressureOn{gauge->level(depth)});
        break;
      case BackpressureGauge::Change::Released:
        ++stats.backpressure_releases;
        rt->broadcast(BackpressureOff{});
        break;
      case BackpressureGauge::Change::None:
        break;
    }
  }

  void report(caf::event_based_actor* self) {
    stats.queue_depth = rt->actions_in_flight();
    stats.dropped = rt->actions_dropped();
    stats.backpressure_active = gauge->active();
    self->send(rt->loop(), exec_stats_atom::value, StatsMsg{stats});
  }
};

}  // namespace

// Dispatcher code may block: it runs on this detached actor's own thread, never on a scheduler worker.
// It has no timers (a pending timer would keep a detached actor, and so CAF's shutdown, waiting).
caf::actor spawn_dispatch_worker(caf::actor_system& sys, std::shared_ptr<ActionDispatcher> user_dispatcher) {
  // The dispatcher is a spawn argument rather than a capture: see spawn_router.
  return sys.spawn<caf::detached>([](caf::event_based_actor* self, std::shared_ptr<ActionDispatcher> dispatcher) -> caf::behavior {
    return {
        [=](dispatch_atom, const ActionMsg& m) -> OutcomeMsg {
          DispatchOutcome out;
          try {
            out = dispatcher ? dispatcher->dispatch(m.action) : DispatchOutcome::done();
          } catch (const std::exception& e) {
            out = DispatchOutcome::failed(std::string("dispatcher threw: ") + e.what());
          } catch (...) {
            out = DispatchOutcome::failed("dispatcher threw a non-standard exception");
          }
          return OutcomeMsg{std::move(out)};
        },
        [=](quit_atom) { self->quit(); },
    };
  }, std::move(user_dispatcher));
}

caf::actor spawn_executor(RuntimePtr rt, std::shared_ptr<ActionDispatcher> dispatcher, ActionAdmission admission) {
  using self_t = caf::stateful_actor<ExecutorState>;
  return rt->system().spawn(
      [](self_t* self, RuntimePtr runtime, std::shared_ptr<ActionDispatcher> d, ActionAdmission admit) -> caf::behavior {
        auto& st = self->state;
        st.rt = std::move(runtime);
        st.admission = std::move(admit);
        st.worker = spawn_dispatch_worker(self->system(), std::move(d));
        st.rt->track(st.worker);
        st.gauge = std::make_unique<BackpressureGauge>(st.rt->config().backpressure_assert_depth,
                                                       st.rt->config().backpressure_release_depth);
        return {
            [=](action_atom, ActionMsg& m) {
              self->state.update_backpressure();
              self->state.attempt(self, std::move(m.action), 1);
            },
            [=](retry_atom, ActionId id) {
              auto& st2 = self->state;
              auto i = st2.waiting.find(id);
              if (i == st2.waiting.end()) return;
              auto w = std::move(i->second);
              st2.waiting.erase(i);
              st2.attempt(self, std::move(w.action), w.attempts + 1);
            },
            [=](quit_atom) {
              self->send<caf::message_priority::high>(self->state.worker, quit_atom::value);
              self->quit();
            },
        };
      },
      std::move(rt), std::move(dispatcher), std::move(admission));
}

}  // namespace meshos::detail
