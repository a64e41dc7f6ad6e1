#include "meshos/types.hpp"

#include <utility>

namespace meshos {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";

// -1 for anything that is not a hex digit (either case).
int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string to_hex(std::uint64_t id) {
  std::string out(16, '0');
  for (int i = 15; i >= 0; --i) {
    out[static_cast<std::size_t>(i)] = kHexDigits[id & 0xf];
    id >>= 4;
  }
  return out;
}

bool parse_hex_u64(const std::string& text, std::uint64_t& out) {
  if (text.empty() || text.size() > 16) return false;
  std::uint64_t value = 0;
  for (char c : text) {
    int digit = hex_value(c);
    if (digit < 0) return false;
    value = (value << 4) | static_cast<std::uint64_t>(digit);
  }
  out = value;
  return true;
}

std::string bytes_to_hex(const std::uint8_t* data, std::size_t len) {
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(kHexDigits[data[i] >> 4]);
    out.push_back(kHexDigits[data[i] & 0xf]);
  }
  return out;
}

bool hex_to_bytes(const std::string& text, Bytes& out) {
  if (text.size() % 2 != 0) return false;
  Bytes decoded;
  decoded.reserve(text.size() / 2);
  for (std::size_t i = 0; i < text.size(); i += 2) {
    int high = hex_value(text[i]);
    int low = hex_value(text[i + 1]);
    if (high < 0 || low < 0) return false;
    decoded.push_back(static_cast<std::uint8_t>((high << 4) | low));
  }
  out = std::move(decoded);
  return true;
}

}  // namespace meshos
