// The guard's BASP frame check (actors/src/net/basp_frame.hpp) on arbitrary bytes from the network: it must
// never crash, and its verdict must not depend on how the stream is split into reads.
#include <cstddef>
#include <cstdint>

#include "fuzz_support.hpp"
#include "net/basp_frame.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using meshos::net::BaspFrameCheck;
  if (size == 0) return 0;
  // The first byte picks the limit, the expected first frame and where the stream is split.
  const std::size_t max_payload = std::size_t{1} << (data[0] % 24);
  const auto first = static_cast<BaspFrameCheck::First>((data[0] >> 5) % 3);
  const std::uint8_t* stream = data + 1;
  const std::size_t n = size - 1;
  BaspFrameCheck whole(max_payload, first);
  const auto at_once = whole.feed(stream, n);
  BaspFrameCheck split(max_payload, first);
  const std::size_t cut = n == 0 ? 0 : data[0] % (n + 1);
  auto in_parts = split.feed(stream, cut);
  if (in_parts == BaspFrameCheck::Verdict::Ok) in_parts = split.feed(stream + cut, n - cut);
  meshos::fuzz::require(at_once == in_parts, "the verdict depends on how the stream is split");
  if (at_once == BaspFrameCheck::Verdict::Ok)
    meshos::fuzz::require(whole.frames() == split.frames(), "frame counts differ between splits");
  return 0;
}
