#include "meshos/blast_radius.hpp"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <variant>

#include <nlohmann/json.hpp>

#include "meshos/canonical.hpp"
#include "meshos/identity.hpp"

namespace meshos {
namespace {

template <class Id>
void sort_unique(std::vector<Id>& ids) {
  std::sort(ids.begin(), ids.end());
  ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
}

std::vector<NodeId> every_node(const MeshOsSnapshot& s) {
  std::vector<NodeId> nodes{s.node_id};
  for (const auto& entry : s.peers) nodes.push_back(entry.first);
  return nodes;
}

std::vector<NodeId> avoided_here(const MeshOsSnapshot& s) {
  std::vector<NodeId> peers;
  for (const auto& a : s.avoid) peers.push_back(a.peer);
  return peers;
}

std::vector<NodeId> hosts_of(DaemonId daemon, const MeshOsSnapshot& s) {
  std::vector<NodeId> hosts;
  if (s.daemons.count(daemon) != 0) hosts.push_back(s.node_id);
  for (const auto& [node, peer] : s.peers)
    if (std::any_of(peer.daemons.begin(), peer.daemons.end(), [&](const DaemonDescription& d) { return d.id == daemon; }))
      hosts.push_back(node);
  return hosts;
}

void write_ids(CanonicalWriter& w, const std::vector<std::uint64_t>& ids) {
  w.u32(static_cast<std::uint32_t>(ids.size()));
  for (auto id : ids) w.u64(id);
}

// The BLAKE2s key; the domain tag inside the bytes versions their layout.
constexpr char kHashKey[] = "meshos-blast-radius";

}  // namespace

BlastRadius simulate(const IceAction& proposal, const MeshOsSnapshot& snapshot) {
  BlastRadius r;
  std::visit(
      [&](const auto& action) {
        using T = std::decay_t<decltype(action)>;
        if constexpr (std::is_same_v<T, ice::FreezeCluster> || std::is_same_v<T, ice::ThawCluster>) {
          r.nodes = every_node(snapshot);
        } else if constexpr (std::is_same_v<T, ice::FlushAvoidLists>) {
          if (const auto* local = std::get_if<avoid_scope::Local>(&action.scope)) {
            r.nodes = {local->node};
            if (local->node == snapshot.node_id) r.peers = avoided_here(snapshot);
          } else if (const auto* on_peer = std::get_if<avoid_scope::OnPeer>(&action.scope)) {
            r.nodes = every_node(snapshot);
            r.peers = {on_peer->peer};
          } else {
            r.nodes = every_node(snapshot);
            r.peers = avoided_here(snapshot);
          }
        } else if constexpr (std::is_same_v<T, ice::ForceRestartDaemon>) {
          r.daemons = {action.daemon};
          r.nodes = hosts_of(action.daemon, snapshot);
        } else {
          static_assert(std::is_same_v<T, ice::KillMigration>, "every ice action has a radius");
          for (const auto& m : snapshot.migrations) {
            if (m.id != action.migration_id) continue;
            r.daemons = {m.daemon};
            r.nodes = {snapshot.node_id, m.target};
          }
        }
      },
      proposal);
  sort_unique(r.nodes);
  sort_unique(r.daemons);
  sort_unique(r.peers);
  return r;
}

BlastRadiusHash blast_radius_hash(const BlastRadius& radius) {
  CanonicalWriter w;
  w.domain("meshos/blast-radius/v1");
  write_ids(w, radius.nodes);
  write_ids(w, radius.daemons);
  write_ids(w, radius.peers);
  const Bytes bytes = w.take();
  BlastRadiusHash hash = blake2s_mac(reinterpret_cast<const std::uint8_t*>(kHashKey), std::strlen(kHashKey),
                                     bytes.data(), bytes.size());
  // All zero means "not simulated"; a digest that happens to be all zero must not read as that.
  if (std::all_of(hash.begin(), hash.end(), [](std::uint8_t b) { return b == 0; })) hash[0] = 1;
  return hash;
}

void to_json(nlohmann::json& j, const BlastRadius& radius) {
  auto hex_ids = [](const std::vector<std::uint64_t>& ids) {
    auto out = nlohmann::json::array();
    for (auto id : ids) out.push_back(to_hex(id));
    return out;
  };
  j = nlohmann::json{{"nodes", hex_ids(radius.nodes)}, {"daemons", hex_ids(radius.daemons)},
                     {"peers", hex_ids(radius.peers)}};
}

}  // namespace meshos
