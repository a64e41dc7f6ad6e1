// RemoteNode: an operator's connection to a node's gateway. One client actor talks to the node (CAF 0.17
// never collects a local actor that sent to a remote node, so callers' scoped actors only talk to it).
#include <condition_variable>
#include <deque>
#include <mutex>

#include "detail/caller_thread.hpp"
#include "detail/messages.hpp"
#include "meshos/node.hpp"
#include "net/context.hpp"
#include "net/guard.hpp"

namespace meshos {

namespace {

using net::NetReply;

// BASP heartbeats from the operator side: a node's guard drops a connection that stays silent past the
// node's peer_timeout, so send well within the smallest sensible one.
constexpr std::chrono::milliseconds kClientHeartbeat{100};
// A node that sends no heartbeat for this long is gone (our guard closes the connection): a watch ends
// with connection_lost.
constexpr std::chrono::milliseconds kClientConnectionTimeout{5000};

using forward_atom = caf::atom_constant<caf::atom("cforward")>;
using validate_atom = caf::atom_constant<caf::atom("cvalidate")>;
using cwatch_atom = caf::atom_constant<caf::atom("cwatch")>;
using cack_atom = caf::atom_constant<caf::atom("cack")>;
using cunwatch_atom = caf::atom_constant<caf::atom("cunwatch")>;
using cquit_atom = caf::atom_constant<caf::atom("cquit")>;

// What the client actor hands the thread blocked in watch().
struct WatchFeed {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<std::string> snapshots;
  bool lost = false;
};

struct ClientState {
  caf::actor gateway;
  std::shared_ptr<WatchFeed> feed;
};
using client_actor = caf::stateful_actor<ClientState>;

NetReply failure(const caf::error& e, const std::shared_ptr<WatchFeed>& feed, caf::actor_system& sys) {
  if (e == caf::sec::request_timeout) return NetReply{to_string(Errc::timeout), "the node did not answer in time", {}};
  bool lost;
  {
    std::lock_guard<std::mutex> lock(feed->mu);
    lost = feed->lost;
  }
  return NetReply{to_string(Errc::connection_lost), lost ? "the connection to the node is gone" : sys.render(e), {}};
}

caf::actor spawn_client(caf::actor_system& sys, caf::actor gateway, std::shared_ptr<WatchFeed> shared_feed) {
  return sys.spawn(
      [](client_actor* self, caf::actor gw, std::shared_ptr<WatchFeed> f) -> caf::behavior {
        self->state.gateway = std::move(gw);
        self->state.feed = std::move(f);
        self->monitor(self->state.gateway);
        self->set_down_handler([=](caf::down_msg& dm) {
          if (dm.source != self->state.gateway.address()) return;
          auto& feed = self->state.feed;
          {
            std::lock_guard<std::mutex> lock(feed->mu);
            feed->lost = true;
          }
          feed->cv.notify_all();
        });
        self->set_default_handler(caf::drop);
        return {
            [=](forward_atom, const std::string& kind, const std::string& body, std::uint64_t timeout_ms) {
              auto rp = self->make_response_promise<NetReply>();
              self->request(self->state.gateway, std::chrono::milliseconds(timeout_ms), net::request_atom::value,
                            kind, body)
                  .then([=](NetReply& r) mutable { rp.deliver(std::move(r)); },
                        [=](caf::error& e) mutable {
                          rp.deliver(failure(e, self->state.feed, self->home_system()));
                        });
            },
            [=](validate_atom, std::uint64_t timeout_ms) {
              auto rp = self->make_response_promise<bool>();
              self->request(self->state.gateway, std::chrono::milliseconds(timeout_ms), net::ping_atom::value,
                            std::uint64_t{1})
                  .then([=](net::pong_atom, std::uint64_t, std::uint64_t) mutable { rp.deliver(true); },
                        [=](caf::error&) mutable { rp.deliver(false); });
            },
            [=](cwatch_atom, std::uint64_t timeout_ms) {
              auto rp = self->make_response_promise<NetReply>();
              self->request(self->state.gateway, std::chrono::milliseconds(timeout_ms), net::watch_atom::value,
                            caf::actor_cast<caf::actor>(self))
                  .then([=](net::ok_atom) mutable { rp.deliver(NetReply{}); },
                        [=](caf::error& e) mutable {
                          rp.deliver(failure(e, self->state.feed, self->home_system()));
                        });
            },
            [=](net::snap_atom, std::uint64_t, const std::string& json) {
              auto& feed = self->state.feed;
              {
                std::lock_guard<std::mutex> lock(feed->mu);
                feed->snapshots.push_back(json);
              }
              feed->cv.notify_all();
            },
            [=](cack_atom) { self->send(self->state.gateway, net::ack_atom::value); },
            [=](cunwatch_atom) {
              self->send(self->state.gateway, net::unwatch_atom::value, caf::actor_cast<caf::actor>(self));
              std::lock_guard<std::mutex> lock(self->state.feed->mu);
              self->state.feed->snapshots.clear();
            },
            [=](cquit_atom) { self->quit(); },
        };
      },
      std::move(gateway), std::move(shared_feed));
}

class RemoteNodeImpl final : public RemoteNode {
 public:
  ~RemoteNodeImpl() override {
    if (client_) {
      caf::anon_send<caf::message_priority::high>(client_, cquit_atom::value);
      client_ = nullptr;
    }
    gateway_ = nullptr;
    system_.reset();  // waits for the client actor, which quits at once
  }

