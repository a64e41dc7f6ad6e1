// The network workloads: how fast a surviving node sees a killed or a silent peer as Unreachable, and what
// a remote request costs over loopback, plain and TLS. Each figure stands beside plain CAF doing the same
// over the middleman (or caf::openssl) in the same run. The victims of the detection workloads are child
// processes (this program re-run with --victim), so SIGKILL and SIGSTOP act on a real process.
#include "net_bench.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <meshos/meshos.hpp>
#include <meshos/node.hpp>

#include "bench_support.hpp"

namespace bench {

namespace {

using namespace std::chrono_literals;
using meshos::NodeId;
using meshos::PeerHealth;

using bping_atom = caf::atom_constant<caf::atom("bping")>;
using bpong_atom = caf::atom_constant<caf::atom("bpong")>;

// The same failure-detection numbers on both sides: meshos' defaults (NetworkOptions), which a MeshNode
// applies as BASP heartbeat interval and as its guard's idle timeout (plain CAF: connection timeout).
const meshos::NetworkOptions kDefaults{};

// The bench's nodes are one cluster: keys derived from a small index, so that a victim in a child process
// and the survivor here admit each other as members (index 1 is this process's node).
constexpr std::uint8_t kClusterSize = 64;

meshos::EntityKeypair bench_key(std::uint8_t index) {
  meshos::Seed seed{};
  seed[0] = index;
  seed[1] = 0xbe;
  return meshos::EntityKeypair::from_seed(seed);
}

meshos::NetworkOptions bench_network(std::uint8_t index) {
  meshos::NetworkOptions net;
  net.node_key = bench_key(index);
  for (std::uint8_t i = 1; i <= kClusterSize; ++i) net.members.push_back(bench_key(i).public_key());
  return net;
}

// ---- child processes ----

std::string self_path() {
  char buf[4096];
  auto n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) fail("cannot resolve /proc/self/exe");
  return std::string(buf, static_cast<std::size_t>(n));
}

// A victim: this program with --victim. It holds the read end of a pipe as stdin and exits when that
// pipe closes, so it never outlives the bench, whatever happens to the bench.
class Victim {
 public:
  explicit Victim(std::vector<std::string> args) {
    args.insert(args.begin(), {self_path(), "--victim"});
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int in[2];
    int out[2];
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0) fail("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) fail("fork failed");
    if (pid_ == 0) {
      ::dup2(in[0], STDIN_FILENO);
      ::dup2(out[1], STDOUT_FILENO);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    stdin_ = in[1];
    stdout_ = out[0];
  }
  ~Victim() { reap(); }
  Victim(const Victim&) = delete;
  Victim& operator=(const Victim&) = delete;

  void signal(int sig) const { ::kill(pid_, sig); }
  void reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    ::close(stdin_);
    ::close(stdout_);
  }
  // The victim's "ready <value>" line: its node id or its port.
  std::uint64_t ready(std::chrono::milliseconds limit) {
    std::string line;
    const auto until = BenchClock::now() + limit;
    while (line.find('\n') == std::string::npos) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - BenchClock::now()).count();
      pollfd p{stdout_, POLLIN, 0};
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left)) <= 0) fail("the victim process did not start");
      char buf[256];
      auto n = ::read(stdout_, buf, sizeof buf);
      if (n <= 0) fail("the victim process exited before it was ready");
      line.append(buf, static_cast<std::size_t>(n));
    }
    if (line.rfind("ready ", 0) != 0) fail("unexpected line from the victim: " + line);
    return std::strtoull(line.c_str() + 6, nullptr, 10);
  }

 private:
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
};

void wait_for_stdin_eof() {
  char buf[64];
  while (::read(STDIN_FILENO, buf, sizeof buf) > 0) {
  }
}

void configure_plain_net(caf::actor_system_config& cfg) {
  cfg.load<caf::io::middleman>();
  cfg.set("middleman.heartbeat-interval", caf::timespan{kDefaults.heartbeat_interval});
  cfg.set("middleman.connection-timeout", caf::timespan{kDefaults.peer_timeout});
}

