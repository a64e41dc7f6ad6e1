#pragma once
// Library: meshos_core.
// What a break-glass action touches, as one node sees the cluster. Operators sign the hash of the radius
// with the proposal (SignedIceCommit::blast_radius_hash); the node the commit is submitted to simulates it
// again on its own state and refuses the commit as blast_radius_changed when the radius is no longer the one
// they signed, so nobody signs a freeze of three nodes that has become a freeze of ten.
#include <cstdint>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "meshos/admin.hpp"
#include "meshos/snapshot.hpp"
#include "meshos/types.hpp"

namespace meshos {

// Every list ascending and without repeats, so that equal radii hash equally.
struct BlastRadius {
  std::vector<NodeId> nodes;      // the nodes whose state the action changes
  std::vector<DaemonId> daemons;  // the daemons it restarts or whose move it stops
  std::vector<NodeId> peers;      // the peers it takes off avoid lists
  bool operator==(const BlastRadius& o) const {
    return nodes == o.nodes && daemons == o.daemons && peers == o.peers;
  }
  bool operator!=(const BlastRadius& o) const { return !(*this == o); }
};

// The radius of `proposal` on the cluster as `snapshot` shows it (its node and the peers it knows):
//   freeze, thaw:              every node;
//   flush, Global:             every node; the peers on this node's avoid list;
//   flush, Local{n}:           node n; this node's avoid list when n is this node (another's is not seen here);
//   flush, OnPeer{p}:          every node; peer p;
//   force restart of daemon d: d, and the nodes that host it (none when no node is known to);
//   kill migration m:          m's daemon, this node and m's target (nothing when m is unknown here).
BlastRadius simulate(const IceAction& proposal, const MeshOsSnapshot& snapshot);

// BLAKE2s-256 over the radius's canonical bytes (libmeshos/docs/signing.md); never all zero, the value that
// means "not simulated".
BlastRadiusHash blast_radius_hash(const BlastRadius& radius);

// {"nodes": [hex ids], "daemons": [...], "peers": [...]}, as meshos-ctl shows it.
void to_json(nlohmann::json& j, const BlastRadius& radius);

}  // namespace meshos
