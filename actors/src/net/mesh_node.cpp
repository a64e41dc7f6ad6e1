// MeshNode: an actor system with CAF's network layer, the SDK running on it, and the published gateway.
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include <caf/openssl/all.hpp>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/node.hpp"
#include "meshos/version.hpp"
#include "net/context.hpp"

namespace meshos {

namespace {

using net::GatewayCommand;

// Peers need an address they can dial: a wildcard listen address is advertised as loopback.
std::string advertised_host(const std::string& listen_host) {
  if (listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "::") return "127.0.0.1";
  return listen_host;
}

Result<void> write_port_file(const std::string& path, std::uint16_t port) {
  // Written beside the target, then renamed over it: a reader sees no file or a complete one.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << port << '\n';
    out.flush();
    if (!out) {
      std::remove(tmp.c_str());
      return SdkError{"listen_failed", "cannot write the port file '" + path + "'"};
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    return SdkError{"listen_failed", "cannot move the port file into place at '" + path + "'"};
  }
  return {};
}

// Closes the listening port through the (TLS or plain) middleman actor, bounded.
void close_port(caf::actor_system& sys, bool tls, std::uint16_t port) {
  caf::scoped_actor self{sys};
  self->request(net::connector(sys, tls), std::chrono::seconds(2), caf::close_atom::value, port)
      .receive([] {}, [](caf::error&) {});
}

// A system that could not be stopped in time is left to process exit rather than waited for, reachable
// from here so leak checkers do not flag what is deliberate.
void abandon(std::unique_ptr<caf::actor_system> sys, std::unique_ptr<caf::actor_system_config> cfg) {
  static auto* systems = new std::vector<std::unique_ptr<caf::actor_system>>();
  static auto* configs = new std::vector<std::unique_ptr<caf::actor_system_config>>();
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  systems->push_back(std::move(sys));
  configs->push_back(std::move(cfg));
}

class MeshNodeImpl final : public MeshNode {
 public:
  ~MeshNodeImpl() override {
    if (!shut_down_) (void)shutdown(kDefaultShutdownDeadline);
  }

  static Result<std::unique_ptr<MeshNode>> create(MeshOsConfig config, NetworkOptions network,
                                                  std::shared_ptr<ActionDispatcher> dispatcher, SdkOptions options) {
    if (auto valid = config.validate(); !valid) return valid.error();
    const bool tls = network.tls.enabled();
    if (tls) {
      if (auto valid = network.tls.validate(); !valid) return valid.error();
    }
    if (network.heartbeat_interval.count() <= 0 || network.peer_timeout <= network.heartbeat_interval)
      return SdkError{"invalid_config", "heartbeat interval must be > 0 and below the peer timeout"};
    if (network.reconnect_initial.count() <= 0 || network.reconnect_max < network.reconnect_initial)
      return SdkError{"invalid_config", "reconnect backoff must satisfy 0 < initial <= max"};
    if (network.software_version.empty()) network.software_version = version();

    std::unique_ptr<MeshNodeImpl> node(new MeshNodeImpl());
    node->tls_ = tls;
    node->cfg_ = std::make_unique<caf::actor_system_config>();
    net::configure_system(*node->cfg_, network.tls, network.heartbeat_interval, network.peer_timeout);
    try {
      node->system_ = std::make_unique<caf::actor_system>(*node->cfg_);
    } catch (const std::exception& e) {
      return SdkError{"listen_failed", std::string("cannot start the actor system: ") + e.what()};
    }
    const bool verifies = options.verifier != nullptr;
    try {
      node->sdk_ = std::make_unique<MeshOsDaemonSdk>(
          MeshOsDaemonSdk::start(*node->system_, std::move(config), std::move(dispatcher), std::move(options)));
    } catch (const SdkException& e) {
      node->shut_down_ = true;
      return e.error();
    }

    auto ctx = std::make_shared<net::NetContext>();
    ctx->system = node->system_.get();
    ctx->sdk = node->sdk_.get();
    ctx->node_id = node->sdk_->node_id();
    ctx->options = network;
    ctx->tls = tls;
    ctx->has_verifier = verifies;
    ctx->tracker = &node->tracker_;
    node->gateway_ = net::spawn_gateway(ctx);
    node->tracker_.track(node->gateway_);

    const char* host = network.listen_host.empty() ? nullptr : network.listen_host.c_str();
    auto port = tls ? caf::openssl::publish(node->gateway_, network.listen_port, host, true)
                    : node->system_->middleman().publish(node->gateway_, network.listen_port, host, true);
    if (!port) {
      auto why = node->system_->render(port.error());
      (void)node->shutdown(kDefaultShutdownDeadline);
      return SdkError{"listen_failed", "cannot listen on " + network.listen_host + ":" +
                                           std::to_string(network.listen_port) + ": " + why};
    }
    node->port_ = *port;
    node->published_ = true;
    if (!network.port_file.empty()) {
      if (auto written = write_port_file(network.port_file, node->port_); !written) {
        (void)node->shutdown(kDefaultShutdownDeadline);
        return written.error();
      }
    }
    GatewayCommand listening;
    listening.what = GatewayCommand::Listening;
    listening.address = PeerAddress{advertised_host(network.listen_host), node->port_};
    caf::anon_send(node->gateway_, listening);
    auto gw = node->gateway_;
    node->subscription_ = node->sdk_->subscribe([gw](const SnapshotPtr& s) {
      caf::anon_send(gw, net::local_snap_atom::value, detail::SnapshotMsg{s});
    });
    if (!network.peers.empty()) {
      GatewayCommand join;
      join.what = GatewayCommand::Join;
      join.peers = network.peers;
      caf::anon_send(node->gateway_, join);
    }
    return std::unique_ptr<MeshNode>(std::move(node));
  }

