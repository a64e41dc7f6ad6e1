#pragma once
// A MeshOsState on clocks that move only when the test says so, for unit tests that fold events into it.
// (state_test, reconcile_test and snapshot_test still carry a copy of this fixture of their own.)
#include <chrono>
#include <cstdint>
#include <memory>
#include <utility>

#include "meshos/state.hpp"

namespace meshos::test {

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
};

}  // namespace meshos::test
