// A peer's hello (actors/src/net/hello.hpp), the one wire message a stranger's node gets to send before it is
// admitted. Two paths run on every input:
//   1. The bytes as CAF's binary deserializer reads a NetHello off the wire, then verify_hello against a
//      membership of two fixed keys (a peer and this node), hello_signing_bytes, and the JSON a peer's admitted hello carries. A
//      deserialization error is a fine outcome; a crash, hang or sanitizer report is not. What verifies
//      must come from the member and answer this node's nonce, and what deserializes must read back as the same
//      hello once serialized again.
//   2. The bytes as a recipe (FuzzedDataProvider): fill a NetHello's fields, seal it with a fixed key
//      (member or outsider), and check verify_hello's verdict against its documented rules: a sealed hello
//      from the member passes exactly when it answers a nonzero nonce, names this node and carries gossip of
//      matching lengths within the limit; then one field or signature byte is changed, and the changed
//      hello must never verify.
// Seeds (test/fuzz/corpus/hello/) are serialized hellos written by this binary (declares_4gb_key included):
//   MESHOS_FUZZ_HELLO_WRITE_SEEDS=test/fuzz/corpus/hello build-fuzz/test/fuzz/meshos_fuzz_hello
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <fuzzer/FuzzedDataProvider.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "fuzz_support.hpp"
#include "meshos/capability.hpp"
#include "meshos/identity.hpp"
#include "meshos/inventory.hpp"
#include "meshos/maintenance.hpp"
#include "net/hello.hpp"
#include "net/wire.hpp"

