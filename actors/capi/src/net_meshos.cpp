// The C ABI of net_meshos.h over the C++ SDK. Every entry point validates its arguments, translates
// Result errors into status codes plus the thread's last error, and traps every exception: nothing may
// unwind into C.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <limits>
#include <memory>
#include <new>
#include <set>
#include <string>
#include <type_traits>
#include <utility>

#include <nlohmann/json.hpp>

#include "detail/runtime.hpp"
#include "meshos/utf8.hpp"
#include "net_meshos_internal.hpp"

namespace {

using meshos::Bytes;
using meshos::DaemonControl;
using meshos::Millis;

// ---- thread-local last error ----

class LastError {
 public:
  void clear() noexcept { set_ = false; }

  void set(const char* kind, const char* message) noexcept {
    try {
      kind_.assign(kind);
      message_.assign(message);
      kind_ptr_ = kind_.c_str();
      message_ptr_ = message_.c_str();
    } catch (...) {
      // Out of memory while recording an error: fall back to text that needs no allocation.
      kind_ptr_ = "runtime_panic";
      message_ptr_ = "out of memory while recording an error";
    }
    set_ = true;
  }
  void set(const meshos::SdkError& e) noexcept { set(e.kind.c_str(), e.message.c_str()); }

  const char* kind() const noexcept { return set_ ? kind_ptr_ : nullptr; }
  const char* message() const noexcept { return set_ ? message_ptr_ : nullptr; }

