#include "detail/actor_tracker.hpp"

#include <caf/exit_reason.hpp>
#include <caf/send.hpp>

namespace meshos::detail {

void ActorTracker::track(const caf::actor& a) {
  {
    std::lock_guard<std::mutex> lock(count_->mu);
    ++count_->live;
  }
  a->attach_functor([count = count_] {
    {
      std::lock_guard<std::mutex> lock(count->mu);
      --count->live;
    }
    count->cv.notify_all();
  });
}

bool ActorTracker::wait_all(TimePoint deadline) {
  std::unique_lock<std::mutex> lock(count_->mu);
  return count_->cv.wait_until(lock, deadline, [this] { return count_->live == 0; });
}

std::size_t ActorTracker::live() const {
  std::lock_guard<std::mutex> lock(count_->mu);
  return count_->live;
}

bool stop_actors(ActorTracker& tracker, TimePoint deadline, const std::vector<caf::actor>& may_be_stuck,
                 std::chrono::milliseconds kill_grace) {
  if (tracker.wait_all(deadline)) return true;
  for (const auto& a : may_be_stuck)
    if (a) caf::anon_send_exit(a, caf::exit_reason::kill);
  return tracker.wait_all(Clock::now() + kill_grace);
}

void abandon_at_exit(std::shared_ptr<void> what) {
  static auto* abandoned = new std::vector<std::shared_ptr<void>>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  abandoned->push_back(std::move(what));
}

}  // namespace meshos::detail
