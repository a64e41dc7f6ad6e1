// meshosd and SIGHUP (issue 12: credentials removed or replaced at run time never stop a node). By default a
// hang-up re-reads the [tls] files and uses them only once they validate: a refused reload is logged, the node
// keeps the credentials it had and keeps serving operators. With --on-hangup=drain (what meshos-run passes to
// the nodes it starts through `ssh -tt`, whose session's end hangs them up) a hang-up drains and stops the node
// like SIGTERM.
#include <doctest/doctest.h>

#include <filesystem>
#include <map>

#include "meshos/node.hpp"
#include "meshosd_process.hpp"

using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

namespace {

std::uint16_t port_from_start_line(const std::string& line) {
  const std::string marker = "listening on 127.0.0.1:";
  const auto at = line.find(marker);
  REQUIRE(at != std::string::npos);
  return static_cast<std::uint16_t>(std::stoul(line.substr(at + marker.size())));
}

std::string node_config(const std::string& dir, const std::string& tls_section = "") {
  return "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir +
         "/node.key.json\"\nlisten-port = 0\ndrain-deadline = 10s\n" + tls_section +
         "\n[daemons]\nbuiltin = [\"echo\"]\n";
}

// A fresh operator connection to the node answers status (what `meshos-ctl status` does).
void status_succeeds(std::uint16_t port, const TlsOptions& tls = {}) {
  auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", port}, tls, 5s);
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
  auto reply = (*remote)->request("status", "{}", 5s);
  REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
  CHECK(reply->find("node") != std::string::npos);
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

// The pids meshos-run announces ("meshos-run: NAME: starting (pid N") for the nodes it started, once nodes
// named `a` and `b` are both up; {-1, -1} if not by the deadline.
std::pair<pid_t, pid_t> wait_until_up(ChildProcess& run, const std::string& a, const std::string& b,
                                      Deadline deadline) {
  std::map<std::string, pid_t> pids;
  std::size_t up = 0;
  while (auto line = run.next_line(deadline)) {
    for (const auto& name : {a, b}) {
      const std::string prefix = "meshos-run: " + name + ": ";
      if (line->rfind(prefix, 0) != 0) continue;
      const std::string rest = line->substr(prefix.size());
      if (rest.rfind("starting (pid ", 0) == 0) pids[name] = std::stoi(rest.substr(14));
      if (rest.rfind("up (node ", 0) == 0) ++up;
    }
    if (up == 2 && pids.size() == 2) return {pids[a], pids[b]};
  }
  return {-1, -1};
}

// SIGTERM: the node drains and exits 0.
void drains_on_sigterm(ChildProcess& node) {
  node.signal(SIGTERM);
  CHECK(node.wait_for_line("drained and stopped", deadline_in(30s)));
  const Exit e = node.wait_exit(deadline_in(30s));
  CHECK(e.exited);
  CHECK(e.code == 0);
}

}  // namespace

TEST_CASE("SIGHUP after the certificate file was deleted is refused, and the node keeps serving with what it had") {
  namespace fs = std::filesystem;
  const std::string dir = scratch_dir("meshosd-hangup-tls");
  REQUIRE(make_test_certs(dir));
  // The operator's credentials: copies, so removing the node's files leaves them.
  const std::string ops = dir + "/operator";
  fs::create_directory(ops);
  for (const char* f : {"node.pem", "node.key", "ca.pem"}) fs::copy_file(dir + "/" + f, ops + "/" + f);
  const TlsOptions op{ops + "/node.pem", ops + "/node.key", ops + "/ca.pem", ""};
  // What the node loaded at start, kept aside to be put back as the rotation.
  const std::string kept = dir + "/kept";
  fs::create_directory(kept);
  for (const char* f : {"node.pem", "node.key", "ca.pem"}) fs::copy_file(dir + "/" + f, kept + "/" + f);

  write_file(dir + "/node.conf", node_config(dir, "\n[tls]\ncertificate = \"" + dir + "/node.pem\"\nkey = \"" + dir +
                                                      "/node.key\"\nca-file = \"" + dir + "/ca.pem\"\n"));
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf"});
  auto start_line = node.wait_for_line("listening on", deadline_in(20s));
  INFO("stderr: " << node.err());
  REQUIRE(start_line);
  CHECK(start_line->find("(tls)") != std::string::npos);
  const auto port = port_from_start_line(*start_line);
  status_succeeds(port, op);

  // (a) The certificate file is gone: the reload is refused, logged, and changes nothing.
  fs::remove(dir + "/node.pem");
  node.signal(SIGHUP);
  auto refused = node.wait_for_line("Hangup:", deadline_in(20s));
  INFO("stdout: " << node.out());
  REQUIRE(refused);
  CHECK(refused->find("TLS reload refused") != std::string::npos);
  CHECK(refused->find("invalid_tls") != std::string::npos);
  CHECK(refused->find("keeps the credentials it had") != std::string::npos);
  for (int i = 0; i < 3; ++i) status_succeeds(port, op);  // new connections, served with the loaded credentials

  // (b) Valid files are back in place: the next hang-up reloads them and new connections still work.
  fs::copy_file(kept + "/node.pem", dir + "/node.pem", fs::copy_options::overwrite_existing);
  fs::copy_file(kept + "/node.key", dir + "/node.key", fs::copy_options::overwrite_existing);
  fs::copy_file(kept + "/ca.pem", dir + "/ca.pem", fs::copy_options::overwrite_existing);
  node.signal(SIGHUP);
  auto reloaded = node.wait_for_line("Hangup:", deadline_in(20s));
  REQUIRE(reloaded);
  CHECK(reloaded->find("reloaded TLS certificate " + dir + "/node.pem") != std::string::npos);
  for (int i = 0; i < 3; ++i) status_succeeds(port, op);

  // Neither hang-up stopped anything: SIGTERM still drains.
  drains_on_sigterm(node);
}

TEST_CASE("SIGHUP to a node without TLS says there is nothing to reload and the node keeps running") {
  const std::string dir = scratch_dir("meshosd-hangup-plain");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", node_config(dir));
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf", "--on-hangup=reload"});
  auto start_line = node.wait_for_line("listening on", deadline_in(20s));
  INFO("stderr: " << node.err());
  REQUIRE(start_line);
  const auto port = port_from_start_line(*start_line);
  node.signal(SIGHUP);
  auto line = node.wait_for_line("Hangup:", deadline_in(20s));
  INFO("stdout: " << node.out());
  REQUIRE(line);
  CHECK(line->find("nothing to reload") != std::string::npos);
  status_succeeds(port);
  drains_on_sigterm(node);
}

TEST_CASE("with --on-hangup=drain SIGHUP drains and stops the node like SIGTERM") {
  const std::string dir = scratch_dir("meshosd-hangup-drain");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", node_config(dir));
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf", "--on-hangup=drain"});
  auto start_line = node.wait_for_line("listening on", deadline_in(20s));
  INFO("stderr: " << node.err());
  REQUIRE(start_line);
  status_succeeds(port_from_start_line(*start_line));
  node.signal(SIGHUP);
  auto draining = node.wait_for_line("draining", deadline_in(20s));
  INFO("stdout: " << node.out());
  REQUIRE(draining);
  CHECK(draining->find("Hangup") != std::string::npos);
  CHECK(node.wait_for_line("drained and stopped", deadline_in(30s)));
  const Exit e = node.wait_exit(deadline_in(30s));
  CHECK(e.exited);
  CHECK(e.code == 0);  // meshosd's "drained and stopped" exit code
}

TEST_CASE("an --on-hangup value other than drain or reload is refused before anything starts") {
  const std::string dir = scratch_dir("meshosd-hangup-bad");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", node_config(dir));
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf", "--on-hangup=stop"});
  const Exit e = node.wait_exit(deadline_in(20s));
  INFO("stderr: " << node.err());
  CHECK(e.exited);
  CHECK(e.code == 2);
  CHECK(node.err().find("--on-hangup") != std::string::npos);
  CHECK(node.out().empty());
}

TEST_CASE("meshos-run's remote node drains and stops when its ssh session hangs up, a local one does not") {
  // An `ssh` stand-in first on PATH records the remote command and runs it here (exec: the pid meshos-run
  // announces is the remote meshosd's). The hang-up is the SIGHUP a remote meshosd gets when the session of
  // `ssh -tt` ends. The "remote" node listens on 127.0.0.2, loopback but not a host meshos-run treats as local.
  const std::string root = scratch_dir("meshosd-hangup-ssh");
  REQUIRE(make_test_certs(root + "/certs"));
  write_ssh_stand_in(root);
  const std::string node = "[meshos]\ntick-interval = 50ms\n[node]\ndrain-deadline = 10s\n";
  write_file(root + "/node-a.conf", node + "key-file = \"" + root + "/certs/node-a.key.json\"\n");
  write_file(root + "/node-b.conf",
             node + "key-file = \"" + root + "/certs/node-b.key.json\"\nlisten-host = \"127.0.0.2\"\n");
  // A node that stopped is restarted only after a minute: the test is over by then.
  write_file(root + "/cluster.conf", "[cluster]\nstop-timeout = 20s\nrestart-initial = 60s\nrestart-max = 60s\n"
                                     "remote-meshosd = \"" + meshosd_path() +
                                         "\"\n[node-a]\nhost = \"127.0.0.1\"\nport = 0\nconfig = \"" + root +
                                         "/node-a.conf\"\n[node-b]\nhost = \"127.0.0.2\"\nport = 0\nconfig = \"" +
                                         root + "/node-b.conf\"\n");

  ChildProcess run({"/bin/sh", "-c",
                    "PATH='" + root + "/bin':\"$PATH\" exec '" + meshos_run_path() + "' '" + root +
                        "/cluster.conf' '--meshosd=" + meshosd_path() + "'"});
  const auto [a, b] = wait_until_up(run, "node-a", "node-b", deadline_in(30s));
  INFO("meshos-run output:\n" << run.out() << run.err());
  REQUIRE(a > 0);
  REQUIRE(b > 0);
  CHECK(contains(read_file(root + "/remote-command"), "--on-hangup=drain"));

  // A line meshos-run relays from node `name` ("[node-b] <time> info meshosd: ...") holding `words`.
  auto node_line = [&run](const std::string& name, const std::string& words, Deadline deadline) {
    std::optional<std::string> found;
    while (!found && (found = run.wait_for_line(words, deadline)))
      if (found->rfind("[" + name + "] ", 0) != 0) found.reset();
    return found;
  };
  kill(b, SIGHUP);  // the ssh session ended
  CHECK(node_line("node-b", "meshosd: Hangup: draining", deadline_in(20s)));
  CHECK(node_line("node-b", "meshosd: drained and stopped", deadline_in(30s)));
  // The local node runs with the default: a hang-up is a reload (here: of nothing, it has no TLS).
  kill(a, SIGHUP);
  auto reload = node_line("node-a", "meshosd: Hangup:", deadline_in(20s));
  REQUIRE(reload);
  CHECK(contains(*reload, "nothing to reload"));

  run.signal(SIGTERM);
  CHECK(node_line("node-a", "meshosd: drained and stopped", deadline_in(30s)));
  const Exit e = run.wait_exit(deadline_in(60s));
  CHECK(e.exited);
}
