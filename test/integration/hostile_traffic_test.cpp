// Strangers on the network (issue 12): every kind of hostile or broken connection against a three-node
// cluster, plain and TLS, while its links must hold, operators must be served and memory must stay
// bounded; and one regression test per finding of the attack that found them. Loopback only, bounded.
#include <doctest/doctest.h>

#include <fstream>
#include <set>
#include <thread>

#include <poll.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <nlohmann/json.hpp>

#include "mesh_support.hpp"
#include "net/context.hpp"
#include "net/guard.hpp"
#include "net/hello.hpp"

namespace meshos::test {

namespace {

using nlohmann::json;

// Connections per kind of attack.
constexpr int kPerKind = 200;

// g++ defines __SANITIZE_ADDRESS__; clang answers __has_feature(address_sanitizer) instead.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MESHOS_TEST_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || defined(MESHOS_TEST_UNDER_ASAN)
constexpr bool kAddressSanitizer = true;
#else
constexpr bool kAddressSanitizer = false;
#endif

int connect_raw(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) == 0);
  return fd;
}

void send_all(int fd, const std::string& bytes) {
  // The guard may close the connection mid-way: that is the point, not a failure.
  (void)::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
}

// True once the other side closed the connection (read returns 0 or fails) within `timeout`.
bool closed_by_peer(int fd, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[4096];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return true;
  }
}

// A BASP header (CAF 0.17, network byte order) announcing `payload` bytes.
std::string basp_header(std::uint8_t operation, std::uint32_t payload) {
  std::string h(32, '\0');
  h[0] = static_cast<char>(operation);
  h[4] = static_cast<char>(payload >> 24);
  h[5] = static_cast<char>(payload >> 16);
  h[6] = static_cast<char>(payload >> 8);
  h[7] = static_cast<char>(payload);
  return h;
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t pages = 0, resident = 0;
  statm >> pages >> resident;
  return resident * static_cast<std::size_t>(::sysconf(_SC_PAGESIZE));
}

// A TLS client handshake with the given files (any of them may be empty: no certificate offered).
bool tls_handshake_succeeds(std::uint16_t port, const std::string& cert, const std::string& key,
                            const std::string& ca) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx != nullptr);
  if (!cert.empty()) {
    REQUIRE(SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) == 1);
  }
  if (!ca.empty()) SSL_CTX_load_verify_locations(ctx, ca.c_str(), nullptr);
  int fd = connect_raw(port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  bool ok = SSL_connect(ssl) == 1;
  // TLS 1.3 refuses a client certificate after the client's handshake finished: read to see the verdict.
  if (ok) {
    char byte;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 2000) > 0 && SSL_read(ssl, &byte, 1) <= 0) ok = false;
  }
  ERR_clear_error();
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return ok;
}

// Lines of a node's log that say a peer link broke.
std::size_t link_breaks(const MeshNode& node) {
  auto snap = const_cast<MeshNode&>(node).sdk().snapshot();
  std::size_t n = 0;
  for (const auto& r : snap->logs)
    if (r.message.find("connection lost") != std::string::npos || r.message.find("no answer for") != std::string::npos)
      ++n;
  return n;
}

// The attacked cluster: slower heartbeats and generous timeouts, so that a drop here is a real one.
NetworkOptions attacked_network() {
  auto net = fast_network();
  net.heartbeat_interval = 100ms;
  // Generous on a loaded machine (and under ASan, several times slower).
  net.peer_timeout = kAddressSanitizer ? 6s : 2s;
  net.limits.handshake_timeout = 500ms;
  return net;
}

struct Cluster : ThreeNodeCluster {
  // With `pki` (holding a CA "ca"): over TLS.
  explicit Cluster(TestPki* pki) : ThreeNodeCluster(pki, attacked_network()) {}

  void status_succeeds() {
    for (const auto& n : nodes) {
      auto remote = RemoteNode::connect(loopback(n->port()), operator_tls, 5s);
      REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
      auto reply = (*remote)->request("status", "{}", 5s);
      REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
      CHECK(json::parse(*reply).at("node_id").get<std::string>() == to_hex(n->node_id()));
    }
  }

  std::size_t breaks() const {
    std::size_t n = 0;
    for (const auto& node : nodes) n += link_breaks(*node);
    return n;
  }

  bool all_healthy() const {
    for (const auto& n : nodes) {
      auto s = n->sdk().snapshot();
      for (const auto& other : nodes)
        if (other->node_id() != n->node_id() && !has_health(*s, other->node_id(), PeerHealth::Healthy)) return false;
    }
    return true;
  }
};

