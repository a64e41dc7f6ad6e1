#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "meshos/control.hpp"

using namespace meshos;
using namespace std::chrono_literals;

TEST_CASE("control_kind names every control event") {
  CHECK(std::string(control_kind(Shutdown{1})) == "shutdown");
  CHECK(std::string(control_kind(DrainStart{1})) == "drain_start");
  CHECK(std::string(control_kind(DrainFinish{})) == "drain_finish");
  CHECK(std::string(control_kind(BackpressureOn{0.5f})) == "backpressure_on");
  CHECK(std::string(control_kind(BackpressureOff{})) == "backpressure_off");
}

TEST_CASE("to_daemon_control turns deadlines into milliseconds from now") {
  const TimePoint now = Clock::now();
  CHECK(to_daemon_control(control::Shutdown{now + 5s}, now) == DaemonControl{Shutdown{5000}});
  CHECK(to_daemon_control(control::DrainStart{now + 1500ms}, now) == DaemonControl{DrainStart{1500}});
  // Sub-millisecond remainders round down.
  CHECK(to_daemon_control(control::Shutdown{now + 999us}, now) == DaemonControl{Shutdown{0}});
}

TEST_CASE("to_daemon_control saturates past deadlines to zero") {
  const TimePoint now = Clock::now();
  CHECK(to_daemon_control(control::Shutdown{now - 10s}, now) == DaemonControl{Shutdown{0}});
  CHECK(to_daemon_control(control::DrainStart{now}, now) == DaemonControl{DrainStart{0}});
}

TEST_CASE("to_daemon_control passes the argument-free events through") {
  const TimePoint now = Clock::now();
  CHECK(to_daemon_control(control::DrainFinish{}, now) == DaemonControl{DrainFinish{}});
  CHECK(to_daemon_control(control::BackpressureOff{}, now) == DaemonControl{BackpressureOff{}});
}

TEST_CASE("to_daemon_control clamps the backpressure level into [0, 1] and maps NaN to 0") {
  const TimePoint now = Clock::now();
  auto level_of = [&](float level) {
    auto c = to_daemon_control(control::BackpressureOn{level}, now);
    REQUIRE(std::holds_alternative<BackpressureOn>(c));
    return std::get<BackpressureOn>(c).level;
  };
  CHECK(level_of(0.25f) == 0.25f);
  CHECK(level_of(0.0f) == 0.0f);
  CHECK(level_of(1.0f) == 1.0f);
  CHECK(level_of(1.5f) == 1.0f);
  CHECK(level_of(-0.5f) == 0.0f);
  CHECK(level_of(std::numeric_limits<float>::infinity()) == 1.0f);
  CHECK(level_of(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(level_of(std::numeric_limits<float>::quiet_NaN()) == 0.0f);
}

TEST_CASE("control events serialize to JSON with their kind and fields") {
  CHECK(nlohmann::json(DaemonControl{Shutdown{250}}) ==
        nlohmann::json::parse(R"({"kind":"shutdown","grace_period_ms":250})"));
  CHECK(nlohmann::json(DaemonControl{DrainStart{600000}}) ==
        nlohmann::json::parse(R"({"kind":"drain_start","grace_period_ms":600000})"));
  CHECK(nlohmann::json(DaemonControl{DrainFinish{}}) == nlohmann::json::parse(R"({"kind":"drain_finish"})"));
  CHECK(nlohmann::json(DaemonControl{BackpressureOn{0.5f}}) ==
        nlohmann::json::parse(R"({"kind":"backpressure_on","level":0.5})"));
  CHECK(nlohmann::json(DaemonControl{BackpressureOff{}}) == nlohmann::json::parse(R"({"kind":"backpressure_off"})"));
}

TEST_CASE("control events round-trip through JSON text") {
  const DaemonControl all[] = {Shutdown{0},        Shutdown{std::numeric_limits<std::uint64_t>::max()},
                               DrainStart{12345},  DrainFinish{},
                               BackpressureOn{0.3f}, BackpressureOn{1.0f},
                               BackpressureOff{}};
  for (const auto& c : all) {
    auto decoded = daemon_control_from_json(nlohmann::json::parse(nlohmann::json(c).dump()));
    REQUIRE(decoded);
    CHECK(*decoded == c);
  }
}

TEST_CASE("daemon_control_from_json accepts integer levels") {
  auto decoded = daemon_control_from_json(nlohmann::json::parse(R"({"kind":"backpressure_on","level":1})"));
  REQUIRE(decoded);
  CHECK(*decoded == DaemonControl{BackpressureOn{1.0f}});
}

TEST_CASE("daemon_control_from_json rejects malformed input with kind invalid_control") {
  const char* bad[] = {
      R"([])",
      R"("shutdown")",
      R"(null)",
      R"({})",
      R"({"kind":5})",
      R"({"kind":"reboot"})",
      R"({"kind":"shutdown"})",
      R"({"kind":"shutdown","grace_period_ms":-1})",
      R"({"kind":"shutdown","grace_period_ms":1.5})",
      R"({"kind":"shutdown","grace_period_ms":"10"})",
      R"({"kind":"drain_start","grace_period_ms":null})",
      R"({"kind":"backpressure_on"})",
      R"({"kind":"backpressure_on","level":"high"})",
      R"({"kind":"backpressure_on","level":1.01})",
      R"({"kind":"backpressure_on","level":-0.1})",
  };
  for (const char* text : bad) {
    CAPTURE(std::string(text));
    auto decoded = daemon_control_from_json(nlohmann::json::parse(text));
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code() == Errc::invalid_control);
    CHECK_FALSE(decoded.error().message.empty());
  }
}

TEST_CASE("the unknown-kind error names the kind") {
  auto decoded = daemon_control_from_json(nlohmann::json::parse(R"({"kind":"reboot"})"));
  REQUIRE_FALSE(decoded);
  CHECK(decoded.error().message.find("reboot") != std::string::npos);
}
