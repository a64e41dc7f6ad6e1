// meshosd's configuration through CAF's config system made strict: a bad config is refused before anything
// starts (exit code 2, one line on stderr per problem, each naming its file and line or its argument, no port
// file written); --help, --dump-config, CAF's own keys, paths relative to the config file.
#include <doctest/doctest.h>

#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <functional>

#include "meshos/node.hpp"
#include "meshos/version.hpp"
#include "meshosd_process.hpp"


using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

namespace {

struct Fixture {
  std::string dir;
  std::string key_file;
  std::string port_file;
};

Fixture fixture(const std::string& name) {
  Fixture f;
  f.dir = scratch_dir("meshosd-config-" + name);
  REQUIRE(make_test_certs(f.dir));
  f.key_file = f.dir + "/node.key.json";
  f.port_file = f.dir + "/node.port";
  return f;
}

// A valid config; `extra` is appended (a later section of the same name is a duplicate, so tests that
// change a [node] key pass it through `node_extra`).
std::string config_text(const Fixture& f, const std::string& node_extra = "", const std::string& extra = "") {
  return "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + f.key_file + "\"\nport-file = \"" + f.port_file +
         "\"\n" + node_extra + "\n[daemons]\nbuiltin = [\"echo\", \"counter\"]\n" + extra;
}

struct Outcome {
  Exit exit;
  std::string err;
  std::string out;
};

Outcome run_meshosd(const std::vector<std::string>& args) {
  std::vector<std::string> argv{meshosd_path()};
  argv.insert(argv.end(), args.begin(), args.end());
  ChildProcess p(argv);
  Outcome o;
  o.exit = p.wait_exit(deadline_in(20s));
  o.err = p.err();
  o.out = p.out();
  return o;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// Refused with `problems` lines on stderr (each "meshosd: ..."), one of which holds `expected`.
void check_refused(const Fixture& f, const Outcome& o, const std::string& expected, std::size_t problems = 1) {
  INFO("stderr: " << o.err);
  INFO("stdout: " << o.out);
  REQUIRE(o.exit.exited);
  CHECK(o.exit.code == 2);
  CHECK(o.err.find(expected) != std::string::npos);
  const auto lines = lines_of(o.err);
  CHECK(lines.size() == problems);
  for (const auto& line : lines) CHECK(line.rfind("meshosd: ", 0) == 0);
  CHECK(o.out.empty());
  CHECK(read_file(f.port_file).empty());
}

Outcome run_with(const Fixture& f, const std::string& text, std::vector<std::string> extra_args = {}) {
  const std::string path = f.dir + "/node.conf";
  write_file(path, text);
  std::vector<std::string> args{"--config", path};
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  return run_meshosd(args);
}

}  // namespace

TEST_CASE("help lists every key with its default - long help adds CAF's own") {
  auto o = run_meshosd({"--help"});
  REQUIRE(o.exit.exited);
  CHECK(o.exit.code == 0);
  for (const char* key : {"--meshos.tick-interval=<timespan>", "--node.listen-port=<uint16>", "--node.peers=<list of string>",
                          "--tls.ca-file=<string>", "--operators.threshold=<uint64>", "--daemons.builtin=<list of string>",
                          "--on-hangup=<string>"}) {
    CAPTURE(key);
    CHECK(o.out.find(key) != std::string::npos);
  }
  CHECK(o.out.find("(default: 500ms)") != std::string::npos);
  CHECK(o.out.find("(default: \"127.0.0.1\")") != std::string::npos);
  CHECK(o.out.find("--scheduler.max-threads") == std::string::npos);
  auto long_help = run_meshosd({"--long-help"});
  REQUIRE(long_help.exit.exited);
  CHECK(long_help.exit.code == 0);
  CHECK(long_help.out.find("--scheduler.max-threads=<uint64>") != std::string::npos);
  CHECK(long_help.out.find("--middleman.heartbeat-interval") == std::string::npos);  // meshos sets it
}

TEST_CASE("--version names the build") {
  auto o = run_meshosd({"--version"});
  REQUIRE(o.exit.exited);
  CHECK(o.exit.code == 0);
  CHECK(o.out == "meshosd " + meshos::version() + "\n");
}

// One problem each, where CAF alone would accept or silently drop it; the file is config_text's, lines counted
// from its start ([node]'s extra keys begin on line 7, [daemons] ends on line 9).
struct OneProblem {
  const char* name;
  std::string node_extra;
  std::string extra;
  std::vector<std::string> args;
  std::string expected;
};

TEST_CASE("each problem CAF would let pass is refused, naming where it is") {
  const std::vector<OneProblem> cases = {
      {"unknown-key", "lisen-port = 0\n", "", {}, "node.conf:7: unknown key lisen-port in [node] (did you mean listen-port?)"},
      {"unknown-section", "", "\n[nodes]\nlisten-port = 1\n", {}, "node.conf:11: unknown section [nodes] (did you mean [node]?)"},
      {"wrong-type", "listen-port = 70000\n", "", {}, "node.conf:7: [node] listen-port: expected a value of type uint16, got 70000"},
      {"wrong-type-text", "heartbeat-interval = \"fast\"\n", "", {},
       "node.conf:7: [node] heartbeat-interval: expected a value of type timespan, got \"fast\""},
      {"duplicate", "listen-port = 1\nlisten-port = 2\n", "", {}, "node.conf:8: [node] listen-port is set twice (first on line 7)"},
      {"open-list", "", "plugins = [\"a.so\",\n", {}, "node.conf:10: the list or map of plugins is never closed"},
      {"bare-word", "listen-host = localhost\n", "", {}, "node.conf: line 7, column"},
      {"reserved", "", "\n[middleman]\nheartbeat-interval = 1s\n", {},
       "node.conf:12: [middleman] heartbeat-interval: set by meshos from node.heartbeat-interval"},
      {"bad-port-cli", "", "", {"--node.listen-port=65536"}, "--node.listen-port=65536: expected a value of type uint16"},
      {"unknown-cli", "", "", {"--node.bogus=1"}, "--node.bogus=1: unknown key bogus in [node]"},
      {"empty-cluster", "cluster-name = \"\"\n", "", {}, "node.conf:7: [node] cluster-name: a cluster name must be 1 to 256 bytes"},
  };
  for (const auto& c : cases) {
    SUBCASE(c.name) {
      auto f = fixture(c.name);
      check_refused(f, run_with(f, config_text(f, c.node_extra, c.extra), c.args), c.expected);
    }
  }
}

TEST_CASE("an unknown key in [meshos] is refused with the key meant") {
  auto f = fixture("unknown-meshos-key");
  auto o = run_with(f, "[meshos]\ntick-intervall = 50ms\n" + config_text(f).substr(std::string("[meshos]\n").size()));
  check_refused(f, o, "node.conf:2: unknown key tick-intervall in [meshos] (did you mean tick-interval?)");
}

TEST_CASE("every problem is reported at once, each where it is") {
  auto f = fixture("several");
  auto o = run_with(f, "[meshos]\ntick-interval = 50\ncontrol-capacity = 0\n\n[node]\nkey-file = \"" + f.key_file +
                           "\"\nlisten-prot = 1\npeer-timeout = 0ms\n",
                    {"--node.bogus=1", "--node.listen-port=x"});
  check_refused(f, o, "node.conf:2: [meshos] tick-interval: expected a value of type timespan, got 50", 6);
  CHECK(o.err.find("node.conf:7: unknown key listen-prot in [node] (did you mean listen-port?)") != std::string::npos);
  CHECK(o.err.find("--node.bogus=1: unknown key bogus in [node]") != std::string::npos);
  CHECK(o.err.find("--node.listen-port=x: expected a value of type uint16") != std::string::npos);
  // CAF checked the types, meshos the values: both kinds of problem in one report.
  CHECK(o.err.find("[meshos]: control-capacity must be at least 1") != std::string::npos);
  CHECK(o.err.find("node.conf:8: [node] peer-timeout: must be a positive duration") != std::string::npos);
}

TEST_CASE("a missing key file is refused") {
  auto f = fixture("missing-key");
  f.key_file = f.dir + "/no-such-key.json";
  auto o = run_with(f, config_text(f));
  check_refused(f, o, "[node] key-file: ");
  CHECK(o.err.find("no-such-key.json") != std::string::npos);
}

TEST_CASE("a key file readable by others is refused") {
  auto f = fixture("open-key");
  chmod(f.key_file.c_str(), 0644);
  auto o = run_with(f, config_text(f));
  check_refused(f, o, "[node] key-file: ");
}

TEST_CASE("a malformed operator registry is refused") {
  auto f = fixture("bad-operators");
  write_file(f.dir + "/operators.json", "{\"operators\": [{\"name\": \"x\", \"public_key\": \"zz\"}]}");
  auto o = run_with(f, config_text(f, "", "\n[operators]\nregistry-file = \"" + f.dir + "/operators.json\"\n"));
  check_refused(f, o, "[operators] registry-file: ");
}

TEST_CASE("a TLS key file that does not exist is refused") {
  auto f = fixture("bad-tls");
  auto o = run_with(f, config_text(f, "", "\n[tls]\ncertificate = \"" + f.dir + "/node.pem\"\nkey = \"" + f.dir +
                                                "/missing.key\"\nca-file = \"" + f.dir + "/ca.pem\"\n"));
  check_refused(f, o, "[tls]");
}

TEST_CASE("a TLS key that does not match its certificate is refused") {
  auto f = fixture("mismatched-tls");
  auto o = run_with(f, config_text(f, "", "\n[tls]\ncertificate = \"" + f.dir + "/node.pem\"\nkey = \"" + f.dir +
                                                "/node-a.key\"\nca-file = \"" + f.dir + "/ca.pem\"\n"));
  check_refused(f, o, "[tls]");
}

TEST_CASE("an unknown built-in daemon is refused") {
  auto f = fixture("unknown-daemon");
  auto o = run_with(f, config_text(f), {"--daemons.builtin=[\"echo\", \"tea\"]"});
  check_refused(f, o, "unknown daemon kind \"tea\"");
}

TEST_CASE("two daemons with one name are refused") {
  auto f = fixture("duplicate-daemon");
  auto o = run_with(f, config_text(f), {"--daemons.builtin=[\"echo:x\", \"counter:x\"]"});
  check_refused(f, o, "two daemons are named \"x\"");
}

TEST_CASE("a plugin that cannot be loaded is refused") {
  auto f = fixture("bad-plugin");
  write_file(f.dir + "/not-a-plugin.so", "hello");
  auto o = run_with(f, config_text(f), {"--daemons.plugins=" + f.dir + "/not-a-plugin.so"});
  check_refused(f, o, "cannot load plugin");
}

TEST_CASE("a missing config file is refused") {
  auto f = fixture("missing-config");
  auto o = run_meshosd({"--config", f.dir + "/nothing.conf"});
  check_refused(f, o, "nothing.conf");
}

TEST_CASE("an unknown argument is refused") {
  auto f = fixture("bad-argument");
  write_file(f.dir + "/node.conf", config_text(f));
  auto o = run_meshosd({"--config", f.dir + "/node.conf", "--verbose"});
  check_refused(f, o, "--verbose: unknown option");
}

TEST_CASE("the committed example configs name only known keys") {
  // The examples point at build/certs; here their key files come from the scratch certs instead.
  auto f = fixture("examples");
  const std::string root = MESHOS_SOURCE_DIR;
  for (const char* conf : {"node.conf", "cluster/node-a.conf", "cluster/node-b.conf", "cluster/node-c.conf",
                           "tls/node-a.conf", "tls/node-b.conf", "tls/node-c.conf"}) {
    INFO(conf);
    const std::string name = conf;
    // A bad port on the command line stops meshosd after every key of the file was accepted.
    auto o = run_meshosd({"--config", root + "/conf/" + name, "--node.key-file=" + f.key_file,
                          "--operators.registry-file=" + f.dir + "/operators.json", "--node.listen-port=99999"});
    check_refused(f, o, "--node.listen-port=99999: expected a value of type uint16");
  }
}

// A node that starts: a config with `extra` in [node], run until its start line, then drained.
void check_starts(const std::vector<std::string>& args, const std::function<void(std::uint16_t port)>& while_up = {}) {
  ChildProcess node([&] {
    std::vector<std::string> argv{meshosd_path()};
    argv.insert(argv.end(), args.begin(), args.end());
    return argv;
  }());
  auto start_line = node.wait_for_line("listening on", deadline_in(20s));
  INFO("stderr: " << node.err());
  REQUIRE(start_line);
  const auto at = start_line->find("127.0.0.1:");
  REQUIRE(at != std::string::npos);
  if (while_up) while_up(static_cast<std::uint16_t>(std::stoul(start_line->substr(at + 10))));
  check_drains(node);
}

TEST_CASE("relative paths in a config file are taken from the file's folder, wherever meshosd runs") {
  auto f = fixture("relative");
  // The test runs in the build tree; the config and its files live in the scratch folder.
  write_file(f.dir + "/node.conf", "[node]\nkey-file = \"node.key.json\"\nport-file = \"run/node.port\"\n");
  REQUIRE(mkdir((f.dir + "/run").c_str(), 0700) == 0);
  check_starts({"--config", f.dir + "/node.conf"}, [&](std::uint16_t port) {
    CHECK(std::stoul(read_file(f.dir + "/run/node.port")) == port);
  });
}

TEST_CASE("CAF's own keys reach the node's actor system") {
  auto f = fixture("caf-keys");
  write_file(f.dir + "/node.conf", config_text(f, "", "\n[scheduler]\nmax-threads = 3\n"));
  for (const auto& extra : std::vector<std::vector<std::string>>{{}, {"--scheduler.max-threads=5", "--scheduler.policy='stealing'"}}) {
    std::vector<std::string> args{"--config", f.dir + "/node.conf"};
    args.insert(args.end(), extra.begin(), extra.end());
    check_starts(args, [&](std::uint16_t port) {
      auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", port});
      REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().message));
      auto status = (*remote)->request("status", "{}", 10s);
      REQUIRE_MESSAGE(status, (status ? "" : status.error().message));
      const auto scheduler = nlohmann::json::parse(*status).at("scheduler");
      CHECK(scheduler.at("workers") == (extra.empty() ? 3 : 5));
      CHECK(scheduler.at("policy") == (extra.empty() ? "sharing" : "stealing"));
    });
  }
}

