// meshosd: one meshos node as a server process. It hosts the daemons its config names, joins its peers,
// and on SIGTERM / SIGINT drains every daemon through maintenance before it stops. SIGHUP reloads the TLS
// files after validating them (a refused reload is logged and the node keeps what it had: credentials
// removed or replaced at run time never stop it); with --on-hangup=drain, which meshos-run passes to the
// nodes it starts through `ssh -tt`, SIGHUP drains and stops like SIGTERM instead.
#include <pthread.h>
#include <signal.h>

#include <cstring>

#include <chrono>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "meshos/caf.hpp"
#include "meshos/node.hpp"
#include "meshos/version.hpp"
#include "node_log.hpp"
#include "node_options.hpp"
#include "service_manager.hpp"

namespace {

using namespace meshos;
using namespace meshos::apps;

constexpr int kExitDrained = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadConfig = 2;

// Each line of `message` (a config may have several problems) as a line of its own.
int fail(int code, const std::string& message) {
  print_lines(std::cerr, "meshosd", message);
  return code;
}

// The latest maintenance state the node published, for the main thread to wait on without polling.
// The node's maintenance state as its snapshots show it, for the service's status line on each change.
class MaintenanceWatch {
 public:
  // Whether the state changed.
  bool observe(MaintenanceKind kind) {
    std::lock_guard<std::mutex> lock(mu_);
    const bool changed = kind != kind_;
    kind_ = kind;
    return changed;
  }

