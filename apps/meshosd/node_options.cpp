#include "node_options.hpp"

#include <algorithm>
#include <functional>
#include <map>
#include <set>

#include <nlohmann/json.hpp>

#include "meshos/file_io.hpp"
#include "meshos/ini.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos::apps {

namespace {

SdkError invalid(std::string message) { return SdkError{"invalid_config", std::move(message)}; }

// What the file and the command line set, before the files it names are loaded.
struct Draft {
  NodeProgramOptions out;
  std::string key_file;
  std::string registry_file;
  std::string members_file;
  std::uint64_t threshold = 1;
  std::vector<std::string> builtin;
  std::vector<std::string> plugins;
};

using Setter = std::function<Result<void>(Draft&, const std::string& value)>;

Setter string_key(std::string Draft::*field) {
  return [field](Draft& d, const std::string& v) -> Result<void> {
    auto s = parse_string(v);
    if (!s) return s.error();
    d.*field = *s;
    return ok();
  };
}

Setter network_string(std::string NetworkOptions::*field) {
  return [field](Draft& d, const std::string& v) -> Result<void> {
    auto s = parse_string(v);
    if (!s) return s.error();
    d.out.network.*field = *s;
    return ok();
  };
}

Setter tls_string(std::string TlsOptions::*field) {
  return [field](Draft& d, const std::string& v) -> Result<void> {
    auto s = parse_string(v);
    if (!s) return s.error();
    d.out.network.tls.*field = *s;
    return ok();
  };
}

Setter positive_duration(std::function<std::chrono::milliseconds&(Draft&)> field) {
  return [field](Draft& d, const std::string& v) -> Result<void> {
    auto ms = parse_duration(v);
    if (!ms) return ms.error();
    if (ms->count() <= 0) return invalid("must be a positive duration (e.g. 250ms)");
    field(d) = *ms;
    return ok();
  };
}

Setter string_list(std::vector<std::string> Draft::*field) {
  return [field](Draft& d, const std::string& v) -> Result<void> {
    auto list = parse_string_list(v);
    if (!list) return list.error();
    d.*field = *list;
    return ok();
  };
}

// Every key meshosd knows outside [meshos]; [meshos] is MeshOsConfig's (config_from_ini checks it).
const std::map<std::string, std::map<std::string, Setter>>& setters() {
  static const std::map<std::string, std::map<std::string, Setter>> table{
      {"node",
       {
           {"key-file", string_key(&Draft::key_file)},
           {"members-file", string_key(&Draft::members_file)},
           {"cluster-name",
            [](Draft& d, const std::string& v) -> Result<void> {
              auto name = parse_string(v);
              if (!name) return name.error();
              if (auto valid = check_cluster_name(*name); !valid) return invalid(valid.error().message);
              d.out.cluster_name = *name;
              return ok();
            }},
           {"listen-host", network_string(&NetworkOptions::listen_host)},
           {"listen-port",
            [](Draft& d, const std::string& v) -> Result<void> {
              auto n = parse_uint(v);
              if (!n) return n.error();
              if (*n > 65535) return invalid("port " + std::to_string(*n) + " is out of range (0..65535, 0 = ephemeral)");
              d.out.network.listen_port = static_cast<std::uint16_t>(*n);
              return ok();
            }},
           {"port-file", network_string(&NetworkOptions::port_file)},
           {"peers",
            [](Draft& d, const std::string& v) -> Result<void> {
              auto list = parse_string_list(v);
              if (!list) return list.error();
              std::vector<PeerAddress> peers;
              for (const auto& text : *list) {
                auto peer = PeerAddress::parse(text);
                if (!peer) return invalid("peer \"" + text + "\": " + peer.error().message);
                peers.push_back(*peer);
              }
              d.out.network.peers = std::move(peers);
              return ok();
            }},
           {"heartbeat-interval", positive_duration([](Draft& d) -> auto& { return d.out.network.heartbeat_interval; })},
           {"peer-timeout", positive_duration([](Draft& d) -> auto& { return d.out.network.peer_timeout; })},
           {"reconnect-initial", positive_duration([](Draft& d) -> auto& { return d.out.network.reconnect_initial; })},
           {"reconnect-max", positive_duration([](Draft& d) -> auto& { return d.out.network.reconnect_max; })},
           {"software-version", network_string(&NetworkOptions::software_version)},
           {"drain-deadline", positive_duration([](Draft& d) -> auto& { return d.out.drain_deadline; })},
           {"shutdown-deadline", positive_duration([](Draft& d) -> auto& { return d.out.shutdown_deadline; })},
           {"state-dir",
            [](Draft& d, const std::string& v) -> Result<void> {
              auto s = parse_string(v);
              if (!s) return s.error();
              if (s->empty()) return invalid("must not be empty (leave the key out to keep no state)");
              d.out.state_dir = *s;
              return ok();
            }},
           {"fresh-state",
            [](Draft& d, const std::string& v) -> Result<void> {
              auto b = parse_bool(v);
              if (!b) return b.error();
              d.out.fresh_state = *b;
              return ok();
            }},
       }},
      {"tls",
       {
           {"certificate", tls_string(&TlsOptions::certificate)},
           {"key", tls_string(&TlsOptions::key)},
           {"ca-file", tls_string(&TlsOptions::ca_file)},
           {"passphrase", tls_string(&TlsOptions::passphrase)},
       }},
      {"operators",
       {
           {"registry-file", string_key(&Draft::registry_file)},
           {"threshold",
            [](Draft& d, const std::string& v) -> Result<void> {
              auto n = parse_uint(v);
              if (!n) return n.error();
              if (*n < 1 || *n > 1024) return invalid("threshold must be between 1 and 1024");
              d.threshold = *n;
              return ok();
            }},
       }},
      {"daemons",
       {
           {"builtin", string_list(&Draft::builtin)},
           {"plugins", string_list(&Draft::plugins)},
       }},
  };
  return table;
}

bool known_section(const std::string& section) { return section == "meshos" || setters().count(section) != 0; }

// `where` says where the value came from ("line 7" or "--node.listen-port"), for the one error line.
Result<void> apply(Draft& draft, const std::string& section, const std::string& key, const std::string& value,
                   const std::string& where) {
  if (!known_section(section)) return invalid(where + ": unknown section [" + section + "]");
  if (section == "meshos") {
    const auto& keys = MeshOsConfig::keys();
    if (std::find(keys.begin(), keys.end(), key) == keys.end())
      return invalid(where + ": unknown key \"" + key + "\" in [meshos]");
    return ok();  // config_from_ini / MeshOsConfig::set read it
  }
  const auto& keys = setters().at(section);
  auto it = keys.find(key);
  if (it == keys.end()) return invalid(where + ": unknown key \"" + key + "\" in [" + section + "]");
  auto set = it->second(draft, value);
  if (!set) return invalid(where + ": [" + section + "] " + key + ": " + set.error().message);
  return ok();
}

Result<void> add_daemon(std::vector<HostedDaemon>& daemons, HostedDaemon daemon) {
  for (const auto& d : daemons) {
    if (d.name == daemon.name) return invalid("[daemons]: two daemons are named \"" + daemon.name + "\"");
  }
  daemons.push_back(std::move(daemon));
  return ok();
}

Result<void> resolve_daemons(Draft& d) {
  for (const auto& entry : d.builtin) {
    // "kind" or "kind:name" (several instances of one kind need names of their own).
    const auto colon = entry.find(':');
    const std::string kind = entry.substr(0, colon);
    const std::string name = colon == std::string::npos ? kind : entry.substr(colon + 1);
    const auto& kinds = builtin_daemon_kinds();
    if (std::find(kinds.begin(), kinds.end(), kind) == kinds.end())
      return invalid("[daemons] builtin: unknown daemon kind \"" + kind + "\" (known: echo, counter)");
    if (name.empty()) return invalid("[daemons] builtin: \"" + entry + "\" has an empty name");
    auto added = add_daemon(d.out.daemons, HostedDaemon{kind, name, nullptr});
    if (!added) return added.error();
  }
  for (const auto& path : d.plugins) {
    auto plugin = DaemonPlugin::open(path);
    if (!plugin) return SdkError{plugin.error().kind, "[daemons] plugins: " + plugin.error().message};
    auto added = add_daemon(d.out.daemons, HostedDaemon{"plugin", (*plugin)->default_name(), *plugin});
    if (!added) return added.error();
  }
  return ok();
}

Result<MeshOsConfig> meshos_section(const IniDocument& doc, const std::vector<std::pair<std::string, std::string>>& cli) {
  // The command line wins: its keys are taken out of the file's section, then set one by one.
  IniDocument file_part;
  for (const auto& e : doc.entries) {
    const bool overridden = std::any_of(cli.begin(), cli.end(), [&](const auto& kv) { return kv.first == e.key; });
    if (e.section == "meshos" && !overridden) file_part.entries.push_back(e);
  }
  auto config = config_from_ini(file_part);
  if (!config) return config.error();
  for (const auto& [key, value] : cli) {
    auto set = config->set(key, value);
    if (!set) return invalid("--meshos." + key + ": " + set.error().message);
  }
  return config;
}

}  // namespace

