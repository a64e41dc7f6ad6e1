// The loop: sole owner of the node's state. Folds events in arrival order, reconciles once per tick, hands
// the actions to the executor and publishes an immutable snapshot after every reconcile.
//
// With a state dir it also decides when the state is saved: whenever the persistent part changed (the
// state's persistent revision moved), it hands the file's bytes to a writer actor of its own thread (a
// write fsyncs: never on the loop's thread), one write at a time, the latest state each time. Snapshots
// show an audit record only once the write that holds it is durable; an operator's commit is answered
// from the audit in a snapshot, so the answer never comes before its effect is on disk.
#include <algorithm>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/file_io.hpp"
#include "meshos/journal.hpp"
#include "meshos/persistent_state.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/state.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos::detail {

namespace {

constexpr const char* kLogJournal = "logs";
constexpr const char* kAuditJournal = "audit";
constexpr JsonLimits kJournalLine{kMaxJournalLineBytes, kMaxJsonDepth};

// The node's files, written off the loop's thread in the order the loop hands them over: the state file
// (fsynced) and the log and audit journals (appended). Quits after the loop is gone and everything it sent
// is written.
struct NodeFilesWriter {
  std::string state_path;
  std::optional<JournalWriter> logs;
  std::optional<JournalWriter> audit;
  std::string journal_error;  // the last append's failure, "" when the last one worked
};

caf::behavior node_files_writer(caf::stateful_actor<NodeFilesWriter>* self, const caf::actor& loop,
                                const std::string& state_path, const std::string& journal_dir,
                                const JournalLimits& limits) {
  self->state.state_path = state_path;
  self->state.logs.emplace(journal_dir, kLogJournal, limits);
  self->state.audit.emplace(journal_dir, kAuditJournal, limits);
  self->monitor(loop);  // normal priority: the down message queues behind the loop's last writes
  self->set_down_handler([self](const caf::down_msg&) { self->quit(); });
  return {
      [self](save_atom, std::uint64_t revision, std::uint64_t audit_seq, const std::string& bytes) {
        auto written = write_file_atomically(self->state.state_path, bytes);
        self->send(caf::actor_cast<caf::actor>(self->current_sender()), saved_atom::value, revision, audit_seq,
                   written ? std::string() : written.error().message);
      },
      [self](journal_atom, const std::vector<std::string>& log_lines, const std::vector<std::string>& audit_lines) {
        auto& st = self->state;
        auto appended = st.logs->append(log_lines);
        if (appended) appended = st.audit->append(audit_lines);
        std::string error = appended ? std::string() : appended.error().message;
        // The loop hears of a failure once, and of the recovery.
        if (error != st.journal_error)
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), journaled_atom::value, error);
        st.journal_error = std::move(error);
      },
  };
}

struct Saving {
  std::string path;  // "" = off
  caf::actor writer;
  std::uint64_t handed_revision = 0;     // the persistent revision last handed to the writer
  std::uint64_t durable_audit_seq = 0;   // audit records up to this one are on disk
  bool writing = false;                  // a write is with the writer
  bool stopped = false;                  // stop_saving_state(): nothing more is handed over
  bool failing = false;                  // the last write failed: the next try waits for a tick
  std::string last_error;
  bool on() const { return !path.empty() && !stopped; }
};

// What of the log and the audit the journals hold: records up to these numbers were handed to the writer.
struct Journaling {
  bool on = false;
  std::uint64_t log_seq = 0;
  std::uint64_t audit_seq = 0;
  bool failing = false;
};

