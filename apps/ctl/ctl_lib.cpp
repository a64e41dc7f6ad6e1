#include "ctl_lib.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <ostream>
#include <sstream>
#include <utility>
#include <variant>

#include <nlohmann/json.hpp>

#include "ctl_contexts.hpp"

#include "meshos/blast_radius.hpp"
#include "meshos/time.hpp"
#include "meshos/value_text.hpp"
#include "meshos/version.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/types.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos::ctl {

nlohmann::json without_clock_fields(const nlohmann::json& snapshot) {
  if (snapshot.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& item : snapshot) out.push_back(without_clock_fields(item));
    return out;
  }
  if (!snapshot.is_object()) return snapshot;
  nlohmann::json out = nlohmann::json::object();
  for (const auto& [key, value] : snapshot.items()) {
    const bool clock = key == "seq" || (key.size() > 3 && key.compare(key.size() - 3, 3, "_ms") == 0);
    if (!clock) out[key] = without_clock_fields(value);
  }
  return out;
}

namespace {

using nlohmann::json;

// Proposals carry a handful of signatures; anything much larger is not one.
constexpr std::size_t kMaxProposalFileBytes = 1 << 20;

SdkError usage_error(const std::string& message) { return SdkError{Errc::usage, message}; }
SdkError invalid_argument(const std::string& message) { return SdkError{Errc::invalid_argument, message}; }
SdkError invalid_answer(const std::string& message) { return SdkError{Errc::invalid_answer, message}; }

// j[key] when j is an object holding a string there.
std::optional<std::string> string_field(const json& j, const char* key) {
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

const std::set<std::string> kValueOptions = {"node",  "tls-cert",  "tls-key", "tls-ca",     "key",  "target",
                                             "daemon", "level",    "drain-for", "ttl",     "out",
                                             "name",   "cluster",  "capability", "timeout", "on",  "deadline",
                                             "interval", "since", "context"};
const std::set<std::string> kFlagOptions = {"json", "wide", "watch", "follow", "help", "version", "force", "hex"};
// Every command takes these; the rest only where the command's entry lists them.
const std::set<std::string> kGlobalOptions = {"node",   "json", "wide", "tls-cert", "tls-key", "tls-ca",
                                              "key",    "help", "timeout", "context"};

struct CommandSpec {
  std::vector<std::string> words;
  std::size_t min_args = 0;
  std::size_t max_args = 0;
  std::set<std::string> options;
  const char* synopsis;
};

const std::vector<CommandSpec>& command_specs() {
  static const std::vector<CommandSpec> specs = {
      {{"status"}, 0, 0, {}, "status"},
      {{"snapshot"}, 0, 0, {"watch", "interval"}, "snapshot [--watch [--interval DURATION]]"},
      {{"logs"}, 0, 0, {"follow", "daemon", "level", "since"},
       "logs [--follow] [--daemon NAME|ID] [--level L] [--since DURATION]"},
      {{"peers"}, 0, 0, {}, "peers"},
      {{"audit"}, 0, 0, {"since"}, "audit [--since DURATION]"},
      {{"daemons"}, 0, 0, {"capability"}, "daemons [--capability TAG[,TAG...]]"},
      {{"send"}, 2, 2, {"hex"}, "send DAEMON PAYLOAD [--hex]"},
      {{"call"}, 2, 2, {"hex"}, "call DAEMON PAYLOAD [--hex]"},
      {{"maintenance", "enter"}, 0, 0, {"drain-for", "target", "cluster"}, "maintenance enter [--drain-for DURATION]"},
      {{"maintenance", "exit"}, 0, 0, {"target", "cluster"}, "maintenance exit"},
      {{"drain"}, 0, 0, {"deadline", "target", "cluster"}, "drain [--deadline DURATION]"},
      {{"cordon"}, 0, 0, {"target", "cluster"}, "cordon"},
      {{"uncordon"}, 0, 0, {"target", "cluster"}, "uncordon"},
      {{"restart-daemons"}, 0, 0, {"target", "cluster"}, "restart-daemons"},
      {{"daemon", "start"}, 1, 1, {"target", "cluster"}, "daemon start NAME"},
      {{"daemon", "stop"}, 1, 1, {"target", "cluster"}, "daemon stop NAME"},
      {{"daemon", "restart"}, 1, 1, {"target", "cluster"}, "daemon restart NAME"},
      {{"daemon", "place"}, 1, 1, {"on", "cluster"}, "daemon place KIND [--on NODE_HEX]"},
      {{"keygen"}, 0, 0, {"out", "name", "force"}, "keygen --out FILE [--name N] [--force]"},
      {{"config", "get-contexts"}, 0, 0, {}, "config get-contexts"},
      {{"config", "current-context"}, 0, 0, {}, "config current-context"},
      {{"operator-entry"}, 1, 1, {}, "operator-entry KEYFILE"},
      {{"ice", "propose"}, 1, 3, {"ttl", "out", "cluster"}, "ice propose ACTION --out FILE [--cluster NAME]"},
      {{"ice", "sign"}, 1, 1, {}, "ice sign FILE --key KEYFILE"},
      {{"ice", "submit"}, 1, 1, {}, "ice submit FILE"},
  };
  return specs;
}

std::string join(const std::vector<std::string>& words, const char* separator = " ") {
  std::string text;
  for (const auto& w : words) {
    if (!text.empty()) text += separator;
    text += w;
  }
  return text;
}

const CommandSpec* find_spec(const std::vector<std::string>& command) {
  const CommandSpec* best = nullptr;
  for (const auto& spec : command_specs()) {
    if (command.size() < spec.words.size()) continue;
    if (!std::equal(spec.words.begin(), spec.words.end(), command.begin())) continue;
    if (best == nullptr || spec.words.size() > best->words.size()) best = &spec;
  }
  return best;
}

std::string subcommands_of(const std::string& group) {
  std::vector<std::string> names;
  for (const auto& spec : command_specs())
    if (spec.words.size() > 1 && spec.words[0] == group) names.push_back(spec.words[1]);
  return join(names, ", ");
}

std::string command_name(const Invocation& inv) {
  const CommandSpec* spec = find_spec(inv.command);
  return spec ? join(spec->words) : join(inv.command);
}

// ---- files ----------------------------------------------------------------------------------------

Result<std::string> read_text_file(const std::string& path, std::size_t max_bytes) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return SdkError{Errc::file_not_found, path + " is a directory"};
  std::ifstream in(path, std::ios::binary);
  if (!in.is_open()) return SdkError{Errc::file_not_found, "cannot open " + path + ": " + std::strerror(errno)};
  std::string text(max_bytes + 1, '\0');
  in.read(&text[0], static_cast<std::streamsize>(text.size()));
  if (in.bad()) return SdkError{Errc::file_not_found, "cannot read " + path};
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > max_bytes) return invalid_argument(path + ": larger than " + std::to_string(max_bytes) + " bytes");
  return text;
}

// Whole or not at all: a reader never sees half a proposal, and a failed write leaves the old file.
Result<void> write_text_file(const std::string& path, const std::string& text, bool replace) {
  if (!replace && ::access(path.c_str(), F_OK) == 0)
    return SdkError{Errc::output_exists, path + " already exists (refusing to replace it)"};
  const std::string temp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return SdkError{Errc::write_failed, "cannot create " + temp + ": " + std::strerror(errno)};
  std::size_t done = 0;
  bool good = true;
  while (good && done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    good = n > 0;
    if (good) done += static_cast<std::size_t>(n);
  }
  good = good && ::fsync(fd) == 0;
  const int saved_errno = errno;
  good = (::close(fd) == 0) && good;
  if (good && replace) good = ::rename(temp.c_str(), path.c_str()) == 0;
  if (good && !replace) {
    // link() refuses an existing name, so a file created meanwhile is never replaced.
    if (::link(temp.c_str(), path.c_str()) != 0) {
      const bool exists = errno == EEXIST;
      ::unlink(temp.c_str());
      if (exists) return SdkError{Errc::output_exists, path + " already exists (refusing to replace it)"};
      return SdkError{Errc::write_failed, "cannot create " + path + ": " + std::strerror(errno)};
    }
    ::unlink(temp.c_str());
  }
  if (!good) {
    ::unlink(temp.c_str());
    return SdkError{Errc::write_failed, "cannot write " + path + ": " + std::strerror(saved_errno ? saved_errno : errno)};
  }
  return ok();
}

