// A snapshot subscriber: the user's callback runs here, never on the loop.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

caf::actor spawn_subscriber(RuntimePtr rt, std::function<void(const SnapshotPtr&)> callback,
                            std::shared_ptr<Gate> subscriber_gate) {
  // Arguments rather than captures: see spawn_router.
  using Callback = std::function<void(const SnapshotPtr&)>;
  return rt->system().spawn([](caf::event_based_actor* self, Callback cb, std::shared_ptr<Gate> gate) -> caf::behavior {
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
  }, std::move(callback), std::move(subscriber_gate));
}

}  // namespace meshos::detail