 private:
  bool set_ = false;
  std::string kind_;
  std::string message_;
  const char* kind_ptr_ = "";
  const char* message_ptr_ = "";
};

thread_local LastError last_error;

const char* const kInvalidArgument = meshos::to_string(meshos::Errc::invalid_argument);
const char* const kAlreadyShutdown = meshos::to_string(meshos::Errc::already_shutdown);

int fail(int code, const char* kind, const char* message) noexcept {
  last_error.set(kind, message);
  return code;
}

int fail(const meshos::SdkError& e) noexcept {
  last_error.set(e);
  return NET_MESHOS_ERR_CALL_FAILED;
}

// Runs `body` with every exception turned into `on_exception` plus a last error. SdkException keeps its
// own kind; anything else is an internal failure.
template <class T, class F>
T guarded(T on_exception, F&& body) noexcept {
  try {
    return body();
  } catch (const meshos::SdkException& e) {
    last_error.set(e.error());
  } catch (const std::exception& e) {
    last_error.set(meshos::to_string(meshos::Errc::runtime_panic), e.what());
  } catch (...) {
    last_error.set(meshos::to_string(meshos::Errc::runtime_panic), "unknown exception at the C boundary");
  }
  return on_exception;
}

// ---- argument checks ----


// Reads (ptr, len) text. NULL is accepted only with length 0. Fails with a last error naming `what`.
bool read_text(const char* ptr, std::size_t len, const char* what, std::string& out) {
  if (ptr == nullptr && len != 0) {
    last_error.set(kInvalidArgument, (std::string(what) + " is NULL but its length is not 0").c_str());
    return false;
  }
  if (len != 0 && !meshos::is_valid_utf8(std::string_view(ptr, len))) {
    last_error.set(kInvalidArgument, (std::string(what) + " is not valid UTF-8").c_str());
    return false;
  }
  out.assign(ptr == nullptr ? "" : ptr, len);
  return true;
}

bool read_daemon_name(const char* ptr, std::size_t len, std::string& out) {
  if (ptr == nullptr) {
    last_error.set(kInvalidArgument, "daemon name is NULL");
    return false;
  }
  if (len == 0) {
    last_error.set(kInvalidArgument, "daemon name is empty");
    return false;
  }
  if (!read_text(ptr, len, "daemon name", out)) return false;
  if (out.find('\0') != std::string::npos) {
    last_error.set(kInvalidArgument, "daemon name contains a NUL byte");
    return false;
  }
  return true;
}

Bytes copy_bytes(const std::uint8_t* ptr, std::size_t len) {
  return len == 0 ? Bytes{} : Bytes(ptr, ptr + len);
}

// ---- metadata ----

char* to_malloced_c_string(const std::string& text) {
  auto* out = static_cast<char*>(std::malloc(text.size() + 1));
  if (out == nullptr) throw std::bad_alloc();
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return out;
}

char* metadata_json(const meshos::MetadataView& view) {
  const nlohmann::json j = view;
  // Replace rather than throw on text that is not UTF-8 (peer-supplied strings end up in here).
  return to_malloced_c_string(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

// ---- control waits ----

// next_control's wait in slices, so that "no limit" and huge limits never overflow a clock; each slice
// is one blocking wait on the event itself.
constexpr Millis kLongestSingleWait = std::chrono::hours(1);

std::optional<DaemonControl> wait_for_control(meshos::MeshOsDaemonHandle& handle, std::uint64_t timeout_ms) {
  const bool unlimited = timeout_ms == 0;
  std::uint64_t remaining_ms = timeout_ms;
  for (;;) {
    const auto slice_ms = unlimited ? static_cast<std::uint64_t>(kLongestSingleWait.count())
                                    : std::min<std::uint64_t>(remaining_ms, kLongestSingleWait.count());
    const auto slice_deadline = meshos::Clock::now() + Millis(slice_ms);
    if (auto ev = handle.next_control(Millis(slice_ms))) return ev;
    // An empty answer before the slice ended means the daemon or its runtime is gone: nothing will come.
    if (meshos::Clock::now() < slice_deadline) return std::nullopt;
    if (!unlimited) {
      remaining_ms -= slice_ms;
      if (remaining_ms == 0) return std::nullopt;
    }
  }
}

// Longer grace periods are cut to this: the deadline must stay representable on the clock, and a day is
// beyond any real drain.
constexpr Millis kLongestGrace = std::chrono::hours(24);

// ---- registration ----

int register_daemon(NetMeshOsSdk* sdk, const std::uint8_t* seed_ptr, std::unique_ptr<meshos::MeshDaemon> daemon,
                    std::shared_ptr<meshos::capi::CallbackGate> gate, NetMeshOsHandle** out) {
  meshos::Seed seed{};
  std::copy(seed_ptr, seed_ptr + seed.size(), seed.begin());
  const auto keypair = meshos::EntityKeypair::from_seed(seed);
  std::lock_guard<std::mutex> lock(sdk->mu);
  if (!sdk->sdk) return fail(NET_MESHOS_ERR_ALREADY_SHUTDOWN, kAlreadyShutdown, "the SDK was already shut down");
  auto registered = sdk->sdk->register_daemon(std::move(daemon), keypair);
  if (!registered) return fail(registered.error());
  *out = new NetMeshOsHandle(std::move(registered.value()), std::move(gate));
  return NET_MESHOS_OK;
}

int already_shut_down() {
  return fail(NET_MESHOS_ERR_ALREADY_SHUTDOWN, kAlreadyShutdown, "the daemon was already shut down");
}

// The C++ handle unless graceful_shutdown consumed it. The copy keeps it alive for the caller's call
// even if another thread shuts the daemon down meanwhile.
std::shared_ptr<meshos::MeshOsDaemonHandle> live_handle(NetMeshOsHandle* h) {
  std::lock_guard<std::mutex> lock(h->mu);
  return h->handle;
}

template <class F>
char* metadata_of(NetMeshOsHandle* h, F&& get_view) {
  last_error.clear();
  if (h == nullptr) {
    last_error.set(kInvalidArgument, "handle is NULL");
    return nullptr;
  }
  return guarded<char*>(nullptr, [&]() -> char* {
    // Under the lock: refresh_metadata rewrites the view that metadata reads.
    std::lock_guard<std::mutex> lock(h->mu);
    if (!h->handle) {
      already_shut_down();
      return nullptr;
    }
    return metadata_json(get_view(*h->handle));
  });
}

}  // namespace

// ---- the vtable daemon ----

namespace meshos::capi {

NetMeshOsDaemonControl to_c_control(const DaemonControl& control) {
  NetMeshOsDaemonControl out{};
  std::visit(
      [&out](const auto& c) {
        using C = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<C, Shutdown>) {
          out.kind = NET_MESHOS_CONTROL_SHUTDOWN;
          out.grace_period_ms = c.grace_period_ms;
        } else if constexpr (std::is_same_v<C, DrainStart>) {
          out.kind = NET_MESHOS_CONTROL_DRAIN_START;
          out.grace_period_ms = c.grace_period_ms;
        } else if constexpr (std::is_same_v<C, DrainFinish>) {
          out.kind = NET_MESHOS_CONTROL_DRAIN_FINISH;
        } else if constexpr (std::is_same_v<C, BackpressureOn>) {
          out.kind = NET_MESHOS_CONTROL_BACKPRESSURE_ON;
          out.level = c.level;
        } else if constexpr (std::is_same_v<C, BackpressureOff>) {
          out.kind = NET_MESHOS_CONTROL_BACKPRESSURE_OFF;
        } else {
          out.kind = NET_MESHOS_CONTROL_UNKNOWN;
        }
      },
      control);
  return out;
}

DaemonHealth health_from_c(int health) {
  switch (health) {
    case NET_MESHOS_HEALTH_HEALTHY:
      return health::Healthy{};
    case NET_MESHOS_HEALTH_DEGRADED:
      return health::Degraded{};
    default:
      return health::Unhealthy{};
  }
}

Result<std::vector<Bytes>> VtableDaemon::process(const CausalEvent& ev) {
  NetMeshOsProcessEmitCtx emitted;
  const auto rc = call_inside(*gate_, std::optional<int>{}, [&] {
    return std::optional<int>(vtable_.process(user_ctx_, &emitted, ev.origin_hash, ev.sequence,
                                              ev.payload.empty() ? nullptr : ev.payload.data(),
                                              ev.payload.size()));
  });
  if (!rc) {
    return DaemonError{DaemonErrorKind::ProcessFailed, "daemon '" + name_ + "' was retired"}.to_sdk_error();
  }
  if (*rc != 0) {
    return DaemonError{DaemonErrorKind::ProcessFailed,
                       "daemon '" + name_ + "': process callback returned " + std::to_string(*rc)}
        .to_sdk_error();
  }
  return std::move(emitted.outputs);
}

std::optional<Bytes> VtableDaemon::snapshot() const {
  if (vtable_.snapshot == nullptr) return std::nullopt;
  NetMeshOsSnapshotEmitCtx emitted;
  call_inside(*gate_, 0, [&] {
    vtable_.snapshot(user_ctx_, &emitted);
    return 0;
  });
  return std::move(emitted.state);
}

Result<void> VtableDaemon::restore(const Bytes& state) {
  if (vtable_.restore == nullptr) return ok();
  const int rc = call_inside(*gate_, 0, [&] {
    return vtable_.restore(user_ctx_, state.empty() ? nullptr : state.data(), state.size());
  });
  if (rc != 0) {
    return DaemonError{DaemonErrorKind::RestoreFailed,
                       "daemon '" + name_ + "': restore callback returned " + std::to_string(rc)}
        .to_sdk_error();
  }
  return ok();
}

DaemonHealth VtableDaemon::health() const {
  if (vtable_.health == nullptr) return health::Healthy{};
  return health_from_c(call_inside(*gate_, NET_MESHOS_HEALTH_HEALTHY, [&] { return vtable_.health(user_ctx_); }));
}

float VtableDaemon::saturation() const {
  if (vtable_.saturation == nullptr) return 0.0f;
  const float s = call_inside(*gate_, 0.0f, [&] { return vtable_.saturation(user_ctx_); });
  if (std::isnan(s)) return 0.0f;
  return std::clamp(s, 0.0f, 1.0f);
}

void VtableDaemon::on_control(const DaemonControl& control) {
  if (vtable_.on_control == nullptr) return;
  const auto c = to_c_control(control);
  call_inside(*gate_, 0, [&] {
    vtable_.on_control(user_ctx_, c.kind, c.grace_period_ms, c.level);
    return 0;
  });
}

}  // namespace meshos::capi

// ---- the C entry points ----

namespace {

constexpr std::uint64_t kDefaultProcessTimeoutMs = 5000;
constexpr std::uint64_t kLongestProcessTimeoutMs = 60'000;

// The daemon a work call names: by id, or else by name; kind invalid_argument.
meshos::Result<meshos::DaemonAddress> work_target(std::uint64_t daemon_id, const char* name_ptr, std::size_t name_len) {
  if (daemon_id != 0) return meshos::DaemonAddress::by_id(daemon_id);
  std::string name;
  if (!read_daemon_name(name_ptr, name_len, name))
    return meshos::SdkError{meshos::Errc::invalid_argument, "no daemon id, and the name is not usable: " +
                                                  std::string(net_meshos_last_error_message())};
  return meshos::DaemonAddress::by_name(std::move(name));
}

// A daemon of a runtime off the network; kinds not_found, ambiguous_daemon. Call with sdk->mu held.
meshos::Result<meshos::DaemonId> local_daemon(NetMeshOsSdk& sdk, const meshos::DaemonAddress& address) {
  if (address.id != 0) return address.id;
  auto snap = sdk.sdk->snapshot();
  if (!snap) return meshos::SdkError{meshos::Errc::loop_closed, "the runtime has no snapshot"};
  auto where = meshos::locate_daemon(*snap, address);
  if (!where) return where.error();
  return where->daemon.id;
}

// Runs `body(sdk, address, event)` under the SDK's lock once the arguments are read.
template <class F>
int with_work(NetMeshOsSdk* sdk, std::uint64_t daemon_id, const char* name_ptr, std::size_t name_len,
              const std::uint8_t* payload_ptr, std::size_t payload_len, F&& body) {
  last_error.clear();
  if (sdk == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "sdk is NULL");
  if (payload_ptr == nullptr && payload_len != 0)
    return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "payload is NULL but its length is not 0");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    std::lock_guard<std::mutex> lock(sdk->mu);
    if (!sdk->sdk) return fail(NET_MESHOS_ERR_ALREADY_SHUTDOWN, kAlreadyShutdown, "the SDK was already shut down");
    auto target = work_target(daemon_id, name_ptr, name_len);
    if (!target) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, target.error().message.c_str());
    meshos::CausalEvent event;
    event.payload = copy_bytes(payload_ptr, payload_len);
    event.received_at_ms = meshos::wall_clock_ms();
    return body(*sdk, *target, std::move(event));
  });
}

