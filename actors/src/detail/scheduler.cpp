#include "detail/scheduler.hpp"

#include <sched.h>

#include <algorithm>

#include <caf/actor_system_config.hpp>
#include <caf/atom.hpp>

namespace meshos::detail {

std::size_t scheduler_workers() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::size_t cpus = 0;
  if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = static_cast<std::size_t>(CPU_COUNT(&set));
  return std::max<std::size_t>(cpus, 2);
}

// Work sharing, one worker per CPU. CAF 0.17's defaults are work stealing with max(CPUs, 4) workers: on a
// 2-core machine twice as many workers as cores, and a steal walks the victim's whole queue under two
// spinlocks (issue 8's profile: 25% of a 10k-daemon tick, 61% of a 100k shutdown). Measured side by side
// (BENCHMARKS.md, "Scheduler"): sharing is ahead on every meshos-bench workload, the process round trip 4x.
// A choice the application made in its own config (scheduler.policy, scheduler.max-threads) stays.
void choose_scheduler(caf::actor_system_config& cfg) {
  if (caf::get_if(&cfg.content, "scheduler.max-threads") == nullptr) cfg.set("scheduler.max-threads", scheduler_workers());
  if (caf::get_if(&cfg.content, "scheduler.policy") == nullptr) cfg.set("scheduler.policy", caf::atom("sharing"));
}

}  // namespace meshos::detail
