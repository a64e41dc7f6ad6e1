#include "cluster.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

#include "strict_config.hpp"

namespace meshos::apps {

namespace {

using caf::timespan;

// [cluster] is declared up front; each other section is a node, declared once the file names it.
class ClusterConfig : public StrictConfig {
 public:
  ClusterConfig() : StrictConfig("meshos-run") {
    const ClusterDescription defaults;
    declare<std::string>("cluster", "meshosd", "", "the program for local nodes (default: next to meshos-run, then PATH)");
    mark_path("cluster.meshosd");
    declare<std::string>("cluster", "remote-meshosd", defaults.remote_meshosd, "the program on remote hosts");
    declare<timespan>("cluster", "stop-timeout", defaults.stop_timeout, "SIGTERM to SIGKILL");
    declare<timespan>("cluster", "restart-initial", defaults.restart_initial, "first wait before restarting a node");
    declare<timespan>("cluster", "restart-max", defaults.restart_max, "longest wait before restarting a node");
  }
  std::vector<std::string> nodes;
  std::vector<std::string> caf_sections;  // sections named like one of CAF's: not taken as nodes

 protected:
  void declare_sections_of_file(const std::vector<std::string>& sections) override {
    for (const auto& name : sections) {
      if (name == "cluster" || name == "global") continue;
      if (is_declared_section(name)) {
        caf_sections.push_back(name);
        continue;
      }
      nodes.push_back(name);
      const ClusterNode defaults;
      declare<std::string>(name, "host", defaults.host, "loopback: a child process; other hosts: through ssh");
      declare<std::uint16_t>(name, "port", defaults.port, "passed as --node.listen-port (0: learned)");
      declare<std::string>(name, "config", "", "the node's meshosd config");
      declare<std::vector<std::string>>(name, "join", {}, "earlier nodes to join (passed as --node.peers)");
    }
  }
};

}  // namespace

Result<ClusterDescription> load_cluster_file(const std::string& path, const std::vector<std::string>& overrides) {
  ClusterConfig config;
  auto loaded = config.load(overrides, path);
  if (!loaded) return loaded.error();
  auto problem = [&](const std::string& name, const std::string& what) { config.report(name, what); };
  ClusterDescription c;
  c.meshosd = config.path("cluster.meshosd");
  c.remote_meshosd = config.text("cluster.remote-meshosd");
  for (auto [name, field] : {std::pair{"cluster.stop-timeout", &c.stop_timeout},
                             std::pair{"cluster.restart-initial", &c.restart_initial},
                             std::pair{"cluster.restart-max", &c.restart_max}}) {
    *field = config.duration(name);
    if (field->count() <= 0) problem(name, "must be a positive duration");
  }
  if (c.restart_initial > c.restart_max) problem("cluster.restart-initial", "must not exceed restart-max");

  for (const auto& name : config.nodes) {
    ClusterNode n;
    n.name = name;
    n.host = config.text(name + ".host");
    n.port = static_cast<std::uint16_t>(config.count(name + ".port"));
    n.join = config.texts(name + ".join");
    // A remote node's config is a path on that host, as written.
    n.config = n.is_local() ? config.path(name + ".config") : config.text(name + ".config");
    if (n.host.empty()) problem(name + ".host", "is empty");
    if (n.config.empty()) problem(name + ".config", "is required (the node's meshosd config)");
    c.nodes.push_back(std::move(n));
  }
  for (const auto& name : config.caf_sections) config.report(path + ": [" + name + "] is a section of CAF's, not a node name");
  if (c.nodes.empty() && config.caf_sections.empty()) config.report(path + ": no node sections");
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    const auto& n = c.nodes[i];
    for (const auto& j : n.join) {
      auto it = std::find_if(c.nodes.begin(), c.nodes.end(), [&](const auto& other) { return other.name == j; });
      // Joins name earlier nodes: then start order is file order and there is no cycle to untangle.
      if (j == n.name) {
        problem(n.name + ".join", "a node cannot join itself");
      } else if (it == c.nodes.end()) {
        problem(n.name + ".join", "\"" + j + "\" is not a node here");
      } else if (static_cast<std::size_t>(it - c.nodes.begin()) > i) {
        problem(n.name + ".join", "\"" + j + "\" comes later in the file (join earlier nodes)");
      }
    }
  }
  if (auto checked = config.verdict(); !checked) return checked.error();
  return c;
}

}  // namespace meshos::apps
