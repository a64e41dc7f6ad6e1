#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "meshos/logs.hpp"

using namespace meshos;

TEST_CASE("log levels have lowercase names in severity order") {
  CHECK(std::string(to_string(LogLevel::Trace)) == "trace");
  CHECK(std::string(to_string(LogLevel::Debug)) == "debug");
  CHECK(std::string(to_string(LogLevel::Info)) == "info");
  CHECK(std::string(to_string(LogLevel::Warn)) == "warn");
  CHECK(std::string(to_string(LogLevel::Error)) == "error");
  CHECK(LogLevel::Trace < LogLevel::Debug);
  CHECK(LogLevel::Debug < LogLevel::Info);
  CHECK(LogLevel::Info < LogLevel::Warn);
  CHECK(LogLevel::Warn < LogLevel::Error);
}

TEST_CASE("log_level_from_string is case-insensitive and accepts warning") {
  for (auto level : {LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error}) {
    auto parsed = log_level_from_string(to_string(level));
    REQUIRE(parsed);
    CHECK(*parsed == level);
  }
  CHECK(*log_level_from_string("INFO") == LogLevel::Info);
  CHECK(*log_level_from_string("Error") == LogLevel::Error);
  CHECK(*log_level_from_string("warning") == LogLevel::Warn);
  CHECK(*log_level_from_string("WARNING") == LogLevel::Warn);
}

TEST_CASE("log_level_from_string rejects unknown levels") {
  for (const char* text : {"", "fatal", "inf", " info", "info ", "warnings"}) {
    CAPTURE(std::string(text));
    auto parsed = log_level_from_string(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::invalid_log_level);
  }
}

TEST_CASE("log records serialize with hex ids") {
  LogRecord record{7, 1700000000123, 0xabcdefULL, LogLevel::Warn, 0x1122334455667788ULL, "disk at 91%"};
  CHECK(nlohmann::json(record) == nlohmann::json::parse(R"({"seq":7,"wall_ms":1700000000123,
      "node_id":"0000000000abcdef","level":"warn","daemon_id":"1122334455667788","message":"disk at 91%"})"));
  record.daemon_id.reset();
  CHECK(nlohmann::json(record)["daemon_id"].is_null());
}

TEST_CASE("log records round-trip through JSON text") {
  for (const LogRecord& record :
       {LogRecord{1, 0, 0, LogLevel::Trace, std::nullopt, ""},
        LogRecord{2, -5, ~0ULL, LogLevel::Error, 0ULL, "line one\nline \"two\""}}) {
    auto decoded = log_record_from_json(nlohmann::json::parse(nlohmann::json(record).dump()));
    REQUIRE(decoded);
    CHECK(decoded->seq == record.seq);
    CHECK(decoded->wall_ms == record.wall_ms);
    CHECK(decoded->node_id == record.node_id);
    CHECK(decoded->level == record.level);
    CHECK(decoded->daemon_id == record.daemon_id);
    CHECK(decoded->message == record.message);
  }
}

TEST_CASE("log_record_from_json rejects malformed records") {
  const auto good = nlohmann::json::parse(R"({"seq":1,"wall_ms":2,"node_id":"0000000000000001","level":"info",
      "daemon_id":null,"message":"m"})");
  REQUIRE(log_record_from_json(good));
  auto with = [&](const char* key, nlohmann::json value) {
    auto j = good;
    j[key] = std::move(value);
    return j;
  };
  auto without = [&](const char* key) {
    auto j = good;
    j.erase(key);
    return j;
  };
  const nlohmann::json bad[] = {
      nlohmann::json::array(),   with("seq", -1),          with("seq", "1"),       without("seq"),
      with("wall_ms", 1.5),      without("wall_ms"),       with("node_id", "1"),   with("node_id", 1),
      with("node_id", "000000000000000g"), without("node_id"), with("level", "loud"), without("level"),
      with("daemon_id", "xyz"),  with("daemon_id", 5),     with("message", 5),     without("message"),
  };
  for (const auto& j : bad) {
    CAPTURE(j.dump());
    auto decoded = log_record_from_json(j);
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code() == Errc::invalid_log_record);
  }
}

TEST_CASE("BoundedRing keeps the newest entries and counts evictions") {
  BoundedRing<int> ring(3);
  CHECK(ring.capacity() == 3);
  CHECK(ring.empty());
  for (int i = 1; i <= 3; ++i) ring.push(i);
  CHECK(ring.size() == 3);
  CHECK(ring.evicted() == 0);
  ring.push(4);
  ring.push(5);
  CHECK(ring.size() == 3);
  CHECK(ring.evicted() == 2);
  CHECK(ring.to_vector() == std::vector<int>{3, 4, 5});
  CHECK(ring.items().front() == 3);
  ring.clear();
  CHECK(ring.empty());
  CHECK(ring.evicted() == 2);  // clearing is not eviction
}

TEST_CASE("BoundedRing of capacity 0 holds one entry") {
  BoundedRing<std::string> ring(0);
  CHECK(ring.capacity() == 1);
  ring.push("a");
  ring.push("b");
  CHECK(ring.size() == 1);
  CHECK(ring.evicted() == 1);
  CHECK(ring.to_vector() == std::vector<std::string>{"b"});
}

TEST_CASE("LogLine helpers: a line at each level, the node's unless from() names a daemon, at_least") {
  const LogLine warn = LogLine::warn("disk slow");
  CHECK(warn.level == LogLevel::Warn);
  CHECK(warn.message == "disk slow");
  CHECK_FALSE(warn.daemon_id.has_value());
  const LogLine from = LogLine::error("boom").from(0x77);
  CHECK(from.level == LogLevel::Error);
  CHECK(from.daemon_id == std::optional<DaemonId>(0x77));
  CHECK(LogLine::trace("t").level == LogLevel::Trace);
  CHECK(LogLine::debug("d").level == LogLevel::Debug);
  CHECK(LogLine::info("i").level == LogLevel::Info);
  CHECK(warn.at_least(LogLevel::Info));
  CHECK(warn.at_least(LogLevel::Warn));
  CHECK_FALSE(warn.at_least(LogLevel::Error));
}
