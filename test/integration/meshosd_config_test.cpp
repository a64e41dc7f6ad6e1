// meshosd refuses a bad config before it starts anything: exit code 2, exactly one line on stderr that
// names the problem, no port file written. No network is needed for these.
#include <doctest/doctest.h>

#include <string>

#include "meshosd_process.hpp"


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

void check_refused(const Fixture& f, const Outcome& o, const std::string& expected) {
  INFO("stderr: " << o.err);
  INFO("stdout: " << o.out);
  REQUIRE(o.exit.exited);
  CHECK(o.exit.code == 2);
  CHECK(o.err.find(expected) != std::string::npos);
  CHECK(o.err.rfind("meshosd: ", 0) == 0);
  // Exactly one line.
  CHECK(!o.err.empty());
  CHECK(o.err.find('\n') == o.err.size() - 1);
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

TEST_CASE("help exits 0 and names the sections") {
  auto o = run_meshosd({"--help"});
  REQUIRE(o.exit.exited);
  CHECK(o.exit.code == 0);
  CHECK(o.out.find("[node]") != std::string::npos);
  CHECK(o.out.find("[daemons]") != std::string::npos);
}

TEST_CASE("an unknown key in the file is refused with its line") {
  auto f = fixture("unknown-key");
  auto o = run_with(f, config_text(f, "lisen-port = 0\n"));
  check_refused(f, o, "line 7: unknown key \"lisen-port\" in [node]");
}

TEST_CASE("an unknown key in [meshos] is refused") {
  auto f = fixture("unknown-meshos-key");
  auto o = run_with(f, "[meshos]\ntick-intervall = 50ms\n" + config_text(f).substr(std::string("[meshos]\n").size()));
  check_refused(f, o, "unknown key \"tick-intervall\" in [meshos]");
}

TEST_CASE("an unknown section is refused") {
  auto f = fixture("unknown-section");
  auto o = run_with(f, config_text(f, "", "\n[nodes]\nlisten-port = 1\n"));
  check_refused(f, o, "unknown section [nodes]");
}

TEST_CASE("a port out of range is refused") {
  auto f = fixture("bad-port");
  auto o = run_with(f, config_text(f, "listen-port = 70000\n"));
  check_refused(f, o, "port 70000 is out of range");
}

TEST_CASE("a bad port on the command line is refused") {
  auto f = fixture("bad-port-cli");
  auto o = run_with(f, config_text(f), {"--node.listen-port=65536"});
  check_refused(f, o, "--node.listen-port: [node] listen-port: port 65536 is out of range");
}

TEST_CASE("an unknown key on the command line is refused") {
  auto f = fixture("unknown-cli");
  auto o = run_with(f, config_text(f), {"--node.bogus=1"});
  check_refused(f, o, "--node.bogus: unknown key \"bogus\" in [node]");
}

TEST_CASE("an unquoted string is refused with its line") {
  auto f = fixture("bare-word");
  auto o = run_with(f, config_text(f, "listen-host = localhost\n"));
  check_refused(f, o, "line 7");
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

TEST_CASE("an empty cluster name is refused") {
  auto f = fixture("bad-cluster");
  auto o = run_with(f, config_text(f, "cluster-name = \"\"\n"));
  check_refused(f, o, "[node] cluster-name: a cluster name must be 1 to 256 bytes");
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
  auto o = run_meshosd({"--config", f.dir + "/node.conf", "--verbose"});
  check_refused(f, o, "unknown argument \"--verbose\"");
}

TEST_CASE("the committed example configs name only known keys") {
  // The examples point at build/certs; here their key files come from the scratch certs instead.
  auto f = fixture("examples");
  const std::string root = MESHOS_SOURCE_DIR;
  for (const char* conf : {"node.conf", "cluster/node-a.conf", "cluster/node-b.conf", "cluster/node-c.conf"}) {
    INFO(conf);
    const std::string name = conf;
    // A bad port on the command line stops meshosd after every key of the file was accepted.
    auto o = run_meshosd({"--config", root + "/conf/" + name, "--node.key-file=" + f.key_file,
                          "--operators.registry-file=" + f.dir + "/operators.json", "--node.listen-port=99999"});
    check_refused(f, o, "--node.listen-port");
  }
}
