#include "detail/runtime.hpp"

#include <algorithm>
#include <random>

#include "detail/messages.hpp"

namespace meshos::detail {

// ---- Runtime ----

namespace {
std::uint64_t random_epoch() {
  std::random_device rd;
  std::uint64_t hi = rd(), lo = rd();
  auto e = (hi << 32) ^ lo;
  return e == 0 ? 1 : e;
}
}  // namespace

Runtime::Runtime(std::unique_ptr<OwnedSystem> owned, caf::actor_system* borrowed, MeshOsConfig config,
                 std::shared_ptr<ActionDispatcher> dispatcher, MeshOsDaemonSdk::Options options)
    : owned_system_(std::move(owned)),
      system_(owned_system_ ? &owned_system_->system : borrowed),
      config_(std::move(config)),
      dispatcher_(std::move(dispatcher)),
      options_(std::move(options)),
      epoch_(random_epoch()),
      intake_(config_.event_queue_capacity),
      actions_(config_.action_queue_capacity) {}

// shutdown() (called by the SDK) stopped every actor and destroyed an owned system already; the destructor
// may run on an actor's thread (the last reference), where waiting for actors would deadlock.
Runtime::~Runtime() = default;

Result<void> Runtime::start() {
  CallerThreadLogger caller(system());  // it spawns the runtime's actors from the caller's thread
  auto loop_start = prepare_loop_start(config_, options_);
  if (!loop_start) return loop_start.error();
  auto node_dispatcher = options_.replace_node_dispatcher
                             ? dispatcher_
                             : make_node_dispatcher(weak_from_this(), dispatcher_);
  for (auto& [name, factory] : options_.factories)
    if (auto added = registry_.add_factory(name, factory); !added) return added.error();
  for (const auto& probe : options_.probes)
    if (auto checked = check_probe(probe); !checked) return checked.error();
  if (options_.lifecycle_observer) {
    lifecycle_credits_ = std::make_unique<Credits>(kLifecycleBacklog);
    lifecycle_observer_ = spawn_lifecycle_observer(shared_from_this(), options_.lifecycle_observer);
    tracker_.track(lifecycle_observer_);
  }
  router_ = spawn_router(shared_from_this());
  tracker_.track(router_);
  asker_ = spawn_asker(shared_from_this());
  tracker_.track(asker_);
  // The options' probes come with the prober, so the loop's first tick polls them. Checked above and given
  // fresh ids, so none is refused.
  ProbeSet initial_probes;
  for (auto& probe : options_.probes)
    (void)initial_probes.attach(next_probe_id_.fetch_add(1, std::memory_order_relaxed), std::move(probe));
  loop_start->prober = spawn_prober(system(), std::move(initial_probes));
  tracker_.track(loop_start->prober);
  prober_ = caf::actor_cast<caf::actor_addr>(loop_start->prober);
  executor_ = spawn_executor(shared_from_this(), std::move(node_dispatcher), options_.admission);
  tracker_.track(executor_);
  loop_ = spawn_loop(shared_from_this(), std::move(*loop_start));
  tracker_.track(loop_);
  // The loop publishes its first snapshot as it starts, on a scheduler thread: wait for it, so that
  // snapshot() is never empty once start() returned (issue 9, bug 1).
  if (!snapshots_.wait_first(std::chrono::seconds(10)))
    return SdkError{Errc::start_failed, "the loop did not publish its first snapshot within 10 s"};
  return {};
}

Runtime::Call Runtime::enter() {
  Call call{CallerThreadLogger(system()), calls_.try_enter()};
  if (call.hold && closed()) call.hold.release();
  return call;
}

SdkError loop_closed(const std::string& what) {
  return SdkError{Errc::loop_closed, "the MeshOS loop has shut down; " + what};
}

void Runtime::notify_lifecycle(const event::DaemonLifecycle& e, std::int64_t wall_ms) {
  if (!lifecycle_observer_ || !lifecycle_credits_->try_acquire()) return;
  caf::anon_send(lifecycle_observer_, lifecycle_atom::value, LifecycleNotice{e.daemon, e.signal, wall_ms});
}

Result<void> Runtime::publish(MeshOsEvent ev) {
  auto hold = enter();
  if (!hold) return loop_closed("event dropped");
  if (!intake_.try_acquire())
    return SdkError{Errc::queue_full, "the MeshOS event queue is at capacity (" +
                                      std::to_string(intake_.capacity()) + "); event dropped"};
  caf::anon_send(loop_, event_atom::value, EventMsg{std::move(ev)});
  return {};
}

Result<void> Runtime::publish_within(MeshOsEvent ev, std::chrono::milliseconds timeout) {
  auto hold = enter();
  if (!hold) return loop_closed("event dropped");
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  if (!intake_.acquire_until(deadline, [this] { return closed(); })) {
    if (closed()) return loop_closed("event dropped");
    return SdkError{Errc::queue_full, "the MeshOS event queue stayed at capacity (" + std::to_string(intake_.capacity()) +
                                      ") for " + std::to_string(timeout.count()) + " ms; event dropped"};
  }
  if (closed()) {
    intake_.release();
    return loop_closed("event dropped");
  }
  caf::anon_send(loop_, event_atom::value, EventMsg{std::move(ev)});
  return {};
}

void Runtime::publish_internal(MeshOsEvent ev) {
  auto hold = enter();
  if (!hold) return;
  caf::anon_send(loop_, internal_atom::value, EventMsg{std::move(ev)});
}

// Not high priority: what was published before it is still saved.
void Runtime::stop_saving_state() {
  if (auto hold = enter()) caf::anon_send(loop_, nosave_atom::value);
}

Result<std::shared_ptr<DaemonSlot>> Runtime::register_daemon(std::unique_ptr<MeshDaemon> daemon,
                                                            const EntityKeypair& keypair,
                                                            std::size_t control_capacity) {
  return add_daemon(std::move(daemon), keypair.origin_hash(), nullptr, control_capacity);
}

Result<std::shared_ptr<DaemonSlot>> Runtime::add_daemon(std::unique_ptr<MeshDaemon> daemon, DaemonId id,
                                                       const std::string* factory_name, std::size_t control_capacity) {
  const bool from_factory = factory_name != nullptr;
  auto hold = enter();
  if (!hold) return SdkError{Errc::loop_closed, "the MeshOS runtime has shut down; cannot register"};
  if (!daemon) return SdkError{Errc::register_failed, "no daemon given"};
  std::string name;
  CapabilityFilter requirements;
  DaemonHosting hosting = DaemonHosting::Shared;
  try {
    name = daemon->name();
    requirements = daemon->requirements();
    hosting = daemon->hosting();
  } catch (const std::exception& e) {
    return SdkError{Errc::register_failed, std::string("daemon name(), requirements() or hosting() threw: ") + e.what()};
  }
  if (name.empty()) return SdkError{Errc::register_failed, "daemon name is empty"};
  if (factory_name && name != *factory_name)
    return SdkError{Errc::register_failed, "the factory for '" + *factory_name + "' built a daemon named '" + name + "'"};
  DaemonRef ref{id, name};
  auto slot = std::make_shared<DaemonSlot>(ref, control_capacity, config_.event_queue_capacity);
  if (auto added = registry_.add(slot); !added) return added.error();
  slot->metadata.node_id = node_id();
  slot->metadata.daemon_id = ref.id;
  slot->metadata.daemon_name = name;
  if (auto snap = snapshot()) slot->metadata.peers = snap->peers;
  slot->actor = spawn_daemon(shared_from_this(), slot, std::move(daemon), hosting);
  tracker_.track(slot->actor);
  // Findable before the loop hears of it: once a snapshot shows the daemon, work and control reach it (a
  // daemon built by the dispatcher is first seen in a snapshot, not through a handle). The actor checks its
  // daemon only once told to, after the Registered is on its way, so what it reports reaches the loop after.
  slot->live.store(true, std::memory_order_release);
  publish_internal(event::DaemonLifecycle{ref, lifecycle::Registered{std::move(requirements), from_factory}});
  caf::anon_send(slot->actor, check_atom::value);
  return slot;
}

Result<void> Runtime::register_factory(std::string name, DaemonFactory factory) {
  return registry_.add_factory(std::move(name), std::move(factory));
}

Result<std::shared_ptr<DaemonSlot>> Runtime::host(const DaemonRef& ref) {
  auto factory = registry_.factory(ref.name, node_id());
  if (!factory) return factory.error();
  std::unique_ptr<MeshDaemon> daemon;
  try {
    daemon = factory.value()();
  } catch (const std::exception& e) {
    return SdkError{Errc::register_failed, "the factory for '" + ref.name + "' threw: " + e.what()};
  } catch (...) {
    return SdkError{Errc::register_failed, "the factory for '" + ref.name + "' threw a non-standard exception"};
  }
  if (!daemon) return SdkError{Errc::register_failed, "the factory for '" + ref.name + "' returned no daemon"};
  return add_daemon(std::move(daemon), ref.id, &ref.name, kDefaultControlCapacity);
}

namespace {
constexpr std::size_t kAdoptedRemembered = 256;
}  // namespace

Result<std::shared_ptr<DaemonSlot>> Runtime::accept_move(std::uint64_t migration, const DaemonRef& ref) {
  if (auto snap = snapshot(); snap && kind_of(snap->local_maintenance) != MaintenanceKind::Active)
    return SdkError{Errc::target_unavailable, "node " + to_hex(node_id()) + " is in " +
                                              to_string(kind_of(snap->local_maintenance)) + ", not taking daemons"};
  auto hosted = host(ref);
  if (!hosted) return hosted.error();
  {
    std::lock_guard<std::mutex> lock(migrations_mu_);
    auto called_off = std::find(released_early_.begin(), released_early_.end(), std::make_pair(migration, ref.id));
    if (called_off == released_early_.end()) {
      adopted_.emplace_back(migration, ref.id);
      if (adopted_.size() > kAdoptedRemembered) adopted_.pop_front();
      return hosted;
    }
    released_early_.erase(called_off);
  }
  // Its source let go of the move while it was on its way here: the daemon stays there, and only there.
  unregister_daemon(hosted.value(), false);
  return SdkError{Errc::migration_released,
                  "move " + to_hex(migration) + " of daemon " + to_hex(ref.id) + " was called off by its source"};
}

Result<void> Runtime::release(std::uint64_t migration, const DaemonRef& ref) {
  {
    std::lock_guard<std::mutex> lock(migrations_mu_);
    auto it = std::find(adopted_.begin(), adopted_.end(), std::make_pair(migration, ref.id));
    if (it == adopted_.end()) {
      // Called off before it arrived (the source aborted while the transfer was on its way, and the two
      // requests crossed): remembered, so that the daemon is refused when it comes.
      released_early_.emplace_back(migration, ref.id);
      if (released_early_.size() > kAdoptedRemembered) released_early_.pop_front();
      return {};
    }
    adopted_.erase(it);
  }
  if (auto slot = find(ref.id)) unregister_daemon(slot, false);
  return {};
}

void Runtime::set_migration_transport(std::shared_ptr<MigrationTransport> transport) {
  std::lock_guard<std::mutex> lock(migrations_mu_);
  transport_ = std::move(transport);
}

std::shared_ptr<MigrationTransport> Runtime::migration_transport() const {
  std::lock_guard<std::mutex> lock(migrations_mu_);
  return transport_;
}

void Runtime::migration_began(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(migrations_mu_);
  migrations_[id] = false;
}

void Runtime::migration_ended(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(migrations_mu_);
  migrations_.erase(id);
}

bool Runtime::migration_aborted(std::uint64_t id) const {
  std::lock_guard<std::mutex> lock(migrations_mu_);
  auto it = migrations_.find(id);
  return it != migrations_.end() && it->second;
}

// Only a move under way can be aborted: the set stays as small as the moves in flight.
void Runtime::abort_migration(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(migrations_mu_);
  auto it = migrations_.find(id);
  if (it != migrations_.end()) it->second = true;
}

void Runtime::unregister_daemon(const std::shared_ptr<DaemonSlot>& slot, bool force) {
  // Also once the loop closed; after shutdown() began, shutdown() stops every daemon itself.
  auto hold = calls_.try_enter();
  if (!hold || slot->unregistered.exchange(true)) return;
  registry_.remove(slot);
  slot->close();
  if (force)
    caf::anon_send_exit(slot->actor, caf::exit_reason::kill);
  caf::anon_send<caf::message_priority::high>(slot->actor, quit_atom::value);
  publish_internal(event::DaemonLifecycle{slot->daemon, lifecycle::Unregistered{}});
}

// From the caller straight to the daemon's actor, which holds the control credit taken here: the drop decision
// is immediate, no actor forwards what many callers route (a broadcast is N sends from the caller's thread, not
// N from one actor), and one caller's events reach a daemon in the order it routed them. A stop the router
// sends afterwards still comes after them: they are in the daemon's mailbox, at high priority, before it.
void Runtime::route(DaemonId id, const DaemonControl& c) {
  auto hold = enter();
  if (!hold) return;
  if (auto slot = registry_.reserve_control(id))
    caf::anon_send<caf::message_priority::high>(slot->actor, control_atom::value, ControlMsg{c, true});
}

void Runtime::broadcast(const DaemonControl& c) {
  auto hold = enter();
  if (!hold) return;
  // One message for all: each daemon's mailbox gets its own element, the event itself is shared.
  const auto message = caf::make_message(control_atom::value, ControlMsg{c, true});
  registry_.reserve_control_each([&](const DaemonSlot& slot) {
    slot.actor->enqueue(caf::make_mailbox_element(nullptr, caf::make_message_id(caf::message_priority::high), {}, message),
                        nullptr);
  });
}

// Straight to the daemon's actor, not through the router: a bulk shutdown sends one to every daemon, and no
// single actor should forward N messages. A stop that follows it (through the router) still comes after it.
void Runtime::tell_shutdown(const std::shared_ptr<DaemonSlot>& slot, std::uint64_t grace_ms) {
  if (auto hold = calls_.try_enter())
    caf::anon_send<caf::message_priority::high>(slot->actor, control_atom::value,
                                                ControlMsg{Shutdown{grace_ms}, false});
}

void Runtime::acknowledge_shutdown(const std::shared_ptr<DaemonSlot>& slot) {
  slot->acknowledge_shutdown();
  if (auto hold = calls_.try_enter()) caf::anon_send<caf::message_priority::high>(slot->actor, finished_atom::value);
}

std::uint64_t Runtime::subscribe(std::function<void(const SnapshotPtr&)> cb, std::shared_ptr<ShutdownGate> calls) {
  // Nothing is published any more; after shutdown() there is no actor system to spawn on either.
  auto hold = enter();
  if (!hold) return 0;
  auto credits = std::make_shared<Credits>(1);  // a busy subscriber skips snapshots instead of queueing them
  auto a = spawn_subscriber(shared_from_this(), std::move(cb), credits, std::move(calls));
  tracker_.track(a);
  return snapshots_.add_subscriber(std::move(a), std::move(credits));
}

void Runtime::unsubscribe(std::uint64_t id) {
  auto hold = calls_.try_enter();  // shutdown() stops every subscriber itself
  if (!hold) return;
  if (auto a = snapshots_.remove_subscriber(id)) caf::anon_send<caf::message_priority::high>(a, quit_atom::value);
}

namespace {
SdkError no_daemon(DaemonId id) { return SdkError{Errc::not_found, "no daemon " + to_hex(id) + " is registered"}; }
}  // namespace

Result<std::shared_ptr<DaemonSlot>> Runtime::take_data_slot(DaemonId id) {
  auto slot = find(id);
  if (!slot) return no_daemon(id);
  if (!slot->data_credits.try_acquire()) return SdkError{Errc::queue_full, slot->queue_full_text};
  return slot;
}

Result<void> Runtime::deliver(DaemonId id, CausalEvent ev) {
  auto hold = enter();
  if (!hold) return loop_closed("event not delivered");
  auto slot = take_data_slot(id);
  if (!slot) return slot.error();
  caf::anon_send(slot.value()->actor, causal_atom::value, CausalMsg{std::move(ev)});
  return {};
}

Result<void> Runtime::deliver_within(DaemonId id, CausalEvent ev, std::chrono::milliseconds timeout) {
  auto hold = enter();
  if (!hold) return loop_closed("event not delivered");
  auto slot = find(id);
  if (!slot) return no_daemon(id);
  auto gone = [&] { return closed() || slot->unregistered.load(std::memory_order_acquire); };
  const bool room = slot->data_credits.acquire_until(Clock::now() + timeout, gone);
  if (room && !gone()) {
    caf::anon_send(slot->actor, causal_atom::value, CausalMsg{std::move(ev)});
    return {};
  }
  if (room) slot->data_credits.release();
  if (closed()) return loop_closed("it shut down while the event waited for room");
  if (slot->unregistered.load(std::memory_order_acquire))
    return SdkError{Errc::not_running, "daemon " + slot->daemon.name + " left while the event waited for room"};
  return SdkError{Errc::queue_full, slot->queue_full_text + " (waited " + std::to_string(timeout.count()) + " ms)"};
}

Result<std::vector<Bytes>> Runtime::process(DaemonId id, CausalEvent ev, std::chrono::milliseconds timeout) {
  auto hold = enter();
  if (!hold) return loop_closed("event not processed");
  auto taken = take_data_slot(id);
  if (!taken) return taken.error();
  auto& slot = taken.value();
  ScopedCaller self{system()};
  std::optional<Result<std::vector<Bytes>>> out;
  self->request(slot->actor, timeout, process_atom::value, CausalMsg{std::move(ev)})
      .receive([&](OutputsMsg& m) { out.emplace(outputs_of(std::move(m))); },
               [&](caf::error& err) { out.emplace(process_failure(system(), err, slot->daemon.name)); });
  return std::move(*out);
}

Result<void> Runtime::process_async(DaemonId id, CausalEvent ev, std::chrono::milliseconds timeout,
                                    std::function<void(Result<std::vector<Bytes>>)> done) {
  auto hold = enter();
  if (!hold) return loop_closed("event not processed");
  if (!done) return SdkError{Errc::invalid_argument, "process_async needs a callback for the answer"};
  auto taken = take_data_slot(id);
  if (!taken) return taken.error();
  caf::anon_send(asker_, process_atom::value,
                 AskMsg{std::move(taken.value()), CausalMsg{std::move(ev)}, timeout, std::move(done)});
  return {};
}

namespace {

// Asks daemon `id`'s actor (after the work already in its mailbox) and maps its answer with `on_reply`.
template <class Reply, class OnReply, class... Ts>
// `hold`: the caller's entry into the runtime (empty once it closed).
auto ask_daemon(Runtime& rt, Runtime::Call hold, DaemonId id, std::chrono::milliseconds timeout,
                OnReply on_reply, Ts&&... xs) -> decltype(on_reply(std::declval<Reply&>())) {
  if (!hold) return loop_closed("the daemon was not asked");
  auto slot = rt.find(id);
  if (!slot) return no_daemon(id);
  ScopedCaller self{rt.system()};
  std::optional<decltype(on_reply(std::declval<Reply&>()))> out;
  self->request(slot->actor, timeout, std::forward<Ts>(xs)...)
      .receive([&](Reply& reply) { out.emplace(on_reply(reply)); },
               [&](caf::error& err) { out.emplace(process_failure(rt.system(), err, slot->daemon.name)); });
  return std::move(*out);
}

}  // namespace

Result<DaemonHostStats> Runtime::host_stats(DaemonId id, std::chrono::milliseconds timeout) {
  return ask_daemon<DaemonHostStats>(
      *this, enter(), id, timeout, [](DaemonHostStats& s) -> Result<DaemonHostStats> { return std::move(s); },
      host_stats_atom::value);
}

Result<std::optional<Bytes>> Runtime::save_state(DaemonId id, std::chrono::milliseconds timeout) {
  return ask_daemon<MoveOutMsg>(
      *this, enter(), id, timeout,
      [](MoveOutMsg& m) -> Result<std::optional<Bytes>> {
        if (m.error) return std::move(*m.error);
        return std::move(m.state);
      },
      save_state_atom::value);
}

Result<void> Runtime::restore_state(DaemonId id, Bytes state, std::chrono::milliseconds timeout) {
  return ask_daemon<OutputsMsg>(
      *this, enter(), id, timeout,
      [](OutputsMsg& m) -> Result<void> {
        if (m.error) return std::move(*m.error);
        return {};
      },
      load_state_atom::value, StateMsg{std::move(state)});
}

Result<std::vector<Bytes>> outputs_of(OutputsMsg m) {
  if (m.error) return std::move(*m.error);
  return std::move(m.outputs);
}

SdkError process_failure(caf::actor_system& sys, const caf::error& err, const std::string& daemon_name) {
  if (err == caf::sec::request_timeout) return SdkError{Errc::timeout, "daemon " + daemon_name + " did not answer in time"};
  // Its actor ended with the event still in the mailbox (the daemon was unregistered, or moved to a peer,
  // meanwhile): the event was never processed, so the caller may send it again.
  if (err == caf::sec::request_receiver_down)
    return SdkError{Errc::not_running, "daemon " + daemon_name + " left before it took the event"};
  return SdkError{Errc::process_failed, sys.render(err)};
}

Result<std::uint64_t> Runtime::attach_probe(Probe probe) {
  if (auto checked = check_probe(probe); !checked) return checked.error();
  auto hold = enter();
  if (!hold) return loop_closed("probe " + probe.name + " not attached");
  auto prober = caf::actor_cast<caf::actor>(prober_);
  if (!prober) return loop_closed("probe " + probe.name + " not attached");
  const std::uint64_t id = next_probe_id_.fetch_add(1, std::memory_order_relaxed);
  caf::anon_send(prober, attach_probe_atom::value, id, ProbeMsg{std::move(probe)});
  return id;
}

Result<void> Runtime::detach_probe(std::uint64_t id, std::chrono::milliseconds timeout) {
  auto hold = calls_.try_enter();
  if (!hold) return {};  // shutdown() began: the prober is gone or on its way
  auto prober = caf::actor_cast<caf::actor>(prober_);
  if (!prober) return {};
  ScopedCaller self{system()};
  std::optional<SdkError> failure;
  self->request(prober, timeout, detach_probe_atom::value, id)
      .receive([](bool) {},
               [&](caf::error& err) {
                 // The prober quit meanwhile (shutdown): nothing polls the probe any more.
                 if (err == caf::sec::request_receiver_down) return;
                 failure = SdkError{Errc::timeout, "probe " + std::to_string(id) + " not detached: the prober was busy for " +
                                                   std::to_string(timeout.count()) + " ms (" + system().render(err) + ")"};
               });
  if (failure) return *failure;
  return {};
}

Result<RuntimeStats> Runtime::shutdown(std::chrono::milliseconds grace) {
  if (!calls_.close()) return SdkError{Errc::already_shutdown, "the MeshOS runtime was already shut down"};
  const auto deadline = Clock::now() + grace;
  close();
  RuntimeStats stats;
  // The loop's last snapshot carries the final counters.
  if (auto snap = snapshot()) {
    stats.loop = snap->loop;
    stats.executor = snap->executor;
  }
  stats.snapshots_published = snapshots_.published();
  stats.subscriber_drops = snapshots_.subscriber_drops();
  stats.refused_while_moving = refused_while_moving_.load();
  if (lifecycle_credits_) stats.lifecycle_dropped = lifecycle_credits_->dropped();

  auto slots = registry_.take_all();
  stats.daemons_at_shutdown = slots.size();
  stats.control_dropped = registry_.control_dropped();
  std::vector<caf::actor> daemon_actors;
  daemon_actors.reserve(slots.size());
  for (auto& s : slots) {
    s->unregistered.store(true);
    s->close();
    caf::anon_send<caf::message_priority::high>(s->actor, quit_atom::value);
    daemon_actors.push_back(s->actor);
  }
  for (auto& a : snapshots_.remove_all_subscribers()) caf::anon_send<caf::message_priority::high>(a, quit_atom::value);
  for (auto* a : {&loop_, &executor_, &router_, &asker_})
    if (*a) caf::anon_send<caf::message_priority::high>(*a, quit_atom::value);
  if (auto prober = caf::actor_cast<caf::actor>(prober_))
    caf::anon_send<caf::message_priority::high>(prober, quit_atom::value);
  // Behind the notices already sent to it: the observer hears everything the loop folded.
  if (lifecycle_observer_) caf::anon_send(lifecycle_observer_, quit_atom::value);

  // Daemon code may be stuck: the daemons are the actors that may have to be killed. A call still inside the
  // gate (a process() whose daemon just ended answers at once) is waited for as long as the actors were.
  const bool stopped = stop_actors(tracker_, deadline, daemon_actors);
  const bool calls_done = calls_.wait(std::max(deadline, Clock::now() + kKillGrace));
  stats.forced = !stopped || !calls_done;
  if (owned_system_) {
    // CAF's destructor would wait for the stuck actor, and a call still inside uses the system.
    if (stats.forced)
      abandon_at_exit(std::move(owned_system_));
    else
      owned_system_.reset();
  }
  return stats;
}

}  // namespace meshos::detail
