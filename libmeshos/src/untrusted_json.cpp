#include "meshos/untrusted_json.hpp"

#include <optional>

#include "text.hpp"

namespace meshos {
namespace {

// nlohmann's own words are enough to say what is wrong; its messages are kept to this length.
constexpr std::size_t kMaxReasonBytes = 160;

// The byte offset of the first '[' or '{' that opens nesting level max_depth + 1, if any. One pass, no
// recursion: only brackets outside strings count, and inside a string a backslash escapes the next byte
// (so \" and \\ are handled; \uXXXX holds no quote). Whatever this scan misreads in malformed text is
// malformed to nlohmann too, which stops at the first error, so the parser never nests deeper than here.
std::optional<std::size_t> too_deep_at(const std::string& text, std::size_t max_depth) {
  std::size_t depth = 0;
  bool in_string = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    switch (c) {
      case '"':
        in_string = true;
        break;
      case '[':
      case '{':
        if (++depth > max_depth) return i;
        break;
      case ']':
      case '}':
        if (depth > 0) --depth;
        break;
      default:
        break;
    }
  }
  return std::nullopt;
}

// nlohmann's message without the "[json.exception...] " tag and without the text it quotes ("last read:
// '...'", "number overflow parsing '...'"), which can be as long as the input and need not be UTF-8.
std::string reason_of(const nlohmann::json::exception& e) {
  std::string reason = e.what();
  if (auto tag_end = reason.find("] "); reason.rfind("[json.exception.", 0) == 0 && tag_end != std::string::npos)
    reason.erase(0, tag_end + 2);
  if (auto quoted = reason.find("; last read: '"); quoted != std::string::npos) {
    reason.erase(quoted);
  } else if (auto quote = reason.find(" '"); quote != std::string::npos && e.id == 406) {
    reason.erase(quote);
  }
  if (reason.size() > kMaxReasonBytes) reason = quoted_prefix(reason, kMaxReasonBytes);
  return reason;
}

}  // namespace

Result<nlohmann::json> parse_untrusted_json(const std::string& text, const JsonLimits& limits,
                                            Errc error_kind, const std::string& what) {
  if (text.size() > limits.max_bytes) {
    return SdkError{error_kind, what + " JSON is " + std::to_string(text.size()) + " bytes, over the limit of " +
                                    std::to_string(limits.max_bytes)};
  }
  if (auto at = too_deep_at(text, limits.max_depth)) {
    return SdkError{error_kind, what + " JSON nests deeper than the limit of " + std::to_string(limits.max_depth) +
                                    " levels (at byte " + std::to_string(*at) + ")"};
  }
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    return SdkError{error_kind,
                    what + " is not valid JSON (at byte " + std::to_string(e.byte) + "): " + reason_of(e)};
  } catch (const nlohmann::json::exception& e) {
    return SdkError{error_kind, what + " is not valid JSON: " + reason_of(e)};
  }
}

}  // namespace meshos
