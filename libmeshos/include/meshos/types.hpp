#pragma once
// Library: meshos_core.
// Small vocabulary shared by every module.
#include <cstdint>
#include <string>
#include <vector>

namespace meshos {

using Bytes = std::vector<std::uint8_t>;
using NodeId = std::uint64_t;    // node_id() of the node's keypair (or configured)
using DaemonId = std::uint64_t;  // origin_hash() of the daemon's keypair
using OperatorId = std::uint64_t;

// A daemon as the loop names it: stable id plus the name it registered under.
struct DaemonRef {
  DaemonId id = 0;
  std::string name;
  bool operator==(const DaemonRef& o) const { return id == o.id && name == o.name; }
};

// Hex rendering of ids for logs and JSON keys ("0x" not included, 16 lower-case digits).
std::string to_hex(std::uint64_t id);
// Inverse of to_hex; accepts 1..16 hex digits, rejects anything else.
bool parse_hex_u64(const std::string& text, std::uint64_t& out);
std::string bytes_to_hex(const std::uint8_t* data, std::size_t len);
inline std::string bytes_to_hex(const Bytes& b) { return bytes_to_hex(b.data(), b.size()); }
// Parses an even-length hex string; false on any other input.
bool hex_to_bytes(const std::string& text, Bytes& out);

}  // namespace meshos
