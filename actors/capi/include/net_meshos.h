/*
 * net_meshos.h: the C ABI of the meshos daemon-author SDK.
 *
 * Source- and link-compatible with the `net_meshos.h` shipped by the Rust crate `net-mesh`: the same
 * function names and signatures, the same constants and the same struct layouts. A C daemon written
 * against that header builds unchanged against this one and links the same way, `-lnet_meshos` (CMake:
 * `find_package(meshos)` and `meshos::meshos_c`). Pure C99; usable from C++ as well.
 *
 * Objects and ownership
 *   NetMeshOsSdk     one node runtime (a MeshOS loop with its actors). Created by net_meshos_sdk_start,
 *                    released by net_meshos_sdk_free.
 *   NetMeshOsHandle  one registered daemon. Created by net_meshos_register_daemon(_with_vtable), released
 *                    by net_meshos_handle_free.
 *   Every object and string this library returns is owned by the caller and released exactly once with
 *   its matching *_free function; every *_free accepts NULL and does nothing then.
 *   A handle may outlive its SDK: once the SDK is shut down or freed, the handle's calls fail with
 *   NET_MESHOS_ERR_CALL_FAILED (kind "loop_closed") or report no control events, but stay safe.
 *   net_meshos_sdk_shutdown and net_meshos_graceful_shutdown retire the object without releasing it:
 *   later calls on it return NET_MESHOS_ERR_ALREADY_SHUTDOWN, and it must still be freed.
 *
 * Errors
 *   Functions returning `int` return NET_MESHOS_OK or one of the negative NET_MESHOS_ERR_* codes. Every
 *   such function clears the calling thread's last error when it starts and records one when it fails:
 *   net_meshos_last_error_kind() gives a stable lowercase_underscore word, net_meshos_last_error_message()
 *   the detail for people. Kinds produced here:
 *     "invalid_argument"   NULL out-pointer, NULL data with a non-zero length, empty or non-UTF-8 name,
 *                          name containing a NUL byte, missing `process` callback
 *     "invalid_log_level"  a level outside NET_MESHOS_LOG_TRACE..NET_MESHOS_LOG_ERROR
 *     "invalid_capability" capability JSON that is malformed or carries an invalid tag
 *     "invalid_config"     a start parameter the runtime rejects
 *     "already_shutdown"   the SDK or handle was already shut down
 *     "runtime_panic"      an unexpected internal failure, trapped at the C boundary
 *   and the runtime's own kinds passed through unchanged ("register_failed", "queue_full",
 *   "loop_closed", ...). No C++ exception ever crosses this interface.
 *
 * Threads
 *   SDKs and handles may be used from any thread, and from several at once: one thread may wait in
 *   net_meshos_next_control while another publishes logs or calls net_meshos_graceful_shutdown (which
 *   wakes the waiter). Only the *_free functions must not race with other calls on the same object.
 *   Vtable callbacks run on the runtime's threads, one at a time per daemon. Once
 *   net_meshos_graceful_shutdown or net_meshos_handle_free has returned, no callback of that daemon runs
 *   any more (both wait for one in progress), so its user_ctx may be released then. A callback must not
 *   shut down or free its own daemon's handle.
 */
#ifndef NET_MESHOS_H
#define NET_MESHOS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Status codes ---------------------------------------------------------------------------------- */

#define NET_MESHOS_OK 0
#define NET_MESHOS_ERR_NULL (-1)            /* the SDK or handle argument is NULL */
#define NET_MESHOS_ERR_CALL_FAILED (-2)     /* the runtime refused or failed; see the last error */
#define NET_MESHOS_ERR_INVALID_ARG (-3)     /* a bad argument; see the last error */
#define NET_MESHOS_ERR_ALREADY_SHUTDOWN (-4) /* the SDK or handle was already shut down */

/* ---- Control events -------------------------------------------------------------------------------- */

/* Values of NetMeshOsDaemonControl.kind and of the `kind` argument of the on_control callback. */
#define NET_MESHOS_CONTROL_NONE 0             /* no event (queue empty, timeout, daemon gone) */
#define NET_MESHOS_CONTROL_SHUTDOWN 1         /* grace_period_ms is set */
#define NET_MESHOS_CONTROL_DRAIN_START 2      /* grace_period_ms is set */
#define NET_MESHOS_CONTROL_DRAIN_FINISH 3     /* no payload */
#define NET_MESHOS_CONTROL_BACKPRESSURE_ON 4  /* level in [0, 1] is set */
#define NET_MESHOS_CONTROL_BACKPRESSURE_OFF 5 /* no payload */
#define NET_MESHOS_CONTROL_UNKNOWN 99         /* an event kind newer than this header; skip it */

