#pragma once
// The scheduler of the actor systems meshos starts itself (an SDK started without a system, a MeshNode, a
// RemoteNode). An application that brings its own actor system keeps its own choice; SPEC.md says which
// choice meshos makes and what it measured.
#include <cstddef>

#include <caf/actor_system_config.hpp>

namespace meshos::detail {

// The CPUs this process may run on (its affinity mask), at least 2: one worker stuck in a daemon's code must
// not stop every other actor.
std::size_t scheduler_workers();

// Sets scheduler.policy and scheduler.max-threads on `cfg`.
void choose_scheduler(caf::actor_system_config& cfg);

}  // namespace meshos::detail
