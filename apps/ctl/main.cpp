// meshos-ctl: an operator's tool against a running node (see ctl_lib.hpp for the commands).
#include <algorithm>
#include <chrono>
#include <iostream>
#include <thread>
#include <string>
#include <vector>

#include "ctl_lib.hpp"
#include "meshos/node.hpp"
#include "meshos/time.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  meshos::ctl::Environment env{
      std::cout, std::cerr,
      [](const std::string& address, const meshos::TlsOptions& tls, std::chrono::milliseconds timeout)
          -> meshos::Result<std::unique_ptr<meshos::RemoteNode>> {
        auto parsed = meshos::PeerAddress::parse(address);
        if (!parsed) return meshos::SdkError{meshos::Errc::invalid_argument, "--node: " + parsed.error().message};
        // A node that is not listening yet (starting, restarting) is tried again until the timeout.
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        auto pause = std::chrono::milliseconds(100);
        for (;;) {
          const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
          auto node = meshos::RemoteNode::connect(*parsed, tls, std::max(left, std::chrono::milliseconds(1)));
          if (node || node.error().code() != meshos::Errc::connect_failed || left <= pause) return node;
          std::this_thread::sleep_for(pause);  // a backoff between attempts, not a wait for an event
          pause = std::min(pause * 2, std::chrono::milliseconds(1000));
        }
      },
      [] { return meshos::wall_clock_ms(); }};
  return meshos::ctl::run(args, env);
}
