// One actor per registered daemon. It owns the MeshDaemon object: every call into daemon code happens here,
// and an exception from daemon code is a crash of this daemon only, reported to the loop.
#include <deque>
#include <optional>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

namespace {

struct DaemonActorState {
  RuntimePtr rt;
  std::shared_ptr<DaemonSlot> slot;
  std::shared_ptr<MeshDaemon> daemon;  // shared only because CAF copies spawn arguments
  bool running = true;
  std::optional<Bytes> last_snapshot;
  std::optional<DaemonHealth> last_health;
  float last_saturation = 0.0f;
  std::uint64_t processed = 0;
  std::uint64_t outputs = 0;
  std::uint64_t rejected = 0;  // causal events that arrived while stopped
  std::uint64_t errors = 0;    // process calls that returned an error or threw
  std::uint64_t crashes = 0;
  std::optional<std::string> last_error;
  // Work done since the state was last taken: an idle stateful daemon is not asked for its state again.
  bool state_changed = false;
  // On its way to a peer: its state is out, so what it would process now would be lost with it. Work is refused
  // (daemon_moving, retriable: the daemon runs on the peer soon, or here again if the move fails).
  bool moving = false;
  // Hosted on a thread of its own (DaemonHosting::OwnThread): the shared actor in front of this one, which
  // everything reaches it through. Its timers go through it too, so that no pending timer holds this
  // detached actor (CAF 0.17 waits for a detached actor's last reference before its system may end). Weak:
  // the front holds this one.
  caf::actor_addr front;

  // `msg` to this actor after `delay`: through the front when there is one (none once the front is gone: the
  // daemon is leaving, nothing is due any more).
  template <class... Ts>
  void after(caf::event_based_actor* self, Clock::duration delay, Ts&&... msg) {
    if (!front) {
      self->delayed_send(self, delay, std::forward<Ts>(msg)...);
    } else if (auto through = caf::actor_cast<caf::actor>(front)) {
      self->delayed_send(through, delay, std::forward<Ts>(msg)...);
    }
  }

  // The latest Shutdown's grace ends here. A stop that comes before it waits for a pull-model daemon to say
  // it finished (stop_pending, numbered so that a grace_over of an earlier wait is told apart).
  std::optional<TimePoint> grace_ends;
  bool stop_pending = false;
  std::uint64_t stop_generation = 0;

  // Causal events held back while control events routed to this daemon are still on their way: CAF's
  // priorities let urgent messages overtake only across scheduling rounds, so the daemon enforces "control
  // first" itself. Bounded: each held event keeps its data credit until it is processed.
  struct Held {
    CausalEvent event;
    caf::response_promise reply;  // pending() only for process requests
  };
  std::deque<Held> held;

  void report(LifecycleSignal s) { rt->publish_internal(event::DaemonLifecycle{slot->daemon, std::move(s)}); }

  void crash(const std::string& what) {
    ++crashes;
    last_error = what;
    running = false;
    report(lifecycle::Crashed{what});
  }

  // Runs daemon code; an exception becomes a crash. Returns false if it crashed.
  template <class F>
  bool guarded(const char* where, F&& f) {
    try {
      f();
      return true;
    } catch (const std::exception& e) {
      crash(std::string(where) + " threw: " + e.what());
    } catch (...) {
      crash(std::string(where) + " threw a non-standard exception");
    }
    return false;
  }

  // is_stateful() is daemon code too: a throw is a crash like any other (nullopt).
  std::optional<bool> stateful() {
    bool yes = false;
    if (!guarded("is_stateful", [&] { yes = daemon->is_stateful(); })) return std::nullopt;
    return yes;
  }

  void take_snapshot() {
    if (!stateful().value_or(false)) return;
    guarded("snapshot", [&] {
      if (auto s = daemon->snapshot()) last_snapshot = std::move(*s);
      state_changed = false;
    });
  }