// Every kind of stranger, kPerKind times each, at every node of the cluster.
void attack(Cluster& cluster, TestPki* foreign) {
  const auto before = cluster.breaks();
  const auto rss_before = resident_bytes();
  for (const auto& node : cluster.nodes) {
    const auto port = node->port();
    for (int i = 0; i < kPerKind; ++i) ::close(connect_raw(port));  // connect and close
    for (int i = 0; i < kPerKind; ++i) {                              // garbage
      int fd = connect_raw(port);
      send_all(fd, std::string(512, static_cast<char>('A' + i % 26)));
      ::close(fd);
    }
    // Announced payloads of 1 GiB: refused before anything is allocated for them.
    std::vector<int> oversize;
    for (int i = 0; i < kPerKind; ++i) {
      int fd = connect_raw(port);
      send_all(fd, basp_header(0x01, 1u << 30));
      oversize.push_back(fd);
    }
    for (int fd : oversize) {  // over TLS the header is garbage before a handshake: closed all the same
      CHECK(closed_by_peer(fd, 5s));
      ::close(fd);
    }
    // Half-open: connect and say nothing; the guard closes them after its handshake deadline.
    std::vector<int> silent;
    for (int i = 0; i < kPerKind; ++i) silent.push_back(connect_raw(port));
    cluster.status_succeeds();  // operators get in while strangers hold connections
    for (int fd : silent) {
      CHECK(closed_by_peer(fd, 5s));
      ::close(fd);
    }
    if (foreign != nullptr) {
      for (int i = 0; i < kPerKind / 10; ++i) {
        CHECK_FALSE(tls_handshake_succeeds(port, foreign->path("foreign-node.pem"), foreign->path("foreign-node.key"),
                                           cluster.operator_tls.ca_file));
        CHECK_FALSE(tls_handshake_succeeds(port, "", "", cluster.operator_tls.ca_file));
      }
    }
  }
  cluster.status_succeeds();
  CHECK(cluster.breaks() == before);
  CHECK(cluster.all_healthy());
  // Bounded: 3 x 200 announced GiB and hundreds of held connections leave no lasting trace. (Not under
  // AddressSanitizer, whose quarantine keeps freed memory resident on purpose: the main build checks it.)
  if (!kAddressSanitizer) CHECK(resident_bytes() < rss_before + (128u << 20));
}

}  // namespace

TEST_CASE("a plain cluster keeps every link and serves operators under hostile traffic") {
  Cluster cluster(nullptr);
  attack(cluster, nullptr);
}

TEST_CASE("a TLS cluster keeps every link and serves operators under hostile traffic") {
  TestPki pki;
  pki.make_ca("ca");
  pki.make_ca("foreign-ca");
  pki.make_cert("foreign-ca", "foreign-node", fresh_node_id());
  Cluster cluster(&pki);
  attack(cluster, &pki);
}

// One TLS node and an operator certificate from the same throwaway CA.
struct TlsNode {
  TestPki pki;
  NetworkOptions net = fast_network();
  std::unique_ptr<MeshNode> node;
  TlsOptions op;
  NodeId id = fresh_node_id();
  TlsNode() {
    pki.make_ca("ca");
    net.tls = pki.make_cert("ca", "node", id);
    node = start_node(net, {}, id);
    op = pki.make_cert("ca", "operator");
  }
  // A fresh operator connection answers status.
  void status_succeeds() const {
    auto remote = RemoteNode::connect(loopback(node->port()), op, 5s);
    REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
    auto reply = (*remote)->request("status", "{}", 5s);
    REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
  }
};

TEST_CASE("TLS operator connections succeed every time with heartbeats on") {
  // Finding 8: CAF's connection timeout raced new TLS connections (half of them failed); it is off now.
  TlsNode t;
  for (int i = 0; i < 40; ++i) t.status_succeeds();
  REQUIRE(t.node->shutdown());
}

TEST_CASE("a TLS node whose credential files vanish keeps serving and reloads only validated files") {
  // Finding 7: removing the files and connecting once terminated the node.
  TlsNode t;
  auto& pki = t.pki;
  auto& net = t.net;
  auto& node = t.node;
  auto& op = t.op;
  op.ca_file = pki.path("operator-ca.pem");  // the operator keeps a CA file of its own
  std::filesystem::copy_file(net.tls.ca_file, op.ca_file);
  for (const auto& f : {net.tls.certificate, net.tls.key, net.tls.ca_file}) std::filesystem::remove(f);
  for (int i = 0; i < 3; ++i) t.status_succeeds();
  auto reload = node->reload_tls();
  REQUIRE_FALSE(reload);
  CHECK(reload.error().code() == Errc::invalid_tls);
  // Still serving with what it loaded at start.
  t.status_succeeds();
  // New files under the same paths (a rotation): validated, then used.
  std::filesystem::copy_file(op.ca_file, net.tls.ca_file);
  auto rotated = pki.make_cert("ca", "node", t.id);
  CHECK(rotated.certificate == net.tls.certificate);
  CHECK(node->reload_tls());
  t.status_succeeds();
  REQUIRE(node->shutdown());
}