Result<CommandLine> parse_command_line(int argc, const char* const* argv) {
  CommandLine out;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      out.help = true;
    } else if (arg == "--fresh-state") {
      out.overrides.emplace_back("node.fresh-state", "true");
    } else if (arg == "--on-hangup" || arg.rfind("--on-hangup=", 0) == 0) {
      std::string value;
      if (arg == "--on-hangup") {
        if (i + 1 >= argc) return invalid("--on-hangup needs drain or reload");
        value = argv[++i];
      } else {
        value = arg.substr(12);
      }
      if (value == "reload") {
        out.on_hangup = OnHangup::Reload;
      } else if (value == "drain") {
        out.on_hangup = OnHangup::Drain;
      } else {
        return invalid("--on-hangup: \"" + value + "\" is neither drain nor reload");
      }
    } else if (arg == "--config" || arg == "--config-file") {
      if (i + 1 >= argc) return invalid(arg + " needs a file name");
      out.config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      out.config_path = arg.substr(9);
    } else if (arg.rfind("--config-file=", 0) == 0) {
      out.config_path = arg.substr(14);
    } else if (arg.rfind("--", 0) == 0 && arg.find('=') != std::string::npos &&
               arg.find('.') < arg.find('=')) {
      const auto eq = arg.find('=');
      out.overrides.emplace_back(arg.substr(2, eq - 2), arg.substr(eq + 1));
    } else {
      return invalid("unknown argument \"" + arg + "\" (expected --config FILE, --section.key=value, --on-hangup=drain|reload or --help)");
    }
  }
  if (!out.help && out.config_path.empty()) return invalid("no config file given (--config FILE)");
  return out;
}