Result<SignedIceCommit> read_proposal(const std::string& path) {
  auto text = read_text_file(path, kMaxProposalFileBytes);
  if (!text) return text.error();
  auto j = parse_untrusted_json(*text, json_limits::kCommit, Errc::invalid_commit, "proposal");
  if (!j) return j.error().in_context(path + ": ");
  auto commit = signed_ice_commit_from_json(*j);
  if (!commit) return commit.error().in_context(path + ": ");
  return commit;
}

Result<EntityKeypair> signer_from(const Invocation& inv) {
  auto path = inv.value("key");
  if (!path) return usage_error(command_name(inv) + " needs --key KEYFILE");
  auto key = load_key_file(*path);
  if (!key) return key.error();
  return std::move(key->keypair);
}

// ---- the connection -------------------------------------------------------------------------------

// --timeout bounds the connection (tried again within it) and each request; call's also the daemon's work.
Result<Millis> timeout_of(const Invocation& inv) {
  auto text = inv.value("timeout");
  if (!text) return Millis(10'000);
  auto parsed = parse_duration(*text);
  if (!parsed || parsed->count() <= 0 || parsed->count() > 600'000)
    return usage_error("--timeout: expected a duration from 1ms to 10min");
  return *parsed;
}

Result<std::unique_ptr<RemoteNode>> connect_to_node(const Invocation& inv, Environment& env) {
  // --node, else MESHOS_NODE: the node an operator works with most is set once in the shell.
  std::optional<std::string> address = inv.value("node");
  if (!address) {
    if (const char* from_env = std::getenv("MESHOS_NODE"); from_env != nullptr && *from_env != '\0')
      address = std::string(from_env);
  }
  if (!address) return usage_error(command_name(inv) + " needs --node HOST:PORT (or MESHOS_NODE)");
  auto timeout = timeout_of(inv);
  if (!timeout) return timeout.error();
  TlsOptions tls;
  tls.certificate = inv.value("tls-cert").value_or("");
  tls.key = inv.value("tls-key").value_or("");
  tls.ca_file = inv.value("tls-ca").value_or("");
  if (tls.enabled() && (tls.certificate.empty() || tls.key.empty() || tls.ca_file.empty()))
    return usage_error("TLS needs all three of --tls-cert, --tls-key and --tls-ca");
  return env.connect(*address, tls, *timeout);
}

Result<json> parse_answer(const std::string& kind, const std::string& text) {
  // A node's answer is outside text like any other: bounded before it is parsed (and printed).
  return parse_untrusted_json(text, json_limits::kSnapshot, Errc::invalid_answer,
                              "the node's answer to \"" + kind + "\"");
}

Result<json> request_json(RemoteNode& node, const std::string& kind, const json& body) {
  auto answer = node.request(kind, body.dump());
  if (!answer) return answer.error();
  return parse_answer(kind, *answer);
}

// A node may answer a refused commit with an error or with an audit-like record; both end as an error here.
Result<void> check_commit_answer(const json& answer) {
  if (!answer.is_object()) return ok();
  auto outcome = answer.find("outcome");
  if (outcome == answer.end() || !outcome->is_string() || *outcome != "rejected") return ok();
  auto text = [&](const char* key, const char* fallback) {
    auto it = answer.find(key);
    return it != answer.end() && it->is_string() && !it->get_ref<const std::string&>().empty()
               ? it->get<std::string>()
               : std::string(fallback);
  };
  // Audit records name the reason reason_kind/reason; the node's commit reply names it kind/message.
  const std::string kind = text("reason_kind", "");
  const std::string message = text("reason", "");
  return SdkError::from_wire(kind.empty() ? text("kind", "rejected") : kind,
                             message.empty() ? text("message", "the node rejected the commit") : message);
}

std::string describe_answer(const json& answer) {
  if (answer.is_object()) {
    auto outcome = answer.find("outcome");
    if (outcome != answer.end() && outcome->is_string()) {
      std::string text = outcome->get<std::string>();
      auto audit = answer.find("audit_seq");
      if (audit != answer.end() && audit->is_number_unsigned())
        text += " (audit #" + std::to_string(audit->get<std::uint64_t>()) + ")";
      return text;
    }
  }
  return answer.dump();
}

// ---- commands -------------------------------------------------------------------------------------

// The node's snapshot, for what it names (daemons by id).
Result<MeshOsSnapshot> fetch_snapshot(RemoteNode& node) {
  auto answer = request_json(node, "snapshot", json::object());
  if (!answer) return answer.error();
  return snapshot_from_json(*answer);
}

Result<void> cmd_status(const Invocation& inv, Environment& env, RemoteNode& node) {
  auto answer = request_json(node, "snapshot", json::object());
  if (!answer) return answer.error();
  if (inv.flag("json")) {
    env.out << answer->dump(2) << '\n';
    return ok();
  }
  auto snapshot = snapshot_from_json(*answer);
  if (!snapshot) return snapshot.error();
  auto status = request_json(node, "status", json::object());  // the registry's names for the audit
  if (!status) return status.error();
  env.out << render_status(*snapshot, operator_names(*status), string_field(*status, "name").value_or(""));
  return ok();
}

// The node's audit, oldest first, with the registry's names beside the signers' ids.
Result<void> cmd_audit(const Invocation& inv, Environment& env, RemoteNode& node) {
  std::optional<std::int64_t> since_wall_ms;
  if (auto since = inv.value("since")) {
    auto back = parse_duration(*since);
    if (!back) return invalid_argument("--since: " + back.error().message);
    since_wall_ms = env.wall_clock_ms() - static_cast<std::int64_t>(back->count());
  }
  auto snapshot = fetch_snapshot(node);
  if (!snapshot) return snapshot.error();
  std::vector<AuditRecord> records;
  for (const auto& r : snapshot->audit)
    if (!since_wall_ms || r.wall_ms >= *since_wall_ms) records.push_back(r);
  if (inv.flag("json")) {
    env.out << json{{"audit", records}, {"strangers", snapshot->audit_strangers}}.dump(2) << '\n';
    return ok();
  }
  auto status = request_json(node, "status", json::object());
  if (!status) return status.error();
  env.out << render_audit(records, operator_names(*status), inv.flag("wide"));
  if (snapshot->audit_strangers.total > 0)
    env.out << "(and " << snapshot->audit_strangers.total
            << " refused from strangers, counted only: meshos-ctl status shows them by kind)\n";
  return ok();
}

// --watch prints a snapshot when something in it changed (not its clock), at most once per --interval: a
// change seen sooner is printed with the first snapshot after the interval.
Result<void> cmd_snapshot(const Invocation& inv, Environment& env, RemoteNode& node) {
  if (!inv.flag("watch")) {
    if (inv.value("interval")) return usage_error("--interval goes with --watch");
    auto answer = request_json(node, "snapshot", json::object());
    if (!answer) return answer.error();
    env.out << answer->dump(2) << '\n';
    return ok();
  }
  Millis interval{0};
  if (auto text = inv.value("interval")) {
    auto parsed = parse_duration(*text);
    if (!parsed || parsed->count() <= 0) return usage_error("--interval: expected a positive duration");
    interval = *parsed;
  }
  std::optional<SdkError> failure;
  std::optional<json> last_printed;  // without its clock
  std::int64_t last_printed_ms = 0;
  auto watched = node.watch([&](const std::string& text) {
    auto j = parse_answer("snapshot", text);
    if (!j) {
      failure = j.error();
      return false;
    }
    json content = without_clock_fields(*j);
    if (last_printed && content == *last_printed) return true;
    const std::int64_t now = env.wall_clock_ms();
    if (last_printed && now - last_printed_ms < interval.count()) return true;
    env.out << j->dump() << '\n' << std::flush;
    last_printed = std::move(content);
    last_printed_ms = now;
    return true;
  });
  if (failure) return *failure;
  return watched;
}

Result<void> cmd_logs(const Invocation& inv, Environment& env, RemoteNode& node) {
  auto filter = log_filter_for(inv, env.wall_clock_ms());
  if (!filter) return filter.error();
  std::optional<MeshOsSnapshot> described;  // asked once, when something needs the daemons' names
  if (filter->daemon_name) {
    auto snapshot = fetch_snapshot(node);
    if (!snapshot) return snapshot.error();
    described = std::move(*snapshot);
    for (const auto& [id, d] : described->daemons)
      if (d.name == *filter->daemon_name) filter->daemon = id;
    if (!filter->daemon) return SdkError{Errc::not_found, "--daemon: this node has no daemon named " + *filter->daemon_name};
  }
  const bool as_json = inv.flag("json");
  const bool wide = inv.flag("wide");
  if (!inv.flag("follow")) {
    json body = json::object();
    if (filter->daemon) body["daemon"] = to_hex(*filter->daemon);
    if (filter->min_level) body["level"] = to_string(*filter->min_level);
    auto answer = request_json(node, "logs", body);
    if (!answer) return answer.error();
    if (as_json) {
      env.out << answer->dump(2) << '\n';
      return ok();
    }
    auto records = logs_from_answer(*answer);
    if (!records) return records.error();
    if (!described) {
      auto snapshot = fetch_snapshot(node);
      if (!snapshot) return snapshot.error();
      described = std::move(*snapshot);
    }
    const DaemonNames names = daemon_names(*described);
    // The node filters too; filtering here again keeps the output right whatever the node supports.
    for (const auto& r : *records)
      if (filter->matches(r)) env.out << render_log(r, names, wide) << '\n';
    return ok();
  }
  LogFollower follower(*filter);
  std::optional<SdkError> failure;
  auto watched = node.watch([&](const std::string& text) {
    auto j = parse_answer("snapshot", text);
    auto snapshot = j ? snapshot_from_json(*j) : Result<MeshOsSnapshot>(j.error());
    if (!snapshot) {
      failure = snapshot.error();
      return false;
    }
    auto step = follower.next(*snapshot);
    if (step.epoch_changed && !as_json)
      env.out << "-- node restarted (runtime epoch " << to_hex(snapshot->runtime_epoch) << ") --\n";
    const DaemonNames names = daemon_names(*snapshot);
    for (const auto& r : step.records) {
      if (as_json) {
        env.out << json(r).dump() << '\n';
      } else {
        env.out << render_log(r, names, wide) << '\n';
      }
    }
    env.out << std::flush;
    return true;
  });
  if (failure) return *failure;
  return watched;
}

// The daemons of the whole cluster as the node knows them (its own and its peers'), those offering every tag
// of --capability only.
Result<void> cmd_daemons(const Invocation& inv, Environment& env, RemoteNode& node) {
  CapabilityFilter filter;
  if (auto tags = inv.value("capability")) {
    std::stringstream list(*tags);
    for (std::string tag; std::getline(list, tag, ',');) {
      if (!is_valid_capability_tag(tag)) return usage_error("--capability: '" + tag + "' is not a capability tag");
      filter.required_tags.insert(tag);
    }
  }
  auto snapshot = fetch_snapshot(node);
  if (!snapshot) return snapshot.error();
  const auto found = find_daemons(*snapshot, filter);
  if (inv.flag("json")) {
    json list = json::array();
    for (const auto& d : found) list.push_back(json{{"node", to_hex(d.node)}, {"daemon", d.daemon}});
    env.out << list.dump(2) << '\n';
    return ok();
  }
  env.out << render_daemons(found, snapshot->node_id, inv.flag("wide"), peer_names(*snapshot));
  return ok();
}

Result<void> cmd_peers(const Invocation& inv, Environment& env, RemoteNode& node) {
  auto answer = request_json(node, "peers", json::object());
  if (!answer) return answer.error();
  if (inv.flag("json")) {
    env.out << answer->dump(2) << '\n';
    return ok();
  }
  const json* peers = &*answer;
  if (answer->is_object() && answer->contains("peers")) peers = &(*answer)["peers"];
  if (!peers->is_array()) return invalid_answer("the node's answer to \"peers\" is not a list of peers");
  const json addresses = answer->is_object() ? answer->value("addresses", json::array()) : json::array();
  env.out << render_peers(*peers, peer_addresses(addresses), inv.flag("wide"));
  return ok();
}

Result<void> cmd_admin(const Invocation& inv, Environment& env, RemoteNode& node) {
  // The command line and the key first: nothing is asked or sent for a command that fails anyway.
  auto event = admin_event_for(inv, 0);
  if (!event) return event.error();
  std::optional<EntityKeypair> signer;
  if (inv.value("key")) {
    auto loaded = signer_from(inv);
    if (!loaded) return loaded.error();
    signer = std::move(*loaded);
  }
  // Commits are for one node: the one asked, unless --target names it.
  auto target = commit_target(inv, [&] { return request_json(node, "status", json::object()); });
  if (!target) return target.error();
  if (command_name(inv) == "daemon place" && !inv.value("on")) {
    // The cluster picks, as the node asked sees it: the least loaded node that can take a daemon now.
    auto snapshot = fetch_snapshot(node);
    if (!snapshot) return snapshot.error();
    auto chosen = placement_target(*snapshot);
    if (!chosen) return chosen.error();
    target->node = *chosen;
  }
  std::visit([&](auto& e) { e.node = target->node; }, *event);
  auto body = admin_request_body(*event, signer ? &*signer : nullptr, env.wall_clock_ms(), target->cluster);
  if (!body) return body.error();
  auto answer = request_json(node, "admin", *body);
  if (!answer) return answer.error();
  if (auto refused = check_commit_answer(*answer); !refused) return refused;
  if (inv.flag("json")) {
    env.out << answer->dump(2) << '\n';
    return ok();
  }
  env.out << admin_kind(*event) << ": " << describe_answer(*answer)
          << (signer ? " (signed by operator " + to_hex(signer->origin_hash()) + ")" : std::string(" (unsigned)"))
          << '\n';
  return ok();
}

Result<void> cmd_keygen(const Invocation& inv, Environment& env) {
  auto out = inv.value("out");
  if (!out) return usage_error("keygen needs --out FILE");
  std::string name = inv.value("name").value_or(std::filesystem::path(*out).stem().string());
  if (name.empty()) name = "operator";
  auto keypair = EntityKeypair::generate();
  if (auto written = write_key_file(*out, name, keypair, inv.flag("force")); !written) return written;
  const std::string public_hex = bytes_to_hex(keypair.public_key().data(), keypair.public_key().size());
  if (inv.flag("json")) {
    env.out << json{{"file", *out},
                    {"name", name},
                    {"public_key", public_hex},
                    {"operator_id", to_hex(keypair.origin_hash())},
                    {"node_id", to_hex(keypair.node_id())}}
                   .dump(2)
            << '\n';
    return ok();
  }
  env.out << "wrote " << *out << " (mode 0600; keep it secret)\n"
          << "name         " << name << '\n'
          << "public_key   " << public_hex << '\n'
          << "operator_id  " << to_hex(keypair.origin_hash()) << '\n'
          << "node_id      " << to_hex(keypair.node_id()) << '\n';
  return ok();
}

Result<void> cmd_operator_entry(const Invocation& inv, Environment& env) {
  auto key = load_key_file(inv.command[1]);
  if (!key) return key.error();
  const auto& pk = key->keypair.public_key();
  env.out << json{{"name", key->name}, {"public_key", bytes_to_hex(pk.data(), pk.size())}}.dump(2) << '\n';
  return ok();
}

std::string describe_ice(const SignedIceCommit& c) {
  return json(c.proposal).dump() + " for cluster \"" + c.cluster + "\", issued " +
         format_wall_ms(c.issued_at_ms) + ", " + std::to_string(c.signatures.size()) + " signature(s)";
}

std::string describe_ids(const std::vector<std::uint64_t>& ids, const char* what) {
  std::string text = std::to_string(ids.size()) + " " + what;
  for (std::size_t i = 0; i < ids.size(); ++i) text += (i == 0 ? " " : ", ") + to_hex(ids[i]);
  return text;
}

// The proposal is simulated on the node asked, as it is now, and signed for that radius: the commit must be
// submitted to the same node, which simulates it again and refuses it if the radius changed meanwhile.
Result<void> cmd_ice_propose(const Invocation& inv, Environment& env) {
  auto action = ice_action_for(inv);
  if (!action) return action.error();
  auto out = inv.value("out");
  if (!out) return usage_error("ice propose needs --out FILE");
  auto cluster = cluster_option(inv);
  if (!cluster) return cluster.error();
  auto proposal = ice_proposal(*action, env.wall_clock_ms(), cluster->value_or(kDefaultClusterName));
  if (!proposal) return proposal.error();
  auto node = connect_to_node(inv, env);
  if (!node) return node.error();
  // Without --cluster, the node's cluster, as for admin commits.
  auto target = commit_target(inv, [&] { return request_json(**node, "status", json::object()); });
  if (!target) return target.error();
  proposal->cluster = target->cluster;
  auto seen = fetch_snapshot(**node);
  if (!seen) return seen.error();
  const BlastRadius radius = simulate(*action, *seen);
  proposal->blast_radius_hash = blast_radius_hash(radius);
  const json j = *proposal;
  if (auto written = write_text_file(*out, j.dump(2) + "\n", /*replace=*/false); !written) return written;
  if (inv.flag("json")) {
    env.out << json{{"proposal", j}, {"node", to_hex(seen->node_id)}, {"blast_radius", radius}}.dump(2) << '\n';
    return ok();
  }
  env.out << "wrote " << *out << ": " << describe_ice(*proposal) << '\n'
          << "blast radius at node " << to_hex(seen->node_id) << ": " << describe_ids(radius.nodes, "node(s)") << "; "
          << describe_ids(radius.daemons, "daemon(s)") << "; " << describe_ids(radius.peers, "avoided peer(s)")
          << '\n'
          << "next: each operator runs `meshos-ctl ice sign " << *out
          << " --key KEYFILE`, then `meshos-ctl ice submit " << *out
          << "` to the same node (before the node's freshness window closes)\n";
  return ok();
}

Result<void> cmd_ice_sign(const Invocation& inv, Environment& env) {
  const std::string& path = inv.command[2];
  auto signer = signer_from(inv);
  if (!signer) return signer.error();
  auto commit = read_proposal(path);
  if (!commit) return commit.error();
  if (auto added = add_ice_signature(*commit, *signer); !added) return added;
  const json j = *commit;
  if (auto written = write_text_file(path, j.dump(2) + "\n", /*replace=*/true); !written) return written;
  if (inv.flag("json")) {
    env.out << j.dump(2) << '\n';
    return ok();
  }
  env.out << "signed " << path << " as operator " << to_hex(signer->origin_hash()) << ": " << describe_ice(*commit)
          << '\n';
  return ok();
}

Result<void> cmd_ice_submit(const Invocation& inv, Environment& env, RemoteNode& node) {
  auto commit = read_proposal(inv.command[2]);
  if (!commit) return commit.error();
  if (commit->signatures.empty())
    return SdkError{Errc::insufficient_signatures, inv.command[2] + " carries no signature yet (meshos-ctl ice sign)"};
  auto answer = request_json(node, "ice", json(*commit));
  if (!answer) return answer.error();
  if (auto refused = check_commit_answer(*answer); !refused) return refused;
  if (inv.flag("json")) {
    env.out << answer->dump(2) << '\n';
    return ok();
  }
  env.out << ice_kind(commit->proposal) << ": " << describe_answer(*answer) << '\n';
  return ok();
}

// A causal event for a daemon anywhere in the cluster (by id or name), through the node asked: `send` returns
// once the daemon's node took it, `call` prints the daemon's outputs, one per line (--json: with their hex).
Result<void> cmd_work(const Invocation& inv, Environment& env, RemoteNode& node, bool call) {
  json body{{"daemon", inv.command.at(1)}};
  if (inv.flag("hex")) {
    Bytes payload;
    if (!hex_to_bytes(inv.command.at(2), payload)) return usage_error("--hex: PAYLOAD must be hex digits");
    body["payload_hex"] = inv.command.at(2);
  } else {
    body["payload"] = inv.command.at(2);
  }
  auto bound = timeout_of(inv);
  if (!bound) return bound.error();
  const Millis timeout = std::min<Millis>(*bound, Millis(60'000));  // what a node grants a call at most
  if (call) body["timeout_ms"] = timeout.count();
  auto answer = node.request(call ? "process" : "deliver", body.dump(), timeout + std::chrono::seconds(5));
  if (!answer) return answer.error();
  auto j = parse_answer(call ? "process" : "deliver", *answer);
  if (!j) return j.error();
  if (inv.flag("json")) {
    env.out << j->dump(2, ' ', false, json::error_handler_t::replace) << '\n';
    return ok();
  }
  if (!call) {
    env.out << "sent to " << inv.command.at(1) << '\n';
    return ok();
  }
  if (j->contains("outputs") && (*j)["outputs"].is_array())
    for (const auto& o : (*j)["outputs"]) env.out << o.value("text", std::string()) << '\n';
  return ok();
}

// ---- contexts (ctl_contexts.hpp) ---------------------------------------------------------------------

std::string env_value(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

// The ctl config file, when there is one.
Result<std::optional<CtlConfigFile>> read_ctl_config() {
  const auto [path, must_exist] = ctl_config_location();
  if (path.empty()) return std::optional<CtlConfigFile>();
  std::error_code ec;
  if (!must_exist && !std::filesystem::exists(path, ec)) return std::optional<CtlConfigFile>();
  auto file = load_ctl_config(path);
  if (!file) return file.error();
  return std::optional<CtlConfigFile>(std::move(*file));
}

std::string context_names(const CtlConfigFile& file) {
  std::vector<std::string> names;
  for (const auto& c : file.contexts) names.push_back(c.name);
  return names.empty() ? std::string("none") : join(names, ", ");
}

// --context, else MESHOS_CONTEXT, else the file's [ctl] context: its values fill in the options the command
// line leaves out (and MESHOS_NODE, when set, still picks the node).
Result<void> apply_context(Invocation& inv) {
  std::string chosen = inv.value("context").value_or(env_value("MESHOS_CONTEXT"));
  auto file = read_ctl_config();
  if (!file) return file.error();
  if (!*file) {
    if (chosen.empty()) return ok();
    const std::string where = ctl_config_location().first;
    return usage_error("context \"" + chosen + "\": there is no ctl config file" +
                       (where.empty() ? std::string() : " (" + where + ")"));
  }
  if (chosen.empty()) chosen = (*file)->current;
  if (chosen.empty()) return ok();
  const CtlContext* context = (*file)->find(chosen);
  if (context == nullptr)
    return usage_error("context \"" + chosen + "\" is not in " + (*file)->path + " (it has: " + context_names(**file) + ")");
  for (const auto& [option, value] : context->values) {
    if (inv.values.count(option) != 0) continue;
    if (option == "node" && !env_value("MESHOS_NODE").empty()) continue;
    inv.values[option] = value;
  }
  return ok();
}

Result<void> cmd_config(const Invocation& inv, Environment& env) {
  auto file = read_ctl_config();
  if (!file) return file.error();
  const std::string chosen = inv.value("context").value_or(env_value("MESHOS_CONTEXT"));
  const std::string current = !chosen.empty() ? chosen : *file ? (*file)->current : std::string();
  if (command_name(inv) == "config current-context") {
    if (current.empty()) return SdkError{Errc::not_found, "no current context (--context, MESHOS_CONTEXT or [ctl] context)"};
    env.out << current << '\n';
    return ok();
  }
  if (!*file) {
    const std::string where = ctl_config_location().first;
    return SdkError{Errc::config_not_found, "no ctl config file" + (where.empty() ? std::string() : " at " + where)};
  }
  if (inv.flag("json")) {
    json list = json::array();
    for (const auto& c : (*file)->contexts) list.push_back(json{{"name", c.name}, {"current", c.name == current}, {"values", c.values}});
    env.out << json{{"file", (*file)->path}, {"contexts", list}}.dump(2) << '\n';
    return ok();
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& c : (*file)->contexts) {
    auto value = [&](const char* option) {
      auto it = c.values.find(option);
      return it != c.values.end() ? it->second : std::string("-");
    };
    rows.push_back({c.name == current ? "*" : "", c.name, value("node"), value("key"),
                    c.values.count("tls-cert") != 0 ? "yes" : "no"});
  }
  env.out << render_table({"CURRENT", "NAME", "NODE", "KEY", "TLS"}, rows);
  return ok();
}

Result<void> dispatch(const Invocation& inv, Environment& env) {
  const std::string name = command_name(inv);
  if (name == "keygen") return cmd_keygen(inv, env);
  if (name == "operator-entry") return cmd_operator_entry(inv, env);
  if (name == "ice propose") return cmd_ice_propose(inv, env);
  if (name == "ice sign") return cmd_ice_sign(inv, env);
  if (name == "config get-contexts" || name == "config current-context") return cmd_config(inv, env);

  auto node = connect_to_node(inv, env);
  if (!node) return node.error();
  if (name == "status") return cmd_status(inv, env, **node);
  if (name == "snapshot") return cmd_snapshot(inv, env, **node);
  if (name == "logs") return cmd_logs(inv, env, **node);
  if (name == "peers") return cmd_peers(inv, env, **node);
  if (name == "audit") return cmd_audit(inv, env, **node);
  if (name == "daemons") return cmd_daemons(inv, env, **node);
  if (name == "send" || name == "call") return cmd_work(inv, env, **node, name == "call");
  if (name == "ice submit") return cmd_ice_submit(inv, env, **node);
  return cmd_admin(inv, env, **node);
}

std::string health_text(const std::optional<DaemonHealth>& health) {
  if (!health) return "unknown";
  if (const auto* degraded = std::get_if<health::Degraded>(&*health))
    return degraded->reason.empty() ? "degraded" : "degraded (" + degraded->reason + ")";
  return health_kind(*health);
}

// Each operator as "name (id)" when the registry names it, else its id.
std::string ids_text(const std::vector<OperatorId>& ids, const OperatorNames& names) {
  std::vector<std::string> shown;
  for (OperatorId id : ids) {
    auto named = names.find(id);
    shown.push_back(named != names.end() ? named->second + " (" + to_hex(id) + ")" : to_hex(id));
  }
  return join(shown, ",");
}

// "by" names operators whose signatures verified; anyone else only "claimed" to sign.
std::string signers_text(const AuditRecord& a, const OperatorNames& names) {
  if (!a.operators.empty()) return "by " + ids_text(a.operators, names);
  if (a.claimed == std::vector<OperatorId>{0}) return "unsigned";
  if (!a.claimed.empty()) return "claimed by " + ids_text(a.claimed, names) + " (unverified)";
  return "by -";
}

std::string event_text(const AuditRecord& a) { return a.event.empty() ? std::string("(undecodable)") : a.event; }

std::string reason_text(const AuditRecord& a) {
  if (a.reason.empty()) return a.reason_kind;
  return a.reason_kind.empty() ? a.reason : a.reason_kind + ": " + a.reason;
}

std::string audit_line(const AuditRecord& a, const OperatorNames& names) {
  std::string line = "#" + std::to_string(a.seq) + "  " + format_wall_ms(a.wall_ms) + "  " + a.commit + " " +
                     event_text(a) + "  " + signers_text(a, names);
  line += "  " + a.outcome;
  if (a.mirrored_for != 0) line += " for node " + to_hex(a.mirrored_for);
  if (a.relayed_from != 0) line += " (relayed by " + to_hex(a.relayed_from) + ")";
  if (const std::string reason = reason_text(a); !reason.empty()) line += " " + reason;
  return line;
}

std::string pad(std::string text, std::size_t width) {
  if (text.size() < width) text.append(width - text.size(), ' ');
  return text;
}

std::string number_text(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", decimals, value);
  return text;
}

}  // namespace

// ---- usage and arguments --------------------------------------------------------------------------

std::string usage_text() {
  std::ostringstream text;
  text << "usage: meshos-ctl [--context NAME] [--node HOST:PORT] [-o text|wide|json] [--tls-cert F --tls-key F --tls-ca F] [--key KEYFILE]\n"
          "                  [--target NODE_HEX] [--cluster NAME] <command>     (or --help, --version)\n"
          "\ncommands:\n";
  for (const auto& spec : command_specs()) text << "  " << spec.synopsis << '\n';
  text << "\nice propose ACTION is one of: freeze --ttl DURATION | thaw |\n"
          "  flush-avoid [global | local NODE_HEX | peer PEER_HEX] (every node's list, one node's, one peer off all) |\n"
          "  force-restart DAEMON_ID |\n"
          "  kill-migration MIGRATION_ID (ids in hex, as the snapshot shows them).\n"
          "daemon place KIND: the node named by --on (else the least loaded node of the cluster that can take one,\n"
          "  as the node asked sees it) builds a daemon named KIND from its factory and runs it; a draining node\n"
          "  moves such daemons to a peer. daemon start NAME does the same where no daemon NAME runs yet.\n"
          "Durations: 250ms, 10s, 5min, 1h. Admin commands are signed with --key when given, else sent unsigned\n"
          "(accepted only by nodes without an operator registry). A commit names the node and the cluster it is\n"
          "for: --target and --cluster default to what the node's status says (the cluster to \"meshos\" when it\n"
          "names none); ice propose signs for --cluster, \"meshos\" by default.\n"
          "send / call: DAEMON is a daemon's id (16 hex digits) or name, on any node of the cluster; PAYLOAD is\n"
          "text (--hex: hex digits). call prints the daemon's outputs, one per line.\n"
          "Contexts: --context NAME (or MESHOS_CONTEXT, or the file's [ctl] context) takes --node, --tls-*, --key,\n"
          "  --cluster and --timeout from a context of the ctl config file ($MESHOS_CTL_CONFIG, else\n"
          "  $XDG_CONFIG_HOME/meshos/ctl.conf or ~/.config/meshos/ctl.conf); options given and MESHOS_NODE win.\n"
          "Output: -o text (tables with headers; daemons, operators and peers by name or address beside their\n"
          "ids), -o wide (more columns), -o json (the node's answer; --json is the same).\n"
          "Errors: one line on stderr (meshos-ctl: KIND: message), exit 2 for usage errors, 1 for failures.\n";
  return text.str();
}

std::optional<std::string> Invocation::value(const std::string& name) const {
  auto it = values.find(name);
  if (it == values.end()) return std::nullopt;
  return it->second;
}

Result<Invocation> parse_arguments(const std::vector<std::string>& args) {
  Invocation inv;
  bool options_done = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (options_done || arg.size() < 2 || arg[0] != '-') {
      inv.command.push_back(arg);
      continue;
    }
    if (arg == "--") {
      options_done = true;
      continue;
    }
    if (arg == "-h") {
      inv.flags.insert("help");
      continue;
    }
    // -o json (kubectl's habit) is --json; -o text the default.
    if (arg == "-o" || arg.rfind("--output", 0) == 0) {
      std::string format;
      if (arg.rfind("--output=", 0) == 0) {
        format = arg.substr(9);
      } else if (arg == "-o" || arg == "--output") {
        if (i + 1 >= args.size()) return usage_error(arg + " needs json, wide or text");
        format = args[++i];
      } else {
        return usage_error("unknown option " + arg + " (see meshos-ctl --help)");
      }
      if (format == "json" || format == "wide") {
        inv.flags.insert(format);
      } else if (format != "text") {
        return usage_error(arg + ": \"" + format + "\" is none of json, wide, text");
      }
      continue;
    }
    if (arg.compare(0, 2, "--") != 0) return usage_error("unknown option " + arg + " (see meshos-ctl --help)");
    std::string name = arg.substr(2);
    std::optional<std::string> inline_value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name.resize(eq);
    }
    if (kFlagOptions.count(name) != 0) {
      if (inline_value) return usage_error("--" + name + " takes no value");
      inv.flags.insert(name);
    } else if (kValueOptions.count(name) != 0) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return usage_error("--" + name + " needs a value");
        inline_value = args[++i];
      }
      if (!inv.values.emplace(name, *inline_value).second) return usage_error("--" + name + " given twice");
    } else {
      return usage_error("unknown option --" + name + " (see meshos-ctl --help)");
    }
  }
  if (inv.flag("help") || inv.flag("version")) return inv;

  if (inv.command.empty()) return usage_error("no command given (see meshos-ctl --help)");
  const CommandSpec* spec = find_spec(inv.command);
  if (spec == nullptr) {
    const std::string group = subcommands_of(inv.command[0]);
    if (!group.empty())
      return usage_error(inv.command[0] + ": expected one of " + group +
                         (inv.command.size() > 1 ? " (not \"" + inv.command[1] + "\")" : std::string()));
    return usage_error("unknown command \"" + inv.command[0] + "\" (see meshos-ctl --help)");
  }
  const std::size_t arg_count = inv.command.size() - spec->words.size();
  if (arg_count < spec->min_args || arg_count > spec->max_args)
    return usage_error("usage: meshos-ctl " + std::string(spec->synopsis));
  auto allowed = [&](const std::string& option) {
    return kGlobalOptions.count(option) != 0 || spec->options.count(option) != 0;
  };
  for (const auto& kv : inv.values)
    if (!allowed(kv.first)) return usage_error(join(spec->words) + " does not take --" + kv.first);
  for (const auto& f : inv.flags)
    if (!allowed(f)) return usage_error(join(spec->words) + " does not take --" + f);
  return inv;
}

