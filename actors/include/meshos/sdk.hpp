#pragma once
// Library: meshos.
// The daemon-author SDK: start a node runtime, register daemons, receive control events, publish logs and
// capabilities, read snapshots, shut down cleanly. CAF stays behind this surface.
#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshos/config.hpp"
#include "meshos/control.hpp"
#include "meshos/daemon.hpp"
#include "meshos/dispatcher.hpp"
#include "meshos/event.hpp"
#include "meshos/identity.hpp"
#include "meshos/journal.hpp"
#include "meshos/operators.hpp"
#include "meshos/probe.hpp"
#include "meshos/result.hpp"
#include "meshos/snapshot.hpp"

namespace meshos {

namespace detail {
class Runtime;
struct DaemonSlot;
struct SdkInternals;
class ShutdownGate;
}  // namespace detail

inline constexpr std::size_t kDefaultControlCapacity = 8;
inline constexpr std::chrono::milliseconds kDefaultGracefulShutdown{5000};
inline constexpr std::chrono::milliseconds kDefaultShutdownDeadline{5000};

struct RuntimeStats {
  LoopStats loop;
  ExecutorStats executor;
  std::uint64_t control_dropped = 0;
  std::uint64_t snapshots_published = 0;
  std::uint64_t subscriber_drops = 0;  // snapshots skipped for subscribers still busy with the previous one
  std::uint64_t refused_while_moving = 0;  // causal events refused (daemon_moving) by daemons leaving for a peer
  std::size_t daemons_at_shutdown = 0;
  bool forced = false;  // some actor did not stop within the shutdown deadline
  std::uint64_t lifecycle_dropped = 0;  // notices the lifecycle observer was too far behind to be given
};

enum class ShutdownOutcome {
  Consumed,  // the daemon finished before the deadline (graceful_shutdown says what finished means)
  Forced,    // the deadline passed first; the daemon was forced out
};

using SnapshotPtr = std::shared_ptr<const MeshOsSnapshot>;

// How a drain of the node ended (MeshOsDaemonSdk::drain).
struct DrainOutcome {
  MaintenanceKind state = MaintenanceKind::Maintenance;  // Maintenance (drained) or DrainFailed
  std::string reason;                                    // DrainFailed's: what could not stop or move
  std::chrono::milliseconds took{0};
};

// What a daemon's host counted since the daemon was registered.
struct DaemonHostStats {
  std::uint64_t processed = 0;  // causal events the daemon processed without error
  std::uint64_t outputs = 0;    // outputs those produced
  std::uint64_t errors = 0;     // process calls that returned an error or threw
  std::uint64_t rejected = 0;   // causal events that arrived while the daemon was stopped (not_running)
  std::uint64_t crashes = 0;    // daemon code that threw (process, on_control, health, snapshot, ...)
  std::optional<std::string> last_error;  // the newest error or crash, as text
  bool running = false;
  // Control events it handled that its handle's inbox let go (full) before next_control took them; never a
  // Shutdown (MeshOsDaemonHandle::control_inbox_evicted).
  std::uint64_t control_inbox_evicted = 0;
};

// One change in a daemon's life as the loop folded it (registered, started, exited, crashed, health or
// saturation changed, unregistered, ...), with the wall clock of the fold.
struct LifecycleNotice {
  DaemonRef daemon;
  LifecycleSignal signal;
  std::int64_t wall_ms = 0;
};
// Hears every notice in the order the loop folded them, on an actor of its own (never the loop), one at a
// time: unlike snapshots, nothing that lasted only a moment is missed. At most kLifecycleBacklog notices wait
// for it; beyond that new ones are dropped and counted (RuntimeStats::lifecycle_dropped). A throw loses that
// notice only. Notices the loop folded before shutdown() are delivered before the observer stops.
using LifecycleObserver = std::function<void(const LifecycleNotice&)>;
inline constexpr std::size_t kLifecycleBacklog = 1024;

// Builds a fresh daemon of one kind. The node calls it when desired state wants a daemon of that name which
// nobody registered (event::DaemonIntentUpdate with intent Run), and when a daemon of that name moves here
// from a draining peer (its state is then restored into the fresh daemon). Called on the node's dispatcher
// or network thread; it must not block for long. Throwing or returning null fails that start.
using DaemonFactory = std::function<std::unique_ptr<MeshDaemon>()>;

class MeshOsDaemonHandle;

// graceful_shutdown for many daemons at once: every one hears Shutdown{grace} first, then each is waited for,
// all against one deadline (now + grace), and unregistered (forced out if it did not finish in time). The
// outcomes come in the order of `handles`: already_shutdown for a daemon shut down before, invalid_argument for
// a null or moved-from handle.
std::vector<Result<ShutdownOutcome>> shutdown_daemons(const std::vector<MeshOsDaemonHandle*>& handles,
                                                      std::chrono::milliseconds grace = kDefaultGracefulShutdown);

class MeshOsDaemonHandle {
 public:
  MeshOsDaemonHandle(MeshOsDaemonHandle&&) noexcept;
  MeshOsDaemonHandle& operator=(MeshOsDaemonHandle&&) noexcept;
  MeshOsDaemonHandle(const MeshOsDaemonHandle&) = delete;
  MeshOsDaemonHandle& operator=(const MeshOsDaemonHandle&) = delete;
  // Unregisters the daemon (if graceful_shutdown did not already).
  ~MeshOsDaemonHandle();