// The cluster's members: the operator registry's file format under "members" (a name and an Ed25519 public
// key each), so the same tools write both. Kind invalid_members_file.
Result<std::vector<PublicKey>> load_members_file(const std::string& path) {
  auto text = read_file_bounded(path, json_limits::kOperatorRegistry.max_bytes);
  if (!text) return SdkError{"invalid_members_file", text.error().message};
  auto j = parse_untrusted_json(*text, json_limits::kOperatorRegistry, "invalid_members_file", "members file " + path);
  if (!j) return j.error();
  if (!j->is_object() || !j->contains("members") || !(*j)["members"].is_array())
    return SdkError{"invalid_members_file", path + ": expected {\"members\": [{\"name\", \"public_key\"}, ...]}"};
  auto registry = OperatorRegistry::from_json(nlohmann::json{{"operators", (*j)["members"]}});
  if (!registry) return SdkError{"invalid_members_file", path + ": " + registry.error().message};
  std::vector<PublicKey> keys;
  for (const auto& kv : registry->keys()) keys.push_back(kv.second);
  return keys;
}

Result<NodeProgramOptions> load_node_options(const CommandLine& command_line) {
  const std::string& path = command_line.config_path;
  auto doc = parse_ini_file(path);
  if (!doc) {
    if (doc.error().kind == "config_not_found") return doc.error();
    return SdkError{doc.error().kind, path + ": " + doc.error().message};
  }
  Draft draft;
  draft.out.on_hangup = command_line.on_hangup;
  for (const auto& section : doc->sections) {
    if (!known_section(section)) return invalid(path + ": unknown section [" + section + "]");
  }
  for (const auto& e : doc->entries) {
    if (e.section.empty())
      return invalid(path + ": line " + std::to_string(e.line) + ": key \"" + e.key + "\" outside any [section]");
    auto applied = apply(draft, e.section, e.key, e.value, "line " + std::to_string(e.line));
    if (!applied) return invalid(path + ": " + applied.error().message);
  }
  std::vector<std::pair<std::string, std::string>> meshos_overrides;
  for (const auto& [dotted, value] : command_line.overrides) {
    const auto dot = dotted.find('.');
    const std::string section = dotted.substr(0, dot);
    const std::string key = dotted.substr(dot + 1);
    auto applied = apply(draft, section, key, value, "--" + dotted);
    if (!applied) return applied.error();
    if (section == "meshos") meshos_overrides.emplace_back(key, value);
  }

  auto meshos = meshos_section(*doc, meshos_overrides);
  if (!meshos) return SdkError{meshos.error().kind, path + ": " + meshos.error().message};
  draft.out.meshos = *meshos;

  if (draft.out.network.reconnect_initial > draft.out.network.reconnect_max)
    return invalid(path + ": [node] reconnect-initial must not exceed reconnect-max");
  if (draft.out.network.listen_host.empty()) return invalid(path + ": [node] listen-host is empty");

  if (draft.key_file.empty()) return invalid(path + ": [node] key-file is required (a node key file, JSON)");
  auto key = load_key_file(draft.key_file);
  if (!key) return SdkError{key.error().kind, "[node] key-file: " + key.error().message};
  if (!key->keypair.has_secret())
    return SdkError{"invalid_key_file", "[node] key-file " + draft.key_file + " holds no secret seed"};
  draft.out.node_key = key->keypair;
  draft.out.network.node_key = key->keypair;
  if (draft.out.meshos.this_node == 0) draft.out.meshos.this_node = draft.out.node_key.node_id();

  if (!draft.members_file.empty()) {
    auto members = load_members_file(draft.members_file);
    if (!members) return SdkError{members.error().kind, "[node] members-file: " + members.error().message};
    draft.out.network.members = std::move(*members);
  } else if (!draft.out.network.peers.empty()) {
    return invalid(path + ": [node] peers need a members-file (only the cluster's members are admitted as peers)");
  }

  if (!draft.registry_file.empty()) {
    auto registry = OperatorRegistry::load_file(draft.registry_file);
    if (!registry) return SdkError{registry.error().kind, "[operators] registry-file: " + registry.error().message};
    VerifierPolicy policy;
    policy.cluster = draft.out.cluster_name;
    draft.out.verifier = std::make_shared<AdminVerifier>(std::move(*registry), draft.threshold, policy);
  }

  if (draft.out.network.tls.enabled()) {
    auto tls = draft.out.network.tls.validate();
    if (!tls) return SdkError{tls.error().kind, "[tls]: " + tls.error().message};
  }

  auto daemons = resolve_daemons(draft);
  if (!daemons) return daemons.error();
  return std::move(draft.out);
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
               [--help]

A meshos node: hosts the daemons its config names and joins its peers over CAF's network layer.
The config is CAF's INI dialect (';' comments, strings quoted, durations like 250ms, lists ["a", "b"]);
every key is checked, and --section.key=value on the command line overrides the file (strings may be
bare there). Relative paths are taken from the working directory.

[meshos]     the runtime's keys (tick-interval, default-drain-deadline, recovery-ramp-window, ...);
             this-node defaults to the node id of the key file.
[node]       key-file (required; JSON {"name", "seed", "public_key"}, mode 0600)
             members-file (JSON {"members": [{"name", "public_key"}]}: the cluster's node keys;
             only they are admitted as peers; required with peers)
             cluster-name ("meshos": commits must be signed for it; 1 to 256 bytes)
             listen-host ("127.0.0.1"), listen-port (0 = ephemeral), port-file (the chosen port is
             written there), peers (["host:port", ...]), heartbeat-interval (250ms),
             peer-timeout (1500ms), reconnect-initial (100ms), reconnect-max (5s),
             software-version, drain-deadline (30s: the drain on SIGTERM / SIGINT, and on
             SIGHUP with --on-hangup=drain), shutdown-deadline (5s: the bound of the final stop)
             state-dir (what operators committed survives restarts there: maintenance, cordon,
             freeze, avoid list, daemon intents, replay memory, audit; made when missing),
             fresh-state (false; true or --fresh-state: an unusable state file is renamed
             aside, kept, and the node starts fresh)
[tls]        certificate, key, ca-file (PEM files; all three, or none for plain TCP), passphrase
[operators]  registry-file (JSON {"operators": [{"name", "public_key"}]}), threshold (break-glass, 1)
[daemons]    builtin (["echo", "counter", "echo:second-echo", ...]: kind or kind:name)
             plugins (["path/to/libplugin.so", ...]: C daemons exporting meshos_plugin_vtable)

Signals: SIGTERM / SIGINT drain the node and stop it. SIGHUP, with --on-hangup=reload (the default),
reads the [tls] files again and uses them for new connections once they validate; a refused reload
(a file missing, unreadable, or a key that does not match its certificate) changes nothing and never
stops the node: it keeps the credentials it had. One line on stdout tells what happened. The
members-file is read only at start. --on-hangup=drain makes SIGHUP drain and stop like SIGTERM
(meshos-run passes it to the nodes it starts through `ssh -tt`, which hang up when the session ends).

Exit codes: 0 drained and stopped; 1 runtime failure or drain deadline passed; 2 bad config
or an unusable state file (one line on stderr, nothing started).
)";
}

}  // namespace meshos::apps
