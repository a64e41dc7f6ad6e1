#include "node_options.hpp"

#include <algorithm>

#include <nlohmann/json.hpp>

#include "meshos/file_io.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/untrusted_json.hpp"
#include "meshos/value_text.hpp"

namespace meshos::apps {

namespace {

using caf::timespan;
using Strings = std::vector<std::string>;

SdkError invalid(std::string message) { return SdkError{Errc::invalid_config, std::move(message)}; }

timespan span(std::chrono::milliseconds ms) { return std::chrono::duration_cast<timespan>(ms); }

Result<void> add_daemon(std::vector<HostedDaemon>& daemons, HostedDaemon daemon) {
  for (const auto& d : daemons) {
    if (d.name == daemon.name) return invalid("[daemons]: two daemons are named \"" + daemon.name + "\"");
  }
  daemons.push_back(std::move(daemon));
  return ok();
}

// "kind" or "kind:name" (several instances of one kind need names of their own), then the plugins.
Result<void> resolve_daemons(const NodeConfig& config, std::vector<HostedDaemon>& daemons) {
  const std::string where = config.where("daemons.builtin") + ": [daemons] builtin: ";
  for (const auto& entry : config.texts("daemons.builtin")) {
    const auto colon = entry.find(':');
    const std::string kind = entry.substr(0, colon);
    const std::string name = colon == std::string::npos ? kind : entry.substr(colon + 1);
    const auto& kinds = builtin_daemon_kinds();
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
      return invalid(where + "unknown daemon kind \"" + kind + "\" (known: echo, counter)");
    if (name.empty()) return invalid(where + "\"" + entry + "\" has an empty name");
    auto added = add_daemon(daemons, HostedDaemon{kind, name, nullptr});
    if (!added) return added.error();
  }
  for (const auto& path : config.paths("daemons.plugins")) {
    auto plugin = DaemonPlugin::open(path);
    if (!plugin) return plugin.error().in_context("[daemons] plugins: ");
    auto added = add_daemon(daemons, HostedDaemon{"plugin", (*plugin)->default_name(), *plugin});
    if (!added) return added.error();
  }
  return ok();
}

// [meshos]: every key set, into MeshOsConfig (fields first, invariants after: a file may set related keys in
// any order).
MeshOsConfig meshos_section(NodeConfig& config) {
  MeshOsConfig out;
  const auto& keys = MeshOsConfig::describe();
  for (const auto& key : config.keys_set_in("meshos")) {
    const std::string name = "meshos." + key;
    const auto info = std::find_if(keys.begin(), keys.end(), [&](const auto& k) { return k.key == key; });
    std::string text;
    switch (info->kind) {
      case MeshOsConfig::ValueKind::Duration: text = duration_text(config.duration(name)); break;
      case MeshOsConfig::ValueKind::Count: text = std::to_string(config.count(name)); break;
      case MeshOsConfig::ValueKind::NodeIdentifier: text = config.text(name); break;
    }
    if (auto assigned = out.assign(key, text); !assigned) config.report(config.where(name) + ": [meshos] " + assigned.error().message);
  }
  if (auto valid = out.validate(); !valid) config.report("[meshos]: " + valid.error().message);
  return out;
}

}  // namespace

NodeConfig::NodeConfig() : StrictConfig("meshosd") {
  add_value_alias("--config", "--config-file");
  add_flag_alias("--fresh-state", "--node.fresh-state=true");
  add_value_alias("--on-hangup", "--on-hangup");
  declare<std::string>("global", "on-hangup", "reload",
                       "what SIGHUP does: reload (the TLS files) or drain (and stop, like SIGTERM)");
  declare<std::string>("global", "log-format", "text",
                       "what the node prints on stdout: text lines (time level source: message) or json lines");

  const MeshOsConfig runtime;
  for (const auto& k : MeshOsConfig::describe()) {
    const std::string text = runtime.text_of(k.key);
    switch (k.kind) {
      case MeshOsConfig::ValueKind::Duration:
        declare<timespan>("meshos", k.key, span(parse_duration(text).value()), k.help);
        break;
      case MeshOsConfig::ValueKind::Count:
        declare<std::uint64_t>("meshos", k.key, parse_uint(text).value(), k.help);
        break;
      case MeshOsConfig::ValueKind::NodeIdentifier:
        declare<std::string>("meshos", k.key, parse_string(text).value(), k.help + " (0: the key file's)");
        break;
    }
  }

  const NetworkOptions network;
  const NodeProgramOptions program;
  declare<std::string>("node", "key-file", "", "this node's key (JSON {name, seed, public_key}, mode 0600); required");
  declare<std::string>("node", "members-file", "",
                       "the cluster's node keys (JSON {members: [{name, public_key}]}): only they are admitted as "
                       "peers; required with peers");
  declare<std::string>("node", "cluster-name", kDefaultClusterName, "the cluster signed commits must name (1 to 256 bytes)");
  declare<std::string>("node", "listen-host", network.listen_host, "the address peers and meshos-ctl connect to");
  declare<std::uint16_t>("node", "listen-port", network.listen_port, "its port (0: ephemeral)");
  declare<std::string>("node", "port-file", network.port_file, "the port chosen is written there once listening");
  declare<Strings>("node", "peers", Strings{}, "nodes to join at start: [\"host:port\", ...]");
  declare<timespan>("node", "heartbeat-interval", span(network.heartbeat_interval), "how often peers are greeted");
  declare<timespan>("node", "peer-timeout", span(network.peer_timeout), "a peer silent this long is unreachable");
  declare<timespan>("node", "reconnect-initial", span(network.reconnect_initial), "first wait before reconnecting");
  declare<timespan>("node", "reconnect-max", span(network.reconnect_max), "longest wait before reconnecting");
  declare<std::string>("node", "software-version", "", "the version peers are told (empty: meshos' own)");
  declare<std::string>("node", "name", "", "what peers, meshos-ctl and the logs call this node beside its id");
  declare<timespan>("node", "drain-deadline", span(program.drain_deadline),
                    "the drain on SIGTERM / SIGINT (and SIGHUP with --on-hangup=drain)");
  declare<timespan>("node", "shutdown-deadline", span(program.shutdown_deadline), "the bound of the final stop");
  declare<std::string>("node", "state-dir", "",
                       "what operators committed survives restarts there (made when missing; unset: nothing kept)");
  declare<bool>("node", "fresh-state", false, "an unusable state file is renamed aside and the node starts fresh");
  const JournalLimits journal;
  declare<std::uint64_t>("node", "journal-file-bytes", journal.file_bytes,
                         "with state-dir: a log or audit journal file is rotated at this size (at least 65536)");
  declare<std::uint64_t>("node", "journal-files", journal.files,
                         "with state-dir: journal files kept per journal, the live one included (1 to 100)");

  declare<std::string>("tls", "certificate", "", "PEM certificate naming this node (all three files, or none)");
  declare<std::string>("tls", "key", "", "PEM private key of the certificate");
  declare<std::string>("tls", "ca-file", "", "PEM CA certificates peers must be signed by");
  declare<std::string>("tls", "passphrase", "", "of the private key, if it is encrypted");

  declare<std::string>("operators", "registry-file", "",
                       "operators who may sign commits (JSON {operators: [{name, public_key}]})");
  declare<std::uint64_t>("operators", "threshold", 1, "signatures a break-glass commit needs (1 to 1024)");

  declare<Strings>("daemons", "builtin", Strings{},
                   "built-in daemons: [\"echo\", \"counter\", \"echo:second-echo\"] (kind or kind:name)");
  declare<Strings>("daemons", "plugins", Strings{}, "C daemons from shared libraries exporting meshos_plugin_vtable");

  for (const char* name : {"node.key-file", "node.members-file", "node.port-file", "node.state-dir", "tls.certificate",
                           "tls.key", "tls.ca-file", "operators.registry-file", "daemons.plugins"})
    mark_path(name);
  describe_default("scheduler.policy", "'sharing', meshos' choice");
  describe_default("scheduler.max-threads", "one per CPU, at least 2: meshos' choice");
  // The node's actor system runs with CAF's keys as given, except these, which meshos sets itself.
  reserve("middleman.heartbeat-interval", "set by meshos from node.heartbeat-interval");
  reserve("middleman.connection-timeout", "meshos keeps it off: its guard closes silent connections");
}

namespace {

// The cluster's members: the operator registry's file format under "members" (a name and an Ed25519 public
// key each), so the same tools write both. Kind invalid_members_file.
Result<std::vector<PublicKey>> load_members_file(const std::string& path) {
  auto text = read_file_bounded(path, json_limits::kOperatorRegistry.max_bytes);
  if (!text) return SdkError{Errc::invalid_members_file, text.error().message};
  auto j = parse_untrusted_json(*text, json_limits::kOperatorRegistry, Errc::invalid_members_file, "members file " + path);
  if (!j) return j.error();
  if (!j->is_object() || !j->contains("members") || !(*j)["members"].is_array())
    return SdkError{Errc::invalid_members_file, path + ": expected {\"members\": [{\"name\", \"public_key\"}, ...]}"};
  auto registry = OperatorRegistry::from_json(nlohmann::json{{"operators", (*j)["members"]}});
  if (!registry) return SdkError{Errc::invalid_members_file, path + ": " + registry.error().message};
  std::vector<PublicKey> keys;
  for (const auto& kv : registry->keys()) keys.push_back(kv.second);
  return keys;
}

}  // namespace

Result<NodeProgramOptions> node_options(NodeConfig& config) {
  auto problem = [&](const std::string& name, const std::string& what) { config.report(name, what); };
  NodeProgramOptions out;
  out.meshos = meshos_section(config);

  const std::string hangup = config.text("on-hangup");
  if (hangup == "drain") {
    out.on_hangup = OnHangup::Drain;
  } else if (hangup != "reload") {
    problem("on-hangup", "\"" + hangup + "\" is neither drain nor reload");
  }

  const std::string log_format = config.text("log-format");
  if (log_format == "json") {
    out.log_format = NodeLog::Format::Json;
  } else if (log_format != "text") {
    problem("log-format", "\"" + log_format + "\" is neither text nor json");
  }

  NetworkOptions& net = out.network;
  auto positive = [&](const std::string& name, std::chrono::milliseconds& field) {
    field = config.duration(name);
    if (field.count() <= 0) problem(name, "must be a positive duration (e.g. 250ms)");
  };
  positive("node.heartbeat-interval", net.heartbeat_interval);
  positive("node.peer-timeout", net.peer_timeout);
  positive("node.reconnect-initial", net.reconnect_initial);
  positive("node.reconnect-max", net.reconnect_max);
  positive("node.drain-deadline", out.drain_deadline);
  positive("node.shutdown-deadline", out.shutdown_deadline);
  if (net.reconnect_initial > net.reconnect_max) problem("node.reconnect-initial", "must not exceed reconnect-max");

  out.cluster_name = config.text("node.cluster-name");
  if (auto valid = check_cluster_name(out.cluster_name); !valid) problem("node.cluster-name", valid.error().message);
  net.listen_host = config.text("node.listen-host");
  if (net.listen_host.empty()) problem("node.listen-host", "is empty");
  net.listen_port = static_cast<std::uint16_t>(config.count("node.listen-port"));
  net.port_file = config.path("node.port-file");
  for (const auto& text : config.texts("node.peers")) {
    auto peer = PeerAddress::parse(text);
    if (peer) {
      net.peers.push_back(*peer);
    } else {
      problem("node.peers", "peer \"" + text + "\": " + peer.error().message);
    }
  }
  net.software_version = config.text("node.software-version");
  net.node_name = config.text("node.name");
  if (!is_valid_node_name(net.node_name))
    problem("node.name", "up to " + std::to_string(kMaxNodeNameBytes) + " letters, digits, '.', '_' or '-'");
  if (config.is_set("node.state-dir") && config.text("node.state-dir").empty())
    problem("node.state-dir", "must not be empty (leave the key out to keep no state)");
  out.state_dir = config.path("node.state-dir");
  out.fresh_state = config.flag("node.fresh-state");
  out.journal.file_bytes = config.count("node.journal-file-bytes");
  out.journal.files = static_cast<std::size_t>(config.count("node.journal-files"));
  if (auto limits = check_journal_limits(out.journal); !limits)
    problem(out.journal.file_bytes < kMinJournalFileBytes ? "node.journal-file-bytes" : "node.journal-files",
            limits.error().message);
  net.tls.certificate = config.path("tls.certificate");
  net.tls.key = config.path("tls.key");
  net.tls.ca_file = config.path("tls.ca-file");
  net.tls.passphrase = config.text("tls.passphrase");
  const std::uint64_t threshold = config.count("operators.threshold");
  if (threshold < 1 || threshold > 1024) problem("operators.threshold", "must be between 1 and 1024");
  const std::string key_file = config.path("node.key-file");
  if (key_file.empty()) problem("node.key-file", "is required (a node key file, JSON)");
  const std::string members_file = config.path("node.members-file");
  if (members_file.empty() && !net.peers.empty())
    problem("node.peers", "peers need a members-file (only the cluster's members are admitted as peers)");
  if (auto checked = config.verdict(); !checked) return checked.error();

  // The files the config names, in order; the first that does not load stops the start.
  auto key = load_key_file(key_file);
  if (!key) return key.error().in_context("[node] key-file: ");
  if (!key->keypair.has_secret())
    return SdkError{Errc::invalid_key_file, "[node] key-file " + key_file + " holds no secret seed"};
  out.node_key = key->keypair;
  net.node_key = key->keypair;
  if (out.meshos.this_node == 0) out.meshos.this_node = out.node_key.node_id();

  if (!members_file.empty()) {
    auto members = load_members_file(members_file);
    if (!members) return members.error().in_context("[node] members-file: ");
    net.members = std::move(*members);
  }

  if (const std::string registry_file = config.path("operators.registry-file"); !registry_file.empty()) {
    auto registry = OperatorRegistry::load_file(registry_file);
    if (!registry) return registry.error().in_context("[operators] registry-file: ");
    VerifierPolicy policy;
    policy.cluster = out.cluster_name;
    out.verifier = std::make_shared<AdminVerifier>(std::move(*registry), threshold, policy);
  }

  if (net.tls.enabled()) {
    auto tls = net.tls.validate();
    if (!tls) return tls.error().in_context("[tls]: ");
  }

  auto daemons = resolve_daemons(config, out.daemons);
  if (!daemons) return daemons.error();
  return out;
}

EntityKeypair daemon_keypair(const EntityKeypair& node_key, const std::string& daemon_name) {
  const Seed node_seed = node_key.seed().value();
  const std::string label = "meshosd-daemon:" + daemon_name;
  const auto mac = blake2s_mac(node_seed.data(), node_seed.size(),
                               reinterpret_cast<const std::uint8_t*>(label.data()), label.size());
  Seed seed{};
  std::copy(mac.begin(), mac.end(), seed.begin());
  return EntityKeypair::from_seed(seed);
}


std::string usage_text() {
  return R"(usage: meshosd --config FILE [--section.key=value ...] [--fresh-state] [--on-hangup=reload|drain]
               [--help | --long-help | --dump-config | --version]

A meshos node: hosts the daemons its config names and joins its peers over CAF's network layer.

The config is a CAF config file (';' comments, strings quoted, durations like 250ms, lists ["a", "b"]),
read by CAF's config system: --section.key=value on the command line overrides the file, CAF's own
sections (scheduler, middleman, ...) configure the node's actor system, --dump-config prints the
configuration in effect as a file meshosd reads back. Every key is checked (unknown keys, values of the
wrong type, keys set twice): every problem is reported at once with its file and line. Relative paths in
the file are taken from the file's folder; on the command line, from the working directory.

Signals: SIGTERM / SIGINT drain the node and stop it. SIGHUP, with --on-hangup=reload (the default),
reads the [tls] files again and uses them for new connections once they validate; a refused reload
changes nothing and never stops the node. --on-hangup=drain makes SIGHUP drain and stop like SIGTERM
(meshos-run passes it to the nodes it starts through `ssh -tt`, which hang up when the session ends).

Exit codes: 0 drained and stopped; 1 runtime failure or drain deadline passed; 2 bad config or an
unusable state file (on stderr, nothing started).

Keys (--long-help adds CAF's own):
)";
}

}  // namespace meshos::apps