  DaemonId daemon_id() const;
  const std::string& daemon_name() const;

  // Next control event the daemon's actor consumed, waiting up to `timeout`; nullopt on timeout or once the
  // daemon is unregistered / the runtime is gone and everything kept was taken. The inbox keeps the newest
  // control_capacity events, but never drops a Shutdown for a newer event; a daemon that leaves without having
  // heard one (its node shut down, its grace ran out) finds a Shutdown last in its inbox, so a waiting thread
  // always ends on Shutdown, never on silence.
  std::optional<DaemonControl> next_control(std::chrono::milliseconds timeout);
  std::optional<DaemonControl> try_next_control();

  const MetadataView& metadata() const;
  const MetadataView& refresh_metadata();

  // Never blocks. queue_full / loop_closed.
  Result<void> publish_log(LogLevel level, std::string message);
  // Visible in the snapshot (and to peers). invalid_capability / queue_full / loop_closed.
  Result<void> publish_capabilities(CapabilitySet caps);

  // Control events dropped for this daemon because it had control_capacity outstanding.
  std::uint64_t dropped_control_events() const;
  // Consumed control events the inbox let go (it was full) before next_control took them.
  std::uint64_t control_inbox_evicted() const;
  // What the daemon's host counted (MeshOsDaemonSdk::daemon_stats).
  Result<DaemonHostStats> stats(std::chrono::milliseconds timeout = std::chrono::seconds(1)) const;

  // Sends Shutdown{grace}; returns once the daemon finished, or at the deadline (forcing the daemon out).
  // Finished: its on_control handled the Shutdown, and, for a pull-model daemon (one whose handle takes control
  // events with next_control), it said so with acknowledge_shutdown(). Called from the thread that takes the
  // daemon's control events, the call is the daemon's own word. Unregisters either way. already_shutdown if
  // called twice.
  Result<ShutdownOutcome> graceful_shutdown(std::chrono::milliseconds grace = kDefaultGracefulShutdown);
  // A pull-model daemon finished after the Shutdown it took: its node stops it now rather than at the end of
  // the grace (a drain, an intent Stop and graceful_shutdown from another thread wait for this).
  void acknowledge_shutdown();

