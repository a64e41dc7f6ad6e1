#include "net/work.hpp"

#include "detail/caller_thread.hpp"
#include "net/context.hpp"

namespace meshos::net {

std::shared_ptr<PeerLink> PeerLinks::up(NodeId node, const caf::actor& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto& link = links_[node];
  if (!link || link->actor != peer) link = std::make_shared<PeerLink>(peer);
  link->connected = true;
  return link;
}

void PeerLinks::down(NodeId node, const caf::actor& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(node);
  if (it != links_.end() && it->second->actor == peer) it->second->connected = false;
}

void PeerLinks::remove(NodeId node, const caf::actor& peer) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(node);
  if (it != links_.end() && it->second->actor == peer) links_.erase(it);
}

std::shared_ptr<PeerLink> PeerLinks::find(NodeId node) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = links_.find(node);
  return it == links_.end() ? nullptr : it->second;
}

std::vector<PeerLinkStats> PeerLinks::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PeerLinkStats> out;
  for (const auto& [node, link] : links_)
    out.push_back(PeerLinkStats{node, link->connected.load(), link->window.in_flight(), link->sent.load(),
                                link->window.dropped(), link->failed.load()});
  return out;
}

NetEvent to_wire(const CausalEvent& e) {
  return NetEvent{e.origin_hash, e.sequence, e.parent_hash, e.horizon, std::string(e.payload.begin(), e.payload.end())};
}

CausalEvent from_wire(NetEvent e) {
  CausalEvent out;
  out.origin_hash = e.origin_hash;
  out.sequence = e.sequence;
  out.parent_hash = e.parent_hash;
  out.horizon = e.horizon;
  out.payload.assign(e.payload.begin(), e.payload.end());
  out.received_at_ms = wall_clock_ms();
  return out;
}

NetOutputs to_wire(const Result<std::vector<Bytes>>& r) {
  NetOutputs out;
  if (!r) {
    out.error_kind = r.error().kind;
    out.error_message = r.error().message;
    return out;
  }
  for (const auto& b : *r) out.outputs.emplace_back(b.begin(), b.end());
  return out;
}

Result<std::vector<Bytes>> from_wire(NetOutputs r) {
  if (!r.error_kind.empty()) return SdkError::from_wire(r.error_kind, r.error_message);
  std::vector<Bytes> out;
  out.reserve(r.outputs.size());
  for (const auto& s : r.outputs) out.emplace_back(s.begin(), s.end());
  return out;
}

SdkError no_work_answer(const DaemonAddress& address) {
  return SdkError{Errc::timeout, "no answer for daemon " + address.to_string() + " in time"};
}

Result<WorkRoute> route_work(NetContext& ctx, const DaemonAddress& address) {
  auto snap = ctx.sdk->snapshot();
  if (!snap) return SdkError{Errc::loop_closed, "the node has no snapshot (shutting down)"};
  auto where = locate_daemon(*snap, address);
  if (!where) return where.error();
  if (where->node == ctx.node_id) return WorkRoute{where->daemon.id, nullptr};
  auto link = ctx.links.find(where->node);
  if (!link || !link->connected)
    return SdkError{Errc::unreachable, "daemon " + address.to_string() + " runs on node " + to_hex(where->node) +
                                       ", which is not connected"};
  if (!link->window.try_acquire())
    return SdkError{Errc::queue_full, std::to_string(link->window.capacity()) + " events are in flight to node " +
                                      to_hex(where->node) + "; event dropped"};
  link->sent.fetch_add(1, std::memory_order_relaxed);
  return WorkRoute{where->daemon.id, std::move(link)};
}

Result<void> deliver_work(NetContext& ctx, const DaemonAddress& address, CausalEvent event) {
  auto route = route_work(ctx, address);
  if (!route) return route.error();
  if (!route->link) return ctx.sdk->deliver(route->daemon, std::move(event));
  auto link = route->link;
  caf::anon_send(link->actor, OutboundWork{link, route->daemon, to_wire(event), false, 0});
  return {};
}

Result<std::vector<Bytes>> process_work(NetContext& ctx, const DaemonAddress& address, CausalEvent event,
                                        std::chrono::milliseconds timeout) {
  auto route = route_work(ctx, address);
  if (!route) return route.error();
  if (!route->link) return ctx.sdk->process(route->daemon, std::move(event), timeout);
  auto link = route->link;
  const auto ms = static_cast<std::uint32_t>(std::clamp<std::chrono::milliseconds::rep>(timeout.count(), 0, UINT32_MAX));
  detail::ScopedCaller self{*ctx.system};
  std::optional<Result<std::vector<Bytes>>> out;
  // The peer actor answers by the link's own timeout; this bound only guards against a lost answer.
  self->request(link->actor, timeout + 2 * ctx.options.peer_timeout, OutboundWork{link, route->daemon, to_wire(event), true, ms})
      .receive([&](NetOutputs& r) { out.emplace(from_wire(std::move(r))); },
               [&](caf::error&) { out.emplace(no_work_answer(address)); });
  return std::move(*out);
}

namespace {

class NetMigrationTransport : public detail::MigrationTransport {
 public:
  explicit NetMigrationTransport(std::weak_ptr<NetContext> ctx) : ctx_(std::move(ctx)) {}

  Result<void> adopt(NodeId target, std::uint64_t migration, const DaemonRef& daemon,
                     const std::optional<Bytes>& state) override {
    NetMove move{migration, daemon.id, daemon.name, state.has_value(), {}};
    if (state) move.state.assign(state->begin(), state->end());
    return send(target, false, std::move(move));
  }

  Result<void> release(NodeId target, std::uint64_t migration, const DaemonRef& daemon) override {
    return send(target, true, NetMove{migration, daemon.id, daemon.name, false, {}});
  }

 private:
  Result<void> send(NodeId target, bool release, NetMove move) {
    auto ctx = ctx_.lock();
    if (!ctx) return SdkError{Errc::unreachable, "this node left the network"};
    auto link = ctx->links.find(target);
    if (!link || !link->connected.load())
      return SdkError{Errc::unreachable, "node " + to_hex(target) + " is not connected"};
    // The target restores the state within its stop_grace; the link's own bound covers the way there and back.
    const auto timeout = ctx->sdk->config().stop_grace + 2 * ctx->options.peer_timeout;
    detail::ScopedCaller self{*ctx->system};
    std::optional<Result<void>> out;
    self->request(link->actor, timeout + ctx->options.peer_timeout, OutboundMove{release, std::move(move), timeout})
        .receive(
            [&](NetReply& r) {
              if (r.error_kind.empty()) {
                out.emplace();
              } else {
                out.emplace(SdkError::from_wire(r.error_kind, r.error_message));
              }
            },
            [&](caf::error&) { out.emplace(SdkError{Errc::unreachable, "lost the link to node " + to_hex(target)}); });
    return std::move(*out);
  }

  std::weak_ptr<NetContext> ctx_;
};

}  // namespace

std::shared_ptr<detail::MigrationTransport> make_migration_transport(std::weak_ptr<NetContext> ctx) {
  return std::make_shared<NetMigrationTransport>(std::move(ctx));
}

}  // namespace meshos::net
