#include "meshos/dispatcher.hpp"

namespace meshos {

DispatchOutcome LoggingDispatcher::dispatch(const PendingAction& action) {
  DispatchOutcome out;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (seen_.size() == kMaxRecorded) {
      seen_.pop_front();
      ++forgotten_;
    }
    seen_.push_back(action);
    if (!scripted_.empty()) {
      out = std::move(scripted_.front());
      scripted_.pop_front();
    }
  }
  cv_.notify_all();
  return out;
}

void LoggingDispatcher::fail_next(DispatchOutcome outcome, std::size_t count) {
  std::lock_guard<std::mutex> lock(mu_);
  for (std::size_t i = 0; i < count; ++i) scripted_.push_back(outcome);
}

std::vector<PendingAction> LoggingDispatcher::seen() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {seen_.begin(), seen_.end()};
}

std::size_t LoggingDispatcher::seen_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seen_.size() + static_cast<std::size_t>(forgotten_);
}

std::optional<PendingAction> LoggingDispatcher::wait_for(const std::function<bool(const PendingAction&)>& pred,
                                                         std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(mu_);
  std::optional<PendingAction> found;
  cv_.wait_for(lock, timeout, [&] {
    for (auto& a : seen_)
      if (pred(a)) {
        found = a;
        return true;
      }
    return false;
  });
  return found;
}

}  // namespace meshos
