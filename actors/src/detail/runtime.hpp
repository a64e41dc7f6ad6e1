#pragma once
// The runtime behind MeshOsDaemonSdk: the actor system (owned or borrowed), the loop, executor and router
// actors, and the pieces they share, each with one owner: the daemons (DaemonRegistry), the snapshots
// (SnapshotHub), the bounds on events and actions in flight (Credits behind intent-named calls), and the gate
// every call from outside enters (ShutdownGate), so shutdown() knows when nothing uses the actor system any more.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <caf/actor.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include "detail/caller_thread.hpp"
#include "detail/actor_tracker.hpp"
#include "detail/credits.hpp"
#include "detail/daemon_registry.hpp"
#include "detail/scheduler.hpp"
#include "detail/shutdown_gate.hpp"
#include "detail/snapshot_hub.hpp"
#include "meshos/sdk.hpp"
#include "meshos/state.hpp"

namespace meshos::detail {

struct OutputsMsg;

// How a daemon reaches a peer when its node drains (action::MigrateDaemon): the network layer (MeshNode)
// installs one; an SDK off the network has none, so its daemons cannot move. Both calls block (they run on
// the dispatcher's thread).
class MigrationTransport {
 public:
  virtual ~MigrationTransport() = default;
  // The peer builds `daemon` from the factory of its name, restores `state` into it and runs it. Returns once
  // it runs there, or with the peer's refusal (no_factory, target_unavailable, ...) / unreachable / timeout.
  virtual Result<void> adopt(NodeId target, std::uint64_t migration, const DaemonRef& daemon,
                             const std::optional<Bytes>& state) = 0;
  // The peer drops the daemon it adopted (the move was aborted after the peer had taken it).
  virtual Result<void> release(NodeId target, std::uint64_t migration, const DaemonRef& daemon) = 0;
};

// An actor system meshos owns, with the scheduler meshos chose; the config must outlive the system that refers
// to it.
struct OwnedSystem {
  struct Config : caf::actor_system_config {
    Config() { choose_scheduler(*this); }
  };
  Config cfg;
  caf::actor_system system;
  // The constructing thread keeps no reference to the system's logger: shutdown() may come from any thread.
  OwnedSystem() : system(cfg) { CallerThreadLogger::release(system); }
};

class Runtime : public std::enable_shared_from_this<Runtime> {
 public:
  // One call from outside (enter()): inside the runtime's shutdown gate (empty once the loop closed), and
  // leaving the calling thread with no reference to the system's logger (whatever the call spawned;
  // caller_thread.hpp), so that shutdown() may come from any thread.
  struct Call {
    CallerThreadLogger logger;
    ShutdownGate::Hold hold;
    explicit operator bool() const { return static_cast<bool>(hold); }
  };

  Runtime(std::unique_ptr<OwnedSystem> owned, caf::actor_system* borrowed, MeshOsConfig config,
          std::shared_ptr<ActionDispatcher> dispatcher, MeshOsDaemonSdk::Options options);
  ~Runtime();

  // Loads the state dir (when there is one) before any actor starts: invalid_state_file, invalid_state_dir.
  Result<void> start();

  caf::actor_system& system() { return *system_; }
  const MeshOsConfig& config() const { return config_; }
  NodeId node_id() const { return config_.this_node; }
  std::uint64_t epoch() const { return epoch_; }

  Result<void> publish(MeshOsEvent ev);  // takes an intake credit
  // Waits up to `timeout` for room in the intake (queue_full after it, loop_closed when the loop closes).
  Result<void> publish_within(MeshOsEvent ev, std::chrono::milliseconds timeout);
  void publish_internal(MeshOsEvent ev);  // from our own actors: no credit taken, never dropped
  // The loop took a published event out of its mailbox.
  void event_folded() { intake_.release(); }
  std::uint64_t events_rejected() const { return intake_.dropped(); }
  void stop_saving_state();
  bool closed() const { return closed_.load(std::memory_order_acquire); }
  // The loop folded a Shutdown event: nothing is published, delivered or registered any more (loop_closed);
  // shutdown() still stops the actors.
  void close() {
    closed_.store(true, std::memory_order_release);
    intake_.wake_all();
    for (const auto& slot : registry_.live()) slot->data_credits.wake_all();
  }

