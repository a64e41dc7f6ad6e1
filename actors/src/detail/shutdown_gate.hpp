#pragma once
// ShutdownGate: what lets a thing with callers on many threads shut down without pulling the ground from under
// a call in progress. A call enters the gate (an RAII hold) before it uses what shutdown tears down; shutdown
// closes the gate, so no call enters any more, then waits, with a deadline, for the holds still out. Closing
// happens once: the first close() wins, which is how "already shut down" is told apart.
// (Model: Seastar's gate. Not Credits: credits bound a queue and come and go with every message; a gate closes
// once. shutdown_gate_test.)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <iterator>
#include <mutex>
#include <utility>
#include <vector>

namespace meshos::detail {

class ShutdownGate {
 public:
  // A call inside the gate: the gate's wait() waits until it is released. Empty (false) when the gate was
  // closed. Release it on the thread that took it.
  class Hold {
   public:
    Hold() = default;
    Hold(Hold&& o) noexcept : gate_(o.gate_) { o.gate_ = nullptr; }
    Hold& operator=(Hold&& o) noexcept {
      if (this != &o) {
        release();
        gate_ = o.gate_;
        o.gate_ = nullptr;
      }
      return *this;
    }
    Hold(const Hold&) = delete;
    Hold& operator=(const Hold&) = delete;
    ~Hold() { release(); }

    explicit operator bool() const { return gate_ != nullptr; }
    void release() {
      if (gate_ != nullptr) std::exchange(gate_, nullptr)->leave();
    }

   private:
    friend class ShutdownGate;
    explicit Hold(ShutdownGate* gate) : gate_(gate) {}
    ShutdownGate* gate_ = nullptr;
  };

  ShutdownGate() = default;
  ShutdownGate(const ShutdownGate&) = delete;
  ShutdownGate& operator=(const ShutdownGate&) = delete;

  // Lock-free unless the gate is closing: one atomic add, one thread-local note.
  Hold try_enter() {
    const auto state = state_.fetch_add(1, std::memory_order_acq_rel);
    if ((state & kClosed) != 0) {
      leave_counted();
      return Hold{};
    }
    held_here().push_back(this);
    return Hold{this};
  }

  // True for the first caller only; from then on try_enter() fails.
  bool close() { return (state_.fetch_or(kClosed, std::memory_order_acq_rel) & kClosed) == 0; }
  bool closed() const { return (state_.load(std::memory_order_acquire) & kClosed) != 0; }

  // Until every hold is released, or `deadline`: false at the deadline with holds still out. The holds of the
  // calling thread are not waited for (a callback that shuts down what it runs in cannot wait for itself).
  bool wait(std::chrono::steady_clock::time_point deadline) {
    std::uint64_t mine = 0;
    for (const auto* gate : held_here())
      if (gate == this) ++mine;
    std::unique_lock<std::mutex> lock(mu_);
    return released_.wait_until(lock, deadline, [&] { return holds() <= mine; });
  }
  // The same without a deadline, for a promise that admits none (the C SDK's "no callback runs once its
  // handle is retired").
  void wait() {
    while (!wait(std::chrono::steady_clock::now() + std::chrono::hours(1))) {
    }
  }
  std::uint64_t holds() const { return state_.load(std::memory_order_acquire) & ~kClosed; }

 private:
  static constexpr std::uint64_t kClosed = std::uint64_t{1} << 63;

  // The gates this thread holds, so wait() can leave them out; a handful at most.
  static std::vector<const ShutdownGate*>& held_here() {
    thread_local std::vector<const ShutdownGate*> held;
    return held;
  }

  void leave() {
    auto& held = held_here();
    for (auto it = held.rbegin(); it != held.rend(); ++it) {
      if (*it == this) {
        held.erase(std::next(it).base());
        break;
      }
    }
    leave_counted();
  }
  void leave_counted() {
    const auto state = state_.fetch_sub(1, std::memory_order_acq_rel) - 1;
    // Only a closing gate has a waiter; the lock orders this notify after the waiter's look at the count.
    if ((state & kClosed) != 0) {
      std::lock_guard<std::mutex> lock(mu_);
      released_.notify_all();
    }
  }

  std::atomic<std::uint64_t> state_{0};  // the closed bit and the number of holds
  std::mutex mu_;
  std::condition_variable released_;
};

}  // namespace meshos::detail