TEST_CASE("a node that is not a member of the cluster is never admitted") {
  // Finding 5: anyone could join a plain cluster and was gossiped on.
  auto a = start_node();
  auto stranger_net = fast_network();
  auto stranger_key = EntityKeypair::generate();  // not in the pool: not a member
  stranger_net.node_key = stranger_key;
  stranger_net.members.push_back(stranger_key.public_key());  // the stranger would admit a; a does not admit it
  stranger_net.peers = {loopback(a->port())};
  auto started = MeshNode::start(fast_config(), stranger_net);
  REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  auto& stranger = *started;
  SnapshotWatch ws(stranger->sdk());
  auto logged = [](const std::string& text) {
    return [text](const MeshOsSnapshot& s) {
      for (const auto& r : s.logs)
        if (r.message.find(text) != std::string::npos) return true;
      return false;
    };
  };
  // The stranger's dial is refused by a, with the reason, and a never lists it.
  CHECK(ws.seen(logged("hello refused")));
  SnapshotWatch wa(a->sdk());
  CHECK(wa.seen(logged("is not a member of this cluster")));
  CHECK(a->sdk().snapshot()->peers.count(stranger->node_id()) == 0);
  REQUIRE(stranger->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("departed peers age out: a learned one is forgotten, a configured one leaves the snapshot and is still dialed") {
  // Finding 10: departed peers were never removed.
  auto net = fast_network();
  net.peer_expiry = 800ms;
  auto a = start_node(net);
  auto net_b = net;
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b);
  auto net_c = net;
  net_c.peers = {loopback(b->port())};  // c learns a through gossip
  auto c = start_node(net_c);
  const auto a_id = a->node_id(), b_id = b->node_id();
  const auto a_port = a->port();
  SnapshotWatch wb(b->sdk()), wc(c->sdk());
  REQUIRE(wc.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a_id) && healthy_with_rtt(s, b_id); }));
  REQUIRE(wb.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a_id); }));
  REQUIRE(a->shutdown());
  // Unreachable first, then gone from both snapshots.
  CHECK(wc.seen([&](const MeshOsSnapshot& s) { return has_health(s, a_id, PeerHealth::Unreachable); }));
  CHECK(wc.seen([&](const MeshOsSnapshot& s) { return s.peers.count(a_id) == 0; }));
  CHECK(wb.seen([&](const MeshOsSnapshot& s) { return s.peers.count(a_id) == 0; }));
  // c learned a's address from gossip and dropped it; b was configured with it and keeps dialing.
  auto addresses_of = [](MeshNode& n) {
    auto remote = RemoteNode::connect(loopback(n.port()), {}, 5s);
    REQUIRE(remote);
    auto reply = (*remote)->request("peers", "{}", 5s);
    REQUIRE(reply);
    const auto peers = json::parse(*reply);
    std::set<std::string> out;
    for (const auto& e : peers.at("addresses")) out.insert(e.at("address").get<std::string>());
    return out;
  };
  const auto a_address = loopback(a_port).to_string();
  CHECK(addresses_of(*c).count(a_address) == 0);
  CHECK(addresses_of(*b).count(a_address) == 1);
  // a comes back on its port: b re-admits it.
  auto net_again = net;
  net_again.listen_port = a_port;
  auto a_again = start_node(net_again, {}, a_id);
  CHECK(wb.seen([&](const MeshOsSnapshot& s) { return has_health(s, a_id, PeerHealth::Healthy); }));
  REQUIRE(a_again->shutdown());
  REQUIRE(c->shutdown());
  REQUIRE(b->shutdown());
}

