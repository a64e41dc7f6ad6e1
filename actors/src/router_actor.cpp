// The control router: turns control requests into high-priority sends to daemon actors, at most
// control_capacity outstanding per daemon; the overflow is dropped and counted on the daemon's slot.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

namespace {

void send_gated(caf::event_based_actor* self, DaemonSlot& slot, const DaemonControl& c) {
  if (slot.unregistered.load(std::memory_order_acquire)) return;
  if (!slot.control_gate.try_acquire()) return;  // counted by the gate
  self->send<caf::message_priority::high>(slot.actor, control_atom::value, ControlMsg{c, true});
}

}  // namespace

caf::actor spawn_router(RuntimePtr rt) {
  return rt->system().spawn([rt](caf::event_based_actor* self) -> caf::behavior {
    return {
        [=](route_atom, DaemonId id, const ControlMsg& m) {
          if (auto slot = rt->find(id)) send_gated(self, *slot, m.control);
          // Unknown daemon: a silent no-op, as the Rust router does.
        },
        [=](bcast_atom, const ControlMsg& m) {
          for (auto& slot : rt->daemons()) send_gated(self, *slot, m.control);
        },
        // After any Shutdown routed before it: high priority overtakes this normal-priority stop.
        [=](stop_atom, DaemonId id) {
          if (auto slot = rt->find(id)) self->send(slot->actor, stop_atom::value);
        },
        [=](poll_atom) {
          for (auto& slot : rt->daemons()) self->send(slot->actor, poll_atom::value);
        },
        [=](quit_atom) { self->quit(); },
    };
  });
}

}  // namespace meshos::detail