  Result<std::shared_ptr<DaemonSlot>> register_daemon(std::unique_ptr<MeshDaemon> daemon,
                                                      const EntityKeypair& keypair, std::size_t control_capacity);
  // register_failed for an empty name, a null factory or a name taken.
  Result<void> register_factory(std::string name, DaemonFactory factory);
  // Builds the daemon `ref` names from the factory registered under its name and registers it under its id
  // (from_factory): no_factory, register_failed (the factory threw, returned nothing or a daemon of another
  // name; the id is taken), loop_closed.
  Result<std::shared_ptr<DaemonSlot>> host(const DaemonRef& ref);

  // A daemon moving here from a draining peer, built from its factory under its id: target_unavailable while
  // this node drains or sits in maintenance, no_factory, register_failed, loop_closed. The caller restores the
  // state the move brought (restore_atom, ahead of any work; only the actor's first check, which reads health
  // and takes no state, may come before it) and unregisters it if that fails.
  Result<std::shared_ptr<DaemonSlot>> accept_move(std::uint64_t migration, const DaemonRef& ref);
  // The peer that sent daemon `ref` with `migration` aborted the move: the daemon leaves this node again. A
  // release that comes before the move itself is remembered, and accept_move then refuses the move
  // (migration_released) instead of hosting a daemon its source kept.
  Result<void> release(std::uint64_t migration, const DaemonRef& ref);

  void set_migration_transport(std::shared_ptr<MigrationTransport> transport);
  std::shared_ptr<MigrationTransport> migration_transport() const;
  // The dispatcher brackets each move; a KillMigration (from the loop) marks a move between the two.
  void migration_began(std::uint64_t id);
  void migration_ended(std::uint64_t id);
  bool migration_aborted(std::uint64_t id) const;
  void abort_migration(std::uint64_t id);
  // A daemon on its way to a peer refused a causal event (daemon_moving).
  void count_refused_while_moving() { refused_while_moving_.fetch_add(1, std::memory_order_relaxed); }
  // Idempotent. `force`: the daemon did not stop in time; kill its actor.
  void unregister_daemon(const std::shared_ptr<DaemonSlot>& slot, bool force);
  std::shared_ptr<DaemonSlot> find(DaemonId id) const { return registry_.find(id); }

  // Control routing (at-most-once, bounded per daemon, high priority). Unknown daemon: a silent no-op.
  void route(DaemonId id, const DaemonControl& c);
  void broadcast(const DaemonControl& c);
  // Shutdown{grace_ms}, high priority like any control event but without a control credit: a daemon whose
  // control queue is full still hears that it is being shut down. Also once the loop closed.
  void tell_shutdown(const std::shared_ptr<DaemonSlot>& slot, std::uint64_t grace_ms);
  // The daemon's handle says it finished after its Shutdown: a stop waiting for that goes ahead.
  void acknowledge_shutdown(const std::shared_ptr<DaemonSlot>& slot);
  std::uint64_t control_dropped() const { return registry_.control_dropped(); }

  // The executor's bound (action_queue_capacity): false when it is full (the action is dropped and counted).
  bool accept_action() { return actions_.try_acquire(); }
  void action_finished() { actions_.release(); }
  std::size_t actions_in_flight() const { return actions_.in_flight(); }
  std::uint64_t actions_dropped() const { return actions_.dropped(); }

  // The loop folded a daemon's lifecycle signal: the observer (if any) hears of it, unless it is
  // kLifecycleBacklog notices behind (dropped, counted).
  void notify_lifecycle(const event::DaemonLifecycle& e, std::int64_t wall_ms);
  void lifecycle_noticed() { lifecycle_credits_->release(); }