TEST_CASE("a stranger flooding forged commits neither delays an operator's commit nor evicts it from the audit") {
  // Finding 6: 600 forged commits were served one per tick ahead of the operator's and overwrote the audit.
  auto op = EntityKeypair::generate();
  auto stranger = EntityKeypair::generate();
  OperatorRegistry registry;
  REQUIRE(registry.add(op.public_key()));
  SdkOptions options;
  VerifierPolicy policy;
  policy.cluster = "blue";
  options.verifier = std::make_shared<AdminVerifier>(std::move(registry), 1, policy);
  auto node = start_node(fast_network(), std::move(options));
  const auto target = node->node_id();
  auto commit_json = [&](const EntityKeypair& who, AdminEvent e) {
    auto c = sign_admin(who, wall_clock_ms(), std::move(e), "blue");
    REQUIRE(c);
    return json(*c).dump();
  };
  auto flood_link = RemoteNode::connect(loopback(node->port()), {}, 5s);
  REQUIRE(flood_link);
  std::atomic<int> refused_full{0}, refused_forged{0};
  std::vector<std::thread> flood;
  for (int t = 0; t < 20; ++t) {
    flood.emplace_back([&] {
      for (int i = 0; i < 30; ++i) {
        auto reply = (*flood_link)->request("admin", commit_json(stranger, admin::Cordon{target}), 20s);
        if (reply) continue;
        if (reply.error().code() == Errc::queue_full) ++refused_full;
        if (reply.error().code() == Errc::not_authorized) ++refused_forged;
      }
    });
  }
  // Meanwhile the operator, on a connection of its own, gets an answer well before the flood is through.
  auto operator_link = RemoteNode::connect(loopback(node->port()), {}, 5s);
  REQUIRE(operator_link);
  auto status = (*operator_link)->request("status", "{}", 5s);
  REQUIRE(status);
  CHECK(json::parse(*status).at("cluster") == "blue");  // what operators' tools sign for
  auto accepted = (*operator_link)->request("admin", commit_json(op, admin::Cordon{target}), 5s);
  for (auto& t : flood) t.join();
  REQUIRE_MESSAGE(accepted, (accepted ? "" : accepted.error().to_string()));
  CHECK(json::parse(*accepted).at("outcome") == "accepted");
  CHECK(refused_full.load() > 0);    // one connection may not queue more than its share
  CHECK(refused_forged.load() > 0);
  auto snap = node->sdk().snapshot();
  CHECK(std::any_of(snap->audit.begin(), snap->audit.end(),
                    [](const AuditRecord& r) { return r.outcome == "accepted" && r.event == "cordon"; }));
  CHECK(snap->audit_strangers.total >= static_cast<std::uint64_t>(refused_forged.load()));
  REQUIRE(node->shutdown());
}

TEST_CASE("a node key that does not match this_node is refused at start") {
  auto net = fast_network();
  net.node_key = EntityKeypair::generate();
  auto cfg = fast_config();
  cfg.this_node = 42;
  auto node = MeshNode::start(cfg, net);
  REQUIRE_FALSE(node);
  CHECK(node.error().code() == Errc::invalid_config);
}

TEST_CASE("a TLS node refuses to start with a certificate that names another node or none") {
  TestPki pki;
  pki.make_ca("ca");
  const auto id = fresh_node_id();
  for (auto named : {std::optional<NodeId>(fresh_node_id()), std::optional<NodeId>()}) {
    auto net = fast_network();
    net.tls = pki.make_cert("ca", "node", named);
    auto node = MeshNode::start(node_config(id), with_key(net, id));
    REQUIRE_FALSE(node);
    CHECK(node.error().code() == Errc::invalid_tls);
    CHECK(node.error().message.find(named ? "names node " + to_hex(*named) : std::string("names no node")) !=
          std::string::npos);
  }
  // A rotation to a certificate of another node is refused too; the node keeps its own.
  TlsNode t;
  t.pki.make_cert("ca", "node", fresh_node_id());
  auto reload = t.node->reload_tls();
  REQUIRE_FALSE(reload);
  CHECK(reload.error().message.find("names node") != std::string::npos);
  t.status_succeeds();
  REQUIRE(t.node->shutdown());
}

