// The control router: forwards control events to daemon actors with high priority, in the order they were
// routed. The sender already holds one of the daemon's control credits (Runtime::route), so at most control_capacity
// events per daemon are outstanding, here or in the daemon's mailbox. It sends nothing on its own: daemon
// actors look at their daemons on their own cadence, so no tick makes one actor send N messages.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

caf::actor spawn_router(RuntimePtr runtime) {
  // Captured state travels as spawn arguments: CAF 0.17 dereferences a null argument tuple for spawns
  // without arguments (UBSan reports it).
  auto& sys = runtime->system();
  return sys.spawn([](caf::event_based_actor* self, RuntimePtr rt) -> caf::behavior {
    return {
        [=](route_atom, const ControlMsg& m) {
          if (m.target->unregistered.load(std::memory_order_acquire)) {
            if (m.credited) m.target->control_credits.release();  // it left meanwhile: nothing will consume it
            return;
          }
          self->send<caf::message_priority::high>(m.target->actor, control_atom::value, m);
        },
        // After any Shutdown routed before it: high priority overtakes this normal-priority stop.
        [=](stop_atom, DaemonId id) {
          if (auto slot = rt->find(id)) self->send(slot->actor, stop_atom::value);
        },
        [=](quit_atom) { self->quit(); },
    };
  }, std::move(runtime));
}

}  // namespace meshos::detail
