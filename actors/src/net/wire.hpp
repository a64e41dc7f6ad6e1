#pragma once
// What crosses the network between meshos nodes, and between an operator (RemoteNode) and a node.
// Every endpoint is the node's published gateway actor; one TCP connection per pair of nodes (BASP).
//
// Peer protocol (node -> node, sent by the sender's long-lived peer actor to the receiver's gateway):
//   (mchallenge)               -> (mchallenge, u64 nonce, u64 node_id)
//                                                 a fresh single-use nonce the next hello must answer
//   (mhello, NetHello, actor gateway) -> NetHello
//                                                 exchange self-descriptions, each signed with the sender's
//                                                 node key over the nonce the other side chose and the id of
//                                                 the node it is meant for (hello.hpp); only members of the
//                                                 cluster are answered. The receiver learns the sender's
//                                                 listen address and the members it reaches (gossip), and
//                                                 talks back to the sender's gateway over the same
//                                                 connection instead of dialing a second one
// Who dials: a node dials the peers it is configured with; of two nodes that learn each other through
// gossip, the one with the lower node id dials; the dialed side adopts the dialer's gateway handle and
// waits for it to dial again after a connection loss. One connection per pair (two TLS connections
// between the same nodes make CAF 0.17 drop one of them at random).
//   (mping, u64 nonce)         -> (mpong, u64 nonce, u64 info_rev)
//                                                 heartbeat; a changed info_rev makes the sender ask for a
//                                                 fresh hello (maintenance, capabilities or known peers changed)
// Commits (SPEC.md, "The cluster protocol"), between admitted peers only:
//   (mrelay, u64 from, string channel, string commit_json) -> (mok)
//                                                 a commit an operator handed the sender and that it accepted;
//                                                 the receiver verifies and folds it as relayed by `from`. At
//                                                 most kRelayWindow unanswered per link, beyond: not sent and
//                                                 counted (the next sync carries it)
//   (msync, NetDigests)        -> NetCommits      the commits the sender of the request does not know yet (at
//                                                 most kSyncBatch; `more` asks for another round); sent after
//                                                 every hello, so a node that was away catches up
// Work (SPEC.md, "The cluster protocol"), between admitted peers only; from the peer actor of the sending
// node, which holds the link's credit window (node.hpp's kWorkWindow events unanswered, taken by the caller before it
// sends: a full window is queue_full at the caller):
//   (mdeliver, u64 from, u64 epoch, NetEventBatch)                    one-way: the events the peer actor
//                                                 gathered since its last batch, in order; the receiver hands
//                                                 each to its daemon and gives the credit back:
//   (mcredit, u64 epoch, u64 handled, u64 refused) receiver -> the sending peer actor, one per batch; credits of
//                                                 an older epoch (before a loss or a timeout) are ignored
//   (mprocess, u64 from, u64 daemon, NetEvent, u32 timeout_ms) -> NetOutputs   the daemon's outputs; sent after
//                                                 the gathered batch, so it never overtakes an earlier deliver
// Operator protocol (RemoteNode's client actor -> gateway):
//   (mrequest, string kind, string json_body) -> NetReply
//       kinds: status, snapshot, peers, logs, admin, ice (see node.hpp and docs in gateway.cpp)
//   (mwatch, actor watcher)    -> (mok)           the gateway pushes (msnap, u64 seq, string snapshot_json)
//                                                 to the watcher, at most kWatchWindow unacknowledged;
//                                                 the watcher answers each with (mack); snapshots beyond
//                                                 the window are dropped and counted
//   (munwatch, actor watcher)                      stop pushing (also implied by the watcher going down)
// Snapshots and commits travel as JSON text (snapshot.hpp / admin.hpp codecs): the wire structs stay
// plain strings and integers, so nothing here needs CAF's optional/variant adapters.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <caf/all.hpp>