struct LoopState {
  RuntimePtr rt;
  std::shared_ptr<MeshOsState> state;
  std::uint64_t snapshot_seq = 0;
  TimePoint next_tick;
  Saving saving;
  Journaling journaling;
  bool stopped = false;  // a Shutdown event was folded: nothing more is folded, no more ticks
  caf::actor prober;
  bool probing = false;  // a round of probes is with the prober

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
    const auto wall_ms = wall_clock_ms();
    auto effects = state->fold(ev, now, wall_ms);
    if (const auto* lc = std::get_if<event::DaemonLifecycle>(&ev)) rt->notify_lifecycle(*lc, wall_ms);
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
    for (auto id : effects.abort_migrations) rt->abort_migration(id);
    // A stranger's refused commit is only counted (snapshot audit_strangers): a line each would let a flood
    // of forged commits push every other line out of the log ring.
    if (effects.rejected && !effects.stranger && !std::holds_alternative<event::Log>(ev))
      log(LogLevel::Warn, std::string("rejected ") + event_kind(ev) + ": " + effects.rejected->to_string());
    if (effects.shutdown_requested) stop(now);
  }

  // Everything published before the Shutdown was folded (it came first); what comes after is refused at the
  // door (loop_closed) or, already queued, dropped. The last snapshot says so.
  void stop(TimePoint now) {
    stopped = true;
    rt->close();
    log(LogLevel::Info, "loop stopped by a Shutdown event");
    publish_snapshot(now);
  }

  void log(LogLevel level, std::string message) {
    state->fold(event::Log{LogLine{level, std::nullopt, std::move(message)}}, Clock::now(), wall_clock_ms());
  }

  // ---- saving the persistent part ----

  void hand_over(caf::event_based_actor* self) {
    const PersistentState saved = extract_persistent_state(*state, Clock::now(), wall_clock_ms());
    saving.handed_revision = state->persistent_revision();
    saving.writing = true;
    self->send(saving.writer, save_atom::value, saving.handed_revision, saved.audit_seq, encode_state_file(saved));
  }

  // After a fold or a tick: hands the state over when it changed and the writer is free. A failed write is
  // tried again on the next tick, not at once.
  void save_if_changed(caf::event_based_actor* self, bool on_tick) {
    if (!saving.on() || saving.writing) return;
    if (saving.failing ? !on_tick : state->persistent_revision() == saving.handed_revision) return;
    hand_over(self);
  }

  void on_saved(caf::event_based_actor* self, std::uint64_t audit_seq, const std::string& error) {
    saving.writing = false;
    if (!error.empty()) {
      if (!saving.failing || error != saving.last_error)
        log(LogLevel::Error, "state not saved: " + error + "; trying again every tick");
      saving.failing = true;
      saving.last_error = error;
      return;
    }
    if (saving.failing) log(LogLevel::Info, "state saved again to " + saving.path);
    saving.failing = false;
    saving.last_error.clear();
    const bool news = audit_seq > saving.durable_audit_seq;
    saving.durable_audit_seq = std::max(saving.durable_audit_seq, audit_seq);
    if (news) publish_snapshot(Clock::now());  // the commit's answer need not wait for the next tick
    save_if_changed(self, false);
  }

  // What is not saved yet goes to the writer (behind a write in flight, if any); then nothing more.
  void stop_saving(caf::event_based_actor* self) {
    if (!saving.on()) return;
    if (state->persistent_revision() != saving.handed_revision || saving.failing) hand_over(self);
    saving.stopped = true;
  }

  // The log and audit records since the last hand-over, as journal lines, to the writer.
  void journal(caf::event_based_actor* self) {
    if (!journaling.on) return;
    // A daemon's message is anybody's bytes: invalid UTF-8 is replaced, never a reason to throw.
    auto line = [](const auto& record) {
      return nlohmann::json(record).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    };
    std::vector<std::string> log_lines;
    const auto& logs = state->logs().items();
    auto first_new = logs.end();
    while (first_new != logs.begin() && std::prev(first_new)->seq > journaling.log_seq) --first_new;
    for (auto it = first_new; it != logs.end(); ++it) log_lines.push_back(line(*it));
    if (!logs.empty()) journaling.log_seq = std::max(journaling.log_seq, logs.back().seq);
    std::vector<std::string> audit_lines;
    if (state->audit_seq() > journaling.audit_seq) {
      for (const auto& r : state->audit_records())
        if (r.seq > journaling.audit_seq) audit_lines.push_back(line(r));
      journaling.audit_seq = state->audit_seq();
    }
    if (log_lines.empty() && audit_lines.empty()) return;
    self->send(saving.writer, journal_atom::value, std::move(log_lines), std::move(audit_lines));
  }

  void on_journaled(const std::string& error) {
    if (!error.empty()) {
      journaling.failing = true;
      log(LogLevel::Error, "log and audit journal not written: " + error + "; the node goes on without it");
    } else if (journaling.failing) {
      journaling.failing = false;
      log(LogLevel::Info, "log and audit journal written again");
    }
  }

  void publish_snapshot(TimePoint now) {
    auto& stats = state->loop_stats();
    stats.events_rejected = rt->events_rejected();
    stats.control_dropped = rt->control_dropped();
    stats.actions_dropped = rt->actions_dropped();
    auto built = state->next_snapshot(now, wall_clock_ms(), rt->epoch(), ++snapshot_seq);
    if (saving.on()) {
      auto& audit = built.audit;
      audit.erase(std::find_if(audit.begin(), audit.end(),
                               [&](const AuditRecord& r) { return r.seq > saving.durable_audit_seq; }),
                  audit.end());
    }
    // The executor reports when it finishes something; a stuck dispatcher must not freeze these figures.
    built.executor.dropped = stats.actions_dropped;
    built.executor.queue_depth = rt->actions_in_flight();
    rt->publish_snapshot(std::make_shared<const MeshOsSnapshot>(std::move(built)));
  }

  // One round of probes at a time: a tick that finds the last round still running skips its own (counted).
  void poll_probes(caf::event_based_actor* self) {
    if (probing) {
      ++state->loop_stats().probe_rounds_skipped;
      return;
    }
    probing = true;
    self->send(prober, poll_atom::value);
  }

  void on_probed(ProbeRound round) {
    probing = false;
    auto& stats = state->loop_stats();
    ++stats.probe_rounds;
    stats.probe_failures += round.failed;
    stats.probe_readings_invalid += round.invalid;
    for (auto& line : round.news) log(line.level, std::move(line.message));
    for (auto& sample : round.rtts) fold(sample);
    for (auto& report : round.health) fold(report);
    if (round.inventory.probes > 0) fold(round.inventory);
  }

  void tick(caf::event_based_actor* self) {
    auto now = Clock::now();
    fold(event::Tick{});  // counts the tick
    poll_probes(self);
    auto actions = reconcile(state->actual(), state->desired(), now, state->config());
    auto pending = state->record_emitted(std::move(actions), now);
    for (auto& p : pending) {
      if (!rt->accept_action()) {
        // The action never runs: undo its in-flight marks so a later reconcile emits it again.
        fold(event::ActionOutcome{p.id, p.action, ActionOutcomeKind::Failed, "action queue full", 0});
        continue;
      }
      self->send(rt->executor(), action_atom::value, ActionMsg{std::move(p)});
    }
    save_if_changed(self, true);
    journal(self);
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


// What the log journal holds of earlier runs goes back into the log ring, so that "what happened before the
// restart" is still asked of the node. Unreadable lines are skipped and said.
void restore_logs(MeshOsState& state, LoopStart& start) {
  auto tail = read_journal_tail(start.journal_dir, kLogJournal, start.journal, state.config().log_ring_capacity);
  std::vector<LogRecord> records;
  std::size_t skipped = tail.skipped_lines;
  for (const auto& line : tail.lines) {
    auto parsed = parse_untrusted_json(line, kJournalLine, Errc::invalid_log_record, "journal line");
    auto record = parsed ? log_record_from_json(*parsed) : Result<LogRecord>(parsed.error());
    // Another node's lines (a state dir that changed hands) are not this node's history.
    if (record && record->node_id == state.config().this_node) {
      records.push_back(std::move(*record));
    } else {
      ++skipped;
    }
  }
  const std::size_t restored = records.size();
  state.restore_logs(std::move(records));
  if (restored == 0 && skipped == 0 && tail.skipped_files == 0) return;
  std::string note = "log restored from " + journal_file(start.journal_dir, kLogJournal, 0) + " and its rotated files: " +
                     std::to_string(restored) + " records";
  if (skipped > 0) note += ", " + std::to_string(skipped) + " lines skipped (unreadable or another node's)";
  if (tail.skipped_files > 0) note += ", " + std::to_string(tail.skipped_files) + " unreadable files skipped";
  start.notes.push_back(LogLine{skipped + tail.skipped_files > 0 ? LogLevel::Warn : LogLevel::Info, std::nullopt, note});
}

}  // namespace

