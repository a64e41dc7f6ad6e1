#include "meshos/config.hpp"

#include <algorithm>
#include <limits>

#include <nlohmann/json.hpp>

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

// One configurable field: its file key and where it lives in MeshOsConfig.
struct Field {
  const char* key;
  FieldType type;
  NodeId MeshOsConfig::*node = nullptr;
  Millis MeshOsConfig::*duration = nullptr;
  std::size_t MeshOsConfig::*size = nullptr;
  std::uint32_t MeshOsConfig::*u32 = nullptr;
};

Field node_field(const char* key, NodeId MeshOsConfig::*m) { return {key, FieldType::NodeIdentifier, m}; }
Field duration_field(const char* key, Millis MeshOsConfig::*m) {
  return {key, FieldType::Duration, nullptr, m};
}
Field size_field(const char* key, std::size_t MeshOsConfig::*m) {
  return {key, FieldType::Size, nullptr, nullptr, m};
}
Field u32_field(const char* key, std::uint32_t MeshOsConfig::*m) {
  return {key, FieldType::U32, nullptr, nullptr, nullptr, m};
}

const std::vector<Field>& fields() {
  using C = MeshOsConfig;
  static const std::vector<Field> all = {
      node_field("this-node", &C::this_node),
      duration_field("tick-interval", &C::tick_interval),
      duration_field("daemon-check-interval", &C::daemon_check_interval),
      size_field("event-queue-capacity", &C::event_queue_capacity),
      size_field("action-queue-capacity", &C::action_queue_capacity),
      size_field("control-capacity", &C::control_capacity),
      duration_field("default-drain-deadline", &C::default_drain_deadline),
      duration_field("recovery-ramp-window", &C::recovery_ramp_window),
      duration_field("stop-grace", &C::stop_grace),
      duration_field("restart-backoff-initial", &C::restart_backoff_initial),
      duration_field("restart-backoff-max", &C::restart_backoff_max),
      u32_field("restart-backoff-factor", &C::restart_backoff_factor),
      u32_field("crash-loop-threshold", &C::crash_loop_threshold),
      duration_field("crash-loop-window", &C::crash_loop_window),
      duration_field("crash-loop-hold", &C::crash_loop_hold),
      duration_field("healthy-run-reset", &C::healthy_run_reset),
      duration_field("start-timeout", &C::start_timeout),
      duration_field("rtt-degraded-threshold", &C::rtt_degraded_threshold),
      duration_field("avoid-ttl", &C::avoid_ttl),
      u32_field("dispatch-budget", &C::dispatch_budget),
      size_field("backpressure-assert-depth", &C::backpressure_assert_depth),
      size_field("backpressure-release-depth", &C::backpressure_release_depth),
      size_field("log-ring-capacity", &C::log_ring_capacity),
      size_field("failure-ring-capacity", &C::failure_ring_capacity),
      size_field("audit-ring-capacity", &C::audit_ring_capacity),
      size_field("recent-actions-capacity", &C::recent_actions_capacity),
  };
  return all;
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields()) {
    if (key == f.key) return &f;
  }
  return nullptr;
}

SdkError invalid(std::string message) { return SdkError{"invalid_config", std::move(message)}; }

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

SdkError unknown_key(const std::string& key, const std::string& section) {
  std::string message = "unknown key '" + key + "' in [" + section + "]";
  const char* closest = nullptr;
  std::size_t best = 3;  // suggest only near misses: typos, not different words
  for (const auto& f : fields()) {
    // The distance is at least the difference in length: a long key is not compared letter by letter.
    const std::size_t key_length = std::char_traits<char>::length(f.key);
    if ((key.size() > key_length ? key.size() - key_length : key_length - key.size()) >= best) continue;
    std::size_t d = edit_distance(key, f.key);
    if (d < best) {
      best = d;
      closest = f.key;
    }
  }
  if (closest) message += std::string(" (did you mean '") + closest + "'?)";
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

Result<void> MeshOsConfig::set(const std::string& key, const std::string& value) {
  MeshOsConfig candidate = *this;
  auto assigned = assign_checked(candidate, key, value, "meshos");
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

Result<MeshOsConfig> config_from_ini(const IniDocument& doc, const std::string& section) {
  MeshOsConfig config;
  for (const auto& entry : doc.entries) {
    if (entry.section != section) continue;
    // Fields first, invariants after: a file may set related keys in any order.
    auto assigned = assign_checked(config, entry.key, entry.value, section);
    if (!assigned) return invalid("line " + std::to_string(entry.line) + ": " + assigned.error().message);
  }
  auto valid = config.validate();
  if (!valid) return invalid("[" + section + "]: " + valid.error().message);
  return config;
}

Result<MeshOsConfig> load_config_file(const std::string& path, const std::string& section) {
  auto doc = parse_ini_file(path);
  if (!doc) return doc.error();
  auto config = config_from_ini(*doc, section);
  if (!config) return SdkError{config.error().kind, path + ": " + config.error().message};
  return config;
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
