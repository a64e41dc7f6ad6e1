#include "meshos/event.hpp"

#include <iterator>

namespace meshos {

const char* to_string(PeerHealth h) {
  switch (h) {
    case PeerHealth::Healthy: return "healthy";
    case PeerHealth::Degraded: return "degraded";
    case PeerHealth::Unreachable: return "unreachable";
  }
  return "unknown";
}

const char* to_string(DaemonIntent i) {
  switch (i) {
    case DaemonIntent::Run: return "run";
    case DaemonIntent::Stop: return "stop";
  }
  return "unknown";
}

const char* event_kind(const MeshOsEvent& e) {
  static constexpr const char* kNames[] = {
      "tick",        "daemon_lifecycle",       "rtt_sample", "node_health",  "admin",
      "signed_admin", "signed_ice",            "log",        "daemon_intent_update",
      "maintenance_transition_observed",       "shutdown",   "capabilities_published",
      "peer_info",   "peer_removed",           "action_outcome",         "commit_undecodable",
      "migration_progress", "inventory_report"};
  static_assert(std::size(kNames) == std::variant_size_v<MeshOsEvent>, "one name per event");
  return kNames[e.index()];
}

}  // namespace meshos
