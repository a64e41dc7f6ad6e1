#include "meshos/ini.hpp"

#include <cctype>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <utility>

#include "text.hpp"

namespace meshos {
namespace {

SdkError invalid(std::string message) { return SdkError{"invalid_config", std::move(message)}; }

SdkError at_line(int line, const std::string& message) {
  return invalid("line " + std::to_string(line) + ": " + message);
}

// A key as CAF reads it: a letter, digit or '_', then letters, digits, '_' or '-'.
bool is_key(const std::string& s) {
  auto word_char = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (s.empty() || !word_char(s[0])) return false;
  for (char c : s) {
    if (!word_char(c) && c != '-') return false;
  }
  return true;
}

// A section name: keys joined by '.', as in [caf.middleman].
bool is_section_name(const std::string& s) {
  std::size_t start = 0;
  for (;;) {
    std::size_t dot = s.find('.', start);
    if (!is_key(s.substr(start, dot == std::string::npos ? std::string::npos : dot - start))) return false;
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

// CAF decides a value's type by its first character and has no bare strings: a value that starts
// with a letter must be a boolean. Checking this here gives a line number where CAF would only fail.
bool caf_can_read(const std::string& value) {
  char first = value[0];
  if (std::isalpha(static_cast<unsigned char>(first))) return value == "true" || value == "false";
  return std::string("\"'.+-<[{0123456789").find(first) != std::string::npos;
}

// What the scanner learned about one value text: where a ';' comment starts outside quotes, whether a
// quote was left open, and how deep the '[' nesting is at the end.
struct ValueScan {
  std::size_t comment_at = std::string::npos;
  bool open_quote = false;
  int bracket_depth = 0;
};

ValueScan scan_value(const std::string& text, int initial_depth) {
  ValueScan scan;
  scan.bracket_depth = initial_depth;
  bool in_quote = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_quote) {
      if (c == '\\' && i + 1 < text.size()) {
        ++i;
      } else if (c == '"') {
        in_quote = false;
      }
      continue;
    }
    if (c == '"') {
      in_quote = true;
    } else if (c == ';') {
      scan.comment_at = i;
      break;
    } else if (c == '[') {
      ++scan.bracket_depth;
    } else if (c == ']') {
      --scan.bracket_depth;
    }
  }
  scan.open_quote = in_quote;
  return scan;
}

std::string describe_char(char c) {
  if (std::isprint(static_cast<unsigned char>(c))) return std::string("'") + c + "'";
  std::ostringstream out;
  out << "byte 0x" << std::hex << static_cast<int>(static_cast<unsigned char>(c));
  return out.str();
}

// Digits only: no sign, no blanks, no overflow.
bool read_u64_digits(const std::string& digits, std::uint64_t& out) {
  if (digits.empty()) return false;
  std::uint64_t value = 0;
  constexpr auto max = std::numeric_limits<std::uint64_t>::max();
  for (char c : digits) {
    if (c < '0' || c > '9') return false;
    auto digit = static_cast<std::uint64_t>(c - '0');
    if (value > (max - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

// Reads one "quoted" string starting at text[pos] == '"'; pos ends just past the closing quote.
Result<std::string> read_quoted(const std::string& text, std::size_t& pos) {
  std::string out;
  std::size_t i = pos + 1;
  for (; i < text.size(); ++i) {
    char c = text[i];
    if (c == '"') {
      pos = i + 1;
      return out;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) break;
      char escaped = text[++i];
      switch (escaped) {
        case '"':
        case '\\': break;
        case 'n': escaped = '\n'; break;
        case 'r': escaped = '\r'; break;
        case 't': escaped = '\t'; break;
        default:
          return invalid("unsupported escape '\\" + std::string(1, escaped) + "' in " + text +
                         " (use \\\", \\\\, \\n, \\r or \\t)");
      }
      out.push_back(escaped);
      continue;
    }
    out.push_back(c);
  }
  return invalid("unterminated string: " + text);
}

}  // namespace

Result<IniDocument> parse_ini(const std::string& text) {
  IniDocument doc;
  std::set<std::pair<std::string, std::string>> seen_keys;
  std::set<std::string> seen_sections;
  std::string section;

  std::istringstream lines(text);
  std::string raw;
  int line_no = 0;
  while (std::getline(lines, raw)) {
    ++line_no;
    std::string line = trim_blanks(raw);
    if (line.empty() || line[0] == ';') continue;
    if (line[0] == '#') {
      return at_line(line_no, "'#' comments are not INI syntax (CAF rejects them); use ';'");
    }
    if (line[0] == '[') {
      ValueScan scan = scan_value(line, 0);
      std::string header = trim_blanks(line.substr(0, scan.comment_at));
      if (header.size() < 2 || header.back() != ']') {
        return at_line(line_no, "malformed section header: " + line);
      }
      std::string name = trim_blanks(header.substr(1, header.size() - 2));
      if (!is_section_name(name)) return at_line(line_no, "invalid section name '" + name + "'");
      section = name;
      if (seen_sections.insert(name).second) doc.sections.push_back(name);
      continue;
    }

    std::size_t eq = line.find('=');
    if (eq == std::string::npos) {
      return at_line(line_no, "expected '[section]' or 'key = value', got: " + line);
    }
    std::string key = trim_blanks(line.substr(0, eq));
    if (!is_key(key)) {
      return at_line(line_no, key.empty() ? std::string("missing key before '='")
                                           : "invalid key '" + key + "'");
    }

    const int first_line = line_no;
    std::string value_text = line.substr(eq + 1);
    ValueScan scan = scan_value(value_text, 0);
    std::string value = trim_blanks(value_text.substr(0, scan.comment_at));
    // A list may continue over several lines until its brackets balance, as CAF allows.
    while (!scan.open_quote && scan.bracket_depth > 0) {
      if (!std::getline(lines, raw)) {
        return at_line(first_line, "unterminated list for key '" + key + "'");
      }
      ++line_no;
      std::string continuation = trim_blanks(raw);
      scan = scan_value(continuation, scan.bracket_depth);
      continuation = trim_blanks(continuation.substr(0, scan.comment_at));
      if (!continuation.empty()) value += (value.empty() ? "" : " ") + continuation;
    }
    if (scan.open_quote) return at_line(first_line, "unterminated string for key '" + key + "'");
    if (scan.bracket_depth < 0) return at_line(first_line, "unbalanced ']' for key '" + key + "'");
    if (value.empty()) return at_line(first_line, "missing value for key '" + key + "'");
    if (!caf_can_read(value)) {
      return at_line(first_line, "value of '" + key + "' must be quoted: " + value +
                                     " (CAF reads strings only in double quotes)");
    }
    if (!seen_keys.emplace(section, key).second) {
      return at_line(first_line, "duplicate key '" + key + "' in [" + section + "]");
    }
    doc.entries.push_back(IniEntry{section, key, value, first_line});
  }
  return doc;
}

Result<IniDocument> parse_ini_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return SdkError{"config_not_found", "cannot read config file '" + path + "'"};
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return SdkError{"config_not_found", "error while reading config file '" + path + "'"};
  auto doc = parse_ini(content.str());
  if (!doc) return SdkError{doc.error().kind, path + ": " + doc.error().message};
  return doc;
}

Result<std::uint64_t> parse_uint(const std::string& text) {
  std::uint64_t value = 0;
  if (read_u64_digits(text, value)) return value;
  if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
    return invalid("expected an unsigned integer without sign, got '" + text + "'");
  }
  bool all_digits = !text.empty();
  for (char c : text) all_digits = all_digits && c >= '0' && c <= '9';
  if (all_digits) return invalid("integer '" + text + "' is too large (max 18446744073709551615)");
  return invalid("expected an unsigned integer, got '" + text + "'");
}

Result<bool> parse_bool(const std::string& text) {
  if (text == "true") return true;
  if (text == "false") return false;
  return invalid("expected true or false, got '" + text + "'");
}

Result<Millis> parse_duration(const std::string& text) {
  std::size_t unit_at = 0;
  while (unit_at < text.size() && text[unit_at] >= '0' && text[unit_at] <= '9') ++unit_at;
  const std::string digits = text.substr(0, unit_at);
  const std::string unit = text.substr(unit_at);
  if (digits.empty()) {
    return invalid("expected a duration like 250ms, 10s or 5min, got '" + text + "'");
  }
  std::uint64_t count = 0;
  if (!read_u64_digits(digits, count)) return invalid("duration '" + text + "' is too large");
  if (unit.empty()) {
    return invalid("duration '" + text + "' needs a unit (ns, us, ms, s, min, h)");
  }

  // Sub-millisecond units round down to whole milliseconds, as duration_cast does.
  std::uint64_t divisor = 1;
  std::uint64_t multiplier = 1;
  if (unit == "ns") {
    divisor = 1'000'000;
  } else if (unit == "us") {
    divisor = 1'000;
  } else if (unit == "ms") {
  } else if (unit == "s") {
    multiplier = 1'000;
  } else if (unit == "min") {
    multiplier = 60'000;
  } else if (unit == "h") {
    multiplier = 3'600'000;
  } else {
    return invalid("unknown duration unit '" + unit + "' in '" + text + "' (use ns, us, ms, s, min, h)");
  }

  // Every duration must also be representable on the monotonic clock, so deadlines built from it
  // cannot overflow.
  const auto clock_max_ms = static_cast<std::uint64_t>(
      std::chrono::duration_cast<Millis>(Clock::duration::max()).count());
  std::uint64_t ms = count / divisor;
  if (ms > clock_max_ms / multiplier) return invalid("duration '" + text + "' is too large");
  ms *= multiplier;
  return Millis(static_cast<Millis::rep>(ms));
}

Result<std::string> parse_string(const std::string& text) {
  if (text.empty()) return invalid("empty value (write \"\" for an empty string)");
  if (text[0] != '"') {
    for (char c : text) {
      if (c == '"') return invalid("stray '\"' in unquoted string " + text);
      if (static_cast<unsigned char>(c) < 0x20) return invalid("control character in string " + text);
    }
    return text;
  }
  std::size_t pos = 0;
  auto value = read_quoted(text, pos);
  if (!value) return value;
  if (pos != text.size()) return invalid("unexpected text after the closing quote in " + text);
  return value;
}

Result<std::vector<std::string>> parse_string_list(const std::string& text) {
  if (text.empty() || text[0] != '[') {
    auto single = parse_string(text);
    if (!single) return single.error();
    return std::vector<std::string>{std::move(single).value()};
  }
  std::vector<std::string> items;
  std::size_t pos = 1;
  auto skip_blanks = [&] {
    while (pos < text.size() && (is_blank(text[pos]) || text[pos] == '\n')) ++pos;
  };
  skip_blanks();
  if (pos < text.size() && text[pos] == ']') {
    ++pos;
  } else {
    for (;;) {
      skip_blanks();
      if (pos >= text.size()) return invalid("unterminated list " + text);
      if (text[pos] == ']' && !items.empty()) {  // a trailing comma, which CAF accepts
        ++pos;
        break;
      }
      if (text[pos] != '"') {
        return invalid("list items must be quoted strings; found " + describe_char(text[pos]) +
                       " in " + text);
      }
      auto item = read_quoted(text, pos);
      if (!item) return item.error();
      items.push_back(std::move(item).value());
      skip_blanks();
      if (pos >= text.size()) return invalid("unterminated list " + text);
      if (text[pos] == ']') {
        ++pos;
        break;
      }
      if (text[pos] != ',') {
        return invalid("expected ',' or ']' but found " + describe_char(text[pos]) + " in " + text);
      }
      ++pos;
    }
  }
  skip_blanks();
  if (pos != text.size()) return invalid("unexpected text after the list in " + text);
  return items;
}

}  // namespace meshos