  // On the actor's own cadence (daemon-check-interval): what changed is reported to the loop, nothing else.
  void check() {
    if (!running) return;
    guarded("health", [&] {
      auto h = daemon->health();
      if (!last_health || !(*last_health == h)) {
        last_health = h;
        report(lifecycle::HealthChanged{h});
      }
      float s = daemon->saturation();
      if (!(s >= 0.0f)) s = 0.0f;  // NaN and negatives
      if (s > 1.0f) s = 1.0f;
      if (s != last_saturation) {
        last_saturation = s;
        report(lifecycle::SaturationChanged{s});
      }
    });
    if (running && state_changed) take_snapshot();
  }

  void start() {
    if (running) return;
    if (last_snapshot) {
      auto is_stateful = stateful();
      if (!is_stateful) return;
      bool restored = !*is_stateful || guarded("restore", [&] {
        auto r = daemon->restore(*last_snapshot);
        if (!r) throw std::runtime_error(r.error().to_string());
      });
      if (!restored) return;
    }
    running = true;
    last_health.reset();
    report(lifecycle::Started{});
  }

  void stop() {
    stop_pending = false;
    if (!running) return;
    take_snapshot();
    running = false;
    report(lifecycle::ExitedCleanly{});
  }

  // A drain's or an intent's stop: a pull-model daemon's own thread may still be finishing after the Shutdown
  // it took, so the stop waits for its word (finished_atom) until that Shutdown's grace ends.
  void stop_when_finished(caf::event_based_actor* self) {
    const auto now = Clock::now();
    if (!running || stop_pending) return;
    if (grace_ends && now < *grace_ends && slot->awaits_acknowledgement()) {
      stop_pending = true;
      after(self, *grace_ends - now, grace_over_atom::value, ++stop_generation);
      return;
    }
    stop();
  }

  void grace_over(std::uint64_t generation) {
    if (!stop_pending || generation != stop_generation) return;
    rt->publish_internal(
        event::Log{LogLine::warn("did not say it finished within its Shutdown grace; stopped").from(slot->daemon.id)});
    stop();
  }

  // Everything accepted so far is processed first, so the state that leaves holds all of it.
  MoveOutMsg move_out() {
    MoveOutMsg out;
    release_held(/*force=*/true);
    if (!running) {
      out.error = SdkError{Errc::not_running, "daemon " + slot->daemon.name + " is not running"};
      return out;
    }
    auto is_stateful = stateful();
    if (!is_stateful) {
      out.error = SdkError{Errc::snapshot_failed, "daemon " + slot->daemon.name + " crashed in is_stateful()"};
      return out;
    }
    if (*is_stateful && !guarded("snapshot", [&] { out.state = daemon->snapshot(); })) {
      out.error = SdkError{Errc::snapshot_failed, "daemon " + slot->daemon.name + " crashed in snapshot()"};
      return out;
    }
    moving = true;
    return out;
  }

  // The state a move brought in, before any work reaches the daemon here.
  OutputsMsg restore(const Bytes& state) {
    OutputsMsg out;
    auto is_stateful = stateful();
    if (is_stateful && !*is_stateful && !state.empty()) {
      out.error = SdkError{Errc::restore_failed, "daemon " + slot->daemon.name + " is stateless but state came with it"};
      return out;
    }
    bool restored = is_stateful && guarded("restore", [&] {
      auto r = daemon->restore(state);
      if (!r) throw std::runtime_error(r.error().to_string());
    });
    if (!restored) {
      out.error = SdkError{Errc::restore_failed, "daemon " + slot->daemon.name + " could not restore the state it moved with"};
      return out;
    }
    last_snapshot = state;
    state_changed = false;
    return out;
  }

  DaemonHostStats stats() const {
    std::uint64_t evicted = 0;
    {
      std::lock_guard<std::mutex> lock(slot->mu);
      evicted = slot->inbox_dropped;
    }
    return DaemonHostStats{processed, outputs, errors, rejected, crashes, last_error, running, evicted};
  }

