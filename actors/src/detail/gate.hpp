#pragma once
// A per-receiver bound on messages sent but not yet handled. The sender acquires a slot before sending and
// drops (counting) when none is free; the receiver releases the slot when it handles the message. A CAF
// sender cannot see the receiver's mailbox, so this is how a mailbox is kept bounded in one process.
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace meshos::detail {

class Gate {
 public:
  explicit Gate(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  bool try_acquire() {
    auto cur = in_flight_.load(std::memory_order_relaxed);
    while (cur < capacity_) {
      if (in_flight_.compare_exchange_weak(cur, cur + 1, std::memory_order_acq_rel, std::memory_order_relaxed))
        return true;
    }
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  void release(std::size_t n = 1) { in_flight_.fetch_sub(n, std::memory_order_acq_rel); }

  std::size_t in_flight() const { return in_flight_.load(std::memory_order_acquire); }
  std::size_t capacity() const { return capacity_; }
  std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }
  void count_drop() { dropped_.fetch_add(1, std::memory_order_relaxed); }

 private:
  std::size_t capacity_;
  std::atomic<std::size_t> in_flight_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace meshos::detail
