// meshosd with [node] state-dir: what an operator committed through meshos-ctl (maintenance enter) and over
// the wire (a signed cordon) is still in force after the node is killed with SIGKILL and started again, and
// the cordon commit sent once more is refused as a replay. A corrupt state file stops the start with exit 2
// and one line naming the file; --fresh-state starts anyway and keeps the bad file aside. What the node logged
// before a restart is still there for `meshos-ctl logs --since`, and not printed on stdout a second time.
#include <doctest/doctest.h>

#include <filesystem>

#include "e2e_support.hpp"
#include "meshos/admin.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/node.hpp"
#include "meshos/time.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

// A node's files: key, registry with alice in it, config with a state dir.
struct NodeFiles {
  std::string dir;
  std::string config;
  std::string state_dir;
  Operator alice;

  explicit NodeFiles(const std::string& name) : dir(scratch_dir(name)) {
    REQUIRE(make_test_certs(dir));
    alice = make_operator(dir, "alice");
    write_operator_registry(dir + "/operators.json", alice);
    config = dir + "/node.conf";
    state_dir = dir + "/state";
    write_file(config, "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir +
                           "/node.key.json\"\nlisten-port = 0\ndrain-deadline = 10s\nstate-dir = \"" + state_dir +
                           "\"\n\n[operators]\nregistry-file = \"" + dir +
                           "/operators.json\"\n\n[daemons]\nbuiltin = [\"echo\", \"counter\"]\n");
  }
  std::string state_file() const { return state_dir + "/node-state.json"; }
};

// meshosd started on the files, up and listening.
struct Started {
  std::unique_ptr<ChildProcess> process;
  StartLine start;
  std::string address() const { return "127.0.0.1:" + std::to_string(start.port); }
};

Started start_node(const NodeFiles& files, const std::vector<std::string>& extra = {}) {
  std::vector<std::string> argv{meshosd_path(), "--config", files.config};
  argv.insert(argv.end(), extra.begin(), extra.end());
  Started s;
  s.process = std::make_unique<ChildProcess>(argv);
  auto line = s.process->wait_for_line("listening on", deadline_in(20s));
  INFO("meshosd stderr: " << s.process->err());
  REQUIRE(line);
  auto parsed = parse_start_line(*line);
  REQUIRE(parsed);
  s.start = *parsed;
  return s;
}

Result<std::string> send_commit(const Started& node, const SignedAdminCommit& commit) {
  auto remote = RemoteNode::connect(PeerAddress::parse(node.address()).value());
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
  return (*remote)->request("admin", json(commit).dump());
}

void drain(Started& node) {
  node.process->signal(SIGTERM);
  const Exit e = node.process->wait_exit(deadline_in(30s));
  INFO("meshosd stderr: " << node.process->err());
  CHECK(e.exited);
  CHECK(e.code == 0);
}

}  // namespace

TEST_CASE("killed with SIGKILL and restarted on its state dir, meshosd is still in maintenance and refuses a replay") {
  NodeFiles files("e2e-state-dir-restart");
  auto alice_key = load_key_file(files.alice.key_file);
  REQUIRE(alice_key);
  SignedAdminCommit cordon;
  {
    Started first = start_node(files);
    auto enter = run_ctl({"--node", first.address(), "--key", files.alice.key_file, "maintenance", "enter",
                          "--drain-for", "60s"});
    INFO("enter stdout: " << enter.out << "\nstderr: " << enter.err);
    REQUIRE(enter.exit.code == 0);
    CHECK(contains(enter.out, "enter_maintenance: accepted"));

    cordon = sign_admin(alice_key->keypair, wall_clock_ms(), admin::Cordon{first.start.node}).value();
    auto accepted = send_commit(first, cordon);
    REQUIRE_MESSAGE(accepted, (accepted ? "" : accepted.error().to_string()));
    CHECK(json::parse(*accepted).at("outcome") == "accepted");

    first.process->signal(SIGKILL);  // answered means saved: nothing may be lost now
    const Exit killed = first.process->wait_exit(deadline_in(10s));
    REQUIRE(killed.exited);
    CHECK(killed.code == 128 + SIGKILL);
  }

  Started second = start_node(files);
  CHECK(second.start.node == std::get<admin::Cordon>(cordon.event).node);
  auto status = run_ctl({"--node", second.address(), "status"});
  INFO("status: " << status.out << status.err);
  REQUIRE(status.exit.code == 0);
  CHECK_FALSE(contains(status.out, "maintenance: active"));
  CHECK(contains(status.out, "maintenance: "));
  CHECK(contains(status.out, "[cordoned]"));
  CHECK(contains(status.out, "enter_maintenance  by alice (" + files.alice.id_hex + ")  accepted"));
  CHECK(contains(status.out, "cordon  by alice (" + files.alice.id_hex + ")  accepted"));

  auto replayed = send_commit(second, cordon);
  REQUIRE_FALSE(replayed);
  CHECK(replayed.error().code() == Errc::commit_replayed);
  drain(second);
}

