#pragma once
// Stopping actors without hanging: CAF 0.17's actor_system destructor waits, without a deadline, for every
// actor still running, and a daemon stuck in user code never ends. So whoever stops actors counts them
// (ActorTracker), asks them to quit, and then runs one sequence: wait until the deadline, kill the ones that
// may be stuck, wait a little more, and, when even that fails, leave their system to process exit.
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/actor.hpp>

#include "meshos/time.hpp"

namespace meshos::detail {

class ActorTracker {
 public:
  void track(const caf::actor& a);
  // True if every tracked actor terminated before the deadline.
  bool wait_all(TimePoint deadline);
  std::size_t live() const;

 private:
  // Shared with the functors attached to the actors: an abandoned actor may end after the runtime (and this
  // tracker) are gone.
  struct Count {
    std::mutex mu;
    std::condition_variable cv;
    std::size_t live = 0;
  };
  std::shared_ptr<Count> count_ = std::make_shared<Count>();
};

// How long killed actors get to end: a kill is handled by CAF itself, without user code.
inline constexpr std::chrono::milliseconds kKillGrace{100};

// The actors were asked to quit already. Waits for every tracked actor until `deadline`; then kills
// `may_be_stuck` (the actors that run user code) and waits `kill_grace` more. True when every tracked actor
// ended; false means the system they run on must be abandoned, not destroyed.
bool stop_actors(ActorTracker& tracker, TimePoint deadline, const std::vector<caf::actor>& may_be_stuck,
                 std::chrono::milliseconds kill_grace = kKillGrace);

// Leaves what a stuck actor still runs on (its actor system, that system's config) to process exit. It stays
// reachable, so leak checkers do not report what is deliberate.
void abandon_at_exit(std::shared_ptr<void> what);

}  // namespace meshos::detail