Result<LoopStart> prepare_loop_start(const MeshOsConfig& config, const SdkOptions& options) {
  LoopStart start;
  start.state = std::make_shared<MeshOsState>(config, options.verifier);
  if (options.state_dir.empty()) return start;
  if (auto limits = check_journal_limits(options.journal); !limits)
    return SdkError{Errc::invalid_state_dir, "journal: " + limits.error().message};
  auto opened = open_state_dir(options.state_dir, config.this_node, options.fresh_state, wall_clock_ms());
  if (!opened) return opened.error();
  start.state_file = opened->path;
  start.journal_dir = options.state_dir;
  start.journal = options.journal;
  restore_logs(*start.state, start);
  if (!opened->set_aside.empty()) {
    start.notes.push_back(LogLine{LogLevel::Warn, std::nullopt,
                                  "state file " + opened->path + " was unusable (" + opened->set_aside_reason +
                                      "); kept as " + opened->set_aside + ", starting fresh"});
  }
  if (!opened->saved) return start;
  const auto wall = wall_clock_ms();
  if (auto applied = apply_persistent_state(*start.state, *opened->saved, Clock::now(), wall); !applied)
    return applied.error().in_context(opened->path + ": ");
  const auto& actual = start.state->actual();
  start.notes.push_back(LogLine{
      LogLevel::Info, std::nullopt,
      "state restored from " + opened->path + " (saved " + std::to_string(wall - opened->saved->saved_wall_ms) +
          " ms ago): " + to_string(kind_of(actual.maintenance)) + (actual.cordoned ? ", cordoned" : "") +
          (actual.frozen_until ? ", cluster frozen" : "") + ", " + std::to_string(actual.avoid.size()) +
          " avoided, " + std::to_string(opened->saved->daemon_intents.size()) + " operator intents, " +
          std::to_string(opened->saved->audit.size()) + " audit records"});
  return start;
}

