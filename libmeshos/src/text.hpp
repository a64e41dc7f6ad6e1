#pragma once
// Private text helpers shared by the core's parsers.
#include <string>

#include "meshos/utf8.hpp"

namespace meshos {

inline bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// `s` in double quotes if it is at most `max_bytes` long, else its first `max_bytes` (cut back to a UTF-8
// character boundary: the message may end up in JSON, such as an audit record, and nlohmann refuses to
// serialise a broken sequence) followed by "..." and the full length.
inline std::string quoted_prefix(const std::string& s, std::size_t max_bytes) {
  if (s.size() <= max_bytes) return "\"" + s + "\"";
  return "\"" + utf8_prefix(s, max_bytes) + "...\" (" + std::to_string(s.size()) + " bytes)";
}

// `s` without leading and trailing blanks.
inline std::string trim_blanks(const std::string& s) {
  std::size_t begin = 0;
  std::size_t end = s.size();
  while (begin < end && is_blank(s[begin])) ++begin;
  while (end > begin && is_blank(s[end - 1])) --end;
  return s.substr(begin, end - begin);
}

}  // namespace meshos
