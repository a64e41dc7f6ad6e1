#include "meshos/control.hpp"

#include <cmath>

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "overloaded.hpp"

namespace meshos {
namespace {

float clamp_level(float level) {
  if (std::isnan(level) || level < 0.0f) return 0.0f;
  if (level > 1.0f) return 1.0f;
  return level;
}

SdkError invalid_control(const std::string& message) { return SdkError{Errc::invalid_control, message}; }

}  // namespace

const char* control_kind(const DaemonControl& c) {
  return std::visit(overloaded{
                        [](const Shutdown&) { return "shutdown"; },
                        [](const DrainStart&) { return "drain_start"; },
                        [](const DrainFinish&) { return "drain_finish"; },
                        [](const BackpressureOn&) { return "backpressure_on"; },
                        [](const BackpressureOff&) { return "backpressure_off"; },
                    },
                    c);
}

DaemonControl to_daemon_control(const MeshOsControl& c, TimePoint now) {
  return std::visit(overloaded{
                        [&](const control::Shutdown& s) -> DaemonControl {
                          return Shutdown{saturating_ms_until(s.deadline, now)};
                        },
                        [&](const control::DrainStart& d) -> DaemonControl {
                          return DrainStart{saturating_ms_until(d.deadline, now)};
                        },
                        [](const control::DrainFinish&) -> DaemonControl { return DrainFinish{}; },
                        [](const control::BackpressureOn& b) -> DaemonControl {
                          return BackpressureOn{clamp_level(b.level)};
                        },
                        [](const control::BackpressureOff&) -> DaemonControl { return BackpressureOff{}; },
                    },
                    c);
}

void to_json(nlohmann::json& j, const DaemonControl& c) {
  j = nlohmann::json{{"kind", control_kind(c)}};
  std::visit(overloaded{
                 [&](const Shutdown& s) { j["grace_period_ms"] = s.grace_period_ms; },
                 [&](const DrainStart& d) { j["grace_period_ms"] = d.grace_period_ms; },
                 [](const DrainFinish&) {},
                 [&](const BackpressureOn& b) { j["level"] = static_cast<double>(b.level); },
                 [](const BackpressureOff&) {},
             },
             c);
}

Result<DaemonControl> daemon_control_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid_control("a control event must be a JSON object");
  auto kind = json_read::string_field(j, "kind");
  if (!kind) return invalid_control("control event without a string \"kind\"");

  auto grace = [&]() -> Result<std::uint64_t> {
    auto ms = json_read::u64_field(j, "grace_period_ms");
    if (!ms) return invalid_control(*kind + " needs \"grace_period_ms\" as a non-negative integer");
    return *ms;
  };

  if (*kind == "shutdown") {
    auto ms = grace();
    if (!ms) return ms.error();
    return DaemonControl{Shutdown{*ms}};
  }
  if (*kind == "drain_start") {
    auto ms = grace();
    if (!ms) return ms.error();
    return DaemonControl{DrainStart{*ms}};
  }
  if (*kind == "drain_finish") return DaemonControl{DrainFinish{}};
  if (*kind == "backpressure_off") return DaemonControl{BackpressureOff{}};
  if (*kind == "backpressure_on") {
    const auto* level_field = json_read::field(j, "level");
    auto level = level_field ? json_read::as_number(*level_field) : std::nullopt;
    if (!level) return invalid_control("backpressure_on needs a numeric \"level\"");
    if (*level < 0.0 || *level > 1.0) {
      return invalid_control("backpressure level " + std::to_string(*level) + " is outside [0, 1]");
    }
    return DaemonControl{BackpressureOn{static_cast<float>(*level)}};
  }
  return invalid_control("unknown control kind '" + *kind + "'");
}

}  // namespace meshos