/* Fields that a kind does not use are zero. */
typedef struct {
    int kind;
    uint64_t grace_period_ms;
    float level;
} NetMeshOsDaemonControl;

/* ---- Log levels (publish_log) ---------------------------------------------------------------------- */

#define NET_MESHOS_LOG_TRACE 0
#define NET_MESHOS_LOG_DEBUG 1
#define NET_MESHOS_LOG_INFO 2
#define NET_MESHOS_LOG_WARN 3
#define NET_MESHOS_LOG_ERROR 4

/* ---- Health (return values of the vtable's health callback) ---------------------------------------- */

#define NET_MESHOS_HEALTH_HEALTHY 0
#define NET_MESHOS_HEALTH_DEGRADED 1
#define NET_MESHOS_HEALTH_UNHEALTHY 2 /* any value other than these three also counts as unhealthy */

/* ---- Opaque types ---------------------------------------------------------------------------------- */

typedef struct NetMeshOsSdk NetMeshOsSdk;
typedef struct NetMeshOsHandle NetMeshOsHandle;
/* Handed to the process / snapshot callbacks; valid only until that callback returns. Never freed. */
typedef struct NetMeshOsProcessEmitCtx NetMeshOsProcessEmitCtx;
typedef struct NetMeshOsSnapshotEmitCtx NetMeshOsSnapshotEmitCtx;

/* ---- SDK lifecycle --------------------------------------------------------------------------------- */

/* Starts a node runtime. A 0 argument takes the default: this_node 0, tick 500 ms, event and action
 * queues 1024 entries each, control_capacity 8 outstanding control events per daemon.
 * Actions the loop emits are recorded by a built-in dispatcher (nothing outside the node is touched).
 * Returns NET_MESHOS_OK and stores a new SDK in *out (release with net_meshos_sdk_free);
 * NET_MESHOS_ERR_INVALID_ARG if out is NULL ("invalid_argument") or a value is rejected
 * ("invalid_config", e.g. a tick too long for the monotonic clock); NET_MESHOS_ERR_CALL_FAILED if the
 * runtime cannot start. *out is untouched on error. */
int net_meshos_sdk_start(uint64_t this_node, uint64_t tick_interval_ms, size_t event_queue_capacity,
                         size_t action_queue_capacity, size_t control_capacity, NetMeshOsSdk** out);

/* Releases the SDK. If it is still running it is shut down first (bounded; every daemon is stopped).
 * NULL: no-op. */
void net_meshos_sdk_free(NetMeshOsSdk* sdk);

/* Stops every daemon and every actor of the runtime, within a bounded time. The SDK must still be freed.
 * NET_MESHOS_OK; NET_MESHOS_ERR_NULL; NET_MESHOS_ERR_ALREADY_SHUTDOWN on a second call;
 * NET_MESHOS_ERR_CALL_FAILED if the runtime reports a failure. */
int net_meshos_sdk_shutdown(NetMeshOsSdk* sdk);

/* Control events dropped so far, over all daemons, because a daemon already had control_capacity events
 * outstanding. UINT64_MAX when sdk is NULL or shut down. Does not touch the last error. */
uint64_t net_meshos_sdk_dropped_control_events(NetMeshOsSdk* sdk);

/* ---- Daemon registration --------------------------------------------------------------------------- */

/* Callbacks of a daemon written in C. Each receives the user_ctx given at registration.
 * Only `process` is required; a NULL entry takes the default given below. */
typedef struct {
    /* Handles one causal event. Outputs are handed back with net_meshos_process_emit(emit_ctx, ...), any
     * number of times. Returns 0 on success; any other value fails the event (kind "process_failed") and
     * discards its outputs. payload_ptr is NULL when payload_len is 0. */
    int (*process)(void* user_ctx, NetMeshOsProcessEmitCtx* emit_ctx, uint64_t origin_hash,
                   uint64_t sequence, const uint8_t* payload_ptr, size_t payload_len);
    /* Saves the daemon's state with net_meshos_snapshot_emit(emit_ctx, ...); only the first emit counts,
     * no emit means "nothing to save". NULL: the daemon is stateless. */
    void (*snapshot)(void* user_ctx, NetMeshOsSnapshotEmitCtx* emit_ctx);
    /* Restores state saved by `snapshot`. Returns 0 on success; any other value is a restore failure
     * (kind "restore_failed"). NULL: every restore succeeds without a call. */
    int (*restore)(void* user_ctx, const uint8_t* payload_ptr, size_t payload_len);
    /* Told about each control event as the daemon's actor handles it, before the event becomes visible
     * to net_meshos_next_control. Arguments as in NetMeshOsDaemonControl. NULL: not told. */
    void (*on_control)(void* user_ctx, int kind, uint64_t grace_period_ms, float level);
    /* Polled once per tick: one of NET_MESHOS_HEALTH_*. NULL: always healthy. */
    int (*health)(void* user_ctx);
    /* Polled once per tick: load in [0, 1] (values outside are clamped, NaN counts as 0). NULL: 0. */
    float (*saturation)(void* user_ctx);
} NetMeshOsDaemonVtable;

