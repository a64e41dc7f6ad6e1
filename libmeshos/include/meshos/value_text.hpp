#pragma once
// Library: meshos_core.
// Values as CAF's config dialect writes them ("250ms", "\"quoted\"", ["a", "b"]), for every reader of
// config text that is not CAF itself: MeshOsConfig::set, meshos-ctl's arguments, the C SDK's overrides.
// Config files are read by CAF (apps/config); these parsers take single values.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "meshos/result.hpp"
#include "meshos/time.hpp"

namespace meshos {

// Kind "invalid_config" on bad input.
Result<std::uint64_t> parse_uint(const std::string& text);
Result<bool> parse_bool(const std::string& text);
// "250ms", "10s", "5min" (or "5m"), "1h", "1500us", "2ns"; a bare number is rejected (unit required).
Result<Millis> parse_duration(const std::string& text);
// A "quoted" or bare string; quotes removed, \" and \\ unescaped (and CAF's \n, \r, \t).
Result<std::string> parse_string(const std::string& text);
// ["a", "b"] or a bare single string.
Result<std::vector<std::string>> parse_string_list(const std::string& text);

// The duration as the parsers above and CAF read it: the largest unit that keeps it whole ("90s", "1500ms").
std::string duration_text(Millis d);

// The candidate nearest to `word` when it is a plausible typo of it (at most two edits), for "did you mean".
std::optional<std::string> closest_word(const std::string& word, const std::vector<std::string>& candidates);

}  // namespace meshos