caf::behavior pong_behavior() {
  return {[](bping_atom) { return bpong_atom::value; }};
}

// ---- the survivor's view ----

// Notes the receipt time of the first snapshot in which the armed peer has the armed health, and how many
// snapshots arrived since arming, that one included (1: the change made it into the very next tick).
class HealthWatch {
 public:
  void on(const meshos::SnapshotPtr& s) {
    auto t = now_ns();
    std::lock_guard<std::mutex> lock(mu_);
    if (peer_ == 0 || hit_ns_ != 0) return;
    ++snapshots_;
    auto it = s->peers.find(peer_);
    if (it == s->peers.end() || it->second.health != health_) return;
    hit_ns_ = t;
    cv_.notify_all();
  }
  void arm(NodeId peer, PeerHealth health) {
    std::lock_guard<std::mutex> lock(mu_);
    peer_ = peer;
    health_ = health;
    hit_ns_ = 0;
    snapshots_ = 0;
  }
  std::uint64_t snapshots() {
    std::lock_guard<std::mutex> lock(mu_);
    return snapshots_;
  }
  std::int64_t wait(const char* what) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, 30s, [&] { return hit_ns_ != 0; })) fail(std::string("net: never saw ") + what);
    return hit_ns_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  NodeId peer_ = 0;
  PeerHealth health_ = PeerHealth::Healthy;
  std::int64_t hit_ns_ = 0;
  std::uint64_t snapshots_ = 0;
};

struct Detections {
  std::vector<double> us;
  std::uint64_t max_ticks = 0;  // most snapshots from the signal to the first one showing Unreachable
};

// killed / silent detection, meshos: a survivor MeshNode in this process (default network settings), a
// victim meshos node in a child that joins it. Once the survivor's snapshot shows the victim Healthy, the
// victim gets `sig`; the figure is the time from the signal to the survivor's first snapshot showing it
// Unreachable (received through sdk().subscribe).
Detections detection_meshos(int sig, std::size_t reps, std::chrono::milliseconds tick) {
  meshos::MeshOsConfig cfg;
  cfg.tick_interval = tick;
  auto survivor = meshos::MeshNode::start(cfg, bench_network(1));
  if (!survivor) fail("net: survivor: " + survivor.error().to_string());
  auto& node = **survivor;
  HealthWatch watch;
  auto sub = node.sdk().subscribe([&watch](const meshos::SnapshotPtr& s) { watch.on(s); });
  Detections d;
  for (std::size_t i = 0; i < reps; ++i) {
    const auto index = static_cast<std::uint8_t>(2 + i % (kClusterSize - 1));
    Victim victim({"node", std::to_string(node.port()), std::to_string(tick.count()), std::to_string(index)});
    NodeId id = victim.ready(30s);
    watch.arm(id, PeerHealth::Healthy);
    watch.wait("the victim healthy");
    watch.arm(id, PeerHealth::Unreachable);
    auto t0 = now_ns();
    victim.signal(sig);
    auto t1 = watch.wait("the victim unreachable");
    d.us.push_back(static_cast<double>(t1 - t0) / 1e3);
    d.max_ticks = std::max(d.max_ticks, watch.snapshots());
    victim.reap();
  }
  (void)sub.cancel();  // the callback refers to the watch
  if (auto stats = node.shutdown(); !stats) fail("net: survivor shutdown: " + stats.error().to_string());
  return d;
}

