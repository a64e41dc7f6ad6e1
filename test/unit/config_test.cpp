#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "meshos/config.hpp"

using namespace meshos;

namespace {

bool same_config(const MeshOsConfig& a, const MeshOsConfig& b) { return nlohmann::json(a) == nlohmann::json(b); }

void check_rejected(const std::string& key, const std::string& value) {
  CAPTURE(key);
  CAPTURE(value);
  MeshOsConfig config;
  const MeshOsConfig before = config;
  auto result = config.set(key, value);
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == Errc::invalid_config);
  CHECK(same_config(config, before));  // all-or-nothing
}

}  // namespace

TEST_CASE("defaults match SPEC.md") {
  MeshOsConfig c;
  CHECK(c.this_node == 0);
  CHECK(c.tick_interval == Millis(500));
  CHECK(c.event_queue_capacity == 1024);
  CHECK(c.action_queue_capacity == 1024);
  CHECK(c.control_capacity == 8);
  CHECK(c.default_drain_deadline == Millis(10 * 60 * 1000));
  CHECK(c.recovery_ramp_window == Millis(5 * 60 * 1000));
  CHECK(c.stop_grace == Millis(30'000));
  CHECK(c.restart_backoff_initial == Millis(500));
  CHECK(c.restart_backoff_factor == 2);
  CHECK(c.restart_backoff_max == Millis(60'000));
  CHECK(c.crash_loop_threshold == 5);
  CHECK(c.crash_loop_window == Millis(60'000));
  CHECK(c.crash_loop_hold == Millis(5 * 60 * 1000));
  CHECK(c.healthy_run_reset == Millis(60'000));
  CHECK(c.rtt_degraded_threshold == Millis(250));
  CHECK(c.avoid_ttl == Millis(5 * 60 * 1000));
  CHECK(c.dispatch_budget == 16);
  CHECK(c.backpressure_assert_depth == 1000);
  CHECK(c.backpressure_release_depth == 200);
  CHECK(c.log_ring_capacity == 2048);
  CHECK(c.failure_ring_capacity == 256);
  CHECK(c.audit_ring_capacity == 256);
  CHECK(c.recent_actions_capacity == 256);
  CHECK(c.validate());
}

TEST_CASE("keys() lists every field once, in dashed form") {
  const auto& keys = MeshOsConfig::keys();
  CHECK(keys.size() == 26);
  CHECK(std::set<std::string>(keys.begin(), keys.end()).size() == keys.size());
  for (const char* key :
       {"this-node", "tick-interval", "daemon-check-interval", "event-queue-capacity", "action-queue-capacity", "control-capacity",
        "default-drain-deadline", "recovery-ramp-window", "stop-grace", "restart-backoff-initial",
        "restart-backoff-max", "restart-backoff-factor", "crash-loop-threshold", "crash-loop-window",
        "crash-loop-hold", "healthy-run-reset", "start-timeout", "rtt-degraded-threshold", "avoid-ttl",
        "dispatch-budget", "backpressure-assert-depth", "backpressure-release-depth", "log-ring-capacity",
        "failure-ring-capacity", "audit-ring-capacity", "recent-actions-capacity"}) {
    CAPTURE(std::string(key));
    CHECK(std::find(keys.begin(), keys.end(), key) != keys.end());
  }
}

TEST_CASE("every key can be set and shows up in the JSON form") {
  // A valid value for each key that differs from its default.
  const std::map<std::string, std::string> values = {
      {"this-node", "0x00000000000000ff"},  {"tick-interval", "7s"},
      {"daemon-check-interval", "7s"},
      {"event-queue-capacity", "3"},        {"action-queue-capacity", "3"},
      {"control-capacity", "3"},            {"default-drain-deadline", "7s"},
      {"recovery-ramp-window", "7s"},       {"stop-grace", "7s"},
      {"restart-backoff-initial", "750ms"}, {"restart-backoff-max", "7s"},
      {"restart-backoff-factor", "3"},      {"crash-loop-threshold", "3"},
      {"crash-loop-window", "7s"},          {"crash-loop-hold", "7s"},
      {"healthy-run-reset", "7s"},          {"start-timeout", "7s"},
      {"rtt-degraded-threshold", "7s"},     {"avoid-ttl", "7s"},
      {"dispatch-budget", "3"},             {"backpressure-assert-depth", "300"},
      {"backpressure-release-depth", "999"}, {"log-ring-capacity", "3"},
      {"failure-ring-capacity", "3"},       {"audit-ring-capacity", "3"},
      {"recent-actions-capacity", "3"},
  };
  REQUIRE(values.size() == MeshOsConfig::keys().size());
  for (const auto& key : MeshOsConfig::keys()) {
    CAPTURE(key);
    REQUIRE(values.count(key) == 1);
    MeshOsConfig config;
    const nlohmann::json before = config;
    auto result = config.set(key, values.at(key));
    REQUIRE_MESSAGE(result, result.error().to_string());
    CHECK(nlohmann::json(config) != before);
  }
}

TEST_CASE("set parses each field with its own parser") {
  MeshOsConfig c;
  REQUIRE(c.set("tick-interval", "10ms"));
  CHECK(c.tick_interval == Millis(10));
  REQUIRE(c.set("default-drain-deadline", "2min"));
  CHECK(c.default_drain_deadline == Millis(120'000));
  REQUIRE(c.set("event-queue-capacity", "4096"));
  CHECK(c.event_queue_capacity == 4096);
  REQUIRE(c.set("restart-backoff-factor", "3"));
  CHECK(c.restart_backoff_factor == 3);
  REQUIRE(c.set("dispatch-budget", "0"));
  CHECK(c.dispatch_budget == 0);
  REQUIRE(c.set("stop-grace", "0s"));
  CHECK(c.stop_grace == Millis(0));
}

TEST_CASE("this-node accepts 16 hex digits with or without 0x, short 0x forms, and decimal") {
  MeshOsConfig c;
  REQUIRE(c.set("this-node", "00000000000000ab"));
  CHECK(c.this_node == 0xab);
  REQUIRE(c.set("this-node", "0xDEADBEEF00000001"));
  CHECK(c.this_node == 0xdeadbeef00000001ULL);
  REQUIRE(c.set("this-node", "0x1f"));
  CHECK(c.this_node == 0x1f);
  REQUIRE(c.set("this-node", "12345"));
  CHECK(c.this_node == 12345);
  REQUIRE(c.set("this-node", "\"a1b2c3d4e5f60718\""));  // quoted, as a CAF-readable file has it
  CHECK(c.this_node == 0xa1b2c3d4e5f60718ULL);
  REQUIRE(c.set("this-node", "18446744073709551615"));
  CHECK(c.this_node == 0xffffffffffffffffULL);
}

TEST_CASE("this-node rejects anything else") {
  for (const char* value : {"", "0x", "0x00000000000000001", "a1b2", "a1b2c3d4e5f6071", "a1b2c3d4e5f6071g", "-1",
                            "18446744073709551616", "node-1", "\"\""}) {
    check_rejected("this-node", value);
  }
}

TEST_CASE("unknown keys are rejected with the section and a suggestion") {
  MeshOsConfig c;
  auto typo = c.set("tick-intervall", "10ms");
  REQUIRE_FALSE(typo);
  CHECK(typo.error().code() == Errc::invalid_config);
  CHECK(typo.error().message.rfind("unknown key 'tick-intervall' in [meshos]", 0) == 0);
  CHECK(typo.error().message.find("did you mean 'tick-interval'") != std::string::npos);
  auto unrelated = c.set("colour", "1");
  REQUIRE_FALSE(unrelated);
  CHECK(unrelated.error().message == "unknown key 'colour' in [meshos]");
}

TEST_CASE("bad values are rejected with the key in the message and leave the config unchanged") {
  MeshOsConfig c;
  auto bad = c.set("tick-interval", "fast");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().message.rfind("bad value for tick-interval: ", 0) == 0);
  CHECK(c.tick_interval == Millis(500));

  check_rejected("tick-interval", "10");     // unit required
  check_rejected("tick-interval", "-5ms");
  check_rejected("tick-interval", "0ms");    // the loop would spin
  check_rejected("tick-interval", "999ns");  // rounds down to 0 ms
  check_rejected("event-queue-capacity", "0");
  check_rejected("event-queue-capacity", "-1");
  check_rejected("event-queue-capacity", "1k");
  check_rejected("action-queue-capacity", "0");
  check_rejected("log-ring-capacity", "0");
  check_rejected("failure-ring-capacity", "0");
  check_rejected("audit-ring-capacity", "0");
  check_rejected("recent-actions-capacity", "0");
  check_rejected("restart-backoff-factor", "0");
  check_rejected("restart-backoff-factor", "4294967296");
  check_rejected("crash-loop-threshold", "0");
  check_rejected("crash-loop-window", "0s");
  check_rejected("avoid-ttl", "0s");
  check_rejected("rtt-degraded-threshold", "0ms");
  check_rejected("start-timeout", "0s");
  check_rejected("restart-backoff-initial", "0ms");
  check_rejected("default-drain-deadline", "366d");
  check_rejected("default-drain-deadline", "8785h");  // over a year
  check_rejected("dispatch-budget", "true");
}

TEST_CASE("control-capacity 0 is rejected, not raised to 1") {
  MeshOsConfig c;
  auto zero = c.set("control-capacity", "0");
  REQUIRE_FALSE(zero);
  CHECK(zero.error().message.find("control-capacity must be at least 1") != std::string::npos);
  CHECK(c.control_capacity == 8);
  REQUIRE(c.set("control-capacity", "1"));
  CHECK(c.control_capacity == 1);
}

TEST_CASE("ring and queue capacities above 2^20 are refused, naming the key and the maximum") {
  for (const char* key : {"event-queue-capacity", "action-queue-capacity", "control-capacity",
                          "backpressure-assert-depth", "log-ring-capacity", "failure-ring-capacity",
                          "audit-ring-capacity", "recent-actions-capacity"}) {
    CAPTURE(std::string(key));
    MeshOsConfig c;
    const MeshOsConfig before = c;
    for (const char* value : {"1048577", "18446744073709551615"}) {
      auto refused = c.set(key, value);
      REQUIRE_FALSE(refused);
      CHECK(refused.error().code() == Errc::invalid_config);
      CHECK(refused.error().message == std::string(key) + " must not exceed 1048576 (got " + value + ")");
    }
    nlohmann::json unchanged;
    to_json(unchanged, c);
    nlohmann::json original;
    to_json(original, before);
    CHECK(unchanged == original);
    REQUIRE(c.set(key, "1048576"));
  }
  MeshOsConfig assigned;
  REQUIRE(assigned.assign("log-ring-capacity", "18446744073709551615"));  // a field alone: no bound yet
  auto bounded = assigned.validate();
  REQUIRE_FALSE(bounded);
  CHECK(bounded.error().code() == Errc::invalid_config);
  CHECK(bounded.error().message.find("log-ring-capacity must not exceed 1048576") != std::string::npos);
  MeshOsConfig direct;
  direct.audit_ring_capacity = (std::size_t{1} << 20) + 1;
  CHECK_FALSE(direct.validate());
}

TEST_CASE("cross-field invariants are checked by set and validate") {
  MeshOsConfig c;
  auto release_too_high = c.set("backpressure-release-depth", "1000");
  REQUIRE_FALSE(release_too_high);
  CHECK(release_too_high.error().message.find("backpressure-release-depth") != std::string::npos);
  CHECK_FALSE(c.set("backpressure-assert-depth", "200"));
  REQUIRE(c.set("backpressure-assert-depth", "201"));

  auto backoff = c.set("restart-backoff-initial", "61s");
  REQUIRE_FALSE(backoff);
  CHECK(backoff.error().message.find("restart-backoff-max") != std::string::npos);
  CHECK_FALSE(c.set("restart-backoff-max", "499ms"));
  REQUIRE(c.set("restart-backoff-max", "500ms"));

  MeshOsConfig direct;
  direct.backpressure_release_depth = direct.backpressure_assert_depth;
  CHECK_FALSE(direct.validate());
  direct = MeshOsConfig{};
  direct.tick_interval = Millis(-1);
  CHECK_FALSE(direct.validate());
  direct = MeshOsConfig{};
  direct.control_capacity = 0;
  CHECK_FALSE(direct.validate());
}

TEST_CASE("apply_override takes key=value") {
  MeshOsConfig c;
  REQUIRE(c.apply_override("tick-interval=10ms"));
  CHECK(c.tick_interval == Millis(10));
  REQUIRE(c.apply_override("  control-capacity = 2 "));
  CHECK(c.control_capacity == 2);
  for (const char* bad : {"tick-interval", "=10ms", "", "tick-interval=", "nope=1"}) {
    CAPTURE(std::string(bad));
    auto result = c.apply_override(bad);
    REQUIRE_FALSE(result);
    CHECK(result.error().code() == Errc::invalid_config);
  }
  CHECK(c.tick_interval == Millis(10));
}

TEST_CASE("assign takes fields in any order and leaves the invariants to validate") {
  MeshOsConfig config;
  // assert depth comes after release depth: a reader of a whole section must not depend on the order
  REQUIRE(config.assign("backpressure-release-depth", "1500"));
  CHECK_FALSE(config.validate());
  REQUIRE(config.assign("backpressure-assert-depth", "3000"));
  REQUIRE(config.assign("tick-interval", "10ms"));
  REQUIRE(config.assign("this-node", "\"00000000000000aa\""));
  REQUIRE(config.validate());
  CHECK(config.backpressure_release_depth == 1500);
  CHECK(config.backpressure_assert_depth == 3000);
  CHECK(config.tick_interval == Millis(10));
  CHECK(config.this_node == 0xaa);
  CHECK(config.control_capacity == 8);  // untouched keys keep their defaults

  auto unknown = config.assign("tick-intervall", "20ms");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().message == "unknown key 'tick-intervall' in [meshos] (did you mean 'tick-interval'?)");
  auto bad_value = config.assign("control-capacity", "-2");
  REQUIRE_FALSE(bad_value);
  CHECK(bad_value.error().message.rfind("bad value for control-capacity: ", 0) == 0);
  CHECK(config.control_capacity == 8);
}

TEST_CASE("text_of writes every key so that set reads it back to the same config") {
  MeshOsConfig written;
  written.this_node = 0x0123456789abcdefULL;
  written.tick_interval = Millis(20);
  written.control_capacity = 3;
  written.default_drain_deadline = Millis(90'000);
  written.crash_loop_hold = Millis(7'200'000);
  written.restart_backoff_factor = 4;
  written.backpressure_assert_depth = 50;
  written.backpressure_release_depth = 10;
  written.avoid_ttl = Millis(1'000);

  CHECK(written.text_of("this-node") == "\"0123456789abcdef\"");
  CHECK(written.text_of("tick-interval") == "20ms");
  CHECK(written.text_of("default-drain-deadline") == "90s");
  CHECK(written.text_of("crash-loop-hold") == "2h");
  CHECK(written.text_of("recovery-ramp-window") == "5min");
  CHECK(written.text_of("control-capacity") == "3");
  CHECK(written.text_of("no-such-key").empty());

  MeshOsConfig read;
  for (const auto& key : MeshOsConfig::keys()) REQUIRE(read.assign(key, written.text_of(key)));
  REQUIRE(read.validate());
  CHECK(same_config(read, written));
}

TEST_CASE("describe names every key once, with its kind and a help text") {
  const auto& info = MeshOsConfig::describe();
  REQUIRE(info.size() == MeshOsConfig::keys().size());
  for (std::size_t i = 0; i < info.size(); ++i) {
    CAPTURE(info[i].key);
    CHECK(info[i].key == MeshOsConfig::keys()[i]);
    CHECK_FALSE(info[i].help.empty());
  }
  auto kind_of = [&](const std::string& key) {
    return std::find_if(info.begin(), info.end(), [&](const auto& k) { return k.key == key; })->kind;
  };
  CHECK(kind_of("this-node") == MeshOsConfig::ValueKind::NodeIdentifier);
  CHECK(kind_of("tick-interval") == MeshOsConfig::ValueKind::Duration);
  CHECK(kind_of("control-capacity") == MeshOsConfig::ValueKind::Count);
  CHECK(kind_of("restart-backoff-factor") == MeshOsConfig::ValueKind::Count);
}

TEST_CASE("the JSON form carries durations in milliseconds and the node id in hex") {
  MeshOsConfig c;
  c.this_node = 0xab;
  const nlohmann::json j = c;
  CHECK(j.size() == MeshOsConfig::keys().size());
  CHECK(j.at("this_node") == "00000000000000ab");
  CHECK(j.at("tick_interval_ms") == 500);
  CHECK(j.at("default_drain_deadline_ms") == 600'000);
  CHECK(j.at("restart_backoff_max_ms") == 60'000);
  CHECK(j.at("event_queue_capacity") == 1024);
  CHECK(j.at("control_capacity") == 8);
  CHECK(j.at("restart_backoff_factor") == 2);
  CHECK(j.at("backpressure_release_depth") == 200);
  CHECK(j.at("log_ring_capacity") == 2048);
}
