// The C SDK (net_meshos.h) driven in-process: every entry point, its status codes and last errors, the
// vtable daemon adapter on its own, and the adapter inside a running runtime (process through the C++ SDK
// underneath the C handle, health and saturation in snapshots, on_control on shutdown and drain).
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <functional>
#include <future>
#include <limits>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "net_meshos_internal.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using meshos::Bytes;

namespace {

constexpr auto kEventTimeout = 10s;  // generous: only a broken runtime ever waits this long

std::string last_kind() {
  const char* k = net_meshos_last_error_kind();
  return k ? k : "<none>";
}

std::string last_message() {
  const char* m = net_meshos_last_error_message();
  return m ? m : "<none>";
}

using meshos::test::seed_of;

// What the C callbacks saw; they run on the runtime's threads.
struct Recorder {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<NetMeshOsDaemonControl> controls;
  std::vector<Bytes> payloads;
  std::uint64_t last_origin = 0;
  std::uint64_t last_sequence = 0;
  bool last_payload_was_null = false;
  int process_status = 0;
  int health = NET_MESHOS_HEALTH_HEALTHY;
  float saturation = 0.0f;
  int health_calls = 0;
  int saturation_calls = 0;
  Bytes snapshot_state;
  int snapshot_emits = 1;
  Bytes restored;
  int restore_status = 0;
  bool hold_controls = false;  // on_control blocks until this is false again
  int on_control_returns = 0;

  void release_controls() {
    {
      std::lock_guard<std::mutex> lock(mu);
      hold_controls = false;
    }
    cv.notify_all();
  }

  // Waits for a control event of `kind`; returns it, or kind NONE after the timeout.
  NetMeshOsDaemonControl wait_control(int kind) {
    std::unique_lock<std::mutex> lock(mu);
    NetMeshOsDaemonControl found{};
    cv.wait_for(lock, kEventTimeout, [&] {
      for (const auto& c : controls) {
        if (c.kind == kind) {
          found = c;
          return true;
        }
      }
      return false;
    });
    return found;
  }
  bool wait_polled() {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, kEventTimeout, [&] { return health_calls > 0 && saturation_calls > 0; });
  }
};

extern "C" int rec_process(void* ctx, NetMeshOsProcessEmitCtx* emit, uint64_t origin, uint64_t seq,
                           const uint8_t* payload, size_t len) {
  auto* r = static_cast<Recorder*>(ctx);
  std::lock_guard<std::mutex> lock(r->mu);
  r->last_origin = origin;
  r->last_sequence = seq;
  r->last_payload_was_null = payload == nullptr;
  r->payloads.emplace_back(payload, payload + len);
  if (r->process_status != 0) {
    net_meshos_process_emit(emit, reinterpret_cast<const uint8_t*>("lost"), 4);  // discarded by the failure
    return r->process_status;
  }
  net_meshos_process_emit(emit, payload, len);
  static const uint8_t suffix[] = {'!'};
  net_meshos_process_emit(emit, suffix, 1);
  return 0;
}

extern "C" void rec_snapshot(void* ctx, NetMeshOsSnapshotEmitCtx* emit) {
  auto* r = static_cast<Recorder*>(ctx);
  std::lock_guard<std::mutex> lock(r->mu);
  for (int i = 0; i < r->snapshot_emits; ++i) {
    Bytes b = r->snapshot_state;
    b.push_back(static_cast<std::uint8_t>(i));
    net_meshos_snapshot_emit(emit, b.data(), b.size());
  }
}

extern "C" int rec_restore(void* ctx, const uint8_t* payload, size_t len) {
  auto* r = static_cast<Recorder*>(ctx);
  std::lock_guard<std::mutex> lock(r->mu);
  r->restored.assign(payload, payload + len);
  return r->restore_status;
}

extern "C" void rec_on_control(void* ctx, int kind, uint64_t grace_ms, float level) {
  auto* r = static_cast<Recorder*>(ctx);
  std::unique_lock<std::mutex> lock(r->mu);
  r->controls.push_back(NetMeshOsDaemonControl{kind, grace_ms, level});
  r->cv.notify_all();
  // Keeps the daemon's actor busy with this event while a test needs it so.
  r->cv.wait_for(lock, kEventTimeout, [r] { return !r->hold_controls; });
  ++r->on_control_returns;
}

extern "C" int rec_health(void* ctx) {
  auto* r = static_cast<Recorder*>(ctx);
  int h;
  {
    std::lock_guard<std::mutex> lock(r->mu);
    ++r->health_calls;
    h = r->health;
  }
  r->cv.notify_all();
  return h;
}

extern "C" float rec_saturation(void* ctx) {
  auto* r = static_cast<Recorder*>(ctx);
  float s;
  {
    std::lock_guard<std::mutex> lock(r->mu);
    ++r->saturation_calls;
    s = r->saturation;
  }
  r->cv.notify_all();
  return s;
}

NetMeshOsDaemonVtable full_vtable() {
  NetMeshOsDaemonVtable vt{};
  vt.process = rec_process;
  vt.snapshot = rec_snapshot;
  vt.restore = rec_restore;
  vt.on_control = rec_on_control;
  vt.health = rec_health;
  vt.saturation = rec_saturation;
  return vt;
}

NetMeshOsDaemonVtable process_only_vtable() {
  NetMeshOsDaemonVtable vt{};
  vt.process = rec_process;
  return vt;
}

// A running C SDK with a fast tick; freed (and so shut down) at the end of the test.
struct CRuntime {
  NetMeshOsSdk* sdk = nullptr;
  explicit CRuntime(std::size_t control_capacity = 0) {
    REQUIRE(net_meshos_sdk_start(0x42, 10, 0, 0, control_capacity, &sdk) == NET_MESHOS_OK);
    REQUIRE(sdk != nullptr);
  }
  // A node on the network (net_meshos_node_start) with these JSON options.
  explicit CRuntime(const std::string& node_options) {
    const int started = net_meshos_node_start(node_options.data(), node_options.size(), &sdk);
    const char* why = net_meshos_last_error_message();
    REQUIRE_MESSAGE(started == NET_MESHOS_OK, std::string(why ? why : ""));
    REQUIRE(sdk != nullptr);
  }
  ~CRuntime() { net_meshos_sdk_free(sdk); }
  CRuntime(const CRuntime&) = delete;
  CRuntime& operator=(const CRuntime&) = delete;

  meshos::MeshOsDaemonSdk& cpp() { return *sdk->sdk; }

  NetMeshOsHandle* add(const std::string& name, std::uint8_t seed_fill, const NetMeshOsDaemonVtable& vt,
                       Recorder& rec) {
    const auto seed = seed_of(seed_fill);
    NetMeshOsHandle* h = nullptr;
    REQUIRE(net_meshos_register_daemon_with_vtable(sdk, name.data(), name.size(), seed.data(), &vt, &rec, &h) ==
            NET_MESHOS_OK);
    REQUIRE(h != nullptr);
    return h;
  }

  // The first published snapshot satisfying `pred`, or nullptr after the timeout.
  meshos::SnapshotPtr wait_snapshot(std::function<bool(const meshos::MeshOsSnapshot&)> pred) {
    struct Shared {
      std::mutex mu;
      std::condition_variable cv;
      meshos::SnapshotPtr found;
    };
    if (auto now = cpp().snapshot(); now && pred(*now)) return now;
    auto shared = std::make_shared<Shared>();
    auto subscription = cpp().subscribe([shared, pred](const meshos::SnapshotPtr& s) {
      if (!s || !pred(*s)) return;
      {
        std::lock_guard<std::mutex> lock(shared->mu);
        if (!shared->found) shared->found = s;
      }
      shared->cv.notify_all();
    });
    meshos::SnapshotPtr result;
    {
      std::unique_lock<std::mutex> lock(shared->mu);
      shared->cv.wait_for(lock, kEventTimeout, [&] { return shared->found != nullptr; });
      result = shared->found;
    }
    REQUIRE(subscription.cancel());
    return result;
  }
};

