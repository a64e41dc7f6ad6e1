#include "meshos/capability.hpp"

#include <nlohmann/json.hpp>

#include "json_read.hpp"
#include "meshos/untrusted_json.hpp"
#include "meshos/utf8.hpp"
#include "text.hpp"

namespace meshos {
namespace {

constexpr std::size_t kMaxTagLength = 128;
constexpr std::size_t kMaxMetadataKeyLength = 128;
// Tags and keys are quoted in error messages up to the length of the longest valid one, never more.
constexpr std::size_t kMaxQuotedBytes = kMaxTagLength;
constexpr const char* kMemoryTag = "hardware.memory_gb";
constexpr const char* kGpuTag = "hardware.gpu";

SdkError invalid(std::string message) { return SdkError{Errc::invalid_capability, std::move(message)}; }

bool is_name_char(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-'; }

bool is_value_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '.' ||
         c == ':' || c == '-';
}

// Digits only, no overflow.
std::optional<std::uint64_t> parse_count(const std::string& text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  return value;
}

std::string name_of(const std::string& tag) { return tag.substr(0, tag.find('=')); }


}  // namespace

bool is_valid_capability_tag(const std::string& tag) {
  if (tag.empty() || tag.size() > kMaxTagLength) return false;
  std::size_t eq = tag.find('=');
  std::string name = tag.substr(0, eq);
  // Dotted words: no empty word, so no leading, trailing or doubled dot.
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '.') {
      if (name[i - 1] == '.') return false;
    } else if (!is_name_char(c)) {
      return false;
    }
  }
  if (eq == std::string::npos) return true;
  std::string value = tag.substr(eq + 1);
  if (value.empty()) return false;
  for (char c : value) {
    if (!is_value_char(c)) return false;
  }
  return true;
}

std::optional<std::string> CapabilitySet::value_of(const std::string& name) const {
  const std::string prefix = name + "=";
  auto it = tags.lower_bound(prefix);
  if (it == tags.end() || it->compare(0, prefix.size(), prefix) != 0) return std::nullopt;
  return it->substr(prefix.size());
}

std::optional<std::uint64_t> CapabilitySet::memory_gb() const {
  auto value = value_of(kMemoryTag);
  if (!value) return std::nullopt;
  return parse_count(*value);
}

bool CapabilitySet::has_gpu() const { return has(kGpuTag) || value_of(kGpuTag).has_value(); }

Result<CapabilitySet> make_capability_set(const std::vector<std::string>& tags,
                                          const std::map<std::string, std::string>& metadata) {
  if (tags.size() > kMaxCapabilityTags) {
    return invalid(std::to_string(tags.size()) + " tags exceed the limit of " + std::to_string(kMaxCapabilityTags));
  }
  if (metadata.size() > kMaxCapabilityMetadata) {
    return invalid(std::to_string(metadata.size()) + " metadata entries exceed the limit of " +
                   std::to_string(kMaxCapabilityMetadata));
  }
  CapabilitySet set;
  std::map<std::string, std::string> value_by_name;
  for (const auto& tag : tags) {
    if (!is_valid_capability_tag(tag)) {
      return invalid("invalid capability tag " + quoted_prefix(tag, kMaxQuotedBytes) +
                     " (dotted lowercase words [a-z0-9_-], optional =value [A-Za-z0-9_.:-], at most 128 chars)");
    }
    // One value per name, or value_of() and the filters would have to guess.
    std::size_t eq = tag.find('=');
    if (eq != std::string::npos) {
      auto [it, inserted] = value_by_name.emplace(name_of(tag), tag.substr(eq + 1));
      if (!inserted && it->second != tag.substr(eq + 1)) {
        return invalid("capability '" + it->first + "' given twice with different values ('" + it->second +
                       "' and '" + tag.substr(eq + 1) + "')");
      }
    }
    set.tags.insert(tag);
  }
  auto memory = value_by_name.find(kMemoryTag);
  if (memory != value_by_name.end() && !parse_count(memory->second)) {
    return invalid(std::string(kMemoryTag) + " needs a whole number of GB, got '" + memory->second + "'");
  }
  for (const auto& [key, value] : metadata) {
    if (key.empty() || key.size() > kMaxMetadataKeyLength) {
      return invalid("metadata key must be 1 to " + std::to_string(kMaxMetadataKeyLength) + " bytes long");
    }
    if (!is_valid_utf8(key) || !is_valid_utf8(value)) return invalid("metadata must be valid UTF-8");
    if (value.size() > kMaxCapabilityMetadataValue) {
      return invalid("metadata value of '" + key + "' is " + std::to_string(value.size()) +
                     " bytes, over the limit of " + std::to_string(kMaxCapabilityMetadataValue));
    }
  }
  set.metadata = metadata;
  return set;
}

