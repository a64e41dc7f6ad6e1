#pragma once
// The example daemons a node can host by name, and C daemons loaded from plugin libraries.
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "meshos/daemon.hpp"
#include "meshos/result.hpp"
#include "net_meshos.h"

namespace meshos::apps {

// Answers every event with its own payload.
class EchoDaemon final : public MeshDaemon {
 public:
  explicit EchoDaemon(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override;

 private:
  std::string name_;
};

// Counts the events it processed and answers each with the new count as decimal text. The count survives
// a restart through snapshot/restore (8 bytes, little-endian).
class CounterDaemon final : public MeshDaemon {
 public:
  explicit CounterDaemon(std::string name) : name_(std::move(name)) {}
  std::string name() const override { return name_; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override;
  std::optional<Bytes> snapshot() const override;
  // Empty bytes: a fresh counter. Anything but 0 or 8 bytes: restore_failed.
  Result<void> restore(const Bytes& state) override;
  bool is_stateful() const override { return true; }
  std::uint64_t count() const { return count_.load(); }

 private:
  std::string name_;
  std::atomic<std::uint64_t> count_{0};
};

// "echo", "counter".
const std::vector<std::string>& builtin_daemon_kinds();
// Kind "invalid_config" for an unknown kind.
Result<std::unique_ptr<MeshDaemon>> make_builtin_daemon(const std::string& kind, const std::string& name);

// A C daemon library opened with dlopen. It exports
//   const NetMeshOsDaemonVtable* meshos_plugin_vtable(void);   (required)
//   const char* meshos_plugin_name(void);                        (optional: the daemon's default name)
//   void* meshos_plugin_create(void);                            (optional: a user_ctx per daemon)
//   void meshos_plugin_destroy(void* user_ctx);                  (optional, with create)
// The library is never closed: daemon callbacks may still be referenced by actors until the process ends.
class DaemonPlugin {
 public:
  // Kind "invalid_plugin": cannot be opened, or the vtable entry point is missing or returns a vtable
  // without `process`.
  static Result<std::shared_ptr<DaemonPlugin>> open(const std::string& path);

  const std::string& path() const { return path_; }
  // meshos_plugin_name(), or the file name without "lib" and extension.
  const std::string& default_name() const { return default_name_; }
  // A daemon driving the plugin's vtable with a fresh user_ctx (destroyed with the daemon).
  std::unique_ptr<MeshDaemon> make_daemon(const std::string& name) const;

 private:
  DaemonPlugin() = default;
  std::string path_;
  std::string default_name_;
  NetMeshOsDaemonVtable vtable_{};
  void* (*create_)() = nullptr;
  void (*destroy_)(void*) = nullptr;
};

}  // namespace meshos::apps
