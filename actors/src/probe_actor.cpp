// The prober: polls the node's probes (probe.hpp) when the loop asks, once per tick, and hands the round back.
// Probes are anybody's code and may block (a ping, a file on a slow disk): they run on a thread of their own,
// so a slow one holds up the next round, never the loop or a scheduler worker.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

caf::actor spawn_prober(caf::actor_system& system, ProbeSet probes) {
  // The probes attached before the start travel as a spawn argument (and with it, none is missed by the first
  // tick); a spawn without arguments would also meet CAF 0.17's null argument tuple (UBSan reports it).
  return system.spawn<caf::detached>([](caf::stateful_actor<ProbeSet>* self, ProbeSet initial) -> caf::behavior {
    self->state = std::move(initial);
    return {
        // The runtime checked the probe and chose a fresh id: this cannot fail.
        [=](attach_probe_atom, std::uint64_t id, const ProbeMsg& m) { (void)self->state.attach(id, m.probe); },
        [=](detach_probe_atom, std::uint64_t id) { return self->state.detach(id); },
        [=](poll_atom) {
          self->send(caf::actor_cast<caf::actor>(self->current_sender()), probed_atom::value,
                     ProbeRoundMsg{self->state.poll()});
        },
        [=](quit_atom) { self->quit(); },
    };
  }, std::move(probes));
}

}  // namespace meshos::detail
