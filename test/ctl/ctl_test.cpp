// meshos-ctl's logic against a scripted node: parsing, rendering, commits and exit codes.
#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ctl_lib.hpp"
#include "meshos/version.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/blast_radius.hpp"
#include "meshos/operators.hpp"
#include "meshos/snapshot.hpp"

using namespace meshos;
using nlohmann::json;

namespace {

constexpr std::int64_t kNow = 1'700'000'000'000;

// TempDir: test/support/temp_dir.hpp
using meshos::test::TempDir;

// An environment variable set (or unset, for nullptr) while this lives; what was there before comes back.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* before = std::getenv(name)) before_ = before;
    if (value != nullptr) {
      REQUIRE(setenv(name, value, 1) == 0);
    } else {
      REQUIRE(unsetenv(name) == 0);
    }
  }
  ~ScopedEnv() {
    if (before_) {
      setenv(name_.c_str(), before_->c_str(), 1);
    } else {
      unsetenv(name_.c_str());
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  std::string name_;
  std::optional<std::string> before_;
};

// No test here reads the ctl config file of whoever runs the tests.
struct NoUserCtlConfig {
  NoUserCtlConfig() {
    unsetenv("MESHOS_CTL_CONFIG");
    unsetenv("MESHOS_CONTEXT");
    setenv("XDG_CONFIG_HOME", "/nonexistent/meshos-ctl-tests", 1);
  }
} const no_user_ctl_config;

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

struct Request {
  std::string kind;
  std::string body;
};

// The node every script is: what it says about itself in its answer to "status".
constexpr NodeId kScriptedNode = 0x1a2b3c4d5e6f7081;
const std::string kStatusAnswer =
    R"({"node_id":"1a2b3c4d5e6f7081","operators":[{"id":"0000000000000077","name":"alice"}]})";

// What a node would answer, scripted per request kind; records what it was asked.
struct Script {
  std::map<std::string, Result<std::string>> answers = {{"status", Result<std::string>(kStatusAnswer)}};
  std::vector<std::string> published;  // snapshots pushed to a watcher, then the connection ends
  std::vector<Request> requests;
  std::vector<std::string> addresses;
  std::vector<TlsOptions> tls;
  std::vector<std::chrono::milliseconds> timeouts;
  bool refuse_connection = false;
};

class ScriptedNode : public RemoteNode {
 public:
  explicit ScriptedNode(Script& script) : script_(script) {}
  Result<std::string> request(const std::string& kind, const std::string& body, std::chrono::milliseconds) override {
    script_.requests.push_back({kind, body});
    auto it = script_.answers.find(kind);
    if (it == script_.answers.end()) return SdkError{Errc::unknown_request, "no answer scripted for " + kind};
    return it->second;
  }
  Result<void> watch(const std::function<bool(const std::string&)>& on_snapshot,
                     std::optional<std::chrono::milliseconds>) override {
    for (const auto& s : script_.published)
      if (!on_snapshot(s)) return ok();
    return SdkError{Errc::connection_lost, "the node closed the connection"};
  }

 private:
  Script& script_;
};

struct Outcome {
  int code = -1;
  std::string out;
  std::string err;
};

Outcome run_ctl(Script& script, const std::vector<std::string>& args) {
  std::ostringstream out;
  std::ostringstream err;
  ctl::Environment env{out, err,
                       [&](const std::string& address, const TlsOptions& tls, std::chrono::milliseconds timeout)
                           -> Result<std::unique_ptr<RemoteNode>> {
                         script.timeouts.push_back(timeout);
                         script.addresses.push_back(address);
                         script.tls.push_back(tls);
                         if (script.refuse_connection)
                           return SdkError{Errc::connect_failed, "cannot reach " + address};
                         return std::unique_ptr<RemoteNode>(new ScriptedNode(script));
                       },
                       [] { return kNow; }};
  Outcome o;
  o.code = ctl::run(args, env);
  o.out = out.str();
  o.err = err.str();
  return o;
}

Outcome run_ctl(const std::vector<std::string>& args) {
  Script script;
  return run_ctl(script, args);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// One line, the documented prefix, the kind.
void check_error_line(const Outcome& o, int code, const std::string& kind) {
  CAPTURE(o.err);
  CHECK(o.code == code);
  CHECK(o.err.rfind("meshos-ctl: " + kind + ": ", 0) == 0);
  CHECK(std::count(o.err.begin(), o.err.end(), '\n') == 1);
}

LogRecord log_record(std::uint64_t seq, LogLevel level, std::optional<DaemonId> daemon, const std::string& message) {
  LogRecord r;
  r.seq = seq;
  r.wall_ms = kNow + static_cast<std::int64_t>(seq);
  r.node_id = 0x11;
  r.level = level;
  r.daemon_id = daemon;
  r.message = message;
  return r;
}

MeshOsSnapshot sample_snapshot() {
  MeshOsSnapshot s;
  s.node_id = 0x1a2b3c4d5e6f7081;
  s.runtime_epoch = 0xe1;
  s.seq = 42;
  s.wall_ms = kNow;
  s.local_maintenance = view::EnteringMaintenance{1200, 3000};
  s.cordoned = true;
  s.inventory = InventorySnapshot{NodeInventory{1.25, std::uint64_t{2} << 30, std::uint64_t{4} << 30}, 300};

  DaemonSnapshot echo;
  echo.id = 0xaaaa;
  echo.name = "echo";
  echo.lifecycle = DaemonLifecycleState::Running;
  echo.health = health::Degraded{"slow disk"};
  s.clock_ms = 100'000;
  echo.running_since_ms = s.clock_ms - 12'300;
  s.daemons.emplace(echo.id, echo);

  DaemonSnapshot counter;
  counter.id = 0xbbbb;
  counter.name = "counter";
  counter.lifecycle = DaemonLifecycleState::Stopped;
  counter.restart = RestartPhase::BackingOff;
  counter.restart_at_ms = s.clock_ms + 800;
  counter.consecutive_crashes = 2;
  counter.total_crashes = 5;
  counter.last_crash_reason = "boom";
  s.daemons.emplace(counter.id, counter);

  PeerSnapshot peer;
  peer.node = 0x9999;
  peer.rtt_ms = 0.42;
  peer.health = PeerHealth::Healthy;
  peer.maintenance = view::Active{};
  peer.version = "0.1.0";
  peer.last_seen_ms = 120;
  s.peers.emplace(peer.node, peer);

  for (std::uint64_t i = 1; i <= 12; ++i) {
    AuditRecord a;
    a.seq = i;
    a.wall_ms = kNow;
    a.commit = "admin";
    a.event = "enter_maintenance";
    a.operators = {0x77};
    a.outcome = "accepted";
    s.audit.push_back(a);
  }
  s.audit.back().outcome = "rejected";
  s.audit.back().reason_kind = "signature_invalid";
  s.audit.back().reason = "bad signature";
  s.logs = {log_record(1, LogLevel::Info, std::nullopt, "node up")};
  return s;
}

std::string snapshot_text(const MeshOsSnapshot& s) { return json(s).dump(); }

// `meshos-ctl --node n:1 ice propose <words...>` against a node whose snapshot is sample_snapshot(): the
// proposal is simulated on it.
Outcome propose(const std::vector<std::string>& words) {
  Script script;
  script.answers.emplace("snapshot", snapshot_text(sample_snapshot()));
  std::vector<std::string> args = {"--node", "n:1", "ice", "propose"};
  args.insert(args.end(), words.begin(), words.end());
  return run_ctl(script, args);
}

std::string keygen(const TempDir& dir, const std::string& name) {
  const std::string path = dir.file(name + ".key");
  auto o = run_ctl({"keygen", "--out", path, "--name", name});
  REQUIRE(o.code == 0);
  return path;
}

OperatorRegistry registry_of(const std::vector<std::string>& key_files) {
  json operators = json::array();
  for (const auto& path : key_files) {
    auto o = run_ctl({"operator-entry", path});
    REQUIRE(o.code == 0);
    operators.push_back(json::parse(o.out));
  }
  auto registry = OperatorRegistry::from_json(json{{"operators", operators}});
  REQUIRE(registry);
  return *registry;
}

// `commit`, signed with `key_file` for cluster "blue", passes a blue node's verifier and is wrong_cluster at a
// node of the default cluster.
template <class Commit, class Verify>
void check_for_blue_only(const std::string& key_file, const Commit& commit, Verify verify) {
  VerifierPolicy blue;
  blue.cluster = "blue";
  AdminVerifier in_blue(registry_of({key_file}), 1, blue);
  AdminVerifier in_default(registry_of({key_file}), 1);
  CHECK(std::holds_alternative<outcome::Accepted>(verify(in_blue, commit)));
  auto refused = verify(in_default, commit);
  REQUIRE(std::holds_alternative<outcome::Rejected>(refused));
  CHECK(std::get<outcome::Rejected>(refused).kind == "wrong_cluster");
}

}  // namespace

// ---- arguments ----------------------------------------------------------------------------------

TEST_CASE("ctl arguments: options before or after the command, with = or a separate value") {
  auto inv = ctl::parse_arguments({"--node", "127.0.0.1:7000", "maintenance", "enter", "--drain-for=10s", "--json"});
  REQUIRE(inv);
  CHECK(inv->command == std::vector<std::string>{"maintenance", "enter"});
  CHECK(inv->value("node") == std::optional<std::string>("127.0.0.1:7000"));
  CHECK(inv->value("drain-for") == std::optional<std::string>("10s"));
  CHECK(inv->flag("json"));
  CHECK_FALSE(inv->flag("watch"));

  for (auto args : {std::vector<std::string>{"status", "-o", "json"}, std::vector<std::string>{"--output=json", "peers"}}) {
    auto as_json = ctl::parse_arguments(args);
    REQUIRE(as_json);
    CHECK(as_json->flag("json"));  // kubectl's -o json
  }
  auto as_text = ctl::parse_arguments({"status", "-o", "text"});
  REQUIRE(as_text);
  CHECK_FALSE(as_text->flag("json"));

  auto daemon = ctl::parse_arguments({"daemon", "stop", "--", "--odd-name"});
  REQUIRE(daemon);
  CHECK(daemon->command == std::vector<std::string>{"daemon", "stop", "--odd-name"});
}

TEST_CASE("ctl arguments: every malformed command line is a usage error") {
  const std::vector<std::vector<std::string>> bad = {
      {},
      {"frobnicate"},
      {"status", "--bogus"},
      {"status", "-x"},
      {"status", "--node"},
      {"status", "--json=yes"},
      {"status", "extra"},
      {"maintenance"},
      {"maintenance", "sideways"},
      {"daemon", "start"},
      {"daemon", "start", "a", "b"},
      {"status", "--watch"},
      {"snapshot", "--drain-for", "1s"},
      {"status", "--node", "a:1", "--node", "b:2"},
      {"ice", "propose"},
      {"status", "-o", "yaml"},
      {"status", "-o", "WIDE"},
      {"status", "-o"},
      {"cordon", "extra"},
      {"drain", "--drain-for", "1s"},
  };
  for (const auto& args : bad) {
    CAPTURE(ctl::usage_text());
    std::string joined;
    for (const auto& a : args) joined += a + " ";
    CAPTURE(joined);
    auto inv = ctl::parse_arguments(args);
    REQUIRE_FALSE(inv);
    CHECK(inv.error().code() == Errc::usage);
    check_error_line(run_ctl(args), 2, "usage");
  }
}

TEST_CASE("ctl --help prints the usage on stdout and exits 0, even beside a command") {
  for (auto args : {std::vector<std::string>{"--help"}, std::vector<std::string>{"status", "-h"}}) {
    auto o = run_ctl(args);
    CHECK(o.code == 0);
    CHECK(o.err.empty());
    CHECK(contains(o.out, "usage: meshos-ctl"));
    CHECK(contains(o.out, "maintenance enter [--drain-for DURATION]"));
    CHECK(contains(o.out, "ice propose"));
  }
}

TEST_CASE("ctl --version names the build and exits 0") {
  auto o = run_ctl({"--version"});
  CHECK(o.code == 0);
  CHECK(o.err.empty());
  CHECK(o.out == "meshos-ctl " + version() + "\n");
}

TEST_CASE("ctl: bad argument values exit 2 before anything is sent") {
  Script script;
  script.answers.emplace("admin", std::string(R"({"outcome":"accepted"})"));
  check_error_line(run_ctl(script, {"--node", "n:1", "maintenance", "enter", "--drain-for", "10"}), 2,
                   "invalid_argument");
  check_error_line(run_ctl(script, {"--node", "n:1", "maintenance", "exit", "--target", "xyz"}), 2,
                   "invalid_argument");
  check_error_line(run_ctl(script, {"--node", "n:1", "maintenance", "exit", "--target", "0"}), 2,
                   "invalid_argument");
  check_error_line(run_ctl(script, {"--node", "n:1", "maintenance", "exit", "--cluster", ""}), 2, "invalid_argument");
  check_error_line(run_ctl(script, {"--node", "n:1", "logs", "--level", "loud"}), 2, "invalid_argument");
  check_error_line(run_ctl(script, {"--node", "n:1", "logs", "--daemon", ""}), 2, "invalid_argument");
  check_error_line(run_ctl(script, {"status"}), 2, "usage");  // no --node
  check_error_line(run_ctl(script, {"--node", "n:1", "--tls-cert", "c.pem", "status"}), 2, "usage");
  CHECK(script.requests.empty());
}

// ---- talking to a node --------------------------------------------------------------------------

TEST_CASE("ctl status renders the node's snapshot for people") {
  Script script;
  script.answers.emplace("snapshot", snapshot_text(sample_snapshot()));
  auto o = run_ctl(script, {"--node", "127.0.0.1:7000", "status"});
  CAPTURE(o.out);
  REQUIRE(o.code == 0);
  CHECK(o.err.empty());
  REQUIRE(script.requests.size() == 2);
  CHECK(script.requests[0].kind == "snapshot");
  CHECK(script.requests[1].kind == "status");  // the registry's names
  CHECK(script.addresses == std::vector<std::string>{"127.0.0.1:7000"});

  CHECK(contains(o.out, "node 1a2b3c4d5e6f7081"));
  CHECK(contains(o.out, "maintenance: entering_maintenance for 1.2 s, drain deadline in 3.0 s"));
  CHECK(contains(o.out, "[cordoned]"));
  CHECK(contains(o.out, "inventory: load 1.25, memory 2.0/4.0 GiB  (300 ms ago)\n"));
  CHECK(contains(o.out, "daemons (2):"));
  CHECK(contains(o.out, "echo     000000000000aaaa  running"));
  CHECK(contains(o.out, "health degraded (slow disk)"));
  CHECK(contains(o.out, "up 12.3 s"));
  CHECK(contains(o.out, "restart backing_off in 800 ms"));
  CHECK(contains(o.out, "crashes 2/5"));
  CHECK(contains(o.out, "last crash: boom"));
  CHECK(contains(o.out, "peers (1):"));
  CHECK(contains(o.out, "  NODE               NAME   ADDRESS   HEALTH    RTT       MAINTENANCE\n"
                        "  0000000000009999   -      -         healthy   0.42 ms   active\n"));
  // The last ten audit records, newest last, outcomes and reasons shown.
  CHECK(contains(o.out, "audit (last 10 of 12):"));
  CHECK_FALSE(contains(o.out, "#2 "));
  CHECK(contains(o.out, "#3 "));
  CHECK(contains(o.out, "admin enter_maintenance  by alice (0000000000000077)  accepted"));
  CHECK(contains(o.out, "#12  2023-11-14T22:13:20.000Z  admin enter_maintenance  by alice (0000000000000077)  rejected "
                        "signature_invalid: bad signature"));
}

TEST_CASE("ctl status names verified authors only: claimed signers and strangers are shown as such") {
  MeshOsSnapshot s = sample_snapshot();
  s.audit[10].operators.clear();
  s.audit[10].claimed = {0x66};
  s.audit[10].outcome = "unverified";
  s.audit_strangers.total = 601;
  s.audit_strangers.by_kind = {{"not_authorized", 600}, {"invalid_commit", 1}};
  AuditRecord last;
  last.seq = 700;
  last.wall_ms = kNow;
  last.commit = "admin";
  last.event = "cordon";
  last.claimed = {0};
  last.outcome = "rejected";
  last.reason_kind = "not_authorized";
  s.audit_strangers.last = last;
  const std::string text = ctl::render_status(s);
  CAPTURE(text);
  CHECK(contains(text, "#11  2023-11-14T22:13:20.000Z  admin enter_maintenance  claimed by 0000000000000066 "
                       "(unverified)  unverified"));
  CHECK_FALSE(contains(text, "by 0000000000000066  "));
  CHECK(contains(text, "refused from strangers (no registered operator's signature): 601 (invalid_commit 1, "
                       "not_authorized 600)"));
  CHECK(contains(text, "  last: #700  2023-11-14T22:13:20.000Z  admin cordon  unsigned  rejected not_authorized"));
  CHECK_FALSE(contains(ctl::render_status(sample_snapshot()), "strangers"));
}

TEST_CASE("ctl status says which commits a peer relayed and which were for another node") {
  MeshOsSnapshot s = sample_snapshot();
  s.audit[10].relayed_from = 0xA;
  s.audit[11].mirrored_for = 0xB;
  s.audit[11].outcome = "accepted";
  s.audit[11].reason_kind.clear();
  s.audit[11].reason.clear();
  const std::string text = ctl::render_status(s);
  CAPTURE(text);
  CHECK(contains(text, "#11  2023-11-14T22:13:20.000Z  admin enter_maintenance  by 0000000000000077  accepted "
                       "(relayed by 000000000000000a)"));
  CHECK(contains(text, "#12  2023-11-14T22:13:20.000Z  admin enter_maintenance  by 0000000000000077  accepted for "
                       "node 000000000000000b"));
}

TEST_CASE("ctl status --json and snapshot print the node's JSON answer") {
  Script script;
  const MeshOsSnapshot s = sample_snapshot();
  script.answers.emplace("snapshot", snapshot_text(s));
  for (auto args : {std::vector<std::string>{"--node", "n:1", "--json", "status"},
                    std::vector<std::string>{"--node", "n:1", "snapshot"}}) {
    auto o = run_ctl(script, args);
    REQUIRE(o.code == 0);
    auto back = snapshot_from_json(json::parse(o.out));
    REQUIRE(back);
    CHECK(json(*back) == json(s));
  }
}

TEST_CASE("ctl status: a node answer that is not a snapshot is an error, not a crash") {
  Script script;
  script.answers.emplace("snapshot", std::string("{\"node_id\": 5}"));
  check_error_line(run_ctl(script, {"--node", "n:1", "status"}), 1, "invalid_snapshot");
  script.answers.erase("snapshot");
  script.answers.emplace("snapshot", std::string("<html>"));
  check_error_line(run_ctl(script, {"--node", "n:1", "status"}), 1, "invalid_answer");
}

TEST_CASE("ctl: connection and request failures exit 1 with the node's kind") {
  Script refused;
  refused.refuse_connection = true;
  check_error_line(run_ctl(refused, {"--node", "n:1", "status"}), 1, "connect_failed");

  Script failing;
  failing.answers.emplace("snapshot", Result<std::string>(SdkError{Errc::timeout, "no answer within 5000 ms"}));
  auto o = run_ctl(failing, {"--node", "n:1", "status"});
  check_error_line(o, 1, "timeout");
  CHECK(contains(o.err, "no answer within 5000 ms"));
}

TEST_CASE("ctl passes the TLS files to the connection") {
  Script script;
  script.answers.emplace("peers", std::string("[]"));
  auto o = run_ctl(script, {"--node", "n:1", "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-ca", "ca.pem", "peers"});
  REQUIRE(o.code == 0);
  REQUIRE(script.tls.size() == 1);
  CHECK(script.tls[0].certificate == "c.pem");
  CHECK(script.tls[0].key == "k.pem");
  CHECK(script.tls[0].ca_file == "ca.pem");
  CHECK(contains(o.out, "(none)"));
}

TEST_CASE("ctl peers renders the node's list, bare or wrapped") {
  PeerSnapshot p;
  p.node = 0xabc;
  p.health = PeerHealth::Unreachable;
  p.maintenance = view::Maintenance{5000};
  p.last_seen_ms = 2500;
  for (const json& answer : {json::array({json(p)}), json{{"peers", json::array({json(p)})}}}) {
    Script script;
    script.answers.emplace("peers", answer.dump());
    auto o = run_ctl(script, {"--node", "n:1", "peers"});
    CAPTURE(o.out);
    REQUIRE(o.code == 0);
    CHECK(o.out == "NODE               NAME   ADDRESS   HEALTH        RTT   MAINTENANCE\n"
                   "0000000000000abc   -      -         unreachable   -     maintenance for 5.0 s\n");
  }
  // With the node's addresses, and -o wide: version, last seen, daemons, tags.
  p.version = "0.9.1";
  p.name = "node-c";
  p.capability_tags = {"gpu", "ssd"};
  p.inventory = InventorySnapshot{NodeInventory{0.5, std::uint64_t{3} << 29, std::uint64_t{8} << 30}, 100};
  Script script;
  script.answers.emplace(
      "peers", json{{"peers", json::array({json(p)})},
                    {"addresses", json::array({json{{"address", "10.0.0.7:7100"}, {"node", "0000000000000abc"}, {"connected", false}},
                                               json{{"address", "10.0.0.8:7100"}, {"node", nullptr}, {"connected", false}}})}}
                   .dump());
  auto wide = run_ctl(script, {"--node", "n:1", "peers", "-o", "wide"});
  CAPTURE(wide.out);
  REQUIRE(wide.code == 0);
  CHECK(wide.out == "NODE               NAME     ADDRESS         HEALTH        RTT   MAINTENANCE             VERSION   SEEN        DAEMONS   INVENTORY                       CAPABILITIES\n"
                    "0000000000000abc   node-c   10.0.0.7:7100   unreachable   -     maintenance for 5.0 s   0.9.1     2.5 s ago   0         load 0.50, memory 1.5/8.0 GiB   gpu,ssd\n");
}

TEST_CASE("ctl maintenance enter without a key sends the unsigned event for the node it asked") {
  Script script;
  script.answers.emplace("admin", std::string(R"({"outcome":"unverified"})"));
  auto o = run_ctl(script, {"--node", "n:1", "maintenance", "enter", "--drain-for", "5min"});
  REQUIRE(o.code == 0);
  CHECK(o.out == "enter_maintenance: unverified (unsigned)\n");
  REQUIRE(script.requests.size() == 2);
  CHECK(script.requests[0].kind == "status");
  CHECK(script.requests[1].kind == "admin");
  json body = json::parse(script.requests[1].body);
  REQUIRE(body.contains("unsigned"));
  auto event = admin_event_from_json(body["unsigned"]);
  REQUIRE(event);
  const auto* enter = std::get_if<admin::EnterMaintenance>(&*event);
  REQUIRE(enter != nullptr);
  CHECK(enter->node == kScriptedNode);
  CHECK(enter->drain_for_ms == std::optional<std::uint64_t>(300'000));
}

TEST_CASE("ctl admin commands signed with --key pass the node's verifier") {
  TempDir dir;
  const std::string alice = keygen(dir, "alice");
  const std::string mallory = keygen(dir, "mallory");
  AdminVerifier verifier(registry_of({alice}), 1);

  struct Case {
    std::vector<std::string> args;
    std::string kind;
  };
  const std::vector<Case> cases = {
      {{"maintenance", "enter"}, "enter_maintenance"},
      {{"maintenance", "exit", "--target", "1f"}, "exit_maintenance"},
      {{"daemon", "stop", "echo"}, "set_daemon_intent"},
      {{"daemon", "start", "echo"}, "set_daemon_intent"},
      {{"daemon", "restart", "echo"}, "restart_daemon"},
      {{"drain", "--deadline", "2min"}, "enter_maintenance"},
      {{"cordon"}, "cordon"},
      {{"uncordon"}, "uncordon"},
      {{"restart-daemons"}, "restart_all_daemons"},
  };
  for (const auto& c : cases) {
    Script script;
    script.answers.emplace("admin", std::string(R"({"outcome":"accepted"})"));
    std::vector<std::string> args = {"--node", "n:1", "--key", alice};
    args.insert(args.end(), c.args.begin(), c.args.end());
    auto o = run_ctl(script, args);
    CAPTURE(o.err);
    REQUIRE(o.code == 0);
    CHECK(contains(o.out, c.kind + ": accepted (signed by operator "));
    REQUIRE(script.requests.size() == 2);
    CHECK(script.requests[0].kind == "status");
    auto commit = signed_admin_commit_from_json(json::parse(script.requests[1].body));
    REQUIRE(commit);
    CHECK(commit->issued_at_ms == kNow);
    CHECK(commit->cluster == kDefaultClusterName);
    CHECK(admin_kind(commit->event) == c.kind);
    CHECK(std::holds_alternative<outcome::Accepted>(verifier.verify_admin(*commit, kNow)));
    if (c.args[0] == "daemon" && c.args[1] == "restart") {
      CHECK(std::get<admin::RestartDaemon>(commit->event).daemon == "echo");
    } else if (c.args[0] == "daemon") {
      const auto& intent = std::get<admin::SetDaemonIntent>(commit->event);
      CHECK(intent.daemon == "echo");
      CHECK(intent.run == (c.args[1] == "start"));
    }
    CHECK(admin_target(commit->event) == (c.args.size() > 2 && c.args[2] == "--target" ? 0x1fu : kScriptedNode));
  }

  // A key the node does not know is refused by the verifier.
  Script script;
  script.answers.emplace("admin", std::string(R"({"outcome":"accepted"})"));
  REQUIRE(run_ctl(script, {"--node", "n:1", "--key", mallory, "maintenance", "exit"}).code == 0);
  auto forged = signed_admin_commit_from_json(json::parse(script.requests.back().body));
  REQUIRE(forged);
  CHECK_FALSE(std::holds_alternative<outcome::Accepted>(verifier.verify_admin(*forged, kNow)));
}

TEST_CASE("ctl: a commit names the node and cluster from --target / --cluster, else from the node's status") {
  ctl::Invocation inv;
  inv.command = {"maintenance", "exit"};
  int asked = 0;
  auto status_says = [&](std::string answer) {
    return [&asked, answer]() -> Result<json> {
      ++asked;
      return json::parse(answer);
    };
  };
  auto target = ctl::commit_target(inv, status_says(R"({"node_id":"00000000000000b2","cluster":"blue"})"));
  REQUIRE(target);
  CHECK(target->node == 0xb2);
  CHECK(target->cluster == "blue");
  CHECK(asked == 1);

  // A node that does not name its cluster belongs to the default one.
  target = ctl::commit_target(inv, status_says(R"({"node_id":"00000000000000b2"})"));
  REQUIRE(target);
  CHECK(target->cluster == kDefaultClusterName);

  inv.values = {{"target", "c3"}, {"cluster", "green"}};
  target = ctl::commit_target(inv, status_says("{}"));
  REQUIRE(target);
  CHECK(target->node == 0xc3);
  CHECK(target->cluster == "green");
  CHECK(asked == 2);  // both given: the node is not asked

  inv.values = {{"target", "c3"}};
  target = ctl::commit_target(inv, status_says(R"({"node_id":"00000000000000b2","cluster":"blue"})"));
  REQUIRE(target);
  CHECK(target->node == 0xc3);
  CHECK(target->cluster == "blue");

  for (const char* answer : {"{}", R"({"node_id":"0000000000000000"})", R"({"node_id":"b2"})", "[]"}) {
    inv.values.clear();
    auto bad = ctl::commit_target(inv, status_says(answer));
    REQUIRE_FALSE(bad);
    CHECK(bad.error().code() == Errc::invalid_answer);
  }
  inv.values = {{"target", "0"}};
  CHECK(ctl::commit_target(inv, status_says("{}")).error().code() == Errc::invalid_argument);
  inv.values = {{"cluster", ""}};
  CHECK(ctl::commit_target(inv, status_says("{}")).error().code() == Errc::invalid_argument);
  auto unreachable = ctl::commit_target(ctl::Invocation{}, [] { return Result<json>(SdkError{Errc::timeout, "no answer"}); });
  REQUIRE_FALSE(unreachable);
  CHECK(unreachable.error().code() == Errc::timeout);
}

TEST_CASE("ctl: a commit signed for the node's cluster passes only that cluster's verifier") {
  TempDir dir;
  const std::string alice = keygen(dir, "alice");
  Script script;
  script.answers.insert_or_assign("status", std::string(R"({"node_id":"1a2b3c4d5e6f7081","cluster":"blue"})"));
  script.answers.emplace("admin", std::string(R"({"outcome":"accepted"})"));
  REQUIRE(run_ctl(script, {"--node", "n:1", "--key", alice, "daemon", "stop", "echo"}).code == 0);
  auto commit = signed_admin_commit_from_json(json::parse(script.requests.back().body));
  REQUIRE(commit);
  CHECK(commit->cluster == "blue");
  check_for_blue_only(alice, *commit, [](AdminVerifier& v, const SignedAdminCommit& c) { return v.verify_admin(c, kNow); });
}

TEST_CASE("ctl: a commit the node rejects exits 1 with the rejection's kind") {
  TempDir dir;
  const std::string alice = keygen(dir, "alice");
  Script answered;
  answered.answers.emplace("admin",
                           std::string(R"({"outcome":"rejected","reason_kind":"envelope_expired","reason":"too old"})"));
  auto o = run_ctl(answered, {"--node", "n:1", "--key", alice, "maintenance", "exit"});
  check_error_line(o, 1, "envelope_expired");
  CHECK(contains(o.err, "too old"));
  CHECK(o.out.empty());

  Script replied;
  replied.answers.emplace("admin", std::string(R"({"outcome":"rejected","kind":"commit_replayed","message":"seen",)"
                                               R"("audit_seq":9})"));
  auto replayed = run_ctl(replied, {"--node", "n:1", "--key", alice, "maintenance", "exit"});
  check_error_line(replayed, 1, "commit_replayed");
  CHECK(contains(replayed.err, "seen"));

  Script audited;
  audited.answers.emplace("admin", std::string(R"({"outcome":"accepted","kind":"","message":"","audit_seq":7})"));
  auto accepted = run_ctl(audited, {"--node", "n:1", "--key", alice, "maintenance", "exit"});
  REQUIRE(accepted.code == 0);
  CHECK(contains(accepted.out, "exit_maintenance: accepted (audit #7) (signed by operator "));

  Script errored;
  errored.answers.emplace("admin", Result<std::string>(SdkError{Errc::not_authorized, "unknown operator"}));
  check_error_line(run_ctl(errored, {"--node", "n:1", "--key", alice, "maintenance", "exit"}), 1, "not_authorized");

  check_error_line(run_ctl(errored, {"--node", "n:1", "--key", dir.file("absent.key"), "maintenance", "exit"}), 1,
                   "key_file_not_found");
}

// ---- logs ---------------------------------------------------------------------------------------

TEST_CASE("ctl logs asks the node with the filters and applies them itself too") {
  Script script;
  json records = json::array({json(log_record(1, LogLevel::Debug, 0xaa, "chatter")),
                              json(log_record(2, LogLevel::Warn, 0xaa, "careful")),
                              json(log_record(3, LogLevel::Error, 0xbb, "other daemon")),
                              json(log_record(4, LogLevel::Error, std::nullopt, "node itself"))});
  script.answers.emplace("logs", records.dump());
  // The node's snapshot names daemon bb (others are shown by id).
  MeshOsSnapshot described = sample_snapshot();
  DaemonSnapshot other;
  other.id = 0xbb;
  other.name = "other";
  described.daemons.emplace(other.id, other);
  script.answers.emplace("snapshot", snapshot_text(described));
  auto o = run_ctl(script, {"--node", "n:1", "logs", "--daemon", "aa", "--level", "info"});
  CAPTURE(o.out);
  REQUIRE(o.code == 0);
  json body = json::parse(script.requests.at(0).body);
  CHECK(body == json{{"daemon", "00000000000000aa"}, {"level", "info"}});
  CHECK(o.out == "#2  2023-11-14T22:13:20.002Z  warn   00000000000000aa  careful\n");

  Script wrapped;
  wrapped.answers.emplace("logs", json{{"logs", records}}.dump());
  wrapped.answers.emplace("snapshot", snapshot_text(described));
  auto all = run_ctl(wrapped, {"--node", "n:1", "logs"});
  REQUIRE(all.code == 0);
  CHECK(json::parse(wrapped.requests.at(0).body) == json::object());
  CHECK(wrapped.requests.at(1).kind == "snapshot");
  CHECK(std::count(all.out.begin(), all.out.end(), '\n') == 4);
  CHECK(contains(all.out, "#4  2023-11-14T22:13:20.004Z  error  node              node itself"));
  CHECK(contains(all.out, "#3  2023-11-14T22:13:20.003Z  error  other             other daemon"));
  auto wide = run_ctl(wrapped, {"--node", "n:1", "logs", "-o", "wide"});
  CHECK(contains(wide.out, "#3  2023-11-14T22:13:20.003Z  error  other (00000000000000bb)  other daemon"));
  // -o json prints the node's answer as it is, and needs no names.
  Script raw;
  raw.answers.emplace("logs", records.dump());
  auto as_json = run_ctl(raw, {"--node", "n:1", "logs", "-o", "json"});
  REQUIRE(as_json.code == 0);
  CHECK(json::parse(as_json.out) == records);
}

TEST_CASE("ctl logs --daemon NAME asks the node's snapshot for the id - --since keeps the recent records") {
  Script script;
  MeshOsSnapshot s = sample_snapshot();
  const auto echo = std::find_if(s.daemons.begin(), s.daemons.end(), [](const auto& d) { return d.second.name == "echo"; });
  REQUIRE(echo != s.daemons.end());
  script.answers.emplace("snapshot", Result<std::string>(json(s).dump()));
  json records = json::array({json(log_record(1, LogLevel::Info, echo->first, "old")),
                              json(log_record(2, LogLevel::Info, echo->first, "recent"))});
  records[0]["wall_ms"] = kNow - 20'000;
  records[1]["wall_ms"] = kNow - 5'000;
  script.answers.emplace("logs", records.dump());
  auto o = run_ctl(script, {"--node", "n:1", "logs", "--daemon", "echo", "--since", "10s"});
  CAPTURE(o.err);
  REQUIRE(o.code == 0);
  REQUIRE(script.requests.size() == 2);
  CHECK(script.requests[0].kind == "snapshot");
  CHECK(json::parse(script.requests[1].body) == json{{"daemon", to_hex(echo->first)}});
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 1);
  CHECK(contains(o.out, "recent"));
  check_error_line(run_ctl(script, {"--node", "n:1", "logs", "--daemon", "nobody"}), 1, "not_found");
  check_error_line(run_ctl(script, {"--node", "n:1", "logs", "--since", "lately"}), 2, "invalid_argument");
}

TEST_CASE("ctl log follower: only new records, reset when the runtime epoch changes") {
  ctl::LogFilter filter;
  filter.min_level = LogLevel::Info;
  ctl::LogFollower follower(filter);
  MeshOsSnapshot s;
  // The next step prints exactly the record `message`, seeing a restart or not.
  auto prints_only = [&](const std::string& message, bool restarted) {
    auto step = follower.next(s);
    CHECK(step.epoch_changed == restarted);
    REQUIRE(step.records.size() == 1);
    CHECK(step.records[0].message == message);
  };
  s.runtime_epoch = 1;
  s.logs = {log_record(1, LogLevel::Info, std::nullopt, "a"), log_record(2, LogLevel::Debug, std::nullopt, "b")};
  prints_only("a", false);
  s.logs.push_back(log_record(3, LogLevel::Warn, std::nullopt, "c"));
  prints_only("c", false);
  CHECK(follower.next(s).records.empty());

  // The node restarted: its sequence starts again from 1 and nothing from it is skipped.
  s.runtime_epoch = 2;
  s.logs = {log_record(1, LogLevel::Error, std::nullopt, "fresh")};
  prints_only("fresh", true);

  // Restarted on a state dir: the log was read back and numbering goes on; nothing is printed twice.
  s.runtime_epoch = 3;
  s.logs = {log_record(1, LogLevel::Error, std::nullopt, "fresh"), log_record(2, LogLevel::Warn, std::nullopt, "next")};
  prints_only("next", true);
}

TEST_CASE("ctl logs --follow prints each record once from the pushed snapshots") {
  Script script;
  MeshOsSnapshot s = sample_snapshot();
  s.logs = {log_record(1, LogLevel::Info, std::nullopt, "one")};
  script.published.push_back(snapshot_text(s));
  s.logs.push_back(log_record(2, LogLevel::Info, 0xaa, "two"));
  script.published.push_back(snapshot_text(s));
  script.published.push_back(snapshot_text(s));
  s.runtime_epoch = 0xe2;
  s.logs = {log_record(1, LogLevel::Info, std::nullopt, "after restart")};
  script.published.push_back(snapshot_text(s));

  auto o = run_ctl(script, {"--node", "n:1", "logs", "--follow"});
  CAPTURE(o.out);
  check_error_line(o, 1, "connection_lost");  // the scripted node hangs up at the end
  CHECK(script.requests.empty());              // no polling: only the pushed snapshots
  CHECK(o.out ==
        "#1  2023-11-14T22:13:20.001Z  info   node              one\n"
        "#2  2023-11-14T22:13:20.002Z  info   00000000000000aa  two\n"
        "-- node restarted (runtime epoch 00000000000000e2) --\n"
        "#1  2023-11-14T22:13:20.001Z  info   node              after restart\n");

  auto as_json = run_ctl(script, {"--node", "n:1", "--json", "logs", "--follow", "--daemon", "aa"});
  CHECK(as_json.out == json(log_record(2, LogLevel::Info, 0xaa, "two")).dump() + "\n");
}

TEST_CASE("ctl snapshot --watch prints a snapshot when it changed, not when only its clock moved") {
  Script script;
  MeshOsSnapshot s = sample_snapshot();
  std::vector<std::uint64_t> printed_seqs;
  for (std::uint64_t seq = 1; seq <= 6; ++seq) {
    s.seq = seq;
    s.wall_ms += 100;  // the clock moves on every snapshot
    if (seq == 3) s.cordoned = !s.cordoned;  // a change
    s.clock_ms += 100;
    if (seq == 5) {  // another
      DaemonSnapshot d = s.daemons.begin()->second;
      d.lifecycle = DaemonLifecycleState::Stopping;
      s.daemons.insert_or_assign(d.id, d);
    }
    if (seq == 1 || seq == 3 || seq == 5) printed_seqs.push_back(seq);
    script.published.push_back(json(s).dump(2));  // whatever layout the node uses, one line each out
  }
  auto o = run_ctl(script, {"--node", "n:1", "snapshot", "--watch"});
  check_error_line(o, 1, "connection_lost");
  CHECK(script.requests.empty());
  std::istringstream lines(o.out);
  std::vector<std::uint64_t> seqs;
  for (std::string line; std::getline(lines, line);) {
    auto back = snapshot_from_json(json::parse(line));
    REQUIRE(back);
    seqs.push_back(back->seq);
  }
  CHECK(seqs == printed_seqs);
  // The clock's fields alone: seq and every *_ms, at any depth.
  const json stripped = ctl::without_clock_fields(json{{"seq", 1}, {"wall_ms", 2}, {"cordoned", true},
                                                       {"daemons", json::array({json{{"age_ms", 3}, {"name", "e"}}})}});
  CHECK(stripped == json{{"cordoned", true}, {"daemons", json::array({json{{"name", "e"}}})}});
}

TEST_CASE("ctl snapshot --watch --interval prints at most once per interval, the latest change included") {
  Script script;
  MeshOsSnapshot s = sample_snapshot();
  for (std::uint64_t seq = 1; seq <= 4; ++seq) {
    s.seq = seq;
    s.cordoned = seq % 2 == 0;  // every snapshot changes; the scripted clock stands still (kNow)
    script.published.push_back(json(s).dump());
  }
  auto o = run_ctl(script, {"--node", "n:1", "snapshot", "--watch", "--interval", "1s"});
  check_error_line(o, 1, "connection_lost");
  CHECK(std::count(o.out.begin(), o.out.end(), '\n') == 1);  // the first; the rest came within the second
}

TEST_CASE("ctl takes its node from MESHOS_NODE, and bounds the connection with --timeout (10 s by default)") {
  Script script;
  script.answers.emplace("snapshot", Result<std::string>(json(sample_snapshot()).dump()));
  Outcome from_env;
  Outcome given;
  {
    ScopedEnv node("MESHOS_NODE", "from-env:7000");
    from_env = run_ctl(script, {"snapshot"});
    given = run_ctl(script, {"--node", "given:1", "--timeout", "3s", "snapshot"});
  }
  CHECK(from_env.code == 0);
  CHECK(given.code == 0);
  CHECK(script.addresses == std::vector<std::string>{"from-env:7000", "given:1"});
  CHECK(script.timeouts == std::vector<std::chrono::milliseconds>{std::chrono::seconds(10), std::chrono::seconds(3)});
  check_error_line(run_ctl({"status"}), 2, "usage");  // neither
  check_error_line(run_ctl({"--node", "n:1", "--timeout", "forever", "status"}), 2, "usage");
}

TEST_CASE("ctl contexts: a ctl config file names nodes and how to reach them - flags and MESHOS_NODE come first") {
  TempDir dir;
  const std::string file = dir.write("ctl.conf",
                                     "[ctl]\ncontext = \"lab\"\n\n"
                                     "[lab]\nnode = \"lab-node:7000\"\nkey = \"keys/alice.key.json\"\ntimeout = 3s\n\n"
                                     "[prod]\nnode = \"prod-node:7100\"\ntls-cert = \"op.pem\"\ntls-key = \"op.key\"\n"
                                     "tls-ca = \"/etc/meshos/ca.pem\"\n");
  ScopedEnv config("MESHOS_CTL_CONFIG", file.c_str());
  Script script;
  script.answers.emplace("snapshot", snapshot_text(sample_snapshot()));
  REQUIRE(run_ctl(script, {"snapshot"}).code == 0);                         // [ctl] context: lab
  REQUIRE(run_ctl(script, {"--context", "prod", "snapshot"}).code == 0);    // chosen by flag
  {
    ScopedEnv context("MESHOS_CONTEXT", "prod");
    REQUIRE(run_ctl(script, {"snapshot"}).code == 0);                       // chosen by the environment
    REQUIRE(run_ctl(script, {"--node", "given:1", "snapshot"}).code == 0);  // a flag beats the context
  }
  {
    ScopedEnv node("MESHOS_NODE", "from-env:7000");
    REQUIRE(run_ctl(script, {"snapshot"}).code == 0);
  }
  CHECK(script.addresses ==
        std::vector<std::string>{"lab-node:7000", "prod-node:7100", "prod-node:7100", "given:1", "from-env:7000"});
  CHECK(script.timeouts[0] == std::chrono::seconds(3));
  CHECK(script.timeouts[1] == std::chrono::seconds(10));
  CHECK(script.tls[0].certificate.empty());
  CHECK(script.tls[1].certificate == dir.file("op.pem"));  // relative to the file's folder
  CHECK(script.tls[1].key == dir.file("op.key"));
  CHECK(script.tls[1].ca_file == "/etc/meshos/ca.pem");
  CHECK(script.tls[4].certificate.empty());  // lab, with MESHOS_NODE's node

  // The context's key signs: lab's file does not exist, so the commit fails on it, naming it.
  auto signed_by_context = run_ctl(script, {"cordon"});
  CHECK(signed_by_context.code == 1);
  CHECK(contains(signed_by_context.err, dir.file("keys/alice.key.json")));

  auto contexts = run_ctl({"config", "get-contexts"});
  CAPTURE(contexts.err);
  REQUIRE(contexts.code == 0);
  CHECK(contexts.out.rfind("CURRENT   NAME   NODE             KEY", 0) == 0);
  CHECK(contains(contexts.out, "\n*         lab    lab-node:7000    " + dir.file("keys/alice.key.json") + "   no\n"));
  CHECK(contains(contexts.out, "\n          prod   prod-node:7100   -"));
  CHECK(contexts.out.size() > 4);
  CHECK(contexts.out.substr(contexts.out.size() - 4) == "yes\n");
  CHECK(run_ctl({"config", "current-context"}).out == "lab\n");
  CHECK(run_ctl({"--context", "prod", "config", "current-context"}).out == "prod\n");

  auto unknown = run_ctl(script, {"--context", "staging", "status"});
  check_error_line(unknown, 2, "usage");
  CHECK(contains(unknown.err, "(it has: lab, prod)"));
}

TEST_CASE("ctl contexts: a broken ctl config file is refused with every problem, a missing one only when named") {
  TempDir dir;
  const std::string file = dir.write("ctl.conf", "[ctl]\ncontext = \"nowhere\"\n\n[lab]\nnod = \"x:1\"\ntimeout = 0s\n");
  {
    ScopedEnv config("MESHOS_CTL_CONFIG", file.c_str());
    auto o = run_ctl({"--node", "n:1", "status"});
    check_error_line(o, 1, "invalid_config");
    CHECK(contains(o.err, "did you mean"));
    CHECK(contains(o.err, "\"nowhere\" is not a context of this file"));
    CHECK(contains(o.err, "must be a positive duration"));
    // Commands that need no node do not read it.
    CHECK(run_ctl({"keygen", "--out", dir.file("k.json")}).code == 0);
  }
  {
    ScopedEnv config("MESHOS_CTL_CONFIG", dir.file("absent.conf").c_str());
    check_error_line(run_ctl({"--node", "n:1", "status"}), 1, "config_not_found");
  }
  {
    ScopedEnv home("XDG_CONFIG_HOME", dir.file("nothing-here").c_str());  // the default place may be empty
    Script script;
    script.answers.emplace("snapshot", snapshot_text(sample_snapshot()));
    CHECK(run_ctl(script, {"--node", "n:1", "snapshot"}).code == 0);
    check_error_line(run_ctl(script, {"--context", "lab", "snapshot"}), 2, "usage");
  }
}

TEST_CASE("ctl contexts: the committed example conf/ctl.conf reads, its paths from its folder") {
  const std::string example = std::string(MESHOS_SOURCE_DIR) + "/conf/ctl.conf";
  ScopedEnv config("MESHOS_CTL_CONFIG", example.c_str());
  auto contexts = run_ctl({"-o", "json", "config", "get-contexts"});
  CAPTURE(contexts.err);
  REQUIRE(contexts.code == 0);
  const json j = json::parse(contexts.out);
  REQUIRE(j.at("contexts").size() == 2);
  CHECK(j.at("contexts")[0].at("name") == "local");
  CHECK(j.at("contexts")[0].at("current") == true);
  CHECK(j.at("contexts")[1].at("values").at("tls-ca") == std::string(MESHOS_SOURCE_DIR) + "/build/certs/ca.pem");
}

// ---- keys and break-glass -----------------------------------------------------------------------

TEST_CASE("ctl keygen writes a key file, prints its public key and operator id, never the seed") {
  TempDir dir;
  auto o = run_ctl({"keygen", "--out", dir.file("bob.key")});
  CAPTURE(o.out);
  REQUIRE(o.code == 0);
  auto key = load_key_file(dir.file("bob.key"));
  REQUIRE(key);
  CHECK(key->name == "bob");  // from the file name when --name is not given
  const auto& pk = key->keypair.public_key();
  CHECK(contains(o.out, "public_key   " + bytes_to_hex(pk.data(), pk.size())));
  CHECK(contains(o.out, "operator_id  " + to_hex(key->keypair.origin_hash())));
  auto seed = key->keypair.seed();
  REQUIRE(seed);
  CHECK_FALSE(contains(o.out, bytes_to_hex(seed->data(), seed->size())));

  check_error_line(run_ctl({"keygen", "--out", dir.file("bob.key")}), 1, "key_file_exists");
  auto replaced = run_ctl({"keygen", "--out", dir.file("bob.key"), "--force", "--json", "--name", "robert"});
  REQUIRE(replaced.code == 0);
  json j = json::parse(replaced.out);
  CHECK(j["name"] == "robert");
  CHECK_FALSE(contains(replaced.out, bytes_to_hex(seed->data(), seed->size())));
  CHECK(load_key_file(dir.file("bob.key"))->keypair.public_key() != pk);
  check_error_line(run_ctl({"keygen"}), 2, "usage");
}

TEST_CASE("ctl operator-entry prints the registry entry of a key file") {
  TempDir dir;
  const std::string path = keygen(dir, "carol");
  auto o = run_ctl({"operator-entry", path});
  REQUIRE(o.code == 0);
  json entry = json::parse(o.out);
  auto key = load_key_file(path);
  REQUIRE(key);
  const auto& pk = key->keypair.public_key();
  CHECK(entry == json{{"name", "carol"}, {"public_key", bytes_to_hex(pk.data(), pk.size())}});
  CHECK(registry_of({path}).contains(key->keypair.origin_hash()));
  check_error_line(run_ctl({"operator-entry", dir.file("none.key")}), 1, "key_file_not_found");
}

TEST_CASE("ctl ice: propose, two signatures, submit - the verifier needs both") {
  TempDir dir;
  const std::string alice = keygen(dir, "alice");
  const std::string bob = keygen(dir, "bob");
  const std::string proposal = dir.file("freeze.json");

  auto proposed = propose({"freeze", "--ttl", "10min", "--out", proposal});
  CAPTURE(proposed.err);
  REQUIRE(proposed.code == 0);
  CHECK(contains(proposed.out, "freeze_cluster"));
  auto unsigned_commit = signed_ice_commit_from_json(json::parse(read_text(proposal)));
  REQUIRE(unsigned_commit);
  CHECK(unsigned_commit->issued_at_ms == kNow);
  CHECK(unsigned_commit->signatures.empty());
  CHECK(std::get<ice::FreezeCluster>(unsigned_commit->proposal).ttl_ms == 600'000);
  // Signed for the radius the node's snapshot gives, which the output names: the node and its one peer.
  const MeshOsSnapshot seen = sample_snapshot();
  CHECK(unsigned_commit->blast_radius_hash == blast_radius_hash(simulate(unsigned_commit->proposal, seen)));
  CHECK(contains(proposed.out, "blast radius at node " + to_hex(seen.node_id) + ": 2 node(s) " +
                                   to_hex(0x9999) + ", " + to_hex(seen.node_id)));
  check_error_line(propose({"thaw", "--out", proposal}), 1, "output_exists");

  REQUIRE(run_ctl({"ice", "sign", proposal, "--key", alice}).code == 0);
  auto one = signed_ice_commit_from_json(json::parse(read_text(proposal)));
  REQUIRE(one);
  REQUIRE(one->signatures.size() == 1);
  {
    AdminVerifier verifier(registry_of({alice, bob}), 2);
    auto outcome = verifier.verify_ice(*one, kNow);
    const auto* rejected = std::get_if<outcome::Rejected>(&outcome);
    REQUIRE(rejected != nullptr);
    CHECK(rejected->kind == "insufficient_signatures");
  }
  check_error_line(run_ctl({"ice", "sign", proposal, "--key", alice}), 1, "already_signed");
  check_error_line(run_ctl({"ice", "sign", proposal}), 2, "usage");

  auto signed_by_bob = run_ctl({"ice", "sign", proposal, "--key", bob});
  REQUIRE(signed_by_bob.code == 0);
  CHECK(contains(signed_by_bob.out, "2 signature(s)"));
  auto two = signed_ice_commit_from_json(json::parse(read_text(proposal)));
  REQUIRE(two);
  CHECK(two->signatures.size() == 2);
  AdminVerifier verifier(registry_of({alice, bob}), 2);
  CHECK(std::holds_alternative<outcome::Accepted>(verifier.verify_ice(*two, kNow)));

  Script script;
  script.answers.emplace("ice", std::string(R"({"outcome":"accepted"})"));
  auto submitted = run_ctl(script, {"--node", "n:1", "ice", "submit", proposal});
  REQUIRE(submitted.code == 0);
  CHECK(submitted.out == "freeze_cluster: accepted\n");
  REQUIRE(script.requests.size() == 1);
  CHECK(script.requests[0].kind == "ice");
  CHECK(json::parse(script.requests[0].body) == json::parse(read_text(proposal)));
}

TEST_CASE("ctl ice propose --cluster: the proposal and its signatures are for that cluster only") {
  TempDir dir;
  const std::string alice = keygen(dir, "alice");
  const std::string proposal = dir.file("thaw.json");
  REQUIRE(propose({"thaw", "--out", proposal, "--cluster", "blue"}).code == 0);
  REQUIRE(run_ctl({"ice", "sign", proposal, "--key", alice}).code == 0);
  auto commit = signed_ice_commit_from_json(json::parse(read_text(proposal)));
  REQUIRE(commit);
  CHECK(commit->cluster == "blue");
  check_for_blue_only(alice, *commit, [](AdminVerifier& v, const SignedIceCommit& c) { return v.verify_ice(c, kNow); });

  // Without --cluster, the default cluster's.
  const std::string plain = dir.file("plain.json");
  REQUIRE(propose({"thaw", "--out", plain}).code == 0);
  auto default_commit = signed_ice_commit_from_json(json::parse(read_text(plain)));
  REQUIRE(default_commit);
  CHECK(default_commit->cluster == kDefaultClusterName);
  // ...unless the node names its own, as for admin commits.
  Script green;
  green.answers.erase("status");
  green.answers.emplace("status", std::string(R"({"node_id":"1a2b3c4d5e6f7081","cluster":"green"})"));
  green.answers.emplace("snapshot", snapshot_text(sample_snapshot()));
  const std::string named = dir.file("named.json");
  REQUIRE(run_ctl(green, {"--node", "n:1", "ice", "propose", "thaw", "--out", named}).code == 0);
  auto green_commit = signed_ice_commit_from_json(json::parse(read_text(named)));
  REQUIRE(green_commit);
  CHECK(green_commit->cluster == "green");
  check_error_line(propose({"thaw", "--out", dir.file("x.json"),
                            "--cluster", std::string(257, 'c')}),
                   2, "invalid_argument");
}

TEST_CASE("ctl ice propose: every action, and the bad ones refused") {
  TempDir dir;
  struct Case {
    std::vector<std::string> words;
    std::string kind;
    json proposal;  // when given: the proposal's JSON, exactly
  };
  const std::vector<Case> cases = {
      {{"thaw"}, "thaw_cluster", {}},
      {{"flush-avoid"}, "flush_avoid_lists", json{{"kind", "flush_avoid_lists"}, {"scope", "global"}}},
      {{"flush-avoid", "global"}, "flush_avoid_lists", json{{"kind", "flush_avoid_lists"}, {"scope", "global"}}},
      {{"flush-avoid", "local", "1f"}, "flush_avoid_lists",
       json{{"kind", "flush_avoid_lists"}, {"scope", "local"}, {"node", "000000000000001f"}}},
      {{"flush-avoid", "peer", "2e"}, "flush_avoid_lists",
       json{{"kind", "flush_avoid_lists"}, {"scope", "on_peer"}, {"peer", "000000000000002e"}}},
      {{"force-restart", "00000000000000aa"}, "force_restart_daemon", {}},
      {{"kill-migration", "7"}, "kill_migration", {}}};
  int n = 0;
  for (const auto& c : cases) {
    const std::string out = dir.file("p" + std::to_string(n++) + ".json");
    std::vector<std::string> args = c.words;
    args.insert(args.end(), {"--out", out});
    REQUIRE(propose(args).code == 0);
    auto commit = signed_ice_commit_from_json(json::parse(read_text(out)));
    REQUIRE(commit);
    CHECK(ice_kind(commit->proposal) == c.kind);
    if (!c.proposal.is_null()) CHECK(json(commit->proposal) == c.proposal);
  }
  const std::string out = dir.file("bad.json");
  for (auto words : {std::vector<std::string>{"flush-avoid", "local"}, std::vector<std::string>{"flush-avoid", "node", "1f"},
                     std::vector<std::string>{"flush-avoid", "global", "1f"}, std::vector<std::string>{"thaw", "a", "b"}}) {
    std::vector<std::string> args = words;
    args.insert(args.end(), {"--out", out});
    check_error_line(propose(args), 2, "usage");
  }
  check_error_line(propose({"flush-avoid", "peer", "xyz", "--out", out}), 2,
                   "invalid_argument");
  check_error_line(propose({"freeze", "--out", out}), 2, "usage");
  check_error_line(propose({"thaw", "--ttl", "1s", "--out", out}), 2, "usage");
  check_error_line(propose({"melt", "--out", out}), 2, "usage");
  check_error_line(propose({"force-restart", "--out", out}), 2, "usage");
  check_error_line(propose({"force-restart", "zz", "--out", out}), 2,
                   "invalid_argument");
  check_error_line(propose({"thaw"}), 2, "usage");
  // Nobody makes a blast-radius hash up any more: the node's state is simulated.
  check_error_line(propose({"thaw", "--blast-hash", std::string(62, '0') + "ab", "--out", out}), 2, "usage");
  CHECK_FALSE(std::filesystem::exists(out));
  // Without the node's snapshot there is no radius to sign: nothing is written.
  Script mute;
  check_error_line(run_ctl(mute, {"--node", "n:1", "ice", "propose", "thaw", "--out", out}), 1, "unknown_request");
  CHECK_FALSE(std::filesystem::exists(out));

  Script script;
  check_error_line(run_ctl(script, {"--node", "n:1", "ice", "submit", dir.file("p0.json")}), 1,
                   "insufficient_signatures");
  check_error_line(run_ctl(script, {"--node", "n:1", "ice", "submit", dir.file("absent.json")}), 1, "file_not_found");
  std::ofstream(dir.file("garbage.json")) << "{\"issued_at_ms\": 1}";
  check_error_line(run_ctl(script, {"--node", "n:1", "ice", "submit", dir.file("garbage.json")}), 1, "invalid_commit");
  CHECK(script.requests.empty());
}

TEST_CASE("ctl audit: a table of the node's audit, signers named from its registry, --since and -o wide") {
  MeshOsSnapshot s = sample_snapshot();
  s.audit.resize(3);
  s.audit[0].wall_ms = kNow - 3'600'000;
  s.audit[1].claimed = {0x66};
  s.audit[1].operators.clear();
  s.audit[1].outcome = "unverified";
  s.audit[2].relayed_from = 0xA;
  s.audit[2].outcome = "rejected";
  s.audit[2].reason_kind = "commit_replayed";
  s.audit_strangers.total = 4;
  Script script;
  script.answers.emplace("snapshot", snapshot_text(s));
  auto o = run_ctl(script, {"--node", "n:1", "audit", "--since", "10m"});
  CAPTURE(o.out);
  CAPTURE(o.err);
  REQUIRE(o.code == 0);
  CHECK(o.out ==
        "SEQ   TIME                       COMMIT   EVENT               SIGNED                                     OUTCOME      REASON\n"
        "2     2023-11-14T22:13:20.000Z   admin    enter_maintenance   claimed by 0000000000000066 (unverified)   unverified   -\n"
        "3     2023-11-14T22:13:20.000Z   admin    enter_maintenance   by alice (0000000000000077)                rejected     commit_replayed\n"
        "(and 4 refused from strangers, counted only: meshos-ctl status shows them by kind)\n");

  auto wide = run_ctl(script, {"--node", "n:1", "audit", "-o", "wide"});
  REQUIRE(wide.code == 0);
  CHECK(contains(wide.out, "RELAYED-BY         FOR-NODE\n"));
  CHECK(contains(wide.out, "commit_replayed   000000000000000a   -\n"));
  CHECK(std::count(wide.out.begin(), wide.out.end(), '\n') == 5);  // header, three records, the strangers

  auto as_json = run_ctl(script, {"--node", "n:1", "audit", "-o", "json"});
  REQUIRE(as_json.code == 0);
  const json j = json::parse(as_json.out);
  CHECK(j.at("audit").size() == 3);
  CHECK(j.at("strangers").at("total") == 4);
  check_error_line(run_ctl(script, {"--node", "n:1", "audit", "--since", "soon"}), 2, "invalid_argument");
}

TEST_CASE("ctl daemons: a table with headers - -o wide adds the capability metadata") {
  MeshOsSnapshot s = sample_snapshot();
  DaemonDescription trainer;
  trainer.id = 0x7;
  trainer.name = "trainer";
  trainer.running = true;
  trainer.capabilities.tags = {"hardware.gpu", "zone=eu"};
  trainer.capabilities.metadata = {{"owner", "ml"}};
  s.peers.begin()->second.daemons = {trainer};
  s.peers.begin()->second.name = "node-b";
  Script script;
  script.answers.emplace("snapshot", snapshot_text(s));
  auto o = run_ctl(script, {"--node", "n:1", "daemons", "--capability", "hardware.gpu"});
  CAPTURE(o.out);
  REQUIRE(o.code == 0);
  CHECK(o.out ==
        "NODE                      DAEMON             NAME      STATE     CAPABILITIES\n"
        "0000000000009999 node-b   0000000000000007   trainer   running   hardware.gpu,zone=eu\n");
  auto wide = run_ctl(script, {"--node", "n:1", "daemons", "--capability", "hardware.gpu", "-o", "wide"});
  CHECK(contains(wide.out, "CAPABILITIES           METADATA\n"));
  CHECK(contains(wide.out, "hardware.gpu,zone=eu   owner=ml\n"));
}

TEST_CASE("render_table pads each column to its widest cell and drops trailing blanks") {
  CHECK(ctl::render_table({"A", "LONG HEADER"}, {{"wide cell", "x"}, {"y"}}, "  ") ==
        "  A           LONG HEADER\n"
        "  wide cell   x\n"
        "  y\n");
  CHECK(ctl::render_table({"ONLY"}, {}) == "ONLY\n");
}
