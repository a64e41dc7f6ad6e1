/* meshos-c-example: one daemon's whole life through the C SDK (net_meshos.h).
 *
 * Starts a node runtime, registers a daemon implemented by C callbacks, reads its metadata, publishes a
 * log line and its capabilities, waits briefly for control events, shuts the daemon down gracefully
 * (its on_control callback sees the Shutdown), stops the runtime, and prints each step.
 * Exit status 0 when every step went as expected. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include <net_meshos.h>

/* Shared with the callbacks, which run on the runtime's threads. */
typedef struct {
    pthread_mutex_t mu;
    unsigned long events_processed;
    int last_control_kind;
    uint64_t last_control_grace_ms;
} ExampleDaemon;

static int example_process(void* user_ctx, NetMeshOsProcessEmitCtx* emit_ctx, uint64_t origin_hash,
                           uint64_t sequence, const uint8_t* payload, size_t len) {
    ExampleDaemon* d = (ExampleDaemon*)user_ctx;
    (void)origin_hash;
    (void)sequence;
    pthread_mutex_lock(&d->mu);
    d->events_processed++;
    pthread_mutex_unlock(&d->mu);
    net_meshos_process_emit(emit_ctx, payload, len); /* an echo daemon */
    return 0;
}

static void example_on_control(void* user_ctx, int kind, uint64_t grace_ms, float level) {
    ExampleDaemon* d = (ExampleDaemon*)user_ctx;
    (void)level;
    pthread_mutex_lock(&d->mu);
    d->last_control_kind = kind;
    d->last_control_grace_ms = grace_ms;
    pthread_mutex_unlock(&d->mu);
}

static int example_health(void* user_ctx) {
    (void)user_ctx;
    return NET_MESHOS_HEALTH_HEALTHY;
}

static float example_saturation(void* user_ctx) {
    (void)user_ctx;
    return 0.1f;
}

static const char* control_name(int kind) {
    switch (kind) {
        case NET_MESHOS_CONTROL_NONE: return "none";
        case NET_MESHOS_CONTROL_SHUTDOWN: return "shutdown";
        case NET_MESHOS_CONTROL_DRAIN_START: return "drain_start";
        case NET_MESHOS_CONTROL_DRAIN_FINISH: return "drain_finish";
        case NET_MESHOS_CONTROL_BACKPRESSURE_ON: return "backpressure_on";
        case NET_MESHOS_CONTROL_BACKPRESSURE_OFF: return "backpressure_off";
        default: return "unknown";
    }
}

/* Prints the failed step with the thread's last error; returns 1 for use as an exit status. */
static int report_failure(const char* step, int rc) {
    const char* kind = net_meshos_last_error_kind();
    const char* message = net_meshos_last_error_message();
    fprintf(stderr, "%s failed: status %d, kind %s: %s\n", step, rc, kind ? kind : "(none)",
            message ? message : "(none)");
    return 1;
}

int main(void) {
    static const char kName[] = "c-example";
    static const char kLog[] = "c-example is up";
    static const char kCapabilities[] = "[\"hardware.gpu\", \"hardware.memory_gb=64\"]";
    NetMeshOsSdk* sdk = NULL;
    NetMeshOsHandle* handle = NULL;
    NetMeshOsDaemonVtable vtable;
    NetMeshOsDaemonControl control;
    ExampleDaemon daemon;
    uint8_t seed[32];
    char* metadata;
    int rc;
    size_t i;

    memset(&daemon, 0, sizeof daemon);
    pthread_mutex_init(&daemon.mu, NULL);
    for (i = 0; i < sizeof seed; ++i) seed[i] = (uint8_t)i; /* a fixed seed gives a fixed daemon id */

    /* 1. A node runtime with a 50 ms tick; every other setting at its default. */
    rc = net_meshos_sdk_start(1, 50, 0, 0, 0, &sdk);
    if (rc != NET_MESHOS_OK) return report_failure("sdk_start", rc);
    printf("runtime started\n");

    /* 2. The daemon: callbacks plus the context they share. */
    memset(&vtable, 0, sizeof vtable);
    vtable.process = example_process;
    vtable.on_control = example_on_control;
    vtable.health = example_health;
    vtable.saturation = example_saturation;
    rc = net_meshos_register_daemon_with_vtable(sdk, kName, strlen(kName), seed, &vtable, &daemon, &handle);
    if (rc != NET_MESHOS_OK) return report_failure("register_daemon_with_vtable", rc);
    printf("registered daemon %s, id %016" PRIx64 "\n", net_meshos_handle_daemon_name(handle),
           net_meshos_handle_daemon_id(handle));

    /* 3. What the daemon can see of its node. */
    metadata = net_meshos_refresh_metadata(handle);
    if (metadata == NULL) return report_failure("refresh_metadata", NET_MESHOS_ERR_CALL_FAILED);
    printf("metadata: %s\n", metadata);
    net_meshos_free_string(metadata);

    /* 4. A log line and the capabilities it offers. */
    rc = net_meshos_publish_log(handle, NET_MESHOS_LOG_INFO, kLog, strlen(kLog));
    if (rc != NET_MESHOS_OK) return report_failure("publish_log", rc);
    printf("published log: %s\n", kLog);
    rc = net_meshos_publish_capabilities(handle, kCapabilities, strlen(kCapabilities));
    if (rc != NET_MESHOS_OK) return report_failure("publish_capabilities", rc);
    printf("published capabilities: %s\n", kCapabilities);

    /* 5. Nobody has told the daemon anything yet: both reads come back empty. */
    rc = net_meshos_try_next_control(handle, &control);
    if (rc != NET_MESHOS_OK) return report_failure("try_next_control", rc);
    printf("try_next_control: %s\n", control_name(control.kind));
    rc = net_meshos_next_control(handle, 100, &control);
    if (rc != NET_MESHOS_OK) return report_failure("next_control", rc);
    printf("next_control (100 ms): %s\n", control_name(control.kind));

    /* 6. Graceful shutdown returns once the daemon has handled its Shutdown. */
    rc = net_meshos_graceful_shutdown(handle, 2000);
    if (rc != NET_MESHOS_OK) return report_failure("graceful_shutdown", rc);
    pthread_mutex_lock(&daemon.mu);
    printf("graceful shutdown done; on_control saw %s (grace %" PRIu64 " ms); events processed: %lu\n",
           control_name(daemon.last_control_kind), daemon.last_control_grace_ms, daemon.events_processed);
    rc = daemon.last_control_kind == NET_MESHOS_CONTROL_SHUTDOWN ? 0 : 1;
    pthread_mutex_unlock(&daemon.mu);
    net_meshos_handle_free(handle);
    if (rc != 0) {
        fprintf(stderr, "the daemon was not told about its shutdown\n");
        return 1;
    }

    /* 7. The runtime. */
    printf("control events dropped: %" PRIu64 "\n", net_meshos_sdk_dropped_control_events(sdk));
    rc = net_meshos_sdk_shutdown(sdk);
    if (rc != NET_MESHOS_OK) return report_failure("sdk_shutdown", rc);
    net_meshos_sdk_free(sdk);
    printf("runtime stopped\n");
    pthread_mutex_destroy(&daemon.mu);
    return 0;
}
