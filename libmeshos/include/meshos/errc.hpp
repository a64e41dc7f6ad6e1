#pragma once
// Library: meshos_core.
// Errc: every kind of error meshos reports, one entry each. An SdkError carries one (SdkError::code()), and its
// wire form, to_string(), is the entry's name: what the "<<meshos-sdk-kind:KIND>>" envelope, the C SDK's last
// error, a peer's or operator's reply and a commit's audit record carry. Callers compare codes, never text.
#include <optional>
#include <string_view>

namespace meshos {

// X(name, what it means). Names are stable: they cross processes and languages.
#define MESHOS_ERRC_CATALOGUE(X)                                                                                   \
  /* What a caller, an operator or a file gave */                                                                 \
  X(invalid_config, "a configuration value is out of range, inconsistent with another, or unknown")              \
  X(config_not_found, "the config file named does not exist")                                                    \
  X(invalid_argument, "an argument is missing, malformed or out of range (C SDK, meshos-ctl)")                    \
  X(usage, "meshos-ctl was called wrongly: an unknown command or option, or one missing")                         \
  X(invalid_address, "an address is not host:port, or the host does not resolve")                                \
  X(invalid_cluster_name, "a cluster name that is empty, too long or not letters, digits, '.', '_' or '-'")      \
  X(invalid_log_level, "a log level that is not trace, debug, info, warn or error")                               \
  X(invalid_capability, "capability tags or metadata that are malformed or over their limits")                   \
  X(invalid_control, "a control event that does not decode")                                                      \
  X(invalid_health, "a daemon health value that does not decode")                                                 \
  X(invalid_probe, "a probe without a name or a function")                                                        \
  X(invalid_plugin, "a daemon plugin that does not load or lacks the entry points")                               \
  X(invalid_tls, "TLS files that do not load, do not match, or name another node")                                \
  X(invalid_key, "a key or signature that is malformed")                                                          \
  X(invalid_key_file, "a key file that does not parse")                                                           \
  X(key_file_not_found, "the key file named does not exist")                                                      \
  X(key_file_exists, "a key file would be overwritten")                                                           \
  X(key_file_write_failed, "a key file could not be written")                                                     \
  X(key_generation_failed, "the system's randomness gave no key")                                                 \
  X(public_key_only, "a key file holds no secret where one is needed to sign")                                   \
  X(invalid_members_file, "a cluster members file that does not parse")                                          \
  X(invalid_operator_registry, "an operator registry that does not parse or breaks its rules")                   \
  X(operator_file_not_found, "the operator registry named does not exist")                                       \
  X(duplicate_operator, "an operator registered twice")                                                           \
  X(invalid_verifier_memory, "the verifier's remembered signatures do not decode")                               \
  X(invalid_state_file, "a node's state file that does not decode")                                               \
  X(invalid_state_dir, "a state directory that cannot be used, or journal limits out of bounds")                 \
  X(invalid_snapshot, "a snapshot that does not decode")                                                          \
  X(invalid_log_record, "a log record that does not decode")                                                      \
  X(invalid_audit_record, "an audit record that does not decode")                                                 \
  X(invalid_daemon_descriptions, "a peer's description of its daemons that does not decode")                     \
  X(invalid_maintenance_state, "a maintenance state that does not decode")                                       \
  X(invalid_inventory, "an inventory reading that does not decode or is out of range")                            \
  X(invalid_answer, "a node's answer that does not decode")                                                       \
  X(invalid_request, "a request to a node that does not decode")                                                  \
  X(invalid_commit, "a signed commit that does not decode")                                                       \
  X(invalid_daemon, "a daemon reference that names no daemon (empty name, zero id)")                              \
  /* Files and the system */                                                                                      \
  X(file_not_found, "a file to read does not exist")                                                              \
  X(read_failed, "a file could not be read")                                                                      \
  X(write_failed, "a file could not be written")                                                                  \
  X(output_exists, "an output file would be overwritten")                                                         \
  X(crypto_failure, "the crypto library failed")                                                                  \
  X(internal_error, "a failure inside meshos that no input explains")                                             \
  X(runtime_panic, "an unexpected failure, trapped at the C boundary")                                            \
  /* The runtime and its daemons */                                                                               \
  X(loop_closed, "the node's loop has shut down; nothing is taken any more")                                      \
  X(already_shutdown, "the SDK, node or daemon was already shut down")                                            \
  X(start_failed, "the runtime did not start")                                                                    \
  X(queue_full, "a bounded queue is at capacity; what was offered is dropped and counted")                       \
  X(timeout, "no answer within the time given")                                                                   \
  X(not_found, "no such daemon (or other named thing) here")                                                      \
  X(not_running, "the daemon is stopped, or left before it took the event")                                       \
  X(register_failed, "a daemon or factory could not be registered (name taken, empty, or its code threw)")       \
  X(no_factory, "no factory for that daemon name on that node")                                                   \
  X(process_failed, "the daemon's process failed or threw")                                                       \
  X(snapshot_failed, "the daemon's state could not be taken")                                                     \
  X(restore_failed, "the daemon refused or failed to restore a state")                                            \
  X(stale, "what the daemon was given is older than what it has")                                                 \
  X(drain_timeout, "a drain did not settle within its deadline")                                                  \
  X(daemon_moving, "the daemon is on its way to another node; try again")                                         \
  X(migration_released, "a move was called off by its source before it arrived")                                 \
  X(target_unavailable, "the node asked to take a daemon is draining or in maintenance")                          \
  X(no_migration_target, "no peer can take the daemon")                                                           \
  X(no_placement_target, "no node can host the daemon")                                                           \
  X(ambiguous_daemon, "a daemon name that more than one daemon has")                                              \
  X(unknown_daemon, "a commit names a daemon the node does not know")                                             \
  X(unknown_migration, "a commit names a move that is not under way")                                             \
  /* The network */                                                                                               \
  X(listen_failed, "the node could not listen or start its actor system")                                        \
  X(connect_failed, "a connection could not be made")                                                             \
  X(connection_lost, "the connection ended before the answer")                                                    \
  X(unreachable, "the peer is not connected")                                                                     \
  X(peer_refused, "the other side refused the connection or the request")                                         \
  X(unknown_request, "the node does not know the request")                                                        \
  X(shutting_down, "the node stopped before it settled the request (a commit waiting for its turn)")               \
  /* Signed commits */                                                                                            \
  X(invalid_transition, "the maintenance state machine does not allow this step now")                             \
  X(wrong_node, "the commit is for another node")                                                                 \
  X(wrong_cluster, "the commit is for another cluster")                                                           \
  X(superseded, "a newer commit of the same kind already applies")                                                \
  X(freeze_in_effect, "the cluster is frozen: only a thaw applies")                                              \
  X(signature_invalid, "a signature does not verify")                                                             \
  X(not_authorized, "the signer is not a registered operator allowed to do this")                                \
  X(commit_replayed, "the commit was applied before")                                                             \
  X(replay_memory_full, "the memory of fresh signatures is full: the commit is refused rather than one forgotten") \
  X(insufficient_signatures, "a break-glass commit carries fewer than the M signatures it needs")                 \
  X(already_signed, "the operator signed this proposal already")                                                  \
  X(ice_cooldown_active, "a cluster-wide break-glass action ran too recently")                                    \
  X(simulation_required, "a break-glass commit carries no blast radius hash")                                     \
  X(blast_radius_changed, "what the break-glass action would touch changed since it was signed")                  \
  X(envelope_expired, "the commit is too old")                                                                    \
  X(envelope_from_future, "the commit is dated too far ahead")

enum class Errc {
#define MESHOS_ERRC_ENTRY(name, meaning) name,
  MESHOS_ERRC_CATALOGUE(MESHOS_ERRC_ENTRY)
#undef MESHOS_ERRC_ENTRY
  // A kind this build does not know: from a newer peer or program (SdkError::kind keeps its text).
  unknown,
};

// The wire form: the entry's name ("unknown" for Errc::unknown).
const char* to_string(Errc code);
// The catalogue's line for it.
const char* meaning(Errc code);
// The entry of that wire form; nullopt for a kind not in the catalogue.
std::optional<Errc> errc_from_string(std::string_view kind);

}  // namespace meshos