  // The state as it is now; a stopped daemon's is what it restarts from.
  MoveOutMsg save_state() {
    MoveOutMsg out;
    if (!running) {
      out.state = last_snapshot;
      return out;
    }
    auto is_stateful = stateful();
    if (!is_stateful) {
      out.error = SdkError{Errc::snapshot_failed, "daemon " + slot->daemon.name + " crashed in is_stateful()"};
    } else if (*is_stateful && !guarded("snapshot", [&] { out.state = daemon->snapshot(); })) {
      out.error = SdkError{Errc::snapshot_failed, "daemon " + slot->daemon.name + " crashed in snapshot()"};
    } else if (out.state) {
      last_snapshot = out.state;
      state_changed = false;
    }
    return out;
  }

  // An operator's or application's restore: unlike a move's, the daemon may refuse the state (its restore()
  // returns an error) and go on as it was; only a throw is a crash.
  OutputsMsg load_state(const Bytes& state) {
    OutputsMsg out;
    auto failed = [&](std::string why) {
      out.error = SdkError{Errc::restore_failed, "daemon " + slot->daemon.name + ": " + std::move(why)};
    };
    auto is_stateful = stateful();
    if (!is_stateful) {
      failed("crashed in is_stateful()");
    } else if (!*is_stateful) {
      failed("it is stateless");
    } else {
      std::optional<SdkError> refused;
      if (!guarded("restore", [&] {
            if (auto r = daemon->restore(state); !r) refused = r.error();
          })) {
        failed("crashed in restore()");
      } else if (refused) {
        last_error = refused->kind + ": " + refused->message;
        failed("refused the state: " + *last_error);
      } else {
        last_snapshot = state;
        state_changed = false;
      }
    }
    return out;
  }

  bool control_pending() const { return slot->control_credits.in_flight() > 0; }

  void accept(CausalEvent ev, caf::response_promise reply) {
    if (moving) {
      slot->data_credits.release();
      rt->count_refused_while_moving();
      OutputsMsg out;
      out.error = SdkError{Errc::daemon_moving, "daemon " + slot->daemon.name + " is moving to another node; try again"};
      if (reply.pending()) reply.deliver(std::move(out));
      return;
    }
    if (!held.empty() || control_pending()) {
      held.push_back(Held{std::move(ev), std::move(reply)});
      return;
    }
    run(ev, reply);
  }

  // Processes what was held back, in arrival order, as long as no control event is pending.
  void release_held(bool force = false) {
    while (!held.empty() && (force || !control_pending())) {
      auto h = std::move(held.front());
      held.pop_front();
      run(h.event, h.reply);
    }
  }

  void run(const CausalEvent& ev, caf::response_promise& reply) {
    slot->data_credits.release();
    OutputsMsg out;
    if (auto produced = process(ev, out.error)) out.outputs = std::move(*produced);
    if (reply.pending()) reply.deliver(std::move(out));
  }

