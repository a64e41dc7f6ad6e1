// meshosd's stdout lines (apps/meshosd/node_log.hpp): one line for each event worth one, read from the
// snapshots the node publishes - daemon logs, commits with the operator's name, maintenance transitions,
// peers joining, changing health and leaving, daemons registering, crashing, backing off, crash looping,
// changing state and leaving - in text or as JSON lines; nothing twice, and nothing an earlier run printed.
#include <doctest/doctest.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/time.hpp"
#include "node_log.hpp"

using namespace meshos;
using meshos::apps::NodeLog;

namespace {

constexpr NodeId kPeerA = 0xA;
constexpr NodeId kPeerB = 0xB;
constexpr DaemonId kWorker = 0x77;
constexpr OperatorId kAlice = 0xA11CE;

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

bool has_line(const std::vector<std::string>& lines, const std::string& level, const std::string& source,
              const std::string& words) {
  for (const auto& line : lines)
    if (line.find(" " + level + " " + source + ": ") != std::string::npos && line.find(words) != std::string::npos)
      return true;
  return false;
}

PeerSnapshot peer(NodeId id, PeerHealth health) {
  PeerSnapshot p;
  p.node = id;
  p.health = health;
  return p;
}

DaemonSnapshot worker(DaemonLifecycleState lifecycle) {
  DaemonSnapshot d;
  d.id = kWorker;
  d.name = "worker";
  d.lifecycle = lifecycle;
  return d;
}

LogRecord record(std::uint64_t seq, std::int64_t wall_ms, const std::string& message) {
  return LogRecord{seq, wall_ms, 0, LogLevel::Warn, kWorker, message};
}

AuditRecord commit(std::uint64_t seq, std::int64_t wall_ms, const std::string& outcome) {
  AuditRecord a;
  a.seq = seq;
  a.wall_ms = wall_ms;
  a.commit = "admin";
  a.event = "cordon";
  a.operators = {kAlice};
  a.outcome = outcome;
  if (outcome == "rejected") a.reason_kind = "commit_replayed";
  return a;
}

}  // namespace

TEST_CASE("NodeLog: a line per event, each once, from the snapshots the node publishes") {
  std::ostringstream out;
  NodeLog log(out, NodeLog::Format::Text, {{kAlice, "alice"}});
  const std::int64_t now = wall_clock_ms();

  MeshOsSnapshot s;
  s.runtime_epoch = 1;
  s.peers.emplace(kPeerA, peer(kPeerA, PeerHealth::Healthy));
  s.daemons.emplace(kWorker, worker(DaemonLifecycleState::Running));
  // An earlier run's records, read back from the state dir: printed by that run already.
  s.logs = {record(1, now - 60'000, "from the last run"), record(2, now + 1, "hello")};
  s.audit = {commit(1, now - 60'000, "accepted")};
  log.observe(s);

  s.peers[kPeerA].health = PeerHealth::Unreachable;
  s.peers.emplace(kPeerB, peer(kPeerB, PeerHealth::Healthy));
  DaemonSnapshot w = s.daemons.at(kWorker);
  w.lifecycle = DaemonLifecycleState::Stopped;
  w.total_crashes = 1;
  w.last_crash_reason = "boom";
  w.restart = RestartPhase::BackingOff;
  s.clock_ms = 50'000;
  w.restart_at_ms = s.clock_ms + 200;
  s.daemons.insert_or_assign(kWorker, w);
  s.audit.push_back(commit(2, now + 2, "accepted"));
  s.audit.push_back(commit(3, now + 3, "rejected"));
  s.local_maintenance = view::EnteringMaintenance{0, 5000};
  s.logs.push_back(record(3, now + 4, "second"));
  log.observe(s);
  log.observe(s);  // nothing new: nothing printed

  s.peers.erase(kPeerA);
  w.total_crashes = 5;
  w.restart = RestartPhase::CrashLooping;
  s.daemons.insert_or_assign(kWorker, w);
  log.observe(s);
  s.daemons.clear();
  log.observe(s);

  const auto lines = lines_of(out.str());
  CAPTURE(out.str());
  CHECK_FALSE(has_line(lines, "warn", "daemon worker", "from the last run"));
  CHECK(has_line(lines, "warn", "daemon worker", "hello"));
  CHECK(has_line(lines, "warn", "daemon worker", "second"));
  CHECK(has_line(lines, "warn", "peer 000000000000000a", "healthy -> unreachable"));
  CHECK(has_line(lines, "info", "peer 000000000000000b", "joined, healthy"));
  CHECK(has_line(lines, "info", "peer 000000000000000a", "left"));
  CHECK(has_line(lines, "warn", "daemon worker", "crashed: boom"));
  CHECK(has_line(lines, "warn", "daemon worker", "backing_off, restart in 200 ms"));
  CHECK(has_line(lines, "error", "daemon worker", "crash_looping"));
  CHECK(has_line(lines, "info", "daemon worker", "running -> stopped"));
  CHECK(has_line(lines, "info", "daemon 0000000000000077", "unregistered"));
  CHECK(has_line(lines, "info", "commit", "admin cordon accepted, signed by alice"));
  CHECK(has_line(lines, "warn", "commit", "admin cordon rejected, signed by alice (commit_replayed)"));
  CHECK(has_line(lines, "info", "node", "node state active -> entering_maintenance"));
  // Each once: the second observe of the same snapshot added nothing.
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("second") != std::string::npos; }) == 1);
  CHECK(std::count_if(lines.begin(), lines.end(), [](const std::string& l) { return l.find("crashed") != std::string::npos; }) == 2);
  CHECK(has_line(lines, "info", "peer 000000000000000a", "joined, healthy"));  // the first snapshot's peers too
  CHECK(lines.size() == 15);
}

TEST_CASE("NodeLog --log-format=json: one JSON object per line, invalid UTF-8 replaced, newlines kept inside") {
  std::ostringstream out;
  NodeLog log(out, NodeLog::Format::Json);
  log.write(LogLevel::Error, "meshosd", std::string("two\nlines and \xff bytes"));
  const auto lines = lines_of(out.str());
  REQUIRE(lines.size() == 1);
  const auto j = nlohmann::json::parse(lines[0]);
  CHECK(j.at("level") == "error");
  CHECK(j.at("source") == "meshosd");
  CHECK(j.at("message") == "two\nlines and \xEF\xBF\xBD bytes");
  CHECK(j.at("time").get<std::string>().size() == 24);  // 2026-12-01T05:37:27.123Z

  std::ostringstream text;
  NodeLog plain(text, NodeLog::Format::Text);
  plain.write(LogLevel::Info, "meshosd", "two\nlines");
  CHECK(lines_of(text.str()).size() == 1);  // one event, one line
}

TEST_CASE("NodeLog names a peer by the name it gives, beside its id") {
  std::ostringstream out;
  NodeLog log(out, NodeLog::Format::Text);
  MeshOsSnapshot s;
  PeerSnapshot p = peer(kPeerA, PeerHealth::Healthy);
  p.name = "node-a";
  s.peers.emplace(kPeerA, p);
  log.observe(s);
  s.peers.clear();
  log.observe(s);
  const auto lines = lines_of(out.str());
  CHECK(has_line(lines, "info", "peer node-a (000000000000000a)", "joined, healthy"));
  CHECK(has_line(lines, "info", "peer node-a (000000000000000a)", "left"));
}
