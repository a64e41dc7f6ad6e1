#include <doctest/doctest.h>

#include <array>
#include <chrono>
#include <limits>

#include <nlohmann/json.hpp>

#include "meshos/maintenance.hpp"

using namespace meshos;
using namespace std::chrono_literals;

namespace {

using K = MaintenanceKind;
constexpr std::array<K, 6> kKinds = {K::Active,     K::EnteringMaintenance, K::Maintenance,
                                     K::ExitingMaintenance, K::DrainFailed,  K::Recovery};

MaintenanceState state_of(K kind, TimePoint since) {
  switch (kind) {
    case K::Active: return maintenance::Active{};
    case K::EnteringMaintenance: return maintenance::EnteringMaintenance{since, std::nullopt};
    case K::Maintenance: return maintenance::Maintenance{since};
    case K::ExitingMaintenance: return maintenance::ExitingMaintenance{since};
    case K::DrainFailed: return maintenance::DrainFailed{since, "drain deadline elapsed after 10 ms"};
    case K::Recovery: return maintenance::Recovery{since};
  }
  return maintenance::Active{};
}

}  // namespace

TEST_CASE("maintenance_state_view_round_trips_active_default") {
  const TimePoint now = Clock::now();
  MaintenanceState active;  // a default-constructed state is Active
  CHECK(kind_of(active) == K::Active);
  auto v = view_of(active, now);
  CHECK(std::holds_alternative<view::Active>(v));
}

TEST_CASE("maintenance_state_view_clamps_past_deadlines_to_zero") {
  const TimePoint now = Clock::now();
  MaintenanceState state = maintenance::EnteringMaintenance{now - 5s, now - 1s};
  auto v = view_of(state, now);
  REQUIRE(std::holds_alternative<view::EnteringMaintenance>(v));
  const auto& entering = std::get<view::EnteringMaintenance>(v);
  CHECK(entering.deadline_remaining_ms == std::optional<std::uint64_t>(0));
  CHECK(entering.since_ms == 5000);
}

TEST_CASE("kind names round-trip and unknown names are rejected") {
  CHECK(std::string(to_string(K::Active)) == "active");
  CHECK(std::string(to_string(K::EnteringMaintenance)) == "entering_maintenance");
  CHECK(std::string(to_string(K::Maintenance)) == "maintenance");
  CHECK(std::string(to_string(K::ExitingMaintenance)) == "exiting_maintenance");
  CHECK(std::string(to_string(K::DrainFailed)) == "drain_failed");
  CHECK(std::string(to_string(K::Recovery)) == "recovery");
  for (auto kind : kKinds) CHECK(maintenance_kind_from_string(to_string(kind)) == kind);
  CHECK_FALSE(maintenance_kind_from_string("Active"));
  CHECK_FALSE(maintenance_kind_from_string(""));
  CHECK_FALSE(maintenance_kind_from_string("entering"));
}

TEST_CASE("kind_of follows the alternative of state and view") {
  const TimePoint now = Clock::now();
  for (auto kind : kKinds) {
    auto state = state_of(kind, now);
    CHECK(kind_of(state) == kind);
    CHECK(kind_of(view_of(state, now)) == kind);
  }
}

TEST_CASE("is_valid_successor matches the whole 6x6 table") {
  // Rows: from; columns: to, in kKinds order (Active, Entering, Maintenance, Exiting, DrainFailed, Recovery).
  constexpr bool kTable[6][6] = {
      /* Active      */ {true, true, false, false, false, false},
      /* Entering    */ {false, true, true, false, true, false},
      /* Maintenance */ {false, false, true, true, true, false},
      /* Exiting     */ {false, false, false, true, false, true},
      /* DrainFailed */ {false, false, false, true, true, false},
      /* Recovery    */ {true, false, false, false, false, true},
  };
  for (std::size_t from = 0; from < kKinds.size(); ++from) {
    for (std::size_t to = 0; to < kKinds.size(); ++to) {
      CAPTURE(std::string(to_string(kKinds[from])));
      CAPTURE(std::string(to_string(kKinds[to])));
      CHECK(is_valid_successor(kKinds[from], kKinds[to]) == kTable[from][to]);
    }
  }
}