// A JSON string field of net_meshos_node_start's options; kind invalid_config.
meshos::Result<std::string> string_at(const nlohmann::json& j, const char* field) {
  if (!j.is_string()) return meshos::SdkError{meshos::Errc::invalid_config, std::string(field) + ": expected a string"};
  return j.get<std::string>();
}

// Hands each string of the array `field` (when present) to `use`; the first error stops.
template <class F>
std::optional<meshos::SdkError> each_string(const nlohmann::json& j, const char* field, F&& use) {
  if (!j.contains(field)) return std::nullopt;
  if (!j[field].is_array()) return meshos::SdkError{meshos::Errc::invalid_config, std::string(field) + ": expected an array of strings"};
  for (const auto& item : j[field]) {
    auto text = string_at(item, field);
    if (!text) return text.error();
    if (auto refused = use(*text)) return refused;
  }
  return std::nullopt;
}

// net_meshos_node_start's options (documented in net_meshos.h); kind invalid_config.
meshos::Result<std::pair<meshos::MeshOsConfig, meshos::NetworkOptions>> node_options(const std::string& text) {
  using meshos::SdkError;
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return SdkError{meshos::Errc::invalid_config, "options: expected a JSON object"};
  meshos::MeshOsConfig config;
  meshos::NetworkOptions network;
  static const std::set<std::string> known{"node_seed", "members", "listen_host", "listen_port", "peers",
                                           "tick_interval_ms", "heartbeat_interval_ms", "peer_timeout_ms", "tls"};
  for (const auto& item : j.items())
    if (known.count(item.key()) == 0) return SdkError{meshos::Errc::invalid_config, "options: unknown field \"" + item.key() + "\""};
  if (!j.contains("node_seed")) return SdkError{meshos::Errc::invalid_config, "options: node_seed is required"};
  auto seed = string_at(j["node_seed"], "node_seed");
  if (!seed) return seed.error();
  auto key = meshos::EntityKeypair::from_seed_hex(*seed);
  if (!key) return SdkError{meshos::Errc::invalid_config, "node_seed: " + key.error().message};
  network.node_key = *key;
  auto members = each_string(j, "members", [&](const std::string& hex) -> std::optional<SdkError> {
    auto member = meshos::EntityKeypair::from_public_hex(hex);
    if (!member) return SdkError{meshos::Errc::invalid_config, "members: " + member.error().message};
    network.members.push_back(member->public_key());
    return std::nullopt;
  });
  if (members) return *members;
  if (j.contains("listen_host")) {
    auto host = string_at(j["listen_host"], "listen_host");
    if (!host) return host.error();
    network.listen_host = *host;
  }
  auto number = [&](const char* field, std::uint64_t max, auto&& set) -> std::optional<SdkError> {
    if (!j.contains(field)) return std::nullopt;
    if (!j[field].is_number_unsigned() || j[field].get<std::uint64_t>() > max)
      return SdkError{meshos::Errc::invalid_config, std::string(field) + ": expected a whole number up to " + std::to_string(max)};
    set(j[field].get<std::uint64_t>());
    return std::nullopt;
  };
  constexpr std::uint64_t kDay = 86'400'000;
  using ms = std::chrono::milliseconds;
  if (auto e = number("listen_port", 65535, [&](std::uint64_t v) { network.listen_port = static_cast<std::uint16_t>(v); })) return *e;
  if (auto e = number("tick_interval_ms", kDay, [&](std::uint64_t v) { config.tick_interval = ms(v); })) return *e;
  if (auto e = number("heartbeat_interval_ms", kDay, [&](std::uint64_t v) { network.heartbeat_interval = ms(v); })) return *e;
  if (auto e = number("peer_timeout_ms", kDay, [&](std::uint64_t v) { network.peer_timeout = ms(v); })) return *e;
  auto peers = each_string(j, "peers", [&](const std::string& address_text) -> std::optional<SdkError> {
    auto address = meshos::PeerAddress::parse(address_text);
    if (!address) return SdkError{meshos::Errc::invalid_config, "peers: " + address.error().message};
    network.peers.push_back(*address);
    return std::nullopt;
  });
  if (peers) return *peers;
  if (j.contains("tls")) {
    const auto& tls = j["tls"];
    if (!tls.is_object()) return SdkError{meshos::Errc::invalid_config, "tls: expected an object"};
    for (auto [field, target] : {std::pair{"certificate", &network.tls.certificate}, std::pair{"key", &network.tls.key},
                                 std::pair{"ca_file", &network.tls.ca_file}}) {
      if (!tls.contains(field)) return SdkError{meshos::Errc::invalid_config, std::string("tls.") + field + " is required"};
      auto value = string_at(tls[field], field);
      if (!value) return value.error();
      *target = *value;
    }
  }
  return std::make_pair(std::move(config), std::move(network));
}

}  // namespace

