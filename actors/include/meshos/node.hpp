#pragma once
// Library: meshos.
// A networked node: the SDK runtime plus CAF's network layer (BASP over caf::io::middleman, optionally
// TLS through caf::openssl). It listens for peers and operators, joins the peers it is given, learns the
// rest from them, and feeds heartbeats (RTT, health), peer self-descriptions and signed admin commits into
// the loop. CAF stays behind this surface (meshos/caf.hpp has the entry points that name CAF types).
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "meshos/result.hpp"
#include "meshos/sdk.hpp"

namespace meshos {

// With TLS, a node's certificate names the node it belongs to: a subjectAltName URI made by
// node_certificate_uri (e.g. "URI:urn:meshos:node:00c0ffee00c0ffee" in an openssl extension file). A node
// refuses to start with a certificate that names another node or none, and a peer whose certificate does
// not name the node its signed hello claims is refused. Operators' certificates name no node.
inline constexpr const char* kNodeCertificateUriPrefix = "urn:meshos:node:";
std::string node_certificate_uri(NodeId id);

struct TlsOptions {
  std::string certificate;  // PEM file
  std::string key;          // PEM file
  std::string ca_file;      // PEM file of the CA whose signature peers must carry
  std::string passphrase;
  bool enabled() const { return !certificate.empty() || !key.empty() || !ca_file.empty(); }
  // All three files present, readable and parseable by OpenSSL, and the key matches the certificate.
  // Checked before CAF starts: CAF 0.17 terminates on bad TLS files. Kind "invalid_tls".
  Result<void> validate() const;
};

struct PeerAddress {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
  // "host:port"; kind "invalid_address".
  static Result<PeerAddress> parse(const std::string& text);
  bool operator<(const PeerAddress& o) const { return host < o.host || (host == o.host && port < o.port); }
  bool operator==(const PeerAddress& o) const { return host == o.host && port == o.port; }
};

// What a node takes from the network before anything is authenticated (libmeshos/docs/SPEC.md, "Threat
// model"). Every connection passes the node's guard; these are its bounds.
struct ConnectionLimits {
  std::size_t max_message_size = 16u << 20;  // largest message payload accepted; a larger announced one closes
  std::size_t max_connections = 512;          // in total (lowered to fit the process's descriptor limit)
  std::size_t max_connections_per_source = 64;
  std::size_t max_pending = 128;              // connections not yet in use
  std::size_t max_pending_per_source = 16;    // beyond: the source's oldest pending connection is closed
  // A new connection must finish TLS, the BASP handshake and send its first message within this.
  std::chrono::milliseconds handshake_timeout{3000};
};

inline constexpr std::size_t kMaxNodeNameBytes = 64;
// "" (no name) or 1 to kMaxNodeNameBytes of ASCII letters, digits, '.', '_' and '-'.
bool is_valid_node_name(const std::string& name);

struct NetworkOptions {
  std::string listen_host = "127.0.0.1";
  std::uint16_t listen_port = 0;  // 0 = ephemeral
  std::string port_file;          // when set, the chosen port is written here (atomically) once listening
  std::vector<PeerAddress> peers; // joined at start; others are learned from them
  std::chrono::milliseconds heartbeat_interval{250};
  std::chrono::milliseconds peer_timeout{1500};  // no answer for this long: Unreachable
  std::chrono::milliseconds reconnect_initial{100};
  std::chrono::milliseconds reconnect_max{5000};
  TlsOptions tls;
  std::string software_version;  // shown to peers; defaults to meshos::version()
  // What peers, meshos-ctl and the logs call this node beside its id (meshos-run: its section's name);
  // "" gives none. At most kMaxNodeNameBytes of letters, digits, '.', '_' and '-' (invalid_config).
  std::string node_name;
  ConnectionLimits limits;       // a connection silent for peer_timeout is closed as well

  // Who this node is, proven to peers by signing its hellos: a node key whose node_id() is the config's
  // this_node (this_node 0 takes the key's id). Absent: a fresh key is generated (its id becomes this_node).
  std::optional<EntityKeypair> node_key;
  // The cluster: public keys of the nodes admitted as peers (this node is always one). A node that is not
  // listed, or cannot prove it is, is never admitted, gossiped about or dialed from gossip. Empty: this
  // node admits no peer at all.
  std::vector<PublicKey> members;
  std::size_t max_peers = 256;     // addresses tracked at once (configured ones included)
  std::size_t max_watchers = 64;   // operator snapshot streams at once
  // A peer unreachable this long is removed from the snapshot (a configured address is still dialed).
  std::chrono::milliseconds peer_expiry{600'000};
};

// Work events (MeshNode::deliver / process) in flight to one peer node, not yet answered by it: beyond this
// the sender refuses with queue_full (counted as the link's window_full).
inline constexpr std::size_t kWorkWindow = 64;

class MeshNode {
 public:
  // Kinds: invalid_tls, listen_failed, invalid_config (from MeshOsConfig::validate).
  static Result<std::unique_ptr<MeshNode>> start(MeshOsConfig config, NetworkOptions network,
                                                 std::shared_ptr<ActionDispatcher> dispatcher = nullptr,
                                                 SdkOptions options = {});
  // On a CAF configuration of the caller's, or on the application's own actor system: meshos/caf.hpp.
  virtual ~MeshNode() = default;

