#pragma once
// Library: meshos_core; not stable API (the loop's internals: meshos/meshos.hpp says why).
// What a node keeps across restarts (with a state dir): what operators committed, and what keeps their
// commits safe. Extracted from a MeshOsState, saved as one JSON file, loaded and re-applied to a fresh
// MeshOsState on the next start. Times are wall-clock milliseconds: a monotonic time point means nothing to
// the next process, and a drain deadline must neither grow nor shrink because the node restarted.
// The file format is documented in libmeshos/docs/state-file.md.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/event.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/operators.hpp"
#include "meshos/result.hpp"
#include "meshos/snapshot.hpp"
#include "meshos/time.hpp"
#include "meshos/types.hpp"

namespace meshos {

class MeshOsState;

inline constexpr std::uint32_t kStateFormatVersion = 1;
inline constexpr const char* kStateFileName = "node-state.json";
// The audit ring (256 records by default) and the verifier's replay memory (4096 signatures by default)
// are the bulk of a state file: a few MB at most even with generous capacities.
inline constexpr std::size_t kMaxStateFileBytes = 32 * 1024 * 1024;

struct PersistedMaintenance {
  MaintenanceKind kind = MaintenanceKind::Active;
  std::int64_t since_wall_ms = 0;                // not used for Active
  std::optional<std::int64_t> deadline_wall_ms;  // EnteringMaintenance: when the drain fails
  std::string reason;                            // DrainFailed
  bool operator==(const PersistedMaintenance& o) const {
    return kind == o.kind && since_wall_ms == o.since_wall_ms && deadline_wall_ms == o.deadline_wall_ms &&
           reason == o.reason;
  }
};

struct PersistedAvoid {
  NodeId peer = 0;
  std::string reason;
  std::int64_t until_wall_ms = 0;
  bool operator==(const PersistedAvoid& o) const {
    return peer == o.peer && reason == o.reason && until_wall_ms == o.until_wall_ms;
  }
};

struct PersistentState {
  NodeId node = 0;  // the node that saved it: a state dir belongs to one node
  std::int64_t saved_wall_ms = 0;
  PersistedMaintenance maintenance;
  bool cordoned = false;
  std::optional<std::int64_t> frozen_until_wall_ms;
  std::vector<PersistedAvoid> avoid;
  std::map<std::string, DaemonIntent> daemon_intents;  // what operators set, by daemon name
  std::optional<VerifierMemory> verifier;              // replay memory and break-glass cooldowns
  std::uint64_t audit_seq = 0;                         // the last audit record's number
  // MeshOsState::audit_records(): accepted and refused commits, by seq. Strangers' refusals are only
  // counted (MeshOsState::strangers()) and those counts start again at 0 with each run.
  std::vector<AuditRecord> audit;

  bool operator==(const PersistentState& o) const;
  bool operator!=(const PersistentState& o) const { return !(*this == o); }
};

// What `state` holds now that must survive a restart; `now` / `wall_ms` are the same instant on both clocks.
PersistentState extract_persistent_state(const MeshOsState& state, TimePoint now, std::int64_t wall_ms);

// Puts `saved` back into a freshly constructed state: maintenance (a transition in flight is forgotten;
// reconcile re-emits it), cordon, freeze, avoid list (entries already expired are dropped), operator
// intents (for daemons registered now and later), the audit, and the verifier's memory (when the state has
// a verifier). Deadlines keep their wall-clock instant. All or nothing: kind "invalid_state_file" when the
// verifier refuses the memory, and then `state` is unchanged.
Result<void> apply_persistent_state(MeshOsState& state, const PersistentState& saved, TimePoint now,
                                    std::int64_t wall_ms);

// The file's JSON. Decoding checks everything (kind "invalid_state_file"): format name, version, every
// field's type and range; never a partial value.
void to_json(nlohmann::json& j, const PersistentState& s);
Result<PersistentState> persistent_state_from_json(const nlohmann::json& j);
std::string encode_state_file(const PersistentState& s);
// With the size and nesting bounds of untrusted JSON. Kind "invalid_state_file".
Result<PersistentState> decode_state_file(const std::string& text);

// `dir`/node-state.json.
std::string state_file_path(const std::string& dir);

// What a node starting on a state dir finds there.
struct OpenedState {
  std::string path;                      // the state file (it may not exist yet)
  std::optional<PersistentState> saved;  // nullopt: nothing saved yet, or started fresh
  std::string set_aside;                 // with fresh_state: where an unreadable file was moved, else ""
  std::string set_aside_reason;          // what was wrong with it
};

// Creates `dir` when missing and loads its state file. A file that cannot be read or decoded, or that another
// node saved, is an error of kind "invalid_state_file" naming the file and what is wrong, unless
// `fresh_state`: then it is renamed to "<file>.bad-<UTC time>" (kept, never deleted) and the node starts
// fresh. Kind "invalid_state_dir" when the directory cannot be made or is not a directory.
Result<OpenedState> open_state_dir(const std::string& dir, NodeId node, bool fresh_state, std::int64_t wall_ms);

}  // namespace meshos