meshos::CausalEvent causal(std::uint64_t origin, std::uint64_t seq, Bytes payload) {
  meshos::CausalEvent ev;
  ev.origin_hash = origin;
  ev.sequence = seq;
  ev.payload = std::move(payload);
  return ev;
}

nlohmann::json take_json(char* text) {
  REQUIRE(text != nullptr);
  auto j = nlohmann::json::parse(text);
  net_meshos_free_string(text);
  return j;
}

}  // namespace

// A thread blocked in next_control(h, 0): it first takes one routed event (so it is known to be in its
// waiting loop), tells the test, then waits again without a time limit.
class ForeverWaiter {
 public:
  ForeverWaiter(meshos::MeshOsDaemonSdk& sdk, NetMeshOsHandle* h) : shared_(std::make_shared<Shared>()) {
    thread_ = std::thread([h, shared = shared_] {
      NetMeshOsDaemonControl first{};
      const int first_rc = net_meshos_next_control(h, 0, &first);
      shared->first.set_value({first_rc, first});
      NetMeshOsDaemonControl second{};
      second.kind = -1;
      const int second_rc = net_meshos_next_control(h, 0, &second);
      shared->second.set_value({second_rc, second});
    });
    sdk.route(net_meshos_handle_daemon_id(h), meshos::BackpressureOn{0.5f});
  }
  ~ForeverWaiter() {
    // One that never woke is left behind rather than hanging the suite; it owns what it writes to.
    if (joinable_) thread_.join();
    else thread_.detach();
  }
  ForeverWaiter(const ForeverWaiter&) = delete;
  ForeverWaiter& operator=(const ForeverWaiter&) = delete;

  using Outcome = std::pair<int, NetMeshOsDaemonControl>;
  std::optional<Outcome> first() { return take(shared_->first); }
  std::optional<Outcome> second() {
    auto out = take(shared_->second);
    joinable_ = out.has_value();
    return out;
  }

 private:
  struct Shared {
    std::promise<Outcome> first;
    std::promise<Outcome> second;
  };
  static std::optional<Outcome> take(std::promise<Outcome>& p) {
    auto f = p.get_future();
    if (f.wait_for(kEventTimeout) != std::future_status::ready) return std::nullopt;
    return f.get();
  }
  std::shared_ptr<Shared> shared_;
  std::thread thread_;
  bool joinable_ = false;
};

TEST_CASE("ABI facts: status codes, control kinds, levels, health values and the control struct layout") {
  CHECK(NET_MESHOS_OK == 0);
  CHECK(NET_MESHOS_ERR_NULL == -1);
  CHECK(NET_MESHOS_ERR_CALL_FAILED == -2);
  CHECK(NET_MESHOS_ERR_INVALID_ARG == -3);
  CHECK(NET_MESHOS_ERR_ALREADY_SHUTDOWN == -4);
  CHECK(NET_MESHOS_CONTROL_NONE == 0);
  CHECK(NET_MESHOS_CONTROL_SHUTDOWN == 1);
  CHECK(NET_MESHOS_CONTROL_DRAIN_START == 2);
  CHECK(NET_MESHOS_CONTROL_DRAIN_FINISH == 3);
  CHECK(NET_MESHOS_CONTROL_BACKPRESSURE_ON == 4);
  CHECK(NET_MESHOS_CONTROL_BACKPRESSURE_OFF == 5);
  CHECK(NET_MESHOS_CONTROL_UNKNOWN == 99);
  CHECK(NET_MESHOS_LOG_TRACE == 0);
  CHECK(NET_MESHOS_LOG_DEBUG == 1);
  CHECK(NET_MESHOS_LOG_INFO == 2);
  CHECK(NET_MESHOS_LOG_WARN == 3);
  CHECK(NET_MESHOS_LOG_ERROR == 4);
  CHECK(static_cast<int>(meshos::LogLevel::Error) == NET_MESHOS_LOG_ERROR);
  CHECK(NET_MESHOS_HEALTH_HEALTHY == 0);
  CHECK(NET_MESHOS_HEALTH_DEGRADED == 1);
  CHECK(NET_MESHOS_HEALTH_UNHEALTHY == 2);
  static_assert(offsetof(NetMeshOsDaemonControl, kind) == 0);
  static_assert(offsetof(NetMeshOsDaemonControl, grace_period_ms) == 8);
  static_assert(offsetof(NetMeshOsDaemonControl, level) == 16);
  static_assert(sizeof(NetMeshOsDaemonControl) == 24);
  static_assert(offsetof(NetMeshOsDaemonVtable, process) == 0);
  static_assert(offsetof(NetMeshOsDaemonVtable, snapshot) == 1 * sizeof(void*));
  static_assert(offsetof(NetMeshOsDaemonVtable, restore) == 2 * sizeof(void*));
  static_assert(offsetof(NetMeshOsDaemonVtable, on_control) == 3 * sizeof(void*));
  static_assert(offsetof(NetMeshOsDaemonVtable, health) == 4 * sizeof(void*));
  static_assert(offsetof(NetMeshOsDaemonVtable, saturation) == 5 * sizeof(void*));
  static_assert(sizeof(NetMeshOsDaemonVtable) == 6 * sizeof(void*));
}

