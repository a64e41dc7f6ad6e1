#pragma once
// The network workloads of meshos-bench (MeshNode / RemoteNode over loopback, beside plain CAF over the
// middleman and caf::openssl). See BENCHMARKS.md.
namespace bench {

// killed-peer and silent-peer detection time, then run_remote_rtt.
void run_net(bool quick);

// remote_rtt: RemoteNode::request round trips (plain and TLS) beside plain CAF remote requests.
void run_remote_rtt(bool quick);

// remote_deliver: events/s from one node to a daemon on another, beside plain CAF remote sends; migrate: the
// time to move a daemon with 1 MB of state between two local nodes, beside one plain CAF remote request of 1 MB.
void run_remote(bool quick);

// The victim processes the detection workloads kill or stop: meshos-bench re-runs itself as
// `meshos-bench --victim node <survivor port>` or `--victim caf`. Returns the exit code.
int run_victim(int argc, char** argv);

}  // namespace bench