  static Result<std::unique_ptr<RemoteNode>> connect(const PeerAddress& node, const TlsOptions& tls,
                                                     std::chrono::milliseconds timeout) {
    std::unique_ptr<RemoteNodeImpl> r(new RemoteNodeImpl());
    auto guard = net::Guard::start(ConnectionLimits{}, kClientConnectionTimeout, tls);
    if (!guard) return guard.error();
    r->guard_ = std::move(*guard);
    auto tunnel = r->guard_->open_tunnel(node, timeout);
    if (!tunnel) return SdkError{Errc::connect_failed, tunnel.error().message};
    r->cfg_ = std::make_unique<caf::actor_system_config>();
    net::configure_system(*r->cfg_, kClientHeartbeat);
    try {
      r->system_ = std::make_unique<caf::actor_system>(*r->cfg_);
      detail::CallerThreadLogger::release(*r->system_);
    } catch (const std::exception& e) {
      return SdkError{Errc::connect_failed, std::string("cannot start the actor system: ") + e.what()};
    }
    r->guard_->set_local_node(r->system_->node());
    const std::string where = node.to_string();
    std::optional<SdkError> failed;
    {
      detail::ScopedCaller self{*r->system_};
      self->request(net::connector(*r->system_), timeout, caf::connect_atom::value, std::string("127.0.0.1"),
                    *tunnel)
          .receive(
              [&](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
                if (!ptr)
                  failed = SdkError{Errc::connect_failed, "nothing is published at " + where};
                else
                  r->gateway_ = caf::actor_cast<caf::actor>(std::move(ptr));
              },
              [&](caf::error& e) {
                failed = SdkError{Errc::connect_failed, "cannot connect to " + where + ": " +
                                                        (e == caf::sec::request_timeout ? std::string("timed out")
                                                                                        : r->system_->render(e))};
              });
    }
    if (failed) return *failed;
    r->feed_ = std::make_shared<WatchFeed>();
    r->client_ = spawn_client(*r->system_, r->gateway_, r->feed_);
    detail::CallerThreadLogger::release(*r->system_);  // the spawn left this thread a reference
    // CAF may return a stale proxy after a failure: only an answered ping proves the handle.
    bool alive = false;
    {
      detail::ScopedCaller self{*r->system_};
      self->request(r->client_, timeout + std::chrono::seconds(1), validate_atom::value,
                    static_cast<std::uint64_t>(timeout.count()))
          .receive([&](bool ok) { alive = ok; }, [&](caf::error&) { alive = false; });
    }
    if (!alive) return SdkError{Errc::connect_failed, "the node at " + where + " did not answer"};
    return std::unique_ptr<RemoteNode>(std::move(r));
  }

