// An SDK with a state dir: what operators committed (maintenance, cordon, daemon intents) and the verifier's
// replay memory come back when the SDK starts again on the same dir; an operator's commit shows in the audit
// only once it is on disk; the node's own drain after stop_saving_state() is not kept; an unusable state file
// stops the start, or with fresh_state is set aside. The log and the audit are journaled there too, and the log
// ring is read back from its journal at the next start.
#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <filesystem>

#include <nlohmann/json.hpp>

#include "meshos/file_io.hpp"
#include "meshos/journal.hpp"
#include "meshos/persistent_state.hpp"
#include "support.hpp"
#include "../support/keys.hpp"

using namespace meshos;
using namespace meshos::test;

namespace {

constexpr NodeId kNode = 0x5EED;

using meshos::test::key_from_byte;

const EntityKeypair& operator_key() {
  static const EntityKeypair key = key_from_byte(0xa1);
  return key;
}

SdkOptions options_on(const std::string& dir) {
  OperatorRegistry registry;
  REQUIRE(registry.add(operator_key().public_key()));
  SdkOptions o;
  o.verifier = std::make_shared<AdminVerifier>(std::move(registry), 1);  // a new process: a verifier of its own
  o.state_dir = dir;
  return o;
}

MeshOsConfig node_config() {
  MeshOsConfig c = fast_config();
  c.this_node = kNode;
  return c;
}

event::SignedAdmin signed_commit(AdminEvent e) {
  return event::SignedAdmin{sign_admin(operator_key(), wall_clock_ms(), std::move(e)).value()};
}

// One run of a node on the state dir: the SDK with echo and counter registered (the same ids every run).
struct Run {
  explicit Run(const std::string& dir) : sdk(MeshOsDaemonSdk::start(node_config(), nullptr, options_on(dir))) {
    for (auto [name, seed] : {std::pair<const char*, std::uint8_t>{"echo", 0xe1}, {"counter", 0xe2}}) {
      auto h = sdk.register_daemon(make_daemon(name, std::make_shared<DaemonProbe>()), key_from_byte(seed));
      REQUIRE(h);
      handles.push_back(std::move(*h));
    }
  }
  ~Run() {
    handles.clear();
    if (!stopped) CHECK(sdk.shutdown());
  }
  void stop() {
    handles.clear();
    stopped = true;
    CHECK(sdk.shutdown());
  }
  // The snapshot once it holds `n` audit records, or nullptr.
  SnapshotPtr audited(std::size_t n) {
    return SnapshotWatch(sdk).wait([n](const MeshOsSnapshot& s) { return s.audit.size() >= n; });
  }

  MeshOsDaemonSdk sdk;
  std::vector<MeshOsDaemonHandle> handles;
  bool stopped = false;
};

const DaemonSnapshot* daemon_named(const MeshOsSnapshot& s, const std::string& name) {
  for (const auto& [id, d] : s.daemons)
    if (d.name == name) return &d;
  return nullptr;
}

bool in_maintenance(const MeshOsSnapshot& s) {
  const auto k = kind_of(s.local_maintenance);
  return k == MaintenanceKind::EnteringMaintenance || k == MaintenanceKind::Maintenance;
}

}  // namespace

