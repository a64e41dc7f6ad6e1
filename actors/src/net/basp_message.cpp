#include "net/basp_message.hpp"

#include <set>
#include <string>

#include <caf/atom.hpp>
#include <caf/binary_deserializer.hpp>

#include "net/wire.hpp"

namespace meshos::net {

namespace {

caf::binary_deserializer reader(const std::uint8_t* data, std::size_t n) {
  return caf::binary_deserializer(static_cast<caf::execution_unit*>(nullptr), reinterpret_cast<const char*>(data),
                                  n);
}

bool is_wire_type(const std::string& name) {
  static const std::set<std::string> types(std::begin(kWireTypes), std::end(kWireTypes));
  return types.count(name) != 0;
}

// An error's context may itself hold an error; deeper than this is not something meshos sends.
constexpr int kMaxErrorDepth = 2;

MessageVerdict read_message(caf::binary_deserializer& source, bool error_allowed, int depth);

// error: u8 code, atom category, then the context message (caf/error.cpp, error::apply).
MessageVerdict read_error(caf::binary_deserializer& source, int depth) {
  std::uint8_t code = 0;
  caf::atom_value category{};
  if (source(code, category)) return MessageVerdict::Unreadable;
  return read_message(source, depth < kMaxErrorDepth, depth + 1);
}

// message: begin_object(type number 0, "@<>" or "@<>+name+name...") then the values (caf/message.cpp).
MessageVerdict read_message(caf::binary_deserializer& source, bool error_allowed, int depth) {
  std::uint16_t type_nr = 0;
  std::string names;
  if (source.begin_object(type_nr, names) || type_nr != 0) return MessageVerdict::Unreadable;
  if (names == "@<>") return MessageVerdict::Ok;
  if (names.compare(0, 4, "@<>+") != 0) return MessageVerdict::Unreadable;
  if (names == "@<>+@error") return error_allowed ? read_error(source, depth) : MessageVerdict::Forbidden;
  for (std::size_t at = 4; at <= names.size();) {
    const auto end = std::min(names.find('+', at), names.size());
    if (!is_wire_type(names.substr(at, end - at))) return MessageVerdict::Forbidden;
    at = end + 1;
  }
  return MessageVerdict::Ok;
}

}  // namespace

std::optional<caf::node_id> handshake_sender(const std::uint8_t* payload, std::size_t n) {
  auto source = reader(payload, n);
  caf::node_id sender;
  if (source(sender) || !sender) return std::nullopt;
  return sender;
}

MessageVerdict inspect_direct_message(const std::uint8_t* payload, std::size_t n, bool response) {
  auto source = reader(payload, n);
  // The forwarding stack (actor pipelines): meshos never sends one, and each entry would make CAF reach
  // for an actor on a node the sender names.
  std::size_t stack_size = 0;
  if (source.begin_sequence(stack_size)) return MessageVerdict::Unreadable;
  if (stack_size != 0) return MessageVerdict::Forbidden;
  if (source.end_sequence()) return MessageVerdict::Unreadable;
  // A lone error answering nothing goes to the receiver's error handler (by default: the actor stops).
  return read_message(source, response, 0);
}

MessageVerdict inspect_monitor_or_down(const std::uint8_t* payload, std::size_t n, bool down,
                                       const caf::node_id& sender, const std::optional<caf::node_id>& local) {
  auto source = reader(payload, n);
  caf::node_id from;
  caf::node_id to;
  if (source(from, to)) return MessageVerdict::Unreadable;
  if (from != sender || (local && to != *local)) return MessageVerdict::Forbidden;
  return down ? read_error(source, 0) : MessageVerdict::Ok;
}

}  // namespace meshos::net
