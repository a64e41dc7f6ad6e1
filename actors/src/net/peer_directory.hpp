#pragma once
// The gateway's book of peers: which actor dials (or answers) which address, which node each address turned
// out to be once its hello was accepted, and the addresses it ignores (this node's own, or a second address
// of a node already held). Pure bookkeeping, no actor runs here: the gateway asks and carries out what it is
// told (stop an actor, spawn one), and every rule is unit-tested on its own (peer_directory_test; the model
// is CAF 0.17's io/basp/routing_table.hpp).
#include <cstddef>
#include <map>
#include <set>
#include <vector>

#include <caf/actor.hpp>

#include "meshos/node.hpp"
#include "meshos/types.hpp"

namespace meshos::net {

// The answer to a peer actor's claim that its address is node N.
enum class Claim : int {
  Admitted = 0,   // it is N's address now
  Self = 1,       // N is this node: the address is ignored from now on
  Duplicate = 2,  // N is connected at another address: this one is ignored from now on
};

class PeerDirectory {
 public:
  struct Entry {
    caf::actor actor;
    NodeId node = 0;         // 0 until its hello was accepted
    bool connected = false;  // as its actor last reported
  };
  struct ClaimOutcome {
    Claim claim = Claim::Admitted;
    // The actor of the node's previous address, which has no job left (the node restarted on another port);
    // the caller stops it. Null when there is none.
    caf::actor retired;
  };

  PeerDirectory() = default;
  PeerDirectory(NodeId self, std::size_t capacity) : self_(self), capacity_(capacity) {}

  // Worth an actor of its own: not `self_address`, not ignored, not tracked already.
  bool trackable(const PeerAddress& addr, const PeerAddress& self_address) const;
  bool full() const { return peers_.size() >= capacity_; }
  // Tracks `addr` with its actor; false, and nothing changes, when the directory is full or holds it already.
  bool add(const PeerAddress& addr, caf::actor actor);

  // The actor at `addr` says its peer proved to be `node`.
  ClaimOutcome claim(const PeerAddress& addr, NodeId node);
  // The actor at `addr` reports its node and whether it is connected: false when `addr` is not tracked.
  bool report(const PeerAddress& addr, NodeId node, bool connected);
  // The actor at `addr` ended (its peer departed): false when it was not tracked.
  bool forget(const PeerAddress& addr);

  bool admitted(NodeId node) const { return admitted_.count(node) != 0; }
  bool ignored(const PeerAddress& addr) const { return ignored_.count(addr) != 0; }
  // The entry at `addr`, else the one node `node` was admitted at; nullptr when neither.
  const Entry* find(const PeerAddress& addr, NodeId node) const;
  const std::map<PeerAddress, Entry>& entries() const { return peers_; }
  // Forgets every entry and returns their actors, for the caller to stop (the gateway is stopping: what was
  // admitted or ignored stays as it was).
  std::vector<caf::actor> clear();

 private:
  NodeId self_ = 0;
  std::size_t capacity_ = 0;
  std::map<PeerAddress, Entry> peers_;
  std::map<NodeId, PeerAddress> admitted_;
  std::set<PeerAddress> ignored_;
};

}  // namespace meshos::net
