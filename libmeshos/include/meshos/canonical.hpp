#pragma once
// Library: meshos_core.
// The canonical byte writer behind every signature meshos checks (admin and break-glass commits, peer
// hellos): fixed-width little-endian integers, length-prefixed strings, a NUL-terminated domain tag first
// so bytes signed for one purpose never verify for another. libmeshos/docs/signing.md documents layouts.
#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "meshos/types.hpp"

namespace meshos {

class CanonicalWriter {
 public:
  void domain(const char* tag) {
    for (const char* c = tag; *c != '\0'; ++c) out_.push_back(static_cast<std::uint8_t>(*c));
    out_.push_back(0x00);
  }
  void u8(std::uint8_t v) { out_.push_back(v); }
  void u16(std::uint16_t v) {
    for (int i = 0; i < 2; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void u64(std::uint64_t v) {
    for (int i = 0; i < 8; ++i) out_.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  // Two's complement, so negative timestamps encode like their u64 bit pattern.
  void i64(std::int64_t v) { u64(static_cast<std::uint64_t>(v)); }
  void boolean(bool v) { out_.push_back(v ? 1 : 0); }
  void str(const std::string& s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out_.insert(out_.end(), s.begin(), s.end());
  }
  void optional_u64(const std::optional<std::uint64_t>& v) {
    boolean(v.has_value());
    if (v) u64(*v);
  }
  template <std::size_t N>
  void raw(const std::array<std::uint8_t, N>& bytes) {
    out_.insert(out_.end(), bytes.begin(), bytes.end());
  }
  void bytes(const Bytes& b) {
    u32(static_cast<std::uint32_t>(b.size()));
    out_.insert(out_.end(), b.begin(), b.end());
  }
  Bytes take() { return std::move(out_); }

 private:
  Bytes out_;
};

}  // namespace meshos
