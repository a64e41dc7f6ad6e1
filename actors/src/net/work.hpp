#pragma once
// Work that crosses nodes: causal events for a daemon on a peer, each link bounded by a credit window (SPEC.md,
// "The cluster protocol"). The caller takes a credit before it hands the event to the link's peer actor; the
// peer actor gives it back when the receiving node answered (or the request failed). So at most kWorkWindow
// events are in flight per link, and a full window is queue_full at the caller, never a silent drop.
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include <caf/all.hpp>

#include "detail/credits.hpp"
#include "detail/runtime.hpp"
#include "meshos/daemon.hpp"
#include "meshos/node.hpp"
#include "meshos/result.hpp"
#include "meshos/snapshot.hpp"
#include "net/wire.hpp"

namespace meshos::net {

struct NetContext;

// One per admitted peer node.
struct PeerLink {
  explicit PeerLink(caf::actor peer) : actor(std::move(peer)), window(kWorkWindow) {}
  caf::actor actor;  // this node's peer actor for that node
  std::atomic<bool> connected{true};
  detail::Credits window;  // events sent and not yet answered; its drops are the sender's queue_full count
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> failed{0};  // refused by the receiving node, or unanswered
};

struct PeerLinkStats {
  NodeId node = 0;
  bool connected = false;
  std::size_t in_flight = 0;
  std::uint64_t sent = 0, window_full = 0, failed = 0;
};

// The links by node, written by the peer actors (admitted, lost, stopped), read by callers on any thread.
class PeerLinks {
 public:
  // The peer actor `peer` speaks for `node` (again): a new link when the actor changed.
  std::shared_ptr<PeerLink> up(NodeId node, const caf::actor& peer);
  void down(NodeId node, const caf::actor& peer);    // connection lost: events are refused until up again
  void remove(NodeId node, const caf::actor& peer);  // the peer actor ended
  std::shared_ptr<PeerLink> find(NodeId node) const;
  std::vector<PeerLinkStats> stats() const;

 private:
  mutable std::mutex mu_;
  std::map<NodeId, std::shared_ptr<PeerLink>> links_;
};

// What the receiving side counted (status "work").
struct WorkCounters {
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::uint64_t> refused{0};  // not from an admitted peer, unknown daemon, its queue full, ...
};

// Work handed to a peer actor by this process only (never deserialized: the network cannot send it).
struct OutboundWork {
  std::shared_ptr<PeerLink> link;  // whose credit the caller took
  DaemonId daemon = 0;
  NetEvent event;
  bool wants_outputs = false;  // process (answer with outputs) rather than deliver
  std::uint32_t timeout_ms = 0;
};

// A daemon's move (or its release, when the move was aborted) handed to the target node's peer actor.
struct OutboundMove {
  bool release = false;
  NetMove move;
  std::chrono::milliseconds timeout{0};
};

NetEvent to_wire(const CausalEvent& e);
CausalEvent from_wire(NetEvent e);
NetOutputs to_wire(const Result<std::vector<Bytes>>& r);
Result<std::vector<Bytes>> from_wire(NetOutputs r);

// Where a work request goes: a daemon of this node, or a link with a credit taken for it. Kinds: those of
// locate_daemon, loop_closed, unreachable (the daemon's node is not connected), queue_full (the link's window).
struct WorkRoute {
  DaemonId daemon = 0;
  std::shared_ptr<PeerLink> link;  // null: this node's daemon
};
Result<WorkRoute> route_work(NetContext& ctx, const DaemonAddress& address);
// A process request whose answer never came back from the peer actor.
SdkError no_work_answer(const DaemonAddress& address);

// For callers outside the actor system (MeshNode): deliver never blocks; process waits up to `timeout`.
Result<void> deliver_work(NetContext& ctx, const DaemonAddress& address, CausalEvent event);
Result<std::vector<Bytes>> process_work(NetContext& ctx, const DaemonAddress& address, CausalEvent event,
                                        std::chrono::milliseconds timeout);

// How this node's daemons reach a peer when the node drains (detail::MigrationTransport, installed by
// MeshNode): blocking requests through the target's peer actor. Kinds: unreachable, timeout, or the target's
// refusal (target_unavailable, no_factory, register_failed, restore_failed, migration_released).
std::shared_ptr<detail::MigrationTransport> make_migration_transport(std::weak_ptr<NetContext> ctx);

}  // namespace meshos::net

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::net::OutboundWork)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::net::OutboundMove)
