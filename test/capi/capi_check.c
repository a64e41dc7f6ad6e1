/* Built outside the meshos tree against the INSTALLED net_meshos.h and libnet_meshos, exactly as a C daemon
 * author would build it. Walks every entry point, checks return codes and last errors, and prints one
 * line per fact; run_capi_test.sh compares the output. Any failed check prints "FAIL ..." and exits 1. */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <net_meshos.h>

static int failures = 0;

static void check(int ok, const char* what) {
    if (!ok) {
        const char* kind = net_meshos_last_error_kind();
        const char* message = net_meshos_last_error_message();
        printf("FAIL %s (last error: %s: %s)\n", what, kind ? kind : "-", message ? message : "-");
        failures++;
    }
}

static int last_kind_is(const char* expected) {
    const char* kind = net_meshos_last_error_kind();
    return kind != NULL && strcmp(kind, expected) == 0 && net_meshos_last_error_message() != NULL;
}

typedef struct {
    pthread_mutex_t mu;
    int control_kind;
    uint64_t control_grace_ms;
    int control_calls;
} Recorder;

static int echo_process(void* ctx, NetMeshOsProcessEmitCtx* emit, uint64_t origin, uint64_t seq,
                        const uint8_t* payload, size_t len) {
    (void)ctx;
    (void)origin;
    (void)seq;
    net_meshos_process_emit(emit, payload, len);
    return 0;
}

static void record_control(void* ctx, int kind, uint64_t grace_ms, float level) {
    Recorder* r = (Recorder*)ctx;
    (void)level;
    pthread_mutex_lock(&r->mu);
    r->control_kind = kind;
    r->control_grace_ms = grace_ms;
    r->control_calls++;
    pthread_mutex_unlock(&r->mu);
}

static int degraded(void* ctx) {
    (void)ctx;
    return NET_MESHOS_HEALTH_DEGRADED;
}

static float quarter(void* ctx) {
    (void)ctx;
    return 0.25f;
}

