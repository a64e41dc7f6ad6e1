#pragma once
// Library: meshos_core.
// The node maintenance state machine and the relative-ms view of it that daemons see.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "meshos/result.hpp"
#include "meshos/time.hpp"

namespace meshos {

namespace maintenance {
struct Active {};
struct EnteringMaintenance {
  TimePoint since;
  std::optional<TimePoint> deadline;
};
struct Maintenance {
  TimePoint since;
};
struct ExitingMaintenance {
  TimePoint since;
};
struct DrainFailed {
  TimePoint since;
  std::string reason;
};
struct Recovery {
  TimePoint since;
};
}  // namespace maintenance

using MaintenanceState =
    std::variant<maintenance::Active, maintenance::EnteringMaintenance, maintenance::Maintenance,
                 maintenance::ExitingMaintenance, maintenance::DrainFailed, maintenance::Recovery>;

enum class MaintenanceKind { Active, EnteringMaintenance, Maintenance, ExitingMaintenance, DrainFailed, Recovery };

MaintenanceKind kind_of(const MaintenanceState& s);
// The questions a daemon or an operator asks of a state (as the original's helpers): anything but Active
// (the node is not taking work as usual); steady Maintenance (drained, nothing moving); when the current
// state began (none for Active, which carries no time).
bool is_non_active(const MaintenanceState& s);
bool is_steady_maintenance(const MaintenanceState& s);
std::optional<TimePoint> state_since(const MaintenanceState& s);
// "active", "entering_maintenance", "maintenance", "exiting_maintenance", "drain_failed", "recovery".
const char* to_string(MaintenanceKind k);
std::optional<MaintenanceKind> maintenance_kind_from_string(const std::string& s);

// The valid-successor table: Active->Entering; Entering->Maintenance|DrainFailed;
// Maintenance->Exiting|DrainFailed; Exiting->Recovery; DrainFailed->Exiting; Recovery->Active;
// any state -> itself.
bool is_valid_successor(MaintenanceKind from, MaintenanceKind to);

// Operator transitions. EnterMaintenance is accepted from any state (it restarts the drain);
// ExitMaintenance only from Maintenance or DrainFailed (kind "invalid_transition" otherwise).
MaintenanceState enter_maintenance(TimePoint now, std::optional<Millis> drain_for, Millis default_drain);
Result<MaintenanceState> exit_maintenance(const MaintenanceState& current, TimePoint now);

// Relative-ms projection of MaintenanceState (what daemons and operators see).
namespace view {
struct Active {
  bool operator==(const Active&) const { return true; }
};
struct EnteringMaintenance {
  std::uint64_t since_ms = 0;
  std::optional<std::uint64_t> deadline_remaining_ms;
  bool operator==(const EnteringMaintenance& o) const {
    return since_ms == o.since_ms && deadline_remaining_ms == o.deadline_remaining_ms;
  }
};
struct Maintenance {
  std::uint64_t since_ms = 0;
  bool operator==(const Maintenance& o) const { return since_ms == o.since_ms; }
};
struct ExitingMaintenance {
  std::uint64_t since_ms = 0;
  bool operator==(const ExitingMaintenance& o) const { return since_ms == o.since_ms; }
};
struct DrainFailed {
  std::uint64_t since_ms = 0;
  std::string reason;
  bool operator==(const DrainFailed& o) const { return since_ms == o.since_ms && reason == o.reason; }
};
struct Recovery {
  std::uint64_t since_ms = 0;
  bool operator==(const Recovery& o) const { return since_ms == o.since_ms; }
};
}  // namespace view

using MaintenanceStateView = std::variant<view::Active, view::EnteringMaintenance, view::Maintenance,
                                          view::ExitingMaintenance, view::DrainFailed, view::Recovery>;

// Past deadlines clamp to 0; a `since` in the future counts as 0 ms ago.
MaintenanceStateView view_of(const MaintenanceState& s, TimePoint now);
MaintenanceKind kind_of(const MaintenanceStateView& v);
bool is_non_active(const MaintenanceStateView& v);
bool is_steady_maintenance(const MaintenanceStateView& v);
// How long ago the current state began (none for Active).
std::optional<std::uint64_t> state_since_ms(const MaintenanceStateView& v);

void to_json(nlohmann::json& j, const MaintenanceStateView& v);
// Kind "invalid_maintenance_state" on malformed input.
Result<MaintenanceStateView> maintenance_view_from_json(const nlohmann::json& j);
// The same from text (a peer's hello), within json_limits::kMaintenanceView (untrusted_json.hpp).
Result<MaintenanceStateView> maintenance_view_from_json_text(const std::string& text);

}  // namespace meshos

// The view's alternatives live in meshos::view, so argument-dependent lookup alone would not find
// meshos::to_json; this lets `nlohmann::json j = view;` and `j["k"] = view;` work.
NLOHMANN_JSON_NAMESPACE_BEGIN
template <>
struct adl_serializer<meshos::MaintenanceStateView> {
  static void to_json(json& j, const meshos::MaintenanceStateView& v) { meshos::to_json(j, v); }
};
NLOHMANN_JSON_NAMESPACE_END