TEST_CASE("a corrupt state file stops meshosd with exit 2 and one line - --fresh-state keeps it aside and starts") {
  NodeFiles files("e2e-state-dir-corrupt");
  std::filesystem::create_directories(files.state_dir);
  write_file(files.state_file(), "{\"format\": \"meshos-node-state\", \"version\": 1, \"node\": \"00");

  ChildProcess refused({meshosd_path(), "--config", files.config});
  const Exit e = refused.wait_exit(deadline_in(20s));
  INFO("stderr: " << refused.err() << "\nstdout: " << refused.out());
  REQUIRE(e.exited);
  CHECK(e.code == 2);
  CHECK(refused.err().rfind("meshosd: invalid_state_file: " + files.state_file() + ": ", 0) == 0);
  CHECK(refused.err().find('\n') == refused.err().size() - 1);  // exactly one line
  CHECK(refused.out().empty());

  Started fresh = start_node(files, {"--fresh-state"});
  std::vector<std::string> kept;
  for (const auto& entry : std::filesystem::directory_iterator(files.state_dir)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("node-state.json.bad-", 0) == 0) kept.push_back(entry.path().string());
  }
  REQUIRE(kept.size() == 1);
  CHECK(read_file(kept[0]) == "{\"format\": \"meshos-node-state\", \"version\": 1, \"node\": \"00");
  auto logs = run_ctl({"--node", fresh.address(), "logs"});
  CHECK(contains(logs.out, "kept as " + kept[0]));
  drain(fresh);
}

TEST_CASE("after a restart meshos-ctl logs --since shows what the node logged before it, from the journal") {
  NodeFiles files("e2e-state-dir-logs");
  {
    Started first = start_node(files);
    // Refused (no daemon of that name): the node logs the refusal as a warning.
    auto refused = run_ctl({"--node", first.address(), "--key", files.alice.key_file, "daemon", "stop", "nosuch"});
    CHECK(refused.exit.code == 1);
    CHECK(contains(refused.err, "unknown_daemon"));
    drain(first);
    CHECK(contains(first.process->out(), "unknown_daemon"));  // on stdout once, by the run that saw it
  }
  const std::string journal = files.state_dir + "/logs.jsonl";
  REQUIRE(std::filesystem::exists(journal));
  CHECK(std::filesystem::exists(files.state_dir + "/audit.jsonl"));

  Started second = start_node(files);
  auto logs = run_ctl({"--node", second.address(), "logs", "--since", "10m"});
  INFO("logs: " << logs.out << logs.err);
  REQUIRE(logs.exit.code == 0);
  CHECK(contains(logs.out, "unknown_daemon"));
  CHECK(contains(logs.out, "log restored from " + journal));
  auto recent = run_ctl({"--node", second.address(), "logs", "--since", "1ms"});
  CHECK_FALSE(contains(recent.out, "unknown_daemon"));
  drain(second);
  CHECK_FALSE(contains(second.process->out(), "unknown_daemon"));
}
