#pragma once
// Credits: the per-receiver bound on messages sent but not yet handled. The sender takes a credit before
// sending and drops (counting) when none is left; the receiver gives it back when it handled the message. A
// CAF sender cannot see the receiver's mailbox, so this is how a mailbox is kept bounded in one process.
// (Not a gate: a gate closes once, for a shutdown; credits come and go with every message. credits_test.)
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>

namespace meshos::detail {

class Credits {
 public:
  explicit Credits(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  bool try_acquire() {
    if (try_acquire_uncounted()) return true;
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  // For a sender that will wait and try again: no credit left is not a drop yet.
  bool try_acquire_uncounted() {
    auto cur = in_flight_.load(std::memory_order_seq_cst);
    while (cur < capacity_) {
      if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_seq_cst, std::memory_order_seq_cst))
        return true;
    }
    return false;
  }
  void release(std::size_t n = 1) { in_flight_.fetch_sub(n, std::memory_order_seq_cst); }

  std::size_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  void count_drop() { dropped_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::size_t capacity_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

// Credits a sender may wait on, up to a deadline. A release costs one extra atomic load unless someone waits,
// so the receiver's hot path stays as cheap as with plain Credits.
class WaitableCredits {
 public:
  explicit WaitableCredits(std::size_t capacity)
      : credits_(capacity), wake_mark_(credits_.capacity() - (credits_.capacity() + 3) / 4) {}

  bool try_acquire() { return credits_.try_acquire(); }
  // Waits for a free slot until `deadline`, or until `give_up()` holds (checked on every wake-up; wake_all()
  // makes waiters look at it now). A wait that ends without a slot counts as one drop.
  template <class GiveUp>
  bool acquire_until(std::chrono::steady_clock::time_point deadline, GiveUp give_up) {
    if (credits_.try_acquire_uncounted()) return true;
    waiters_.fetch_add(1, std::memory_order_seq_cst);
    bool acquired = false;
    {
      std::unique_lock<std::mutex> lock(mu_);
      room_.wait_until(lock, deadline, [&] { return give_up() || (acquired = credits_.try_acquire_uncounted()); });
    }
    waiters_.fetch_sub(1, std::memory_order_seq_cst);
    if (!acquired) credits_.count_drop();
    return acquired;
  }
  void release(std::size_t n = 1) {
    credits_.release(n);
    // seq_cst on both sides: a waiter registers before its last look at the credits, so either it sees the
    // slot this release freed, or this load sees the waiter and wakes it. Waiters are woken once a quarter of
    // the capacity is free, not on every release: a receiver draining its queue wakes a waiting sender once
    // per batch, not once per message (the receiver drains what it holds, so the mark is always reached).
    if (waiters_.load(std::memory_order_seq_cst) > 0 && credits_.in_flight() <= wake_mark_) wake_all();
  }
  void wake_all() {
    std::lock_guard<std::mutex> lock(mu_);
    room_.notify_all();
  }

  std::size_t in_flight() const { return credits_.in_flight(); }
  std::size_t capacity() const { return credits_.capacity(); }
  std::uint64_t dropped() const { return credits_.dropped(); }

 private:
  Credits credits_;
  std::size_t wake_mark_;  // in flight at or below this: waiters are woken
  std::atomic<std::size_t> waiters_{0};
  std::mutex mu_;
  std::condition_variable room_;
};

}  // namespace meshos::detail
