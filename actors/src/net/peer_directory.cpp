#include "net/peer_directory.hpp"

namespace meshos::net {

bool PeerDirectory::trackable(const PeerAddress& addr, const PeerAddress& self_address) const {
  return !(addr == self_address) && ignored_.count(addr) == 0 && peers_.count(addr) == 0;
}

bool PeerDirectory::add(const PeerAddress& addr, caf::actor actor) {
  if (full()) return false;
  return peers_.emplace(addr, Entry{std::move(actor), 0, false}).second;
}

PeerDirectory::ClaimOutcome PeerDirectory::claim(const PeerAddress& addr, NodeId node) {
  ClaimOutcome out;
  if (node == self_) {
    ignored_.insert(addr);
    peers_.erase(addr);
    out.claim = Claim::Self;
    return out;
  }
  auto held = admitted_.find(node);
  if (held != admitted_.end() && !(held->second == addr)) {
    auto other = peers_.find(held->second);
    if (other != peers_.end() && other->second.connected) {
      ignored_.insert(addr);
      peers_.erase(addr);
      out.claim = Claim::Duplicate;
      return out;
    }
    // The node moved (restarted on another port): the old address's actor has no job left.
    if (other != peers_.end()) {
      out.retired = std::move(other->second.actor);
      peers_.erase(other);
    }
  }
  auto entry = peers_.find(addr);
  // The address was another node's (that node moved away, another took the port): that admission ends.
  if (entry != peers_.end() && entry->second.node != 0 && entry->second.node != node) {
    auto old = admitted_.find(entry->second.node);
    if (old != admitted_.end() && old->second == addr) admitted_.erase(old);
  }
  admitted_[node] = addr;
  if (entry != peers_.end()) entry->second.node = node;
  out.claim = Claim::Admitted;
  return out;
}

bool PeerDirectory::report(const PeerAddress& addr, NodeId node, bool connected) {
  auto it = peers_.find(addr);
  if (it == peers_.end()) return false;
  it->second.node = node;
  it->second.connected = connected;
  return true;
}

bool PeerDirectory::forget(const PeerAddress& addr) {
  auto it = peers_.find(addr);
  if (it == peers_.end()) return false;
  auto held = admitted_.find(it->second.node);
  if (held != admitted_.end() && held->second == addr) admitted_.erase(held);
  peers_.erase(it);
  return true;
}

const PeerDirectory::Entry* PeerDirectory::find(const PeerAddress& addr, NodeId node) const {
  auto it = peers_.find(addr);
  if (it == peers_.end()) {
    auto held = admitted_.find(node);
    if (held != admitted_.end()) it = peers_.find(held->second);
  }
  return it == peers_.end() ? nullptr : &it->second;
}

std::vector<caf::actor> PeerDirectory::clear() {
  std::vector<caf::actor> actors;
  for (auto& kv : peers_) actors.push_back(std::move(kv.second.actor));
  peers_.clear();
  return actors;
}

}  // namespace meshos::net
