#include "net/basp_message.hpp"

#include <algorithm>
#include <array>

#include <caf/binary_deserializer.hpp>

namespace meshos::net {

namespace {

caf::binary_deserializer reader(const void* data, std::size_t n) {
  return caf::binary_deserializer(static_cast<caf::execution_unit*>(nullptr), static_cast<const char*>(data), n);
}

// CAF's portable names of the messages actors treat as system messages (caf/type_nr.hpp, categorize() in
// scheduled_actor.cpp). None belongs in a meshos wire message, anywhere in it.
constexpr std::array<const char*, 7> kSystemTypes = {"@exit",        "@down",          "@timeout",       "@group_down",
                                                     "@open_stream_msg", "@upstream_msg", "@downstream_msg"};

}  // namespace

std::optional<caf::node_id> handshake_sender(const std::string& payload) {
  auto source = reader(payload.data(), payload.size());
  caf::node_id sender;
  if (source(sender) || !sender) return std::nullopt;
  return sender;
}

MessageVerdict inspect_direct_message(const std::uint8_t* payload, std::size_t n, bool response) {
  auto source = reader(payload, n);
  // The forwarding stack: a sequence of (actor id, node id).
  std::size_t stack_size = 0;
  if (source.begin_sequence(stack_size)) return MessageVerdict::Unreadable;
  for (std::size_t i = 0; i < stack_size; ++i) {
    caf::actor_id aid = 0;
    caf::node_id nid;
    if (source(aid, nid)) return MessageVerdict::Unreadable;
  }
  // The message: type number 0 and its type names, "@<>" or "@<>+name+name...".
  std::uint16_t type_nr = 0;
  std::string names;
  if (source.begin_object(type_nr, names) || type_nr != 0) return MessageVerdict::Unreadable;
  if (names == "@<>") return MessageVerdict::Ok;
  // A lone error that answers nothing goes to the receiver's error handler (by default: the actor stops).
  // As a response it is how a request is refused.
  if (names == "@<>+@error" && !response) return MessageVerdict::SystemMessage;
  if (names.compare(0, 4, "@<>+") != 0) return MessageVerdict::Unreadable;
  std::size_t at = 4;
  while (at <= names.size()) {
    auto end = std::min(names.find('+', at), names.size());
    const auto name = names.substr(at, end - at);
    for (const char* forbidden : kSystemTypes)
      if (name == forbidden) return MessageVerdict::SystemMessage;
    at = end + 1;
  }
  return MessageVerdict::Ok;
}

}  // namespace meshos::net
