#include "meshos/config.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

#include "meshos/value_text.hpp"
#include "text.hpp"

namespace meshos {
namespace {

// Longer than any deadline or window a node should ever hold; keeps `now + duration` far from overflow.
constexpr Millis kMaxConfigDuration{365LL * 24 * 3600 * 1000};
// Every ring and queue holds up to its capacity in memory (a log ring of 2^20 records of up to 16 KB is
// already 16 GB), so a typo such as 18446744073709551615 must not reach the runtime. 2^20 = 1,048,576 is
// far above any sensible setting (the defaults are 8 to 2048). backpressure-assert-depth shares the bound:
// it is compared with the action queue's depth, which never exceeds its capacity.
constexpr std::size_t kMaxCapacity = std::size_t{1} << 20;

enum class FieldType { NodeIdentifier, Duration, Size, U32 };

// One configurable field: its file key, where it lives in MeshOsConfig, and what it means (meshosd --help).
struct Field {
  const char* key;
  FieldType type;
  const char* help;
  NodeId MeshOsConfig::*node = nullptr;
  Millis MeshOsConfig::*duration = nullptr;
  std::size_t MeshOsConfig::*size = nullptr;
  std::uint32_t MeshOsConfig::*u32 = nullptr;
};

Field node_field(const char* key, NodeId MeshOsConfig::*m, const char* help) {
  return {key, FieldType::NodeIdentifier, help, m};
}
Field duration_field(const char* key, Millis MeshOsConfig::*m, const char* help) {
  return {key, FieldType::Duration, help, nullptr, m};
}
Field size_field(const char* key, std::size_t MeshOsConfig::*m, const char* help) {
  return {key, FieldType::Size, help, nullptr, nullptr, m};
}
Field u32_field(const char* key, std::uint32_t MeshOsConfig::*m, const char* help) {
  return {key, FieldType::U32, help, nullptr, nullptr, nullptr, m};
}

const std::vector<Field>& fields() {
  using C = MeshOsConfig;
  static const std::vector<Field> all = {
      node_field("this-node", &C::this_node, "this node's id, 16 hex digits (meshosd: the key file's node id)"),
      duration_field("tick-interval", &C::tick_interval, "how often the loop reconciles and publishes a snapshot"),
      duration_field("daemon-check-interval", &C::daemon_check_interval,
                     "how often each daemon's actor reads its health, saturation and state"),
      size_field("event-queue-capacity", &C::event_queue_capacity, "events waiting for the loop (1..2^20)"),
      size_field("action-queue-capacity", &C::action_queue_capacity, "actions waiting for the dispatcher (1..2^20)"),
      size_field("control-capacity", &C::control_capacity, "control events waiting per daemon (1..2^20)"),
      duration_field("default-drain-deadline", &C::default_drain_deadline, "drain deadline of a maintenance without one"),
      duration_field("recovery-ramp-window", &C::recovery_ramp_window, "how long a node ramps up after maintenance"),
      duration_field("stop-grace", &C::stop_grace, "grace of a daemon stopped by an intent Stop"),
      duration_field("restart-backoff-initial", &C::restart_backoff_initial, "first wait before restarting a crashed daemon"),
      duration_field("restart-backoff-max", &C::restart_backoff_max, "longest wait before a restart"),
      u32_field("restart-backoff-factor", &C::restart_backoff_factor, "growth of the wait per crash"),
      u32_field("crash-loop-threshold", &C::crash_loop_threshold, "crashes within crash-loop-window that make a crash loop"),
      duration_field("crash-loop-window", &C::crash_loop_window, "window in which crashes are counted"),
      duration_field("crash-loop-hold", &C::crash_loop_hold, "how long a crash-looping daemon is held off"),
      duration_field("healthy-run-reset", &C::healthy_run_reset, "a start this long after the previous one resets the backoff"),
      duration_field("start-timeout", &C::start_timeout, "a start not confirmed by then is retried"),
      duration_field("rtt-degraded-threshold", &C::rtt_degraded_threshold, "a peer slower than this is degraded"),
      duration_field("avoid-ttl", &C::avoid_ttl, "how long an avoid-list entry lasts"),
      u32_field("dispatch-budget", &C::dispatch_budget, "retries and deferrals per action"),
      size_field("backpressure-assert-depth", &C::backpressure_assert_depth, "action queue depth that asserts backpressure"),
      size_field("backpressure-release-depth", &C::backpressure_release_depth,
                 "action queue depth that releases it (below the assert depth)"),
      size_field("log-ring-capacity", &C::log_ring_capacity, "daemon log records kept (1..2^20)"),
      size_field("failure-ring-capacity", &C::failure_ring_capacity, "dispatch failures kept (1..2^20)"),
      size_field("audit-ring-capacity", &C::audit_ring_capacity, "audit records kept (1..2^20)"),
      size_field("recent-actions-capacity", &C::recent_actions_capacity, "recent actions kept (1..2^20)"),
  };
  return all;
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields()) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

SdkError invalid(std::string message) { return SdkError{Errc::invalid_config, std::move(message)}; }

SdkError unknown_key(const std::string& key, const std::string& section) {
  std::string message = "unknown key '" + key + "' in [" + section + "]";
  if (auto closest = closest_word(key, MeshOsConfig::keys())) message += " (did you mean '" + *closest + "'?)";
  return invalid(std::move(message));
}

bool is_hex_digit(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

// "0x" + 1..16 hex digits, exactly 16 hex digits (the form to_hex prints), or a decimal number.
// A quoted form is accepted too, so a file stays readable by CAF, which wants strings quoted.
Result<NodeId> parse_node_id(const std::string& raw) {
  auto text = parse_string(raw);
  if (!text) return text.error();
  const std::string& s = *text;
  NodeId id = 0;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    if (parse_hex_u64(s.substr(2), id)) return id;
  } else if (s.size() == 16 && std::all_of(s.begin(), s.end(), is_hex_digit)) {
    if (parse_hex_u64(s, id)) return id;
  } else if (auto decimal = parse_uint(s)) {
    return *decimal;
  }
  return invalid("expected a node id as 16 hex digits (0x optional) or a decimal number, got '" + s + "'");
}

// Parses `value` into the field without checking invariants between fields.
Result<void> assign(MeshOsConfig& config, const Field& field, const std::string& value) {
  switch (field.type) {
    case FieldType::NodeIdentifier: {
      auto id = parse_node_id(value);
      if (!id) return id.error();
      config.*field.node = *id;
      return ok();
    }
    case FieldType::Duration: {
      auto duration = parse_duration(value);
      if (!duration) return duration.error();
      config.*field.duration = *duration;
      return ok();
    }
    case FieldType::Size: {
      auto number = parse_uint(value);
      if (!number) return number.error();
      if (*number > std::numeric_limits<std::size_t>::max()) return invalid("'" + value + "' is too large");
      config.*field.size = static_cast<std::size_t>(*number);
      return ok();
    }
    case FieldType::U32: {
      auto number = parse_uint(value);
      if (!number) return number.error();
      if (*number > std::numeric_limits<std::uint32_t>::max()) {
        return invalid("'" + value + "' is too large (max 4294967295)");
      }
      config.*field.u32 = static_cast<std::uint32_t>(*number);
      return ok();
    }
  }
  return invalid("unsupported field type");
}

Result<void> assign_checked(MeshOsConfig& config, const std::string& key, const std::string& value,
                            const std::string& section) {
  const Field* field = find_field(key);
  if (!field) return unknown_key(key, section);
  auto assigned = assign(config, *field, value);
  if (!assigned) return invalid("bad value for " + key + ": " + assigned.error().message);
  return ok();
}

std::string json_name(const Field& f) {
  std::string name = f.key;
  std::replace(name.begin(), name.end(), '-', '_');
  if (f.type == FieldType::Duration) name += "_ms";
  return name;
}

}  // namespace

const std::vector<std::string>& MeshOsConfig::keys() {
  static const std::vector<std::string> all = [] {
    std::vector<std::string> out;
    for (const auto& f : fields()) out.emplace_back(f.key);
    return out;
  }();
  return all;
}

const std::vector<MeshOsConfig::KeyInfo>& MeshOsConfig::describe() {
  static const std::vector<KeyInfo> all = [] {
    std::vector<KeyInfo> out;
    for (const auto& f : fields()) {
      const ValueKind kind = f.type == FieldType::NodeIdentifier ? ValueKind::NodeIdentifier
                             : f.type == FieldType::Duration     ? ValueKind::Duration
                                                                 : ValueKind::Count;
      out.push_back(KeyInfo{f.key, kind, f.help});
    }
    return out;
  }();
  return all;
}

std::string MeshOsConfig::text_of(const std::string& key) const {
  const Field* f = find_field(key);
  if (!f) return {};
  switch (f->type) {
    case FieldType::NodeIdentifier: return "\"" + to_hex(this->*f->node) + "\"";
    case FieldType::Duration: return duration_text(this->*f->duration);
    case FieldType::Size: return std::to_string(this->*f->size);
    case FieldType::U32: return std::to_string(this->*f->u32);
  }
  return {};
}

Result<void> MeshOsConfig::assign(const std::string& key, const std::string& value) {
  return assign_checked(*this, key, value, "meshos");
}

Result<void> MeshOsConfig::set(const std::string& key, const std::string& value) {
  MeshOsConfig candidate = *this;
  auto assigned = candidate.assign(key, value);
  if (!assigned) return assigned;
  auto valid = candidate.validate();
  if (!valid) return valid;
  *this = candidate;
  return ok();
}

Result<void> MeshOsConfig::apply_override(const std::string& assignment) {
  std::size_t eq = assignment.find('=');
  if (eq == std::string::npos) return invalid("expected key=value, got '" + assignment + "'");
  std::string key = trim_blanks(assignment.substr(0, eq));
  if (key.empty()) return invalid("expected key=value, got '" + assignment + "'");
  return set(key, trim_blanks(assignment.substr(eq + 1)));
}

Result<void> MeshOsConfig::validate() const {
  for (const auto& f : fields()) {
    if (f.type != FieldType::Duration) continue;
    Millis d = this->*f.duration;
    if (d < Millis::zero()) return invalid(std::string(f.key) + " must not be negative");
    if (d > kMaxConfigDuration) return invalid(std::string(f.key) + " must not exceed 365 days");
  }
  // Zero would stop the loop, disable a bound or make a window meaningless.
  const std::pair<const char*, Millis> positive_durations[] = {
      {"tick-interval", tick_interval},
      {"daemon-check-interval", daemon_check_interval},
      {"restart-backoff-initial", restart_backoff_initial},
      {"crash-loop-window", crash_loop_window},
      {"healthy-run-reset", healthy_run_reset},
      {"start-timeout", start_timeout},
      {"rtt-degraded-threshold", rtt_degraded_threshold},
      {"avoid-ttl", avoid_ttl},
  };
  for (const auto& [key, d] : positive_durations) {
    if (d <= Millis::zero()) return invalid(std::string(key) + " must be greater than 0");
  }
  // control-capacity = 0 is rejected rather than raised to 1, so a config never silently differs
  // from what its file says.
  const std::pair<const char*, std::size_t> capacities[] = {
      {"event-queue-capacity", event_queue_capacity},
      {"action-queue-capacity", action_queue_capacity},
      {"control-capacity", control_capacity},
      {"backpressure-assert-depth", backpressure_assert_depth},
      {"log-ring-capacity", log_ring_capacity},
      {"failure-ring-capacity", failure_ring_capacity},
      {"audit-ring-capacity", audit_ring_capacity},
      {"recent-actions-capacity", recent_actions_capacity},
  };
  for (const auto& [key, n] : capacities) {
    if (n < 1) return invalid(std::string(key) + " must be at least 1");
    if (n > kMaxCapacity)
      return invalid(std::string(key) + " must not exceed " + std::to_string(kMaxCapacity) + " (got " +
                     std::to_string(n) + ")");
  }
  if (backpressure_release_depth >= backpressure_assert_depth) {
    return invalid("backpressure-release-depth (" + std::to_string(backpressure_release_depth) +
                   ") must be below backpressure-assert-depth (" + std::to_string(backpressure_assert_depth) +
                   ")");
  }
  if (restart_backoff_initial > restart_backoff_max) {
    return invalid("restart-backoff-initial (" + std::to_string(restart_backoff_initial.count()) +
                   " ms) must not exceed restart-backoff-max (" + std::to_string(restart_backoff_max.count()) +
                   " ms)");
  }
  if (restart_backoff_factor < 1) return invalid("restart-backoff-factor must be at least 1");
  if (crash_loop_threshold < 1) return invalid("crash-loop-threshold must be at least 1");
  return ok();
}

void to_json(nlohmann::json& j, const MeshOsConfig& c) {
  j = nlohmann::json::object();
  for (const auto& f : fields()) {
    switch (f.type) {
      case FieldType::NodeIdentifier: j[json_name(f)] = to_hex(c.*f.node); break;
      case FieldType::Duration: j[json_name(f)] = (c.*f.duration).count(); break;
      case FieldType::Size: j[json_name(f)] = c.*f.size; break;
      case FieldType::U32: j[json_name(f)] = c.*f.u32; break;
    }
  }
}

}  // namespace meshos
