#pragma once
// Library: meshos.
// The executor hands every action to an ActionDispatcher. Dispatcher code may block: the executor runs it on
// a thread of its own, so the loop, the router and the daemons carry on meanwhile.
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "meshos/action.hpp"

namespace meshos {

struct DispatchOutcome {
  enum class Kind {
    Done,        // carried out
    RetryAfter,  // failed for now; try again after `after` (costs one unit of the budget)
    Defer,       // not ready; try again after `after` (costs one unit of the budget)
    Gated,       // deliberately not carried out (recorded, not retried)
    Failed,      // failed for good
  };
  Kind kind = Kind::Done;
  Millis after{0};
  std::string reason;

  static DispatchOutcome done() { return {}; }
  static DispatchOutcome retry_after(Millis d, std::string why) { return {Kind::RetryAfter, d, std::move(why)}; }
  static DispatchOutcome defer(Millis d, std::string why) { return {Kind::Defer, d, std::move(why)}; }
  static DispatchOutcome gated(std::string why) { return {Kind::Gated, Millis{0}, std::move(why)}; }
  static DispatchOutcome failed(std::string why) { return {Kind::Failed, Millis{0}, std::move(why)}; }
};

class ActionDispatcher {
 public:
  virtual ~ActionDispatcher() = default;
  // Called once per attempt. Throwing counts as Failed with the exception's message.
  virtual DispatchOutcome dispatch(const PendingAction& action) = 0;
};

// The executor's admission check, asked before every attempt of an action (retries too) and before the
// action has any effect (a StopDaemon's Shutdown to its daemon included): a reason keeps the action from every
// dispatcher, the node's own too. It is recorded as Gated with that reason (ExecutorStats::gated), not retried;
// reconcile emits it again while it is still wanted (a gated start waits out a backoff first). It runs on the
// executor's actor, so it must be quick and must not block; a throw gates the action ("admission threw: ...").
using ActionAdmission = std::function<std::optional<std::string>(const PendingAction& action)>;

// Records every action it sees; can be told to fail upcoming dispatches. For tests and demos.
class LoggingDispatcher : public ActionDispatcher {
 public:
  DispatchOutcome dispatch(const PendingAction& action) override;

  // The next `count` dispatches return `outcome` instead of Done.
  void fail_next(DispatchOutcome outcome, std::size_t count = 1);
  void fail_next(std::string reason) { fail_next(DispatchOutcome::failed(std::move(reason))); }

  std::vector<PendingAction> seen() const;
  std::size_t seen_count() const;
  // Blocks until an action satisfying `pred` has been seen, or the timeout passes.
  std::optional<PendingAction> wait_for(const std::function<bool(const PendingAction&)>& pred,
                                        std::chrono::milliseconds timeout) const;

 private:
  static constexpr std::size_t kMaxRecorded = 65536;  // oldest forgotten beyond this
  mutable std::mutex mu_;
  mutable std::condition_variable cv_;
  std::deque<PendingAction> seen_;
  std::uint64_t forgotten_ = 0;
  std::deque<DispatchOutcome> scripted_;
};

}  // namespace meshos