namespace {

// A peer made by hand: its own guard and actor system, a certificate of the cluster's CA naming `certified`,
// and the key of `claimed`, a member. What does node `target` answer to its signed hello?
Result<void> hello_over_tls(const MeshNode& target, const TlsOptions& tls, NodeId claimed) {
  auto guard = net::Guard::start(ConnectionLimits{}, 5s, tls);  // an operator's guard: any certificate
  REQUIRE_MESSAGE(guard, (guard ? "" : guard.error().to_string()));
  auto tunnel = (*guard)->open_tunnel(loopback(target.port()), 5s);
  REQUIRE(tunnel);
  caf::actor_system_config cfg;
  net::configure_system(cfg, 250ms);
  caf::actor_system sys(cfg);
  auto gateway = sys.middleman().remote_actor("127.0.0.1", *tunnel);
  REQUIRE_MESSAGE(gateway, sys.render(gateway.error()));
  caf::scoped_actor self(sys);
  std::optional<Result<void>> outcome;
  self->request(*gateway, 5s, net::challenge_atom::value)
      .receive(
          [&](net::challenge_atom, std::uint64_t nonce, std::uint64_t remote_node) {
            net::NetHello h;
            h.version = "test";
            h.listen_host = "127.0.0.1";
            h.listen_port = 1;
            net::seal_hello(h, nonce, 0, remote_node, with_key(fast_network(), claimed).node_key.value());
            self->request(*gateway, 5s, net::hello_atom::value, h, caf::actor_cast<caf::actor>(self))
                .receive([&](net::NetHello&) { outcome = Result<void>{}; },
                         [&](caf::error& e) { outcome = SdkError{Errc::peer_refused, sys.render(e)}; });
          },
          [&](caf::error& e) { FAIL("no challenge: " << sys.render(e)); });
  REQUIRE(outcome.has_value());
  return *outcome;
}

}  // namespace

TEST_CASE("a TLS peer is admitted only when its certificate names the node its signed hello claims") {
  TlsNode t;
  const auto member = fresh_node_id();  // a member's key, signing the hellos below
  // Its own certificate: admitted.
  auto own = hello_over_tls(*t.node, t.pki.make_cert("ca", "member", member), member);
  CHECK_MESSAGE(own, (own ? "" : own.error().message));
  // Another member's certificate, or an operator's (names no node): refused, whatever the key proves.
  const auto other = fresh_node_id();
  auto borrowed = hello_over_tls(*t.node, t.pki.make_cert("ca", "borrowed", other), member);
  REQUIRE_FALSE(borrowed);
  CHECK(borrowed.error().message.find("names node " + to_hex(other)) != std::string::npos);
  auto nameless = hello_over_tls(*t.node, t.op, member);
  REQUIRE_FALSE(nameless);
  CHECK(nameless.error().message.find("names no node") != std::string::npos);
  t.status_succeeds();
  REQUIRE(t.node->shutdown());
}

TEST_CASE("a stranger's system messages (exit, kill, a lone error, down) never stop a node's actors") {
  // Found while testing certificate names: CAF 0.17 delivers an exit message from the network like a local
  // one, and `kill` cannot be trapped; one message from anyone who completed a BASP handshake stopped the
  // node's gateway (no operator, no peer was served again).
  auto node = start_node();
  auto operator_connection = RemoteNode::connect(loopback(node->port()), {}, 5s);
  REQUIRE(operator_connection);
  using Attack = std::function<void(caf::blocking_actor*, const caf::actor&)>;
  const std::vector<Attack> attacks = {
      [](caf::blocking_actor* self, const caf::actor& gw) { self->send_exit(gw, caf::exit_reason::kill); },
      [](caf::blocking_actor* self, const caf::actor& gw) { self->send_exit(gw, caf::exit_reason::user_shutdown); },
      [](caf::blocking_actor* self, const caf::actor& gw) { self->send(gw, caf::make_error(caf::sec::runtime_error)); },
      [](caf::blocking_actor* self, const caf::actor& gw) {
        self->send(gw, caf::down_msg{caf::actor_cast<caf::actor_addr>(self), caf::exit_reason::kill});
      },
  };
  for (const auto& attack : attacks) {
    caf::actor_system_config cfg;
    net::configure_system(cfg, 250ms);
    caf::actor_system sys(cfg);
    auto gateway = sys.middleman().remote_actor("127.0.0.1", node->port());
    REQUIRE_MESSAGE(gateway, sys.render(gateway.error()));
    caf::scoped_actor self(sys);
    self->monitor(*gateway);
    attack(self.ptr(), *gateway);
    // The guard closes the connection (CAF then reports the proxy down); a node whose gateway died would too,
    // which the status requests below tell apart.
    bool closed = false;
    self->receive([&](caf::down_msg&) { closed = true; }, caf::after(10s) >> [] {});
    CHECK_MESSAGE(closed, "the connection stayed open after a system message");
  }
  // Every one was refused at the guard, and the node serves as before, old connections and new.
  auto reply = (*operator_connection)->request("status", "{}", 5s);
  REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
  CHECK(json::parse(*reply)["refused"]["forbidden_messages"].get<std::size_t>() == attacks.size());
  auto fresh = RemoteNode::connect(loopback(node->port()), {}, 5s);
  REQUIRE(fresh);
  CHECK((*fresh)->request("status", "{}", 5s));
  REQUIRE(node->shutdown());
}

}  // namespace meshos::test