// ---- building what is sent ------------------------------------------------------------------------

// --target, or --on for daemon place: the node the commit is for.
Result<std::optional<NodeId>> target_node(const Invocation& inv) {
  const char* option = inv.value("on") ? "on" : "target";
  auto text = inv.value(option);
  if (!text) return std::optional<NodeId>();
  NodeId id = 0;
  if (!parse_hex_u64(*text, id))
    return invalid_argument("--" + std::string(option) + ": expected a node id in hex (1 to 16 digits)");
  if (id == 0) return invalid_argument("--" + std::string(option) + ": 0 is no node; name the node the commit is for");
  return std::optional<NodeId>(id);
}

Result<std::optional<std::string>> cluster_option(const Invocation& inv) {
  auto name = inv.value("cluster");
  if (!name) return std::optional<std::string>();
  if (auto valid = check_cluster_name(*name); !valid) return invalid_argument("--cluster: " + valid.error().message);
  return name;
}

Result<CommitTarget> commit_target(const Invocation& inv, const std::function<Result<nlohmann::json>()>& status) {
  auto node = target_node(inv);
  if (!node) return node.error();
  auto cluster = cluster_option(inv);
  if (!cluster) return cluster.error();
  CommitTarget target;
  target.cluster = cluster->value_or(kDefaultClusterName);
  if (*node && *cluster) {
    target.node = **node;
    return target;
  }
  auto answer = status();
  if (!answer) return answer.error();
  if (*node) {
    target.node = **node;
  } else {
    auto id = string_field(*answer, "node_id");
    if (!id || id->size() != 16 || !parse_hex_u64(*id, target.node) || target.node == 0)
      return invalid_answer("the node's answer to \"status\" names no node id (\"node_id\": 16 hex digits)");
  }
  if (!*cluster) {
    auto named = string_field(*answer, "cluster");
    if (named) {
      if (!check_cluster_name(*named)) return invalid_answer("the node's answer to \"status\" names a bad cluster");
      target.cluster = *named;
    }
  }
  return target;
}

