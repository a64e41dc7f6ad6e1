#include "meshos/logs.hpp"

#include <array>
#include <cctype>

#include <nlohmann/json.hpp>

#include "json_read.hpp"

namespace meshos {
namespace {

constexpr std::array<LogLevel, 5> kAllLevels = {LogLevel::Trace, LogLevel::Debug, LogLevel::Info, LogLevel::Warn,
                                                LogLevel::Error};

SdkError invalid_record(const std::string& message) { return SdkError{Errc::invalid_log_record, message}; }

std::optional<std::uint64_t> hex_id(const nlohmann::json& v) {
  std::uint64_t id = 0;
  if (!v.is_string() || v.get_ref<const std::string&>().size() != 16) return std::nullopt;
  if (!parse_hex_u64(v.get<std::string>(), id)) return std::nullopt;
  return id;
}

}  // namespace

const char* to_string(LogLevel l) {
  switch (l) {
    case LogLevel::Trace: return "trace";
    case LogLevel::Debug: return "debug";
    case LogLevel::Info: return "info";
    case LogLevel::Warn: return "warn";
    case LogLevel::Error: return "error";
  }
  return "unknown";
}

Result<LogLevel> log_level_from_string(const std::string& s) {
  std::string lower;
  lower.reserve(s.size());
  for (char c : s) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (lower == "warning") return LogLevel::Warn;
  for (auto level : kAllLevels) {
    if (lower == to_string(level)) return level;
  }
  return SdkError{Errc::invalid_log_level,
                  "unknown log level '" + s + "' (expected trace, debug, info, warn or error)"};
}

void to_json(nlohmann::json& j, const LogRecord& r) {
  j = nlohmann::json{{"seq", r.seq},
                     {"wall_ms", r.wall_ms},
                     {"node_id", to_hex(r.node_id)},
                     {"level", to_string(r.level)},
                     {"daemon_id", r.daemon_id ? nlohmann::json(to_hex(*r.daemon_id)) : nlohmann::json(nullptr)},
                     {"message", r.message}};
}

Result<LogRecord> log_record_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return invalid_record("a log record must be a JSON object");
  LogRecord record;
  auto seq = json_read::u64_field(j, "seq");
  if (!seq) return invalid_record("log record needs \"seq\" as a non-negative integer");
  record.seq = *seq;
  const auto* wall = json_read::field(j, "wall_ms");
  auto wall_ms = wall ? json_read::as_i64(*wall) : std::nullopt;
  if (!wall_ms) return invalid_record("log record needs \"wall_ms\" as an integer");
  record.wall_ms = *wall_ms;
  const auto* node = json_read::field(j, "node_id");
  auto node_id = node ? hex_id(*node) : std::nullopt;
  if (!node_id) return invalid_record("log record needs \"node_id\" as 16 hex digits");
  record.node_id = *node_id;
  auto level_name = json_read::string_field(j, "level");
  if (!level_name) return invalid_record("log record needs a string \"level\"");
  auto level = log_level_from_string(*level_name);
  if (!level) return invalid_record(level.error().message);
  record.level = *level;
  const auto* daemon = json_read::field(j, "daemon_id");
  if (daemon && !daemon->is_null()) {
    record.daemon_id = hex_id(*daemon);
    if (!record.daemon_id) return invalid_record("\"daemon_id\" must be 16 hex digits or null");
  }
  auto message = json_read::string_field(j, "message");
  if (!message) return invalid_record("log record needs a string \"message\"");
  record.message = std::move(*message);
  return record;
}

}  // namespace meshos
