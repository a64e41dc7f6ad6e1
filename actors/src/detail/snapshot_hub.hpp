#pragma once
// Where a node's snapshots go: the latest one (what snapshot() reads) and the subscribers it is handed to.
// The loop stores and fans out; readers and subscribers only read. One owner, immutable values broadcast.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>

#include "detail/credits.hpp"
#include "meshos/sdk.hpp"

namespace meshos::detail {

class SnapshotHub {
 public:
  SnapshotPtr latest() const;
  // The loop's newest snapshot: stored, then handed to every subscriber (one shared pointer, no copy). A
  // subscriber still busy with the previous one skips it (counted in subscriber_drops()).
  void publish(const SnapshotPtr& s);
  // Blocks until a first snapshot is stored: false when none came within `timeout`.
  bool wait_first(std::chrono::milliseconds timeout) const;

  // `actor` receives (snapshot_atom, SnapshotMsg) and releases `credits` (one) when done with one.
  std::uint64_t add_subscriber(caf::actor actor, std::shared_ptr<Credits> credits);
  // The subscriber's actor, taken out (to be told to quit); nullptr for an unknown id.
  caf::actor remove_subscriber(std::uint64_t id);
  std::vector<caf::actor> remove_all_subscribers();

  std::uint64_t published() const { return published_.load(std::memory_order_relaxed); }
  std::uint64_t subscriber_drops() const { return subscriber_drops_.load(std::memory_order_relaxed); }

 private:
  mutable std::mutex latest_mu_;
  mutable std::condition_variable first_;
  SnapshotPtr latest_;

  struct Subscriber {
    caf::actor actor;
    std::shared_ptr<Credits> credits;
  };
  std::mutex subscribers_mu_;
  std::map<std::uint64_t, Subscriber> subscribers_;
  std::uint64_t next_subscriber_ = 1;

  std::atomic<std::uint64_t> published_{0};
  std::atomic<std::uint64_t> subscriber_drops_{0};
};

}  // namespace meshos::detail