 private:
  friend class MeshOsDaemonSdk;
  friend struct detail::SdkInternals;
  friend std::vector<Result<ShutdownOutcome>> shutdown_daemons(const std::vector<MeshOsDaemonHandle*>& handles,
                                                               std::chrono::milliseconds grace);
  // `its_word`: a pull-model daemon's word is waited for (graceful_shutdown); the C SDK's shutdown keeps the
  // original's contract, that the daemon's actor handled the Shutdown.
  Result<ShutdownOutcome> shut_down(std::chrono::milliseconds grace, bool its_word);
  // The two halves, apart so that many daemons can be told before the first is waited for.
  struct Leaving {
    std::uint64_t before = 0;  // the Shutdowns its actor had handled before this one
    bool own_word = false;     // no word of the daemon's to wait for
  };
  Result<Leaving> begin_shutdown(std::chrono::milliseconds grace, bool its_word);
  ShutdownOutcome end_shutdown(const Leaving& leaving, TimePoint deadline);
  MeshOsDaemonHandle(std::shared_ptr<detail::Runtime> runtime, std::shared_ptr<detail::DaemonSlot> slot);
  std::shared_ptr<detail::Runtime> rt_;
  std::shared_ptr<detail::DaemonSlot> slot_;
};

// A probe attached to a running node (MeshOsDaemonSdk::attach_probe). Polled once per tick until detached; it
// detaches when destroyed, so keep it as long as the probe should run.
class ProbeAttachment {
 public:
  ProbeAttachment() = default;
  ProbeAttachment(ProbeAttachment&& o) noexcept;
  ProbeAttachment& operator=(ProbeAttachment&& o) noexcept;
  ProbeAttachment(const ProbeAttachment&) = delete;
  ProbeAttachment& operator=(const ProbeAttachment&) = delete;
  ~ProbeAttachment();  // detach(), its error ignored

  // Once this returns without error the probe is not called again (what it reported stays, as a failing probe's
  // does). timeout: the node was busy in a probe (maybe this one) for that long; the probe stays attached and
  // detach() may be called again. Never call it from inside a probe: that waits for itself until the timeout.
  // Detaching twice, or after the node shut down, is no error.
  Result<void> detach(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool attached() const { return id_ != 0; }

 private:
  friend class MeshOsDaemonSdk;
  ProbeAttachment(std::weak_ptr<detail::Runtime> rt, std::uint64_t id) : rt_(std::move(rt)), id_(id) {}
  std::weak_ptr<detail::Runtime> rt_;
  std::uint64_t id_ = 0;
};

// A snapshot subscription (MeshOsDaemonSdk::subscribe). The callback is called until the subscription is
// cancelled, which its destructor does: keep it as long as the callback should run.
class [[nodiscard]] Subscription {
 public:
  Subscription() = default;
  Subscription(Subscription&& o) noexcept;
  Subscription& operator=(Subscription&& o) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();  // cancel(), its error ignored

  // No call of the callback starts from now on. Once this returns without error no call is running either,
  // so what the callback refers to may go. timeout: a call was still running after `timeout` (the subscription
  // stays cancelled; cancel() again waits again). Called from inside the callback, it does not wait for that
  // call. Cancelling twice, or after the node shut down, is no error.
  Result<void> cancel(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // False once cancelled, and for a subscription made after shutdown() (nothing is published any more).
  bool active() const { return gate_ != nullptr; }

 private:
  friend class MeshOsDaemonSdk;
  Subscription(std::weak_ptr<detail::Runtime> rt, std::uint64_t id, std::shared_ptr<detail::ShutdownGate> gate)
      : rt_(std::move(rt)), id_(id), gate_(std::move(gate)) {}
  std::weak_ptr<detail::Runtime> rt_;
  std::uint64_t id_ = 0;
  std::shared_ptr<detail::ShutdownGate> gate_;  // every call of the callback runs inside it
};

struct SdkOptions {
  std::shared_ptr<AdminVerifier> verifier;  // nullptr: signed commits fold as Unverified
  // Replace the node dispatcher (which starts/stops daemon actors and commits maintenance transitions)
  // instead of wrapping it. Tests of the pure executor use this.
  bool replace_node_dispatcher = false;
  // Gates actions at the executor, before any dispatcher sees them (dispatcher.hpp). Empty: every action is
  // admitted. Each daemon also has an admit gate of its own, in reconcile (its backoff, crash-loop hold and the
  // node's backpressure hold its start back; DaemonSnapshot::start_held says which).
  ActionAdmission admission;
  // What the node should know of its daemons before it starts (the original's registry, built before its
  // runtime): factories by daemon name, as register_factory() would add them, but there from the first tick
  // on (intents a state dir restores start daemons at once), and an observer of every daemon's lifecycle.
  // start() throws SdkException register_failed for an empty name or a null factory.
  std::map<std::string, DaemonFactory> factories;
  LifecycleObserver lifecycle_observer;
  // Where the node keeps what operators committed across restarts (persistent_state.hpp): maintenance and
  // its drain deadline, cordon, freeze, avoid list, operator daemon intents, the verifier's memory, the
  // audit. Made when missing; "" keeps nothing. start() throws SdkException with kind invalid_state_file
  // (a state file that cannot be read, decoded or belongs to another node) or invalid_state_dir.
  std::string state_dir;
  // An unusable state file is renamed aside ("<file>.bad-<UTC time>", kept) and the node starts fresh.
  bool fresh_state = false;
  // With a state dir the node also keeps its log and audit there as rotated JSON-lines journals
  // (journal.hpp: logs.jsonl, audit.jsonl and their rotated files); at start the log ring is filled again
  // from the log journal, so what was logged before a restart can still be asked for. A fresh state keeps
  // the journals (they are history, not state). Limits outside journal.hpp's bounds: invalid_state_dir.
  JournalLimits journal;
  // Probes polled from the first tick on, for the node's life (attach_probe adds more to a running node).
  // start() throws SdkException invalid_probe for a probe without a name or a function.
  std::vector<Probe> probes;
};

class MeshOsDaemonSdk {
 public:
  using Options = SdkOptions;