Result<AdminEvent> admin_event_for(const Invocation& inv, NodeId target) {
  const std::string name = command_name(inv);
  // drain is kubectl's word for it: the node enters maintenance, its daemons drain (or move) within the deadline.
  if (name == "maintenance enter" || name == "drain") {
    const std::string option = name == "drain" ? "deadline" : "drain-for";
    admin::EnterMaintenance enter{target, std::nullopt};
    if (auto text = inv.value(option)) {
      auto duration = parse_duration(*text);
      if (!duration) return invalid_argument("--" + option + ": " + duration.error().message);
      if (duration->count() < 0) return invalid_argument("--" + option + ": must not be negative");
      enter.drain_for_ms = static_cast<std::uint64_t>(duration->count());
    }
    return AdminEvent{enter};
  }
  if (name == "maintenance exit") return AdminEvent{admin::ExitMaintenance{target}};
  if (name == "cordon") return AdminEvent{admin::Cordon{target}};
  if (name == "uncordon") return AdminEvent{admin::Uncordon{target}};
  if (name == "restart-daemons") return AdminEvent{admin::RestartAllDaemons{target}};
  if (name == "daemon start" || name == "daemon stop" || name == "daemon place" || name == "daemon restart") {
    const std::string& daemon = inv.command.at(2);
    if (daemon.empty()) return invalid_argument(name + ": the daemon name must not be empty");
    if (name == "daemon restart") return AdminEvent{admin::RestartDaemon{target, daemon}};
    // Placing is starting a daemon of that name where there is none: the node builds it from its factory.
    return AdminEvent{admin::SetDaemonIntent{target, daemon, name != "daemon stop"}};
  }
  return usage_error("\"" + name + "\" is not an admin command");
}

