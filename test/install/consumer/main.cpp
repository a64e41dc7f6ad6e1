// Prints the linked meshos version and the ids of a keypair derived from a fixed seed, so the install
// test can compare them with known values (seed 00 01 .. 1f; ids as the Rust crate computes them).
#include <cstdint>
#include <iostream>
#include <string>

#include <meshos/identity.hpp>
#include <meshos/types.hpp>
#include <meshos/version.hpp>

int main() {
  meshos::Seed seed{};
  for (std::size_t i = 0; i < seed.size(); ++i) seed[i] = static_cast<std::uint8_t>(i);
  const auto key = meshos::EntityKeypair::from_seed(seed);

  const std::string message = "installed meshos works";
  const meshos::Bytes bytes(message.begin(), message.end());
  auto signature = key.sign(bytes);
  if (!signature) {
    std::cerr << signature.error().to_string() << "\n";
    return 1;
  }

  std::cout << "meshos " << meshos::version() << "\n"
            << "public_key=" << meshos::bytes_to_hex(key.public_key().data(), key.public_key().size()) << "\n"
            << "origin_hash=" << meshos::to_hex(key.origin_hash()) << "\n"
            << "node_id=" << meshos::to_hex(key.node_id()) << "\n"
            << "signature_verifies=" << (key.verify(bytes, *signature) ? "yes" : "no") << "\n";
  return 0;
}
