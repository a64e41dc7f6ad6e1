#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "meshos/daemon.hpp"

using namespace meshos;

namespace {

// Overrides only what MeshDaemon requires, so every other member shows its default.
struct MinimalDaemon : MeshDaemon {
  std::string name() const override { return "minimal"; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override { return std::vector<Bytes>{ev.payload}; }
};

// Claims to be stateful but forgets to override restore().
struct ForgetfulStatefulDaemon : MinimalDaemon {
  std::string name() const override { return "forgetful"; }
  bool is_stateful() const override { return true; }
};

}  // namespace

TEST_CASE("health_kind names every health state") {
  CHECK(std::string(health_kind(health::Healthy{})) == "healthy");
  CHECK(std::string(health_kind(health::Degraded{"slow disk"})) == "degraded");
  CHECK(std::string(health_kind(health::Unhealthy{})) == "unhealthy");
}

TEST_CASE("health serializes to JSON, with a reason only when degraded") {
  CHECK(nlohmann::json(DaemonHealth{health::Healthy{}}) == nlohmann::json::parse(R"({"status":"healthy"})"));
  CHECK(nlohmann::json(DaemonHealth{health::Degraded{"slow disk"}}) ==
        nlohmann::json::parse(R"({"status":"degraded","reason":"slow disk"})"));
  CHECK(nlohmann::json(DaemonHealth{health::Unhealthy{}}) == nlohmann::json::parse(R"({"status":"unhealthy"})"));
}

TEST_CASE("health round-trips through JSON and malformed health is rejected") {
  for (const DaemonHealth& h : {DaemonHealth{health::Healthy{}}, DaemonHealth{health::Degraded{"queue 90% full"}},
                                DaemonHealth{health::Unhealthy{}}}) {
    auto decoded = daemon_health_from_json(nlohmann::json::parse(nlohmann::json(h).dump()));
    REQUIRE(decoded);
    CHECK(*decoded == h);
  }
  for (const char* text : {R"("healthy")", R"({})", R"({"status":"fine"})", R"({"status":"degraded"})",
                           R"({"status":"degraded","reason":3})", R"({"status":1})"}) {
    CAPTURE(std::string(text));
    auto decoded = daemon_health_from_json(nlohmann::json::parse(text));
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code() == Errc::invalid_health);
  }
}

TEST_CASE("daemon error kinds have stable names") {
  CHECK(std::string(to_string(DaemonErrorKind::ProcessFailed)) == "process_failed");
  CHECK(std::string(to_string(DaemonErrorKind::SnapshotFailed)) == "snapshot_failed");
  CHECK(std::string(to_string(DaemonErrorKind::RestoreFailed)) == "restore_failed");
  CHECK(std::string(to_string(DaemonErrorKind::NotFound)) == "not_found");
  CHECK(std::string(to_string(DaemonErrorKind::Stale)) == "stale");
  CHECK(std::string(to_string(DaemonErrorKind::RegisterFailed)) == "register_failed");
}

TEST_CASE("DaemonError converts to an SdkError of the catalogue's code") {
  DaemonError e{DaemonErrorKind::NotFound, "no daemon 00000000000000aa"};
  const auto converted = e.to_sdk_error();
  CHECK(converted == SdkError{Errc::not_found, "no daemon 00000000000000aa"});
  CHECK(converted.code() == Errc::not_found);
  CHECK(converted.kind == "not_found");
  CHECK(to_errc(DaemonErrorKind::Stale) == Errc::stale);
}

TEST_CASE("a minimal daemon gets the documented defaults") {
  MinimalDaemon daemon;
  CHECK_FALSE(daemon.snapshot());
  CHECK_FALSE(daemon.is_stateful());
  CHECK(daemon.health() == DaemonHealth{health::Healthy{}});
  CHECK(daemon.saturation() == 0.0f);
  CHECK_NOTHROW(daemon.on_control(Shutdown{100}));
  CHECK_NOTHROW(daemon.on_control(BackpressureOn{0.5f}));
  CapabilitySet gpu_box;
  gpu_box.tags = {"hardware.gpu", "hardware.memory_gb=512"};
  CHECK(daemon.requirements().matches(CapabilitySet{}));
  CHECK(daemon.requirements().matches(gpu_box));
}

TEST_CASE("a stateless daemon restores from empty bytes and rejects any state") {
  MinimalDaemon daemon;
  CHECK(daemon.restore(Bytes{}));
  auto refused = daemon.restore(Bytes{1, 2, 3});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::restore_failed);
  CHECK(refused.error().message.find("minimal") != std::string::npos);
}

TEST_CASE("a stateful daemon that does not override restore rejects non-empty state") {
  ForgetfulStatefulDaemon daemon;
  CHECK(daemon.restore(Bytes{}));
  auto refused = daemon.restore(Bytes{42});
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::restore_failed);
  CHECK(refused.error().message.find("override") != std::string::npos);
}
