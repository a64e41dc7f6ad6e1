#include <doctest/doctest.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>
#include <sys/wait.h>

#include "meshos/identity.hpp"
#include "meshos/result.hpp"
#include "meshos/types.hpp"
#include "../support/temp_dir.hpp"
#include "../support/tools.hpp"

using meshos::Bytes;
using meshos::EntityKeypair;
using meshos::PublicKey;
using meshos::Seed;
using meshos::Signature;

namespace {

template <std::size_t N>
std::array<std::uint8_t, N> array_from_hex(const std::string& hex) {
  Bytes bytes;
  REQUIRE(meshos::hex_to_bytes(hex, bytes));
  REQUIRE(bytes.size() == N);
  std::array<std::uint8_t, N> out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& a) {
  return meshos::bytes_to_hex(a.data(), a.size());
}

Bytes text_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

// RFC 8032, section 7.1, TEST 1 and TEST 2.
const std::string kRfcSeed1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const std::string kRfcPublic1 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const std::string kRfcSignature1 =
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24"
    "655141438e7a100b";
const std::string kRfcSeed2 = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
const std::string kRfcPublic2 = "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";
const std::string kRfcSignature2 =
    "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aee"
    "b00d291612bb0c00";

// ---- independent implementations, driven through the shell ------------------------------------

using meshos::test::openssl_cli;

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs a shell command and returns its stdout; fails the test if the command cannot run or exits non-zero.
std::string run(const std::string& tool, const std::string& command) {
  INFO("command: " << command);
  REQUIRE_MESSAGE(!tool.empty(), "required tool was not found when the build was configured");
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE_MESSAGE(pipe != nullptr, "popen failed");
  std::string out;
  char buffer[4096];
  std::size_t n = 0;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  const int status = ::pclose(pipe);
  REQUIRE_MESSAGE((status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0),
                  "command failed (is " << tool << " installed?)");
  return out;
}

// The openssl CLI derives the public key from a PKCS#8 DER wrapping of the raw seed.
PublicKey openssl_public_key(const Seed& seed) {
  Bytes der;
  REQUIRE(meshos::hex_to_bytes("302e020100300506032b657004220420", der));
  der.insert(der.end(), seed.begin(), seed.end());
  const meshos::test::TempDir dir("meshos-identity");
  const std::string key_file = dir.write("seed.der", std::string(der.begin(), der.end()));
  const std::string tool = openssl_cli();
  const std::string out = run(tool, shell_quote(tool) + " pkey -inform DER -in " + shell_quote(key_file) +
                                        " -pubout -outform DER");
  REQUIRE(out.size() >= 32);
  PublicKey pk{};
  std::copy(out.end() - 32, out.end(), pk.begin());
  return pk;
}

struct PythonIds {
  std::uint64_t origin = 0;
  std::uint64_t node = 0;
};

PythonIds python_ids(const PublicKey& pk) {
  const std::string script =
      "import hashlib, sys; pk = bytes.fromhex(sys.argv[1]); "
      "print(' '.join('%016x' % int.from_bytes(hashlib.blake2s(pk, key=k).digest()[:8], 'little') "
      "for k in (b'net-origin-v1', b'net-node-id-v1')))";
  const std::string tool = meshos::test::python3_cli();
  const std::string out = run(tool, shell_quote(tool) + " -c " + shell_quote(script) + " " + hex_of(pk));
  REQUIRE(out.size() >= 33);
  PythonIds ids;
  REQUIRE(meshos::parse_hex_u64(out.substr(0, 16), ids.origin));
  REQUIRE(meshos::parse_hex_u64(out.substr(17, 16), ids.node));
  return ids;
}

std::string python_blake2s_mac(const std::string& key_hex, const std::string& data_hex) {
  const std::string script =
      "import hashlib, sys; "
      "print(hashlib.blake2s(bytes.fromhex(sys.argv[2]), key=bytes.fromhex(sys.argv[1])).hexdigest())";
  const std::string tool = meshos::test::python3_cli();
  std::string out = run(tool, shell_quote(tool) + " -c " + shell_quote(script) + " " + shell_quote(key_hex) + " " +
                                  shell_quote(data_hex));
  return out.substr(0, 64);
}

}  // namespace

TEST_CASE("RFC 8032 test vectors: public key from seed and signatures") {
  auto kp1 = EntityKeypair::from_seed(array_from_hex<32>(kRfcSeed1));
  CHECK(hex_of(kp1.public_key()) == kRfcPublic1);
  auto sig1 = kp1.sign(nullptr, 0);
  REQUIRE(sig1);
  CHECK(hex_of(*sig1) == kRfcSignature1);
  CHECK(kp1.verify(nullptr, 0, *sig1));

  auto kp2 = EntityKeypair::from_seed(array_from_hex<32>(kRfcSeed2));
  CHECK(hex_of(kp2.public_key()) == kRfcPublic2);
  const Bytes message{0x72};
  auto sig2 = kp2.sign(message);
  REQUIRE(sig2);
  CHECK(hex_of(*sig2) == kRfcSignature2);
  CHECK(meshos::ed25519_verify(kp2.public_key(), message.data(), message.size(), *sig2));
}