TEST_CASE("control events map to the C wire form, each kind with its own payload") {
  using meshos::capi::to_c_control;
  auto c = to_c_control(meshos::Shutdown{1234});
  CHECK(c.kind == NET_MESHOS_CONTROL_SHUTDOWN);
  CHECK(c.grace_period_ms == 1234);
  CHECK(c.level == 0.0f);
  c = to_c_control(meshos::DrainStart{77});
  CHECK(c.kind == NET_MESHOS_CONTROL_DRAIN_START);
  CHECK(c.grace_period_ms == 77);
  c = to_c_control(meshos::DrainFinish{});
  CHECK(c.kind == NET_MESHOS_CONTROL_DRAIN_FINISH);
  CHECK(c.grace_period_ms == 0);
  c = to_c_control(meshos::BackpressureOn{0.75f});
  CHECK(c.kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
  CHECK(c.level == 0.75f);
  CHECK(c.grace_period_ms == 0);
  c = to_c_control(meshos::BackpressureOff{});
  CHECK(c.kind == NET_MESHOS_CONTROL_BACKPRESSURE_OFF);
  CHECK(c.level == 0.0f);
}

TEST_CASE("health values from C: the three known ones, anything else unhealthy") {
  using meshos::capi::health_from_c;
  CHECK(std::holds_alternative<meshos::health::Healthy>(health_from_c(NET_MESHOS_HEALTH_HEALTHY)));
  CHECK(std::holds_alternative<meshos::health::Degraded>(health_from_c(NET_MESHOS_HEALTH_DEGRADED)));
  CHECK(std::holds_alternative<meshos::health::Unhealthy>(health_from_c(NET_MESHOS_HEALTH_UNHEALTHY)));
  CHECK(std::holds_alternative<meshos::health::Unhealthy>(health_from_c(42)));
  CHECK(std::holds_alternative<meshos::health::Unhealthy>(health_from_c(-1)));
}

TEST_CASE("the vtable daemon calls every callback with the event's data and takes back what they emit") {
  Recorder rec;
  meshos::capi::VtableDaemon d("vt", full_vtable(), &rec);
  CHECK(d.name() == "vt");
  CHECK(d.is_stateful());

  SUBCASE("process: inputs passed through, every emit is an output, in order") {
    auto out = d.process(causal(0xdeadbeef, 7, Bytes{'h', 'i'}));
    REQUIRE(out);
    CHECK(out.value() == std::vector<Bytes>{Bytes{'h', 'i'}, Bytes{'!'}});
    CHECK(rec.last_origin == 0xdeadbeef);
    CHECK(rec.last_sequence == 7);
    CHECK_FALSE(rec.last_payload_was_null);
  }
  SUBCASE("process: an empty payload arrives as NULL with length 0") {
    auto out = d.process(causal(1, 1, Bytes{}));
    REQUIRE(out);
    CHECK(rec.last_payload_was_null);
    CHECK(out.value() == std::vector<Bytes>{Bytes{}, Bytes{'!'}});
  }
  SUBCASE("process: a non-zero status is process_failed and its outputs are discarded") {
    rec.process_status = 3;
    auto out = d.process(causal(1, 1, Bytes{'x'}));
    REQUIRE_FALSE(out);
    CHECK(out.error().code() == meshos::Errc::process_failed);
    CHECK(out.error().message.find("3") != std::string::npos);
  }
  SUBCASE("snapshot: the first emit counts, later ones are ignored") {
    rec.snapshot_state = Bytes{'s'};
    rec.snapshot_emits = 3;
    auto s = d.snapshot();
    REQUIRE(s);
    CHECK(*s == Bytes{'s', 0});
  }
  SUBCASE("snapshot: a callback that emits nothing saves nothing") {
    rec.snapshot_emits = 0;
    CHECK_FALSE(d.snapshot());
  }
  SUBCASE("restore: bytes passed through; a non-zero status is restore_failed") {
    CHECK(d.restore(Bytes{1, 2, 3}));
    CHECK(rec.restored == Bytes{1, 2, 3});
    rec.restore_status = -5;
    auto r = d.restore(Bytes{9});
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == meshos::Errc::restore_failed);
  }
  SUBCASE("health and saturation: values mapped, saturation clamped, NaN counts as 0") {
    rec.health = NET_MESHOS_HEALTH_DEGRADED;
    CHECK(std::holds_alternative<meshos::health::Degraded>(d.health()));
    rec.health = 17;
    CHECK(std::holds_alternative<meshos::health::Unhealthy>(d.health()));
    rec.saturation = 0.5f;
    CHECK(d.saturation() == 0.5f);
    rec.saturation = 3.0f;
    CHECK(d.saturation() == 1.0f);
    rec.saturation = -1.0f;
    CHECK(d.saturation() == 0.0f);
    rec.saturation = std::nanf("");
    CHECK(d.saturation() == 0.0f);
  }
  SUBCASE("on_control: the wire form of the event") {
    d.on_control(meshos::BackpressureOn{0.5f});
    d.on_control(meshos::Shutdown{250});
    REQUIRE(rec.controls.size() == 2);
    CHECK(rec.controls[0].kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
    CHECK(rec.controls[0].level == 0.5f);
    CHECK(rec.controls[1].kind == NET_MESHOS_CONTROL_SHUTDOWN);
    CHECK(rec.controls[1].grace_period_ms == 250);
  }
}

TEST_CASE("the vtable daemon with only process takes the defaults for everything else") {
  Recorder rec;
  meshos::capi::VtableDaemon d("bare", process_only_vtable(), &rec);
  CHECK_FALSE(d.is_stateful());
  CHECK_FALSE(d.snapshot());
  CHECK(d.restore(Bytes{1}));  // no restore callback: nothing to refuse
  CHECK(std::holds_alternative<meshos::health::Healthy>(d.health()));
  CHECK(d.saturation() == 0.0f);
  d.on_control(meshos::DrainFinish{});  // no callback, no effect
  CHECK(rec.controls.empty());
}

TEST_CASE("emit helpers ignore a NULL context and NULL data with a length, accept NULL with length 0") {
  net_meshos_process_emit(nullptr, reinterpret_cast<const uint8_t*>("x"), 1);
  net_meshos_snapshot_emit(nullptr, reinterpret_cast<const uint8_t*>("x"), 1);
  NetMeshOsProcessEmitCtx p;
  net_meshos_process_emit(&p, nullptr, 5);
  CHECK(p.outputs.empty());
  net_meshos_process_emit(&p, nullptr, 0);
  REQUIRE(p.outputs.size() == 1);
  CHECK(p.outputs[0].empty());
  NetMeshOsSnapshotEmitCtx s;
  net_meshos_snapshot_emit(&s, nullptr, 5);
  CHECK_FALSE(s.state);
  const uint8_t data[] = {1, 2};
  net_meshos_snapshot_emit(&s, data, 2);
  net_meshos_snapshot_emit(&s, data, 1);
  REQUIRE(s.state);
  CHECK(*s.state == Bytes{1, 2});
}

TEST_CASE("last error: NULL until an error, set by a failure, cleared by the next call, per thread") {
  net_meshos_clear_last_error();
  CHECK(net_meshos_last_error_kind() == nullptr);
  CHECK(net_meshos_last_error_message() == nullptr);

  CHECK(net_meshos_sdk_start(0, 0, 0, 0, 0, nullptr) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_argument");
  CHECK(last_message().find("out") != std::string::npos);

  // Another thread has its own, empty, last error.
  std::string other_kind = std::async(std::launch::async, [] {
                             const char* k = net_meshos_last_error_kind();
                             return std::string(k ? k : "<none>");
                           }).get();
  CHECK(other_kind == "<none>");
  CHECK(last_kind() == "invalid_argument");

  // A status call resets it on entry; a successful one leaves none.
  CRuntime rt;
  CHECK(net_meshos_last_error_kind() == nullptr);

  CHECK(net_meshos_sdk_shutdown(nullptr) == NET_MESHOS_ERR_NULL);
  CHECK(last_kind() == "invalid_argument");
  net_meshos_clear_last_error();
  CHECK(net_meshos_last_error_kind() == nullptr);
  CHECK(net_meshos_last_error_message() == nullptr);
}

TEST_CASE("sdk_start: zero picks the defaults - every given setting is applied") {
  NetMeshOsSdk* sdk = nullptr;
  REQUIRE(net_meshos_sdk_start(0, 0, 0, 0, 0, &sdk) == NET_MESHOS_OK);
  const meshos::MeshOsConfig defaults;
  CHECK(sdk->sdk->config().this_node == 0);
  CHECK(sdk->sdk->config().tick_interval == defaults.tick_interval);
  CHECK(sdk->sdk->config().event_queue_capacity == defaults.event_queue_capacity);
  CHECK(sdk->sdk->config().action_queue_capacity == defaults.action_queue_capacity);
  CHECK(sdk->sdk->config().control_capacity == defaults.control_capacity);
  net_meshos_sdk_free(sdk);

  sdk = nullptr;
  REQUIRE(net_meshos_sdk_start(7, 25, 100, 200, 3, &sdk) == NET_MESHOS_OK);
  CHECK(sdk->sdk->config().this_node == 7);
  CHECK(sdk->sdk->node_id() == 7);
  CHECK(sdk->sdk->config().tick_interval == 25ms);
  CHECK(sdk->sdk->config().event_queue_capacity == 100);
  CHECK(sdk->sdk->config().action_queue_capacity == 200);
  CHECK(sdk->sdk->config().control_capacity == 3);
  net_meshos_sdk_free(sdk);

  sdk = nullptr;
  CHECK(net_meshos_sdk_start(0, std::numeric_limits<uint64_t>::max(), 0, 0, 0, &sdk) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_config");
  CHECK(sdk == nullptr);
}

TEST_CASE("sdk_shutdown: once, then already_shutdown everywhere - dropped count UINT64_MAX afterwards") {
  NetMeshOsSdk* sdk = nullptr;
  REQUIRE(net_meshos_sdk_start(1, 10, 0, 0, 0, &sdk) == NET_MESHOS_OK);
  CHECK(net_meshos_sdk_dropped_control_events(sdk) == 0);
  CHECK(net_meshos_sdk_shutdown(sdk) == NET_MESHOS_OK);
  CHECK(net_meshos_sdk_shutdown(sdk) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
  CHECK(last_kind() == "already_shutdown");
  CHECK(net_meshos_sdk_dropped_control_events(sdk) == std::numeric_limits<uint64_t>::max());
  CHECK(net_meshos_sdk_dropped_control_events(nullptr) == std::numeric_limits<uint64_t>::max());
  const auto seed = seed_of(1);
  NetMeshOsHandle* h = nullptr;
  CHECK(net_meshos_register_daemon(sdk, "late", 4, seed.data(), &h) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
  CHECK(last_kind() == "already_shutdown");
  CHECK(h == nullptr);
  net_meshos_sdk_free(sdk);
  net_meshos_sdk_free(nullptr);
}

TEST_CASE("register_daemon: id from the seed, name kept - bad arguments refused without a handle") {
  CRuntime rt;
  const auto seed = seed_of(0x11);
  NetMeshOsHandle* h = nullptr;

  SUBCASE("the no-op daemon") {
    REQUIRE(net_meshos_register_daemon(rt.sdk, "noop", 4, seed.data(), &h) == NET_MESHOS_OK);
    CHECK(net_meshos_handle_daemon_id(h) == meshos::EntityKeypair::from_seed(seed).origin_hash());
    CHECK(std::string(net_meshos_handle_daemon_name(h)) == "noop");
    // It is really registered: the runtime shows it, and processing gives no outputs.
    const auto id = net_meshos_handle_daemon_id(h);
    CHECK(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) != 0; }));
    auto out = rt.cpp().process(id, causal(1, 1, Bytes{'x'}), kEventTimeout);
    REQUIRE(out);
    CHECK(out.value().empty());
    net_meshos_handle_free(h);
  }
  SUBCASE("a name is read by length, not up to a NUL") {
    REQUIRE(net_meshos_register_daemon(rt.sdk, "abcdef", 3, seed.data(), &h) == NET_MESHOS_OK);
    CHECK(std::string(net_meshos_handle_daemon_name(h)) == "abc");
    net_meshos_handle_free(h);
  }
  SUBCASE("the same id twice is register_failed") {
    REQUIRE(net_meshos_register_daemon(rt.sdk, "one", 3, seed.data(), &h) == NET_MESHOS_OK);
    NetMeshOsHandle* again = nullptr;
    CHECK(net_meshos_register_daemon(rt.sdk, "two", 3, seed.data(), &again) == NET_MESHOS_ERR_CALL_FAILED);
    CHECK(last_kind() == "register_failed");
    CHECK(again == nullptr);
    net_meshos_handle_free(h);
  }
  SUBCASE("NULL sdk, NULL or bad name, NULL seed, NULL out") {
    CHECK(net_meshos_register_daemon(nullptr, "x", 1, seed.data(), &h) == NET_MESHOS_ERR_NULL);
    CHECK(last_kind() == "invalid_argument");
    CHECK(net_meshos_register_daemon(rt.sdk, nullptr, 1, seed.data(), &h) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_kind() == "invalid_argument");
    CHECK(net_meshos_register_daemon(rt.sdk, "x", 0, seed.data(), &h) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_message().find("empty") != std::string::npos);
    CHECK(net_meshos_register_daemon(rt.sdk, "a\xff", 2, seed.data(), &h) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_message().find("UTF-8") != std::string::npos);
    CHECK(net_meshos_register_daemon(rt.sdk, "\xc0\xaf", 2, seed.data(), &h) == NET_MESHOS_ERR_INVALID_ARG);  // overlong
    CHECK(net_meshos_register_daemon(rt.sdk, "\xed\xa0\x80", 3, seed.data(), &h) == NET_MESHOS_ERR_INVALID_ARG);  // surrogate
    CHECK(net_meshos_register_daemon(rt.sdk, "a\0b", 3, seed.data(), &h) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_message().find("NUL") != std::string::npos);
    CHECK(net_meshos_register_daemon(rt.sdk, "x", 1, nullptr, &h) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(net_meshos_register_daemon(rt.sdk, "x", 1, seed.data(), nullptr) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_kind() == "invalid_argument");
    CHECK(h == nullptr);
    // Multi-byte UTF-8 is a fine name.
    REQUIRE(net_meshos_register_daemon(rt.sdk, "d\xc3\xa6mon", 6, seed.data(), &h) == NET_MESHOS_OK);
    CHECK(std::string(net_meshos_handle_daemon_name(h)) == "d\xc3\xa6mon");
    net_meshos_handle_free(h);
  }
}

TEST_CASE("register_daemon_with_vtable: NULL vtable or process refused - the callbacks run in the runtime") {
  CRuntime rt;
  Recorder rec;
  const auto seed = seed_of(0x22);
  NetMeshOsHandle* h = nullptr;
  NetMeshOsDaemonVtable vt{};
  CHECK(net_meshos_register_daemon_with_vtable(rt.sdk, "vt", 2, seed.data(), nullptr, &rec, &h) ==
        NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_argument");
  CHECK(net_meshos_register_daemon_with_vtable(rt.sdk, "vt", 2, seed.data(), &vt, &rec, &h) ==
        NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_message().find("process") != std::string::npos);
  CHECK(net_meshos_register_daemon_with_vtable(nullptr, "vt", 2, seed.data(), &vt, &rec, &h) == NET_MESHOS_ERR_NULL);
  CHECK(h == nullptr);

  vt = full_vtable();
  rec.health = NET_MESHOS_HEALTH_DEGRADED;
  rec.saturation = 0.25f;
  h = rt.add("vt", 0x22, vt, rec);
  vt.process = nullptr;  // the registration copied the vtable: this must not matter
  const auto id = net_meshos_handle_daemon_id(h);
  CHECK(id == meshos::EntityKeypair::from_seed(seed).origin_hash());

  SUBCASE("process through the runtime: outputs are what the callback emitted") {
    auto out = rt.cpp().process(id, causal(99, 5, Bytes{'a', 'b'}), kEventTimeout);
    REQUIRE(out);
    CHECK(out.value() == std::vector<Bytes>{Bytes{'a', 'b'}, Bytes{'!'}});
    std::lock_guard<std::mutex> lock(rec.mu);
    CHECK(rec.last_origin == 99);
    CHECK(rec.last_sequence == 5);
  }
  SUBCASE("process through the runtime: a failing callback is process_failed") {
    {
      std::lock_guard<std::mutex> lock(rec.mu);
      rec.process_status = 1;
    }
    auto out = rt.cpp().process(id, causal(99, 6, Bytes{'a'}), kEventTimeout);
    REQUIRE_FALSE(out);
    CHECK(out.error().code() == meshos::Errc::process_failed);
  }
  SUBCASE("health and saturation are polled and show in the snapshot") {
    CHECK(rec.wait_polled());
    auto snap = rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) {
      auto it = s.daemons.find(id);
      return it != s.daemons.end() && it->second.health &&
             std::holds_alternative<meshos::health::Degraded>(*it->second.health) &&
             it->second.saturation == 0.25f;
    });
    CHECK(snap != nullptr);
  }
  net_meshos_handle_free(h);
}

TEST_CASE("control events: none when quiet, on_control and next_control see shutdown and drain") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("ctl", 0x33, full_vtable(), rec);
  NetMeshOsDaemonControl c{};

  CHECK(net_meshos_try_next_control(nullptr, &c) == NET_MESHOS_ERR_NULL);
  CHECK(net_meshos_try_next_control(h, nullptr) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(net_meshos_next_control(nullptr, 1, &c) == NET_MESHOS_ERR_NULL);
  CHECK(net_meshos_next_control(h, 1, nullptr) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_argument");

  c.kind = -1;
  CHECK(net_meshos_try_next_control(h, &c) == NET_MESHOS_OK);
  CHECK(c.kind == NET_MESHOS_CONTROL_NONE);
  c.kind = -1;
  CHECK(net_meshos_next_control(h, 30, &c) == NET_MESHOS_OK);  // times out
  CHECK(c.kind == NET_MESHOS_CONTROL_NONE);

  SUBCASE("maintenance drain: DrainStart with the drain's grace, to on_control and next_control") {
    meshos::event::Admin enter{meshos::admin::EnterMaintenance{rt.cpp().node_id(), 60'000}};
    REQUIRE(rt.cpp().publish(meshos::MeshOsEvent{enter}));
    CHECK(net_meshos_next_control(h, std::chrono::milliseconds(kEventTimeout).count(), &c) == NET_MESHOS_OK);
    CHECK(c.kind == NET_MESHOS_CONTROL_DRAIN_START);
    CHECK(c.grace_period_ms > 0);
    CHECK(c.grace_period_ms <= 60'000);
    CHECK(rec.wait_control(NET_MESHOS_CONTROL_DRAIN_START).kind == NET_MESHOS_CONTROL_DRAIN_START);
  }
  SUBCASE("graceful_shutdown: on_control has seen Shutdown when it returns, the handle is retired") {
    const auto id = net_meshos_handle_daemon_id(h);
    REQUIRE(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) != 0; }));
    CHECK(net_meshos_graceful_shutdown(nullptr, 10) == NET_MESHOS_ERR_NULL);
    CHECK(net_meshos_graceful_shutdown(h, 2'000) == NET_MESHOS_OK);
    const auto seen = rec.wait_control(NET_MESHOS_CONTROL_SHUTDOWN);
    CHECK(seen.kind == NET_MESHOS_CONTROL_SHUTDOWN);
    CHECK(seen.grace_period_ms > 0);
    CHECK(seen.grace_period_ms <= 2'000);

    CHECK(net_meshos_graceful_shutdown(h, 2'000) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
    CHECK(last_kind() == "already_shutdown");
    CHECK(net_meshos_try_next_control(h, &c) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
    CHECK(net_meshos_next_control(h, 0, &c) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
    CHECK(net_meshos_publish_log(h, NET_MESHOS_LOG_INFO, "x", 1) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
    CHECK(net_meshos_publish_capabilities(h, nullptr, 0) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
    CHECK(net_meshos_metadata(h) == nullptr);
    CHECK(last_kind() == "already_shutdown");
    CHECK(net_meshos_refresh_metadata(h) == nullptr);
    CHECK(last_kind() == "already_shutdown");
    // Identity stays readable.
    CHECK(std::string(net_meshos_handle_daemon_name(h)) == "ctl");
    CHECK(net_meshos_handle_daemon_id(h) == meshos::EntityKeypair::from_seed(seed_of(0x33)).origin_hash());
    // And the daemon is gone from the runtime.
    CHECK(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) == 0; }));
  }
  SUBCASE("graceful_shutdown with 0 uses the default grace") {
    CHECK(net_meshos_graceful_shutdown(h, 0) == NET_MESHOS_OK);
    const auto seen = rec.wait_control(NET_MESHOS_CONTROL_SHUTDOWN);
    CHECK(seen.kind == NET_MESHOS_CONTROL_SHUTDOWN);
    CHECK(seen.grace_period_ms > 0);
    CHECK(seen.grace_period_ms <= static_cast<std::uint64_t>(meshos::kDefaultGracefulShutdown.count()));
  }
  net_meshos_handle_free(h);
}

TEST_CASE("a C daemon that takes its control events holds a drain until it acknowledges its Shutdown") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("acker", 0x44, full_vtable(), rec);
  NetMeshOsDaemonControl c{};
  CHECK(net_meshos_acknowledge_shutdown(nullptr) == NET_MESHOS_ERR_NULL);
  CHECK(net_meshos_try_next_control(h, &c) == NET_MESHOS_OK);  // it takes its control events itself
  const auto id = net_meshos_handle_daemon_id(h);
  REQUIRE(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) != 0; }));
  auto drained = rt.cpp().drain_async(std::chrono::seconds(60));
  const auto wait_ms = static_cast<std::uint64_t>(std::chrono::milliseconds(kEventTimeout).count());
  for (int i = 0; i < 8 && c.kind != NET_MESHOS_CONTROL_SHUTDOWN; ++i) {
    REQUIRE(net_meshos_next_control(h, wait_ms, &c) == NET_MESHOS_OK);
    REQUIRE(c.kind != NET_MESHOS_CONTROL_NONE);
  }
  REQUIRE(c.kind == NET_MESHOS_CONTROL_SHUTDOWN);
  CHECK(c.grace_period_ms > 30'000);  // the drain's deadline
  CHECK(drained.wait_for(std::chrono::milliseconds(100)) == std::future_status::timeout);  // still finishing
  CHECK(net_meshos_acknowledge_shutdown(h) == NET_MESHOS_OK);
  REQUIRE(drained.wait_for(kEventTimeout) == std::future_status::ready);
  auto verdict = drained.get();
  REQUIRE(verdict);
  CHECK(verdict->state == meshos::MaintenanceKind::Maintenance);
  CHECK(net_meshos_graceful_shutdown(h, 1'000) == NET_MESHOS_OK);
  CHECK(net_meshos_acknowledge_shutdown(h) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
  net_meshos_handle_free(h);
}

TEST_CASE("next_control without a time limit wakes on an event, and when the runtime stops") {
  NetMeshOsSdk* sdk = nullptr;
  REQUIRE(net_meshos_sdk_start(1, 10, 0, 0, 0, &sdk) == NET_MESHOS_OK);
  const auto seed = seed_of(0x44);
  NetMeshOsHandle* h = nullptr;
  REQUIRE(net_meshos_register_daemon(sdk, "waiter", 6, seed.data(), &h) == NET_MESHOS_OK);
  bool woke = false;
  {
    ForeverWaiter waiter(*sdk->sdk, h);
    const auto first = waiter.first();
    REQUIRE(first);
    CHECK(first->first == NET_MESHOS_OK);
    CHECK(first->second.kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
    REQUIRE(net_meshos_sdk_shutdown(sdk) == NET_MESHOS_OK);
    const auto second = waiter.second();
    woke = second.has_value();
    REQUIRE(second);
    CHECK(second->first == NET_MESHOS_OK);
    // A daemon that leaves without having heard Shutdown finds one last in its inbox: the wait ends on it.
    CHECK(second->second.kind == NET_MESHOS_CONTROL_SHUTDOWN);
  }
  if (woke) net_meshos_handle_free(h);
  net_meshos_sdk_free(sdk);
}
TEST_CASE("publish_log: every level reaches the node's log ring - bad level and message refused") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("logger", 0x55, process_only_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  const std::string msg = "hello from C";
  for (int level = NET_MESHOS_LOG_TRACE; level <= NET_MESHOS_LOG_ERROR; ++level) {
    CHECK(net_meshos_publish_log(h, level, msg.data(), msg.size()) == NET_MESHOS_OK);
  }
  CHECK(net_meshos_publish_log(h, NET_MESHOS_LOG_INFO, nullptr, 0) == NET_MESHOS_OK);  // empty message
  auto snap = rt.wait_snapshot([&](const meshos::MeshOsSnapshot& s) {
    int seen = 0;
    for (const auto& r : s.logs) {
      if (r.daemon_id == id && r.message == msg) ++seen;
    }
    return seen == 5;
  });
  CHECK(snap != nullptr);

  CHECK(net_meshos_publish_log(nullptr, NET_MESHOS_LOG_INFO, "x", 1) == NET_MESHOS_ERR_NULL);
  CHECK(net_meshos_publish_log(h, 5, "x", 1) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_log_level");
  CHECK(net_meshos_publish_log(h, -1, "x", 1) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_log_level");
  CHECK(net_meshos_publish_log(h, NET_MESHOS_LOG_INFO, nullptr, 4) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_argument");
  CHECK(net_meshos_publish_log(h, NET_MESHOS_LOG_INFO, "\xfe", 1) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_argument");
  net_meshos_handle_free(h);
}

TEST_CASE("publish_capabilities: tags show in the snapshot - malformed input publishes nothing") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("caps", 0x66, process_only_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  const std::string tags = R"(["hardware.gpu", "hardware.memory_gb=64"])";
  REQUIRE(net_meshos_publish_capabilities(h, tags.data(), tags.size()) == NET_MESHOS_OK);
  auto has_tags = [id](const meshos::MeshOsSnapshot& s) {
    auto it = s.daemons.find(id);
    return it != s.daemons.end() && it->second.capabilities.has("hardware.gpu") &&
           it->second.capabilities.value_of("hardware.memory_gb") == std::optional<std::string>("64");
  };
  CHECK(rt.wait_snapshot(has_tags) != nullptr);

  const std::string broken = R"(["hardware.gpu")";
  CHECK(net_meshos_publish_capabilities(h, broken.data(), broken.size()) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_capability");
  const std::string bad_tag = R"(["Not A Tag!"])";
  CHECK(net_meshos_publish_capabilities(h, bad_tag.data(), bad_tag.size()) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_capability");
  CHECK(net_meshos_publish_capabilities(h, "\xff", 1) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(last_kind() == "invalid_argument");
  CHECK(net_meshos_publish_capabilities(nullptr, nullptr, 0) == NET_MESHOS_ERR_NULL);

  // NULL / 0 publishes an empty set, replacing the tags.
  REQUIRE(net_meshos_publish_capabilities(h, nullptr, 0) == NET_MESHOS_OK);
  CHECK(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) {
    auto it = s.daemons.find(id);
    return it != s.daemons.end() && it->second.capabilities.tags.empty();
  }) != nullptr);
  net_meshos_handle_free(h);
}

TEST_CASE("publish_capabilities: 130000 nested brackets return an error instead of crashing the process") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("deep", 0x67, process_only_vtable(), rec);
  for (const std::string& deep : {std::string(130'000, '[') + std::string(130'000, ']'),
                                  std::string(130'000, '['), [] {
                                    std::string text;
                                    for (int i = 0; i < 50'000; ++i) text += "{\"a\":";  // under the size limit
                                    return text;
                                  }()}) {
    CHECK(net_meshos_publish_capabilities(h, deep.data(), deep.size()) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_kind() == "invalid_capability");
    CHECK(std::string(net_meshos_last_error_message()).find("nests deeper than the limit of 64 levels") !=
          std::string::npos);
  }
  // The handle still works afterwards.
  const std::string tags = R"(["zone=eu"])";
  CHECK(net_meshos_publish_capabilities(h, tags.data(), tags.size()) == NET_MESHOS_OK);
  net_meshos_handle_free(h);
}

TEST_CASE("metadata: JSON of the daemon's view, owned by the caller - refresh follows the runtime") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("meta", 0x77, process_only_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);

  auto j = take_json(net_meshos_metadata(h));
  CHECK(j.at("daemon_id").get<std::uint64_t>() == id);
  CHECK(j.at("daemon_name").get<std::string>() == "meta");
  CHECK(j.at("maintenance_state").at("kind").is_string());
  CHECK(j.at("peers").is_array());

  // Once the node is in maintenance, a refreshed view says so.
  meshos::event::Admin enter{meshos::admin::EnterMaintenance{rt.cpp().node_id(), 60'000}};
  REQUIRE(rt.cpp().publish(meshos::MeshOsEvent{enter}));
  REQUIRE(rt.wait_snapshot([](const meshos::MeshOsSnapshot& s) {
    return !std::holds_alternative<meshos::view::Active>(s.local_maintenance);
  }) != nullptr);
  j = take_json(net_meshos_refresh_metadata(h));
  CHECK(j.at("node_id").get<std::uint64_t>() == 0x42);
  CHECK(j.at("maintenance_state").at("kind").get<std::string>() != "active");
  // metadata() returns the view as last refreshed.
  CHECK(take_json(net_meshos_metadata(h)) == j);

  CHECK(net_meshos_metadata(nullptr) == nullptr);
  CHECK(last_kind() == "invalid_argument");
  CHECK(net_meshos_refresh_metadata(nullptr) == nullptr);
  CHECK(last_kind() == "invalid_argument");
  net_meshos_free_string(nullptr);
  net_meshos_handle_free(h);
}

TEST_CASE("a handle outliving its SDK fails cleanly instead of crashing") {
  NetMeshOsSdk* sdk = nullptr;
  REQUIRE(net_meshos_sdk_start(1, 10, 0, 0, 0, &sdk) == NET_MESHOS_OK);
  const auto seed = seed_of(0x88);
  NetMeshOsHandle* h = nullptr;
  REQUIRE(net_meshos_register_daemon(sdk, "orphan", 6, seed.data(), &h) == NET_MESHOS_OK);
  net_meshos_sdk_free(sdk);  // shuts the runtime down

  CHECK(net_meshos_publish_log(h, NET_MESHOS_LOG_INFO, "x", 1) == NET_MESHOS_ERR_CALL_FAILED);
  CHECK(last_kind() == "loop_closed");
  NetMeshOsDaemonControl c{};
  c.kind = -1;
  CHECK(net_meshos_next_control(h, 0, &c) == NET_MESHOS_OK);  // returns at once: the Shutdown it was left
  CHECK(c.kind == NET_MESHOS_CONTROL_SHUTDOWN);
  CHECK(net_meshos_next_control(h, 0, &c) == NET_MESHOS_OK);  // and then nothing, at once: nothing will ever come
  CHECK(c.kind == NET_MESHOS_CONTROL_NONE);
  char* json = net_meshos_metadata(h);
  CHECK(json != nullptr);
  net_meshos_free_string(json);
  net_meshos_handle_free(h);
}

TEST_CASE("a retired vtable daemon calls nothing: closing its gate stops every callback") {
  Recorder rec;
  rec.health = NET_MESHOS_HEALTH_UNHEALTHY;
  rec.saturation = 0.9f;
  auto gate = std::make_shared<meshos::capi::CallbackGate>();
  meshos::capi::VtableDaemon d("retired", full_vtable(), &rec, gate);
  gate->close();
  auto out = d.process(causal(1, 1, Bytes{'x'}));
  REQUIRE_FALSE(out);
  CHECK(out.error().code() == meshos::Errc::process_failed);
  CHECK_FALSE(d.snapshot());
  CHECK(std::holds_alternative<meshos::health::Healthy>(d.health()));
  CHECK(d.saturation() == 0.0f);
  d.on_control(meshos::Shutdown{1});
  CHECK(rec.payloads.empty());
  CHECK(rec.controls.empty());
  CHECK(rec.health_calls == 0);
  CHECK(rec.saturation_calls == 0);
}

TEST_CASE("after handle_free no callback runs, although the runtime keeps ticking") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("freed", 0x99, full_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  REQUIRE(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) != 0; }) != nullptr);
  REQUIRE(rec.wait_polled());
  net_meshos_handle_free(h);
  int health_calls;
  int saturation_calls;
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    health_calls = rec.health_calls;
    saturation_calls = rec.saturation_calls;
  }
  // Several more ticks, each of which would have polled a live daemon.
  const auto now = rt.cpp().snapshot();
  const std::uint64_t seen = now ? now->seq : 0;
  REQUIRE(rt.wait_snapshot([seen](const meshos::MeshOsSnapshot& s) { return s.seq >= seen + 5; }) != nullptr);
  std::lock_guard<std::mutex> lock(rec.mu);
  CHECK(rec.health_calls == health_calls);
  CHECK(rec.saturation_calls == saturation_calls);
}

TEST_CASE("handle_free waits for a callback in progress, so user_ctx may be released when it returns") {
  CRuntime rt;
  Recorder rec;
  rec.hold_controls = true;
  NetMeshOsHandle* h = rt.add("held", 0xdd, full_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  REQUIRE(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) != 0; }) != nullptr);
  rt.cpp().route(id, meshos::BackpressureOn{0.2f});
  REQUIRE(rec.wait_control(NET_MESHOS_CONTROL_BACKPRESSURE_ON).kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
  // The daemon's actor is now inside on_control. Free the handle meanwhile, from another thread.
  auto callback_done_when_freed = std::async(std::launch::async, [&rec, h] {
    net_meshos_handle_free(h);
    std::lock_guard<std::mutex> lock(rec.mu);
    return rec.on_control_returns == 1;
  });
  // The daemon is unregistered at once; only then is the callback let go.
  CHECK(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) == 0; }) != nullptr);
  rec.release_controls();
  REQUIRE(callback_done_when_freed.wait_for(kEventTimeout) == std::future_status::ready);
  CHECK(callback_done_when_freed.get());
}

TEST_CASE("graceful_shutdown from another thread wakes a thread waiting without a time limit") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("woken", 0xaa, full_vtable(), rec);
  bool woke = false;
  {
    ForeverWaiter waiter(rt.cpp(), h);
    const auto first = waiter.first();
    REQUIRE(first);
    CHECK(first->second.kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
    // Logging is not held up by the waiting thread.
    CHECK(net_meshos_publish_log(h, NET_MESHOS_LOG_INFO, "still here", 10) == NET_MESHOS_OK);
    CHECK(net_meshos_graceful_shutdown(h, 2'000) == NET_MESHOS_OK);
    const auto second = waiter.second();
    woke = second.has_value();
    REQUIRE(second);
    if (second->first == NET_MESHOS_ERR_ALREADY_SHUTDOWN) {
      // The waiter had not re-entered its wait before the shutdown: it must then be refused at once.
      CHECK(second->second.kind == -1);
    } else {
      CHECK(second->first == NET_MESHOS_OK);
      CHECK(second->second.kind == NET_MESHOS_CONTROL_SHUTDOWN);
    }
  }
  if (woke) net_meshos_handle_free(h);
}
TEST_CASE("routed control events reach on_control and next_control in the C wire form") {
  CRuntime rt;
  Recorder rec;
  NetMeshOsHandle* h = rt.add("routed", 0xbb, full_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  rt.cpp().route(id, meshos::BackpressureOn{0.5f});
  rt.cpp().route(id, meshos::BackpressureOff{});
  rt.cpp().broadcast(meshos::DrainFinish{});
  NetMeshOsDaemonControl c{};
  const auto wait_ms = static_cast<uint64_t>(std::chrono::milliseconds(kEventTimeout).count());
  REQUIRE(net_meshos_next_control(h, wait_ms, &c) == NET_MESHOS_OK);
  CHECK(c.kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
  CHECK(c.level == 0.5f);
  CHECK(c.grace_period_ms == 0);
  REQUIRE(net_meshos_next_control(h, wait_ms, &c) == NET_MESHOS_OK);
  CHECK(c.kind == NET_MESHOS_CONTROL_BACKPRESSURE_OFF);
  REQUIRE(net_meshos_next_control(h, wait_ms, &c) == NET_MESHOS_OK);
  CHECK(c.kind == NET_MESHOS_CONTROL_DRAIN_FINISH);
  CHECK(rec.wait_control(NET_MESHOS_CONTROL_DRAIN_FINISH).kind == NET_MESHOS_CONTROL_DRAIN_FINISH);
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    REQUIRE(rec.controls.size() == 3);
    CHECK(rec.controls[0].kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
    CHECK(rec.controls[0].level == 0.5f);
    CHECK(rec.controls[1].kind == NET_MESHOS_CONTROL_BACKPRESSURE_OFF);
    CHECK(rec.controls[2].kind == NET_MESHOS_CONTROL_DRAIN_FINISH);
  }
  // Not under rec.mu: handle_free waits for a callback in progress, and a health poll's callback takes rec.mu.
  net_meshos_handle_free(h);
}

TEST_CASE("control_capacity bounds what a busy daemon has outstanding - the excess is dropped and counted") {
  CRuntime rt(1);  // control_capacity 1: one event in flight to the actor, one waiting for next_control
  Recorder rec;
  rec.hold_controls = true;
  NetMeshOsHandle* h = rt.add("busy", 0xcc, full_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  CHECK(net_meshos_sdk_dropped_control_events(rt.sdk) == 0);
  rt.cpp().route(id, meshos::BackpressureOn{0.1f});  // the actor takes it and is held in on_control
  REQUIRE(rec.wait_control(NET_MESHOS_CONTROL_BACKPRESSURE_ON).kind == NET_MESHOS_CONTROL_BACKPRESSURE_ON);
  rt.cpp().route(id, meshos::BackpressureOff{});  // waits in the actor's mailbox: the one in flight
  rt.cpp().broadcast(meshos::DrainFinish{});       // beyond the bound: dropped
  CHECK(rt.wait_snapshot([](const meshos::MeshOsSnapshot& s) { return s.loop.control_dropped >= 1; }) != nullptr);
  rec.release_controls();
  CHECK(net_meshos_sdk_dropped_control_events(rt.sdk) == 1);
  // The daemon consumed the first two; what next_control keeps is bounded too (the newest stay), but
  // displacing a consumed event there is not a dropped control event.
  const auto wait_ms = static_cast<uint64_t>(std::chrono::milliseconds(kEventTimeout).count());
  std::vector<int> kinds;
  NetMeshOsDaemonControl c{};
  while (kinds.size() < 3 && net_meshos_next_control(h, wait_ms, &c) == NET_MESHOS_OK &&
         c.kind != NET_MESHOS_CONTROL_NONE) {
    kinds.push_back(c.kind);
    if (c.kind == NET_MESHOS_CONTROL_BACKPRESSURE_OFF) break;
  }
  REQUIRE_FALSE(kinds.empty());
  CHECK(kinds.back() == NET_MESHOS_CONTROL_BACKPRESSURE_OFF);
  CHECK(net_meshos_try_next_control(h, &c) == NET_MESHOS_OK);
  CHECK(c.kind == NET_MESHOS_CONTROL_NONE);
  CHECK(net_meshos_sdk_dropped_control_events(rt.sdk) == 1);
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    for (const auto& seen : rec.controls) CHECK(seen.kind != NET_MESHOS_CONTROL_DRAIN_FINISH);
  }
  net_meshos_handle_free(h);
}

namespace {

extern "C" void collect_output(void* ctx, const uint8_t* ptr, size_t len) {
  static_cast<std::vector<Bytes>*>(ctx)->emplace_back(ptr, ptr + len);
}

}  // namespace

TEST_CASE("deliver and process: a C caller gives work to a daemon by id or name and gets its outputs back") {
  CRuntime rt;
  Recorder rec;
  auto* h = rt.add("worker", 0x31, process_only_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  REQUIRE(rt.wait_snapshot([id](const meshos::MeshOsSnapshot& s) { return s.daemons.count(id) != 0; }));

  const uint8_t first[] = {'f', 'i', 'r', 's', 't'};
  CHECK(net_meshos_deliver(rt.sdk, id, nullptr, 0, first, sizeof first) == NET_MESHOS_OK);
  std::vector<Bytes> outputs;
  const uint8_t second[] = {'2'};
  REQUIRE(net_meshos_process(rt.sdk, 0, "worker", 6, second, sizeof second, 0, collect_output, &outputs) ==
          NET_MESHOS_OK);
  CHECK(outputs == std::vector<Bytes>{Bytes{'2'}, Bytes{'!'}});
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    // The deliver came first and was processed first.
    REQUIRE(rec.payloads.size() == 2);
    CHECK(rec.payloads[0] == Bytes(first, first + sizeof first));
    CHECK(rec.payloads[1] == Bytes{'2'});
  }
  // An empty payload and no output callback are fine.
  CHECK(net_meshos_process(rt.sdk, id, nullptr, 0, nullptr, 0, 1000, nullptr, nullptr) == NET_MESHOS_OK);

  CHECK(net_meshos_deliver(rt.sdk, 0, "nobody", 6, first, 1) == NET_MESHOS_ERR_CALL_FAILED);
  CHECK(last_kind() == "not_found");
  CHECK(net_meshos_deliver(rt.sdk, 0xDEAD, nullptr, 0, first, 1) == NET_MESHOS_ERR_CALL_FAILED);
  CHECK(last_kind() == "not_found");
  CHECK(net_meshos_deliver(rt.sdk, 0, nullptr, 0, first, 1) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(net_meshos_deliver(rt.sdk, id, nullptr, 0, nullptr, 3) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(net_meshos_deliver(nullptr, id, nullptr, 0, first, 1) == NET_MESHOS_ERR_NULL);
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    rec.process_status = 1;
  }
  CHECK(net_meshos_process(rt.sdk, id, nullptr, 0, first, 1, 1000, collect_output, &outputs) ==
        NET_MESHOS_ERR_CALL_FAILED);
  CHECK(last_kind() == "process_failed");

  net_meshos_handle_free(h);
  REQUIRE(net_meshos_sdk_shutdown(rt.sdk) == NET_MESHOS_OK);
  CHECK(net_meshos_deliver(rt.sdk, id, nullptr, 0, first, 1) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
}

TEST_CASE("a C node on the network: deliver and process reach a daemon on another node, by name or id") {
  const auto seed_a = meshos::bytes_to_hex(seed_of(0x71).data(), 32);
  const auto seed_b = meshos::bytes_to_hex(seed_of(0x72).data(), 32);
  const auto public_hex = [](std::uint8_t fill) {
    const auto key = meshos::EntityKeypair::from_seed(seed_of(fill)).public_key();
    return meshos::bytes_to_hex(key.data(), key.size());
  };
  nlohmann::json options{{"node_seed", seed_a},
                         {"members", {public_hex(0x71), public_hex(0x72)}},
                         {"tick_interval_ms", 10},
                         // Generous: the actor suite runs two at a time, and under ThreadSanitizer in CI; nothing
                         // here waits for a timeout.
                         {"heartbeat_interval_ms", 100},
                         {"peer_timeout_ms", 5000}};
  CRuntime a(options.dump());
  REQUIRE(net_meshos_node_port(a.sdk) != 0);
  options["node_seed"] = seed_b;
  options["peers"] = {"127.0.0.1:" + std::to_string(net_meshos_node_port(a.sdk))};
  CRuntime b(options.dump());

  Recorder rec;
  auto* h = a.add("worker", 0x31, process_only_vtable(), rec);
  const auto id = net_meshos_handle_daemon_id(h);
  const auto node_a = a.cpp().node_id();
  // Both ends admitted each other (a answers only an admitted peer's work) and b knows a's daemon.
  const auto node_b = b.cpp().node_id();
  REQUIRE(a.wait_snapshot([&](const meshos::MeshOsSnapshot& s) {
    auto peer = s.peers.find(node_b);
    return peer != s.peers.end() && peer->second.health == meshos::PeerHealth::Healthy && peer->second.rtt_ms;
  }));
  REQUIRE(b.wait_snapshot([&](const meshos::MeshOsSnapshot& s) {
    auto peer = s.peers.find(node_a);
    if (peer == s.peers.end()) return false;
    for (const auto& d : peer->second.daemons)
      if (d.id == id) return true;
    return false;
  }));
  const uint8_t first[] = {'h', 'i'};
  CHECK(net_meshos_deliver(b.sdk, 0, "worker", 6, first, sizeof first) == NET_MESHOS_OK);
  std::vector<Bytes> outputs;
  const uint8_t second[] = {'2'};
  const int processed = net_meshos_process(b.sdk, id, nullptr, 0, second, sizeof second, 5000, collect_output, &outputs);
  REQUIRE_MESSAGE(processed == NET_MESHOS_OK, last_kind());
  CHECK(outputs == std::vector<Bytes>{Bytes{'2'}, Bytes{'!'}});
  {
    std::lock_guard<std::mutex> lock(rec.mu);
    REQUIRE(rec.payloads.size() == 2);  // the deliver first: in order per sender and daemon
    CHECK(rec.payloads[0] == Bytes(first, first + sizeof first));
  }
  CHECK(net_meshos_deliver(b.sdk, 0, "nobody", 6, first, 1) == NET_MESHOS_ERR_CALL_FAILED);
  CHECK(last_kind() == "not_found");
  CHECK(net_meshos_node_port(nullptr) == 0);

  net_meshos_handle_free(h);
  REQUIRE(net_meshos_sdk_shutdown(b.sdk) == NET_MESHOS_OK);
  CHECK(net_meshos_deliver(b.sdk, id, nullptr, 0, first, 1) == NET_MESHOS_ERR_ALREADY_SHUTDOWN);
}

TEST_CASE("net_meshos_node_start refuses bad options with invalid_config, naming the field") {
  NetMeshOsSdk* sdk = nullptr;
  const auto refused = [&](const std::string& options, const std::string& field) {
    CHECK(net_meshos_node_start(options.data(), options.size(), &sdk) == NET_MESHOS_ERR_INVALID_ARG);
    CHECK(last_kind() == "invalid_config");
    CHECK(std::string(net_meshos_last_error_message()).find(field) != std::string::npos);
    CHECK(sdk == nullptr);
  };
  const auto seed = meshos::bytes_to_hex(seed_of(0x73).data(), 32);
  refused("[]", "options");
  refused("{}", "node_seed");
  refused(R"({"node_seed": "zz"})", "node_seed");
  refused(R"({"node_seed": ")" + seed + R"(", "listen_port": 70000})", "listen_port");
  refused(R"({"node_seed": ")" + seed + R"(", "peers": ["nowhere"]})", "peers");
  refused(R"({"node_seed": ")" + seed + R"(", "tls": {"certificate": "c.pem"}})", "tls.key");
  refused(R"({"node_seed": ")" + seed + R"(", "colour": "blue"})", "colour");
  CHECK(net_meshos_node_start(nullptr, 0, &sdk) == NET_MESHOS_ERR_INVALID_ARG);
  CHECK(net_meshos_node_start("{}", 2, nullptr) == NET_MESHOS_ERR_INVALID_ARG);
}