int main(void) {
    static const char kName[] = "c-echo";
    static const char kLog[] = "hello from C";
    static const char kTags[] = "[\"hardware.gpu\"]";
    static const char kBadTags[] = "[\"hardware.gpu\"";
    static const char kBadUtf8[] = "caf\xc3";
    NetMeshOsSdk* sdk = NULL;
    NetMeshOsHandle* handle = NULL;
    NetMeshOsHandle* duplicate = NULL;
    NetMeshOsDaemonVtable vtable;
    NetMeshOsDaemonControl control;
    Recorder rec;
    uint8_t seed[32];
    char* json;
    size_t i;
    int rc;

    memset(&rec, 0, sizeof rec);
    pthread_mutex_init(&rec.mu, NULL);
    for (i = 0; i < sizeof seed; ++i) seed[i] = (uint8_t)i;

    /* ABI facts a drop-in depends on. */
    printf("abi ok=%d null=%d call_failed=%d invalid_arg=%d already_shutdown=%d\n", NET_MESHOS_OK,
           NET_MESHOS_ERR_NULL, NET_MESHOS_ERR_CALL_FAILED, NET_MESHOS_ERR_INVALID_ARG,
           NET_MESHOS_ERR_ALREADY_SHUTDOWN);
    printf("control none=%d shutdown=%d drain_start=%d drain_finish=%d bp_on=%d bp_off=%d unknown=%d\n",
           NET_MESHOS_CONTROL_NONE, NET_MESHOS_CONTROL_SHUTDOWN, NET_MESHOS_CONTROL_DRAIN_START,
           NET_MESHOS_CONTROL_DRAIN_FINISH, NET_MESHOS_CONTROL_BACKPRESSURE_ON,
           NET_MESHOS_CONTROL_BACKPRESSURE_OFF, NET_MESHOS_CONTROL_UNKNOWN);
    printf("layout size=%u grace_at=%u level_at=%u\n", (unsigned)sizeof(NetMeshOsDaemonControl),
           (unsigned)offsetof(NetMeshOsDaemonControl, grace_period_ms),
           (unsigned)offsetof(NetMeshOsDaemonControl, level));

    /* No error before any call; NULL arguments. */
    check(net_meshos_last_error_kind() == NULL && net_meshos_last_error_message() == NULL, "no initial error");
    check(net_meshos_sdk_start(0, 0, 0, 0, 0, NULL) == NET_MESHOS_ERR_INVALID_ARG, "start with NULL out");
    check(last_kind_is("invalid_argument"), "start NULL out kind");
    net_meshos_clear_last_error();
    check(net_meshos_last_error_kind() == NULL, "clear_last_error");
    check(net_meshos_sdk_shutdown(NULL) == NET_MESHOS_ERR_NULL, "shutdown NULL");
    check(net_meshos_register_daemon(NULL, kName, 6, seed, &handle) == NET_MESHOS_ERR_NULL, "register NULL sdk");
    check(net_meshos_sdk_dropped_control_events(NULL) == UINT64_MAX, "dropped on NULL");
    check(net_meshos_handle_daemon_id(NULL) == 0 && net_meshos_handle_daemon_name(NULL) == NULL, "NULL handle");
    check(net_meshos_metadata(NULL) == NULL && last_kind_is("invalid_argument"), "metadata NULL");
    net_meshos_sdk_free(NULL);
    net_meshos_handle_free(NULL);
    net_meshos_free_string(NULL);

    rc = net_meshos_sdk_start(0x42, 10, 0, 0, 0, &sdk);
    check(rc == NET_MESHOS_OK && sdk != NULL, "sdk_start");
    check(net_meshos_last_error_kind() == NULL, "success leaves no error");
    printf("started\n");

    memset(&vtable, 0, sizeof vtable);
    check(net_meshos_register_daemon_with_vtable(sdk, kName, strlen(kName), seed, &vtable, &rec, &handle) ==
              NET_MESHOS_ERR_INVALID_ARG && last_kind_is("invalid_argument"),
          "vtable without process is rejected");
    vtable.process = echo_process;
    vtable.on_control = record_control;
    vtable.health = degraded;
    vtable.saturation = quarter;
    check(net_meshos_register_daemon_with_vtable(sdk, kName, 0, seed, &vtable, &rec, &handle) ==
              NET_MESHOS_ERR_INVALID_ARG, "empty name is rejected");
    check(net_meshos_register_daemon_with_vtable(sdk, kBadUtf8, strlen(kBadUtf8), seed, &vtable, &rec, &handle) ==
              NET_MESHOS_ERR_INVALID_ARG, "non-UTF-8 name is rejected");
    check(handle == NULL, "out untouched on error");
    rc = net_meshos_register_daemon_with_vtable(sdk, kName, strlen(kName), seed, &vtable, &rec, &handle);
    check(rc == NET_MESHOS_OK && handle != NULL, "register_daemon_with_vtable");
    printf("daemon id=%016" PRIx64 " name=%s\n", net_meshos_handle_daemon_id(handle),
           net_meshos_handle_daemon_name(handle));

    rc = net_meshos_register_daemon(sdk, "other", 5, seed, &duplicate);
    check(rc == NET_MESHOS_ERR_CALL_FAILED && duplicate == NULL, "same seed twice is refused");
    printf("duplicate kind=%s\n", net_meshos_last_error_kind() ? net_meshos_last_error_kind() : "-");

    json = net_meshos_refresh_metadata(handle);
    check(json != NULL, "refresh_metadata");
    if (json != NULL) {
        printf("metadata name=%s daemon_id=%s maintenance=%s\n",
               strstr(json, "\"daemon_name\":\"c-echo\"") ? "yes" : "no",
               strstr(json, "\"daemon_id\":8658788451821909695") ? "yes" : "no",
               strstr(json, "\"maintenance_state\":{") ? "yes" : "no");
        net_meshos_free_string(json);
    }
    json = net_meshos_metadata(handle);
    check(json != NULL && json[0] == '{', "metadata");
    net_meshos_free_string(json);

    check(net_meshos_publish_log(handle, NET_MESHOS_LOG_INFO, kLog, strlen(kLog)) == NET_MESHOS_OK, "publish_log");
    check(net_meshos_publish_log(handle, 7, kLog, strlen(kLog)) == NET_MESHOS_ERR_INVALID_ARG &&
              last_kind_is("invalid_log_level"), "bad log level");
    check(net_meshos_publish_log(handle, NET_MESHOS_LOG_WARN, NULL, 3) == NET_MESHOS_ERR_INVALID_ARG &&
              last_kind_is("invalid_argument"), "NULL message");
    check(net_meshos_publish_capabilities(handle, kTags, strlen(kTags)) == NET_MESHOS_OK, "publish_capabilities");
    check(net_meshos_publish_capabilities(handle, kBadTags, strlen(kBadTags)) == NET_MESHOS_ERR_INVALID_ARG,
          "malformed capabilities");
    check(net_meshos_publish_capabilities(handle, NULL, 0) == NET_MESHOS_OK, "clear capabilities");
    printf("published\n");

    check(net_meshos_try_next_control(handle, NULL) == NET_MESHOS_ERR_INVALID_ARG, "try_next_control NULL out");
    control.kind = -1;
    check(net_meshos_try_next_control(handle, &control) == NET_MESHOS_OK, "try_next_control");
    printf("try_next_control kind=%d\n", control.kind);
    control.kind = -1;
    check(net_meshos_next_control(handle, 20, &control) == NET_MESHOS_OK, "next_control");
    printf("next_control(20ms) kind=%d\n", control.kind);

    check(net_meshos_graceful_shutdown(handle, 3000) == NET_MESHOS_OK, "graceful_shutdown");
    pthread_mutex_lock(&rec.mu);
    printf("on_control kind=%d grace_in_range=%s\n", rec.control_kind,
           rec.control_grace_ms > 0 && rec.control_grace_ms <= 3000 ? "yes" : "no");
    pthread_mutex_unlock(&rec.mu);
    check(net_meshos_graceful_shutdown(handle, 3000) == NET_MESHOS_ERR_ALREADY_SHUTDOWN &&
              last_kind_is("already_shutdown"), "second graceful_shutdown");
    check(net_meshos_next_control(handle, 0, &control) == NET_MESHOS_ERR_ALREADY_SHUTDOWN, "control after shutdown");
    check(net_meshos_metadata(handle) == NULL && last_kind_is("already_shutdown"), "metadata after shutdown");
    check(strcmp(net_meshos_handle_daemon_name(handle), kName) == 0, "name survives shutdown");
    net_meshos_handle_free(handle);

    check(net_meshos_sdk_dropped_control_events(sdk) == 0, "nothing dropped");
    check(net_meshos_sdk_shutdown(sdk) == NET_MESHOS_OK, "sdk_shutdown");
    check(net_meshos_sdk_shutdown(sdk) == NET_MESHOS_ERR_ALREADY_SHUTDOWN && last_kind_is("already_shutdown"),
          "second sdk_shutdown");
    check(net_meshos_register_daemon(sdk, kName, strlen(kName), seed, &handle) == NET_MESHOS_ERR_ALREADY_SHUTDOWN,
          "register after shutdown");
    check(net_meshos_sdk_dropped_control_events(sdk) == UINT64_MAX, "dropped after shutdown");
    net_meshos_sdk_free(sdk);
    pthread_mutex_destroy(&rec.mu);
    printf("stopped\n");

    if (failures != 0) {
        printf("%d check(s) failed\n", failures);
        return 1;
    }
    printf("all checks passed\n");
    return 0;
}