// The same, plain CAF: the survivor monitors an actor published by a plain CAF child (same BASP heartbeat
// and connection timeout); the figure is the time from the signal to the down_msg.
std::vector<double> detection_baseline(int sig, std::size_t reps) {
  caf::actor_system_config cfg;
  configure_plain_net(cfg);
  caf::actor_system system{cfg};
  std::vector<double> us;
  for (std::size_t i = 0; i < reps; ++i) {
    Victim victim({"caf"});
    auto port = static_cast<std::uint16_t>(victim.ready(30s));
    auto remote = system.middleman().remote_actor("127.0.0.1", port);
    if (!remote) fail("net baseline: remote_actor: " + system.render(remote.error()));
    Tally down;
    auto watcher = system.spawn(
        [&down](caf::event_based_actor* self, caf::actor target) -> caf::behavior {
          self->monitor(target);
          self->set_down_handler([self, &down](caf::down_msg&) {
            down.hit();
            self->quit();
          });
          return {[](bping_atom) { return bpong_atom::value; }};
        },
        *remote);
    {
      // Answered only once the watcher has run its initialisation, i.e. monitors the remote actor.
      caf::scoped_actor self{system};
      self->request(watcher, caf::infinite, bping_atom::value).receive([](bpong_atom) {}, [](caf::error&) {});
    }
    auto t0 = now_ns();
    victim.signal(sig);
    if (!down.wait_for_count(1)) fail("net baseline: no down_msg");
    us.push_back(static_cast<double>(down.last_ns() - t0) / 1e3);
    victim.reap();
  }
  return us;
}

void print_detection(const char* workload, const std::string& params, const Detections& d,
                     const std::vector<double>& b) {
  const auto& m = d.us;
  auto mp = percentiles(m), bp = percentiles(b);
  // rate = detections per second (1 / mean detection time), so the ratio reads like the others: < 1 is slower.
  auto mr = rate_of(m), br = rate_of(b);
  print_pair(fmt("%s %s reps=%zu ticks_max=%llu rate=%.3f p50_us=%.0f p99_us=%.0f baseline_rate=%.3f", workload,
                 params.c_str(), m.size(), static_cast<unsigned long long>(d.max_ticks), mr, mp.p50_us, mp.p99_us,
                 br),
             fmt("%s reps=%zu rate=%.3f p50_us=%.0f p99_us=%.0f", workload, b.size(), br, bp.p50_us, bp.p99_us), mr,
             br);
}

// ---- remote request round trip ----

// A throwaway CA and one certificate it signed (used by both ends), made with the openssl command line.
class Pki {
 public:
  Pki() {
    char tmpl[] = "/tmp/meshos-bench-pki-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) fail("mkdtemp failed");
    dir_ = tmpl;
    run("req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench-ca -keyout " +
        path("ca.key") + " -out " + path("ca.pem"));
    run("req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj /CN=bench-node -keyout " +
        path("node.key") + " -out " + path("node.csr"));
    // The certificate names the node it serves (bench_network(1), the rtt server).
    {
      std::ofstream ext(path("node.ext"));
      ext << "subjectAltName=URI:" << meshos::node_certificate_uri(bench_key(1).node_id()) << "\n";
    }
    run("x509 -req -days 1 -in " + path("node.csr") + " -CA " + path("ca.pem") + " -CAkey " + path("ca.key") +
        " -CAcreateserial -extfile " + path("node.ext") + " -out " + path("node.pem"));
    tls.certificate = path("node.pem");
    tls.key = path("node.key");
    tls.ca_file = path("ca.pem");
  }
  ~Pki() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  meshos::TlsOptions tls;

 private:
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  void run(const std::string& args) const {
    std::string openssl = "openssl";
    if (const char* env = std::getenv("MESHOS_OPENSSL"); env && *env) openssl = env;  // as the tests do
    std::string cmd = openssl + " " + args + " > " + path("openssl.log") + " 2>&1";
    if (std::system(cmd.c_str()) != 0) fail("net: openssl failed: " + cmd);
  }
  std::string dir_;
};

struct RttFigures {
  std::vector<double> us;
  std::size_t reply_bytes = 0;
};

