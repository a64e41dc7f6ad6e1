#pragma once
// What lies behind the opaque types of net_meshos.h. Private to the C SDK and its in-process tests, which
// reach the C++ SDK underneath a NetMeshOsSdk to drive the parts the C surface has no entry for (process).
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "detail/shutdown_gate.hpp"
#include "meshos/meshos.hpp"
#include "meshos/node.hpp"
// The C SDK's functions are the shared library's (and meshosd's, for plugins) exports, while every other
// C++ symbol is hidden (CMakeLists.txt says why).
#pragma GCC visibility push(default)
#include "net_meshos.h"
#pragma GCC visibility pop

struct NetMeshOsProcessEmitCtx {
  std::vector<meshos::Bytes> outputs;
};

struct NetMeshOsSnapshotEmitCtx {
  std::optional<meshos::Bytes> state;  // the first emit wins
};

struct NetMeshOsSdk {
  std::mutex mu;
  std::optional<meshos::MeshOsDaemonSdk> own;  // net_meshos_sdk_start: a runtime off the network
  std::unique_ptr<meshos::MeshNode> node;      // net_meshos_node_start: a node on the network
  meshos::MeshOsDaemonSdk* sdk = nullptr;      // the runtime of either; null once shut down
};

namespace meshos::capi {

// Lets the C layer promise that no callback of a daemon runs once its handle is retired, although the
// daemon's actor stops asynchronously: every callback runs inside the daemon's gate, and retiring closes it
// and waits for a callback in progress (not for one the retiring thread is in: a callback retiring its own
// daemon cannot deadlock).
using CallbackGate = detail::ShutdownGate;

template <class R, class F>
R call_inside(CallbackGate& gate, R if_closed, F&& callback) {
  auto hold = gate.try_enter();
  if (!hold) return if_closed;
  return callback();
}

inline void retire(CallbackGate& gate) {
  gate.close();
  gate.wait();
}

}  // namespace meshos::capi

struct NetMeshOsHandle {
  NetMeshOsHandle(meshos::MeshOsDaemonHandle h, std::shared_ptr<meshos::capi::CallbackGate> callback_gate)
      : handle(std::make_shared<meshos::MeshOsDaemonHandle>(std::move(h))),
        gate(std::move(callback_gate)),
        daemon_id(handle->daemon_id()),
        daemon_name(handle->daemon_name()) {}
  // Unregisters the daemon (if still registered), then waits out any callback still running.
  ~NetMeshOsHandle() {
    handle.reset();
    if (gate) meshos::capi::retire(*gate);
  }
  NetMeshOsHandle(const NetMeshOsHandle&) = delete;
  NetMeshOsHandle& operator=(const NetMeshOsHandle&) = delete;

  // Guards `handle` itself and the C++ handle's metadata view. The C++ handle's other operations are
  // thread-safe, so calls copy the pointer and run unlocked: a thread blocked in next_control must not
  // stop another from publishing or from shutting the daemon down (which wakes the waiter).
  std::mutex mu;
  std::shared_ptr<meshos::MeshOsDaemonHandle> handle;  // null once graceful_shutdown consumed it
  const std::shared_ptr<meshos::capi::CallbackGate> gate;  // null for the no-op daemon: it has no callbacks
  // Kept apart from the handle: both stay readable after graceful_shutdown and need no lock.
  const std::uint64_t daemon_id;
  const std::string daemon_name;
};

namespace meshos::capi {

NetMeshOsDaemonControl to_c_control(const DaemonControl& control);
// Unknown values count as unhealthy: a daemon reporting garbage is not one to route work to.
DaemonHealth health_from_c(int health);

// A MeshDaemon whose behaviour is a C vtable.
class VtableDaemon final : public MeshDaemon {
 public:
  VtableDaemon(std::string name, const NetMeshOsDaemonVtable& vtable, void* user_ctx,
               std::shared_ptr<CallbackGate> gate = std::make_shared<CallbackGate>())
      : name_(std::move(name)), vtable_(vtable), user_ctx_(user_ctx), gate_(std::move(gate)) {}

  std::string name() const override { return name_; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override;
  std::optional<Bytes> snapshot() const override;
  Result<void> restore(const Bytes& state) override;
  bool is_stateful() const override { return vtable_.snapshot != nullptr; }
  DaemonHealth health() const override;
  float saturation() const override;
  void on_control(const DaemonControl& control) override;

 private:
  std::string name_;
  NetMeshOsDaemonVtable vtable_;
  void* user_ctx_;
  std::shared_ptr<CallbackGate> gate_;
};

// What net_meshos_register_daemon registers: a daemon with no behaviour of its own.
class NoopDaemon final : public MeshDaemon {
 public:
  explicit NoopDaemon(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Result<std::vector<Bytes>> process(const CausalEvent&) override { return std::vector<Bytes>{}; }

 private:
  std::string name_;
};

}  // namespace meshos::capi
