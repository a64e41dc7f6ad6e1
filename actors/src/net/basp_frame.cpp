#include "net/basp_frame.hpp"

#include <algorithm>
#include <cstring>

namespace meshos::net {

BaspFrameCheck::Verdict BaspFrameCheck::check_header() {
  // Layout (CAF 0.17 binary serializer, network byte order): u8 operation, two padding bytes, u8 flags,
  // u32 payload_len, u64 operation_data, u64 source actor, u64 destination actor.
  const std::uint8_t op = header_[0];
  const std::uint32_t len = (std::uint32_t{header_[4]} << 24) | (std::uint32_t{header_[5]} << 16) |
                            (std::uint32_t{header_[6]} << 8) | std::uint32_t{header_[7]};
  constexpr std::uint8_t kServerHandshake = 0x00, kClientHandshake = 0x01, kDirect = 0x02, kRouted = 0x03,
                         kMonitor = 0x04, kDown = 0x05, kHeartbeat = 0x06;
  if (op > kHeartbeat) return Verdict::Malformed;
  // A routed message names its original sender itself, so whoever sends one can speak as any node. Meshos
  // endpoints talk over direct connections only (CAF routes a message only when it has no direct one).
  if (op == kRouted) return Verdict::Malformed;
  if (frames_ == 0) {
    if (first_ == First::ClientHandshake && op != kClientHandshake) return Verdict::Malformed;
    if (first_ == First::ServerHandshake && op != kServerHandshake) return Verdict::Malformed;
  }
  const bool handshake = op == kServerHandshake || op == kClientHandshake;
  if (handshake && len > kMaxHandshakePayload) return Verdict::Oversize;
  if (len > max_payload_) return Verdict::Oversize;
  if (op == kDirect || op == kMonitor || op == kDown) saw_actor_message_ = true;
  payload_left_ = len;
  prefix_.clear();
  prefix_want_ = 0;
  if (!inspect_) return Verdict::Ok;
  response_ = false;
  if (handshake) {
    part_ = Part::Handshake;
    prefix_want_ = len;  // at most kMaxHandshakePayload
  } else if (op == kDirect || op == kMonitor || op == kDown) {
    part_ = op == kDirect ? Part::Message : op == kMonitor ? Part::Monitor : Part::Down;
    // The message id (operation_data) has its top bit set for responses.
    response_ = op == kDirect && (header_[8] & 0x80) != 0;
    prefix_want_ = std::min<std::size_t>(len, inspect_bytes_);
  } else {
    return Verdict::Ok;
  }
  return prefix_want_ == 0 ? inspect_prefix() : Verdict::Ok;
}

BaspFrameCheck::Verdict BaspFrameCheck::inspect_prefix() {
  prefix_want_ = 0;
  const Inspected seen{part_, response_, reinterpret_cast<const std::uint8_t*>(prefix_.data()), prefix_.size()};
  return inspect_(seen) ? Verdict::Ok : Verdict::Forbidden;
}

BaspFrameCheck::Verdict BaspFrameCheck::take_prefix(const std::uint8_t* data, std::size_t n) {
  if (prefix_want_ == 0) return Verdict::Ok;
  prefix_.append(reinterpret_cast<const char*>(data), std::min(n, prefix_want_ - prefix_.size()));
  return prefix_.size() < prefix_want_ ? Verdict::Ok : inspect_prefix();
}

BaspFrameCheck::Verdict BaspFrameCheck::feed(const std::uint8_t* data, std::size_t n) {
  if (failed_ != Verdict::Ok) return failed_;
  while (n > 0) {
    if (in_payload_) {
      auto take = static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, n));
      if (auto v = take_prefix(data, take); v != Verdict::Ok) return failed_ = v;
      payload_left_ -= take;
      data += take;
      n -= take;
    } else {
      auto take = std::min(kHeaderSize - have_, n);
      std::memcpy(header_ + have_, data, take);
      have_ += take;
      data += take;
      n -= take;
      if (have_ < kHeaderSize) break;
      have_ = 0;
      if (auto v = check_header(); v != Verdict::Ok) return failed_ = v;
      in_payload_ = true;
    }
    if (in_payload_ && payload_left_ == 0) {
      in_payload_ = false;
      ++frames_;
    }
  }
  return Verdict::Ok;
}

}  // namespace meshos::net
