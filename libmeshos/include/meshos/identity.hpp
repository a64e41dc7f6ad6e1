#pragma once
// Library: meshos_core.
// Ed25519 identities. A daemon's id is origin_hash() of its public key, a node's id is node_id():
// the first 8 bytes, little-endian, of BLAKE2s-256 keyed with "net-origin-v1" / "net-node-id-v1"
// over the 32-byte public key, exactly as the Rust crate computes them.
#include <array>
#include <cstdint>
#include <memory>
#include <string>

#include "meshos/result.hpp"
#include "meshos/types.hpp"

namespace meshos {

using PublicKey = std::array<std::uint8_t, 32>;
using Seed = std::array<std::uint8_t, 32>;
using Signature = std::array<std::uint8_t, 64>;

// Keyed BLAKE2s-256 (BLAKE2s-MAC). Key length 1..32 bytes.
std::array<std::uint8_t, 32> blake2s_mac(const std::uint8_t* key, std::size_t key_len,
                                         const std::uint8_t* data, std::size_t len);

std::uint64_t origin_hash_of(const PublicKey& pk);
std::uint64_t node_id_of(const PublicKey& pk);

class EntityKeypair {
 public:
  // A fresh key from the OS random source. Throws SdkException(kind "key_generation_failed") only if
  // OpenSSL cannot produce randomness.
  static EntityKeypair generate();
  static EntityKeypair from_seed(const Seed& seed);
  // Verification-only key. sign() on it fails with kind "public_key_only".
  static EntityKeypair public_only(const PublicKey& pk);
  // Hex (64 digits) forms used in key files; errors have kind "invalid_key".
  static Result<EntityKeypair> from_seed_hex(const std::string& hex);
  static Result<EntityKeypair> from_public_hex(const std::string& hex);

  EntityKeypair(const EntityKeypair&);
  EntityKeypair& operator=(const EntityKeypair&);
  EntityKeypair(EntityKeypair&&) noexcept;
  EntityKeypair& operator=(EntityKeypair&&) noexcept;
  ~EntityKeypair();

  const PublicKey& public_key() const noexcept { return public_key_; }
  bool has_secret() const noexcept { return has_secret_; }
  // The seed (32-byte secret); kind "public_key_only" for a public-only key.
  Result<Seed> seed() const;

  std::uint64_t origin_hash() const { return origin_hash_of(public_key_); }
  std::uint64_t node_id() const { return node_id_of(public_key_); }

  Result<Signature> sign(const std::uint8_t* msg, std::size_t len) const;
  Result<Signature> sign(const Bytes& msg) const { return sign(msg.data(), msg.size()); }
  bool verify(const std::uint8_t* msg, std::size_t len, const Signature& sig) const;
  bool verify(const Bytes& msg, const Signature& sig) const { return verify(msg.data(), msg.size(), sig); }

 private:
  EntityKeypair() = default;
  PublicKey public_key_{};
  Seed seed_{};
  bool has_secret_ = false;
};

// Verify an Ed25519 signature against a raw public key.
bool ed25519_verify(const PublicKey& pk, const std::uint8_t* msg, std::size_t len, const Signature& sig);

}  // namespace meshos
