// What the guard reads inside BASP payloads from the network (actors/src/net/basp_message.hpp) on arbitrary
// bytes: handshakes, direct messages, monitor and down frames. It must never crash or allocate what the bytes
// declare, and a verdict must not change when bytes after the inspected prefix are added.
// Seeds (test/fuzz/corpus/basp_message/) are written by this binary: a mode byte, then a payload as CAF 0.17
// writes it:   MESHOS_FUZZ_BASP_MESSAGE_WRITE_SEEDS=test/fuzz/corpus/basp_message build-fuzz/.../meshos_fuzz_basp_message
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include "fuzz_support.hpp"
#include "net/basp_message.hpp"

namespace {

void write_seed(const std::string& dir, const std::string& name, std::uint8_t mode, const std::vector<char>& payload) {
  std::vector<char> bytes{static_cast<char>(mode)};
  bytes.insert(bytes.end(), payload.begin(), payload.end());
  std::FILE* f = std::fopen((dir + "/" + name).c_str(), "wb");
  meshos::fuzz::require(f != nullptr && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size(),
                        "cannot write a seed file");
  std::fclose(f);
}

template <class... Ts>
std::vector<char> serialized(caf::actor_system& sys, Ts... xs) {
  std::vector<char> buf;
  caf::binary_serializer sink(sys, buf);
  meshos::fuzz::require(!sink(xs...), "a seed does not serialize");
  return buf;
}

void write_seeds(const std::string& dir) {
  caf::actor_system_config cfg;
  caf::actor_system sys(cfg);
  const std::vector<caf::strong_actor_ptr> no_stack;
  const auto node = *caf::make_node_id(1001, "0123456789abcdef0123456789abcdef01234567");
  const auto other = *caf::make_node_id(1002, "89abcdef0123456789abcdef0123456789abcdef");
  write_seed(dir, "handshake", 0, serialized(sys, node));
  write_seed(dir, "ping", 0, serialized(sys, no_stack, caf::make_message(caf::atom("ping"), std::uint64_t{7})));
  write_seed(dir, "exit_kill", 0,
             serialized(sys, no_stack, caf::make_message(caf::exit_msg{caf::actor_addr{}, caf::exit_reason::kill})));
  write_seed(dir, "error_response", 1,
             serialized(sys, no_stack, caf::make_message(caf::make_error(caf::sec::runtime_error, "refused"))));
  write_seed(dir, "charbuf", 0, serialized(sys, no_stack, caf::make_message(std::vector<char>(16, 'x'))));
  write_seed(dir, "down", 2, serialized(sys, node, other, caf::make_error(caf::exit_reason::user_shutdown)));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* dir = std::getenv("MESHOS_FUZZ_BASP_MESSAGE_WRITE_SEEDS")) {
    write_seeds(dir);
    std::fprintf(stderr, "basp_message seeds written to %s\n", dir);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace meshos::net;
  if (size == 0) return 0;
  // The first byte picks what the rest is read as.
  const std::uint8_t* payload = data + 1;
  const std::size_t n = size - 1;
  const auto sender = handshake_sender(payload, n);
  if (sender) meshos::fuzz::require(static_cast<bool>(*sender), "a handshake named no node");
  const bool response = (data[0] & 1) != 0;
  const auto verdict = inspect_direct_message(payload, n, response);
  // The guard reads only a prefix: bytes beyond what the decision needed cannot turn a refusal into a pass.
  std::vector<std::uint8_t> longer(payload, payload + n);
  longer.insert(longer.end(), 64, 0);
  if (verdict == MessageVerdict::Forbidden)
    meshos::fuzz::require(inspect_direct_message(longer.data(), longer.size(), response) == MessageVerdict::Forbidden,
                          "a refused message passed with bytes appended");
  if (sender) {
    const bool down = (data[0] & 2) != 0;
    (void)inspect_monitor_or_down(payload, n, down, *sender, std::nullopt);
    (void)inspect_monitor_or_down(payload, n, down, *sender, *sender);
  }
  return 0;
}
