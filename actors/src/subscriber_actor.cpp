// Snapshot subscribers and the lifecycle observer: the user's callbacks run here, never on the loop.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

caf::actor spawn_subscriber(RuntimePtr rt, std::function<void(const SnapshotPtr&)> callback,
                            std::shared_ptr<Credits> subscriber_credits, std::shared_ptr<ShutdownGate> calls) {
  // Arguments rather than captures: see spawn_router.
  using Callback = std::function<void(const SnapshotPtr&)>;
  std::weak_ptr<Runtime> runtime = rt;
  return rt->system().spawn([](caf::event_based_actor* self, Callback cb, std::shared_ptr<Credits> credits,
                               std::shared_ptr<ShutdownGate> gate, std::weak_ptr<Runtime> weak) -> caf::behavior {
    return {
        [=](snapshot_atom, const SnapshotMsg& m) {
          credits->release();
          // A cancelled subscription calls nothing more, even with a snapshot already in the mailbox.
          auto hold = gate->try_enter();
          if (!hold) return;
          try {
            cb(m.snapshot);
          } catch (...) {
            // A failing subscriber loses this snapshot only; the loop never sees the exception.
          }
          hold.release();
          // Snapshots published while this one was in flight were dropped for this subscriber: catch up with
          // the latest now, so a slow subscriber still ends on the node's last word (the loop may publish no
          // other, e.g. once a Shutdown event stopped it). One in flight at most, as from the loop.
          auto runtime_now = weak.lock();
          auto latest = runtime_now ? runtime_now->snapshot() : nullptr;
          if (latest && m.snapshot && latest->seq > m.snapshot->seq && credits->try_acquire())
            self->send(self, snapshot_atom::value, SnapshotMsg{std::move(latest)});
        },
        [=](quit_atom) { self->quit(); },
    };
  }, std::move(callback), std::move(subscriber_credits), std::move(calls), std::move(runtime));
}

caf::actor spawn_lifecycle_observer(RuntimePtr rt, LifecycleObserver observer) {
  std::weak_ptr<Runtime> runtime = rt;
  return rt->system().spawn([](caf::event_based_actor* self, LifecycleObserver cb, std::weak_ptr<Runtime> weak) -> caf::behavior {
    return {
        [=](lifecycle_atom, const LifecycleNotice& notice) {
          if (auto runtime_now = weak.lock()) runtime_now->lifecycle_noticed();
          try {
            cb(notice);
          } catch (...) {
            // A failing observer loses this notice only.
          }
        },
        [=](quit_atom) { self->quit(); },
    };
  }, std::move(observer), std::move(runtime));
}

}  // namespace meshos::detail
