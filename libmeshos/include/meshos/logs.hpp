#pragma once
// Library: meshos_core.
// Log lines from daemons and the node, stamped by the loop, kept in a bounded ring.
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos {

enum class LogLevel : int { Trace = 0, Debug = 1, Info = 2, Warn = 3, Error = 4 };
// "trace", "debug", "info", "warn", "error".
const char* to_string(LogLevel l);
// Case-insensitive; accepts "warning" for warn. Kind "invalid_log_level".
Result<LogLevel> log_level_from_string(const std::string& s);

inline constexpr std::size_t kMaxLogMessageBytes = 16 * 1024;

// What a producer hands the loop.
struct LogLine {
  LogLevel level = LogLevel::Info;
  std::optional<DaemonId> daemon_id;
  std::string message;

  // LogLine::warn("disk slow").from(id): a line at a level, the node's own unless from() names a daemon.
  static LogLine trace(std::string message) { return {LogLevel::Trace, std::nullopt, std::move(message)}; }
  static LogLine debug(std::string message) { return {LogLevel::Debug, std::nullopt, std::move(message)}; }
  static LogLine info(std::string message) { return {LogLevel::Info, std::nullopt, std::move(message)}; }
  static LogLine warn(std::string message) { return {LogLevel::Warn, std::nullopt, std::move(message)}; }
  static LogLine error(std::string message) { return {LogLevel::Error, std::nullopt, std::move(message)}; }
  LogLine from(DaemonId daemon) && {
    daemon_id = daemon;
    return std::move(*this);
  }
  // At `minimum` or above (a filter's question).
  bool at_least(LogLevel minimum) const { return static_cast<int>(level) >= static_cast<int>(minimum); }
};

// What the loop keeps: the line plus the loop's own stamps.
struct LogRecord {
  std::uint64_t seq = 0;        // from 1, per runtime epoch
  std::int64_t wall_ms = 0;     // wall clock at intake
  NodeId node_id = 0;
  LogLevel level = LogLevel::Info;
  std::optional<DaemonId> daemon_id;
  std::string message;
};
void to_json(nlohmann::json& j, const LogRecord& r);
// Inverse of to_json. Kind "invalid_log_record" on malformed input.
Result<LogRecord> log_record_from_json(const nlohmann::json& j);

// Fixed-capacity FIFO that evicts its oldest entry when full and counts what it evicted.
template <class T>
class BoundedRing {
 public:
  explicit BoundedRing(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {}

  void push(T value) {
    if (items_.size() == capacity_) {
      items_.pop_front();
      ++evicted_;
    }
    items_.push_back(std::move(value));
  }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t capacity() const noexcept { return capacity_; }
  std::uint64_t evicted() const noexcept { return evicted_; }
  bool empty() const noexcept { return items_.empty(); }
  const std::deque<T>& items() const noexcept { return items_; }
  std::vector<T> to_vector() const { return {items_.begin(), items_.end()}; }
  void clear() { items_.clear(); }

 private:
  std::size_t capacity_;
  std::uint64_t evicted_ = 0;
  std::deque<T> items_;
};

}  // namespace meshos