  // Owns an actor system of its own.
  static MeshOsDaemonSdk start(MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher);
  static MeshOsDaemonSdk start(MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher, Options options);
  // On the application's own actor system: start_sdk in meshos/caf.hpp.

  MeshOsDaemonSdk(MeshOsDaemonSdk&&) noexcept;
  MeshOsDaemonSdk& operator=(MeshOsDaemonSdk&&) noexcept;
  MeshOsDaemonSdk(const MeshOsDaemonSdk&) = delete;
  MeshOsDaemonSdk& operator=(const MeshOsDaemonSdk&) = delete;
  ~MeshOsDaemonSdk();  // shuts down if shutdown() was not called

  // Capacity for daemons registered from now on (min 1).
  MeshOsDaemonSdk& with_control_capacity(std::size_t capacity);

  // register_failed (duplicate id, empty name), loop_closed.
  Result<MeshOsDaemonHandle> register_daemon(std::unique_ptr<MeshDaemon> daemon, const EntityKeypair& keypair);

  // The factory for daemons named `name`: what desired state asks this node to host, and what moves here
  // from a draining peer, is built with it. A daemon built from a factory belongs to the node: when the node
  // drains it moves to a peer that has a factory of the same name (SPEC.md, "Moves"); a daemon registered by
  // hand stays with the application and only stops. register_failed (empty name, null factory, name taken).
  Result<void> register_factory(std::string name, DaemonFactory factory);

  // Control events from the application, with the router's semantics: at most once, high priority, dropped
  // and counted when the daemon has control_capacity outstanding; an unknown daemon is a silent no-op.
  void route(DaemonId daemon, const DaemonControl& control);
  void broadcast(const DaemonControl& control);

  std::uint64_t dropped_control_events() const;

  // Polled once per tick from the next tick on, on a thread of its own (probe.hpp): its readings become RTT
  // samples, peer health and inventory in the snapshot; a throw fails that round of that probe only (logged
  // when it starts and when it stops, counted in LoopStats::probe_failures). invalid_probe, loop_closed.
  Result<ProbeAttachment> attach_probe(Probe probe);

  SnapshotPtr snapshot() const;
  // The callback runs on an actor of its own, never on the loop; a subscriber still busy with the previous
  // snapshot skips ahead (counted). It runs until the returned Subscription is cancelled or destroyed.
  Subscription subscribe(std::function<void(const SnapshotPtr&)> callback);
  // Never blocks. queue_full / loop_closed.
  Result<void> publish(MeshOsEvent event);
  // Waits up to `timeout` for room in the event queue instead of failing at once: queue_full when the queue
  // stayed full that long (counted as rejected, like publish's), loop_closed when the loop closes meanwhile.
  Result<void> publish(MeshOsEvent event, std::chrono::milliseconds timeout);

