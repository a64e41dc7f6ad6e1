#pragma once
// Fixtures for tests that start MeshNodes in-process: one pool of node keys that is the cluster (every
// node a test starts is a member of every other), fast failure detection, a throwaway PKI.
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>

#include <unistd.h>

#include <doctest/doctest.h>

#include "../actor/support.hpp"
#include "meshosd_process.hpp"
#include "../support/tools.hpp"
#include "meshos/node.hpp"

namespace meshos::test {

// Every node a test starts takes its key from one pool, and the pool is the cluster: all are members.
inline const std::vector<EntityKeypair>& key_pool() {
  static const auto* pool = [] {
    auto* keys = new std::vector<EntityKeypair>();
    for (int i = 0; i < 64; ++i) keys->push_back(EntityKeypair::generate());
    return keys;
  }();
  return *pool;
}

inline std::vector<PublicKey> cluster_members() {
  std::vector<PublicKey> members;
  for (const auto& k : key_pool()) members.push_back(k.public_key());
  return members;
}

// The id of a pool key no node of this test used yet.
inline NodeId fresh_node_id() {
  static std::size_t next = 0;
  return key_pool().at(next++).node_id();
}

inline NetworkOptions with_key(NetworkOptions net, NodeId id) {
  for (const auto& k : key_pool())
    if (k.node_id() == id) net.node_key = k;
  REQUIRE(net.node_key.has_value());
  return net;
}

inline MeshOsConfig node_config(NodeId id) {
  MeshOsConfig cfg = fast_config();
  cfg.this_node = id;
  return cfg;
}

inline NetworkOptions fast_network() {
  NetworkOptions n;
  n.heartbeat_interval = 50ms;
  n.peer_timeout = 600ms;
  n.reconnect_initial = 20ms;
  n.reconnect_max = 200ms;
  n.members = cluster_members();
  return n;
}

inline PeerAddress loopback(std::uint16_t port) { return PeerAddress{"127.0.0.1", port}; }

inline std::unique_ptr<MeshNode> start_node(NetworkOptions net = fast_network(), SdkOptions options = {},
                                     NodeId id = fresh_node_id(),
                                     const std::function<void(MeshOsConfig&)>& configure = nullptr) {
  auto config = node_config(id);
  if (configure) configure(config);
  auto node = MeshNode::start(config, with_key(std::move(net), id), nullptr, std::move(options));
  REQUIRE_MESSAGE(node, (node ? "" : node.error().to_string()));
  return std::move(*node);
}

inline bool healthy_with_rtt(const MeshOsSnapshot& s, NodeId peer) {
  auto it = s.peers.find(peer);
  return it != s.peers.end() && it->second.health == PeerHealth::Healthy && it->second.rtt_ms.has_value();
}

inline bool has_health(const MeshOsSnapshot& s, NodeId peer, PeerHealth h) {
  auto it = s.peers.find(peer);
  return it != s.peers.end() && it->second.health == h;
}

// A throwaway CA and certificates signed by it, made with the openssl command line.
class TestPki {
 public:
  TestPki() {
    static std::atomic<int> counter{0};
    dir_ = std::filesystem::temp_directory_path() /
           ("meshos-net-pki-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(dir_);
  }
  ~TestPki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  void make_ca(const std::string& ca) {
    run("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=" + ca + " -keyout " +
        path(ca + ".key") + " -out " + path(ca + ".pem"));
  }
  // Certificate + key for `name`, signed by `ca`; a node's certificate names its node (`node`), an
  // operator's names none.
  TlsOptions make_cert(const std::string& ca, const std::string& name, std::optional<NodeId> node = std::nullopt) {
    run("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=" + name + " -keyout " +
        path(name + ".key") + " -out " + path(name + ".csr"));
    std::string extensions;
    if (node) {
      std::ofstream(path(name + ".ext")) << "subjectAltName=URI:" << node_certificate_uri(*node) << "\n";
      extensions = " -extfile " + path(name + ".ext");
    }
    run("x509 -req -days 1 -in " + path(name + ".csr") + " -CA " + path(ca + ".pem") + " -CAkey " +
        path(ca + ".key") + " -CAcreateserial" + extensions + " -out " + path(name + ".pem"));
    TlsOptions t;
    t.certificate = path(name + ".pem");
    t.key = path(name + ".key");
    t.ca_file = path(ca + ".pem");
    return t;
  }

 private:
  void run(const std::string& args) {
    std::string cmd = openssl_cli() + " " + args + " > " + path("openssl.log") + " 2>&1";
    REQUIRE_MESSAGE(std::system(cmd.c_str()) == 0, cmd);
  }
  std::filesystem::path dir_;
};

// Three nodes, each joining those started before it, from `base`; over TLS (node certificates node-a,
// node-b, node-c naming their nodes) when `pki` holds a CA "ca". Ready once each sees the others healthy.
// `options` gives each node its SdkOptions (e.g. a verifier of its own: verifiers hold state).
struct ThreeNodeCluster {
  std::vector<std::unique_ptr<MeshNode>> nodes;
  TlsOptions operator_tls;  // with TLS: an operator's certificate from the cluster CA

