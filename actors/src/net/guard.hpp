#pragma once
// The node's front door. Every TCP connection of a meshos endpoint passes through its Guard; CAF's
// middleman only ever speaks plain BASP over loopback, to the guard.
//
// Why: CAF 0.17.6 cannot be made safe against strangers from inside (see libmeshos/docs/SPEC.md, "Threat
// model"): its TLS sessions share OpenSSL's per-thread error queue, so one hostile handshake drops healthy
// links; it re-reads certificate files on every connection and terminates when they are gone; it allocates
// whatever payload size a BASP header announces; it keeps half-open connections forever; and its
// connection timeout races new outgoing connections. The guard terminates TLS itself (credentials loaded
// once, kept in memory, replaced only by a validated reload), follows the BASP framing from the network
// side (an announced payload over the limit closes the connection before CAF sees the header), holds a
// new connection away from CAF until its BASP handshake arrived, closes connections still unused after a
// short deadline and connections silent for longer than the idle timeout, and caps connections in total
// and per source address.
//
// Inbound: listen() accepts on the public address and bridges each admitted connection to CAF's loopback
// listener. Outbound: open_tunnel() hands out a one-shot loopback port; CAF connects there and the guard
// carries that connection to the remote node (over TLS when configured).
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <caf/node_id.hpp>

#include "meshos/node.hpp"
#include "meshos/result.hpp"
#include "net/basp_frame.hpp"

namespace meshos::net {

// Running totals, for status and tests.
struct GuardStats {
  std::uint64_t accepted = 0;           // inbound connections taken in
  std::uint64_t refused_capacity = 0;   // refused at once: too many connections (in total or from the source)
  std::uint64_t evicted_pending = 0;    // pending connections closed to make room for a newer one
  std::uint64_t handshake_timeouts = 0;
  std::uint64_t idle_timeouts = 0;
  std::uint64_t oversize_frames = 0;    // announced payload over max_message_size
  std::uint64_t malformed_frames = 0;   // not BASP, or not the handshake expected first
  std::uint64_t forbidden_messages = 0; // outside the wire protocol, or unreadable (basp_message.hpp)
  std::uint64_t tls_failures = 0;       // handshakes refused or broken
  std::uint64_t tunnels = 0;            // outbound connections opened
  std::uint64_t open = 0;               // connections open now
};

class Guard {
 public:
  // `tls` disabled: plain TCP. Enabled: the files are loaded now (kind invalid_tls) and kept in memory;
  // `certified_as` is the node the certificate must name (a node's guard; none for an operator's).
  // A connection in use that brings no byte for `idle_timeout` (BASP heartbeats flow every heartbeat
  // interval) is closed.
  static Result<std::unique_ptr<Guard>> start(ConnectionLimits limits, std::chrono::milliseconds idle_timeout,
                                              const TlsOptions& tls,
                                              std::optional<NodeId> certified_as = std::nullopt);
  ~Guard();  // closes every connection and listener, joins the thread
  Guard(const Guard&) = delete;
  Guard& operator=(const Guard&) = delete;

  // Listens on host:port (0 = ephemeral) and bridges admitted connections to 127.0.0.1:backend_port.
  // Returns the port. Kind listen_failed.
  Result<std::uint16_t> listen(const std::string& host, std::uint16_t port, std::uint16_t backend_port);
  // A loopback port whose first connection is carried to `remote`; unused ports close after `timeout`.
  // Kinds connect_failed (address does not resolve), listen_failed.
  Result<std::uint16_t> open_tunnel(const PeerAddress& remote, std::chrono::milliseconds timeout);
  // Validates and loads new TLS files; connections opened from now on use them, open ones keep theirs.
  // On error nothing changes. Kind invalid_tls (also when the guard runs without TLS).
  Result<void> reload_tls(const TlsOptions& tls);

  GuardStats stats() const;
  bool tls() const;
  // The CAF node of the actor system behind this guard: monitor and down frames from the network must be
  // meant for it. Connections opened before this is called check only their source.
  void set_local_node(const caf::node_id& node);
  // Whether a message from CAF node `from` may speak for node `claimed`: always without TLS (the signed
  // hello proves it); with TLS, only when the certificate of every open connection from `from` names
  // `claimed`. Kind peer_refused, with the reason.
  Result<void> vouches_for(const caf::node_id& from, NodeId claimed) const;
  const ConnectionLimits& limits() const noexcept;

  class Impl;

 private:
  explicit Guard(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshos::net
