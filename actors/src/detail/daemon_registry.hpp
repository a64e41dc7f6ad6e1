#pragma once
// The daemons a node runs: one slot per registered daemon, the factories the node may build daemons from,
// and the reservations that bound control routing. The one owner of that membership; everyone else asks it.
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/actor.hpp>

#include "detail/credits.hpp"
#include "meshos/sdk.hpp"

namespace meshos::detail {

// Everything one registered daemon shares between its handle, the registry, the router and its actor. It
// knows nothing of the runtime: whoever needs the runtime holds it.
struct DaemonSlot {
  DaemonSlot(DaemonRef ref, std::size_t control_capacity, std::size_t data_capacity)
      : daemon(std::move(ref)), control_credits(control_capacity), data_credits(data_capacity),
        inbox_capacity(control_capacity),
        queue_full_text("daemon " + daemon.name + " has " + std::to_string(data_credits.capacity()) +
                        " events pending; event dropped") {}

  DaemonRef daemon;
  caf::actor actor;
  // Set (release) once `actor` is assigned; the registry hands out only live slots (acquire), so no reader
  // sees the slot while its actor is still being spawned.
  std::atomic<bool> live{false};
  Credits control_credits;  // control events routed to the daemon, not yet handled by its actor
  WaitableCredits data_credits;  // causal events delivered, not yet processed (deliver with a timeout waits on it)

  // Control events the actor consumed, kept for next_control(): the newest inbox_capacity of them. A daemon
  // that only uses on_control never drains it; what falls out is not a dropped control event (it was
  // consumed), so it is counted apart.
  std::mutex mu;
  std::condition_variable cv;
  std::deque<DaemonControl> inbox;
  std::size_t inbox_capacity;
  std::uint64_t inbox_dropped = 0;
  bool closed = false;               // unregistered or runtime gone: next_control returns nullopt
  std::uint64_t shutdowns_consumed = 0;
  // A pull-model daemon (its handle takes control events: control_taker is that thread) says, through its
  // handle, that it finished after a Shutdown: shutdowns_consumed as it was then. Until it does, a stop after
  // a Shutdown waits for it, up to that Shutdown's grace.
  std::thread::id control_taker;
  std::uint64_t shutdowns_acknowledged = 0;
  bool awaits_acknowledgement_locked() const {
    return control_taker != std::thread::id{} && shutdowns_acknowledged < shutdowns_consumed;
  }
  bool awaits_acknowledgement();
  void acknowledge_shutdown();

  // The queue_full message, made once: a caller that retries a full daemon meets it on every attempt.
  const std::string queue_full_text;

  MetadataView metadata;
  std::atomic<bool> unregistered{false};
  std::atomic<bool> shutdown_requested{false};

  // Called by the daemon's actor after it handled a control event.
  void consumed(const DaemonControl& c);
  void close();
  std::uint64_t dropped() const;
};

class DaemonRegistry {
 public:
  using SlotPtr = std::shared_ptr<DaemonSlot>;

  // register_failed when a daemon of that id is registered already.
  Result<void> add(const SlotPtr& slot);
  // Takes the slot out (only that slot: a newer one under the same id stays). False when it was not there.
  bool remove(const SlotPtr& slot);
  // Every slot, live or not, taken out at once (the runtime shuts down).
  std::vector<SlotPtr> take_all();

  // A live slot, or nullptr.
  SlotPtr find(DaemonId id) const;
  std::vector<SlotPtr> live() const;
  // Every slot, live or not yet, as one immutable list: built again on the first call after the set changed,
  // so a broadcast costs one shared pointer, not N, and registering N daemons in a row costs one build.
  std::shared_ptr<const std::vector<SlotPtr>> every() const;
  std::size_t size() const;

  // register_failed for an empty name, a null factory or a name taken.
  Result<void> add_factory(std::string name, DaemonFactory factory);
  // no_factory, naming `node` (whose factories these are).
  Result<DaemonFactory> factory(const std::string& name, NodeId node) const;

  // One of the daemon's control credits, for an event about to be routed to it: nullptr when the daemon is
  // unknown (not counted) or it has none left (counted in control_dropped()).
  SlotPtr reserve_control(DaemonId id);
  // The same for every live daemon: `send(slot)` for each one with a credit left; the full ones are counted
  // and left out. Walks the list every() keeps, without the lock and without copying it.
  template <class Send>
  void reserve_control_each(Send&& send) {
    const auto slots = every();
    std::uint64_t full = 0;
    for (const auto& slot : *slots) {
      if (!slot->live.load(std::memory_order_acquire)) continue;
      if (slot->control_credits.try_acquire()) {
        send(*slot);
      } else {
        ++full;
      }
    }
    if (full != 0) control_dropped_.fetch_add(full, std::memory_order_relaxed);
  }
  // Control events dropped because a daemon had no control credit left, over the node's life (daemons that left too):
  // a running total, so reading it costs the same for ten daemons or a hundred thousand.
  std::uint64_t control_dropped() const { return control_dropped_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex mu_;
  std::map<DaemonId, SlotPtr> slots_;
  mutable std::shared_ptr<const std::vector<SlotPtr>> every_;  // null: slots_ changed since it was built
  std::map<std::string, DaemonFactory> factories_;
  std::atomic<std::uint64_t> control_dropped_{0};
};

}  // namespace meshos::detail
