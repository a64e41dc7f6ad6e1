#pragma once
// Library: meshos_core.
// Control events. DaemonControl is the wire form daemons see (relative milliseconds); MeshOsControl is
// the supervisor-internal form with absolute monotonic deadlines.
#include <cstdint>
#include <string>
#include <variant>

#include <nlohmann/json_fwd.hpp>

#include "meshos/result.hpp"
#include "meshos/time.hpp"

namespace meshos {

struct Shutdown {
  std::uint64_t grace_period_ms = 0;
  bool operator==(const Shutdown& o) const { return grace_period_ms == o.grace_period_ms; }
};
struct DrainStart {
  std::uint64_t grace_period_ms = 0;
  bool operator==(const DrainStart& o) const { return grace_period_ms == o.grace_period_ms; }
};
struct DrainFinish {
  bool operator==(const DrainFinish&) const { return true; }
};
struct BackpressureOn {
  float level = 0.0f;  // in [0, 1]
  bool operator==(const BackpressureOn& o) const { return level == o.level; }
};
struct BackpressureOff {
  bool operator==(const BackpressureOff&) const { return true; }
};

using DaemonControl = std::variant<Shutdown, DrainStart, DrainFinish, BackpressureOn, BackpressureOff>;

// "shutdown", "drain_start", "drain_finish", "backpressure_on", "backpressure_off".
const char* control_kind(const DaemonControl& c);

namespace control {
struct Shutdown {
  TimePoint deadline;
};
struct DrainStart {
  TimePoint deadline;
};
struct DrainFinish {};
struct BackpressureOn {
  float level = 0.0f;
};
struct BackpressureOff {};
}  // namespace control

using MeshOsControl = std::variant<control::Shutdown, control::DrainStart, control::DrainFinish,
                                   control::BackpressureOn, control::BackpressureOff>;

// Deadlines become saturating "ms from now" (a past deadline is 0); the level is clamped to [0, 1].
DaemonControl to_daemon_control(const MeshOsControl& c, TimePoint now);

void to_json(nlohmann::json& j, const DaemonControl& c);
// Kinds: "invalid_control" for anything malformed (unknown kind, missing or mistyped field, level outside [0,1]).
Result<DaemonControl> daemon_control_from_json(const nlohmann::json& j);

}  // namespace meshos