  // `configure` adjusts each node's MeshOsConfig.
  explicit ThreeNodeCluster(TestPki* pki, const NetworkOptions& base = fast_network(),
                            std::function<SdkOptions()> options = [] { return SdkOptions{}; },
                            std::function<void(MeshOsConfig&)> configure = nullptr)
      : base_(base), options_(std::move(options)), configure_(std::move(configure)) {
    for (auto name : {"node-a", "node-b", "node-c"}) {
      auto net = base;
      const auto id = fresh_node_id();
      if (pki != nullptr) net.tls = pki->make_cert("ca", name, id);
      for (const auto& n : nodes) net.peers.push_back(loopback(n->port()));
      tls_.push_back(net.tls);
      nodes.push_back(start_node(net, options_(), id, configure_));
    }
    if (pki != nullptr) operator_tls = pki->make_cert("ca", "operator");
    for (std::size_t i = 0; i < nodes.size(); ++i) wait_connected(i);
  }
  ~ThreeNodeCluster() {
    for (auto it = nodes.rbegin(); it != nodes.rend(); ++it)
      if (*it) CHECK((*it)->shutdown());
  }
  ThreeNodeCluster(const ThreeNodeCluster&) = delete;
  ThreeNodeCluster& operator=(const ThreeNodeCluster&) = delete;
  MeshNode& operator[](std::size_t i) { return *nodes.at(i); }

  // Node i stops (its peers keep running).
  void stop(std::size_t i) {
    ids_.resize(nodes.size());
    ids_[i] = nodes.at(i)->node_id();
    CHECK(nodes.at(i)->shutdown());
    nodes.at(i).reset();
  }
  // Node i, stopped, starts again as the same node (a fresh process would: no state kept), joining the others.
  void restart(std::size_t i) {
    REQUIRE(!nodes.at(i));
    auto net = base_;
    net.tls = tls_.at(i);
    for (const auto& n : nodes)
      if (n) net.peers.push_back(loopback(n->port()));
    nodes.at(i) = start_node(net, options_(), ids_.at(i), configure_);
    wait_connected(i);
  }

 private:
  void wait_connected(std::size_t i) {
    auto& n = *nodes.at(i);
    SnapshotWatch w(n.sdk());
    REQUIRE(w.seen([&](const MeshOsSnapshot& s) {
      for (const auto& other : nodes)
        if (other && other->node_id() != n.node_id() && !healthy_with_rtt(s, other->node_id())) return false;
      return true;
    }));
  }
  NetworkOptions base_;
  std::function<SdkOptions()> options_;
  std::function<void(MeshOsConfig&)> configure_;
  std::vector<TlsOptions> tls_;
  std::vector<NodeId> ids_;
};

#ifdef MESHOS_CTL_PATH
// meshos-ctl WORDS against `node`, as an operator of the cluster (its certificate when the cluster runs TLS).
struct CtlRun {
  int code = -1;
  std::string out, err;
};

inline CtlRun ctl(const ThreeNodeCluster& cluster, MeshNode& node, TestPki* pki, std::vector<std::string> words) {
  std::vector<std::string> args = {MESHOS_CTL_PATH, "--node", "127.0.0.1:" + std::to_string(node.port())};
  if (pki != nullptr) {
    for (const std::string& extra : {std::string("--tls-cert"), cluster.operator_tls.certificate, std::string("--tls-key"),
                                     cluster.operator_tls.key, std::string("--tls-ca"), cluster.operator_tls.ca_file})
      args.push_back(extra);
  }
  args.insert(args.end(), words.begin(), words.end());
  ChildProcess child(args);
  auto exit = child.wait_exit(deadline_in(30s));
  if (!exit.exited || exit.code != 0) {
    std::string line;
    for (const auto& w : words) line += " " + w;
    MESSAGE("meshos-ctl" << line << (exit.exited ? " exited " + std::to_string(exit.code) : std::string(" hung"))
                         << "\nstdout: " << child.out() << "\nstderr: " << child.err());
  }
  REQUIRE(exit.exited);
  return CtlRun{exit.code, child.out(), child.err()};
}

#endif

}  // namespace meshos::test
