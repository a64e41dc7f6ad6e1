#pragma once
// Library: meshos_core.
// Runtime configuration with the Rust crate's defaults, set key by key from config text ("tick-interval=10ms").
// meshosd declares every key below in CAF's config system from describe(), as its [meshos] section.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/result.hpp"
#include "meshos/time.hpp"
#include "meshos/types.hpp"

namespace meshos {

struct MeshOsConfig {
  NodeId this_node = 0;                    // this-node
  Millis tick_interval{500};               // tick-interval
  // daemon-check-interval: how often each daemon's actor asks its daemon for health, saturation and (when it
  // did work since) its state. Each actor keeps its own cadence, so no tick makes one actor send N messages.
  Millis daemon_check_interval{500};
  std::size_t event_queue_capacity = 1024;   // event-queue-capacity
  std::size_t action_queue_capacity = 1024;  // action-queue-capacity
  std::size_t control_capacity = 8;          // control-capacity (min 1)

  Millis default_drain_deadline{600'000};  // default-drain-deadline (10 min)
  Millis recovery_ramp_window{300'000};    // recovery-ramp-window (5 min)
  Millis stop_grace{30'000};               // stop-grace: grace of StopDaemon for intent Stop

  Millis restart_backoff_initial{500};     // restart-backoff-initial
  Millis restart_backoff_max{60'000};      // restart-backoff-max
  std::uint32_t restart_backoff_factor = 2;  // restart-backoff-factor
  std::uint32_t crash_loop_threshold = 5;  // crash-loop-threshold: crashes within the window
  Millis crash_loop_window{60'000};        // crash-loop-window
  Millis crash_loop_hold{300'000};         // crash-loop-hold: how long a crash-looping daemon is held off
  Millis healthy_run_reset{60'000};        // healthy-run-reset: a run this long resets the backoff
  Millis start_timeout{30'000};            // start-timeout: a start not confirmed by then is retried

  Millis rtt_degraded_threshold{250};      // rtt-degraded-threshold
  Millis avoid_ttl{300'000};               // avoid-ttl

  std::uint32_t dispatch_budget = 16;            // dispatch-budget: retries + deferrals per action
  std::size_t backpressure_assert_depth = 1000;  // backpressure-assert-depth
  std::size_t backpressure_release_depth = 200;  // backpressure-release-depth

  std::size_t log_ring_capacity = 2048;      // log-ring-capacity
  std::size_t failure_ring_capacity = 256;   // failure-ring-capacity
  std::size_t audit_ring_capacity = 256;     // audit-ring-capacity
  std::size_t recent_actions_capacity = 256; // recent-actions-capacity

  // Every key above, as written in a config file.
  static const std::vector<std::string>& keys();

  // What a key holds, for readers that parse values themselves (CAF declares each key with its type).
  enum class ValueKind { NodeIdentifier, Duration, Count };
  struct KeyInfo {
    std::string key;
    ValueKind kind;
    std::string help;
  };
  static const std::vector<KeyInfo>& describe();

  // The key's current value as set() reads it: "500ms", "1024", "\"00000000000000ab\"". Empty for an unknown key.
  std::string text_of(const std::string& key) const;

  // One field, without the invariants between fields, so that a reader can take a whole section in any order
  // and validate() once. Kind "invalid_config" naming the key (unknown key: with the nearest known one).
  Result<void> assign(const std::string& key, const std::string& value);

  // Kind "invalid_config": unknown key, bad value, or a value that breaks an invariant
  // (e.g. release depth >= assert depth, zero capacities, zero tick). The config is unchanged on error.
  Result<void> set(const std::string& key, const std::string& value);
  // "key=value".
  Result<void> apply_override(const std::string& assignment);
  Result<void> validate() const;
};

void to_json(nlohmann::json& j, const MeshOsConfig& c);

}  // namespace meshos