TEST_CASE("ids of the RFC 8032 key match the values the Rust crate derives") {
  auto kp = EntityKeypair::from_seed(array_from_hex<32>(kRfcSeed1));
  CHECK(meshos::to_hex(kp.origin_hash()) == "96dd720507478b63");
  CHECK(meshos::to_hex(kp.node_id()) == "652f03ba688dde03");
  CHECK(meshos::origin_hash_of(kp.public_key()) == kp.origin_hash());
  CHECK(meshos::node_id_of(kp.public_key()) == kp.node_id());
}

TEST_CASE("sign and verify round trip and tampering is detected") {
  auto kp = EntityKeypair::generate();
  const Bytes message = text_bytes("enter maintenance on node 7");
  auto sig = kp.sign(message);
  REQUIRE(sig);
  CHECK(kp.verify(message, *sig));

  Bytes tampered_message = message;
  tampered_message.back() ^= 0x01;
  CHECK_FALSE(kp.verify(tampered_message, *sig));

  for (std::size_t byte : {std::size_t{0}, std::size_t{31}, std::size_t{32}, std::size_t{63}}) {
    Signature tampered_sig = *sig;
    tampered_sig[byte] ^= 0x80;
    CHECK_FALSE(kp.verify(message, tampered_sig));
  }

  auto other = EntityKeypair::generate();
  CHECK_FALSE(other.verify(message, *sig));
  CHECK_FALSE(meshos::ed25519_verify(other.public_key(), message.data(), message.size(), *sig));
}

TEST_CASE("verifying against a key that is not a curve point fails instead of crashing") {
  PublicKey not_a_point{};
  not_a_point.fill(0xff);
  not_a_point[31] = 0x7f;
  Signature sig{};
  CHECK_FALSE(meshos::ed25519_verify(not_a_point, nullptr, 0, sig));
}

TEST_CASE("generate produces distinct signing keys") {
  auto a = EntityKeypair::generate();
  auto b = EntityKeypair::generate();
  CHECK(a.has_secret());
  CHECK(a.public_key() != b.public_key());
  auto seed = a.seed();
  REQUIRE(seed);
  CHECK(EntityKeypair::from_seed(*seed).public_key() == a.public_key());
}

TEST_CASE("a public-only key verifies but cannot sign or reveal a seed") {
  auto full = EntityKeypair::from_seed(array_from_hex<32>(kRfcSeed2));
  auto pub = EntityKeypair::public_only(full.public_key());
  CHECK_FALSE(pub.has_secret());
  CHECK(pub.public_key() == full.public_key());
  CHECK(pub.origin_hash() == full.origin_hash());

  auto sig = pub.sign(Bytes{1, 2, 3});
  REQUIRE_FALSE(sig);
  CHECK(sig.error().code() == meshos::Errc::public_key_only);
  auto seed = pub.seed();
  REQUIRE_FALSE(seed);
  CHECK(seed.error().code() == meshos::Errc::public_key_only);

  const Bytes message{0x72};
  CHECK(pub.verify(message, array_from_hex<64>(kRfcSignature2)));
}

TEST_CASE("hex key forms: exactly 64 hex digits") {
  auto kp = EntityKeypair::from_seed_hex(kRfcSeed1);
  REQUIRE(kp);
  CHECK(kp->has_secret());
  CHECK(hex_of(kp->public_key()) == kRfcPublic1);

  auto upper = EntityKeypair::from_seed_hex("9D61B19DEFFD5A60BA844AF492EC2CC44449C5697B326919703BAC031CAE7F60");
  REQUIRE(upper);
  CHECK(hex_of(upper->public_key()) == kRfcPublic1);

  auto pub = EntityKeypair::from_public_hex(kRfcPublic1);
  REQUIRE(pub);
  CHECK_FALSE(pub->has_secret());
  CHECK(hex_of(pub->public_key()) == kRfcPublic1);

  const std::vector<std::string> bad = {
      "",
      kRfcSeed1.substr(0, 62),
      kRfcSeed1 + "00",
      kRfcSeed1.substr(0, 63) + "g",
      " " + kRfcSeed1.substr(1),
      kRfcSeed1.substr(0, 63),
  };
  for (const auto& text : bad) {
    CAPTURE(text);
    auto seed_result = EntityKeypair::from_seed_hex(text);
    REQUIRE_FALSE(seed_result);
    CHECK(seed_result.error().code() == meshos::Errc::invalid_key);
    auto public_result = EntityKeypair::from_public_hex(text);
    REQUIRE_FALSE(public_result);
    CHECK(public_result.error().code() == meshos::Errc::invalid_key);
  }
}