Result<nlohmann::json> admin_request_body(const AdminEvent& event, const EntityKeypair* signer,
                                          std::int64_t now_wall_ms, const std::string& cluster) {
  if (signer == nullptr) return json{{"unsigned", event}};
  auto commit = sign_admin(*signer, now_wall_ms, event, cluster);
  if (!commit) return commit.error();
  return json(*commit);
}

namespace {

// flush-avoid [global | local NODE_HEX | peer PEER_HEX]: every node's avoid list, one node's, or one peer off all.
Result<IceAction> flush_avoid_for(const Invocation& inv) {
  const std::vector<std::string> words(inv.command.begin() + 3, inv.command.end());
  if (inv.value("ttl")) return usage_error("--ttl belongs to ice propose freeze only");
  if (words.empty() || (words.size() == 1 && words[0] == "global")) return IceAction{ice::FlushAvoidLists{}};
  if (words.size() != 2 || (words[0] != "local" && words[0] != "peer"))
    return usage_error("ice propose flush-avoid [global | local NODE_HEX | peer PEER_HEX]");
  std::uint64_t id = 0;
  if (!parse_hex_u64(words[1], id) || id == 0)
    return invalid_argument("ice propose flush-avoid " + words[0] + ": \"" + words[1] + "\" is not a node id (hex)");
  if (words[0] == "local") return IceAction{ice::FlushAvoidLists{avoid_scope::Local{id}}};
  return IceAction{ice::FlushAvoidLists{avoid_scope::OnPeer{id}}};
}

}  // namespace

