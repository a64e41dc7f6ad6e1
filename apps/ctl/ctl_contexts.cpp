#include "ctl_contexts.hpp"

#include <algorithm>
#include <cstdlib>

#include "strict_config.hpp"

namespace meshos::ctl {

namespace {

const std::vector<std::string> kPathOptions = {"tls-cert", "tls-key", "tls-ca", "key"};

// [ctl] is declared up front; every other section is a context, declared once the file names it.
class ContextsConfig : public apps::StrictConfig {
 public:
  ContextsConfig() : StrictConfig("meshos-ctl") {
    declare<std::string>("ctl", "context", "", "the context used when neither --context nor MESHOS_CONTEXT names one");
  }
  std::vector<std::string> contexts;
  std::vector<std::string> caf_sections;  // named like one of CAF's: not taken as contexts

 protected:
  void declare_sections_of_file(const std::vector<std::string>& sections) override {
    for (const auto& name : sections) {
      if (name == "ctl" || name == "global") continue;
      if (is_declared_section(name)) {
        caf_sections.push_back(name);
        continue;
      }
      contexts.push_back(name);
      declare<std::string>(name, "node", "", "the node's HOST:PORT (--node)");
      declare<std::string>(name, "tls-cert", "", "operator certificate, PEM (--tls-cert)");
      declare<std::string>(name, "tls-key", "", "its private key, PEM (--tls-key)");
      declare<std::string>(name, "tls-ca", "", "CA certificates the node's certificate is signed by (--tls-ca)");
      declare<std::string>(name, "key", "", "the operator key file commits are signed with (--key)");
      declare<std::string>(name, "cluster", "", "the cluster commits are for (--cluster)");
      declare<caf::timespan>(name, "timeout", caf::timespan{0}, "bound of the connection and each request (--timeout)");
      for (const auto& option : kPathOptions) mark_path(name + "." + option);
    }
  }
};

std::string env(const char* name) {
  const char* value = std::getenv(name);
  return value != nullptr ? value : "";
}

}  // namespace

const CtlContext* CtlConfigFile::find(const std::string& name) const {
  for (const auto& c : contexts)
    if (c.name == name) return &c;
  return nullptr;
}

const std::vector<std::string>& context_options() {
  static const std::vector<std::string> options = {"node", "tls-cert", "tls-key", "tls-ca", "key", "cluster", "timeout"};
  return options;
}

Result<CtlConfigFile> load_ctl_config(const std::string& path) {
  ContextsConfig config;
  if (auto loaded = config.load({}, path); !loaded) return loaded.error();
  CtlConfigFile file;
  file.path = path;
  file.current = config.text("ctl.context");
  for (const auto& name : config.contexts) {
    CtlContext context{name, {}};
    for (const auto& option : context_options()) {
      const std::string key = name + "." + option;
      if (!config.is_set(key)) continue;
      if (option == "timeout") {
        const auto timeout = config.duration(key);
        if (timeout.count() <= 0) config.report(key, "must be a positive duration");
        context.values[option] = std::to_string(timeout.count()) + "ms";
      } else {
        const bool is_path = std::find(kPathOptions.begin(), kPathOptions.end(), option) != kPathOptions.end();
        context.values[option] = is_path ? config.path(key) : config.text(key);
        if (context.values[option].empty()) config.report(key, "is empty (leave the key out instead)");
      }
    }
    file.contexts.push_back(std::move(context));
  }
  for (const auto& name : config.caf_sections)
    config.report(path + ": [" + name + "] is a section of CAF's, not a context name");
  if (!file.current.empty() && file.find(file.current) == nullptr)
    config.report("ctl.context", "\"" + file.current + "\" is not a context of this file");
  if (auto checked = config.verdict(); !checked) return checked.error();
  return file;
}

std::pair<std::string, bool> ctl_config_location() {
  if (auto chosen = env("MESHOS_CTL_CONFIG"); !chosen.empty()) return {chosen, true};
  if (auto xdg = env("XDG_CONFIG_HOME"); !xdg.empty()) return {xdg + "/meshos/ctl.conf", false};
  if (auto home = env("HOME"); !home.empty()) return {home + "/.config/meshos/ctl.conf", false};
  return {"", false};
}

}  // namespace meshos::ctl
