// meshosd as a server: it hosts echo, counter and the sample C plugin, writes its port file, answers an
// operator's connection, and drains and exits 0 on SIGTERM.
#include <doctest/doctest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "meshos/node.hpp"
#include "meshos/snapshot.hpp"
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
  auto start_line = node.wait_for_line("listening on", deadline_in(20s));
  INFO("stderr: " << node.err());
  REQUIRE(start_line);
  CHECK(start_line->find("echo") != std::string::npos);
  CHECK(start_line->find("counter") != std::string::npos);
  CHECK(start_line->find("sample-upper") != std::string::npos);
  const auto port = port_from_start_line(*start_line);
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
  });
  CHECK(watched);
  CHECK(running == 3);
  remote->reset();

  node.signal(SIGTERM);
  CHECK(node.wait_for_line("drained and stopped", deadline_in(30s)));
  const Exit e = node.wait_exit(deadline_in(30s));
  CHECK(e.exited);
  CHECK(e.code == 0);
}

TEST_CASE("the same node key gives the same daemon ids across restarts") {
  const std::string dir = scratch_dir("meshosd-restart");
  REQUIRE(make_test_certs(dir));
  write_file(dir + "/node.conf", "[node]\nkey-file = \"" + dir +
                                     "/node.key.json\"\nlisten-port = 0\n\n[daemons]\nbuiltin = [\"echo\"]\n");
  std::string first;
  for (int run = 0; run < 2; ++run) {
    ChildProcess node({meshosd_path(), "--config", dir + "/node.conf"});
    auto line = node.wait_for_line("listening on", deadline_in(20s));
    INFO("stderr: " << node.err());
    REQUIRE(line);
    const std::string daemons = line->substr(line->find("daemons:"));
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
  auto start_line = node.wait_for_line("listening on", deadline_in(20s));
  INFO("stderr: " << node.err());
  REQUIRE(start_line);
  auto remote = RemoteNode::connect(PeerAddress{"127.0.0.1", port_from_start_line(*start_line)});
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
  });
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