TEST_CASE("a malformed seed is not echoed into the error message") {
  const std::string almost = kRfcSeed1.substr(0, 63) + "x";
  auto result = EntityKeypair::from_seed_hex(almost);
  REQUIRE_FALSE(result);
  CHECK(result.error().message.find(kRfcSeed1.substr(0, 16)) == std::string::npos);
  CHECK(result.error().message.find("64 hex digits") != std::string::npos);
}

TEST_CASE("copies keep the secret but a moved-from keypair keeps only its public key") {
  auto original = EntityKeypair::from_seed(array_from_hex<32>(kRfcSeed1));
  EntityKeypair copy = original;
  CHECK(copy.has_secret());
  CHECK(copy.public_key() == original.public_key());
  CHECK(hex_of(*copy.sign(nullptr, 0)) == kRfcSignature1);

  auto other = EntityKeypair::from_seed(array_from_hex<32>(kRfcSeed2));
  copy = other;
  CHECK(copy.public_key() == other.public_key());
  CHECK(copy.has_secret());

  EntityKeypair moved = std::move(original);
  CHECK(moved.has_secret());
  CHECK(hex_of(moved.public_key()) == kRfcPublic1);
  CHECK(hex_of(*moved.sign(nullptr, 0)) == kRfcSignature1);
  CHECK_FALSE(original.has_secret());  // NOLINT(bugprone-use-after-move): the moved-from state is specified
  CHECK(hex_of(original.public_key()) == kRfcPublic1);
  CHECK_FALSE(original.sign(nullptr, 0));

  EntityKeypair target = EntityKeypair::public_only(other.public_key());
  target = std::move(moved);
  CHECK(target.has_secret());
  CHECK(hex_of(target.public_key()) == kRfcPublic1);
  CHECK_FALSE(moved.has_secret());  // NOLINT(bugprone-use-after-move)
}

TEST_CASE("blake2s_mac refuses keys outside 1..32 bytes") {
  const std::uint8_t key[33] = {};
  const std::uint8_t data[1] = {0};
  CHECK_THROWS_AS(meshos::blake2s_mac(key, 0, data, 1), meshos::SdkException);
  CHECK_THROWS_AS(meshos::blake2s_mac(key, 33, data, 1), meshos::SdkException);
  CHECK_NOTHROW(meshos::blake2s_mac(key, 32, data, 1));
  CHECK_NOTHROW(meshos::blake2s_mac(key, 1, nullptr, 0));
}

TEST_CASE("cross-check: blake2s_mac equals python3 hashlib.blake2s(key=...)") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"6b", ""},
      {"6e65742d6f726967696e2d7631", "616263"},
      {"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
       "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f202122232425262728292a2b2c2d2e2f"
       "303132333435363738393a3b3c3d3e3f40"},
  };
  for (const auto& one : cases) {
    const std::string& key_hex = one.first;  // named, not bound: CAPTURE's lambda cannot capture a binding
    const std::string& data_hex = one.second;
    CAPTURE(key_hex);
    CAPTURE(data_hex);
    Bytes key;
    Bytes data;
    REQUIRE(meshos::hex_to_bytes(key_hex, key));
    REQUIRE(meshos::hex_to_bytes(data_hex, data));
    auto mac = meshos::blake2s_mac(key.data(), key.size(), data.data(), data.size());
    CHECK(hex_of(mac) == python_blake2s_mac(key_hex, data_hex));
  }
}

TEST_CASE("cross-check: public keys match the openssl CLI and ids match python3 hashlib") {
  std::vector<Seed> seeds;
  seeds.push_back(array_from_hex<32>(kRfcSeed1));
  seeds.push_back(array_from_hex<32>(kRfcSeed2));
  seeds.push_back(Seed{});
  Seed counting{};
  for (std::size_t i = 0; i < counting.size(); ++i) counting[i] = static_cast<std::uint8_t>(i + 1);
  seeds.push_back(counting);
  Seed all_ff{};
  all_ff.fill(0xff);
  seeds.push_back(all_ff);
  seeds.push_back(*EntityKeypair::generate().seed());

  for (const auto& seed : seeds) {
    CAPTURE(hex_of(seed));
    auto kp = EntityKeypair::from_seed(seed);
    CHECK(hex_of(kp.public_key()) == hex_of(openssl_public_key(seed)));
    const PythonIds ids = python_ids(kp.public_key());
    CHECK(meshos::to_hex(kp.origin_hash()) == meshos::to_hex(ids.origin));
    CHECK(meshos::to_hex(kp.node_id()) == meshos::to_hex(ids.node));
  }
}
