/*
 * A C daemon as a meshosd plugin: it answers each event with the payload in upper case, counts what it
 * processed, and keeps that count across restarts through snapshot/restore (8 bytes, little-endian).
 * meshosd loads it with `plugins = ["path/to/libmeshos_sample_plugin.so"]` in the [daemons] section.
 * The net_meshos_* functions it calls are resolved in the host program when the library is loaded.
 */
#include <stdint.h>
#include <stdlib.h>

#include "net_meshos.h"

typedef struct {
    uint64_t processed;
} SamplePluginState;

static int sample_process(void* user_ctx, NetMeshOsProcessEmitCtx* emit_ctx, uint64_t origin_hash,
                          uint64_t sequence, const uint8_t* payload_ptr, size_t payload_len) {
    SamplePluginState* state = (SamplePluginState*)user_ctx;
    uint8_t* upper;
    size_t i;
    (void)origin_hash;
    (void)sequence;
    upper = (uint8_t*)malloc(payload_len == 0 ? 1 : payload_len);
    if (upper == NULL) return 1;
    for (i = 0; i < payload_len; ++i) {
        const uint8_t c = payload_ptr[i];
        upper[i] = (c >= 'a' && c <= 'z') ? (uint8_t)(c - 'a' + 'A') : c;
    }
    net_meshos_process_emit(emit_ctx, upper, payload_len);
    free(upper);
    state->processed += 1;
    return 0;
}

static void sample_snapshot(void* user_ctx, NetMeshOsSnapshotEmitCtx* emit_ctx) {
    const SamplePluginState* state = (const SamplePluginState*)user_ctx;
    uint8_t bytes[8];
    int i;
    for (i = 0; i < 8; ++i) bytes[i] = (uint8_t)(state->processed >> (8 * i));
    net_meshos_snapshot_emit(emit_ctx, bytes, sizeof bytes);
}

static int sample_restore(void* user_ctx, const uint8_t* payload_ptr, size_t payload_len) {
    SamplePluginState* state = (SamplePluginState*)user_ctx;
    uint64_t n = 0;
    int i;
    if (payload_len == 0) {
        state->processed = 0;
        return 0;
    }
    if (payload_len != 8) return 1;
    for (i = 0; i < 8; ++i) n |= (uint64_t)payload_ptr[i] << (8 * i);
    state->processed = n;
    return 0;
}

static const NetMeshOsDaemonVtable sample_vtable = {
    sample_process, sample_snapshot, sample_restore, NULL, NULL, NULL,
};

const NetMeshOsDaemonVtable* meshos_plugin_vtable(void) { return &sample_vtable; }

const char* meshos_plugin_name(void) { return "sample-upper"; }

void* meshos_plugin_create(void) { return calloc(1, sizeof(SamplePluginState)); }

void meshos_plugin_destroy(void* user_ctx) { free(user_ctx); }