extern "C" {

const char* net_meshos_last_error_message(void) { return last_error.message(); }
const char* net_meshos_last_error_kind(void) { return last_error.kind(); }
void net_meshos_clear_last_error(void) { last_error.clear(); }

int net_meshos_sdk_start(uint64_t this_node, uint64_t tick_interval_ms, size_t event_queue_capacity,
                         size_t action_queue_capacity, size_t control_capacity, NetMeshOsSdk** out) {
  last_error.clear();
  if (out == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "out is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    meshos::MeshOsConfig config;
    config.this_node = this_node;
    if (tick_interval_ms != 0) {
      // Deadlines are computed as now + tick on a nanosecond clock; keep far away from its overflow.
      constexpr auto kLongestTickMs =
          static_cast<std::uint64_t>(std::chrono::duration_cast<Millis>(meshos::Clock::duration::max()).count() / 4);
      if (tick_interval_ms > kLongestTickMs) {
        return fail(NET_MESHOS_ERR_INVALID_ARG, "invalid_config", "tick_interval_ms is too large for the clock");
      }
      config.tick_interval = Millis(static_cast<Millis::rep>(tick_interval_ms));
    }
    if (event_queue_capacity != 0) config.event_queue_capacity = event_queue_capacity;
    if (action_queue_capacity != 0) config.action_queue_capacity = action_queue_capacity;
    if (control_capacity != 0) config.control_capacity = control_capacity;
    if (auto valid = config.validate(); !valid) {
      last_error.set(valid.error());
      return NET_MESHOS_ERR_INVALID_ARG;
    }
    const auto capacity = config.control_capacity;
    auto wrapper = std::make_unique<NetMeshOsSdk>();
    wrapper->own.emplace(
        meshos::MeshOsDaemonSdk::start(std::move(config), std::make_shared<meshos::LoggingDispatcher>()));
    wrapper->sdk = &*wrapper->own;
    wrapper->sdk->with_control_capacity(capacity);
    *out = wrapper.release();
    return NET_MESHOS_OK;
  });
}

