#pragma once
// What the guard reads inside BASP payloads from the network before CAF deserializes them, using CAF's own
// binary deserializer (no actor system): which node a handshake comes from, and whether a message, monitor
// or down frame stays within meshos' wire protocol.
//
// Why: CAF 0.17 trusts the other end of a connection completely.
// - It delivers a message from the network like a local one, system messages included: an exit message with
//   reason `kill` stops any actor (it cannot be trapped), another reason or a lone error stops an actor with
//   the default handlers, down, timeout and stream messages drive its bookkeeping.
// - It allocates what a byte buffer (`std::vector<char>`, CAF's "@charbuf") declares before reading it: a
//   small message could make a node allocate gigabytes.
// - Monitor and down frames name their source node in the payload: a forged down frame naming a peer's node
//   and gateway kills the proxy of that peer, and the link to it with it.
// So only messages made of the types meshos' wire protocol uses pass (kWireTypes), an error only as a
// response and only with such types in its context, no message carries a forwarding stack, and monitor and
// down frames must come from the connection's own node and be meant for the local one.
#include <cstddef>
#include <cstdint>
#include <optional>

#include <caf/node_id.hpp>

namespace meshos::net {

// The node id a server or client handshake payload opens with; nullopt if it does not deserialize.
std::optional<caf::node_id> handshake_sender(const std::uint8_t* payload, std::size_t n);

enum class MessageVerdict {
  Ok,
  Forbidden,   // a type outside the wire protocol, a forwarding stack, or a frame about other nodes
  Unreadable,  // does not deserialize from the bytes given
};

// Bytes of a payload the guard reads before deciding (the parts inspected come first).
inline constexpr std::size_t kMessageInspectBytes = 4096;

// `payload`: the first min(payload size, kMessageInspectBytes) bytes of a direct message's payload.
// `response`: the header's message id marks a response (an error is how a request is refused).
MessageVerdict inspect_direct_message(const std::uint8_t* payload, std::size_t n, bool response);

// A monitor (`down` false) or down frame's payload (its first kMessageInspectBytes): its source node must be
// `sender` (the connection's node) and its destination `local` (when known).
MessageVerdict inspect_monitor_or_down(const std::uint8_t* payload, std::size_t n, bool down,
                                       const caf::node_id& sender, const std::optional<caf::node_id>& local);

}  // namespace meshos::net
