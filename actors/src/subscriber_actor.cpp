// A snapshot subscriber: the user's callback runs here, never on the loop.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

caf::actor spawn_subscriber(RuntimePtr rt, std::function<void(const SnapshotPtr&)> cb, std::shared_ptr<Gate> gate) {
  return rt->system().spawn([cb = std::move(cb), gate = std::move(gate)](caf::event_based_actor* self) -> caf::behavior {
    return {
        [=](snapshot_atom, const SnapshotMsg& m) {
          gate->release();
          try {
            cb(m.snapshot);
          } catch (...) {
            // A failing subscriber loses this snapshot only; the loop never sees the exception.
          }
        },
        [=](quit_atom) { self->quit(); },
    };
  });
}

}  // namespace meshos::detail