/* Adds one output to the event being processed; the bytes are copied before this returns.
 * Ignored if ctx is NULL or if payload_ptr is NULL with a non-zero length. */
void net_meshos_process_emit(NetMeshOsProcessEmitCtx* ctx, const uint8_t* payload_ptr, size_t payload_len);

/* Sets the snapshot being taken; the bytes are copied before this returns. Only the first call within a
 * snapshot callback counts. Ignored if ctx is NULL or if payload_ptr is NULL with a non-zero length. */
void net_meshos_snapshot_emit(NetMeshOsSnapshotEmitCtx* ctx, const uint8_t* payload_ptr, size_t payload_len);

/* Registers a daemon driven by `vtable`.
 *   name_ptr/name_len  the daemon's name: UTF-8, not NUL-terminated, non-empty, no NUL byte
 *   seed_ptr           32 bytes of Ed25519 seed; the daemon's id is the origin hash of that key
 *   vtable             copied during the call; its function pointers must stay valid until the daemon
 *                      is unregistered (graceful shutdown or net_meshos_handle_free)
 *   user_ctx           passed to every callback, never dereferenced here; must outlive the registration
 * Returns NET_MESHOS_OK and stores a new handle in *out (release with net_meshos_handle_free);
 * NET_MESHOS_ERR_NULL if sdk is NULL; NET_MESHOS_ERR_INVALID_ARG for a NULL name/seed/vtable/out, a bad
 * name or a NULL `process`; NET_MESHOS_ERR_ALREADY_SHUTDOWN after net_meshos_sdk_shutdown;
 * NET_MESHOS_ERR_CALL_FAILED if the runtime refuses ("register_failed": e.g. a daemon with this id is
 * already registered; "loop_closed"). *out is untouched on error. */
int net_meshos_register_daemon_with_vtable(NetMeshOsSdk* sdk, const char* name_ptr, size_t name_len,
                                           const uint8_t* seed_ptr, const NetMeshOsDaemonVtable* vtable,
                                           void* user_ctx, NetMeshOsHandle** out);

/* Registers a daemon that does nothing with its events (no outputs, always healthy, stateless): for
 * programs that only use the control, log, metadata and shutdown surfaces. Arguments and return values
 * as for net_meshos_register_daemon_with_vtable. */
int net_meshos_register_daemon(NetMeshOsSdk* sdk, const char* name_ptr, size_t name_len,
                               const uint8_t* seed_ptr, NetMeshOsHandle** out);

/* Releases the handle; a daemon still registered is unregistered. Returns after any callback of the
 * daemon in progress has finished; none runs afterwards. NULL: no-op. Must not race with another call on
 * the same handle. */
void net_meshos_handle_free(NetMeshOsHandle* handle);

/* The daemon's id (origin hash of its key); unchanged by graceful shutdown. 0 if handle is NULL. */
uint64_t net_meshos_handle_daemon_id(const NetMeshOsHandle* handle);

/* The daemon's name, NUL-terminated, owned by the handle and valid until net_meshos_handle_free.
 * NULL if handle is NULL. */
const char* net_meshos_handle_daemon_name(const NetMeshOsHandle* handle);

/* ---- Control events -------------------------------------------------------------------------------- */

/* Takes the next control event without waiting; kind NET_MESHOS_CONTROL_NONE when there is none.
 * NET_MESHOS_OK; NET_MESHOS_ERR_NULL; NET_MESHOS_ERR_INVALID_ARG if out is NULL;
 * NET_MESHOS_ERR_ALREADY_SHUTDOWN after net_meshos_graceful_shutdown. */
int net_meshos_try_next_control(NetMeshOsHandle* handle, NetMeshOsDaemonControl* out);

