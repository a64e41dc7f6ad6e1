// meshosd as a server: it hosts echo, counter and the sample C plugin, writes its port file, answers an
// operator's connection, and drains and exits 0 on SIGTERM.
#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/node.hpp"
#include "meshos/snapshot.hpp"
#include "e2e_support.hpp"
#include "meshosd_process.hpp"


using namespace meshos;
using namespace meshos::test;
using namespace std::chrono_literals;

namespace {

std::uint16_t port_from_start_line(const std::string& line) {
  const auto at = line.find("listening on 127.0.0.1:");
  REQUIRE(at != std::string::npos);
  return static_cast<std::uint16_t>(std::stoul(line.substr(at + std::string("listening on 127.0.0.1:").size())));
}

}  // namespace

TEST_CASE("meshosd hosts its daemons, writes its port file and drains on SIGTERM") {
  const std::string dir = scratch_dir("meshosd-node");
  REQUIRE(make_test_certs(dir));
  const std::string port_file = dir + "/node.port";
  write_file(dir + "/node.conf", "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir +
                                     "/node.key.json\"\nlisten-port = 0\nport-file = \"" + port_file +
                                     "\"\ndrain-deadline = 10s\n\n[daemons]\nbuiltin = [\"echo\", \"counter\"]\n"
                                     "plugins = [\"" + sample_plugin_path() + "\"]\n");
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf"});
  const std::string start_line = wait_listening(node);
  CHECK(start_line.find("echo") != std::string::npos);
  CHECK(start_line.find("counter") != std::string::npos);
  CHECK(start_line.find("sample-upper") != std::string::npos);
  const auto port = port_from_start_line(start_line);
  CHECK(std::stoul(read_file(port_file)) == port);

  auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", port});
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().message));
  // The three daemons come up; the node pushes snapshots until they are all running.
  std::size_t running = 0;
  auto watched = (*remote)->watch([&](const std::string& text) {
    auto snapshot = snapshot_from_json(nlohmann::json::parse(text));
    if (!snapshot) return true;
    running = 0;
    for (const auto& [id, d] : snapshot->daemons) running += d.lifecycle == DaemonLifecycleState::Running;
    return running < 3;
  }, 30s);
  CHECK(watched);
  CHECK(running == 3);
  remote->reset();

  // The C plugin really processes work: an operator's call is answered in upper case.
  const std::string address = "127.0.0.1:" + std::to_string(port);
  auto upper = run_ctl({"--node", address, "call", "sample-upper", "hello plugin"});
  INFO("call: " << upper.out << upper.err);
  CHECK(upper.exit.code == 0);
  CHECK(upper.out == "HELLO PLUGIN\n");

  check_drains(node);
}

TEST_CASE("the same node key gives the same daemon ids across restarts") {
  const std::string dir = scratch_dir("meshosd-restart");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", "[node]\nkey-file = \"" + dir +
                                     "/node.key.json\"\nlisten-port = 0\n\n[daemons]\nbuiltin = [\"echo\"]\n");
  std::string first;
  for (int run = 0; run < 2; ++run) {
    ChildProcess node({meshosd_path(), "--config", dir + "/node.conf"});
    const std::string line = wait_listening(node);
    const std::string daemons = line.substr(line.find("daemons:"));
    if (run == 0) first = daemons;
    CHECK(daemons == first);
    node.signal(SIGINT);
    const Exit e = node.wait_exit(deadline_in(30s));
    CHECK(e.exited);
    CHECK(e.code == 0);
  }
}

TEST_CASE("meshosd builds what an operator places on it from its built-in kinds") {
  const std::string dir = scratch_dir("meshosd-place");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir +
                                     "/node.key.json\"\nlisten-port = 0\n");
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf"});
  const std::string start_line = wait_listening(node);
  auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", port_from_start_line(start_line)});
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().message));
  auto status = (*remote)->request("status", "{}");
  REQUIRE(status);
  NodeId id = 0;
  REQUIRE(parse_hex_u64(nlohmann::json::parse(*status).at("node_id").get<std::string>(), id));
  // No operator registry: unsigned commits apply (as meshos-ctl sends them without --key).
  for (const char* kind : {"counter", "echo"}) {
    auto placed = (*remote)->request("admin", nlohmann::json{{"unsigned", AdminEvent{admin::SetDaemonIntent{id, kind, true}}}}.dump());
    REQUIRE_MESSAGE(placed, (placed ? "" : placed.error().message));
  }
  std::set<std::string> running;
  auto watched = (*remote)->watch([&](const std::string& text) {
    auto snapshot = snapshot_from_json(nlohmann::json::parse(text));
    if (!snapshot) return true;
    running.clear();
    for (const auto& [daemon, d] : snapshot->daemons)
      if (d.lifecycle == DaemonLifecycleState::Running) running.insert(d.name);
    return running.size() < 2;
  }, 30s);
  CHECK(watched);
  CHECK(running == std::set<std::string>{"counter", "echo"});
  remote->reset();
  // Daemons built from factories move when their node drains; a lone node has no peer to move them to, and
  // going away it says so (they are stopped all the same).
  node.signal(SIGTERM);
  const Exit e = node.wait_exit(deadline_in(30s));
  CHECK(e.exited);
  CHECK(e.code == 1);
  CHECK(node.err().find("could not move") != std::string::npos);
}

