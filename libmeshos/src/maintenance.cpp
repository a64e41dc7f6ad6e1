#include "meshos/maintenance.hpp"

#include <array>
#include <type_traits>

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "meshos/untrusted_json.hpp"
#include "overloaded.hpp"

namespace meshos {
namespace {

// kind_of relies on the variants listing their alternatives in MaintenanceKind's order.
static_assert(std::variant_size_v<MaintenanceState> == 6);
static_assert(std::variant_size_v<MaintenanceStateView> == 6);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(MaintenanceKind::DrainFailed),
                                                        MaintenanceState>,
                             maintenance::DrainFailed>);
static_assert(std::is_same_v<std::variant_alternative_t<static_cast<std::size_t>(MaintenanceKind::Recovery),
                                                        MaintenanceStateView>,
                             view::Recovery>);

constexpr std::array<MaintenanceKind, 6> kAllKinds = {
    MaintenanceKind::Active,     MaintenanceKind::EnteringMaintenance, MaintenanceKind::Maintenance,
    MaintenanceKind::ExitingMaintenance, MaintenanceKind::DrainFailed, MaintenanceKind::Recovery};

SdkError invalid_state(const std::string& message) { return SdkError{Errc::invalid_maintenance_state, message}; }

// now + span, saturating at the clock's end instead of overflowing; a negative span counts as 0.
TimePoint deadline_after(TimePoint now, Millis span) {
  if (span <= Millis::zero()) return now;
  auto headroom = std::chrono::duration_cast<Millis>(TimePoint::max() - now);
  if (span >= headroom) return TimePoint::max();
  return now + span;
}

}  // namespace

MaintenanceKind kind_of(const MaintenanceState& s) { return static_cast<MaintenanceKind>(s.index()); }

MaintenanceKind kind_of(const MaintenanceStateView& v) { return static_cast<MaintenanceKind>(v.index()); }

const char* to_string(MaintenanceKind k) {
  switch (k) {
    case MaintenanceKind::Active: return "active";
    case MaintenanceKind::EnteringMaintenance: return "entering_maintenance";
    case MaintenanceKind::Maintenance: return "maintenance";
    case MaintenanceKind::ExitingMaintenance: return "exiting_maintenance";
    case MaintenanceKind::DrainFailed: return "drain_failed";
    case MaintenanceKind::Recovery: return "recovery";
  }
  return "unknown";
}

std::optional<MaintenanceKind> maintenance_kind_from_string(const std::string& s) {
  for (auto kind : kAllKinds) {
    if (s == to_string(kind)) return kind;
  }
  return std::nullopt;
}

bool is_valid_successor(MaintenanceKind from, MaintenanceKind to) {
  using K = MaintenanceKind;
  if (from == to) return true;
  switch (from) {
    case K::Active: return to == K::EnteringMaintenance;
    case K::EnteringMaintenance: return to == K::Maintenance || to == K::DrainFailed;
    case K::Maintenance: return to == K::ExitingMaintenance || to == K::DrainFailed;
    case K::ExitingMaintenance: return to == K::Recovery;
    case K::DrainFailed: return to == K::ExitingMaintenance;
    case K::Recovery: return to == K::Active;
  }
  return false;
}

MaintenanceState enter_maintenance(TimePoint now, std::optional<Millis> drain_for, Millis default_drain) {
  return maintenance::EnteringMaintenance{now, deadline_after(now, drain_for.value_or(default_drain))};
}

Result<MaintenanceState> exit_maintenance(const MaintenanceState& current, TimePoint now) {
  auto kind = kind_of(current);
  if (kind != MaintenanceKind::Maintenance && kind != MaintenanceKind::DrainFailed) {
    return SdkError{Errc::invalid_transition, std::string("cannot exit maintenance from state '") + to_string(kind) +
                                              "' (only from 'maintenance' or 'drain_failed')"};
  }
  return MaintenanceState{maintenance::ExitingMaintenance{now}};
}

MaintenanceStateView view_of(const MaintenanceState& s, TimePoint now) {
  return std::visit(
      overloaded{
          [](const maintenance::Active&) -> MaintenanceStateView { return view::Active{}; },
          [&](const maintenance::EnteringMaintenance& e) -> MaintenanceStateView {
            std::optional<std::uint64_t> remaining;
            if (e.deadline) remaining = saturating_ms_until(*e.deadline, now);
            return view::EnteringMaintenance{saturating_ms_since(e.since, now), remaining};
          },
          [&](const maintenance::Maintenance& m) -> MaintenanceStateView {
            return view::Maintenance{saturating_ms_since(m.since, now)};
          },
          [&](const maintenance::ExitingMaintenance& x) -> MaintenanceStateView {
            return view::ExitingMaintenance{saturating_ms_since(x.since, now)};
          },
          [&](const maintenance::DrainFailed& f) -> MaintenanceStateView {
            return view::DrainFailed{saturating_ms_since(f.since, now), f.reason};
          },
          [&](const maintenance::Recovery& r) -> MaintenanceStateView {
            return view::Recovery{saturating_ms_since(r.since, now)};
          },
      },
      s);
}