  MeshOsDaemonSdk& sdk() override { return *sdk_; }
  std::uint16_t port() const override { return port_; }
  NodeId node_id() const override { return sdk_->node_id(); }

  void set_unresponsive(bool unresponsive) override {
    if (shut_down_) return;
    GatewayCommand cmd;
    cmd.what = unresponsive ? GatewayCommand::Silence : GatewayCommand::Speak;
    caf::anon_send<caf::message_priority::high>(gateway_, cmd);
  }

  void set_heartbeat_delay(std::chrono::milliseconds delay) override {
    if (shut_down_) return;
    GatewayCommand cmd;
    cmd.what = GatewayCommand::Delay;
    cmd.delay = delay;
    caf::anon_send<caf::message_priority::high>(gateway_, cmd);
  }

  Result<RuntimeStats> shutdown(std::chrono::milliseconds deadline) override {
    if (shut_down_) return SdkError{"already_shutdown", "the node was already shut down"};
    shut_down_ = true;
    const auto until = Clock::now() + deadline;
    if (subscription_ != 0) sdk_->unsubscribe(subscription_);
    if (gateway_) {
      // The gateway stops its peer actors and quits; high priority so a backlog cannot delay it.
      caf::anon_send<caf::message_priority::high>(gateway_, GatewayCommand{});
      if (published_) close_port(*system_, tls_, port_);
      // publish() put the gateway into the registry, which would keep it alive (and the system's
      // destructor waiting) forever.
      system_->registry().erase(gateway_->id());
    }
    Result<RuntimeStats> stats = sdk_->shutdown(std::max(std::chrono::milliseconds(0),
                                                        std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            until - Clock::now())));
    bool stopped = tracker_.wait_all(until);
    if (!stopped) {
      caf::anon_send_exit(gateway_, caf::exit_reason::kill);
      stopped = tracker_.wait_all(Clock::now() + std::chrono::milliseconds(100));
    }
    gateway_ = nullptr;
    bool forced = !stopped || (stats && stats->forced);
    if (forced) {
      abandon(std::move(system_), std::move(cfg_));
    } else {
      system_.reset();
    }
    if (stats && forced) stats->forced = true;
    return stats;
  }

 private:
  MeshNodeImpl() = default;

  // Declared first: outlives the system whose actors report to it.
  detail::ActorTracker tracker_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> system_;
  std::unique_ptr<MeshOsDaemonSdk> sdk_;
  caf::actor gateway_;
  std::uint16_t port_ = 0;
  bool tls_ = false;
  bool published_ = false;
  std::uint64_t subscription_ = 0;
  bool shut_down_ = false;
};

}  // namespace

Result<std::unique_ptr<MeshNode>> MeshNode::start(MeshOsConfig config, NetworkOptions network,
                                                  std::shared_ptr<ActionDispatcher> dispatcher, SdkOptions options) {
  return MeshNodeImpl::create(std::move(config), std::move(network), std::move(dispatcher), std::move(options));
}

}  // namespace meshos