Result<IceAction> ice_action_for(const Invocation& inv) {
  if (inv.command.size() < 3 || command_name(inv) != "ice propose")
    return usage_error("usage: meshos-ctl ice propose ACTION --out FILE");
  const std::string& action = inv.command[2];
  if (action == "flush-avoid") return flush_avoid_for(inv);
  const std::optional<std::string> argument =
      inv.command.size() > 3 ? std::optional<std::string>(inv.command[3]) : std::nullopt;
  if (inv.command.size() > 4) return usage_error("ice propose " + action + " takes at most one argument");
  const bool takes_argument = action == "force-restart" || action == "kill-migration";
  if (action != "freeze" && action != "thaw" && action != "flush-avoid" && !takes_argument)
    return usage_error("ice propose: unknown action \"" + action +
                       "\" (freeze, thaw, flush-avoid, force-restart, kill-migration)");
  if (takes_argument && !argument) return usage_error("ice propose " + action + " needs an id (hex)");
  if (!takes_argument && argument) return usage_error("ice propose " + action + " takes no argument");
  if (action != "freeze" && inv.value("ttl")) return usage_error("--ttl belongs to ice propose freeze only");

  if (action == "freeze") {
    auto ttl_text = inv.value("ttl");
    if (!ttl_text) return usage_error("ice propose freeze needs --ttl DURATION");
    auto ttl = parse_duration(*ttl_text);
    if (!ttl) return invalid_argument("--ttl: " + ttl.error().message);
    if (ttl->count() <= 0) return invalid_argument("--ttl: must be longer than 0 ms");
    return IceAction{ice::FreezeCluster{static_cast<std::uint64_t>(ttl->count())}};
  }
  if (action == "thaw") return IceAction{ice::ThawCluster{}};
  std::uint64_t id = 0;
  if (!parse_hex_u64(*argument, id))
    return invalid_argument("ice propose " + action + ": \"" + *argument + "\" is not a hex id (1 to 16 digits)");
  if (action == "force-restart") return IceAction{ice::ForceRestartDaemon{id}};
  return IceAction{ice::KillMigration{id}};
}

Result<SignedIceCommit> ice_proposal(const IceAction& action, std::int64_t now_wall_ms, const std::string& cluster) {
  if (auto valid = check_cluster_name(cluster); !valid) return invalid_argument("--cluster: " + valid.error().message);
  return SignedIceCommit{now_wall_ms, BlastRadiusHash{}, action, {}, cluster};
}

Result<void> add_ice_signature(SignedIceCommit& commit, const EntityKeypair& signer) {
  const OperatorId id = signer.origin_hash();
  for (const auto& s : commit.signatures)
    if (s.operator_id == id) return SdkError{Errc::already_signed, "operator " + to_hex(id) + " has signed this proposal already"};
  auto signature = sign_ice(signer, commit.issued_at_ms, commit.blast_radius_hash, commit.proposal, commit.cluster);
  if (!signature) return signature.error();
  commit.signatures.push_back(*signature);
  return ok();
}