// meshos: RemoteNode::request("status") to a MeshNode in this process (its own actor system), sequential.
RttFigures rtt_meshos(std::size_t rounds, const meshos::TlsOptions& tls) {
  meshos::MeshOsConfig cfg;
  auto net = bench_network(1);
  net.tls = tls;
  auto server = meshos::MeshNode::start(cfg, net);
  if (!server) fail("net rtt: node: " + server.error().to_string());
  RttFigures f;
  {
    auto remote = meshos::RemoteNode::connect(meshos::PeerAddress{"127.0.0.1", (*server)->port()}, tls);
    if (!remote) fail("net rtt: connect: " + remote.error().to_string());
    for (std::size_t i = 0; i < rounds + 50; ++i) {
      auto t = now_ns();
      auto reply = (*remote)->request("status", "{}");
      auto dt = now_ns() - t;
      if (!reply) fail("net rtt: request: " + reply.error().to_string());
      f.reply_bytes = reply->size();
      if (i >= 50) f.us.push_back(static_cast<double>(dt) / 1e3);
    }
  }
  if (auto stats = (*server)->shutdown(); !stats) fail("net rtt: shutdown: " + stats.error().to_string());
  return f;
}

// A baseline's server side ends: its port closed (by the middleman or the TLS manager that opened it), its actor
// out of the registry publish() put it in (which would keep it, and the system's destructor, alive) and stopped.
void unpublish(caf::actor_system& sys, const caf::actor& server, std::uint16_t port, bool tls = false) {
  {
    caf::scoped_actor self{sys};
    auto closer = tls ? sys.openssl_manager().actor_handle() : sys.middleman().actor_handle();
    self->request(closer, 2s, caf::close_atom::value, port).receive([] {}, [](caf::error&) {});
  }
  sys.registry().erase(server->id());
  caf::anon_send_exit(server, caf::exit_reason::user_shutdown);
}

void configure_tls(caf::actor_system_config& cfg, const meshos::TlsOptions& tls) {
  cfg.load<caf::openssl::manager>();
  cfg.openssl_certificate = tls.certificate;
  cfg.openssl_key = tls.key;
  cfg.openssl_cafile = tls.ca_file;
  cfg.set("openssl.certificate", tls.certificate);
  cfg.set("openssl.key", tls.key);
  cfg.set("openssl.cafile", tls.ca_file);
}

// baseline: one reused scoped_actor requests a plain actor in another actor system over the middleman (or
// caf::openssl); the actor answers with a string as long as meshos' status reply.
std::vector<double> rtt_baseline(std::size_t rounds, const meshos::TlsOptions& tls, std::size_t reply_bytes) {
  const bool use_tls = tls.enabled();
  caf::actor_system_config server_cfg, client_cfg;
  configure_plain_net(server_cfg);
  configure_plain_net(client_cfg);
  if (use_tls) {
    configure_tls(server_cfg, tls);
    configure_tls(client_cfg, tls);
  }
  caf::actor_system server_sys{server_cfg};
  auto answer = std::string(reply_bytes, 'x');
  auto server = server_sys.spawn([answer](caf::event_based_actor*) -> caf::behavior {
    return {[answer](const std::string&, const std::string&) { return answer; }};
  });
  auto port = use_tls ? caf::openssl::publish(server, 0, "127.0.0.1", true)
                      : server_sys.middleman().publish(server, 0, "127.0.0.1", true);
  if (!port) fail("net rtt baseline: publish: " + server_sys.render(port.error()));
  std::vector<double> us;
  {
    caf::actor_system client_sys{client_cfg};
    auto remote = use_tls ? caf::openssl::remote_actor(client_sys, "127.0.0.1", *port)
                          : client_sys.middleman().remote_actor("127.0.0.1", *port);
    if (!remote) fail("net rtt baseline: remote_actor: " + client_sys.render(remote.error()));
    caf::scoped_actor self{client_sys};
    const std::string kind = "status", body = "{}";
    for (std::size_t i = 0; i < rounds + 50; ++i) {
      auto t = now_ns();
      self->request(*remote, 5s, kind, body)
          .receive([&](const std::string& r) {
            if (r.size() != reply_bytes) fail("net rtt baseline: short reply");
          },
                   [&](caf::error& e) { fail("net rtt baseline: request: " + client_sys.render(e)); });
      auto dt = now_ns() - t;
      if (i >= 50) us.push_back(static_cast<double>(dt) / 1e3);
    }
  }
  unpublish(server_sys, server, *port, use_tls);
  return us;
}

