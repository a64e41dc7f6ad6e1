#pragma once
// The INI dialect CAF 0.17 reads (sections, key = value, ';' comments), parsed strictly so that
// meshos can check every key itself: CAF silently ignores unknown keys in a file.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "meshos/result.hpp"
#include "meshos/time.hpp"

namespace meshos {

struct IniEntry {
  std::string section;  // "" for keys before any [section]
  std::string key;
  std::string value;    // raw text, surrounding blanks removed, quotes kept
  int line = 0;
};

struct IniDocument {
  std::vector<IniEntry> entries;  // in file order
  std::vector<std::string> sections;
};

// Kind "invalid_config" with "line N: ..." in the message for a line that is neither blank, comment,
// [section] nor key = value, for a '#' comment (CAF rejects those too), or a duplicate key. A value
// must start the way CAF reads values: a bare word other than true/false is rejected (quote strings).
Result<IniDocument> parse_ini(const std::string& text);
// Kind "config_not_found" when the file cannot be read.
Result<IniDocument> parse_ini_file(const std::string& path);

// Value parsers shared by every config reader. Kind "invalid_config" on bad input.
Result<std::uint64_t> parse_uint(const std::string& text);
Result<bool> parse_bool(const std::string& text);
// "250ms", "10s", "5min", "1h", "1500us", "2ns"; a bare number is rejected (unit required).
Result<Millis> parse_duration(const std::string& text);
// A "quoted" or bare string; quotes removed, \" and \\ unescaped (and CAF's \n, \r, \t).
Result<std::string> parse_string(const std::string& text);
// ["a", "b"] or a bare single string.
Result<std::vector<std::string>> parse_string_list(const std::string& text);

}  // namespace meshos
