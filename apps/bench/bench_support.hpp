#pragma once
// What every meshos-bench workload shares: clocks, bounded waits on events, percentiles and the
// RESULT/BASELINE output lines (see BENCHMARKS.md).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace bench {

using BenchClock = std::chrono::steady_clock;

// Every wait is bounded: a benchmark that hangs reports the hang instead.
inline constexpr auto kWaitLimit = std::chrono::milliseconds(120'000);
inline constexpr std::size_t kPayloadBytes = 64;

inline std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(BenchClock::now().time_since_epoch()).count();
}
inline double seconds_between(std::int64_t from_ns, std::int64_t to_ns) { return static_cast<double>(to_ns - from_ns) / 1e9; }
inline double per_second(std::uint64_t n, double seconds) { return seconds > 0 ? static_cast<double>(n) / seconds : 0.0; }

[[noreturn]] inline void fail(const std::string& what) {
  std::fprintf(stderr, "meshos-bench: %s\n", what.c_str());
  std::fflush(stdout);
  std::exit(1);
}

// Counts events from any thread; wait_for_count() wakes when the count reaches a target set by the waiter.
class Tally {
 public:
  void hit() {
    auto n = count_.fetch_add(1) + 1;
    last_ns_.store(now_ns(), std::memory_order_relaxed);
    if (n >= target_.load()) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
  }
  bool wait_for_count(std::uint64_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    target_.store(n);
    bool reached = cv_.wait_for(lock, kWaitLimit, [&] { return count_.load() >= n; });
    target_.store(UINT64_MAX);  // later hits need not wake anyone until the next wait sets a target
    return reached;
  }
  std::uint64_t count() const { return count_.load(); }
  std::int64_t last_ns() const { return last_ns_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::int64_t> last_ns_{0};
  std::atomic<std::uint64_t> target_{UINT64_MAX};
  std::mutex mu_;
  std::condition_variable cv_;
};

struct Percentiles {
  double p50_us = 0;
  double p99_us = 0;
};
inline Percentiles percentiles(std::vector<double> us) {
  if (us.empty()) return {};
  std::sort(us.begin(), us.end());
  auto at = [&](double q) { return us[static_cast<std::size_t>(q * static_cast<double>(us.size() - 1))]; };
  return {at(0.50), at(0.99)};
}

inline void print_pair(const std::string& result, const std::string& baseline, double rate, double baseline_rate) {
  std::printf("RESULT %s ratio=%.3f\n", result.c_str(), baseline_rate > 0 ? rate / baseline_rate : 0.0);
  std::printf("BASELINE %s\n", baseline.c_str());
  std::fflush(stdout);
}

inline std::string fmt(const char* format, ...) __attribute__((format(printf, 1, 2)));
inline std::string fmt(const char* format, ...) {
  char buf[1024];
  va_list args;
  va_start(args, format);
  std::vsnprintf(buf, sizeof buf, format, args);
  va_end(args);
  return buf;
}

inline double rate_of(const std::vector<double>& us) {
  double total = 0;
  for (auto u : us) total += u;
  return total > 0 ? static_cast<double>(us.size()) / (total / 1e6) : 0.0;
}

}  // namespace bench