// ---- rendering ------------------------------------------------------------------------------------

std::string format_ms(std::uint64_t ms) {
  if (ms < 1000) return std::to_string(ms) + " ms";
  if (ms < 60'000) return number_text(static_cast<double>(ms) / 1000.0, 1) + " s";
  const std::uint64_t seconds = ms / 1000;
  if (seconds < 3600) return std::to_string(seconds / 60) + " min " + std::to_string(seconds % 60) + " s";
  return std::to_string(seconds / 3600) + " h " + std::to_string((seconds % 3600) / 60) + " min";
}

std::string describe_inventory(const NodeInventory& inv) {
  constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;
  return "load " + number_text(inv.cpu_load_1m, 2) + ", memory " +
         number_text(static_cast<double>(inv.memory_used_bytes) / kGiB, 1) + "/" +
         number_text(static_cast<double>(inv.memory_total_bytes) / kGiB, 1) + " GiB";
}

std::string describe_maintenance(const MaintenanceStateView& v) {
  std::string text = to_string(kind_of(v));
  std::visit(
      [&](const auto& state) {
        using State = std::decay_t<decltype(state)>;
        if constexpr (!std::is_same_v<State, view::Active>) text += " for " + format_ms(state.since_ms);
        if constexpr (std::is_same_v<State, view::EnteringMaintenance>) {
          if (state.deadline_remaining_ms) text += ", drain deadline in " + format_ms(*state.deadline_remaining_ms);
        }
        if constexpr (std::is_same_v<State, view::DrainFailed>) {
          if (!state.reason.empty()) text += ": " + state.reason;
        }
      },
      v);
  return text;
}

std::string render_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows,
                         const std::string& indent) {
  std::vector<std::size_t> widths(headers.size());
  for (std::size_t c = 0; c < headers.size(); ++c) widths[c] = headers[c].size();
  for (const auto& row : rows)
    for (std::size_t c = 0; c < row.size() && c < widths.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  std::ostringstream out;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string text = indent;
    for (std::size_t c = 0; c < headers.size(); ++c) {
      const std::string cell = c < cells.size() ? cells[c] : std::string();
      text += c + 1 < headers.size() ? pad(cell, widths[c] + 3) : cell;
    }
    while (!text.empty() && text.back() == ' ') text.pop_back();
    out << text << '\n';
  };
  line(headers);
  for (const auto& row : rows) line(row);
  return out.str();
}

std::map<NodeId, std::string> peer_addresses(const nlohmann::json& addresses) {
  std::map<NodeId, std::string> out;
  if (!addresses.is_array()) return out;
  for (const auto& a : addresses) {
    auto address = string_field(a, "address");
    auto node = string_field(a, "node");
    NodeId id = 0;
    if (address && node && parse_hex_u64(*node, id)) out[id] = *address;
  }
  return out;
}

