#include "net/hello.hpp"

#include <algorithm>
#include <cstring>

#include "meshos/canonical.hpp"

namespace meshos::net {

namespace {

constexpr char kHelloDomain[] = "meshos/hello/v4";  // v3: the node's name; v4: its inventory

SdkError refused(const std::string& why) { return SdkError{Errc::peer_refused, why}; }

}  // namespace

Bytes hello_signing_bytes(const NetHello& h) {
  CanonicalWriter w;
  w.domain(kHelloDomain);
  w.u64(h.node_id);
  w.str(h.node_name);
  w.str(h.version);
  w.str(h.listen_host);
  w.u16(h.listen_port);
  w.str(h.capabilities_json);
  w.str(h.maintenance_json);
  w.str(h.daemons_json);
  w.str(h.inventory_json);
  w.u32(static_cast<std::uint32_t>(h.peers.size()));
  for (const auto& p : h.peers) w.str(p);
  w.u32(static_cast<std::uint32_t>(h.peer_ids.size()));
  for (auto id : h.peer_ids) w.u64(id);
  w.u64(h.info_rev);
  w.bytes(h.public_key);
  w.u64(h.answers);
  w.u64(h.challenge);
  w.u64(h.target);
  return w.take();
}

void sign_hello(NetHello& h, const EntityKeypair& key) {
  h.node_id = key.node_id();
  h.public_key.assign(key.public_key().begin(), key.public_key().end());
  h.signature.clear();
  auto sig = key.sign(hello_signing_bytes(h));
  if (sig) h.signature.assign(sig->begin(), sig->end());
}

void seal_hello(NetHello& h, std::uint64_t answers, std::uint64_t challenge, NodeId target, const EntityKeypair& key) {
  h.answers = answers;
  h.challenge = challenge;
  h.target = target;
  sign_hello(h, key);
}

Membership::Membership(const std::vector<PublicKey>& members) {
  for (const auto& pk : members) {
    keys_.insert(pk);
    ids_.insert(node_id_of(pk));
  }
}

Result<void> verify_hello(const NetHello& h, std::uint64_t expected_answer, NodeId expected_target,
                          const Membership& members, std::size_t max_gossip) {
  if (h.public_key.size() != 32 || h.signature.size() != 64) return refused("the hello is not signed");
  PublicKey pk;
  std::memcpy(pk.data(), h.public_key.data(), pk.size());
  if (node_id_of(pk) != h.node_id) return refused("the hello's node id is not the id of its key");
  if (!members.contains_key(pk)) return refused("node " + to_hex(h.node_id) + " is not a member of this cluster");
  if (h.target != expected_target) return refused("the hello is meant for node " + to_hex(h.target));
  if (expected_answer == 0 || h.answers != expected_answer)
    return refused("the hello does not answer this node's challenge (stale or replayed)");
  if (h.peers.size() != h.peer_ids.size() || h.peers.size() > max_gossip)
    return refused("the hello's gossip is malformed or longer than " + std::to_string(max_gossip));
  Signature sig;
  std::memcpy(sig.data(), h.signature.data(), sig.size());
  const Bytes signed_bytes = hello_signing_bytes(h);
  if (!ed25519_verify(pk, signed_bytes.data(), signed_bytes.size(), sig))
    return refused("the hello's signature does not verify");
  return {};
}

}  // namespace meshos::net
