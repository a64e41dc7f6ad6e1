#include "meshos/identity.hpp"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>

namespace meshos {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const noexcept { EVP_MD_CTX_free(p); }
};
struct MacFree {
  void operator()(EVP_MAC* p) const noexcept { EVP_MAC_free(p); }
};
struct MacCtxFree {
  void operator()(EVP_MAC_CTX* p) const noexcept { EVP_MAC_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using MacPtr = std::unique_ptr<EVP_MAC, MacFree>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, MacCtxFree>;

constexpr std::size_t kBlake2sMaxKey = 32;
constexpr std::size_t kEd25519SignatureLen = 64;

[[noreturn]] void crypto_failure(const char* what) {
  throw SdkException(SdkError{Errc::crypto_failure, std::string("OpenSSL failed to ") + what});
}

// Fetching an algorithm walks the provider tables; the fetched object is immutable and shareable across
// threads, so one fetch serves the process.
EVP_MAC* blake2s_mac_algorithm() {
  static const MacPtr mac(EVP_MAC_fetch(nullptr, "BLAKE2SMAC", nullptr));
  if (!mac) crypto_failure("fetch BLAKE2SMAC");
  return mac.get();
}

// OpenSSL may treat a null message pointer as an error even when the length is zero.
const std::uint8_t* non_null(const std::uint8_t* msg) {
  static const std::uint8_t empty = 0;
  return msg != nullptr ? msg : &empty;
}

PkeyPtr private_key_from_seed(const Seed& seed) {
  PkeyPtr key(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
  if (!key) crypto_failure("load an Ed25519 private key");
  return key;
}

PublicKey public_key_of(EVP_PKEY* key) {
  PublicKey pk{};
  std::size_t len = pk.size();
  if (EVP_PKEY_get_raw_public_key(key, pk.data(), &len) != 1 || len != pk.size())
    crypto_failure("derive an Ed25519 public key");
  return pk;
}

std::uint64_t first_8_bytes_le(const std::array<std::uint8_t, 32>& digest) {
  std::uint64_t value = 0;
  for (int i = 7; i >= 0; --i) value = (value << 8) | digest[static_cast<std::size_t>(i)];
  return value;
}

std::uint64_t domain_hash(const char* domain, const PublicKey& pk) {
  const std::string key(domain);
  return first_8_bytes_le(blake2s_mac(reinterpret_cast<const std::uint8_t*>(key.data()), key.size(), pk.data(),
                                      pk.size()));
}

SdkError public_key_only() {
  return SdkError{Errc::public_key_only, "this keypair holds only a public key and cannot sign or reveal a seed"};
}

}  // namespace

std::array<std::uint8_t, 32> blake2s_mac(const std::uint8_t* key, std::size_t key_len, const std::uint8_t* data,
                                         std::size_t len) {
  if (key == nullptr || key_len == 0 || key_len > kBlake2sMaxKey)
    throw SdkException(SdkError{Errc::invalid_argument, "BLAKE2s-MAC key must be 1 to 32 bytes, got " +
                                                        std::to_string(key_len)});
  MacCtxPtr ctx(EVP_MAC_CTX_new(blake2s_mac_algorithm()));
  if (!ctx) crypto_failure("create a BLAKE2s-MAC context");
  std::array<std::uint8_t, 32> out{};
  std::size_t digest_size = out.size();
  OSSL_PARAM params[] = {OSSL_PARAM_construct_size_t(OSSL_MAC_PARAM_SIZE, &digest_size), OSSL_PARAM_construct_end()};
  if (EVP_MAC_init(ctx.get(), key, key_len, params) != 1) crypto_failure("initialise BLAKE2s-MAC");
  if (EVP_MAC_update(ctx.get(), non_null(data), len) != 1) crypto_failure("update BLAKE2s-MAC");
  std::size_t written = 0;
  if (EVP_MAC_final(ctx.get(), out.data(), &written, out.size()) != 1 || written != out.size())
    crypto_failure("finalise BLAKE2s-MAC");
  return out;
}

std::uint64_t origin_hash_of(const PublicKey& pk) { return domain_hash("net-origin-v1", pk); }

std::uint64_t node_id_of(const PublicKey& pk) { return domain_hash("net-node-id-v1", pk); }

EntityKeypair EntityKeypair::generate() {
  Seed seed{};
  if (RAND_bytes(seed.data(), static_cast<int>(seed.size())) != 1)
    throw SdkException(SdkError{Errc::key_generation_failed, "the OS random source did not provide 32 bytes"});
  EntityKeypair kp = from_seed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return kp;
}

EntityKeypair EntityKeypair::from_seed(const Seed& seed) {
  EntityKeypair kp;
  kp.public_key_ = public_key_of(private_key_from_seed(seed).get());
  kp.seed_ = seed;
  kp.has_secret_ = true;
  return kp;
}

EntityKeypair EntityKeypair::public_only(const PublicKey& pk) {
  EntityKeypair kp;
  kp.public_key_ = pk;
  return kp;
}

Result<EntityKeypair> EntityKeypair::from_seed_hex(const std::string& hex) {
  // The text is a secret: the error describes its shape only, never its content.
  Bytes bytes;
  if (hex.size() != 64 || !hex_to_bytes(hex, bytes))
    return SdkError{Errc::invalid_key, "a seed must be exactly 64 hex digits (got " + std::to_string(hex.size()) +
                                       " characters" + (hex.size() == 64 ? ", not all hex" : "") + ")"};
  Seed seed{};
  std::copy(bytes.begin(), bytes.end(), seed.begin());
  OPENSSL_cleanse(bytes.data(), bytes.size());
  EntityKeypair kp = from_seed(seed);
  OPENSSL_cleanse(seed.data(), seed.size());
  return kp;
}

Result<EntityKeypair> EntityKeypair::from_public_hex(const std::string& hex) {
  Bytes bytes;
  if (hex.size() != 64 || !hex_to_bytes(hex, bytes))
    return SdkError{Errc::invalid_key, "a public key must be exactly 64 hex digits (got " +
                                       std::to_string(hex.size()) + " characters" +
                                       (hex.size() == 64 ? ", not all hex" : "") + ")"};
  PublicKey pk{};
  std::copy(bytes.begin(), bytes.end(), pk.begin());
  return public_only(pk);
}

EntityKeypair::EntityKeypair(const EntityKeypair&) = default;
EntityKeypair& EntityKeypair::operator=(const EntityKeypair&) = default;

// A moved-from keypair keeps its public key but no longer holds the secret.
EntityKeypair::EntityKeypair(EntityKeypair&& other) noexcept
    : public_key_(other.public_key_), seed_(other.seed_), has_secret_(other.has_secret_) {
  OPENSSL_cleanse(other.seed_.data(), other.seed_.size());
  other.has_secret_ = false;
}

EntityKeypair& EntityKeypair::operator=(EntityKeypair&& other) noexcept {
  if (this != &other) {
    public_key_ = other.public_key_;
    seed_ = other.seed_;
    has_secret_ = other.has_secret_;
    OPENSSL_cleanse(other.seed_.data(), other.seed_.size());
    other.has_secret_ = false;
  }
  return *this;
}

EntityKeypair::~EntityKeypair() { OPENSSL_cleanse(seed_.data(), seed_.size()); }

Result<Seed> EntityKeypair::seed() const {
  if (!has_secret_) return public_key_only();
  return seed_;
}

Result<Signature> EntityKeypair::sign(const std::uint8_t* msg, std::size_t len) const {
  if (!has_secret_) return public_key_only();
  PkeyPtr key = private_key_from_seed(seed_);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx) crypto_failure("create a signing context");
  // Ed25519 hashes internally (PureEdDSA): no digest is named.
  if (EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) != 1) crypto_failure("start signing");
  Signature sig{};
  std::size_t sig_len = sig.size();
  if (EVP_DigestSign(ctx.get(), sig.data(), &sig_len, non_null(msg), len) != 1 || sig_len != kEd25519SignatureLen)
    crypto_failure("sign");
  return sig;
}

bool EntityKeypair::verify(const std::uint8_t* msg, std::size_t len, const Signature& sig) const {
  return ed25519_verify(public_key_, msg, len, sig);
}

bool ed25519_verify(const PublicKey& pk, const std::uint8_t* msg, std::size_t len, const Signature& sig) {
  PkeyPtr key(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, pk.data(), pk.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool valid = key && ctx &&
               EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.get()) == 1 &&
               EVP_DigestVerify(ctx.get(), sig.data(), sig.size(), non_null(msg), len) == 1;
  // A forged signature is an expected outcome, not an error: leave nothing on this thread's OpenSSL
  // error queue for unrelated code (TLS) to trip over.
  if (!valid) ERR_clear_error();
  return valid;
}

}  // namespace meshos
