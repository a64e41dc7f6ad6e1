#pragma once
// What the node's gateway and peer actors share: the options, the SDK they feed, and the node's current
// self-description (read by peer actors when they greet a peer).
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "meshos/node.hpp"
#include "net/hello.hpp"
#include "net/peer_directory.hpp"
#include "net/wire.hpp"
#include "net/work.hpp"

namespace meshos::detail {
class ActorTracker;
}

namespace meshos::net {

// Sets up the middleman, BASP heartbeats and wire types every meshos endpoint needs. CAF only ever speaks
// plain BASP over loopback, to the endpoint's guard (guard.hpp), which owns TLS and every public socket.
// Heartbeats go on every endpoint: the peer's guard closes a connection that stays silent.
void configure_system(caf::actor_system_config& cfg, std::chrono::milliseconds heartbeat);
// Kind invalid_config unless `sys` was made from a config that went through configure_system, with a heartbeat
// below `peer_timeout`.
Result<void> check_prepared(caf::actor_system& sys, std::chrono::milliseconds peer_timeout);

// The actor that opens connections without blocking its caller (to a guard's loopback tunnel).
caf::io::middleman_actor connector(caf::actor_system& sys);

class Guard;

// What crossed the node's links for commit replication (status "replication"); written by the gateway and
// the peer actors.
struct ReplicationCounters {
  std::atomic<std::uint64_t> relays_sent{0};
  std::atomic<std::uint64_t> relays_unsent{0};     // the link's window was full, or it was down
  std::atomic<std::uint64_t> relays_failed{0};     // sent, refused or unanswered
  std::atomic<std::uint64_t> relays_received{0};
  std::atomic<std::uint64_t> relays_refused{0};    // not from an admitted peer, undecodable, or the loop was full
  std::atomic<std::uint64_t> syncs{0};             // sync rounds this node asked for and got answered
  std::atomic<std::uint64_t> commits_fetched{0};   // commits those rounds brought
  std::atomic<std::uint64_t> syncs_served{0};
};

struct NetContext {
  caf::actor_system* system = nullptr;
  MeshOsDaemonSdk* sdk = nullptr;
  NodeId node_id = 0;
  EntityKeypair node_key = EntityKeypair::public_only(PublicKey{});  // signs this node's hellos
  Membership members;
  NetworkOptions options;
  bool tls = false;
  bool has_verifier = false;
  std::string cluster;  // the cluster signed commits must name (the verifier's), shown in status
  std::map<OperatorId, std::string> operator_names;  // the registry's, shown in status beside the audit's ids
  detail::ActorTracker* tracker = nullptr;  // counts the peer actors so shutdown can wait for them
  Guard* guard = nullptr;                   // every outgoing connection is a tunnel through it
  ReplicationCounters replication;
  PeerLinks links;    // work to daemons on peers, by node (work.hpp)
  WorkCounters work;  // work from peers, as received here

  // Never blocks; health and RTT are re-sent on every heartbeat, so an event dropped on a full queue is
  // repaired by the next one.
  void publish(MeshOsEvent ev) const { (void)sdk->publish(std::move(ev)); }

  NetHello hello() const {
    std::lock_guard<std::mutex> lock(hello_mu);
    return current_hello;
  }
  void set_hello(NetHello h) {
    std::lock_guard<std::mutex> lock(hello_mu);
    current_hello = std::move(h);
  }

 private:
  mutable std::mutex hello_mu;
  NetHello current_hello;
};

using NetContextPtr = std::shared_ptr<NetContext>;

// Atoms of the node's own actors (never cross the network).
using connect_atom = caf::atom_constant<caf::atom("nconnect")>;
using beat_atom = caf::atom_constant<caf::atom("nbeat")>;
using deadline_atom = caf::atom_constant<caf::atom("ndeadline")>;
using claim_atom = caf::atom_constant<caf::atom("nclaim")>;
using learn_atom = caf::atom_constant<caf::atom("nlearn")>;
using adopt_atom = caf::atom_constant<caf::atom("nadopt")>;  // (adopt, actor remote_gateway), to a peer actor
using local_snap_atom = caf::atom_constant<caf::atom("nsnap")>;
using commit_to_atom = caf::atom_constant<caf::atom("ncommitto")>;
using stop_atom = caf::atom_constant<caf::atom("nstop")>;  // to a peer actor
using state_atom = caf::atom_constant<caf::atom("nstate")>;
using expire_atom = caf::atom_constant<caf::atom("nexpire")>;  // to a peer actor: unreachable too long?
using forget_atom = caf::atom_constant<caf::atom("nforget")>;  // to the gateway: a departed address
using relay_atom = caf::atom_constant<caf::atom("nrelay")>;    // (relay, channel, json), to a peer actor
using flush_atom = caf::atom_constant<caf::atom("nflush")>;    // to a peer actor: send the gathered delivers

// From the node to its gateway. A type that cannot be deserialized, so no remote sender can forge it.
struct GatewayCommand {
  enum What { Stop, Silence, Speak, Listening, Join, Delay } what = Stop;
  PeerAddress address;             // Listening: where peers reach this node
  std::chrono::milliseconds delay{0};  // Delay: how late heartbeat answers leave
  std::vector<PeerAddress> peers;  // Join: configured peers
};


caf::actor spawn_gateway(NetContextPtr ctx);
// One per remote address. A dialer connects and reconnects with backoff until told to stop; a passive
// peer (the remote dialed us) starts from the remote gateway's handle and, after a loss, waits for the
// remote to dial again (it hands the new handle over with adopt_atom). A peer unreachable for
// peer_expiry leaves the snapshot; unless its address is configured, its actor then ends too.
caf::actor spawn_peer(NetContextPtr ctx, caf::actor gateway, PeerAddress address, bool dialer, bool configured,
                      caf::actor remote = {});

}  // namespace meshos::net

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(meshos::net::GatewayCommand)
