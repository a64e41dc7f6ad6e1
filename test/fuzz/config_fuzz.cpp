// Config files as meshosd and meshos-run read them: the layout scan of apps/config (lines, keys set twice,
// lists left open, nesting beyond what CAF's recursive reader survives) and CAF's own reader of the text,
// which only ever sees what the scan lets through; and MeshOsConfig's key=value overrides.
// (StrictConfig's option checks are left to test/unit/strict_config_test.cpp: built by clang, as here,
// CAF 0.17's config_option::check calls through a null pointer; noted in the session's closing note.)
#include <sstream>

#include <caf/actor_system_config.hpp>

#include "fuzz_support.hpp"
#include "meshos/config.hpp"
#include "strict_config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text = meshos::fuzz::text_of(data, size);
  const auto layout = meshos::apps::scan_config_layout(text);
  for (const auto& e : layout.entries)
    meshos::fuzz::require(e.line >= 1 && layout.line_of(e.section, e.key) == e.line, "a key's line is not where it was found");
  if (!layout.too_deep) {
    std::istringstream in(text);
    (void)caf::actor_system_config::parse_config(in);
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
