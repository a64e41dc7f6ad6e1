#include "cluster.hpp"

#include <algorithm>
#include <set>

#include "meshos/ini.hpp"

namespace meshos::apps {

namespace {

SdkError invalid(std::string message) { return SdkError{"invalid_config", std::move(message)}; }

Result<void> positive(const std::string& value, std::chrono::milliseconds& out) {
  auto ms = parse_duration(value);
  if (!ms) return ms.error();
  if (ms->count() <= 0) return invalid("must be a positive duration");
  out = *ms;
  return ok();
}

Result<void> assign_cluster(ClusterDescription& c, const std::string& key, const std::string& value) {
  if (key == "meshosd" || key == "remote-meshosd") {
    auto s = parse_string(value);
    if (!s) return s.error();
    (key == "meshosd" ? c.meshosd : c.remote_meshosd) = *s;
    return ok();
  }
  if (key == "stop-timeout") return positive(value, c.stop_timeout);
  if (key == "restart-initial") return positive(value, c.restart_initial);
  if (key == "restart-max") return positive(value, c.restart_max);
  return invalid("unknown key \"" + key + "\" in [cluster]");
}

Result<void> assign_node(ClusterNode& n, const std::string& key, const std::string& value) {
  if (key == "host" || key == "config") {
    auto s = parse_string(value);
    if (!s) return s.error();
    if (s->empty()) return invalid(key + " is empty");
    (key == "host" ? n.host : n.config) = *s;
    return ok();
  }
  if (key == "port") {
    auto p = parse_uint(value);
    if (!p) return p.error();
    if (*p > 65535) return invalid("port " + std::to_string(*p) + " is out of range (0..65535)");
    n.port = static_cast<std::uint16_t>(*p);
    return ok();
  }
  if (key == "join") {
    auto list = parse_string_list(value);
    if (!list) return list.error();
    n.join = *list;
    return ok();
  }
  return invalid("unknown key \"" + key + "\" in [" + n.name + "]");
}

}  // namespace

Result<ClusterDescription> load_cluster_file(const std::string& path) {
  auto doc = parse_ini_file(path);
  if (!doc) {
    if (doc.error().kind == "config_not_found") return doc.error();
    return SdkError{doc.error().kind, path + ": " + doc.error().message};
  }
  ClusterDescription c;
  for (const auto& section : doc->sections) {
    if (section != "cluster") c.nodes.push_back(ClusterNode{section, "127.0.0.1", 0, "", {}});
  }
  for (const auto& e : doc->entries) {
    const std::string where = path + ": line " + std::to_string(e.line) + ": ";
    if (e.section.empty()) return invalid(where + "key \"" + e.key + "\" outside any [section]");
    Result<void> assigned = ok();
    if (e.section == "cluster") {
      assigned = assign_cluster(c, e.key, e.value);
    } else {
      auto node = std::find_if(c.nodes.begin(), c.nodes.end(), [&](const auto& n) { return n.name == e.section; });
      assigned = assign_node(*node, e.key, e.value);
    }
    if (!assigned) return invalid(where + assigned.error().message);
  }
  if (c.nodes.empty()) return invalid(path + ": no node sections");
  if (c.restart_initial > c.restart_max) return invalid(path + ": restart-initial must not exceed restart-max");
  std::set<std::string> names;
  for (const auto& n : c.nodes) names.insert(n.name);
  for (const auto& n : c.nodes) {
    if (n.config.empty()) return invalid(path + ": [" + n.name + "] has no config");
    for (const auto& j : n.join) {
      if (!names.count(j)) return invalid(path + ": [" + n.name + "] joins \"" + j + "\", which is not a node here");
      if (j == n.name) return invalid(path + ": [" + n.name + "] joins itself");
    }
  }
  // Joins must name earlier nodes: then start order is file order and there is no cycle to untangle.
  for (std::size_t i = 0; i < c.nodes.size(); ++i) {
    for (const auto& j : c.nodes[i].join) {
      auto it = std::find_if(c.nodes.begin(), c.nodes.end(), [&](const auto& n) { return n.name == j; });
      if (static_cast<std::size_t>(it - c.nodes.begin()) > i)
        return invalid(path + ": [" + c.nodes[i].name + "] joins \"" + j + "\", which comes later in the file");
    }
  }
  return c;
}

}  // namespace meshos::apps