  SnapshotPtr snapshot() const { return snapshots_.latest(); }
  // The loop's newest snapshot: what snapshot() reads from now on, handed to every subscriber.
  void publish_snapshot(const SnapshotPtr& s) { snapshots_.publish(s); }
  // Every call of `cb` runs inside `calls` (the Subscription closes it). 0 once the loop closed (nothing is
  // published any more).
  std::uint64_t subscribe(std::function<void(const SnapshotPtr&)> cb, std::shared_ptr<ShutdownGate> calls);
  // The subscriber's actor quits; a call under way finishes (the Subscription waits for it).
  void unsubscribe(std::uint64_t id);

  Result<void> deliver(DaemonId id, CausalEvent ev);
  // Waits up to `timeout` for room in the daemon's queue (queue_full after it, counted as one drop);
  // loop_closed or not_running as soon as the loop closes or the daemon leaves meanwhile.
  Result<void> deliver_within(DaemonId id, CausalEvent ev, std::chrono::milliseconds timeout);
  // The daemon's slot with one of its data credits taken (loop_closed, not_found, queue_full).
  Result<std::shared_ptr<DaemonSlot>> take_data_slot(DaemonId id);
  Result<std::vector<Bytes>> process(DaemonId id, CausalEvent ev, std::chrono::milliseconds timeout);
  // Handed to the asker actor, which asks the daemon and calls `done` with the answer.
  Result<void> process_async(DaemonId id, CausalEvent ev, std::chrono::milliseconds timeout,
                             std::function<void(Result<std::vector<Bytes>>)> done);
  // The daemon's host, asked in order with its work (loop_closed, not_found, timeout, not_running when it
  // leaves before it answers, snapshot_failed / restore_failed from the daemon).
  Result<DaemonHostStats> host_stats(DaemonId id, std::chrono::milliseconds timeout);
  Result<std::optional<Bytes>> save_state(DaemonId id, std::chrono::milliseconds timeout);
  Result<void> restore_state(DaemonId id, Bytes state, std::chrono::milliseconds timeout);

  // Probes (probe.hpp), polled by the prober once per tick from the next tick on: invalid_probe, loop_closed.
  Result<std::uint64_t> attach_probe(Probe probe);
  // Once this returns without error the probe is not called again: timeout when the prober was busy in a
  // probe that long. Detaching after shutdown, or an id no longer attached, is no error.
  Result<void> detach_probe(std::uint64_t id, std::chrono::milliseconds timeout);

  Result<RuntimeStats> shutdown(std::chrono::milliseconds deadline = kDefaultShutdownDeadline);
  // Counted so shutdown() can wait for it (with a deadline).
  void track(const caf::actor& a) { tracker_.track(a); }

  // Spawned in start(), before anything else can reach them; read-only from then on.
  const caf::actor& loop() const { return loop_; }
  const caf::actor& executor() const { return executor_; }
  const caf::actor& router() const { return router_; }

 private:
  std::unique_ptr<OwnedSystem> owned_system_;
  caf::actor_system* system_;
  MeshOsConfig config_;
  std::shared_ptr<ActionDispatcher> dispatcher_;
  MeshOsDaemonSdk::Options options_;
  std::uint64_t epoch_;
  std::atomic<bool> closed_{false};  // the loop folded a Shutdown, or shutdown() began
  // Every call from outside the actors is inside it while it runs: shutdown() closes it and waits for those
  // calls before it destroys the actor system they use.
  ShutdownGate calls_;
  ActorTracker tracker_;

  // A hold on calls_, empty once the loop closed or shutdown() began.
  Call enter();

  // `factory_name`: the daemon was built by the factory of that name and must carry it.
  Result<std::shared_ptr<DaemonSlot>> add_daemon(std::unique_ptr<MeshDaemon> daemon, DaemonId id,
                                                 const std::string* factory_name, std::size_t control_capacity);

