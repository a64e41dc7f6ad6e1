#include "meshos/sdk.hpp"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <utility>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/caf.hpp"

namespace meshos {

using detail::DaemonSlot;
using detail::loop_closed;
using detail::Runtime;

namespace {

std::shared_ptr<Runtime> make_runtime(std::unique_ptr<detail::OwnedSystem> owned, caf::actor_system* borrowed,
                                      MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher,
                                      MeshOsDaemonSdk::Options options) {
  if (auto valid = config.validate(); !valid) throw SdkException(valid.error());
  auto rt = std::make_shared<Runtime>(std::move(owned), borrowed, std::move(config), std::move(dispatcher),
                                      std::move(options));
  if (auto started = rt->start(); !started) throw SdkException(started.error());
  return rt;
}

}  // namespace

// ---- MeshOsDaemonHandle ----

MeshOsDaemonHandle::MeshOsDaemonHandle(std::shared_ptr<Runtime> runtime, std::shared_ptr<DaemonSlot> slot)
    : rt_(std::move(runtime)), slot_(std::move(slot)) {}
MeshOsDaemonHandle::MeshOsDaemonHandle(MeshOsDaemonHandle&&) noexcept = default;
MeshOsDaemonHandle& MeshOsDaemonHandle::operator=(MeshOsDaemonHandle&& other) noexcept {
  if (this != &other) {
    if (slot_) rt_->unregister_daemon(slot_, false);
    rt_ = std::move(other.rt_);
    slot_ = std::move(other.slot_);
  }
  return *this;
}

MeshOsDaemonHandle::~MeshOsDaemonHandle() {
  if (slot_) rt_->unregister_daemon(slot_, false);
}

DaemonId MeshOsDaemonHandle::daemon_id() const { return slot_->daemon.id; }
const std::string& MeshOsDaemonHandle::daemon_name() const { return slot_->daemon.name; }

std::optional<DaemonControl> MeshOsDaemonHandle::next_control(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(slot_->mu);
  slot_->control_taker = std::this_thread::get_id();  // a pull-model daemon: it says when it finished
  slot_->cv.wait_for(lock, timeout, [&] { return !slot_->inbox.empty() || slot_->closed; });
  if (slot_->inbox.empty()) return std::nullopt;
  auto c = std::move(slot_->inbox.front());
  slot_->inbox.pop_front();
  return c;
}

std::optional<DaemonControl> MeshOsDaemonHandle::try_next_control() { return next_control(std::chrono::milliseconds(0)); }

const MetadataView& MeshOsDaemonHandle::metadata() const { return slot_->metadata; }

const MetadataView& MeshOsDaemonHandle::refresh_metadata() {
  if (auto snap = rt_->snapshot())
    slot_->metadata = metadata_from_snapshot(*snap, slot_->daemon.id, slot_->daemon.name);
  slot_->metadata.node_id = rt_->node_id();
  return slot_->metadata;
}

std::uint64_t MeshOsDaemonHandle::control_inbox_evicted() const {
  std::lock_guard<std::mutex> lock(slot_->mu);
  return slot_->inbox_dropped;
}

Result<DaemonHostStats> MeshOsDaemonHandle::stats(std::chrono::milliseconds timeout) const {
  return rt_->host_stats(slot_->daemon.id, timeout);
}

Result<void> MeshOsDaemonHandle::publish_log(LogLevel level, std::string message) {
  if (rt_->closed()) return loop_closed("daemon log line dropped");
  return rt_->publish(event::Log{LogLine{level, slot_->daemon.id, std::move(message)}});
}

Result<void> MeshOsDaemonHandle::publish_capabilities(CapabilitySet caps) {
  std::vector<std::string> tags(caps.tags.begin(), caps.tags.end());
  auto checked = make_capability_set(tags, caps.metadata);
  if (!checked) return checked.error();
  if (rt_->closed()) return loop_closed("capabilities not published");
  return rt_->publish(event::CapabilitiesPublished{slot_->daemon.id, std::move(checked.value())});
}

std::uint64_t MeshOsDaemonHandle::dropped_control_events() const { return slot_->dropped(); }

void MeshOsDaemonHandle::acknowledge_shutdown() { rt_->acknowledge_shutdown(slot_); }

Result<ShutdownOutcome> MeshOsDaemonHandle::graceful_shutdown(std::chrono::milliseconds grace) {
  return shut_down(grace, true);
}

Result<ShutdownOutcome> MeshOsDaemonHandle::shut_down(std::chrono::milliseconds grace, bool its_word) {
  auto leaving = begin_shutdown(grace, its_word);
  if (!leaving) return leaving.error();
  return end_shutdown(*leaving, Clock::now() + grace);
}

Result<MeshOsDaemonHandle::Leaving> MeshOsDaemonHandle::begin_shutdown(std::chrono::milliseconds grace,
                                                                      bool its_word) {
  if (slot_->shutdown_requested.exchange(true) || slot_->unregistered.load())
    return SdkError{Errc::already_shutdown, "daemon " + slot_->daemon.name + " was already shut down"};
  Leaving leaving;
  {
    std::lock_guard<std::mutex> lock(slot_->mu);
    leaving.before = slot_->shutdowns_consumed;
    leaving.own_word = !its_word || slot_->control_taker == std::this_thread::get_id();
    // It finished after the Shutdown it had (a drain's, say) and said so: nothing to wait for.
    if (leaving.before > 0 && !slot_->awaits_acknowledgement_locked() && slot_->control_taker != std::thread::id{})
      leaving.own_word = true;
  }
  rt_->tell_shutdown(slot_, static_cast<std::uint64_t>(grace.count() < 0 ? 0 : grace.count()));
  return leaving;
}

ShutdownOutcome MeshOsDaemonHandle::end_shutdown(const Leaving& leaving, TimePoint deadline) {
  // Finished: its actor handled the Shutdown (a push-model daemon's on_control returned), and a pull-model
  // daemon said so through its handle (unless the call was its own word).
  auto finished = [&] {
    return slot_->shutdowns_consumed > leaving.before && (leaving.own_word || !slot_->awaits_acknowledgement_locked());
  };
  bool done;
  {
    std::unique_lock<std::mutex> lock(slot_->mu);
    done = slot_->cv.wait_until(lock, deadline, [&] { return finished() || slot_->closed; }) && finished();
  }
  rt_->unregister_daemon(slot_, !done);
  return done ? ShutdownOutcome::Consumed : ShutdownOutcome::Forced;
}

std::vector<Result<ShutdownOutcome>> shutdown_daemons(const std::vector<MeshOsDaemonHandle*>& handles,
                                                      std::chrono::milliseconds grace) {
  const auto deadline = Clock::now() + grace;
  std::vector<Result<MeshOsDaemonHandle::Leaving>> leaving;
  leaving.reserve(handles.size());
  // Every daemon hears its Shutdown before the first wait: they finish side by side, not one after another.
  for (auto* h : handles) {
    if (h == nullptr || !h->slot_)
      leaving.emplace_back(SdkError{Errc::invalid_argument, "no daemon handle (null, or moved from)"});
    else
      leaving.push_back(h->begin_shutdown(grace, true));
  }
  std::vector<Result<ShutdownOutcome>> outcomes;
  outcomes.reserve(handles.size());
  for (std::size_t i = 0; i < handles.size(); ++i) {
    if (!leaving[i])
      outcomes.emplace_back(leaving[i].error());
    else
      outcomes.emplace_back(handles[i]->end_shutdown(*leaving[i], deadline));
  }
  return outcomes;
}

// ---- MeshOsDaemonSdk ----

MeshOsDaemonSdk::MeshOsDaemonSdk(std::shared_ptr<Runtime> rt) : rt_(std::move(rt)) {}
MeshOsDaemonSdk::MeshOsDaemonSdk(MeshOsDaemonSdk&&) noexcept = default;
MeshOsDaemonSdk& MeshOsDaemonSdk::operator=(MeshOsDaemonSdk&& other) noexcept {
  if (this != &other) {
    if (rt_) (void)rt_->shutdown();
    rt_ = std::move(other.rt_);
    control_capacity_ = other.control_capacity_;
  }
  return *this;
}
MeshOsDaemonSdk::~MeshOsDaemonSdk() {
  if (rt_) (void)rt_->shutdown();  // already_shutdown when shutdown() ran: nothing to do
}

MeshOsDaemonSdk MeshOsDaemonSdk::start(MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher) {
  return start(std::move(config), std::move(dispatcher), Options{});
}

MeshOsDaemonSdk MeshOsDaemonSdk::start(MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher,
                                       Options options) {
  auto capacity = config.control_capacity;
  MeshOsDaemonSdk sdk(make_runtime(std::make_unique<detail::OwnedSystem>(), nullptr, std::move(config),
                                   std::move(dispatcher), std::move(options)));
  sdk.with_control_capacity(capacity);
  return sdk;
}

MeshOsDaemonSdk start_sdk(caf::actor_system& system, MeshOsConfig config, std::shared_ptr<ActionDispatcher> dispatcher,
                          SdkOptions options) {
  auto capacity = config.control_capacity;
  auto sdk = detail::SdkInternals::wrap(
      make_runtime(nullptr, &system, std::move(config), std::move(dispatcher), std::move(options)));
  sdk.with_control_capacity(capacity);
  return sdk;
}

MeshOsDaemonSdk& MeshOsDaemonSdk::with_control_capacity(std::size_t capacity) {
  control_capacity_ = capacity == 0 ? 1 : capacity;
  return *this;
}

Result<MeshOsDaemonHandle> MeshOsDaemonSdk::register_daemon(std::unique_ptr<MeshDaemon> daemon,
                                                            const EntityKeypair& keypair) {
  auto slot = rt_->register_daemon(std::move(daemon), keypair, control_capacity_);
  if (!slot) return slot.error();
  return MeshOsDaemonHandle(rt_, std::move(slot.value()));
}

Result<void> MeshOsDaemonSdk::register_factory(std::string name, DaemonFactory factory) {
  return rt_->register_factory(std::move(name), std::move(factory));
}

void MeshOsDaemonSdk::route(DaemonId daemon, const DaemonControl& control) { rt_->route(daemon, control); }
void MeshOsDaemonSdk::broadcast(const DaemonControl& control) { rt_->broadcast(control); }

std::uint64_t MeshOsDaemonSdk::dropped_control_events() const { return rt_->control_dropped(); }
SnapshotPtr MeshOsDaemonSdk::snapshot() const { return rt_->snapshot(); }
Subscription MeshOsDaemonSdk::subscribe(std::function<void(const SnapshotPtr&)> callback) {
  auto gate = std::make_shared<detail::ShutdownGate>();
  const auto id = rt_->subscribe(std::move(callback), gate);
  if (id == 0) return Subscription{};
  return Subscription(rt_, id, std::move(gate));
}

Subscription::Subscription(Subscription&& o) noexcept
    : rt_(std::move(o.rt_)), id_(std::exchange(o.id_, 0)), gate_(std::move(o.gate_)) {}

Subscription& Subscription::operator=(Subscription&& o) noexcept {
  if (this != &o) {
    (void)cancel();
    rt_ = std::move(o.rt_);
    id_ = std::exchange(o.id_, 0);
    gate_ = std::move(o.gate_);
  }
  return *this;
}

Subscription::~Subscription() { (void)cancel(); }

Result<void> Subscription::cancel(std::chrono::milliseconds timeout) {
  if (!gate_) return {};
  if (auto rt = rt_.lock()) rt->unsubscribe(id_);  // its actor quits
  rt_.reset();
  gate_->close();
  if (!gate_->wait(std::chrono::steady_clock::now() + timeout))
    return SdkError{Errc::timeout, "the snapshot callback was still running after " + std::to_string(timeout.count()) + " ms"};
  gate_.reset();
  return {};
}

Result<ProbeAttachment> MeshOsDaemonSdk::attach_probe(Probe probe) {
  auto id = rt_->attach_probe(std::move(probe));
  if (!id) return id.error();
  return ProbeAttachment(rt_, *id);
}

ProbeAttachment::ProbeAttachment(ProbeAttachment&& o) noexcept
    : rt_(std::move(o.rt_)), id_(std::exchange(o.id_, 0)) {}

ProbeAttachment& ProbeAttachment::operator=(ProbeAttachment&& o) noexcept {
  if (this != &o) {
    (void)detach();
    rt_ = std::move(o.rt_);
    id_ = std::exchange(o.id_, 0);
  }
  return *this;
}

ProbeAttachment::~ProbeAttachment() { (void)detach(); }

Result<void> ProbeAttachment::detach(std::chrono::milliseconds timeout) {
  if (id_ == 0) return {};
  if (auto rt = rt_.lock()) {
    if (auto detached = rt->detach_probe(id_, timeout); !detached) return detached;
  }
  id_ = 0;
  rt_.reset();
  return {};
}
Result<void> MeshOsDaemonSdk::publish(MeshOsEvent event) { return rt_->publish(std::move(event)); }
Result<void> MeshOsDaemonSdk::publish(MeshOsEvent event, std::chrono::milliseconds timeout) {
  return rt_->publish_within(std::move(event), timeout);
}
Result<void> MeshOsDaemonSdk::deliver(DaemonId daemon, CausalEvent event) {
  return rt_->deliver(daemon, std::move(event));
}
Result<void> MeshOsDaemonSdk::deliver(DaemonId daemon, CausalEvent event, std::chrono::milliseconds timeout) {
  return rt_->deliver_within(daemon, std::move(event), timeout);
}
Result<std::vector<Bytes>> MeshOsDaemonSdk::process(DaemonId daemon, CausalEvent event,
                                                    std::chrono::milliseconds timeout) {
  return rt_->process(daemon, std::move(event), timeout);
}
Result<void> MeshOsDaemonSdk::process_async(DaemonId daemon, CausalEvent event, std::chrono::milliseconds timeout,
                                           ProcessCallback done) {
  return rt_->process_async(daemon, std::move(event), timeout, std::move(done));
}
Result<DaemonHostStats> MeshOsDaemonSdk::daemon_stats(DaemonId daemon, std::chrono::milliseconds timeout) {
  return rt_->host_stats(daemon, timeout);
}
Result<std::optional<Bytes>> MeshOsDaemonSdk::snapshot_daemon(DaemonId daemon, std::chrono::milliseconds timeout) {
  return rt_->save_state(daemon, timeout);
}
Result<void> MeshOsDaemonSdk::restore_daemon(DaemonId daemon, Bytes state, std::chrono::milliseconds timeout) {
  return rt_->restore_state(daemon, std::move(state), timeout);
}
Result<RuntimeStats> MeshOsDaemonSdk::shutdown(std::chrono::milliseconds deadline) {
  return rt_->shutdown(deadline);
}
NodeId MeshOsDaemonSdk::node_id() const { return rt_->node_id(); }
void MeshOsDaemonSdk::stop_saving_state() { rt_->stop_saving_state(); }
const MeshOsConfig& MeshOsDaemonSdk::config() const { return rt_->config(); }

Result<DrainOutcome> MeshOsDaemonSdk::drain(std::chrono::milliseconds deadline) {
  if (rt_->closed()) return loop_closed("no drain");
  struct Verdict {
    std::mutex mu;
    std::condition_variable cv;
    std::optional<DrainOutcome> outcome;
    MaintenanceKind last = MaintenanceKind::Active;
  };
  auto verdict = std::make_shared<Verdict>();
  auto settle = [verdict](const MeshOsSnapshot& s) {
    const MaintenanceKind kind = kind_of(s.local_maintenance);
    std::lock_guard<std::mutex> lock(verdict->mu);
    verdict->last = kind;
    if (verdict->outcome || (kind != MaintenanceKind::Maintenance && kind != MaintenanceKind::DrainFailed)) return;
    DrainOutcome out;
    out.state = kind;
    if (const auto* failed = std::get_if<view::DrainFailed>(&s.local_maintenance)) out.reason = failed->reason;
    verdict->outcome = std::move(out);
    verdict->cv.notify_all();
  };
  const auto started = std::chrono::steady_clock::now();
  auto subscription = subscribe([settle](const SnapshotPtr& s) {
    if (s) settle(*s);
  });
  auto published = publish(event::Admin{admin::EnterMaintenance{node_id(), static_cast<std::uint64_t>(deadline.count())}});
  std::optional<DrainOutcome> outcome;
  MaintenanceKind last = MaintenanceKind::Active;
  if (published) {
    if (auto now = snapshot()) settle(*now);  // already in maintenance: no new snapshot may come
    // The loop declares DrainFailed at its deadline, which starts when it takes the event in; the grace covers
    // that event's and the verdict's way through a loaded node (a few ticks, and never less than a second).
    const auto grace = std::max<std::chrono::milliseconds>(4 * config().tick_interval, std::chrono::seconds(1));
    const auto bound = started + deadline + grace;
    std::unique_lock<std::mutex> lock(verdict->mu);
    verdict->cv.wait_until(lock, bound, [&] { return verdict->outcome.has_value(); });
    outcome = verdict->outcome;
    last = verdict->last;
  }
  (void)subscription.cancel();  // the callback holds only the verdict, which it shares
  if (!published) return published.error();
  if (!outcome)
    return SdkError{Errc::drain_timeout, "the drain did not settle within " + std::to_string(deadline.count()) +
                                         " ms (state " + to_string(last) + ")"};
  outcome->took = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started);
  return std::move(*outcome);
}