TEST_CASE("restarted on its state dir, the node is still in maintenance, cordoned, counter stopped - a replay is refused") {
  TempDir dir("meshos-state-dir");
  const auto enter = signed_commit(admin::EnterMaintenance{kNode, 60'000});
  {
    Run first(dir.path());
    REQUIRE(first.sdk.publish(signed_commit(admin::SetDaemonIntent{kNode, "counter", false})));
    REQUIRE(first.sdk.publish(signed_commit(admin::Cordon{kNode})));
    REQUIRE(first.sdk.publish(enter));
    auto snap = first.audited(3);
    REQUIRE(snap);
    for (const auto& rec : snap->audit) CHECK(rec.outcome == "accepted");
    // Shown in the audit means on disk already.
    auto saved = decode_state_file(read_file_bounded(state_file_path(dir.path()), kMaxStateFileBytes).value());
    REQUIRE(saved);
    CHECK(saved->audit_seq >= 3);
    CHECK(saved->cordoned);
    first.stop();
  }

  Run second(dir.path());
  SnapshotWatch watch(second.sdk);
  auto back = watch.wait([](const MeshOsSnapshot& s) {
    const auto* counter = daemon_named(s, "counter");
    return counter && daemon_named(s, "echo") && s.audit.size() == 3;
  });
  REQUIRE(back);
  CHECK(in_maintenance(*back));
  CHECK(back->cordoned);
  CHECK(daemon_named(*back, "counter")->intent == DaemonIntent::Stop);
  CHECK(daemon_named(*back, "echo")->intent == DaemonIntent::Run);
  if (const auto* entering = std::get_if<view::EnteringMaintenance>(&back->local_maintenance)) {
    REQUIRE(entering->deadline_remaining_ms.has_value());
    CHECK(*entering->deadline_remaining_ms <= 60'000);  // the restart did not extend the drain
  }

  REQUIRE(second.sdk.publish(enter));  // the very commit accepted before the restart
  auto replayed = watch.wait([](const MeshOsSnapshot& s) { return s.audit.size() == 4; });
  REQUIRE(replayed);
  CHECK(replayed->audit.back().seq == 4);
  CHECK(replayed->audit.back().outcome == "rejected");
  CHECK(replayed->audit.back().reason_kind == "commit_replayed");
}

TEST_CASE("after stop_saving_state the node's own drain is not kept: the next start is Active, still cordoned") {
  TempDir dir("meshos-state-dir");
  {
    Run first(dir.path());
    REQUIRE(first.sdk.publish(signed_commit(admin::Cordon{kNode})));
    REQUIRE(first.audited(1));
    first.sdk.stop_saving_state();
    REQUIRE(first.sdk.publish(event::Admin{admin::EnterMaintenance{kNode, 5'000}}));
    SnapshotWatch watch(first.sdk);
    auto drained = watch.wait(in_maintenance);
    REQUIRE(drained);
    CHECK(drained->audit.size() == 2);  // no longer held back for the disk
    first.stop();
  }
  Run second(dir.path());
  auto back = SnapshotWatch(second.sdk).wait([](const MeshOsSnapshot& s) { return s.audit.size() == 1; });
  REQUIRE(back);
  CHECK(kind_of(back->local_maintenance) == MaintenanceKind::Active);
  CHECK(back->cordoned);
}

TEST_CASE("an unusable state file stops the start with invalid_state_file - fresh_state sets it aside and starts") {
  TempDir dir("meshos-state-dir");
  const std::string path = dir.write(kStateFileName, "{\"format\": \"meshos-node-state\", \"vers");
  try {
    auto sdk = MeshOsDaemonSdk::start(node_config(), nullptr, options_on(dir.path()));
    FAIL("started on a corrupt state file");
  } catch (const SdkException& e) {
    CHECK(e.error().code() == Errc::invalid_state_file);
    CHECK(e.error().message.rfind(path + ": ", 0) == 0);
  }
  CHECK(std::filesystem::exists(path));

  SdkOptions fresh = options_on(dir.path());
  fresh.fresh_state = true;
  auto sdk = MeshOsDaemonSdk::start(node_config(), nullptr, fresh);
  auto snap = SnapshotWatch(sdk).wait([](const MeshOsSnapshot& s) {
    for (const auto& l : s.logs)
      if (l.message.find("starting fresh") != std::string::npos) return true;
    return false;
  });
  CHECK(snap);
  CHECK_FALSE(std::filesystem::exists(path));
  std::size_t kept = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir.path()))
    kept += entry.path().filename().string().rfind(std::string(kStateFileName) + ".bad-", 0) == 0;
  CHECK(kept == 1);
  CHECK(sdk.shutdown());
}

namespace {

std::vector<nlohmann::json> journal_lines(const std::string& dir, const std::string& name) {
  std::vector<nlohmann::json> out;
  for (const auto& line : read_journal_tail(dir, name, JournalLimits{}, 100'000).lines)
    out.push_back(nlohmann::json::parse(line));
  return out;
}

std::size_t count_messages(const std::vector<nlohmann::json>& lines, const std::string& message) {
  std::size_t n = 0;
  for (const auto& l : lines) n += l.at("message") == message ? 1 : 0;
  return n;
}

const LogRecord* log_with(const MeshOsSnapshot& s, const std::string& text) {
  for (const auto& r : s.logs)
    if (r.message.find(text) != std::string::npos) return &r;
  return nullptr;
}

}  // namespace

TEST_CASE("the log and the audit are journaled in the state dir and the log ring comes back after a restart") {
  TempDir dir("meshos-state-dir");
  {
    Run first(dir.path());
    for (int i = 0; i < 3; ++i) REQUIRE(first.handles[0].publish_log(LogLevel::Warn, "before restart #" + std::to_string(i)));
    REQUIRE(first.handles[0].publish_log(LogLevel::Info, std::string("not UTF-8: \xff\xfe")));
    REQUIRE(first.sdk.publish(signed_commit(admin::Cordon{kNode})));
    REQUIRE(first.sdk.publish(signed_commit(admin::SetDaemonIntent{kNode, "nosuch", false})));
    REQUIRE(first.audited(2));
    first.stop();
  }
  const auto logs = journal_lines(dir.path(), "logs");
  for (int i = 0; i < 3; ++i) CHECK(count_messages(logs, "before restart #" + std::to_string(i)) == 1);
  CHECK(count_messages(logs, "not UTF-8: \xEF\xBF\xBD\xEF\xBF\xBD") == 1);  // replaced, not a reason to stop
  const auto audit = journal_lines(dir.path(), "audit");
  REQUIRE(audit.size() == 2);
  CHECK(audit[0].at("event") == "cordon");
  CHECK(audit[0].at("outcome") == "accepted");
  CHECK(audit[1].at("outcome") == "rejected");
  CHECK(audit[1].at("reason_kind") == "unknown_daemon");

  Run second(dir.path());
  auto back = SnapshotWatch(second.sdk).wait([](const MeshOsSnapshot& s) { return log_with(s, "log restored from") != nullptr; });
  REQUIRE(back);
  const LogRecord* restored_note = log_with(*back, "log restored from");
  CHECK(restored_note->level == LogLevel::Info);
  const LogRecord* before = log_with(*back, "before restart #2");
  REQUIRE(before);
  CHECK(before->level == LogLevel::Warn);
  CHECK(before->daemon_id == second.handles[0].daemon_id());
  CHECK(before->seq < restored_note->seq);
  for (std::size_t i = 1; i < back->logs.size(); ++i) CHECK(back->logs[i - 1].seq < back->logs[i].seq);
  REQUIRE(second.handles[0].publish_log(LogLevel::Info, "after restart"));
  REQUIRE(SnapshotWatch(second.sdk).wait([](const MeshOsSnapshot& s) { return log_with(s, "after restart") != nullptr; }));
  second.stop();
  // Each record is journaled once: what the second run read back was not written again.
  const auto all = journal_lines(dir.path(), "logs");
  CHECK(count_messages(all, "before restart #0") == 1);
  CHECK(count_messages(all, "after restart") == 1);
  CHECK(journal_lines(dir.path(), "audit").size() == 2);
}

TEST_CASE("unreadable journal lines are skipped and said - journal limits out of bounds refuse the start") {
  TempDir dir("meshos-state-dir");
  LogRecord kept;
  kept.seq = 7;
  kept.wall_ms = 1'000;
  kept.node_id = kNode;
  kept.level = LogLevel::Error;
  kept.message = "kept across the crash";
  LogRecord foreign = kept;
  foreign.node_id = kNode + 1;
  foreign.message = "logged by node two";
  dir.write("logs.jsonl", nlohmann::json(foreign).dump() + "\n" + nlohmann::json(kept).dump() +
                              "\n{\"seq\": \"seven\"}\n{\"seq\": 8, \"wall_ms\": 10");
  {
    Run run(dir.path());
    auto snap = SnapshotWatch(run.sdk).wait([](const MeshOsSnapshot& s) { return log_with(s, "log restored from") != nullptr; });
    REQUIRE(snap);
    const LogRecord* note = log_with(*snap, "log restored from");
    CHECK(note->level == LogLevel::Warn);
    CHECK(note->message.find("1 records, 3 lines skipped (unreadable or another node's)") != std::string::npos);
    CHECK(log_with(*snap, "logged by node two") == nullptr);
    const LogRecord* restored = log_with(*snap, "kept across the crash");
    REQUIRE(restored);
    CHECK(restored->seq == 7);
    CHECK(restored->level == LogLevel::Error);
  }
  SdkOptions tiny = options_on(dir.path());
  tiny.journal.file_bytes = 1024;
  try {
    auto sdk = MeshOsDaemonSdk::start(node_config(), nullptr, tiny);
    FAIL("started with a 1 KiB journal file");
  } catch (const SdkException& e) {
    CHECK(e.error().code() == Errc::invalid_state_dir);
    CHECK(e.error().message.find("journal") != std::string::npos);
  }
}