std::string render_peers(const nlohmann::json& peers, const std::map<NodeId, std::string>& addresses, bool wide,
                         const std::string& indent) {
  if (!peers.is_array() || peers.empty()) return indent + "(none)\n";
  auto text = [](const json& p, const char* key) { return string_field(p, key).value_or("-"); };
  std::vector<std::string> headers = {"NODE", "NAME", "ADDRESS", "HEALTH", "RTT", "MAINTENANCE"};
  if (wide) headers.insert(headers.end(), {"VERSION", "SEEN", "DAEMONS", "INVENTORY", "CAPABILITIES"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : peers) {
    if (!p.is_object()) continue;
    NodeId id = 0;
    const std::string node = text(p, "node");
    auto address = parse_hex_u64(node, id) ? addresses.find(id) : addresses.end();
    auto rtt = p.find("rtt_ms");
    std::string maintenance = "-";
    auto m = p.find("maintenance");
    if (m != p.end() && m->is_object()) {
      auto view = maintenance_view_from_json(*m);
      maintenance = view ? describe_maintenance(*view) : text(*m, "state");
    }
    const std::string name = string_field(p, "name").value_or("");
    std::vector<std::string> row = {node, name.empty() ? "-" : name,
                                    address != addresses.end() ? address->second : "-", text(p, "health"),
                                    rtt != p.end() && rtt->is_number() ? number_text(rtt->get<double>(), 2) + " ms" : "-",
                                    maintenance};
    if (wide) {
      auto seen = p.find("last_seen_ms");
      auto daemons = p.find("daemons");
      std::vector<std::string> tags;
      auto capabilities = p.find("capability_tags");
      if (capabilities != p.end() && capabilities->is_array())
        for (const auto& t : *capabilities)
          if (t.is_string()) tags.push_back(t.get<std::string>());
      std::string inventory = "-";
      if (auto i = p.find("inventory"); i != p.end() && i->is_object())
        if (auto read = inventory_from_json(*i)) inventory = describe_inventory(*read);
      row.insert(row.end(),
                 {text(p, "version"),
                  seen != p.end() && seen->is_number_unsigned() ? format_ms(seen->get<std::uint64_t>()) + " ago" : "-",
                  daemons != p.end() && daemons->is_array() ? std::to_string(daemons->size()) : "-", inventory,
                  tags.empty() ? "-" : join(tags, ",")});
    }
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows, indent);
}

std::string render_daemons(const std::vector<DaemonLocation>& found, NodeId this_node, bool wide,
                           const std::map<NodeId, std::string>& node_names) {
  if (found.empty()) return "(no daemon matches)\n";
  std::vector<std::string> headers = {"NODE", "DAEMON", "NAME", "STATE", "CAPABILITIES"};
  if (wide) headers.push_back("METADATA");
  std::vector<std::vector<std::string>> rows;
  for (const auto& d : found) {
    std::vector<std::string> tags(d.daemon.capabilities.tags.begin(), d.daemon.capabilities.tags.end());
    auto named = node_names.find(d.node);
    std::string node = to_hex(d.node) + (named != node_names.end() ? " " + named->second : "");
    if (d.node == this_node) node += " (this node)";
    std::vector<std::string> row = {node, to_hex(d.daemon.id),
                                    d.daemon.name, d.daemon.running ? "running" : "stopped",
                                    tags.empty() ? "-" : join(tags, ",")};
    if (wide) {
      std::vector<std::string> pairs;
      for (const auto& [key, value] : d.daemon.capabilities.metadata) pairs.push_back(key + "=" + value);
      row.push_back(pairs.empty() ? "-" : join(pairs, ","));
    }
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows);
}

std::string render_audit(const std::vector<AuditRecord>& records, const OperatorNames& names, bool wide) {
  if (records.empty()) return "(no audit record)\n";
  std::vector<std::string> headers = {"SEQ", "TIME", "COMMIT", "EVENT", "SIGNED", "OUTCOME", "REASON"};
  if (wide) headers.insert(headers.end(), {"RELAYED-BY", "FOR-NODE"});
  std::vector<std::vector<std::string>> rows;
  for (const auto& a : records) {
    const std::string reason = reason_text(a);
    std::vector<std::string> row = {std::to_string(a.seq), format_wall_ms(a.wall_ms), a.commit, event_text(a),
                                    signers_text(a, names), a.outcome, reason.empty() ? "-" : reason};
    if (wide) {
      row.push_back(a.relayed_from != 0 ? to_hex(a.relayed_from) : "-");
      row.push_back(a.mirrored_for != 0 ? to_hex(a.mirrored_for) : "-");
    }
    rows.push_back(std::move(row));
  }
  return render_table(headers, rows);
}

std::string render_status(const MeshOsSnapshot& s, const OperatorNames& names, const std::string& node_name,
                          std::size_t audit_records) {
  std::ostringstream out;
  out << "node " << to_hex(s.node_id) << (node_name.empty() ? "" : " " + node_name) << "  (snapshot #" << s.seq << " at " << format_wall_ms(s.wall_ms)
      << ", runtime epoch " << to_hex(s.runtime_epoch) << ")\n";
  out << "maintenance: " << describe_maintenance(s.local_maintenance);
  if (s.cordoned) out << "  [cordoned]";
  if (s.freeze_remaining_ms) out << "  [cluster frozen, " << format_ms(*s.freeze_remaining_ms) << " left]";
  out << '\n';
  if (s.inventory)
    out << "inventory: " << describe_inventory(s.inventory->inventory) << "  (" << format_ms(s.inventory->age_ms)
        << " ago)\n";

  out << "daemons (" << s.daemons.size() << "):\n";
  if (s.daemons.empty()) out << "  (none)\n";
  std::size_t name_width = 4;
  for (const auto& kv : s.daemons) name_width = std::max(name_width, kv.second.name.size());
  for (const auto& kv : s.daemons) {
    const DaemonSnapshot& d = kv.second;
    out << "  " << pad(d.name, name_width) << "  " << to_hex(d.id) << "  " << pad(to_string(d.lifecycle), 8)
        << "  intent " << to_string(d.intent) << "  health " << health_text(d.health) << "  restart "
        << to_string(d.restart);
    if (auto in = s.restart_in_ms(d)) out << " in " << format_ms(*in);
    out << "  crashes " << d.consecutive_crashes << "/" << d.total_crashes;
    if (auto up = s.running_for_ms(d)) out << "  up " << format_ms(*up);
    if (!d.last_crash_reason.empty()) out << "  last crash: " << d.last_crash_reason;
    out << '\n';
  }

  out << "peers (" << s.peers.size() << "):\n";
  json peers = json::array();
  for (const auto& kv : s.peers) peers.push_back(kv.second);
  out << render_peers(peers, {}, false, "  ");

  if (!s.avoid.empty()) {
    out << "avoiding (" << s.avoid.size() << "):\n";
    const auto peers_named = peer_names(s);
    for (const auto& a : s.avoid)
      out << "  " << to_hex(a.peer) << (peers_named.count(a.peer) != 0 ? " " + peers_named.at(a.peer) : "") << "  "
          << a.reason << "  (" << format_ms(a.remaining_ms) << " left)\n";
  }

  const std::size_t shown = std::min(audit_records, s.audit.size());
  out << "audit (last " << shown << " of " << s.audit.size() << "):\n";
  if (shown == 0) out << "  (none)\n";
  for (std::size_t i = s.audit.size() - shown; i < s.audit.size(); ++i)
    out << "  " << audit_line(s.audit[i], names) << '\n';
  const StrangerRejects& strangers = s.audit_strangers;
  if (strangers.total > 0) {
    std::vector<std::string> kinds;
    for (const auto& [kind, count] : strangers.by_kind) kinds.push_back(kind + " " + std::to_string(count));
    out << "refused from strangers (no registered operator's signature): " << strangers.total << " ("
        << join(kinds, ", ") << ")\n";
    if (strangers.last) out << "  last: " << audit_line(*strangers.last, names) << '\n';
  }
  return out.str();
}

std::string render_log(const LogRecord& r, const DaemonNames& names, bool wide) {
  std::string source = "node";
  if (r.daemon_id) {
    auto named = names.find(*r.daemon_id);
    if (named == names.end()) {
      source = to_hex(*r.daemon_id);
    } else {
      source = wide ? named->second + " (" + to_hex(*r.daemon_id) + ")" : named->second;
    }
  }
  return "#" + std::to_string(r.seq) + "  " + format_wall_ms(r.wall_ms) + "  " + pad(to_string(r.level), 5) + "  " +
         pad(source, 16) + "  " + r.message;
}

std::map<NodeId, std::string> peer_names(const MeshOsSnapshot& s) {
  std::map<NodeId, std::string> names;
  for (const auto& [id, p] : s.peers)
    if (!p.name.empty()) names[id] = p.name;
  return names;
}

DaemonNames daemon_names(const MeshOsSnapshot& s) {
  DaemonNames names;
  for (const auto& [id, d] : s.daemons) names[id] = d.name;
  return names;
}

OperatorNames operator_names(const nlohmann::json& status) {
  OperatorNames names;
  auto list = status.is_object() ? status.find("operators") : status.end();
  if (!status.is_object() || list == status.end() || !list->is_array()) return names;
  for (const auto& entry : *list) {
    auto id_text = string_field(entry, "id");
    auto name = string_field(entry, "name");
    OperatorId id = 0;
    if (id_text && name && parse_hex_u64(*id_text, id)) names[id] = *name;
  }
  return names;
}

// ---- logs -----------------------------------------------------------------------------------------

bool LogFilter::matches(const LogRecord& r) const {
  if (daemon && r.daemon_id != daemon) return false;
  if (min_level && static_cast<int>(r.level) < static_cast<int>(*min_level)) return false;
  if (since_wall_ms && r.wall_ms < *since_wall_ms) return false;
  return true;
}

Result<LogFilter> log_filter_for(const Invocation& inv, std::int64_t now_wall_ms) {
  LogFilter filter;
  if (auto daemon = inv.value("daemon")) {
    // An id in hex (as the snapshot shows it), else a daemon's name (a name of hex digits only: give its id).
    DaemonId id = 0;
    if (parse_hex_u64(*daemon, id)) {
      filter.daemon = id;
    } else if (daemon->empty()) {
      return invalid_argument("--daemon: expected a daemon's name or id");
    } else {
      filter.daemon_name = *daemon;
    }
  }
  if (auto since = inv.value("since")) {
    auto back = parse_duration(*since);
    if (!back) return invalid_argument("--since: " + back.error().message);
    filter.since_wall_ms = now_wall_ms - static_cast<std::int64_t>(back->count());
  }
  if (auto level = inv.value("level")) {
    auto parsed = log_level_from_string(*level);
    if (!parsed) return invalid_argument("--level: " + parsed.error().message);
    filter.min_level = *parsed;
  }
  return filter;
}

Result<std::vector<LogRecord>> logs_from_answer(const nlohmann::json& answer) {
  const json* list = &answer;
  if (answer.is_object() && answer.contains("logs")) list = &answer["logs"];
  if (!list->is_array()) return invalid_answer("the node's answer to \"logs\" is not a list of log records");
  std::vector<LogRecord> records;
  records.reserve(list->size());
  for (std::size_t i = 0; i < list->size(); ++i) {
    auto record = log_record_from_json((*list)[i]);
    if (!record) return invalid_answer("logs[" + std::to_string(i) + "]: " + record.error().message);
    records.push_back(std::move(*record));
  }
  return records;
}

LogFollower::Step LogFollower::next(const MeshOsSnapshot& s) {
  Step step;
  if (epoch_ && *epoch_ != s.runtime_epoch) {
    step.epoch_changed = true;
    // A node with a state dir reads its log back and numbers on (the last record seen is still there, as it
    // was); without one it counts from 1 again.
    const bool numbering_goes_on = std::any_of(s.logs.begin(), s.logs.end(), [&](const LogRecord& r) {
      return r.seq == last_seq_ && r.wall_ms == last_wall_ms_;
    });
    if (!numbering_goes_on) last_seq_ = 0;
  }
  epoch_ = s.runtime_epoch;
  std::uint64_t highest = last_seq_;
  for (const auto& r : s.logs) {
    if (r.seq <= last_seq_) continue;
    if (r.seq > highest) {
      highest = r.seq;
      last_wall_ms_ = r.wall_ms;
    }
    if (filter_.matches(r)) step.records.push_back(r);
  }
  std::sort(step.records.begin(), step.records.end(),
            [](const LogRecord& a, const LogRecord& b) { return a.seq < b.seq; });
  last_seq_ = highest;
  return step;
}

// ---- running --------------------------------------------------------------------------------------

int run(const std::vector<std::string>& args, Environment& env) {
  auto fail = [&](const SdkError& error) {
    std::string message = error.kind + ": " + error.message;
    std::replace(message.begin(), message.end(), '\n', ' ');
    env.err << "meshos-ctl: " << message << '\n' << std::flush;
    return error.code() == Errc::usage || error.code() == Errc::invalid_argument ? kExitUsage : kExitFailed;
  };
  try {
    auto inv = parse_arguments(args);
    if (!inv) return fail(inv.error());
    if (inv->flag("help")) {
      env.out << usage_text();
      return kExitOk;
    }
    if (inv->flag("version")) {
      env.out << "meshos-ctl " << version() << '\n';
      return kExitOk;
    }
    const std::string name = command_name(*inv);
    if (name != "keygen" && name != "operator-entry" && name.rfind("config ", 0) != 0) {
      if (auto applied = apply_context(*inv); !applied) return fail(applied.error());
    }
    auto done = dispatch(*inv, env);
    env.out << std::flush;
    if (!done) return fail(done.error());
    return kExitOk;
  } catch (const SdkException& e) {
    return fail(e.error());
  } catch (const std::exception& e) {
    return fail(SdkError{Errc::internal_error, e.what()});
  }
}

}  // namespace meshos::ctl
