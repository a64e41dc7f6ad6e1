#pragma once
// What meshosd prints on stdout, where journald and log collectors pick it up: one line per event worth a
// line, with its time, level and source. Its own lines (start, signals, reloads) and, read from the snapshots
// the node publishes, what changed since the previous one: daemon logs, commits accepted and refused (with
// the operator's name), maintenance transitions, peers coming, going and changing health, daemons starting,
// crashing, backing off and crash looping. Text ("2026-12-01T05:37:27.123Z info meshosd: ...") or one JSON
// object per line ({"time", "level", "source", "message"}).
#include <cstdint>
#include <map>
#include <mutex>
#include <ostream>
#include <string>

#include "meshos/logs.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/snapshot.hpp"

namespace meshos::apps {

class NodeLog {
 public:
  enum class Format { Text, Json };

  NodeLog(std::ostream& out, Format format, std::map<OperatorId, std::string> operator_names = {});

  // One line, now (or at `wall_ms`). Safe from any thread.
  void write(LogLevel level, const std::string& source, const std::string& message, std::int64_t wall_ms = 0);
  // The lines for what `snapshot` shows that the previous one did not (the first sets the baseline of peers,
  // daemons and maintenance, and prints the logs and commits it already holds that were stamped since this
  // NodeLog was made: older ones come from the state dir's journal and an earlier run printed them).
  void observe(const MeshOsSnapshot& snapshot);

 private:
  void write_locked(LogLevel level, const std::string& source, const std::string& message, std::int64_t wall_ms);
  std::string who(const AuditRecord& r) const;

  std::ostream& out_;
  Format format_;
  std::map<OperatorId, std::string> operator_names_;
  std::int64_t started_wall_ms_;  // log and audit records stamped earlier are an earlier run's
  std::mutex mu_;
  bool seen_any_ = false;
  std::uint64_t epoch_ = 0;
  std::uint64_t log_seq_ = 0;
  std::uint64_t audit_seq_ = 0;
  std::uint64_t strangers_ = 0;
  MaintenanceKind maintenance_ = MaintenanceKind::Active;
  struct PeerSeen {
    PeerHealth health;
    std::string source;  // "peer NAME (id)"
  };
  std::map<NodeId, PeerSeen> peers_;
  struct DaemonSeen {
    DaemonLifecycleState lifecycle;
    RestartPhase restart;
    std::uint64_t crashes;
  };
  std::map<DaemonId, DaemonSeen> daemons_;
};

}  // namespace meshos::apps
