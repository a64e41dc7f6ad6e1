#pragma once
// A MeshOsState on clocks that move only when the test says so, for unit tests that fold events into it and
// run reconcile on it (state_test, reconcile_test, snapshot_test, persistent_state_test, replication_test).
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "meshos/blast_radius.hpp"
#include "meshos/reconcile.hpp"
#include "meshos/state.hpp"

namespace meshos::test {

// The hash of `proposal`'s blast radius on `state` at (now, wall_ms): what the operators of a break-glass
// commit submitted to that node sign.
inline BlastRadiusHash radius_hash_on(const MeshOsState& state, TimePoint now, std::int64_t wall_ms,
                                      const IceAction& proposal) {
  return blast_radius_hash(simulate(proposal, state.snapshot(now, wall_ms, 0, 0)));
}

struct StateNode {
  explicit StateNode(MeshOsConfig config, std::shared_ptr<AdminVerifier> verifier = nullptr)
      : state(std::move(config), std::move(verifier)) {}

  MeshOsState state;
  TimePoint now = TimePoint{} + std::chrono::hours(1);  // the monotonic clock
  std::int64_t wall_ms = 1'700'000'000'000;             // the wall clock, moving with it

  void advance(Millis d) {
    now += d;
    wall_ms += d.count();
  }
  FoldEffects fold(const MeshOsEvent& e) { return state.fold(e, now, wall_ms); }
  FoldEffects lifecycle(const DaemonRef& d, LifecycleSignal s) { return fold(event::DaemonLifecycle{d, std::move(s)}); }
  const ActualState& actual() const { return state.actual(); }
  const DaemonState& daemon(const DaemonRef& d) const { return actual().daemons.at(d.id); }
  // What reconcile would emit now, without recording it.
  std::vector<MeshOsAction> plan() const { return reconcile(state.actual(), state.desired(), now, state.config()); }
  // One loop tick: fold Tick, reconcile, record the actions as emitted.
  std::vector<MeshOsAction> tick() {
    fold(event::Tick{});
    std::vector<MeshOsAction> actions;
    for (auto& p : state.record_emitted(plan(), now)) actions.push_back(std::move(p.action));
    return actions;
  }
  // What operators sign for `proposal` after simulating it on this node as it is now.
  BlastRadiusHash radius_hash(const IceAction& proposal) const { return radius_hash_on(state, now, wall_ms, proposal); }
};

}  // namespace meshos::test