/* Waits up to timeout_ms for the next control event; kind NET_MESHOS_CONTROL_NONE on timeout or when
 * the daemon is unregistered or its runtime stopped. timeout_ms 0 waits without a time limit, until an
 * event arrives or the daemon/runtime goes away. Return codes as for net_meshos_try_next_control. */
int net_meshos_next_control(NetMeshOsHandle* handle, uint64_t timeout_ms, NetMeshOsDaemonControl* out);

/* (meshos) A daemon that takes its control events with the two calls above finished after the Shutdown it
 * took: its node stops it now. Until it says so (or shuts down or frees its handle), a drain or an intent
 * Stop waits for it, up to that Shutdown's grace. NET_MESHOS_OK; NET_MESHOS_ERR_NULL;
 * NET_MESHOS_ERR_ALREADY_SHUTDOWN after net_meshos_graceful_shutdown. */
int net_meshos_acknowledge_shutdown(NetMeshOsHandle* handle);

/* ---- Logs ------------------------------------------------------------------------------------------ */

/* Publishes a log line attributed to this daemon; never blocks. message_ptr/message_len: UTF-8, not
 * NUL-terminated (NULL is allowed with length 0).
 * NET_MESHOS_OK; NET_MESHOS_ERR_NULL; NET_MESHOS_ERR_INVALID_ARG ("invalid_log_level", or
 * "invalid_argument" for a NULL or non-UTF-8 message); NET_MESHOS_ERR_ALREADY_SHUTDOWN after
 * net_meshos_graceful_shutdown; NET_MESHOS_ERR_CALL_FAILED ("queue_full": the loop's intake is full,
 * "loop_closed": the runtime stopped). */
int net_meshos_publish_log(NetMeshOsHandle* handle, int level, const char* message_ptr, size_t message_len);

/* ---- Shutdown -------------------------------------------------------------------------------------- */

/* Sends Shutdown{grace_ms} to the daemon and returns once its actor has handled it, or at the end of the
 * grace period (the daemon is then forced out); either way the daemon is unregistered and the call
 * returns NET_MESHOS_OK. grace_ms 0 means the default of 5000 ms; longer than one day (86400000) counts
 * as one day. No callback of the daemon runs after this returns. The handle must still be freed.
 * NET_MESHOS_ERR_NULL; NET_MESHOS_ERR_ALREADY_SHUTDOWN on a second call; NET_MESHOS_ERR_CALL_FAILED if
 * the runtime fails (the daemon counts as shut down all the same). */
int net_meshos_graceful_shutdown(NetMeshOsHandle* handle, uint64_t grace_ms);

/* ---- Metadata and capabilities --------------------------------------------------------------------- */

/* The daemon's view of its surroundings as a JSON object, as last refreshed:
 *   {"node_id", "daemon_id", "daemon_name", "maintenance_state": {"kind", ...}, "peers": [...]}
 * Returns a NUL-terminated string owned by the caller, released with net_meshos_free_string; NULL if
 * handle is NULL ("invalid_argument") or after net_meshos_graceful_shutdown ("already_shutdown"). */
char* net_meshos_metadata(const NetMeshOsHandle* handle);

/* Refreshes the view from the runtime's latest snapshot, then returns it as net_meshos_metadata does. */
char* net_meshos_refresh_metadata(NetMeshOsHandle* handle);

/* Releases a string returned by this library. NULL: no-op. */
void net_meshos_free_string(char* s);

/* Publishes the daemon's capabilities, replacing what it published before; they appear in the node's
 * snapshot and are shown to peers. tags_json: UTF-8 JSON, an array of tag strings such as
 * ["hardware.gpu", "hardware.memory_gb=64"] (an object {"tags": [...], "metadata": {...}} is accepted
 * too). NULL or length 0 publishes an empty set.
 * NET_MESHOS_OK; NET_MESHOS_ERR_NULL; NET_MESHOS_ERR_INVALID_ARG ("invalid_argument" for non-UTF-8 text,
 * "invalid_capability" for malformed JSON or an invalid tag: nothing is published then);
 * NET_MESHOS_ERR_ALREADY_SHUTDOWN after net_meshos_graceful_shutdown; NET_MESHOS_ERR_CALL_FAILED
 * ("queue_full", "loop_closed"). */
int net_meshos_publish_capabilities(NetMeshOsHandle* handle, const char* tags_json_ptr, size_t tags_json_len);

/* ---- A node on the network (beyond the Rust crate's header) ----------------------------------------- */