caf::actor spawn_loop(RuntimePtr rt, LoopStart start) {
  using self_t = caf::stateful_actor<LoopState>;
  return rt->system().spawn(
      [](self_t* self, RuntimePtr runtime, LoopStart init) -> caf::behavior {
        auto& st = self->state;
        st.rt = std::move(runtime);
        st.state = std::move(init.state);
        st.prober = std::move(init.prober);
        st.saving.path = std::move(init.state_file);
        st.saving.handed_revision = st.state->persistent_revision();
        st.saving.durable_audit_seq = st.state->audit_seq();
        st.journaling.log_seq = st.state->logs().empty() ? 0 : st.state->logs().items().back().seq;
        st.journaling.audit_seq = st.state->audit_seq();
        if (!st.saving.path.empty()) {
          // Its own thread: an fsync may take a while and must not hold up a scheduler worker.
          st.saving.writer = st.rt->system().spawn<caf::detached>(
              node_files_writer, caf::actor_cast<caf::actor>(self), st.saving.path, init.journal_dir, init.journal);
          st.rt->track(st.saving.writer);
          st.journaling.on = true;
        }
        for (auto& note : init.notes) st.log(note.level, std::move(note.message));
        auto now = Clock::now();
        st.next_tick = now;
        st.publish_snapshot(now);  // snapshot() is never empty, even before the first tick
        st.schedule_tick(self, now);
        return {
            [=](event_atom, const EventMsg& m) {
              self->state.rt->event_folded();
              if (self->state.stopped) return;
              self->state.fold(m.event);
              self->state.save_if_changed(self, false);
            },
            [=](internal_atom, const EventMsg& m) {
              if (self->state.stopped) return;
              self->state.fold(m.event);
              self->state.save_if_changed(self, false);
            },
            [=](tick_atom) {
              if (!self->state.stopped) self->state.tick(self);
            },
            [=](probed_atom, ProbeRoundMsg& m) {
              if (!self->state.stopped) self->state.on_probed(std::move(m.round));
            },
            [=](exec_stats_atom, const StatsMsg& m) { self->state.state->set_executor_stats(m.stats); },
            [=](saved_atom, std::uint64_t, std::uint64_t audit_seq, const std::string& error) {
              self->state.on_saved(self, audit_seq, error);
            },
            [=](journaled_atom, const std::string& error) { self->state.on_journaled(error); },
            [=](nosave_atom) { self->state.stop_saving(self); },
            [=](quit_atom) {
              self->state.stop_saving(self);  // the writer finishes what it was given, then follows
              self->state.journal(self);
              self->quit();
            },
        };
      },
      std::move(rt), std::move(start));
}

}  // namespace meshos::detail
