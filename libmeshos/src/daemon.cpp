#include "meshos/daemon.hpp"

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "overloaded.hpp"

namespace meshos {

const char* health_kind(const DaemonHealth& h) {
  return std::visit(overloaded{
                        [](const health::Healthy&) { return "healthy"; },
                        [](const health::Degraded&) { return "degraded"; },
                        [](const health::Unhealthy&) { return "unhealthy"; },
                    },
                    h);
}

void to_json(nlohmann::json& j, const DaemonHealth& h) {
  j = nlohmann::json{{"status", health_kind(h)}};
  if (const auto* degraded = std::get_if<health::Degraded>(&h)) j["reason"] = degraded->reason;
}

Result<DaemonHealth> daemon_health_from_json(const nlohmann::json& j) {
  auto status = json_read::string_field(j, "status");
  if (!status) return SdkError{Errc::invalid_health, "health must be an object with a string \"status\""};
  if (*status == "healthy") return DaemonHealth{health::Healthy{}};
  if (*status == "unhealthy") return DaemonHealth{health::Unhealthy{}};
  if (*status == "degraded") {
    auto reason = json_read::string_field(j, "reason");
    if (!reason) return SdkError{Errc::invalid_health, "degraded health needs a string \"reason\""};
    return DaemonHealth{health::Degraded{*reason}};
  }
  return SdkError{Errc::invalid_health, "unknown health status '" + *status + "'"};
}

Errc to_errc(DaemonErrorKind k) {
  switch (k) {
    case DaemonErrorKind::ProcessFailed: return Errc::process_failed;
    case DaemonErrorKind::SnapshotFailed: return Errc::snapshot_failed;
    case DaemonErrorKind::RestoreFailed: return Errc::restore_failed;
    case DaemonErrorKind::NotFound: return Errc::not_found;
    case DaemonErrorKind::Stale: return Errc::stale;
    case DaemonErrorKind::RegisterFailed: return Errc::register_failed;
  }
  return Errc::unknown;
}

const char* to_string(DaemonErrorKind k) { return to_string(to_errc(k)); }

Result<void> MeshDaemon::restore(const Bytes& state) {
  if (state.empty()) return ok();
  // Accepting state nobody can interpret would silently lose it; say who is at fault instead.
  if (is_stateful()) {
    return SdkError{Errc::restore_failed,
                    "stateful daemon '" + name() + "' does not override restore(); cannot restore " +
                        std::to_string(state.size()) + " bytes"};
  }
  return SdkError{Errc::restore_failed,
                  "stateless daemon '" + name() + "' cannot restore " + std::to_string(state.size()) +
                      " bytes of state"};
}

}  // namespace meshos