  // Causal events to a registered daemon. deliver: fire and forget, bounded per daemon (queue_full).
  // process: waits for the outputs (not_found, process_failed, timeout, loop_closed).
  Result<void> deliver(DaemonId daemon, CausalEvent event);
  // For a caller that must not drop: waits up to `timeout` for room in the daemon's queue, woken as the daemon
  // takes events (not polling): queue_full when it stayed full that long (counted once, like deliver's),
  // not_running / loop_closed as soon as the daemon leaves or the loop closes meanwhile.
  Result<void> deliver(DaemonId daemon, CausalEvent event, std::chrono::milliseconds timeout);
  Result<std::vector<Bytes>> process(DaemonId daemon, CausalEvent event, std::chrono::milliseconds timeout);
  // process() without blocking the caller, for callers that must not wait (inside an actor, a callback, an
  // event loop): `done` runs exactly once, on a thread of the node's, never the caller's, with the outputs
  // or the error (process_failed, timeout, not_running; loop_closed when the node shuts down before the
  // daemon answered). Callbacks run one at a time: keep them short. The call itself fails, and `done` never
  // runs, when the event cannot be sent: not_found, queue_full, loop_closed, invalid_argument (no callback).
  using ProcessCallback = std::function<void(Result<std::vector<Bytes>>)>;
  Result<void> process_async(DaemonId daemon, CausalEvent event, std::chrono::milliseconds timeout,
                             ProcessCallback done);

  // The daemon's host, asked in order with the work already sent to it: its counters; its state now (what
  // snapshot() returns; none for a stateless daemon; a stopped daemon answers with the state it will restart
  // from); and restoring a state into it (the daemon's restore(); a refusal is restore_failed and leaves the
  // daemon running as it was, a throw is a crash). Errors: not_found, timeout, loop_closed, not_running (it
  // left before answering), snapshot_failed, restore_failed.
  Result<DaemonHostStats> daemon_stats(DaemonId daemon, std::chrono::milliseconds timeout = std::chrono::seconds(1));
  Result<std::optional<Bytes>> snapshot_daemon(DaemonId daemon,
                                               std::chrono::milliseconds timeout = std::chrono::seconds(5));
  Result<void> restore_daemon(DaemonId daemon, Bytes state, std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Bounded and clean: every daemon is stopped, every actor quits. Daemon code still stuck after `deadline`
  // is abandoned (RuntimeStats::forced) rather than waited for. already_shutdown on a second call.
  Result<RuntimeStats> shutdown(std::chrono::milliseconds deadline = kDefaultShutdownDeadline);

  NodeId node_id() const;
  const MeshOsConfig& config() const;

  // Drains this node: enters maintenance with `deadline` (every daemon stops or moves; what cannot by then makes
  // it DrainFailed) and waits for the loop's verdict, Maintenance or DrainFailed. A node already in
  // maintenance answers at once. drain_timeout when no verdict came within the deadline plus a grace (four
  // ticks, at least a second); queue_full, loop_closed. A node on its way out calls stop_saving_state()
  // first, so that its own drain does not greet its next start (meshosd does on SIGTERM).
  Result<DrainOutcome> drain(std::chrono::milliseconds deadline);
  // The same on a thread of its own: the future holds the outcome (the SDK must outlive it).
  std::future<Result<DrainOutcome>> drain_async(std::chrono::milliseconds deadline);

  // With a state dir: what the node does from now on is not saved any more (what is saved, or being saved,
  // stays). For a node on its way out, whose own drain is not an operator's commit and must not greet its
  // next start. Takes effect in order with events published before and after it.
  void stop_saving_state();

 private:
  friend struct detail::SdkInternals;
  explicit MeshOsDaemonSdk(std::shared_ptr<detail::Runtime> rt);
  std::shared_ptr<detail::Runtime> rt_;
  std::size_t control_capacity_ = kDefaultControlCapacity;
};

// The one-daemon-per-process case (the Rust crate's daemon_main!): start the SDK, register the daemon, hand
// every control event to `on_control` until Shutdown or DrainFinish arrives, then shut the daemon down
// gracefully and the SDK cleanly. Returns a process exit code (0 = clean).
struct DaemonMainOptions {
  MeshOsConfig config;
  std::shared_ptr<ActionDispatcher> dispatcher;
  std::chrono::milliseconds grace = kDefaultGracefulShutdown;
  // Runs once the daemon is registered (e.g. to publish capabilities).
  std::function<void(MeshOsDaemonSdk&, MeshOsDaemonHandle&)> on_start;
  std::function<void(MeshOsDaemonHandle&, const DaemonControl&)> on_control;
};
int daemon_main(std::unique_ptr<MeshDaemon> daemon, const EntityKeypair& keypair, DaemonMainOptions options = {});

}  // namespace meshos
