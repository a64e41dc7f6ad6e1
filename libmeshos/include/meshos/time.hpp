#pragma once
// Library: meshos_core.
// Monotonic time for deadlines, wall-clock milliseconds only for timestamps shown to people.
#include <chrono>
#include <cstdint>
#include <limits>
#include <string>

namespace meshos {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Millis = std::chrono::milliseconds;

// Milliseconds from `now` until `deadline`, 0 once the deadline has passed (never negative).
inline std::uint64_t saturating_ms_until(TimePoint deadline, TimePoint now) {
  if (deadline <= now) return 0;
  return static_cast<std::uint64_t>(std::chrono::duration_cast<Millis>(deadline - now).count());
}

// Milliseconds elapsed from `since` to `now`, 0 when `since` lies in the future.
inline std::uint64_t saturating_ms_since(TimePoint since, TimePoint now) {
  return saturating_ms_until(now, since);
}

inline std::uint64_t to_ms(Clock::duration d) {
  auto ms = std::chrono::duration_cast<Millis>(d).count();
  return ms < 0 ? 0 : static_cast<std::uint64_t>(ms);
}

// A monotonic time point as milliseconds on its clock (a snapshot's clock_ms and its daemons' stamps).
inline std::uint64_t clock_ms(TimePoint t) { return to_ms(t.time_since_epoch()); }

// Wall-clock milliseconds since the Unix epoch.
inline std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<Millis>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// "2026-12-01T05:37:27.123Z" (UTC), or "<n> ms" for a time gmtime cannot show.
std::string format_wall_ms(std::int64_t wall_ms);

// Wall-clock arithmetic on untrusted times (a commit's issued_at_ms): now - then in ms, exact for any pair of
// int64 values (the true difference always fits in 64 bits unsigned when then <= now).
inline std::uint64_t distance_ms(std::int64_t then, std::int64_t now) {
  return static_cast<std::uint64_t>(now) - static_cast<std::uint64_t>(then);
}

inline std::int64_t saturating_add(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) return std::numeric_limits<std::int64_t>::max();
  if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b) return std::numeric_limits<std::int64_t>::min();
  return a + b;
}

}  // namespace meshos
