// meshos-ctl: an operator's tool against a running node (see ctl_lib.hpp for the commands).
#include <iostream>
#include <string>
#include <vector>

#include "ctl_lib.hpp"
#include "meshos/node.hpp"
#include "meshos/time.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  meshos::ctl::Environment env{
      std::cout, std::cerr,
      [](const std::string& address, const meshos::TlsOptions& tls)
          -> meshos::Result<std::unique_ptr<meshos::RemoteNode>> {
        auto parsed = meshos::PeerAddress::parse(address);
        if (!parsed) return meshos::SdkError{meshos::ctl::kInvalidArgument, "--node: " + parsed.error().message};
        return meshos::RemoteNode::connect(*parsed, tls);
      },
      [] { return meshos::wall_clock_ms(); }};
  return meshos::ctl::run(args, env);
}
