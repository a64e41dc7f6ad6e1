// The node's own dispatcher: carries actions out on this node (daemon actors, maintenance commits), then
// lets the user's dispatcher see them.
#include "detail/messages.hpp"
#include "detail/runtime.hpp"

namespace meshos::detail {

namespace {

class NodeDispatcher : public ActionDispatcher {
 public:
  NodeDispatcher(std::weak_ptr<Runtime> rt, std::shared_ptr<ActionDispatcher> user)
      : rt_(std::move(rt)), user_(std::move(user)) {}

  DispatchOutcome dispatch(const PendingAction& p) override {
    auto rt = rt_.lock();
    if (!rt) return DispatchOutcome::failed("runtime is gone");
    auto local = carry_out(*rt, p.action);
    if (local.kind != DispatchOutcome::Kind::Done) return local;
    return user_ ? user_->dispatch(p) : local;
  }

 private:
  static DispatchOutcome carry_out(Runtime& rt, const MeshOsAction& a) {
    if (auto* start = std::get_if<action::StartDaemon>(&a)) {
      auto slot = rt.find(start->daemon.id);
      if (!slot) return DispatchOutcome::failed("daemon " + start->daemon.name + " is not registered");
      caf::anon_send(slot->actor, start_atom::value);
      return DispatchOutcome::done();
    }
    if (auto* stop = std::get_if<action::StopDaemon>(&a)) {
      if (!rt.find(stop->daemon.id))
        return DispatchOutcome::failed("daemon " + stop->daemon.name + " is not registered");
      caf::anon_send(rt.router, stop_atom::value, stop->daemon.id);
      return DispatchOutcome::done();
    }
    if (auto* commit = std::get_if<action::CommitMaintenanceTransition>(&a)) {
      if (commit->node != rt.node_id())
        return DispatchOutcome::gated("maintenance of node " + to_hex(commit->node) + " is committed there");
      rt.publish_internal(event::MaintenanceTransitionObserved{commit->node, commit->target});
      return DispatchOutcome::done();
    }
    // MarkAvoid and ApplyBackoff: the loop recorded them in its state when it emitted them.
    return DispatchOutcome::done();
  }

  std::weak_ptr<Runtime> rt_;
  std::shared_ptr<ActionDispatcher> user_;
};

}  // namespace

std::shared_ptr<ActionDispatcher> make_node_dispatcher(std::weak_ptr<Runtime> rt,
                                                       std::shared_ptr<ActionDispatcher> user) {
  return std::make_shared<NodeDispatcher>(std::move(rt), std::move(user));
}

}  // namespace meshos::detail
