#pragma once
// A MeshOsState on clocks that move only when the test says so, for unit tests that fold events into it.
// (state_test, reconcile_test and snapshot_test still carry a copy of this fixture of their own.)
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

#include "meshos/blast_radius.hpp"
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
  // What operators sign for `proposal` after simulating it on this node as it is now.
  BlastRadiusHash radius_hash(const IceAction& proposal) const { return radius_hash_on(state, now, wall_ms, proposal); }
};

}  // namespace meshos::test
