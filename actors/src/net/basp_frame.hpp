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
  // Sees the first min(payload, inspect_bytes) bytes of every direct message's payload and whether the
  // header marks it a response; false refuses the message (Verdict::Forbidden) before its last byte passes.
  using MessageInspector = std::function<bool(const std::uint8_t* payload, std::size_t n, bool response)>;
  static constexpr std::size_t kHeaderSize = 32;
  // Handshakes carry node ids and published interfaces: small (and below the guard's per-direction buffer,
  // which must hold a whole first frame before CAF is connected).
  static constexpr std::size_t kMaxHandshakePayload = 16 * 1024;

  BaspFrameCheck(std::size_t max_payload, First first, MessageInspector inspect = {}, std::size_t inspect_bytes = 0)
      : max_payload_(max_payload), first_(first), inspect_(std::move(inspect)), inspect_bytes_(inspect_bytes) {}
  // Feeds the next bytes; after a verdict other than Ok the stream must be closed (later calls repeat it).
  Verdict feed(const std::uint8_t* data, std::size_t n);
  std::uint64_t frames() const noexcept { return frames_; }        // complete frames seen
  bool saw_actor_message() const noexcept { return saw_actor_message_; }
  // The payload of the first frame (the handshake: it starts with the sender's CAF node id), complete once
  // frames() > 0. At most kMaxHandshakePayload bytes.
  const std::string& first_payload() const noexcept { return first_payload_; }

 private:
  Verdict check_header();
  Verdict take_prefix(const std::uint8_t* data, std::size_t n);
  std::size_t max_payload_;
  First first_;
  MessageInspector inspect_;
  std::size_t inspect_bytes_;
  std::string prefix_;          // of the direct message being read, until inspected
  std::size_t prefix_want_ = 0;  // 0: nothing to inspect in this frame
  bool response_ = false;
  std::uint8_t header_[kHeaderSize] = {};
  std::size_t have_ = 0;
  std::uint64_t payload_left_ = 0;
  std::uint64_t frames_ = 0;
  bool in_payload_ = false;
  bool saw_actor_message_ = false;
  std::string first_payload_;
  Verdict failed_ = Verdict::Ok;
};

}  // namespace meshos::net
