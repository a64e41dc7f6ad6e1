#pragma once
// What the guard reads inside BASP payloads from the network, with CAF's own binary deserializer (no actor
// system): the sender's CAF node id in a handshake, and the types of a direct message.
//
// Why the types: CAF 0.17 delivers a message from a remote node like a local one, system messages
// included. An exit message with reason `kill` terminates any actor unconditionally (it cannot be trapped),
// another reason or a lone error terminates an actor with the default handlers, and down, timeout and
// stream messages drive an actor's bookkeeping. Anyone who completes a BASP handshake and learns an
// actor's id (the node's published gateway, or a peer actor that sent it a request) could stop that actor
// with one message. No meshos wire message contains these types, so the guard refuses them from the network.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <caf/node_id.hpp>

namespace meshos::net {

// The node id a server or client handshake payload opens with; nullopt if it does not deserialize.
std::optional<caf::node_id> handshake_sender(const std::string& payload);

enum class MessageVerdict {
  Ok,
  SystemMessage,  // carries a type that steers or stops the receiving actor (exit, down, error, ...)
  Unreadable,     // the forwarding stack and type list do not deserialize from the bytes given
};

// Bytes of a direct message's payload the guard reads before deciding: the forwarding stack (empty between
// meshos endpoints) and the type list come first.
inline constexpr std::size_t kMessageInspectBytes = 4096;

// `payload` holds the first min(payload size, kMessageInspectBytes) bytes of a direct message's payload.
// `response`: the header's message id marks a response (an error is a legitimate answer to a request).
MessageVerdict inspect_direct_message(const std::uint8_t* payload, std::size_t n, bool response);

}  // namespace meshos::net