  std::optional<std::vector<Bytes>> process(const CausalEvent& ev, std::optional<SdkError>& err) {
    if (!running) {
      ++rejected;
      err = SdkError{Errc::not_running, "daemon " + slot->daemon.name + " is not running"};
      return std::nullopt;
    }
    std::optional<std::vector<Bytes>> out;
    bool ok = guarded("process", [&] {
      auto r = daemon->process(ev);
      if (r) {
        out = std::move(r.value());
      } else {
        err = r.error();
      }
    });
    if (!ok) err = SdkError{Errc::process_failed, "daemon " + slot->daemon.name + " crashed while processing"};
    if (!out) {
      ++errors;
      if (ok) last_error = err->kind + ": " + err->message;
    }
    if (out) {
      ++processed;
      outputs += out->size();
    }
    state_changed = true;
    return out;
  }
};

using daemon_actor = caf::stateful_actor<DaemonActorState>;

caf::behavior daemon_behavior(daemon_actor* self, RuntimePtr runtime, std::shared_ptr<DaemonSlot> s,
                              std::shared_ptr<MeshDaemon> d) {
        auto& st = self->state;
        st.rt = std::move(runtime);
        st.slot = std::move(s);
        st.daemon = std::move(d);
        return {
            [=](front_atom, const caf::actor_addr& front) { self->state.front = front; },
            [=](control_atom, const ControlMsg& m) {
              auto& state = self->state;
              if (m.credited) state.slot->control_credits.release();
              state.guarded("on_control", [&] { state.daemon->on_control(m.control); });
              if (const auto* shutdown = std::get_if<Shutdown>(&m.control))
                state.grace_ends = Clock::now() + std::chrono::milliseconds(shutdown->grace_period_ms);
              state.slot->consumed(m.control);
              state.release_held();
            },
            [=](causal_atom, CausalMsg& m) { self->state.accept(std::move(m.event), caf::response_promise{}); },
            [=](process_atom, CausalMsg& m) -> caf::result<OutputsMsg> {
              auto rp = self->make_response_promise();
              self->state.accept(std::move(m.event), rp);
              return rp;
            },
            [=](check_atom) {
              auto& state = self->state;
              // A control credit that never comes back (a send that found no mailbox) must not hold events forever.
              state.release_held();
              state.check();
              state.after(self, state.rt->config().daemon_check_interval, check_atom::value);
            },
            [=](move_out_atom) -> MoveOutMsg { return self->state.move_out(); },
            [=](move_back_atom) { self->state.moving = false; },
            [=](restore_atom, const StateMsg& m) -> OutputsMsg { return self->state.restore(m.state); },
            [=](host_stats_atom) -> DaemonHostStats { return self->state.stats(); },
            [=](save_state_atom) -> MoveOutMsg { return self->state.save_state(); },
            [=](load_state_atom, const StateMsg& m) -> OutputsMsg { return self->state.load_state(m.state); },
            [=](start_atom) { self->state.start(); },
            [=](stop_atom) { self->state.stop_when_finished(self); },
            [=](finished_atom) {
              if (self->state.stop_pending) self->state.stop();
            },
            [=](grace_over_atom, std::uint64_t generation) { self->state.grace_over(generation); },
            [=](restart_atom) {
              self->state.stop();
              self->state.start();
            },
            [=](quit_atom) {
              self->state.release_held(/*force=*/true);
              self->state.stop();
              self->quit();
            },
        };
}

// In front of a daemon hosted on its own thread: passes every message on as it came (sender, priority and
// request id kept, so the daemon answers the requester itself). Linked both ways: the daemon's end ends it,
// and a kill of it kills the daemon (once its blocking call returns).
struct FrontState {
  caf::actor daemon;
};

caf::behavior front_behavior(caf::stateful_actor<FrontState>* self, caf::actor daemon) {
  self->state.daemon = daemon;
  self->link_to(daemon);
  self->set_exit_handler([self](caf::exit_msg& m) { self->quit(m.reason); });
  self->set_default_handler([self](caf::scheduled_actor*, caf::message_view& x) -> caf::result<caf::message> {
    auto* current = self->current_mailbox_element();
    self->state.daemon->enqueue(
        caf::make_mailbox_element(current->sender, current->mid, std::move(current->stages), x.move_content_to_message()),
        self->context());
    return caf::delegated<caf::message>{};
  });
  // Never sent: a behavior needs one handler; everything else takes the default handler above.
  return {[](front_atom) {}};
}

}  // namespace

caf::actor spawn_daemon(RuntimePtr rt, std::shared_ptr<DaemonSlot> slot, std::unique_ptr<MeshDaemon> daemon,
                        DaemonHosting hosting) {
  auto& sys = rt->system();
  std::shared_ptr<MeshDaemon> shared(std::move(daemon));
  if (hosting == DaemonHosting::Shared) return sys.spawn(daemon_behavior, rt, std::move(slot), std::move(shared));
  auto own = sys.spawn<caf::detached>(daemon_behavior, rt, std::move(slot), std::move(shared));
  rt->track(own);  // the runtime's stop waits for it too: a daemon blocked in its call outlives its front
  auto front = sys.spawn(front_behavior, own);
  caf::anon_send(own, front_atom::value, front.address());  // before anything the front passes on
  return front;
}

}  // namespace meshos::detail
