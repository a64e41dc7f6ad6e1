// The asker: process_async's requests to daemons, and the callbacks that hear their answers. One actor for
// the node, so an answer never runs on the caller's thread and callbacks never run two at a time. Every
// callback it took runs exactly once: with the answer, with the error CAF reports (timeout, the daemon gone),
// or, when the asker quits with answers still due (the node shut down), with loop_closed.
#include <map>

#include "detail/daemon_registry.hpp"
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

namespace {

using Done = std::function<void(Result<std::vector<Bytes>>)>;

// A callback that throws must not end the asker: it would take every other answer still due with it.
void answer(const Done& done, Result<std::vector<Bytes>> result) {
  try {
    done(std::move(result));
  } catch (...) {
  }
}

struct AskerState {
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, Done> due;

  void settle(std::uint64_t id, Result<std::vector<Bytes>> result) {
    auto it = due.find(id);
    if (it == due.end()) return;
    auto done = std::move(it->second);
    due.erase(it);
    answer(done, std::move(result));
  }

  // The asker ends (the node shut down) before some daemons answered.
  ~AskerState() {
    for (auto& entry : due)
      answer(entry.second, SdkError{Errc::loop_closed, "the node shut down before the daemon answered"});
  }
};

}  // namespace

caf::actor spawn_asker(RuntimePtr runtime) {
  // Captured state travels as spawn arguments: CAF 0.17 dereferences a null argument tuple for spawns
  // without arguments.
  return runtime->system().spawn(
      [](caf::stateful_actor<AskerState>* self, RuntimePtr) -> caf::behavior {
        return {
            [=](process_atom, AskMsg& m) {
              const auto id = ++self->state.next_id;
              self->state.due.emplace(id, std::move(m.done));
              const std::string name = m.slot->daemon.name;
              self->request(m.slot->actor, m.timeout, process_atom::value, std::move(m.event))
                  .then([=](OutputsMsg& out) { self->state.settle(id, outputs_of(std::move(out))); },
                        [=](caf::error& err) { self->state.settle(id, process_failure(self->system(), err, name)); });
            },
            [=](quit_atom) { self->quit(); },
        };
      },
      std::move(runtime));
}

}  // namespace meshos::detail
