#include "meshos/action.hpp"

#include <iterator>
#include <type_traits>

#include <nlohmann/json.hpp>

namespace meshos {

const char* action_kind(const MeshOsAction& a) {
  static constexpr const char* kNames[] = {"start_daemon", "stop_daemon", "mark_avoid", "apply_backoff",
                                           "commit_maintenance_transition", "migrate_daemon"};
  static_assert(std::size(kNames) == std::variant_size_v<MeshOsAction>, "one name per action");
  return kNames[a.index()];
}

std::string action_target(const MeshOsAction& a) {
  return std::visit(
      [](const auto& x) -> std::string {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, action::MarkAvoid>) {
          return to_hex(x.peer);
        } else if constexpr (std::is_same_v<T, action::CommitMaintenanceTransition>) {
          return to_hex(x.node);
        } else {
          return x.daemon.name;
        }
      },
      a);
}

std::optional<DaemonId> action_daemon(const MeshOsAction& a) {
  return std::visit(
      [](const auto& x) -> std::optional<DaemonId> {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, action::MarkAvoid> || std::is_same_v<T, action::CommitMaintenanceTransition>) {
          return std::nullopt;
        } else {
          return x.daemon.id;
        }
      },
      a);
}

nlohmann::json action_to_json(const PendingAction& p, TimePoint now) {
  nlohmann::json j;
  j["id"] = p.id;
  j["kind"] = action_kind(p.action);
  j["target"] = action_target(p.action);
  j["age_ms"] = saturating_ms_since(p.emitted_at, now);
  std::visit(
      [&](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, action::StartDaemon>) {
          j["daemon"] = to_hex(x.daemon.id);
        } else if constexpr (std::is_same_v<T, action::StopDaemon>) {
          j["daemon"] = to_hex(x.daemon.id);
          j["reason"] = x.reason;
          j["deadline_in_ms"] = saturating_ms_until(x.deadline, now);
        } else if constexpr (std::is_same_v<T, action::MarkAvoid>) {
          j["peer"] = to_hex(x.peer);
          j["reason"] = x.reason;
          j["ttl_ms"] = to_ms(x.ttl);
        } else if constexpr (std::is_same_v<T, action::ApplyBackoff>) {
          j["daemon"] = to_hex(x.daemon.id);
          j["until_in_ms"] = saturating_ms_until(x.until, now);
        } else if constexpr (std::is_same_v<T, action::MigrateDaemon>) {
          j["daemon"] = to_hex(x.daemon.id);
          j["migration"] = to_hex(x.migration);
          j["to"] = to_hex(x.target);
        } else {
          static_assert(std::is_same_v<T, action::CommitMaintenanceTransition>, "every action handled");
          j["node"] = to_hex(x.node);
          // The view is a std::variant of meshos::view types: ADL cannot see meshos::to_json for it.
          nlohmann::json view;
          to_json(view, view_of(x.target, now));
          j["maintenance"] = std::move(view);
        }
      },
      p.action);
  return j;
}

}  // namespace meshos