/* Starts a node on the network: a runtime as net_meshos_sdk_start makes, plus its peer links (meshos'
 * MeshNode). Every other call taking a NetMeshOsSdk works on it; net_meshos_deliver and net_meshos_process
 * then reach a daemon on any node of the cluster (by id, or by name: this node's daemon first, else the one
 * peer daemon of that name), bounded per link as the C++ MeshNode is. options_json_ptr/len: UTF-8 JSON, an
 * object with
 *   "node_seed"   64 hex digits, the 32-byte Ed25519 seed of the node key (required; the node's id is the
 *                 origin hash of that key, and its hellos are signed with it)
 *   "members"     [64-hex public keys]: the cluster, the nodes admitted as peers (this node is always one)
 *   "listen_host" (default "127.0.0.1"), "listen_port" (default 0: an ephemeral port, see net_meshos_node_port)
 *   "peers"       ["host:port", ...] joined at start
 *   "tick_interval_ms", "heartbeat_interval_ms", "peer_timeout_ms"   (defaults: 500, 250, 1500)
 *   "tls"         {"certificate", "key", "ca_file"}: PEM files; the certificate must name the node
 *                 (subjectAltName URI urn:meshos:node:<16 hex digits of the node id>)
 * Any other field is refused. Returns NET_MESHOS_OK and stores the node in *out (shut it down with
 * net_meshos_sdk_shutdown, release it with net_meshos_sdk_free); NET_MESHOS_ERR_INVALID_ARG for a NULL
 * argument or bad options ("invalid_argument", "invalid_config", "invalid_tls"); NET_MESHOS_ERR_CALL_FAILED
 * when the node cannot start ("listen_failed"). *out is untouched on error. */
int net_meshos_node_start(const char* options_json_ptr, size_t options_json_len, NetMeshOsSdk** out);

/* The port the node listens on; 0 for NULL or an SDK started with net_meshos_sdk_start. */
uint16_t net_meshos_node_port(const NetMeshOsSdk* sdk);

/* ---- Work for daemons ------------------------------------------------------------------------------ */

/* Hands a causal event to a daemon registered with this SDK (with a node from net_meshos_node_start: on any
 * node of the cluster), named by its id (daemon_id != 0) or else by its name (name_ptr/name_len, UTF-8).
 * payload_ptr/payload_len: the event's bytes (NULL with length 0 is an empty payload). Never blocks:
 * NET_MESHOS_OK once the event is in the daemon's queue (on a node: handed to the daemon's node).
 * NET_MESHOS_ERR_NULL if sdk is NULL; NET_MESHOS_ERR_INVALID_ARG ("invalid_argument": no id and no name, a
 * NULL pointer with a length); NET_MESHOS_ERR_ALREADY_SHUTDOWN; NET_MESHOS_ERR_CALL_FAILED ("not_found",
 * "ambiguous_daemon", "queue_full": the daemon has event_queue_capacity events pending or the link's window
 * is full, "unreachable": the daemon's node is not connected, "loop_closed"). */
int net_meshos_deliver(NetMeshOsSdk* sdk, uint64_t daemon_id, const char* name_ptr, size_t name_len,
                       const uint8_t* payload_ptr, size_t payload_len);

/* Receives one output of a processed event; the bytes are valid only during the call. */
typedef void (*NetMeshOsOutputFn)(void* user_ctx, const uint8_t* output_ptr, size_t output_len);

/* The same, waiting up to timeout_ms (0: 5000; at most 60000) for the daemon's outputs, which are handed to
 * on_output (may be NULL: discarded) one by one, in order, before this returns NET_MESHOS_OK. Errors as
 * net_meshos_deliver, and NET_MESHOS_ERR_CALL_FAILED ("timeout", "process_failed", or the kind the daemon's
 * process callback failed with). net_meshos_sdk_shutdown waits for a call in progress. */
int net_meshos_process(NetMeshOsSdk* sdk, uint64_t daemon_id, const char* name_ptr, size_t name_len,
                       const uint8_t* payload_ptr, size_t payload_len, uint64_t timeout_ms,
                       NetMeshOsOutputFn on_output, void* user_ctx);

/* ---- Last error (per thread) ----------------------------------------------------------------------- */

/* The message / kind of the last error recorded on the calling thread, NUL-terminated; NULL when there
 * is none. Owned by the library (never free it); valid until the next call into this library on the
 * same thread. */
const char* net_meshos_last_error_message(void);
const char* net_meshos_last_error_kind(void);

/* Forgets the calling thread's last error. */
void net_meshos_clear_last_error(void);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* NET_MESHOS_H */