  Result<std::string> request(const std::string& kind, const std::string& json_body,
                              std::chrono::milliseconds timeout) override {
    if (lost()) return SdkError{Errc::connection_lost, "the connection to the node is gone"};
    auto reply = ask(forward_atom::value, kind, json_body, timeout);
    if (!reply.error_kind.empty()) return SdkError::from_wire(reply.error_kind, reply.error_message);
    return std::move(reply.json);
  }

  Result<void> watch(const std::function<bool(const std::string& snapshot_json)>& on_snapshot,
                     std::optional<std::chrono::milliseconds> within) override {
    const auto deadline = std::chrono::steady_clock::now() + within.value_or(std::chrono::milliseconds(0));
    if (lost()) return SdkError{Errc::connection_lost, "the connection to the node is gone"};
    {
      std::lock_guard<std::mutex> lock(feed_->mu);
      feed_->snapshots.clear();
    }
    NetReply registered;
    {
      detail::ScopedCaller self{*system_};
      self->request(client_, std::chrono::seconds(6), cwatch_atom::value, std::uint64_t{5000})
          .receive([&](NetReply& r) { registered = std::move(r); },
                   [&](caf::error&) { registered = NetReply{to_string(Errc::timeout), "watch registration timed out", {}}; });
    }
    if (!registered.error_kind.empty()) return SdkError::from_wire(registered.error_kind, registered.error_message);
    for (;;) {
      std::string json;
      {
        std::unique_lock<std::mutex> lock(feed_->mu);
        auto arrived = [&] { return !feed_->snapshots.empty() || feed_->lost; };
        if (!within) {
          feed_->cv.wait(lock, arrived);
        } else if (!feed_->cv.wait_until(lock, deadline, arrived)) {
          lock.unlock();
          caf::anon_send(client_, cunwatch_atom::value);
          return SdkError{Errc::timeout, "the watch did not end within " + std::to_string(within->count()) + " ms"};
        }
        if (feed_->snapshots.empty()) return SdkError{Errc::connection_lost, "the connection to the node is gone"};
        json = std::move(feed_->snapshots.front());
        feed_->snapshots.pop_front();
      }
      caf::anon_send(client_, cack_atom::value);  // credit back: the node may send one more
      if (!on_snapshot(json)) {
        caf::anon_send(client_, cunwatch_atom::value);
        return {};
      }
    }
  }

 private:
  RemoteNodeImpl() = default;

  bool lost() const {
    std::lock_guard<std::mutex> lock(feed_->mu);
    return feed_->lost;
  }

  NetReply ask(forward_atom, const std::string& kind, const std::string& body, std::chrono::milliseconds timeout) {
    NetReply out;
    detail::ScopedCaller self{*system_};
    auto ms = static_cast<std::uint64_t>(timeout.count() < 1 ? 1 : timeout.count());
    self->request(client_, timeout + std::chrono::seconds(1), forward_atom::value, kind, body, ms)
        .receive([&](NetReply& r) { out = std::move(r); },
                 [&](caf::error&) { out = NetReply{to_string(Errc::timeout), "the node did not answer in time", {}}; });
    return out;
  }

  // Declared first, destroyed last: the actor system's connection runs through it until the system is gone.
  std::unique_ptr<net::Guard> guard_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> system_;
  caf::actor gateway_;
  caf::actor client_;
  std::shared_ptr<WatchFeed> feed_;
};

}  // namespace

Result<std::unique_ptr<RemoteNode>> RemoteNode::connect(const PeerAddress& node, const TlsOptions& tls,
                                                        std::chrono::milliseconds timeout) {
  return RemoteNodeImpl::connect(node, tls, timeout);
}

}  // namespace meshos
