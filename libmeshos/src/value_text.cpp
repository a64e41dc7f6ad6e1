#include "meshos/value_text.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <sstream>
#include <utility>

#include "text.hpp"

namespace meshos {
namespace {

SdkError invalid(std::string message) { return SdkError{Errc::invalid_config, std::move(message)}; }

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
  } else if (unit == "min" || unit == "m") {  // "m": kubectl's and Go's habit (--since 10m)
    multiplier = 60'000;
  } else if (unit == "h") {
    multiplier = 3'600'000;
  } else {
    return invalid("unknown duration unit '" + unit + "' in '" + text + "' (use ns, us, ms, s, min or m, h)");
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

std::string duration_text(Millis d) {
  const auto ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "min";
  if (ms != 0 && ms % 1'000 == 0) return std::to_string(ms / 1'000) + "s";
  return std::to_string(ms) + "ms";
}

namespace {

std::size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

}  // namespace

std::optional<std::string> closest_word(const std::string& word, const std::vector<std::string>& candidates) {
  const std::string* closest = nullptr;
  std::size_t best = 3;  // near misses only: typos, not different words
  for (const auto& candidate : candidates) {
    // The distance is at least the difference in length: a long word is not compared letter by letter.
    const std::size_t gap = word.size() > candidate.size() ? word.size() - candidate.size() : candidate.size() - word.size();
    if (gap >= best) continue;
    const std::size_t d = edit_distance(word, candidate);
    if (d < best) {
      best = d;
      closest = &candidate;
    }
  }
  if (!closest) return std::nullopt;
  return *closest;
}

}  // namespace meshos
