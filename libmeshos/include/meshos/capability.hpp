#pragma once
// Library: meshos_core.
// What a node or daemon offers (tags + metadata) and what a daemon requires (a filter).
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos {

// Tags look like "hardware.gpu" or "hardware.memory_gb=64": dotted lowercase words [a-z0-9_-], with an
// optional "=value" ([A-Za-z0-9_.:-]+), at most 128 characters.
bool is_valid_capability_tag(const std::string& tag);

struct CapabilitySet {
  std::set<std::string> tags;
  std::map<std::string, std::string> metadata;

  bool has(const std::string& tag) const { return tags.count(tag) != 0; }
  // Value of "name=value" tags (e.g. value_of("hardware.memory_gb") -> "64").
  std::optional<std::string> value_of(const std::string& name) const;
  std::optional<std::uint64_t> memory_gb() const;  // from "hardware.memory_gb=N"
  bool has_gpu() const;                             // "hardware.gpu" or "hardware.gpu=..."
  bool operator==(const CapabilitySet& o) const { return tags == o.tags && metadata == o.metadata; }
};

// Limits on what a capability publication may carry.
inline constexpr std::size_t kMaxCapabilityTags = 256;
inline constexpr std::size_t kMaxCapabilityMetadata = 64;
inline constexpr std::size_t kMaxCapabilityMetadataValue = 1024;

// Builds a set from tags, rejecting the whole input (kind "invalid_capability") on any bad tag or
// when over the limits.
Result<CapabilitySet> make_capability_set(const std::vector<std::string>& tags,
                                          const std::map<std::string, std::string>& metadata = {});
// Accepts a JSON array of tag strings, or an object {"tags": [...], "metadata": {...}}.
Result<CapabilitySet> capability_set_from_json(const nlohmann::json& j);
Result<CapabilitySet> capability_set_from_json_text(const std::string& text);
void to_json(nlohmann::json& j, const CapabilitySet& c);

struct CapabilityFilter {
  std::set<std::string> required_tags;       // all must be present
  std::optional<std::uint64_t> min_memory_gb;
  bool gpu_required = false;

  bool matches(const CapabilitySet& caps) const;  // the default filter matches everything
};

void to_json(nlohmann::json& j, const CapabilityFilter& f);

// What a node tells its peers about each of its daemons, so that every node can answer "which daemons, on
// which nodes, offer this" (the cluster-wide capability view).
struct DaemonDescription {
  DaemonId id = 0;
  std::string name;
  CapabilitySet capabilities;
  bool running = false;
  bool operator==(const DaemonDescription& o) const {
    return id == o.id && name == o.name && capabilities == o.capabilities && running == o.running;
  }
};
inline constexpr std::size_t kMaxDescribedDaemons = 1024;

void to_json(nlohmann::json& j, const DaemonDescription& d);  // {"id": hex, "name", "capabilities", "running"}
// A JSON array of descriptions, at most kMaxDescribedDaemons, each checked like a capability publication.
// Kind "invalid_daemon_descriptions".
Result<std::vector<DaemonDescription>> daemon_descriptions_from_json(const nlohmann::json& j);
// The same from text a peer sent, within json_limits::kDaemonDescriptions.
Result<std::vector<DaemonDescription>> daemon_descriptions_from_json_text(const std::string& text);

}  // namespace meshos
