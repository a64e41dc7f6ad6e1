#pragma once
// CAF 0.17 leaves a reference to an actor system's logger in the thread-local storage of every thread that
// constructs the system or a scoped_actor on it (actor_system.cpp, scoped_actor.cpp: CAF_SET_LOGGER_SYS), and
// the system's destructor waits until the logger's last reference is gone. So a thread that started a node, or
// made a blocking call into one (process(), a remote request), and lives on would make a shutdown() on any
// other thread wait forever. These drop the reference such a thread was left with (unless it held it before).
#include <utility>

#include <caf/actor_system.hpp>
#include <caf/logger.hpp>
#include <caf/scoped_actor.hpp>

namespace meshos::detail {

// Around anything that sets the calling thread's logger to `sys`'s: afterwards the thread holds no reference
// to it, unless it held one before (a thread of that very system).
class CallerThreadLogger {
 public:
  CallerThreadLogger() = default;
  // Keeps the logger's address, not the system's: an error path may destroy the system before this goes.
  explicit CallerThreadLogger(caf::actor_system& sys)
      : logger_(&sys.logger()), held_before_(caf::logger::current_logger() == logger_) {}
  CallerThreadLogger(CallerThreadLogger&& o) noexcept
      : logger_(std::exchange(o.logger_, nullptr)), held_before_(o.held_before_) {}
  CallerThreadLogger& operator=(CallerThreadLogger&&) = delete;
  CallerThreadLogger(const CallerThreadLogger&) = delete;
  CallerThreadLogger& operator=(const CallerThreadLogger&) = delete;
  ~CallerThreadLogger() {
    if (logger_ != nullptr && !held_before_) drop(logger_);
  }

  // After constructing `sys` on this thread: the reference its constructor left goes. A thread that held
  // another system's logger before is left with none (CAF 0.17 offers no way to put a logger back).
  static void release(caf::actor_system& sys) { drop(&sys.logger()); }

 private:
  // Compares addresses only: a reference this thread still holds keeps that logger alive.
  static void drop(const caf::logger* logger) {
    if (caf::logger::current_logger() == logger) caf::logger::set_current_actor_system(nullptr);
  }

  caf::logger* logger_ = nullptr;
  bool held_before_ = false;
};

// A scoped_actor for one blocking call from a thread outside the system: `self->request(...).receive(...)`.
class ScopedCaller {
 public:
  explicit ScopedCaller(caf::actor_system& sys) : logger_(sys), self_(sys) {}
  caf::blocking_actor* operator->() { return self_.operator->(); }
  caf::scoped_actor& actor() { return self_; }

 private:
  CallerThreadLogger logger_;  // first in, last out: it sees the reference the scoped_actor leaves
  caf::scoped_actor self_;
};

}  // namespace meshos::detail