void run_rtt(std::size_t rounds, const meshos::TlsOptions& tls) {
  const char* mode = tls.enabled() ? "tls" : "plain";
  auto m = rtt_meshos(rounds, tls);
  auto b = rtt_baseline(rounds, tls, m.reply_bytes);
  auto mp = percentiles(m.us), bp = percentiles(b);
  auto mr = rate_of(m.us), br = rate_of(b);
  print_pair(fmt("remote_rtt transport=%s request=status reply_bytes=%zu rounds=%zu rate=%.0f p50_us=%.1f "
                 "p99_us=%.1f baseline_rate=%.0f",
                 mode, m.reply_bytes, rounds, mr, mp.p50_us, mp.p99_us, br),
             fmt("remote_rtt transport=%s reply_bytes=%zu rounds=%zu rate=%.0f p50_us=%.1f p99_us=%.1f", mode,
                 m.reply_bytes, rounds, br, bp.p50_us, bp.p99_us),
             mr, br);
}

// ---- remote deliver ----

// Counts the events it is given.
class CountingDaemon : public meshos::MeshDaemon {
 public:
  explicit CountingDaemon(Tally* tally) : tally_(tally) {}
  std::string name() const override { return "counter"; }
  meshos::Result<std::vector<meshos::Bytes>> process(const meshos::CausalEvent&) override {
    tally_->hit();
    return std::vector<meshos::Bytes>{};
  }

 private:
  Tally* tally_;
};

struct RemoteDeliverFigures {
  double rate = 0;
  std::uint64_t window_full = 0;  // deliver calls the link's window refused (tried again at once)
};

// Two nodes of the bench's cluster in this process, the second joined to the first.
struct NodePair {
  std::unique_ptr<meshos::MeshNode> first, second;
};
NodePair start_node_pair(const meshos::MeshOsConfig& cfg, const std::string& workload) {
  auto first = meshos::MeshNode::start(cfg, bench_network(1));
  if (!first) fail(workload + ": node 1: " + first.error().to_string());
  auto net2 = bench_network(2);
  net2.peers = {meshos::PeerAddress{"127.0.0.1", (*first)->port()}};
  auto second = meshos::MeshNode::start(cfg, net2);
  if (!second) fail(workload + ": node 2: " + second.error().to_string());
  return NodePair{std::move(*first), std::move(*second)};
}

// meshos: MeshNode::deliver from node 2 to a daemon on node 1 (two nodes, two actor systems, one process),
// `events` of kPayloadBytes; the caller retries on queue_full (a full window). The figure: events until the
// daemon counted the last one.
RemoteDeliverFigures remote_deliver_meshos(std::uint64_t events) {
  meshos::MeshOsConfig cfg;
  cfg.event_queue_capacity = 65536;
  auto nodes = start_node_pair(cfg, "remote_deliver");
  auto& receiver = nodes.first;
  auto& sender = nodes.second;
  Tally tally;
  auto key = meshos::EntityKeypair::generate();
  auto handle = receiver->sdk().register_daemon(std::make_unique<CountingDaemon>(&tally), key);
  if (!handle) fail("remote_deliver: register: " + handle.error().to_string());
  const auto target = meshos::DaemonAddress::by_id(key.origin_hash());
  // Node 2 knows the daemon once node 1's next hello described it.
  const auto until = BenchClock::now() + kWaitLimit;
  while (true) {
    auto snap = sender->sdk().snapshot();
    if (snap && meshos::locate_daemon(*snap, target)) break;
    if (BenchClock::now() > until) fail("remote_deliver: node 2 never saw the daemon");
    std::this_thread::yield();
  }
  meshos::CausalEvent ev;
  ev.payload.assign(kPayloadBytes, 0x42);
  RemoteDeliverFigures f;
  const auto start = now_ns();
  for (std::uint64_t i = 0; i < events;) {
    auto sent = sender->deliver(target, ev);
    if (sent) {
      ++i;
    } else if (sent.error().code() == meshos::Errc::queue_full) {
      ++f.window_full;
      std::this_thread::yield();
    } else {
      fail("remote_deliver: " + sent.error().to_string());
    }
  }
  if (!tally.wait_for_count(events)) fail("remote_deliver: not every event arrived");
  f.rate = per_second(events, seconds_between(start, tally.last_ns()));
  (void)handle->graceful_shutdown();
  (void)sender->shutdown();
  (void)receiver->shutdown();
  return f;
}

