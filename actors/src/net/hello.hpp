#pragma once
// Peer authentication: a hello proves its sender's node id with the node's Ed25519 key, is fresh (it answers
// a single-use nonce the receiver chose) and is bound to the node it is meant for (it cannot be relayed to
// a third node). Only members of the cluster are admitted. Pure functions, no actors.
#include <cstdint>
#include <set>

#include "meshos/identity.hpp"
#include "meshos/result.hpp"
#include "net/wire.hpp"

namespace meshos::net {

// "meshos/hello/v3" 0x00 | u64 node_id | str node_name | str version | str listen_host | u16 listen_port |
// str capabilities_json | str maintenance_json | str daemons_json | u32 n, n x str peers | u32 m, m x u64 peer_ids |
// u64 info_rev | 32 bytes public_key | u64 answers | u64 challenge | u64 target   (signing.md conventions)
Bytes hello_signing_bytes(const NetHello& h);

// Fills public_key and signature (node_id is set to the key's id).
void sign_hello(NetHello& h, const EntityKeypair& key);
// Makes `h` answer the receiver's nonce `answers`, ask `challenge` back (0: nothing to answer) and name
// `target`, then signs it.
void seal_hello(NetHello& h, std::uint64_t answers, std::uint64_t challenge, NodeId target, const EntityKeypair& key);

// The set of node ids (derived from public keys) admitted as peers.
class Membership {
 public:
  Membership() = default;
  explicit Membership(const std::vector<PublicKey>& members);
  bool contains(NodeId id) const { return ids_.count(id) != 0; }
  bool contains_key(const PublicKey& pk) const { return keys_.count(pk) != 0; }
  std::size_t size() const { return ids_.size(); }

 private:
  std::set<NodeId> ids_;
  std::set<PublicKey> keys_;
};

// Kind peer_refused, with the reason: not signed, key and id disagree, bad signature, not a member, stale or
// foreign nonce, meant for another node, too much gossip.
Result<void> verify_hello(const NetHello& h, std::uint64_t expected_answer, NodeId expected_target,
                          const Membership& members, std::size_t max_gossip);

}  // namespace meshos::net
