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
      if (auto slot = rt.find(start->daemon.id)) {
        caf::anon_send(slot->actor, start_atom::value);
        return DispatchOutcome::done();
      }
      // Desired state wants a daemon nobody registered: built from its factory, it runs once registered.
      auto hosted = rt.host(start->daemon);
      if (!hosted) return DispatchOutcome::failed(hosted.error().describe());
      return DispatchOutcome::done();
    }
    if (auto* move = std::get_if<action::MigrateDaemon>(&a)) return migrate(rt, *move);
    if (auto* stop = std::get_if<action::StopDaemon>(&a)) {
      if (!rt.find(stop->daemon.id))
        return DispatchOutcome::failed("daemon " + stop->daemon.name + " is not registered");
      caf::anon_send(rt.router(), stop_atom::value, stop->daemon.id);
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

  // The daemon hands its state out and refuses work from then on; the peer builds it and restores the state;
  // only then does it leave this node. Any failure (or a KillMigration meanwhile) and it works here again.
  static DispatchOutcome migrate(Runtime& rt, const action::MigrateDaemon& move) {
    const std::string who = "daemon " + move.daemon.name + " (" + to_hex(move.daemon.id) + ")";
    auto slot = rt.find(move.daemon.id);
    if (!slot) return DispatchOutcome::failed(who + " is not registered");
    auto transport = rt.migration_transport();
    if (!transport) return DispatchOutcome::failed("this node is not on a network: " + who + " cannot move");
    rt.migration_began(move.migration);
    auto resume = [&](DispatchOutcome why) {
      caf::anon_send(slot->actor, move_back_atom::value);
      rt.migration_ended(move.migration);
      return why;
    };
    MoveOutMsg out;
    {
      ScopedCaller self{rt.system()};
      bool answered = false;
      self->request(slot->actor, rt.config().stop_grace, move_out_atom::value)
          .receive([&](MoveOutMsg& m) { out = std::move(m), answered = true; }, [&](caf::error&) {});
      if (!answered) return resume(DispatchOutcome::failed(who + " did not hand out its state in time"));
    }
    if (out.error) return resume(DispatchOutcome::failed(out.error->describe()));
    if (rt.migration_aborted(move.migration)) return resume(DispatchOutcome::gated("aborted by a KillMigration"));
    rt.publish_internal(event::MigrationProgress{move.migration, "transferring"});
    auto adopted = transport->adopt(move.target, move.migration, move.daemon, out.state);
    if (!adopted && (adopted.error().code() == Errc::timeout || adopted.error().code() == Errc::unreachable)) {
      // No answer is not a no: a slow peer may have taken it after all. Asked to let go, so that it does not run
      // there as well as here (a peer that is gone has nothing to let go of).
      (void)transport->release(move.target, move.migration, move.daemon);
    }
    if (!adopted) return resume(DispatchOutcome::failed(adopted.error().describe()));
    if (rt.migration_aborted(move.migration)) {
      // The peer runs it already: it must let go before the daemon works here again, or it would run twice.
      auto released = transport->release(move.target, move.migration, move.daemon);
      if (!released) {
        rt.migration_ended(move.migration);
        rt.unregister_daemon(slot, false);
        return DispatchOutcome::failed("aborted by a KillMigration, but node " + to_hex(move.target) +
                                       " did not let go of it (" + released.error().describe() + "): it stays there");
      }
      return resume(DispatchOutcome::gated("aborted by a KillMigration"));
    }
    rt.migration_ended(move.migration);
    rt.unregister_daemon(slot, false);
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