TEST_CASE("enter_maintenance sets since to now and the deadline from drain_for") {
  const TimePoint now = Clock::now();
  auto state = enter_maintenance(now, Millis(1500), Millis(600'000));
  REQUIRE(std::holds_alternative<maintenance::EnteringMaintenance>(state));
  const auto& entering = std::get<maintenance::EnteringMaintenance>(state);
  CHECK(entering.since == now);
  REQUIRE(entering.deadline);
  CHECK(*entering.deadline == now + 1500ms);
}

TEST_CASE("enter_maintenance falls back to the default drain deadline") {
  const TimePoint now = Clock::now();
  auto state = enter_maintenance(now, std::nullopt, Millis(600'000));
  const auto& entering = std::get<maintenance::EnteringMaintenance>(state);
  REQUIRE(entering.deadline);
  CHECK(*entering.deadline == now + 10min);
}

TEST_CASE("enter_maintenance never overflows the clock and treats negative spans as zero") {
  const TimePoint now = Clock::now();
  auto huge = enter_maintenance(now, Millis::max(), Millis(1));
  CHECK(*std::get<maintenance::EnteringMaintenance>(huge).deadline == TimePoint::max());
  auto negative = enter_maintenance(now, Millis(-5), Millis(1));
  CHECK(*std::get<maintenance::EnteringMaintenance>(negative).deadline == now);
}

TEST_CASE("exit_maintenance leaves Maintenance and DrainFailed for Exiting") {
  const TimePoint now = Clock::now();
  for (auto kind : {K::Maintenance, K::DrainFailed}) {
    auto next = exit_maintenance(state_of(kind, now - 1min), now);
    REQUIRE(next);
    REQUIRE(std::holds_alternative<maintenance::ExitingMaintenance>(*next));
    CHECK(std::get<maintenance::ExitingMaintenance>(*next).since == now);
  }
}

TEST_CASE("exit_maintenance from any other state is an invalid_transition naming the state") {
  const TimePoint now = Clock::now();
  for (auto kind : {K::Active, K::EnteringMaintenance, K::ExitingMaintenance, K::Recovery}) {
    auto next = exit_maintenance(state_of(kind, now), now);
    REQUIRE_FALSE(next);
    CHECK(next.error().code() == Errc::invalid_transition);
    CHECK(next.error().message.find(std::string("'") + to_string(kind) + "'") != std::string::npos);
  }
}

TEST_CASE("view_of projects every state to relative milliseconds") {
  const TimePoint now = Clock::now();
  const TimePoint since = now - 2500ms;
  CHECK(view_of(maintenance::EnteringMaintenance{since, now + 4s}, now) ==
        MaintenanceStateView{view::EnteringMaintenance{2500, 4000}});
  CHECK(view_of(maintenance::EnteringMaintenance{since, std::nullopt}, now) ==
        MaintenanceStateView{view::EnteringMaintenance{2500, std::nullopt}});
  CHECK(view_of(maintenance::Maintenance{since}, now) == MaintenanceStateView{view::Maintenance{2500}});
  CHECK(view_of(maintenance::ExitingMaintenance{since}, now) ==
        MaintenanceStateView{view::ExitingMaintenance{2500}});
  CHECK(view_of(maintenance::DrainFailed{since, "why"}, now) ==
        MaintenanceStateView{view::DrainFailed{2500, "why"}});
  CHECK(view_of(maintenance::Recovery{since}, now) == MaintenanceStateView{view::Recovery{2500}});
}

TEST_CASE("view_of counts a since in the future as zero ms ago") {
  const TimePoint now = Clock::now();
  CHECK(view_of(maintenance::Maintenance{now + 1h}, now) == MaintenanceStateView{view::Maintenance{0}});
}

TEST_CASE("maintenance views serialize to the documented JSON") {
  CHECK(nlohmann::json(MaintenanceStateView{view::Active{}}) == nlohmann::json::parse(R"({"state":"active"})"));
  CHECK(nlohmann::json(MaintenanceStateView{view::EnteringMaintenance{5, 7}}) ==
        nlohmann::json::parse(R"({"state":"entering_maintenance","since_ms":5,"deadline_remaining_ms":7})"));
  CHECK(nlohmann::json(MaintenanceStateView{view::EnteringMaintenance{5, std::nullopt}}) ==
        nlohmann::json::parse(R"({"state":"entering_maintenance","since_ms":5,"deadline_remaining_ms":null})"));
  CHECK(nlohmann::json(MaintenanceStateView{view::Maintenance{1}}) ==
        nlohmann::json::parse(R"({"state":"maintenance","since_ms":1})"));
  CHECK(nlohmann::json(MaintenanceStateView{view::ExitingMaintenance{2}}) ==
        nlohmann::json::parse(R"({"state":"exiting_maintenance","since_ms":2})"));
  CHECK(nlohmann::json(MaintenanceStateView{view::DrainFailed{3, "late"}}) ==
        nlohmann::json::parse(R"({"state":"drain_failed","since_ms":3,"reason":"late"})"));
  CHECK(nlohmann::json(MaintenanceStateView{view::Recovery{4}}) ==
        nlohmann::json::parse(R"({"state":"recovery","since_ms":4})"));
}

TEST_CASE("maintenance views round-trip through JSON text") {
  const MaintenanceStateView all[] = {
      view::Active{},          view::EnteringMaintenance{1, 2}, view::EnteringMaintenance{1, std::nullopt},
      view::Maintenance{3},    view::ExitingMaintenance{4},     view::DrainFailed{5, "drain deadline elapsed"},
      view::Recovery{6},       view::Maintenance{std::numeric_limits<std::uint64_t>::max()},
  };
  for (const auto& v : all) {
    auto decoded = maintenance_view_from_json(nlohmann::json::parse(nlohmann::json(v).dump()));
    REQUIRE(decoded);
    CHECK(*decoded == v);
  }
}

TEST_CASE("a missing deadline_remaining_ms decodes as no deadline") {
  auto decoded = maintenance_view_from_json(nlohmann::json::parse(R"({"state":"entering_maintenance","since_ms":9})"));
  REQUIRE(decoded);
  CHECK(*decoded == MaintenanceStateView{view::EnteringMaintenance{9, std::nullopt}});
}

TEST_CASE("maintenance_view_from_json rejects malformed input") {
  const char* bad[] = {
      R"([])",
      R"("active")",
      R"({})",
      R"({"state":1})",
      R"({"state":"sleeping"})",
      R"({"state":"maintenance"})",
      R"({"state":"maintenance","since_ms":-1})",
      R"({"state":"maintenance","since_ms":"5"})",
      R"({"state":"recovery","since_ms":1.5})",
      R"({"state":"entering_maintenance","since_ms":1,"deadline_remaining_ms":"soon"})",
      R"({"state":"entering_maintenance","since_ms":1,"deadline_remaining_ms":-3})",
      R"({"state":"drain_failed","since_ms":1})",
      R"({"state":"drain_failed","since_ms":1,"reason":7})",
  };
  for (const char* text : bad) {
    CAPTURE(std::string(text));
    auto decoded = maintenance_view_from_json(nlohmann::json::parse(text));
    REQUIRE_FALSE(decoded);
    CHECK(decoded.error().code() == Errc::invalid_maintenance_state);
  }
}

TEST_CASE("is_non_active, is_steady_maintenance and since answer for every state and its view") {
  const TimePoint t0 = TimePoint{} + std::chrono::hours(1);
  const TimePoint since = t0 - std::chrono::seconds(4);
  const std::vector<std::pair<MaintenanceState, bool>> states = {
      {maintenance::Active{}, false},
      {maintenance::EnteringMaintenance{since, std::nullopt}, false},
      {maintenance::Maintenance{since}, true},
      {maintenance::ExitingMaintenance{since}, false},
      {maintenance::DrainFailed{since, "stuck"}, false},
      {maintenance::Recovery{since}, false},
  };
  for (const auto& one : states) {
    const MaintenanceState& state = one.first;  // named, not bound: CAPTURE's lambda cannot capture a binding
    const bool steady = one.second;
    const bool active = std::holds_alternative<maintenance::Active>(state);
    CAPTURE(to_string(kind_of(state)));
    CHECK(is_non_active(state) == !active);
    CHECK(is_steady_maintenance(state) == steady);
    CHECK(state_since(state) == (active ? std::nullopt : std::optional<TimePoint>(since)));
    const MaintenanceStateView view = view_of(state, t0);
    CHECK(is_non_active(view) == !active);
    CHECK(is_steady_maintenance(view) == steady);
    CHECK(state_since_ms(view) == (active ? std::nullopt : std::optional<std::uint64_t>(4000)));
  }
}
