#include "builtin_daemons.hpp"

#include <dlfcn.h>

#include "net_meshos_internal.hpp"

namespace meshos::apps {

Result<std::vector<Bytes>> EchoDaemon::process(const CausalEvent& ev) { return std::vector<Bytes>{ev.payload}; }

Result<std::vector<Bytes>> CounterDaemon::process(const CausalEvent&) {
  const std::string text = std::to_string(count_.fetch_add(1) + 1);
  return std::vector<Bytes>{Bytes(text.begin(), text.end())};
}

std::optional<Bytes> CounterDaemon::snapshot() const {
  const std::uint64_t n = count_.load();
  Bytes out(8);
  for (std::size_t i = 0; i < 8; ++i) out[i] = static_cast<std::uint8_t>(n >> (8 * i));
  return out;
}

Result<void> CounterDaemon::restore(const Bytes& state) {
  if (state.empty()) {
    count_ = 0;
    return ok();
  }
  if (state.size() != 8) {
    return DaemonError{DaemonErrorKind::RestoreFailed,
                       "counter '" + name_ + "': state has " + std::to_string(state.size()) + " bytes, expected 8"}
        .to_sdk_error();
  }
  std::uint64_t n = 0;
  for (std::size_t i = 0; i < 8; ++i) n |= static_cast<std::uint64_t>(state[i]) << (8 * i);
  count_ = n;
  return ok();
}

const std::vector<std::string>& builtin_daemon_kinds() {
  static const std::vector<std::string> kinds{"echo", "counter"};
  return kinds;
}

Result<std::unique_ptr<MeshDaemon>> make_builtin_daemon(const std::string& kind, const std::string& name) {
  if (kind == "echo") return std::unique_ptr<MeshDaemon>(std::make_unique<EchoDaemon>(name));
  if (kind == "counter") return std::unique_ptr<MeshDaemon>(std::make_unique<CounterDaemon>(name));
  return SdkError{Errc::invalid_config, "unknown built-in daemon \"" + kind + "\" (known: echo, counter)"};
}

namespace {

// Owns the plugin's user_ctx for exactly as long as the daemon exists; behaviour is the C SDK's adapter.
class PluginDaemon final : public MeshDaemon {
 public:
  PluginDaemon(const std::string& name, const NetMeshOsDaemonVtable& vtable, void* user_ctx,
               void (*destroy)(void*))
      : adapter_(name, vtable, user_ctx), user_ctx_(user_ctx), destroy_(destroy) {}
  ~PluginDaemon() override {
    if (destroy_ != nullptr) destroy_(user_ctx_);
  }
  PluginDaemon(const PluginDaemon&) = delete;
  PluginDaemon& operator=(const PluginDaemon&) = delete;

  std::string name() const override { return adapter_.name(); }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override { return adapter_.process(ev); }
  std::optional<Bytes> snapshot() const override { return adapter_.snapshot(); }
  Result<void> restore(const Bytes& state) override { return adapter_.restore(state); }
  bool is_stateful() const override { return adapter_.is_stateful(); }
  DaemonHealth health() const override { return adapter_.health(); }
  float saturation() const override { return adapter_.saturation(); }
  void on_control(const DaemonControl& control) override { adapter_.on_control(control); }

 private:
  capi::VtableDaemon adapter_;
  void* user_ctx_;
  void (*destroy_)(void*);
};

std::string stem_of(const std::string& path) {
  std::string file = path.substr(path.find_last_of('/') + 1);
  if (file.rfind("lib", 0) == 0) file = file.substr(3);
  const auto dot = file.find('.');
  return dot == std::string::npos ? file : file.substr(0, dot);
}

template <class F>
F symbol(void* lib, const char* name) {
  // POSIX guarantees that a data pointer from dlsym converts to a function pointer.
  return reinterpret_cast<F>(dlsym(lib, name));
}

}  // namespace

Result<std::shared_ptr<DaemonPlugin>> DaemonPlugin::open(const std::string& path) {
  // A bare file name would make dlopen search the library path; a plugin is always named by its file.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    return SdkError{Errc::invalid_plugin, "cannot load plugin " + path + ": " + (why ? why : "unknown error")};
  }
  auto vtable_of = symbol<const NetMeshOsDaemonVtable* (*)()>(lib, "meshos_plugin_vtable");
  if (vtable_of == nullptr) {
    dlclose(lib);
    return SdkError{Errc::invalid_plugin, "plugin " + path + " does not export meshos_plugin_vtable"};
  }
  const NetMeshOsDaemonVtable* vtable = vtable_of();
  if (vtable == nullptr || vtable->process == nullptr) {
    dlclose(lib);
    return SdkError{Errc::invalid_plugin, "plugin " + path + ": meshos_plugin_vtable() gives no process callback"};
  }
  std::shared_ptr<DaemonPlugin> plugin(new DaemonPlugin());
  plugin->path_ = path;
  plugin->vtable_ = *vtable;
  plugin->create_ = symbol<void* (*)()>(lib, "meshos_plugin_create");
  plugin->destroy_ = symbol<void (*)(void*)>(lib, "meshos_plugin_destroy");
  auto name_of = symbol<const char* (*)()>(lib, "meshos_plugin_name");
  const char* name = name_of != nullptr ? name_of() : nullptr;
  plugin->default_name_ = (name != nullptr && *name != '\0') ? std::string(name) : stem_of(path);
  return plugin;
}

std::unique_ptr<MeshDaemon> DaemonPlugin::make_daemon(const std::string& name) const {
  void* user_ctx = create_ != nullptr ? create_() : nullptr;
  return std::make_unique<PluginDaemon>(name, vtable_, user_ctx, destroy_);
}

}  // namespace meshos::apps