int net_meshos_node_start(const char* options_json_ptr, size_t options_json_len, NetMeshOsSdk** out) {
  last_error.clear();
  if (out == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "out is NULL");
  std::string text;
  if (options_json_ptr == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "options are NULL");
  if (!read_text(options_json_ptr, options_json_len, "options", text)) return NET_MESHOS_ERR_INVALID_ARG;
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    auto options = node_options(text);
    if (!options) {
      last_error.set(options.error());
      return NET_MESHOS_ERR_INVALID_ARG;
    }
    auto node = meshos::MeshNode::start(std::move(options->first), std::move(options->second),
                                        std::make_shared<meshos::LoggingDispatcher>());
    if (!node) {
      last_error.set(node.error());
      const auto code = node.error().code();
      return code == meshos::Errc::invalid_config || code == meshos::Errc::invalid_tls ? NET_MESHOS_ERR_INVALID_ARG
                                                                                       : NET_MESHOS_ERR_CALL_FAILED;
    }
    auto wrapper = std::make_unique<NetMeshOsSdk>();
    wrapper->node = std::move(*node);
    wrapper->sdk = &wrapper->node->sdk();
    *out = wrapper.release();
    return NET_MESHOS_OK;
  });
}

uint16_t net_meshos_node_port(const NetMeshOsSdk* sdk) {
  if (sdk == nullptr || !sdk->node) return 0;
  return sdk->node->port();
}