namespace meshos::net {

using hello_atom = caf::atom_constant<caf::atom("mhello")>;
using challenge_atom = caf::atom_constant<caf::atom("mchallenge")>;
using ping_atom = caf::atom_constant<caf::atom("mping")>;
using pong_atom = caf::atom_constant<caf::atom("mpong")>;
using request_atom = caf::atom_constant<caf::atom("mrequest")>;
using watch_atom = caf::atom_constant<caf::atom("mwatch")>;
using unwatch_atom = caf::atom_constant<caf::atom("munwatch")>;
using snap_atom = caf::atom_constant<caf::atom("msnap")>;
using ack_atom = caf::atom_constant<caf::atom("mack")>;
using ok_atom = caf::atom_constant<caf::atom("mok")>;
using relay_in_atom = caf::atom_constant<caf::atom("mrelay")>;
using sync_atom = caf::atom_constant<caf::atom("msync")>;
using deliver_in_atom = caf::atom_constant<caf::atom("mdeliver")>;
using credit_atom = caf::atom_constant<caf::atom("mcredit")>;
using process_in_atom = caf::atom_constant<caf::atom("mprocess")>;
// A daemon moving from a draining node: (move_in, from node, NetMove) -> NetReply once it runs here;
// (move_release, from node, NetMove without state) -> NetReply: the move was aborted, let it go again.
using move_in_atom = caf::atom_constant<caf::atom("mmovein")>;
using move_release_atom = caf::atom_constant<caf::atom("mmoverel")>;

// Unacknowledged snapshots a watcher may have in flight before the gateway starts dropping for it.
inline constexpr std::uint32_t kWatchWindow = 8;
// Unanswered relayed commits per link.
inline constexpr std::uint32_t kRelayWindow = 8;
// Commits one sync answer carries at most.
inline constexpr std::size_t kSyncBatch = 32;
// Digests a sync request may carry: what a node can know (replication.hpp), with room to spare.
inline constexpr std::size_t kMaxSyncDigests = 1024;

struct NetHello {
  std::uint64_t node_id = 0;
  std::string node_name;  // NetworkOptions::node_name (bounded: kMaxNodeNameBytes)
  std::string version;
  std::string listen_host;
  std::uint16_t listen_port = 0;
  std::string capabilities_json;  // CapabilitySet as JSON ({"tags": [...], "metadata": {...}})
  std::string maintenance_json;   // MaintenanceStateView as JSON
  std::string daemons_json;       // [DaemonDescription] as JSON: the sender's daemons and their capabilities
  std::string inventory_json;     // NodeInventory as JSON, as the sender's probes report it; "" when none
  std::vector<std::string> peers; // "host:port" of every peer the sender has admitted and reaches
  std::vector<std::uint64_t> peer_ids;  // their node ids, index by index
  std::uint64_t info_rev = 0;     // bumped whenever any field above changes
  // Proof of identity (hello.hpp): node_id must be the id of public_key, and signature covers every field
  // above plus the three below.
  std::vector<std::uint8_t> public_key;  // 32 bytes, Ed25519
  std::uint64_t answers = 0;       // the nonce the receiver handed out for this hello
  std::uint64_t challenge = 0;     // a nonce the receiver's answering hello must carry in `answers`
  std::uint64_t target = 0;        // the node id this hello is meant for
  std::vector<std::uint8_t> signature;  // 64 bytes
};

// Loads a byte vector as CAF does (length, then the raw bytes), but never allocates more than the input
// holds: CAF 0.17 resizes the vector to the length the sender declares before reading a byte, so a
// stranger's hello declaring a 4 GB key made the receiving node allocate and zero 4 GB (test/fuzz/hello).
// Reads in chunks instead; a declared length beyond the input fails at the end of the input, as before.
template <class Deserializer>
caf::error load_bytes_in_chunks(Deserializer& f, std::vector<std::uint8_t>& xs) {
  constexpr std::size_t kChunk = 4096;
  std::size_t declared = 0;
  if (auto err = f.begin_sequence(declared)) return err;
  xs.clear();
  while (xs.size() < declared) {
    const std::size_t at = xs.size();
    const std::size_t n = declared - at < kChunk ? declared - at : kChunk;
    xs.resize(at + n);
    if (auto err = f.apply_raw(n, xs.data() + at)) return err;
  }
  return f.end_sequence();
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetHello& x) {
  if constexpr (Inspector::reads_state) {
    return f(caf::meta::type_name("meshos.NetHello"), x.node_id, x.node_name, x.version, x.listen_host, x.listen_port,
             x.capabilities_json, x.maintenance_json, x.daemons_json, x.inventory_json, x.peers, x.peer_ids, x.info_rev,
             x.public_key, x.answers, x.challenge, x.target, x.signature);
  } else {
    // Loading: the same fields in the same order, the byte vectors through load_bytes_in_chunks.
    if (auto err = f(caf::meta::type_name("meshos.NetHello"), x.node_id, x.node_name, x.version, x.listen_host, x.listen_port,
                     x.capabilities_json, x.maintenance_json, x.daemons_json, x.inventory_json, x.peers, x.peer_ids, x.info_rev))
      return err;
    if (auto err = load_bytes_in_chunks(f, x.public_key)) return err;
    if (auto err = f(x.answers, x.challenge, x.target)) return err;
    return load_bytes_in_chunks(f, x.signature);
  }
}

// error_kind empty: success, `json` is the answer. Otherwise the node's SdkError (kind + message); `json`
// may still carry detail (e.g. the audit outcome of a rejected commit).
struct NetReply {
  std::string error_kind;
  std::string error_message;
  std::string json;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetReply& x) {
  return f(caf::meta::type_name("meshos.NetReply"), x.error_kind, x.error_message, x.json);
}

// A sync request: who asks, and the digests of every commit it knows (CommitKnowledge::digests).
struct NetDigests {
  std::uint64_t node = 0;
  std::vector<std::uint64_t> digests;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetDigests& x) {
  return f(caf::meta::type_name("meshos.NetDigests"), x.node, x.digests);
}

// A sync answer: commits as (channel, JSON) pairs, index by index, in the order the answering node learned
// them; `more`: it knows further ones the asker lacks.
struct NetCommits {
  std::vector<std::string> channels;
  std::vector<std::string> bodies;
  bool more = false;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetCommits& x) {
  return f(caf::meta::type_name("meshos.NetCommits"), x.channels, x.bodies, x.more);
}

// A causal event on its way to a daemon of another node (daemon.hpp's CausalEvent; the receiver stamps
// received_at_ms). The payload is bytes in a string: CAF reads strings without trusting the declared length.
struct NetEvent {
  std::uint64_t origin_hash = 0;
  std::uint64_t sequence = 0;
  std::uint64_t parent_hash = 0;
  std::uint64_t horizon = 0;
  std::string payload;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetEvent& x) {
  return f(caf::meta::type_name("meshos.NetEvent"), x.origin_hash, x.sequence, x.parent_hash, x.horizon, x.payload);
}

// Events for daemons of the receiving node, index by index, in the order they were delivered.
struct NetEventBatch {
  std::vector<std::uint64_t> daemons;
  std::vector<NetEvent> events;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetEventBatch& x) {
  return f(caf::meta::type_name("meshos.NetEventBatch"), x.daemons, x.events);
}

// The answer to a work request: error_kind empty on success; `outputs` the daemon's outputs (process).
struct NetOutputs {
  std::string error_kind;
  std::string error_message;
  std::vector<std::string> outputs;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetOutputs& x) {
  return f(caf::meta::type_name("meshos.NetOutputs"), x.error_kind, x.error_message, x.outputs);
}

// Both sides of every connection must know the types (else the message arrives empty, silently).
struct NetMove {
  std::uint64_t migration = 0;
  std::uint64_t daemon = 0;
  std::string name;  // the factory the receiving node builds it from
  bool has_state = false;
  std::string state;  // the daemon's snapshot() bytes
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, NetMove& x) {
  return f(caf::meta::type_name("meshos.NetMove"), x.migration, x.daemon, x.name, x.has_state, x.state);
}

inline void add_wire_types(caf::actor_system_config& cfg) {
  cfg.add_message_type<NetHello>("meshos.NetHello");
  cfg.add_message_type<NetReply>("meshos.NetReply");
  cfg.add_message_type<NetDigests>("meshos.NetDigests");
  cfg.add_message_type<NetCommits>("meshos.NetCommits");
  cfg.add_message_type<NetEvent>("meshos.NetEvent");
  cfg.add_message_type<NetOutputs>("meshos.NetOutputs");
  cfg.add_message_type<NetEventBatch>("meshos.NetEventBatch");
  cfg.add_message_type<NetMove>("meshos.NetMove");
}

// Every type a message between meshos endpoints may contain (CAF's portable names): the guard refuses any
// other from the network (basp_message.hpp), errors aside, which pass only as responses. A new wire message
// with a new type must add it here. Each is either a scalar or a container CAF reads element by element,
// never one it sizes by what the sender declares. CAF's middlemen exchange actor pointers of their own when
// two nodes meet (who runs the remote spawn server and configuration server): "@strong_actor_ptr".
inline constexpr const char* kWireTypes[] = {"@atom", "@str",  "@strvec", "@u64",  "@u32",   "@u16",
                                             "@i64",  "@i32",  "@bool",   "@unit", "@actor", "@strong_actor_ptr",
                                             "meshos.NetHello", "meshos.NetReply", "meshos.NetDigests",
                                             "meshos.NetCommits", "meshos.NetEvent", "meshos.NetOutputs",
                                             "meshos.NetEventBatch", "meshos.NetMove"};

}  // namespace meshos::net