// baseline: plain CAF, one actor system sending `events` messages of kPayloadBytes (a string) to a counting
// actor published by another, over the middleman, without any bound.
double remote_deliver_baseline(std::uint64_t events) {
  caf::actor_system_config server_cfg, client_cfg;
  configure_plain_net(server_cfg);
  configure_plain_net(client_cfg);
  caf::actor_system server_sys{server_cfg};
  Tally tally;
  auto counter = server_sys.spawn([&tally](caf::event_based_actor*) -> caf::behavior {
    return {[&tally](const std::string&) { tally.hit(); }};
  });
  auto port = server_sys.middleman().publish(counter, 0, "127.0.0.1", true);
  if (!port) fail("remote_deliver baseline: publish: " + server_sys.render(port.error()));
  double rate = 0;
  {
    caf::actor_system client_sys{client_cfg};
    auto remote = client_sys.middleman().remote_actor("127.0.0.1", *port);
    if (!remote) fail("remote_deliver baseline: remote_actor: " + client_sys.render(remote.error()));
    const std::string payload(kPayloadBytes, 'B');
    const auto start = now_ns();
    for (std::uint64_t i = 0; i < events; ++i) caf::anon_send(*remote, payload);
    if (!tally.wait_for_count(events)) fail("remote_deliver baseline: not every message arrived");
    rate = per_second(events, seconds_between(start, tally.last_ns()));
  }
  unpublish(server_sys, counter, *port);
  return rate;
}

void run_remote_deliver(std::uint64_t events) {
  auto m = remote_deliver_meshos(events);
  auto b = remote_deliver_baseline(events);
  print_pair(fmt("remote_deliver transport=plain events=%llu payload_bytes=%zu window=%zu rate=%.0f "
                 "window_full_retries=%llu baseline_rate=%.0f",
                 static_cast<unsigned long long>(events), kPayloadBytes, meshos::kWorkWindow, m.rate,
                 static_cast<unsigned long long>(m.window_full), b),
             fmt("remote_deliver transport=plain events=%llu payload_bytes=%zu rate=%.0f (plain CAF anon_send, "
                 "unbounded)",
                 static_cast<unsigned long long>(events), kPayloadBytes, b),
             m.rate, b);
}

// ---- migrate ----

// State of `bytes` bytes, carried whole by snapshot/restore: what a move must ship.
class HeavyDaemon : public meshos::MeshDaemon {
 public:
  explicit HeavyDaemon(std::size_t bytes) : state_(bytes, 0x5a) {}
  std::string name() const override { return "heavy"; }
  meshos::Result<std::vector<meshos::Bytes>> process(const meshos::CausalEvent&) override {
    return std::vector<meshos::Bytes>{};
  }
  bool is_stateful() const override { return true; }
  std::optional<meshos::Bytes> snapshot() const override { return state_; }
  meshos::Result<void> restore(const meshos::Bytes& state) override {
    state_ = state;
    return {};
  }

 private:
  meshos::Bytes state_;
};

