#pragma once
// Library: meshos_core.
// The daemon-author interface. A daemon is long-lived user code that the node supervises.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/capability.hpp"
#include "meshos/control.hpp"
#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos {

// One event in a causal chain addressed to a daemon.
struct CausalEvent {
  std::uint64_t origin_hash = 0;  // who produced it
  std::uint64_t sequence = 0;     // position in the origin's chain
  std::uint64_t parent_hash = 0;  // hash of the previous event in that chain
  std::uint64_t horizon = 0;      // causal horizon (opaque to the supervisor)
  Bytes payload;
  std::int64_t received_at_ms = 0;  // wall clock, for people
};

namespace health {
struct Healthy {
  bool operator==(const Healthy&) const { return true; }
};
struct Degraded {
  std::string reason;
  bool operator==(const Degraded& o) const { return reason == o.reason; }
};
struct Unhealthy {
  bool operator==(const Unhealthy&) const { return true; }
};
}  // namespace health
using DaemonHealth = std::variant<health::Healthy, health::Degraded, health::Unhealthy>;
// "healthy", "degraded", "unhealthy".
const char* health_kind(const DaemonHealth& h);
// {"status": "healthy"|"degraded"|"unhealthy"}, plus "reason" for degraded.
void to_json(nlohmann::json& j, const DaemonHealth& h);
// Inverse of to_json. Kind "invalid_health" on malformed input.
Result<DaemonHealth> daemon_health_from_json(const nlohmann::json& j);

// The original's daemon error kinds, a subset of the one catalogue (errc.hpp): a daemon returns them as
// SdkErrors (to_sdk_error), and Result<T> carries them like any other.
enum class DaemonErrorKind { ProcessFailed, SnapshotFailed, RestoreFailed, NotFound, Stale, RegisterFailed };
Errc to_errc(DaemonErrorKind k);
// "process_failed", "snapshot_failed", "restore_failed", "not_found", "stale", "register_failed".
const char* to_string(DaemonErrorKind k);

struct DaemonError {
  DaemonErrorKind kind = DaemonErrorKind::ProcessFailed;
  std::string message;
  SdkError to_sdk_error() const { return SdkError{to_errc(kind), message}; }
};

// Where a daemon's code runs. Shared: on the node's scheduler threads, with every other daemon (the default;
// thousands fit). OwnThread: on a thread of its own, for a daemon whose process() or on_control() blocks
// (file or network I/O, sleeps): a blocked call then holds only that thread, not one of the few the other
// daemons share. A thread costs a stack and a context switch per message; give one to the daemons that block.
enum class DaemonHosting { Shared, OwnThread };

class MeshDaemon {
 public:
  virtual ~MeshDaemon() = default;

  virtual std::string name() const = 0;
  // What this daemon needs from its host; the default matches every host.
  virtual CapabilityFilter requirements() const { return {}; }
  // Handle one causal event; the returned payloads are the daemon's outputs. Throwing counts as a crash.
  virtual Result<std::vector<Bytes>> process(const CausalEvent& ev) = 0;
  // Opaque state for restart and migration; nullopt = nothing to save.
  virtual std::optional<Bytes> snapshot() const { return std::nullopt; }
  // Restore from snapshot(). Stateless daemons accept only empty bytes.
  virtual Result<void> restore(const Bytes& state);
  virtual bool is_stateful() const { return false; }
  virtual DaemonHealth health() const { return health::Healthy{}; }
  // Load in [0, 1]; values outside are clamped by the host.
  virtual float saturation() const { return 0.0f; }
  virtual void on_control(const DaemonControl&) {}
  // Asked once, when the daemon is registered or built from its factory.
  virtual DaemonHosting hosting() const { return DaemonHosting::Shared; }
};

}  // namespace meshos

// DaemonHealth's alternatives live in meshos::health, so argument-dependent lookup alone would not find
// meshos::to_json; this lets `nlohmann::json j = health;` and `j["k"] = health;` work.
NLOHMANN_JSON_NAMESPACE_BEGIN
template <>
struct adl_serializer<meshos::DaemonHealth> {
  static void to_json(json& j, const meshos::DaemonHealth& h) { meshos::to_json(j, h); }
};
NLOHMANN_JSON_NAMESPACE_END