namespace {

using meshos::EntityKeypair;
using meshos::fuzz::require;
using meshos::net::NetHello;

constexpr std::uint64_t kAnswer = 0x5eed'0000'0000'0001ULL;  // the nonce this node handed out
constexpr std::size_t kMaxGossip = 16;

EntityKeypair key_of(std::uint8_t fill) {
  meshos::Seed seed{};
  seed.fill(fill);
  return EntityKeypair::from_seed(seed);
}

const EntityKeypair& member_key() {
  static const EntityKeypair key = key_of(0x11);
  return key;
}
const EntityKeypair& outsider_key() {
  static const EntityKeypair key = key_of(0x22);
  return key;
}
// The receiving node (its id is what a hello must name as target).
const EntityKeypair& this_node_key() {
  static const EntityKeypair key = key_of(0x33);
  return key;
}
const meshos::net::Membership& members() {
  static const meshos::net::Membership m({member_key().public_key(), this_node_key().public_key()});
  return m;
}

std::vector<char> serialize(NetHello h) {
  std::vector<char> buf;
  caf::binary_serializer sink(static_cast<caf::execution_unit*>(nullptr), buf);
  auto err = inspect(sink, h);
  require(!err, "a NetHello does not serialize");
  return buf;
}

// ---- path 1: bytes off the wire ----

void fuzz_wire_bytes(const std::uint8_t* data, std::size_t size) {
  NetHello h;
  caf::binary_deserializer source(static_cast<caf::execution_unit*>(nullptr), reinterpret_cast<const char*>(data),
                                  size);
  if (auto err = inspect(source, h)) return;
  // What deserializes survives the wire again unchanged (CAF accepts non-minimal length prefixes, so
  // the bytes themselves may differ; the value may not).
  const auto once = serialize(h);
  NetHello back;
  caf::binary_deserializer reread(static_cast<caf::execution_unit*>(nullptr), once.data(), once.size());
  require(!inspect(reread, back) && reread.remaining() == 0, "a serialized NetHello does not read back");
  require(serialize(back) == once, "a NetHello reads back as another hello");

  (void)meshos::net::hello_signing_bytes(h);
  auto valid = meshos::net::verify_hello(h, kAnswer, this_node_key().node_id(), members(), kMaxGossip);
  if (valid) {
    require(h.public_key.size() == 32 && h.signature.size() == 64, "an unsigned hello verifies");
    require(h.node_id == member_key().node_id() || h.node_id == this_node_key().node_id(),
            "a hello verifies for a node that is not a member");
    require(h.answers == kAnswer && h.target == this_node_key().node_id(),
            "a hello verifies that does not answer this node's nonce or names another node");
    require(h.peers.size() == h.peer_ids.size() && h.peers.size() <= kMaxGossip, "a hello's bad gossip verifies");
  } else {
    require(!valid.error().message.empty() && valid.error().code() == meshos::Errc::peer_refused,
            "a refused hello has no reason or another kind than peer_refused");
  }
  // What an admitted peer's hello is read into (peer.cpp): the refused ones must be just as harmless.
  (void)meshos::capability_set_from_json_text(h.capabilities_json);
  if (!h.maintenance_json.empty()) (void)meshos::maintenance_view_from_json_text(h.maintenance_json);
  if (!h.inventory_json.empty()) (void)meshos::inventory_from_json_text(h.inventory_json);
}

// ---- path 2: a sealed hello, then one change ----

NetHello hello_from(FuzzedDataProvider& in) {
  NetHello h;
  h.version = in.ConsumeRandomLengthString(64);
  h.listen_host = in.ConsumeRandomLengthString(64);
  h.listen_port = in.ConsumeIntegral<std::uint16_t>();
  h.capabilities_json = in.ConsumeRandomLengthString(256);
  h.maintenance_json = in.ConsumeRandomLengthString(256);
  h.inventory_json = in.ConsumeRandomLengthString(128);
  const auto peers = in.ConsumeIntegralInRange<std::size_t>(0, kMaxGossip + 2);
  for (std::size_t i = 0; i < peers; ++i) h.peers.push_back(in.ConsumeRandomLengthString(32));
  // Usually as many ids as peers; sometimes not (the receiver must refuse that).
  std::size_t ids = peers;
  if (in.ConsumeIntegralInRange<int>(0, 7) == 0) ids = in.ConsumeIntegralInRange<std::size_t>(0, kMaxGossip + 2);
  for (std::size_t i = 0; i < ids; ++i) h.peer_ids.push_back(in.ConsumeIntegral<std::uint64_t>());
  h.info_rev = in.ConsumeIntegral<std::uint64_t>();
  return h;
}

// Changes exactly one thing in a sealed hello; the signature no longer covers it (or it is no longer a
// well-formed proof). Returns false if the recipe picked a field that cannot change (an empty string).
bool change_one_thing(NetHello& h, FuzzedDataProvider& in) {
  const auto flip = static_cast<std::uint8_t>(in.ConsumeIntegralInRange<int>(1, 255));
  auto flip_in = [&](auto& seq) {
    if (seq.empty()) return false;
    const auto at = in.ConsumeIntegralInRange<std::size_t>(0, seq.size() - 1);
    seq[at] = static_cast<std::decay_t<decltype(seq[at])>>(seq[at] ^ flip);
    return true;
  };
  const auto bit = std::uint64_t{1} << in.ConsumeIntegralInRange<int>(0, 63);
  switch (in.ConsumeIntegralInRange<int>(0, 20)) {
    case 0: return flip_in(h.signature);
    case 1: return flip_in(h.public_key);
    case 2: h.node_id ^= bit; return true;
    case 3: return flip_in(h.version);
    case 4: return flip_in(h.listen_host);
    case 5: h.listen_port ^= static_cast<std::uint16_t>(flip); return true;
    case 6: return flip_in(h.capabilities_json);
    case 7: return flip_in(h.maintenance_json);
    case 8:
      if (h.peers.empty()) return false;
      return flip_in(h.peers[in.ConsumeIntegralInRange<std::size_t>(0, h.peers.size() - 1)]);
    case 9: return flip_in(h.peer_ids);
    case 10: h.info_rev ^= bit; return true;
    case 11: h.answers ^= bit; return true;
    case 12: h.challenge ^= bit; return true;
    case 13: h.target ^= bit; return true;
    case 14:  // one more gossip entry, kept well-formed
      h.peers.push_back(in.ConsumeRandomLengthString(16));
      h.peer_ids.push_back(in.ConsumeIntegral<std::uint64_t>());
      return true;
    case 15:  // one gossip entry fewer
      if (h.peers.empty() || h.peer_ids.empty()) return false;
      h.peers.pop_back();
      h.peer_ids.pop_back();
      return true;
    case 16: h.signature.resize(in.ConsumeIntegralInRange<std::size_t>(0, 63)); return true;
    case 17: h.signature.push_back(flip); return true;
    case 18: h.version.push_back(static_cast<char>(flip)); return true;
    case 19: return flip_in(h.inventory_json);
    default:  // moves a byte from one string to the next: same bytes, other fields
      if (h.version.empty()) return false;
      h.listen_host.insert(h.listen_host.begin(), h.version.back());
      h.version.pop_back();
      return true;
  }
}

void fuzz_sealed_hello(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  const bool from_member = in.ConsumeIntegralInRange<int>(0, 7) != 0;
  const auto& key = from_member ? member_key() : outsider_key();
  NetHello h = hello_from(in);
  const std::uint64_t answers = in.ConsumeIntegralInRange<int>(0, 15) == 0 ? 0 : in.ConsumeIntegral<std::uint64_t>();
  const std::uint64_t challenge = in.ConsumeIntegral<std::uint64_t>();
  const bool for_this_node = in.ConsumeIntegralInRange<int>(0, 15) != 0;
  const std::uint64_t target = for_this_node ? this_node_key().node_id() : in.ConsumeIntegral<std::uint64_t>();
  meshos::net::seal_hello(h, answers, challenge, target, key);
  require(h.node_id == key.node_id() && h.public_key.size() == 32 && h.signature.size() == 64,
          "seal_hello leaves the hello without a full proof of identity");
  require(h.answers == answers && h.challenge == challenge && h.target == target,
          "seal_hello does not set the nonces and target it was given");

  const auto expected_answer = answers;  // the receiver's own nonce: the one this hello answers
  const auto self_id = this_node_key().node_id();
  const auto max_gossip = in.ConsumeIntegralInRange<std::size_t>(0, kMaxGossip);
  const bool should_pass = from_member && target == self_id && expected_answer != 0 &&
                           h.peers.size() == h.peer_ids.size() && h.peers.size() <= max_gossip;
  const bool passed = static_cast<bool>(meshos::net::verify_hello(h, expected_answer, self_id, members(), max_gossip));
  if (should_pass && !passed) {
    std::fprintf(stderr, "refused: %s\n",
                 meshos::net::verify_hello(h, expected_answer, self_id, members(), max_gossip).error().message.c_str());
  }
  require(passed == should_pass, should_pass ? "a correctly sealed hello from a member is refused"
                                             : "a hello verifies that breaks the admission rules");

  // The same hello against another nonce or for another node: refused.
  if (expected_answer != 0) {
    const auto other = expected_answer ^ (std::uint64_t{1} << in.ConsumeIntegralInRange<int>(0, 63));
    require(!meshos::net::verify_hello(h, other, self_id, members(), max_gossip),
            "a hello verifies against a nonce it does not answer");
  }
  require(!meshos::net::verify_hello(h, expected_answer, self_id ^ 1, members(), max_gossip),
          "a hello verifies at a node it does not name");

  NetHello changed = h;
  if (!change_one_thing(changed, in)) return;
  require(!meshos::net::verify_hello(changed, expected_answer, self_id, members(), max_gossip),
          "a hello changed after sealing still verifies");
  // Whatever was changed, the changed hello survives the wire like any other.
  const auto wire = serialize(changed);
  fuzz_wire_bytes(reinterpret_cast<const std::uint8_t*>(wire.data()), wire.size());
}

// ---- seeds ----

// Writes one seed, after checking that the receiver (path 1's verify_hello) admits it exactly if `admitted`.
void write_seed(const std::string& dir, const std::string& name, const NetHello& h, bool admitted) {
  const auto bytes = serialize(h);
  NetHello back;
  caf::binary_deserializer source(static_cast<caf::execution_unit*>(nullptr), bytes.data(), bytes.size());
  require(!inspect(source, back), "a seed does not deserialize");
  const bool verified =
      static_cast<bool>(meshos::net::verify_hello(back, kAnswer, this_node_key().node_id(), members(), kMaxGossip));
  require(verified == admitted, "a seed hello is not admitted as it should be, or admitted when it should not");
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  require(f != nullptr, "cannot write a seed file");
  require(std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(), "cannot write a seed file");
  std::fclose(f);
}

void write_seeds(const std::string& dir) {
  const auto self_id = this_node_key().node_id();
  NetHello full;
  full.version = "0.9.0";
  full.listen_host = "10.0.0.7";
  full.listen_port = 4710;
  full.capabilities_json = R"({"tags":["hardware.gpu","hardware.memory_gb=64"],"metadata":{"rack":"b4"}})";
  full.maintenance_json = R"({"kind":"active"})";
  full.inventory_json = R"({"cpu_load_1m":0.52,"memory_used_bytes":3221225472,"memory_total_bytes":8589934592})";
  full.peers = {"10.0.0.8:4710", "10.0.0.9:4710"};
  full.peer_ids = {0x0102030405060708ULL, 0x1112131415161718ULL};
  full.info_rev = 7;
  meshos::net::seal_hello(full, kAnswer, 0xc4a11e49e0001ULL, self_id, member_key());
  write_seed(dir, "member_full", full, true);

  NetHello minimal;
  minimal.version = "0.9.0";
  minimal.listen_host = "127.0.0.1";
  minimal.listen_port = 4711;
  meshos::net::seal_hello(minimal, kAnswer, 0, self_id, member_key());
  write_seed(dir, "member_minimal", minimal, true);

  NetHello outsider = full;
  meshos::net::seal_hello(outsider, kAnswer, 1, self_id, outsider_key());
  write_seed(dir, "outsider", outsider, false);

  NetHello wrong_target = minimal;
  meshos::net::seal_hello(wrong_target, kAnswer, 1, self_id ^ 0xff, member_key());
  write_seed(dir, "wrong_target", wrong_target, false);

  NetHello unsigned_hello = full;
  unsigned_hello.signature.clear();
  unsigned_hello.public_key.clear();
  write_seed(dir, "unsigned", unsigned_hello, false);

  // Deeply nested JSON in the fields a peer parses once the hello is admitted.
  NetHello nested = minimal;
  const std::size_t depth = 1000;
  nested.capabilities_json = "{\"tags\":" + std::string(depth, '[') + std::string(depth, ']') + "}";
  std::string objects;
  for (std::size_t i = 0; i < depth; ++i) objects += "{\"a\":";
  nested.maintenance_json = objects + "1" + std::string(depth, '}');
  meshos::net::seal_hello(nested, kAnswer, 2, self_id, member_key());
  write_seed(dir, "member_nested_json", nested, true);

  NetHello gossip = minimal;
  for (std::size_t i = 0; i < kMaxGossip + 1; ++i) {
    gossip.peers.push_back("10.1.0." + std::to_string(i) + ":4710");
    gossip.peer_ids.push_back(i + 1);
  }
  meshos::net::seal_hello(gossip, kAnswer, 3, self_id, member_key());
  write_seed(dir, "member_too_much_gossip", gossip, false);

  // The input that made a node allocate 4 GB: the fields before the key, then a key declaring 2^32-1 bytes
  // followed by a few.
  std::vector<char> bytes;
  caf::binary_serializer sink(static_cast<caf::execution_unit*>(nullptr), bytes);
  NetHello h = full;
  std::size_t declared = 0xffffffffu;
  require(!sink(h.node_id, h.node_name, h.version, h.listen_host, h.listen_port, h.capabilities_json,
                h.maintenance_json, h.daemons_json, h.inventory_json, h.peers, h.peer_ids, h.info_rev) &&
              !sink.begin_sequence(declared),
          "the 4 GB seed does not serialize");
  bytes.insert(bytes.end(), 16, '\x2a');
  std::FILE* f = std::fopen((dir + "/declares_4gb_key").c_str(), "wb");
  require(f != nullptr && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(), "cannot write a seed file");
  std::fclose(f);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MESHOS_FUZZ_HELLO_WRITE_SEEDS")) {
    write_seeds(dir);
    std::fprintf(stderr, "hello seeds written to %s\n", dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz_wire_bytes(data, size);
  fuzz_sealed_hello(data, size);
  return 0;
}