std::future<Result<DrainOutcome>> MeshOsDaemonSdk::drain_async(std::chrono::milliseconds deadline) {
  return std::async(std::launch::async, [this, deadline] { return drain(deadline); });
}

// ---- daemon_main ----

int daemon_main(std::unique_ptr<MeshDaemon> daemon, const EntityKeypair& keypair, DaemonMainOptions options) {
  try {
    auto sdk = MeshOsDaemonSdk::start(std::move(options.config), std::move(options.dispatcher));
    auto handle = sdk.register_daemon(std::move(daemon), keypair);
    if (!handle) {
      std::fprintf(stderr, "%s\n", handle.error().to_string().c_str());
      (void)sdk.shutdown();
      return 1;
    }
    if (options.on_start) options.on_start(sdk, *handle);
    for (;;) {
      auto ev = handle->next_control(std::chrono::seconds(1));
      if (!ev) continue;  // a quiet second: keep waiting
      if (options.on_control) options.on_control(*handle, *ev);
      if (std::holds_alternative<Shutdown>(*ev) || std::holds_alternative<DrainFinish>(*ev)) break;
    }
    auto outcome = handle->graceful_shutdown(options.grace);
    auto stats = sdk.shutdown();
    return outcome && stats && !stats->forced ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
}

}  // namespace meshos
