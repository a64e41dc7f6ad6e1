#pragma once
// Library: meshos_core; not stable API (the loop's internals: meshos/meshos.hpp says why).
// reconcile: a pure function from (actual, desired, now) to the minimal list of actions that move the
// node toward what is desired. Arms: daemons (start from a factory/start/stop/backoff, moves on drain), maintenance (drain completion,
// drain deadline, exit -> recovery -> active), locality (RTT -> avoid). A frozen node emits nothing.
#include <vector>

#include "meshos/action.hpp"
#include "meshos/config.hpp"
#include "meshos/state.hpp"

namespace meshos {

std::vector<MeshOsAction> reconcile(const ActualState& actual, const DesiredState& desired, TimePoint now,
                                    const MeshOsConfig& config);

// Where a daemon moves when its node drains: of the peers that are reachable, not avoided, not in or entering
// maintenance, whose capabilities match the daemon's requirements and that did not refuse it already, the one
// with the lowest RTT, then the fewest running daemons, then the lowest id. Kind no_migration_target (the
// message says why) when there is none.
Result<NodeId> migration_target(const ActualState& actual, const DaemonState& daemon, TimePoint now);

// The reason of a StopDaemon for a daemon a drain could not move starts with this; the drain then ends in
// DrainFailed naming it.
inline constexpr const char kStopUnmovable[] = "drain, cannot move: ";

// The restart gate: when may a stopped daemon start again? nullopt = now.
std::optional<TimePoint> restart_gate(const RestartState& r, TimePoint now);

// The per-daemon admit gate: why a stopped daemon may not be (re)started now. Its restart backoff or crash-loop
// hold keeps it stopped until `until`; the node's backpressure (its executor's action queue asserted
// backpressure) keeps every start back, daemons from factories included, until it is released. `daemon` is
// null for a daemon the node should host and has not built yet. nullopt: admitted.
struct StartHold {
  enum class Reason { Backoff, CrashLoop, Backpressure };
  Reason reason = Reason::Backoff;
  std::optional<TimePoint> until;  // none for backpressure: it lasts until released
};
std::optional<StartHold> start_hold(const ActualState& actual, const DaemonState* daemon, TimePoint now);
// "backoff", "crash_loop", "backpressure"
const char* to_string(StartHold::Reason reason);

// The backoff after the n-th consecutive crash (n >= 1): initial * factor^(n-1), capped at max.
Millis restart_backoff(std::uint32_t consecutive_crashes, const MeshOsConfig& config);

// Cluster backpressure with hysteresis: asserts at depth >= assert_depth, releases at <= release_depth.
class BackpressureGauge {
 public:
  BackpressureGauge(std::size_t assert_depth, std::size_t release_depth)
      : assert_depth_(assert_depth), release_depth_(release_depth) {}
  enum class Change { None, Asserted, Released };
  Change update(std::size_t depth);
  bool active() const noexcept { return active_; }
  // Level reported with BackpressureOn: depth / assert_depth, capped at 1.
  float level(std::size_t depth) const;

 private:
  std::size_t assert_depth_;
  std::size_t release_depth_;
  bool active_ = false;
};

// The control broadcast a local maintenance change implies: entering -> DrainStart{deadline},
// leaving Entering for Maintenance or DrainFailed -> DrainFinish; nothing otherwise.
std::optional<MeshOsControl> control_for_transition(MaintenanceKind from, const MaintenanceState& to, TimePoint now,
                                                    Millis default_drain);

}  // namespace meshos