  DaemonRegistry registry_;
  SnapshotHub snapshots_;
  WaitableCredits intake_;  // events published, not yet folded
  Credits actions_;  // actions accepted by the executor, not yet finished
  std::atomic<std::uint64_t> refused_while_moving_{0};
  caf::actor loop_;
  caf::actor executor_;
  caf::actor router_;
  caf::actor asker_;  // process_async's requests
  // Weak: the loop holds the prober (LoopStart::prober). CAF 0.17's actor system waits, as it is destroyed, for
  // every detached actor's thread, and that thread ends only once nothing holds its actor any more.
  caf::actor_addr prober_;
  std::atomic<std::uint64_t> next_probe_id_{1};
  caf::actor lifecycle_observer_;  // none without SdkOptions::lifecycle_observer
  std::unique_ptr<Credits> lifecycle_credits_;

  mutable std::mutex migrations_mu_;
  std::shared_ptr<MigrationTransport> transport_;
  std::map<std::uint64_t, bool> migrations_;  // moves under way: aborted?
  std::deque<std::pair<std::uint64_t, DaemonId>> adopted_;  // the latest moves that came here (bounded)
  std::deque<std::pair<std::uint64_t, DaemonId>> released_early_;  // released before they came (bounded)
};

// What the loop starts from: its state (with what the state dir kept put back) and where to save it.
struct LoopStart {
  std::shared_ptr<MeshOsState> state;
  std::string state_file;       // "" = nothing is saved
  std::string journal_dir;      // where the log and audit journals go (the state dir)
  JournalLimits journal;
  std::vector<LogLine> notes;   // for the node's log, once the loop runs
  caf::actor prober;            // polled once per tick (probe.hpp); the loop's to hold
};
// A fresh state, or the one the state dir kept.
Result<LoopStart> prepare_loop_start(const MeshOsConfig& config, const SdkOptions& options);

// Actor factories (one file each).
// Actors keep the runtime alive while they run; shutdown() makes them all quit.
using RuntimePtr = std::shared_ptr<Runtime>;
caf::actor spawn_loop(RuntimePtr rt, LoopStart start);
caf::actor spawn_executor(RuntimePtr rt, std::shared_ptr<ActionDispatcher> dispatcher, ActionAdmission admission);
caf::actor spawn_router(RuntimePtr rt);
caf::actor spawn_asker(RuntimePtr rt);
caf::actor spawn_prober(caf::actor_system& system, ProbeSet probes);
// The daemon's actor: on the shared scheduler, or (DaemonHosting::OwnThread) a detached actor behind a shared
// front actor, which is what is returned and what the slot sends to.
caf::actor spawn_daemon(RuntimePtr rt, std::shared_ptr<DaemonSlot> slot, std::unique_ptr<MeshDaemon> daemon,
                        DaemonHosting hosting);
caf::actor spawn_subscriber(RuntimePtr rt, std::function<void(const SnapshotPtr&)> cb, std::shared_ptr<Credits> credits,
                            std::shared_ptr<ShutdownGate> calls);
caf::actor spawn_lifecycle_observer(RuntimePtr rt, LifecycleObserver observer);

// The node's own dispatcher: carries actions out on this node, then hands them to the user's dispatcher.
std::shared_ptr<ActionDispatcher> make_node_dispatcher(std::weak_ptr<Runtime> rt,
                                                       std::shared_ptr<ActionDispatcher> user);

// "the MeshOS loop has shut down; <what>"
SdkError loop_closed(const std::string& what);

// A daemon's answer to a process request, and the error for a request that got none.
Result<std::vector<Bytes>> outputs_of(OutputsMsg m);
SdkError process_failure(caf::actor_system& sys, const caf::error& err, const std::string& daemon_name);

// The node's own actors (the gateway answering peers' work requests) reach the runtime behind an SDK.
struct SdkInternals {
  static Runtime& runtime(MeshOsDaemonSdk& sdk) { return *sdk.rt_; }
  static MeshOsDaemonSdk wrap(std::shared_ptr<Runtime> rt) { return MeshOsDaemonSdk(std::move(rt)); }
  // The C SDK's graceful shutdown: done once the daemon's actor handled the Shutdown (net_meshos.h).
  static Result<ShutdownOutcome> shut_down_when_handled(MeshOsDaemonHandle& h, std::chrono::milliseconds grace) {
    return h.shut_down(grace, false);
  }
};

}  // namespace meshos::detail