void to_json(nlohmann::json& j, const MaintenanceStateView& v) {
  j = nlohmann::json{{"state", to_string(kind_of(v))}};
  std::visit(overloaded{
                 [](const view::Active&) {},
                 [&](const view::EnteringMaintenance& e) {
                   j["since_ms"] = e.since_ms;
                   j["deadline_remaining_ms"] =
                       e.deadline_remaining_ms ? nlohmann::json(*e.deadline_remaining_ms) : nlohmann::json(nullptr);
                 },
                 [&](const view::Maintenance& m) { j["since_ms"] = m.since_ms; },
                 [&](const view::ExitingMaintenance& x) { j["since_ms"] = x.since_ms; },
                 [&](const view::DrainFailed& f) {
                   j["since_ms"] = f.since_ms;
                   j["reason"] = f.reason;
                 },
                 [&](const view::Recovery& r) { j["since_ms"] = r.since_ms; },
             },
             v);
}

Result<MaintenanceStateView> maintenance_view_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid_state("a maintenance state must be a JSON object");
  auto state = json_read::string_field(j, "state");
  if (!state) return invalid_state("maintenance state without a string \"state\"");
  auto kind = maintenance_kind_from_string(*state);
  if (!kind) return invalid_state("unknown maintenance state '" + *state + "'");
  if (*kind == MaintenanceKind::Active) return MaintenanceStateView{view::Active{}};

  auto since = json_read::u64_field(j, "since_ms");
  if (!since) return invalid_state(*state + " needs \"since_ms\" as a non-negative integer");

  switch (*kind) {
    case MaintenanceKind::EnteringMaintenance: {
      std::optional<std::uint64_t> remaining;
      const auto* deadline = json_read::field(j, "deadline_remaining_ms");
      if (deadline && !deadline->is_null()) {
        remaining = json_read::as_u64(*deadline);
        if (!remaining) {
          return invalid_state("\"deadline_remaining_ms\" must be a non-negative integer or null");
        }
      }
      return MaintenanceStateView{view::EnteringMaintenance{*since, remaining}};
    }
    case MaintenanceKind::Maintenance: return MaintenanceStateView{view::Maintenance{*since}};
    case MaintenanceKind::ExitingMaintenance: return MaintenanceStateView{view::ExitingMaintenance{*since}};
    case MaintenanceKind::DrainFailed: {
      auto reason = json_read::string_field(j, "reason");
      if (!reason) return invalid_state("drain_failed needs a string \"reason\"");
      return MaintenanceStateView{view::DrainFailed{*since, *reason}};
    }
    case MaintenanceKind::Recovery: return MaintenanceStateView{view::Recovery{*since}};
    case MaintenanceKind::Active: break;
  }
  return MaintenanceStateView{view::Active{}};
}

Result<MaintenanceStateView> maintenance_view_from_json_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kMaintenanceView, Errc::invalid_maintenance_state, "maintenance state");
  if (!j) return j.error();
  return maintenance_view_from_json(*j);
}

bool is_non_active(const MaintenanceState& s) { return kind_of(s) != MaintenanceKind::Active; }
bool is_steady_maintenance(const MaintenanceState& s) { return kind_of(s) == MaintenanceKind::Maintenance; }
bool is_non_active(const MaintenanceStateView& v) { return kind_of(v) != MaintenanceKind::Active; }
bool is_steady_maintenance(const MaintenanceStateView& v) { return kind_of(v) == MaintenanceKind::Maintenance; }

std::optional<TimePoint> state_since(const MaintenanceState& s) {
  return std::visit(
      [](const auto& x) -> std::optional<TimePoint> {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, maintenance::Active>) {
          return std::nullopt;
        } else {
          return x.since;
        }
      },
      s);
}

std::optional<std::uint64_t> state_since_ms(const MaintenanceStateView& v) {
  return std::visit(
      [](const auto& x) -> std::optional<std::uint64_t> {
        if constexpr (std::is_same_v<std::decay_t<decltype(x)>, view::Active>) {
          return std::nullopt;
        } else {
          return x.since_ms;
        }
      },
      v);
}

}  // namespace meshos