void net_meshos_sdk_free(NetMeshOsSdk* sdk) {
  // The C++ SDK shuts itself down on destruction when shutdown was not called.
  guarded(0, [&] {
    delete sdk;
    return 0;
  });
}

int net_meshos_sdk_shutdown(NetMeshOsSdk* sdk) {
  last_error.clear();
  if (sdk == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "sdk is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    std::optional<meshos::MeshOsDaemonSdk> running;
    std::unique_ptr<meshos::MeshNode> node;
    {
      std::lock_guard<std::mutex> lock(sdk->mu);
      if (!sdk->sdk) return fail(NET_MESHOS_ERR_ALREADY_SHUTDOWN, kAlreadyShutdown, "the SDK was already shut down");
      running.swap(sdk->own);
      node.swap(sdk->node);
      sdk->sdk = nullptr;
    }
    // Outside the lock: shutdown waits for every actor, and other threads must see "already shut down"
    // meanwhile rather than block.
    auto stats = node ? node->shutdown() : running->shutdown();
    if (!stats) return fail(stats.error());
    return NET_MESHOS_OK;
  });
}

uint64_t net_meshos_sdk_dropped_control_events(NetMeshOsSdk* sdk) {
  constexpr auto kUnavailable = std::numeric_limits<uint64_t>::max();
  if (sdk == nullptr) return kUnavailable;
  return guarded(kUnavailable, [&] {
    std::lock_guard<std::mutex> lock(sdk->mu);
    return sdk->sdk ? sdk->sdk->dropped_control_events() : kUnavailable;
  });
}

void net_meshos_process_emit(NetMeshOsProcessEmitCtx* ctx, const uint8_t* payload_ptr, size_t payload_len) {
  if (ctx == nullptr || (payload_ptr == nullptr && payload_len != 0)) return;
  // Out of memory here cannot be reported through this void function; the output is lost instead.
  guarded(0, [&] {
    ctx->outputs.push_back(copy_bytes(payload_ptr, payload_len));
    return 0;
  });
}

void net_meshos_snapshot_emit(NetMeshOsSnapshotEmitCtx* ctx, const uint8_t* payload_ptr, size_t payload_len) {
  if (ctx == nullptr || ctx->state || (payload_ptr == nullptr && payload_len != 0)) return;
  guarded(0, [&] {
    ctx->state = copy_bytes(payload_ptr, payload_len);
    return 0;
  });
}

int net_meshos_register_daemon_with_vtable(NetMeshOsSdk* sdk, const char* name_ptr, size_t name_len,
                                           const uint8_t* seed_ptr, const NetMeshOsDaemonVtable* vtable,
                                           void* user_ctx, NetMeshOsHandle** out) {
  last_error.clear();
  if (sdk == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "sdk is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    std::string name;
    if (!read_daemon_name(name_ptr, name_len, name)) return NET_MESHOS_ERR_INVALID_ARG;
    if (seed_ptr == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "seed is NULL");
    if (vtable == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "vtable is NULL");
    if (vtable->process == nullptr) {
      return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "vtable has no process callback");
    }
    if (out == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "out is NULL");
    auto gate = std::make_shared<meshos::capi::CallbackGate>();
    auto daemon = std::make_unique<meshos::capi::VtableDaemon>(name, *vtable, user_ctx, gate);
    return register_daemon(sdk, seed_ptr, std::move(daemon), std::move(gate), out);
  });
}