// meshos: node 1 hosts the daemon (built from its factory), enters maintenance, and the daemon moves to node 2.
// The figure: from the maintenance commit to the daemon answering on node 2 (one reconcile tick of 1 ms
// included). Fresh nodes for every move.
double migrate_meshos_us(std::size_t state_bytes) {
  meshos::MeshOsConfig cfg;
  cfg.tick_interval = std::chrono::milliseconds(1);
  auto nodes = start_node_pair(cfg, "migrate");
  auto& source = nodes.first;
  auto& target = nodes.second;
  for (auto* node : {&source, &target}) {
    auto factory = (*node)->sdk().register_factory("heavy", [state_bytes] { return std::make_unique<HeavyDaemon>(state_bytes); });
    if (!factory) fail("migrate: factory: " + factory.error().to_string());
  }
  const meshos::DaemonRef daemon{0x4ea11, "heavy"};
  if (!source->sdk().publish(meshos::event::DaemonIntentUpdate{daemon, meshos::DaemonIntent::Run}))
    fail("migrate: publish intent");
  // Ready once the source runs the daemon and sees the target healthy with an RTT (a move needs a peer).
  const auto node2 = target->node_id();
  const auto until = BenchClock::now() + kWaitLimit;
  while (true) {
    auto snap = source->sdk().snapshot();
    auto peer = snap->peers.find(node2);
    auto d = snap->daemons.find(daemon.id);
    if (peer != snap->peers.end() && peer->second.rtt_ms && peer->second.health == meshos::PeerHealth::Healthy &&
        d != snap->daemons.end() && d->second.lifecycle == meshos::DaemonLifecycleState::Running)
      break;
    if (BenchClock::now() > until) fail("migrate: the nodes never got ready");
    std::this_thread::yield();
  }
  const auto start = now_ns();
  if (!source->sdk().publish(meshos::event::Admin{meshos::admin::EnterMaintenance{source->node_id(), 30'000}}))
    fail("migrate: publish maintenance");
  while (!target->sdk().process(daemon.id, meshos::CausalEvent{}, std::chrono::seconds(5))) {
    if (BenchClock::now() > until) fail("migrate: the daemon never ran on node 2");
    std::this_thread::yield();
  }
  const auto us = static_cast<double>(now_ns() - start) / 1e3;
  (void)target->shutdown();
  (void)source->shutdown();
  return us;
}

// baseline: plain CAF over the middleman, one request carrying `state_bytes` to an actor of another actor
// system that answers once it holds them (a copy): the transfer a move cannot do without.
std::vector<double> migrate_baseline_us(std::size_t state_bytes, std::size_t reps) {
  caf::actor_system_config server_cfg, client_cfg;
  configure_plain_net(server_cfg);
  configure_plain_net(client_cfg);
  caf::actor_system server_sys{server_cfg};
  auto keeper = server_sys.spawn([](caf::event_based_actor*) -> caf::behavior {
    return {[](const std::string& state) { return std::string(state.substr(0, 8)); }};
  });
  auto port = server_sys.middleman().publish(keeper, 0, "127.0.0.1", true);
  if (!port) fail("migrate baseline: publish: " + server_sys.render(port.error()));
  std::vector<double> us;
  {
    caf::actor_system client_sys{client_cfg};
    auto remote = client_sys.middleman().remote_actor("127.0.0.1", *port);
    if (!remote) fail("migrate baseline: remote_actor: " + client_sys.render(remote.error()));
    caf::scoped_actor self{client_sys};
    const std::string state(state_bytes, 'Z');
    for (std::size_t i = 0; i < reps; ++i) {
      const auto start = now_ns();
      self->request(*remote, 10s, state)
          .receive([](const std::string&) {},
                   [&](caf::error& e) { fail("migrate baseline: request: " + client_sys.render(e)); });
      us.push_back(static_cast<double>(now_ns() - start) / 1e3);
    }
  }
  unpublish(server_sys, keeper, *port);
  return us;
}

void run_migrate(std::size_t reps) {
  constexpr std::size_t kStateBytes = 1u << 20;
  std::vector<double> moves;
  for (std::size_t i = 0; i < reps; ++i) moves.push_back(migrate_meshos_us(kStateBytes));
  const auto m = percentiles(moves);
  const auto b = percentiles(migrate_baseline_us(kStateBytes, reps));
  // Rates (moves per second at the median) so that the ratio reads like the others: above 1 is faster.
  print_pair(fmt("migrate state_bytes=%zu reps=%zu p50_ms=%.2f p99_ms=%.2f baseline_p50_ms=%.2f", kStateBytes, reps,
                 m.p50_us / 1e3, m.p99_us / 1e3, b.p50_us / 1e3),
             fmt("migrate state_bytes=%zu reps=%zu p50_ms=%.2f p99_ms=%.2f (plain CAF: one remote request carrying "
                 "the state, answered)",
                 kStateBytes, reps, b.p50_us / 1e3, b.p99_us / 1e3),
             1e6 / m.p50_us, 1e6 / b.p50_us);
}

}  // namespace

void run_remote(bool quick) {
  run_remote_deliver(quick ? 20'000 : 200'000);
  run_migrate(quick ? 3 : 10);
}

void run_net(bool quick) {
  const std::size_t killed_reps = quick ? 2 : 10;
  const std::size_t silent_reps = quick ? 1 : 5;
  const auto net_params = fmt("heartbeat_ms=%lld peer_timeout_ms=%lld",
                              static_cast<long long>(kDefaults.heartbeat_interval.count()),
                              static_cast<long long>(kDefaults.peer_timeout.count()));

  auto killed_base = detection_baseline(SIGKILL, killed_reps);
  // The snapshot shows a change at the next tick: the tick interval bounds what a subscriber can see.
  std::vector<std::chrono::milliseconds> ticks{50ms};
  if (!quick) ticks = {10ms, 50ms, meshos::MeshOsConfig{}.tick_interval};
  for (auto tick : ticks) {
    auto killed = detection_meshos(SIGKILL, killed_reps, tick);
    print_detection("killed_peer", fmt("signal=KILL tick_ms=%lld %s", static_cast<long long>(tick.count()),
                                       net_params.c_str()),
                    killed, killed_base);
  }

  auto silent = detection_meshos(SIGSTOP, silent_reps, meshos::MeshOsConfig{}.tick_interval);
  auto silent_base = detection_baseline(SIGSTOP, silent_reps);
  print_detection("silent_peer",
                  fmt("signal=STOP tick_ms=%lld %s", static_cast<long long>(meshos::MeshOsConfig{}.tick_interval.count()),
                      net_params.c_str()),
                  silent, silent_base);

  run_remote_rtt(quick);
}

void run_remote_rtt(bool quick) {
  const std::size_t rtt_rounds = quick ? 200 : 5000;
  run_rtt(rtt_rounds, meshos::TlsOptions{});
  Pki pki;
  run_rtt(rtt_rounds, pki.tls);
}

int run_victim(int argc, char** argv) {
  std::string what = argc > 2 ? argv[2] : "";
  if (what == "node" && argc == 6) {
    meshos::MeshOsConfig cfg;
    cfg.tick_interval = std::chrono::milliseconds(std::atoi(argv[4]));
    auto net = bench_network(static_cast<std::uint8_t>(std::atoi(argv[5])));
    net.peers = {meshos::PeerAddress{"127.0.0.1", static_cast<std::uint16_t>(std::atoi(argv[3]))}};
    auto node = meshos::MeshNode::start(cfg, net);
    if (!node) fail("victim: " + node.error().to_string());
    std::printf("ready %llu\n", static_cast<unsigned long long>((*node)->node_id()));
    std::fflush(stdout);
    wait_for_stdin_eof();
    std::_Exit(0);  // a victim ends abruptly anyway; no orderly shutdown to wait for
  }
  if (what == "caf" && argc == 3) {
    caf::actor_system_config cfg;
    configure_plain_net(cfg);
    caf::actor_system system{cfg};
    auto target = system.spawn([](caf::event_based_actor*) { return pong_behavior(); });
    auto port = system.middleman().publish(target, 0, "127.0.0.1", true);
    if (!port) fail("victim: publish: " + system.render(port.error()));
    std::printf("ready %u\n", static_cast<unsigned>(*port));
    std::fflush(stdout);
    wait_for_stdin_eof();
    std::_Exit(0);
  }
  std::fprintf(stderr, "usage: meshos-bench --victim node <port> <tick_ms> | --victim caf\n");
  return 2;
}

}  // namespace bench
