// The router: stops daemon actors on the loop's behalf. Control events do not pass through it: a caller of
// route() or broadcast() sends them to the daemons' actors itself (Runtime::route), so no actor forwards N
// messages for a broadcast. It sends nothing on its own either: daemon actors look at their daemons on their
// own cadence, so no tick makes one actor send N messages.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

caf::actor spawn_router(RuntimePtr runtime) {
  // Captured state travels as spawn arguments: CAF 0.17 dereferences a null argument tuple for spawns
  // without arguments (UBSan reports it).
  auto& sys = runtime->system();
  return sys.spawn([](caf::event_based_actor* self, RuntimePtr rt) -> caf::behavior {
    return {
        // After any Shutdown routed before it: high priority overtakes this normal-priority stop.
        [=](stop_atom, DaemonId id) {
          if (auto slot = rt->find(id)) self->send(slot->actor, stop_atom::value);
        },
        [=](quit_atom) { self->quit(); },
    };
  }, std::move(runtime));
}

}  // namespace meshos::detail