namespace {

// The service manager's end of the sd_notify protocol: a datagram socket the test owns (NOTIFY_SOCKET).
class NotifySocket {
 public:
  NotifySocket() : path_("/tmp/meshos-notify-" + std::to_string(getpid()) + ".sock") {
    fd_ = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path_.c_str());
    unlink(path_.c_str());
    REQUIRE(bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~NotifySocket() {
    close(fd_);
    unlink(path_.c_str());
  }
  const std::string& path() const { return path_; }
  // The next message, or nullopt at the deadline.
  std::optional<std::string> next(Deadline deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
      char buffer[4096];
      const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) return std::string(buffer, static_cast<std::size_t>(n));
    }
  }
  // Messages until one holds `what` (returned), or nullopt at the deadline; the others are kept in `seen`.
  std::optional<std::string> until(const std::string& what, Deadline deadline, std::vector<std::string>& seen) {
    while (auto message = next(deadline)) {
      if (message->find(what) != std::string::npos) return message;
      seen.push_back(*message);
    }
    return std::nullopt;
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

TEST_CASE("meshosd tells systemd it is ready, its state, that it stops, and pings the watchdog while its loop runs") {
  const std::string dir = scratch_dir("meshosd-notify");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", "[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" + dir +
                                     "/node.key.json\"\nlisten-port = 0\n\n[daemons]\nbuiltin = [\"echo\"]\n");
  NotifySocket manager;
  // env(1) execs meshosd in its own process: the environment a unit with Type=notify and WatchdogSec=1 gives.
  ChildProcess node({"/usr/bin/env", "NOTIFY_SOCKET=" + manager.path(), "WATCHDOG_USEC=1000000", meshosd_path(),
                     "--config", dir + "/node.conf"});
  std::vector<std::string> before;
  auto ready = manager.until("READY=1", deadline_in(20s), before);
  INFO("stderr: " << node.err());
  REQUIRE(ready);
  CHECK(before.empty());  // nothing (not even a watchdog ping) before READY
  CHECK(ready->find("STATUS=node ") != std::string::npos);
  CHECK(ready->find("listening on 127.0.0.1:") != std::string::npos);
  // Two pings: at half the period each while the loop publishes snapshots.
  std::vector<std::string> other;
  REQUIRE(manager.until("WATCHDOG=1", deadline_in(10s), other));
  REQUIRE(manager.until("WATCHDOG=1", deadline_in(10s), other));
  node.signal(SIGTERM);
  auto stopping = manager.until("STOPPING=1", deadline_in(10s), other);
  REQUIRE(stopping);
  CHECK(stopping->find("STATUS=draining") != std::string::npos);
  // The drain shows in the status as the node goes through maintenance.
  CHECK(manager.until("STATUS=node state: maintenance", deadline_in(20s), other));
  const Exit e = node.wait_exit(deadline_in(30s));
  CHECK(e.exited);
  CHECK(e.code == 0);
}

TEST_CASE("meshosd prints each node event as a line on stdout, here as JSON lines") {
  const std::string dir = scratch_dir("meshosd-log");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", "log-format = \"json\"\n\n[meshos]\ntick-interval = 50ms\n\n[node]\nkey-file = \"" +
                                     dir + "/node.key.json\"\nlisten-port = 0\n\n[daemons]\nbuiltin = [\"echo\"]\n");
  ChildProcess node({meshosd_path(), "--config", dir + "/node.conf"});
  const std::string start_line = wait_listening(node);
  const auto start = nlohmann::json::parse(start_line);
  CHECK(start.at("source") == "meshosd");
  const auto at = start.at("message").get<std::string>().find("127.0.0.1:");
  REQUIRE(at != std::string::npos);
  auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", static_cast<std::uint16_t>(std::stoul(
                                                                  start.at("message").get<std::string>().substr(at + 10)))});
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().message));
  auto status = (*remote)->request("status", "{}");
  REQUIRE(status);
  NodeId id = 0;
  REQUIRE(parse_hex_u64(nlohmann::json::parse(*status).at("node_id").get<std::string>(), id));
  // An operator's commit (unsigned: the node has no registry) stops the echo daemon.
  auto stopped = (*remote)->request("admin", nlohmann::json{{"unsigned", AdminEvent{admin::SetDaemonIntent{id, "echo", false}}}}.dump());
  REQUIRE_MESSAGE(stopped, (stopped ? "" : stopped.error().message));
  CHECK(node.wait_for_line("-> stopped", deadline_in(20s)));
  remote->reset();
  check_drains(node);

  // Every line is one JSON object; among them the events of this run, each from its source.
  INFO("stdout: " << node.out());
  std::vector<std::pair<std::string, std::string>> events;
  std::istringstream lines(node.out());
  for (std::string line; std::getline(lines, line);) {
    CAPTURE(line);
    const auto j = nlohmann::json::parse(line);
    REQUIRE(j.at("time").is_string());
    REQUIRE(j.at("level").is_string());
    events.emplace_back(j.at("source").get<std::string>(), j.at("message").get<std::string>());
  }
  auto logged = [&](const std::string& source, const std::string& words) {
    return std::any_of(events.begin(), events.end(), [&](const auto& ev) {
      return ev.first == source && ev.second.find(words) != std::string::npos;
    });
  };
  CHECK(logged("commit", "set_daemon_intent accepted"));
  CHECK(logged("daemon echo", "-> stopped"));  // from running, through stopping (a snapshot may show either)
  CHECK(logged("node", "node state active -> entering_maintenance"));
  CHECK(logged("node", "-> maintenance"));
  CHECK(logged("meshosd", "Terminated: draining"));
  CHECK(logged("meshosd", "drained and stopped"));
}
