// MeshNode: an actor system with CAF's network layer, the SDK running on it, and the published gateway.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <unistd.h>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/caf.hpp"
#include "meshos/file_io.hpp"
#include "meshos/node.hpp"
#include "meshos/version.hpp"
#include "net/context.hpp"
#include "net/guard.hpp"

namespace meshos {

bool is_valid_node_name(const std::string& name) {
  if (name.size() > kMaxNodeNameBytes) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

namespace {

using net::GatewayCommand;

// Peers need an address they can dial: a wildcard listen address is advertised as loopback.
std::string advertised_host(const std::string& listen_host) {
  if (listen_host.empty() || listen_host == "0.0.0.0" || listen_host == "::") return "127.0.0.1";
  return listen_host;
}

Result<void> write_port_file(const std::string& path, std::uint16_t port) {
  // A reader sees no file or a complete one.
  auto written = write_file_atomically(path, std::to_string(port) + "\n");
  if (!written) return SdkError{Errc::listen_failed, "port file: " + written.error().message};
  return {};
}

// Closes CAF's loopback listening port, bounded.
void close_port(caf::actor_system& sys, std::uint16_t port) {
  detail::ScopedCaller self{sys};
  self->request(net::connector(sys), std::chrono::seconds(2), caf::close_atom::value, port)
      .receive([] {}, [](caf::error&) {});
}

class MeshNodeImpl final : public MeshNode {
 public:
  ~MeshNodeImpl() override { (void)shutdown(kDefaultShutdownDeadline); }  // already_shutdown, if it was

  // On a system of its own made from `system_config`, or on the application's `borrowed` system (prepared with
  // prepare_system_config), which the node never stops.
  static Result<std::unique_ptr<MeshNode>> create(std::unique_ptr<caf::actor_system_config> system_config,
                                                  caf::actor_system* borrowed, MeshOsConfig config,
                                                  NetworkOptions network, std::shared_ptr<ActionDispatcher> dispatcher,
                                                  SdkOptions options) {
    if (!network.node_key) network.node_key = EntityKeypair::generate();
    if (!network.node_key->has_secret())
      return SdkError{Errc::invalid_config, "the node key must hold its secret (it signs the node's hellos)"};
    if (config.this_node == 0) config.this_node = network.node_key->node_id();
    if (config.this_node != network.node_key->node_id())
      return SdkError{Errc::invalid_config, "this_node " + to_hex(config.this_node) + " is not the node key's id " +
                                            to_hex(network.node_key->node_id())};
    network.members.push_back(network.node_key->public_key());
    if (auto valid = config.validate(); !valid) return valid.error();
    if (network.heartbeat_interval.count() <= 0 || network.peer_timeout <= network.heartbeat_interval)
      return SdkError{Errc::invalid_config, "heartbeat interval must be > 0 and below the peer timeout"};
    if (network.reconnect_initial.count() <= 0 || network.reconnect_max < network.reconnect_initial)
      return SdkError{Errc::invalid_config, "reconnect backoff must satisfy 0 < initial <= max"};
    if (network.software_version.empty()) network.software_version = version();
    if (!is_valid_node_name(network.node_name))
      return SdkError{Errc::invalid_config, "node name \"" + network.node_name.substr(0, kMaxNodeNameBytes) +
                                            "\": up to " + std::to_string(kMaxNodeNameBytes) +
                                            " letters, digits, '.', '_' or '-'"};
    if (network.limits.max_message_size < 1024 || network.limits.max_connections == 0 ||
        network.limits.max_connections_per_source == 0 || network.limits.max_pending == 0 ||
        network.limits.max_pending_per_source == 0 || network.limits.handshake_timeout.count() <= 0)
      return SdkError{Errc::invalid_config, "connection limits must be positive (max message size at least 1024)"};

    // The guard loads the TLS files once; from then on the node never reads them again unless told to.
    // With TLS the certificate must name this node: peers match it against the node's signed hello.
    auto guard = net::Guard::start(network.limits, network.peer_timeout, network.tls, config.this_node);
    if (!guard) return guard.error();
    std::unique_ptr<MeshNodeImpl> node(new MeshNodeImpl());
    node->tls_options_ = network.tls;
    node->guard_ = std::move(*guard);
    if (borrowed != nullptr) {
      if (auto prepared = net::check_prepared(*borrowed, network.peer_timeout); !prepared) {
        node->calls_.close();  // nothing started: the destructor has nothing to stop
        return prepared.error();
      }
      node->sys_ = borrowed;
    } else {
      node->cfg_ = std::move(system_config);
      net::configure_system(*node->cfg_, network.heartbeat_interval);
      try {
        node->system_ = std::make_unique<caf::actor_system>(*node->cfg_);
        detail::CallerThreadLogger::release(*node->system_);
      } catch (const std::exception& e) {
        node->calls_.close();
        return SdkError{Errc::listen_failed, std::string("cannot start the actor system: ") + e.what()};
      }
      node->sys_ = node->system_.get();
    }
    detail::CallerThreadLogger caller(*node->sys_);  // the node's actors are spawned from this thread
    node->guard_->set_local_node(node->sys_->node());
    const bool verifies = options.verifier != nullptr;
    const std::string cluster = verifies ? options.verifier->cluster() : std::string(kDefaultClusterName);
    std::map<OperatorId, std::string> operator_names;
    if (verifies) operator_names = options.verifier->registry().names();
    try {
      node->sdk_ = std::make_unique<MeshOsDaemonSdk>(
          start_sdk(*node->sys_, std::move(config), std::move(dispatcher), std::move(options)));
    } catch (const SdkException& e) {
      node->calls_.close();
      return e.error();
    }

    auto ctx = std::make_shared<net::NetContext>();
    ctx->system = node->sys_;
    ctx->sdk = node->sdk_.get();
    ctx->node_id = node->sdk_->node_id();
    ctx->node_key = *network.node_key;
    ctx->members = net::Membership(network.members);
    ctx->options = network;
    ctx->tls = network.tls.enabled();
    ctx->has_verifier = verifies;
    ctx->cluster = cluster;
    ctx->operator_names = std::move(operator_names);
    ctx->tracker = &node->tracker_;
    ctx->guard = node->guard_.get();
    node->ctx_ = ctx;
    // From now on the node's daemons built from factories can move to peers when it drains.
    detail::SdkInternals::runtime(*node->sdk_).set_migration_transport(net::make_migration_transport(ctx));
    node->gateway_ = net::spawn_gateway(ctx);
    node->tracker_.track(node->gateway_);

    // CAF listens on loopback only; the public address belongs to the guard.
    auto backend = node->sys_->middleman().publish(node->gateway_, 0, "127.0.0.1", true);
    if (!backend) {
      auto why = node->sys_->render(backend.error());
      (void)node->shutdown(kDefaultShutdownDeadline);
      return SdkError{Errc::listen_failed, "cannot open the loopback listener: " + why};
    }
    node->backend_port_ = *backend;
    node->published_ = true;
    auto port = node->guard_->listen(network.listen_host, network.listen_port, *backend);
    if (!port) {
      (void)node->shutdown(kDefaultShutdownDeadline);
      return port.error();
    }
    node->port_ = *port;
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
    auto hold = calls_.try_enter();
    if (!hold) return;
    GatewayCommand cmd;
    cmd.what = unresponsive ? GatewayCommand::Silence : GatewayCommand::Speak;
    caf::anon_send<caf::message_priority::high>(gateway_, cmd);
  }

  void set_heartbeat_delay(std::chrono::milliseconds delay) override {
    auto hold = calls_.try_enter();
    if (!hold) return;
    GatewayCommand cmd;
    cmd.what = GatewayCommand::Delay;
    cmd.delay = delay;
    caf::anon_send<caf::message_priority::high>(gateway_, cmd);
  }

  std::vector<DaemonLocation> find(const CapabilityFilter& filter) const override {
    auto snap = sdk_ ? sdk_->snapshot() : nullptr;
    return snap ? find_daemons(*snap, filter) : std::vector<DaemonLocation>{};
  }

  Result<void> deliver(const DaemonAddress& daemon, CausalEvent event) override {
    auto hold = calls_.try_enter();
    if (!hold) return SdkError{Errc::loop_closed, "the node was shut down"};
    return net::deliver_work(*ctx_, daemon, std::move(event));
  }

  Result<std::vector<Bytes>> process(const DaemonAddress& daemon, CausalEvent event,
                                     std::chrono::milliseconds timeout) override {
    auto hold = calls_.try_enter();
    if (!hold) return SdkError{Errc::loop_closed, "the node was shut down"};
    return net::process_work(*ctx_, daemon, std::move(event), timeout);
  }

  Result<void> reload_tls() override {
    auto hold = calls_.try_enter();
    if (!hold) return SdkError{Errc::already_shutdown, "the node was already shut down"};
    if (!tls_options_.enabled()) return SdkError{Errc::invalid_tls, "this node runs without TLS: nothing to reload"};
    return guard_->reload_tls(tls_options_);
  }

  Result<RuntimeStats> shutdown(std::chrono::milliseconds deadline) override {
    if (!calls_.close()) return SdkError{Errc::already_shutdown, "the node was already shut down"};
    const auto until = Clock::now() + deadline;
    (void)subscription_.cancel();
    if (sdk_) detail::SdkInternals::runtime(*sdk_).set_migration_transport(nullptr);
    if (gateway_) {
      // The gateway stops its peer actors and quits; high priority so a backlog cannot delay it.
      caf::anon_send<caf::message_priority::high>(gateway_, GatewayCommand{});
      if (published_) close_port(*sys_, backend_port_);
      // publish() put the gateway into the registry, which would keep it alive (and the system's
      // destructor waiting) forever.
      sys_->registry().erase(gateway_->id());
    }
    Result<RuntimeStats> stats = sdk_->shutdown(std::max(std::chrono::milliseconds(0),
                                                        std::chrono::duration_cast<std::chrono::milliseconds>(
                                                            until - Clock::now())));
    const bool stopped = detail::stop_actors(tracker_, until, {gateway_});
    // A deliver or process to a peer still inside ends as its peer actors do.
    const bool calls_done = calls_.wait(std::max(until, Clock::now() + detail::kKillGrace));
    gateway_ = nullptr;
    // Every connection closes now, so peers see this node leave at once.
    guard_.reset();
    const bool forced = !stopped || !calls_done || (stats && stats->forced);
    // An application's system stays the application's: what did not stop in time is left to it.
    if (system_ && forced) {
      detail::abandon_at_exit(std::move(system_));
      detail::abandon_at_exit(std::move(cfg_));
    } else {
      system_.reset();
    }
    sys_ = nullptr;
    if (stats && forced) stats->forced = true;
    return stats;
  }

 private:
  MeshNodeImpl() = default;

  // Declared first: outlives the system whose actors report to it.
  detail::ActorTracker tracker_;
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> system_;  // the node's own system; null on an application's
  caf::actor_system* sys_ = nullptr;           // the system the node runs on
  std::unique_ptr<MeshOsDaemonSdk> sdk_;
  caf::actor gateway_;
  net::NetContextPtr ctx_;  // what the gateway and the peer actors share (links for work to peers)
  std::unique_ptr<net::Guard> guard_;
  TlsOptions tls_options_;
  std::uint16_t port_ = 0;
  std::uint16_t backend_port_ = 0;
  bool published_ = false;
  Subscription subscription_;
  // Calls from any thread (deliver, process, ...) are inside it; shutdown() closes it and waits for them
  // before the system they use goes.
  detail::ShutdownGate calls_;
};

}  // namespace

Result<std::unique_ptr<MeshNode>> MeshNode::start(MeshOsConfig config, NetworkOptions network,
                                                  std::shared_ptr<ActionDispatcher> dispatcher, SdkOptions options) {
  return start_node(std::make_unique<caf::actor_system_config>(), std::move(config), std::move(network),
                    std::move(dispatcher), std::move(options));
}

Result<std::unique_ptr<MeshNode>> start_node(std::unique_ptr<caf::actor_system_config> system_config,
                                             MeshOsConfig config, NetworkOptions network,
                                             std::shared_ptr<ActionDispatcher> dispatcher, SdkOptions options) {
  if (!system_config) system_config = std::make_unique<caf::actor_system_config>();
  return MeshNodeImpl::create(std::move(system_config), nullptr, std::move(config), std::move(network),
                              std::move(dispatcher), std::move(options));
}

Result<std::unique_ptr<MeshNode>> start_node(caf::actor_system& system, MeshOsConfig config, NetworkOptions network,
                                             std::shared_ptr<ActionDispatcher> dispatcher, SdkOptions options) {
  return MeshNodeImpl::create(nullptr, &system, std::move(config), std::move(network), std::move(dispatcher),
                              std::move(options));
}

void prepare_system_config(caf::actor_system_config& cfg, std::chrono::milliseconds heartbeat) {
  net::configure_system(cfg, heartbeat);
}

}  // namespace meshos
