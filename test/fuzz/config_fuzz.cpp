// Config files ([meshos] section) and command-line overrides (key=value).
#include "fuzz_support.hpp"
#include "meshos/config.hpp"
#include "meshos/ini.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = meshos::fuzz::text_of(data, size);
  auto doc = meshos::parse_ini(text);
  if (doc) {
    auto config = meshos::config_from_ini(*doc);
    if (config) meshos::fuzz::require(static_cast<bool>(config->validate()), "an accepted config breaks its invariants");
    // The value parsers every config reader shares, on every value the file holds.
    for (const auto& entry : doc->entries) {
      (void)meshos::parse_string_list(entry.value);
      (void)meshos::parse_duration(entry.value);
      (void)meshos::parse_bool(entry.value);
    }
  }
  meshos::MeshOsConfig overridden;
  const meshos::MeshOsConfig before = overridden;
  if (!overridden.apply_override(text)) {
    meshos::fuzz::require(nlohmann::json(overridden) == nlohmann::json(before), "a refused override changed the config");
  } else {
    meshos::fuzz::require(static_cast<bool>(overridden.validate()), "an accepted override breaks the invariants");
  }
  return 0;
}
