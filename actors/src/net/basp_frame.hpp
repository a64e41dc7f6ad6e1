#pragma once
// What the guard (guard.hpp) checks of every byte a remote endpoint sends before CAF reads it: BASP framing
// as CAF 0.17 writes it. Pure: no I/O, no CAF; unit-tested and fuzzed on its own.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace meshos::net {

// Follows a BASP byte stream and says whether it may go on to CAF. Pure (no I/O): unit-tested on its own.
class BaspFrameCheck {
 public:
  enum class First { Any, ClientHandshake, ServerHandshake };
  enum class Verdict { Ok, Oversize, Malformed, Forbidden };
  // The frames whose payload CAF deserializes and acts on, handed to the inspector (basp_message.hpp).
  enum class Part { Handshake, Message, Monitor, Down };
  struct Inspected {
    Part part;
    bool response;  // Message: the header's message id marks a response
    const std::uint8_t* payload;
    std::size_t n;  // the whole payload of a handshake; at most inspect_bytes of the others
  };
  // False refuses the frame (Verdict::Forbidden) before its last byte is passed on.
  using Inspector = std::function<bool(const Inspected&)>;
  static constexpr std::size_t kHeaderSize = 32;
  // Handshakes carry node ids and published interfaces: small (and below the guard's per-direction buffer,
  // which must hold a whole first frame before CAF is connected).
  static constexpr std::size_t kMaxHandshakePayload = 16 * 1024;

  BaspFrameCheck(std::size_t max_payload, First first, Inspector inspect = {}, std::size_t inspect_bytes = 0)
      : max_payload_(max_payload), first_(first), inspect_(std::move(inspect)), inspect_bytes_(inspect_bytes) {}
  // Feeds the next bytes; after a verdict other than Ok the stream must be closed (later calls repeat it).
  Verdict feed(const std::uint8_t* data, std::size_t n);
  std::uint64_t frames() const noexcept { return frames_; }        // complete frames seen
  bool saw_actor_message() const noexcept { return saw_actor_message_; }

 private:
  Verdict check_header();
  Verdict take_prefix(const std::uint8_t* data, std::size_t n);
  Verdict inspect_prefix();
  std::size_t max_payload_;
  First first_;
  Inspector inspect_;
  std::size_t inspect_bytes_;
  std::string prefix_;           // of the frame being read, until inspected
  std::size_t prefix_want_ = 0;  // 0: nothing (more) to inspect in this frame
  Part part_ = Part::Message;
  bool response_ = false;
  std::uint8_t header_[kHeaderSize] = {};
  std::size_t have_ = 0;
  std::uint64_t payload_left_ = 0;
  std::uint64_t frames_ = 0;
  bool in_payload_ = false;
  bool saw_actor_message_ = false;
  Verdict failed_ = Verdict::Ok;
};

}  // namespace meshos::net