 private:
  std::mutex mu_;
  MaintenanceKind kind_ = MaintenanceKind::Active;
};

std::unique_ptr<MeshDaemon> make_daemon(const HostedDaemon& d) {
  if (d.plugin) return d.plugin->make_daemon(d.name);
  return make_builtin_daemon(d.kind, d.name).value();  // kinds were checked with the config
}

// Problems of what the node was given, found before anything ran.
bool is_bad_input(Errc code) {
  return code == Errc::invalid_config || code == Errc::invalid_tls || code == Errc::invalid_state_file ||
         code == Errc::invalid_state_dir;
}

// SIGHUP with --on-hangup=reload: the TLS files again, validated before use (MeshNode::reload_tls keeps the
// old credentials on any error). Never stops the node; one line says what happened.
void reload_on_hangup(MeshNode& node, const NodeProgramOptions& options, NodeLog& node_log) {
  const TlsOptions& tls = options.network.tls;
  if (!tls.enabled()) {
    node_log.write(LogLevel::Info, "meshosd",
              "Hangup: nothing to reload (the node runs without TLS); the members-file is read only at start; "
              "the node keeps running");
    return;
  }
  auto reloaded = node.reload_tls();
  if (reloaded) {
    node_log.write(LogLevel::Info, "meshosd",
              "Hangup: reloaded TLS certificate " + tls.certificate + ", key " + tls.key + ", ca-file " + tls.ca_file +
                  "; new connections use them");
  } else {
    node_log.write(LogLevel::Warn, "meshosd",
              "Hangup: TLS reload refused (" + reloaded.error().kind + ": " + reloaded.error().message +
                  "); the node keeps the credentials it had");
  }
}

int run(std::unique_ptr<NodeConfig> config, const NodeProgramOptions& options, const sigset_t& stop_signals) {
  SdkOptions sdk_options;
  sdk_options.verifier = options.verifier;
  sdk_options.state_dir = options.state_dir;
  sdk_options.fresh_state = options.fresh_state;
  sdk_options.journal = options.journal;
  // The node's CPU load and memory in its snapshot (and its daemons' metadata), read from /proc each tick.
  sdk_options.probes.push_back(proc_inventory_probe());
  // The node's actor system runs with the CAF keys of the config (scheduler.*, middleman.*, ...).
  ServiceManager service;  // systemd: READY, STATUS, STOPPING, watchdog pings (nothing without NOTIFY_SOCKET)
  std::map<OperatorId, std::string> operator_names;
  if (options.verifier) operator_names = options.verifier->registry().names();
  NodeLog node_log(std::cout, options.log_format, std::move(operator_names));
  auto started = start_node(std::move(config), options.meshos, options.network, nullptr, std::move(sdk_options));
  if (!started) {
    const int code = is_bad_input(started.error().code()) ? kExitBadConfig : kExitFailure;
    return fail(code, started.error().kind + ": " + started.error().message);
  }
  std::unique_ptr<MeshNode> node = std::move(*started);
  MeshOsDaemonSdk& sdk = node->sdk();

  auto stop_node = [&](const std::string& why) {
    auto stats = node->shutdown(options.shutdown_deadline);
    if (!stats) return fail(kExitFailure, why + "shutdown failed: " + stats.error().message);
    if (stats->forced) return fail(kExitFailure, why + "shutdown forced: some actor did not stop in time");
    return why.empty() ? kExitDrained : kExitFailure;
  };

  // What operators place here (meshos-ctl daemon place / start NAME) and what moves here from draining peers
  // is built by name: each built-in kind under its own name, each plugin under its daemon's.
  for (const auto& kind : builtin_daemon_kinds())
    (void)sdk.register_factory(kind, [kind] { return make_builtin_daemon(kind, kind).value(); });
  for (const auto& hosted : options.daemons)
    if (hosted.plugin)
      (void)sdk.register_factory(hosted.name, [hosted] { return make_daemon(hosted); });

  std::vector<MeshOsDaemonHandle> handles;
  std::string names;
  for (const auto& hosted : options.daemons) {
    auto handle = sdk.register_daemon(make_daemon(hosted), daemon_keypair(options.node_key, hosted.name));
    if (!handle) {
      fail(kExitFailure, "daemon " + hosted.name + ": " + handle.error().kind + ": " + handle.error().message);
      return stop_node("registration failed; ");
    }
    names += (names.empty() ? "" : ", ") + hosted.name + " " + to_hex(handle->daemon_id());
    handles.push_back(std::move(*handle));
  }

  MaintenanceWatch watch;
  auto subscription = sdk.subscribe([&watch, &service, &node_log](const SnapshotPtr& snapshot) {
    service.alive();
    node_log.observe(*snapshot);
    std::string detail;
    if (auto* failed = std::get_if<view::DrainFailed>(&snapshot->local_maintenance)) detail = failed->reason;
    const MaintenanceKind kind = kind_of(snapshot->local_maintenance);
    if (watch.observe(kind))
      service.status(std::string("node state: ") + to_string(kind) + (detail.empty() ? "" : " (" + detail + ")"));
  });

  const std::string listening = "node " + to_hex(node->node_id()) + " listening on " + options.network.listen_host +
                                ":" + std::to_string(node->port()) + (options.network.tls.enabled() ? " (tls)" : "");
  node_log.write(LogLevel::Info, "meshosd", listening + ", daemons: " + (names.empty() ? "none" : names));
  service.ready(listening + ", " + std::to_string(handles.size()) + " daemons");

  int signal_number = 0;
  for (;;) {
    if (sigwait(&stop_signals, &signal_number) != 0) continue;
    if (signal_number != SIGHUP || options.on_hangup == OnHangup::Drain) break;
    try {
      reload_on_hangup(*node, options, node_log);
    } catch (const std::exception& e) {  // a reload never stops the node
      node_log.write(LogLevel::Warn, "meshosd", std::string("Hangup: reload failed (") + e.what() + "); the node keeps what it had");
    }
  }
  node_log.write(LogLevel::Info, "meshosd",
            std::string(strsignal(signal_number)) + ": draining (deadline " +
                std::to_string(options.drain_deadline.count()) + " ms)");
  service.stopping("draining (deadline " + std::to_string(options.drain_deadline.count()) + " ms)");

  // This drain is the node going away, not an operator's commit: its next start must not find it.
  sdk.stop_saving_state();
  auto drained = node->drain(options.drain_deadline);
  std::string problem;
  if (!drained) {
    problem = (drained.error().code() == Errc::drain_timeout ? "" : "cannot drain: ") + drained.error().message + "; ";
  } else if (drained->state == MaintenanceKind::DrainFailed) {
    problem = "drain failed: " + drained->reason + "; ";
  }
  (void)subscription.cancel();  // waits for a call under way: the callback refers to locals
  const int code = stop_node(problem);
  if (!problem.empty()) fail(kExitFailure, problem + "stopped anyway");
  handles.clear();
  if (code == kExitDrained) node_log.write(LogLevel::Info, "meshosd", "drained and stopped");
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  // Before any thread exists, so every thread CAF starts inherits the mask and only sigwait sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  // SIGHUP: a reload, or with --on-hangup=drain (a hung-up `ssh -tt` session of meshos-run's) a stop.
  sigaddset(&stop_signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto config = std::make_unique<NodeConfig>();
  auto loaded = config->load(std::vector<std::string>(argv + 1, argv + argc));
  if (!loaded) return fail(kExitBadConfig, loaded.error().message);
  if (config->version_requested()) {
    std::cout << "meshosd " << version() << std::endl;
    return 0;
  }
  if (config->help_requested() || config->long_help_requested()) {
    std::cout << usage_text() << config->options_text(config->long_help_requested()) << std::flush;
    return 0;
  }
  if (config->dump_requested()) {
    if (auto checked = config->verdict(); !checked) return fail(kExitBadConfig, checked.error().message);
    std::cout << config->dump_text() << std::flush;
    return 0;
  }
  if (config->file().empty()) return fail(kExitBadConfig, "no config file given (--config FILE; see --help)");
  auto options = node_options(*config);
  if (!options) return fail(kExitBadConfig, options.error().message);
  try {
    return run(std::move(config), *options, stop_signals);
  } catch (const std::exception& e) {
    return fail(kExitFailure, std::string("unexpected failure: ") + e.what());
  }
}