TEST_CASE("--dump-config prints the configuration in effect as a file meshosd reads back unchanged") {
  auto f = fixture("dump");
  write_file(f.dir + "/node.conf", config_text(f, "peers = [\"127.0.0.1:1\"]\nmembers-file = \"members.json\"\n"));
  auto first = run_meshosd({"--config", f.dir + "/node.conf", "--dump-config", "--node.listen-port=4242",
                            "--scheduler.max-threads=3"});
  REQUIRE(first.exit.exited);
  CHECK(first.exit.code == 0);
  INFO(first.out);
  CHECK(first.out.find("[node]\n") != std::string::npos);
  CHECK(first.out.find("listen-port = 4242\n") != std::string::npos);            // the command line
  CHECK(first.out.find("tick-interval = 50ms\n") != std::string::npos);           // the file
  CHECK(first.out.find("peer-timeout = 1500ms\n") != std::string::npos);          // a default
  CHECK(first.out.find("max-threads = 3\n") != std::string::npos);                // CAF's key
  CHECK(first.out.find("members-file = \"" + f.dir + "/members.json\"") != std::string::npos);  // resolved
  CHECK(first.out.find("heartbeat-interval = 250ms") != std::string::npos);
  write_file(f.dir + "/dumped.conf", first.out);
  auto second = run_meshosd({"--config", f.dir + "/dumped.conf", "--dump-config"});
  REQUIRE(second.exit.exited);
  CHECK(second.exit.code == 0);
  CHECK(second.out == first.out);
}

TEST_CASE("conf/README.md documents every key meshosd declares") {
  const std::string readme = read_file(std::string(MESHOS_SOURCE_DIR) + "/conf/README.md");
  REQUIRE_FALSE(readme.empty());
  auto o = run_meshosd({"--dump-config"});
  REQUIRE(o.exit.code == 0);
  std::string section;
  std::size_t keys = 0;
  for (const auto& line : lines_of(o.out)) {
    if (line.rfind("[", 0) == 0) section = line.substr(1, line.size() - 2);
    const bool ours = section == "meshos" || section == "node" || section == "tls" || section == "operators" ||
                      section == "daemons";
    if (!ours || line.find(" = ") == std::string::npos) continue;
    const std::string key = line.substr(0, line.find(" = "));
    CAPTURE(section);
    CAPTURE(key);
    CHECK(readme.find("`" + key + "`") != std::string::npos);
    ++keys;
  }
  CHECK(keys > 40);
}