  virtual MeshOsDaemonSdk& sdk() = 0;
  // Drains this node and waits for the verdict (MeshOsDaemonSdk::drain): a daemon built from a factory moves
  // to a peer, the others stop.
  Result<DrainOutcome> drain(std::chrono::milliseconds deadline) { return sdk().drain(deadline); }
  virtual std::uint16_t port() const = 0;
  virtual NodeId node_id() const = 0;
  // Daemons of the whole cluster whose capabilities match `filter`: this node's, and each peer's as the
  // peer last described them (a change reaches every peer with its next heartbeat). From the latest snapshot.
  virtual std::vector<DaemonLocation> find(const CapabilityFilter& filter = {}) const = 0;
  // A causal event for a daemon on any node of the cluster, by id or by name (locate_daemon: this node's daemon
  // first, else the one peer daemon of that name). At most once, in order per calling thread and daemon.
  // deliver never blocks: handed to the daemon's queue here, or sent to its node within the link's window
  // (kWorkWindow events in flight per peer node, answered by the receiving node). Kinds: not_found,
  // ambiguous_daemon, unreachable (the daemon's node is not connected), queue_full (the daemon's queue here, or
  // the link's window: counted as the link's window_full), loop_closed. An event the receiving node refuses
  // (its daemon's queue full, the daemon gone) is counted there and in the link's `failed`.
  virtual Result<void> deliver(const DaemonAddress& daemon, CausalEvent event) = 0;
  // The same, waiting up to `timeout` for the daemon's outputs. Kinds as deliver, and timeout, process_failed.
  virtual Result<std::vector<Bytes>> process(const DaemonAddress& daemon, CausalEvent event,
                                             std::chrono::milliseconds timeout) = 0;
  // Bounded: leaves peers, stops the SDK, stops the network layer.
  virtual Result<RuntimeStats> shutdown(std::chrono::milliseconds deadline = kDefaultShutdownDeadline) = 0;
  // Reads the TLS files again from the paths the node started with (e.g. after a certificate rotation):
  // validated first; on any error (kind invalid_tls) the node keeps what it has. Open connections keep their
  // session; new ones use the new files. The node never reads the files otherwise, so files removed or
  // replaced while it runs change nothing until this is called.
  virtual Result<void> reload_tls() = 0;
  // Test hook: the node stops answering its peers' heartbeats and greetings without closing a connection,
  // as a SIGSTOPped process would (peers then see it Unreachable after their peer_timeout); false resumes.
  virtual void set_unresponsive(bool unresponsive) = 0;
  // Test hook: every heartbeat answer leaves `delay` late, as over a slow link (0 = at once).
  virtual void set_heartbeat_delay(std::chrono::milliseconds delay) = 0;
};

// An operator's connection to a node (what meshos-ctl uses).
class RemoteNode {
 public:
  // Kinds: connect_failed, invalid_tls.
  static Result<std::unique_ptr<RemoteNode>> connect(const PeerAddress& node, const TlsOptions& tls = {},
                                                     std::chrono::milliseconds timeout = std::chrono::seconds(5));
  virtual ~RemoteNode() = default;

  // One request, one JSON answer. Requests: "status", "snapshot", "peers", "logs" ({"daemon": hex?,
  // "level": "info"?, "after_seq": N?}), "admin" (a SignedAdminCommit as JSON, or {"unsigned": AdminEvent}
  // where the node has no operator registry), "ice" (a SignedIceCommit as JSON).
  // Errors carry the node's kind (e.g. signature_invalid) or timeout / connection_lost.
  virtual Result<std::string> request(const std::string& kind, const std::string& json_body,
                                      std::chrono::milliseconds timeout = std::chrono::seconds(5)) = 0;
  // Streams every snapshot the node publishes as JSON until `on_snapshot` returns false, the connection ends
  // (connection_lost) or, with `within`, that much time passed first (timeout). No polling: the node pushes.
  virtual Result<void> watch(const std::function<bool(const std::string& snapshot_json)>& on_snapshot,
                             std::optional<std::chrono::milliseconds> within = std::nullopt) = 0;
};

}  // namespace meshos