Result<CapabilitySet> capability_set_from_json(const nlohmann::json& j) {
  const nlohmann::json* tags_json = &j;
  const nlohmann::json* metadata_json = nullptr;
  if (j.is_object()) {
    for (const auto& item : j.items()) {
      if (item.key() != "tags" && item.key() != "metadata") {
        return invalid("unknown field " + quoted_prefix(item.key(), kMaxQuotedBytes) +
                       " in capabilities (expected \"tags\" and \"metadata\")");
      }
    }
    tags_json = json_read::field(j, "tags");
    metadata_json = json_read::field(j, "metadata");
  } else if (!j.is_array()) {
    return invalid("capabilities must be a JSON array of tags or an object {\"tags\": [...], \"metadata\": {...}}");
  }

  std::vector<std::string> tags;
  if (tags_json) {
    if (!tags_json->is_array()) return invalid("\"tags\" must be an array of strings");
    if (tags_json->size() > kMaxCapabilityTags) {
      return invalid(std::to_string(tags_json->size()) + " tags exceed the limit of " +
                     std::to_string(kMaxCapabilityTags));
    }
    for (const auto& tag : *tags_json) {
      // The type only: dump() of an untrusted value could recurse as deep as the value nests.
      if (!tag.is_string()) return invalid(std::string("every tag must be a string, got ") + tag.type_name());
      tags.push_back(tag.get<std::string>());
    }
  }
  std::map<std::string, std::string> metadata;
  if (metadata_json && !metadata_json->is_null()) {
    if (!metadata_json->is_object()) return invalid("\"metadata\" must be an object of strings");
    if (metadata_json->size() > kMaxCapabilityMetadata) {
      return invalid(std::to_string(metadata_json->size()) + " metadata entries exceed the limit of " +
                     std::to_string(kMaxCapabilityMetadata));
    }
    for (const auto& item : metadata_json->items()) {
      if (!item.value().is_string())
        return invalid("metadata value of " + quoted_prefix(item.key(), kMaxQuotedBytes) + " must be a string");
      metadata.emplace(item.key(), item.value().get<std::string>());
    }
  }
  return make_capability_set(tags, metadata);
}

Result<CapabilitySet> capability_set_from_json_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kCapabilities, Errc::invalid_capability, "capabilities");
  if (!j) return j.error();
  return capability_set_from_json(*j);
}

void to_json(nlohmann::json& j, const CapabilitySet& c) {
  j = nlohmann::json{{"tags", c.tags}, {"metadata", c.metadata}};
}

bool CapabilityFilter::matches(const CapabilitySet& caps) const {
  for (const auto& tag : required_tags) {
    if (!caps.has(tag)) return false;
  }
  if (min_memory_gb) {
    auto memory = caps.memory_gb();
    if (!memory || *memory < *min_memory_gb) return false;
  }
  return !gpu_required || caps.has_gpu();
}

void to_json(nlohmann::json& j, const CapabilityFilter& f) {
  j = nlohmann::json{{"required_tags", f.required_tags},
                     {"min_memory_gb", f.min_memory_gb ? nlohmann::json(*f.min_memory_gb) : nlohmann::json(nullptr)},
                     {"gpu_required", f.gpu_required}};
}

void to_json(nlohmann::json& j, const DaemonDescription& d) {
  j = nlohmann::json{{"id", to_hex(d.id)}, {"name", d.name}, {"capabilities", d.capabilities}, {"running", d.running}};
}

Result<std::vector<DaemonDescription>> daemon_descriptions_from_json(const nlohmann::json& j) {
  auto bad = [](const std::string& why) { return SdkError{Errc::invalid_daemon_descriptions, why}; };
  if (!j.is_array()) return bad("daemon descriptions must be a JSON array");
  if (j.size() > kMaxDescribedDaemons)
    return bad(std::to_string(j.size()) + " daemons exceed the limit of " + std::to_string(kMaxDescribedDaemons));
  std::vector<DaemonDescription> out;
  for (const auto& item : j) {
    const auto where = "daemon " + std::to_string(out.size());
    if (!item.is_object()) return bad(where + ": expected an object");
    const auto* id = json_read::field(item, "id");
    const auto* name = json_read::field(item, "name");
    const auto* caps = json_read::field(item, "capabilities");
    const auto* running = json_read::field(item, "running");
    DaemonDescription d;
    if (!id || !id->is_string() || !parse_hex_u64(id->get<std::string>(), d.id) || d.id == 0)
      return bad(where + ": \"id\" must be a non-zero hex id");
    if (!name || !name->is_string() || name->get<std::string>().size() > 256)
      return bad(where + ": \"name\" must be a string of at most 256 bytes");
    d.name = name->get<std::string>();
    if (caps) {
      auto set = capability_set_from_json(*caps);
      if (!set) return bad(where + ": " + set.error().message);
      d.capabilities = std::move(*set);
    }
    if (running) {
      if (!running->is_boolean()) return bad(where + ": \"running\" must be true or false");
      d.running = running->get<bool>();
    }
    out.push_back(std::move(d));
  }
  return out;
}

Result<std::vector<DaemonDescription>> daemon_descriptions_from_json_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kDaemonDescriptions, Errc::invalid_daemon_descriptions,
                                "daemon descriptions");
  if (!j) return j.error();
  return daemon_descriptions_from_json(*j);
}

}  // namespace meshos