int net_meshos_register_daemon(NetMeshOsSdk* sdk, const char* name_ptr, size_t name_len, const uint8_t* seed_ptr,
                               NetMeshOsHandle** out) {
  last_error.clear();
  if (sdk == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "sdk is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    std::string name;
    if (!read_daemon_name(name_ptr, name_len, name)) return NET_MESHOS_ERR_INVALID_ARG;
    if (seed_ptr == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "seed is NULL");
    if (out == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "out is NULL");
    return register_daemon(sdk, seed_ptr, std::make_unique<meshos::capi::NoopDaemon>(name), nullptr, out);
  });
}

void net_meshos_handle_free(NetMeshOsHandle* handle) {
  // Destroying the C++ handle unregisters a daemon that is still registered.
  guarded(0, [&] {
    delete handle;
    return 0;
  });
}

uint64_t net_meshos_handle_daemon_id(const NetMeshOsHandle* handle) {
  return handle == nullptr ? 0 : handle->daemon_id;
}

const char* net_meshos_handle_daemon_name(const NetMeshOsHandle* handle) {
  return handle == nullptr ? nullptr : handle->daemon_name.c_str();
}

int net_meshos_try_next_control(NetMeshOsHandle* handle, NetMeshOsDaemonControl* out) {
  last_error.clear();
  if (handle == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "handle is NULL");
  if (out == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "out is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&] {
    const auto h = live_handle(handle);
    if (!h) return already_shut_down();
    const auto ev = h->try_next_control();
    *out = ev ? meshos::capi::to_c_control(*ev) : NetMeshOsDaemonControl{};
    return NET_MESHOS_OK;
  });
}

int net_meshos_next_control(NetMeshOsHandle* handle, uint64_t timeout_ms, NetMeshOsDaemonControl* out) {
  last_error.clear();
  if (handle == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "handle is NULL");
  if (out == nullptr) return fail(NET_MESHOS_ERR_INVALID_ARG, kInvalidArgument, "out is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&] {
    const auto h = live_handle(handle);
    if (!h) return already_shut_down();
    const auto ev = wait_for_control(*h, timeout_ms);
    *out = ev ? meshos::capi::to_c_control(*ev) : NetMeshOsDaemonControl{};
    return NET_MESHOS_OK;
  });
}

int net_meshos_acknowledge_shutdown(NetMeshOsHandle* handle) {
  last_error.clear();
  if (handle == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "handle is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&] {
    const auto h = live_handle(handle);
    if (!h) return already_shut_down();
    h->acknowledge_shutdown();
    return NET_MESHOS_OK;
  });
}

int net_meshos_publish_log(NetMeshOsHandle* handle, int level, const char* message_ptr, size_t message_len) {
  last_error.clear();
  if (handle == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "handle is NULL");
  if (level < NET_MESHOS_LOG_TRACE || level > NET_MESHOS_LOG_ERROR) {
    return fail(NET_MESHOS_ERR_INVALID_ARG, "invalid_log_level",
                ("log level " + std::to_string(level) + " is not one of 0 (trace) .. 4 (error)").c_str());
  }
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    std::string message;
    if (!read_text(message_ptr, message_len, "message", message)) return NET_MESHOS_ERR_INVALID_ARG;
    const auto h = live_handle(handle);
    if (!h) return already_shut_down();
    auto published = h->publish_log(static_cast<meshos::LogLevel>(level), std::move(message));
    return published ? NET_MESHOS_OK : fail(published.error());
  });
}


int net_meshos_deliver(NetMeshOsSdk* sdk, uint64_t daemon_id, const char* name_ptr, size_t name_len,
                       const uint8_t* payload_ptr, size_t payload_len) {
  return with_work(sdk, daemon_id, name_ptr, name_len, payload_ptr, payload_len,
                   [](NetMeshOsSdk& s, const meshos::DaemonAddress& address, meshos::CausalEvent event) {
                     if (s.node) {
                       auto delivered = s.node->deliver(address, std::move(event));
                       return delivered ? NET_MESHOS_OK : fail(delivered.error());
                     }
                     auto daemon = local_daemon(s, address);
                     if (!daemon) return fail(daemon.error());
                     auto delivered = s.sdk->deliver(*daemon, std::move(event));
                     return delivered ? NET_MESHOS_OK : fail(delivered.error());
                   });
}

int net_meshos_process(NetMeshOsSdk* sdk, uint64_t daemon_id, const char* name_ptr, size_t name_len,
                       const uint8_t* payload_ptr, size_t payload_len, uint64_t timeout_ms,
                       NetMeshOsOutputFn on_output, void* user_ctx) {
  const std::uint64_t ms =
      timeout_ms == 0 ? kDefaultProcessTimeoutMs : std::min(timeout_ms, kLongestProcessTimeoutMs);
  std::vector<meshos::Bytes> outputs;
  const int code = with_work(sdk, daemon_id, name_ptr, name_len, payload_ptr, payload_len,
                             [&](NetMeshOsSdk& s, const meshos::DaemonAddress& address, meshos::CausalEvent event) {
                               const std::chrono::milliseconds timeout(ms);
                               meshos::Result<std::vector<meshos::Bytes>> answer = meshos::SdkError{};
                               if (s.node) {
                                 answer = s.node->process(address, std::move(event), timeout);
                               } else if (auto daemon = local_daemon(s, address)) {
                                 answer = s.sdk->process(*daemon, std::move(event), timeout);
                               } else {
                                 answer = daemon.error();
                               }
                               if (!answer) return fail(answer.error());
                               outputs = std::move(*answer);
                               return NET_MESHOS_OK;
                             });
  // Outside the SDK's lock: the callback may call into the SDK.
  if (code == NET_MESHOS_OK && on_output != nullptr)
    for (const auto& o : outputs) on_output(user_ctx, o.data(), o.size());
  return code;
}

int net_meshos_graceful_shutdown(NetMeshOsHandle* handle, uint64_t grace_ms) {
  last_error.clear();
  if (handle == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "handle is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    // Taken out first, whatever the outcome: concurrent and later calls see "already shut down", and a
    // failed shutdown is not retried against a retired daemon.
    std::shared_ptr<meshos::MeshOsDaemonHandle> consumed;
    {
      std::lock_guard<std::mutex> lock(handle->mu);
      consumed.swap(handle->handle);
    }
    if (!consumed) return already_shut_down();
    const auto grace = grace_ms == 0 ? meshos::kDefaultGracefulShutdown
                                     : Millis(static_cast<Millis::rep>(std::min<std::uint64_t>(
                                           grace_ms, static_cast<std::uint64_t>(kLongestGrace.count()))));
    auto outcome = meshos::detail::SdkInternals::shut_down_when_handled(*consumed, grace);
    consumed.reset();
    // The daemon's actor stops asynchronously; from here on none of its callbacks may run.
    if (handle->gate) meshos::capi::retire(*handle->gate);
    if (!outcome) return fail(outcome.error());
    return NET_MESHOS_OK;
  });
}

char* net_meshos_metadata(const NetMeshOsHandle* handle) {
  // The handle is only read (MeshOsDaemonHandle::metadata is const); the cast is for the shared lock path.
  return metadata_of(const_cast<NetMeshOsHandle*>(handle), [](meshos::MeshOsDaemonHandle& h) -> const meshos::MetadataView& { return h.metadata(); });
}

char* net_meshos_refresh_metadata(NetMeshOsHandle* handle) {
  return metadata_of(handle,
                     [](meshos::MeshOsDaemonHandle& h) -> const meshos::MetadataView& { return h.refresh_metadata(); });
}

void net_meshos_free_string(char* s) { std::free(s); }

int net_meshos_publish_capabilities(NetMeshOsHandle* handle, const char* tags_json_ptr, size_t tags_json_len) {
  last_error.clear();
  if (handle == nullptr) return fail(NET_MESHOS_ERR_NULL, kInvalidArgument, "handle is NULL");
  return guarded(NET_MESHOS_ERR_CALL_FAILED, [&]() -> int {
    std::string text;
    if (tags_json_ptr != nullptr && !read_text(tags_json_ptr, tags_json_len, "tags_json", text)) {
      return NET_MESHOS_ERR_INVALID_ARG;
    }
    meshos::CapabilitySet caps;
    if (!text.empty()) {
      auto parsed = meshos::capability_set_from_json_text(text);
      if (!parsed) {
        last_error.set(parsed.error());
        return NET_MESHOS_ERR_INVALID_ARG;
      }
      caps = std::move(parsed.value());
    }
    const auto h = live_handle(handle);
    if (!h) return already_shut_down();
    auto published = h->publish_capabilities(std::move(caps));
    return published ? NET_MESHOS_OK : fail(published.error());
  });
}

}  // extern "C"
