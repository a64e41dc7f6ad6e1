// The guard's event loop: one thread, epoll, non-blocking sockets, OpenSSL driven directly (the thread's
// error queue is cleared before every TLS call, which is what CAF 0.17's sessions fail to do).
#include "net/guard.hpp"
#include "net/basp_message.hpp"
#include "net/certificate.hpp"
#include "net/openssl_error.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

namespace meshos::net {

// ---- the loop ----

namespace {

using SteadyClock = std::chrono::steady_clock;
constexpr std::size_t kChunk = 16 * 1024;
// Bytes held for one direction before the guard stops reading the other side (backpressure).
constexpr std::size_t kMaxBuffered = 64 * 1024;
constexpr auto kSweep = std::chrono::milliseconds(50);
// Connections still in their handshake served per round of the event loop (see run()).
constexpr std::size_t kPendingPerRound = 4;
// Descriptors kept free for everything else the process does (CAF's own sockets, files, pipes).
constexpr rlim_t kReservedDescriptors = 64;

// epoll tags: the low two bits of epoll_event.data.u64, the id above them.
enum Tag : std::uint64_t { kNetSide = 0, kLocalSide = 1, kListener = 2, kTunnelOrWake = 3 };

std::uint64_t pack(std::uint64_t id, Tag tag) { return (id << 2) | tag; }

std::string errno_text(int err) { return std::strerror(err); }

void set_nodelay(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

struct Address {
  sockaddr_storage storage{};
  socklen_t len = 0;
};

Result<Address> resolve(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  const std::string service = std::to_string(port);
  int rc = ::getaddrinfo(host.empty() ? nullptr : host.c_str(), service.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr)
    return SdkError{Errc::connect_failed, "cannot resolve '" + host + "': " + ::gai_strerror(rc)};
  Address a;
  std::memcpy(&a.storage, found->ai_addr, found->ai_addrlen);
  a.len = found->ai_addrlen;
  ::freeaddrinfo(found);
  return a;
}

std::string source_of(const sockaddr_storage& ss) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET)
    ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, buf, sizeof buf);
  else if (ss.ss_family == AF_INET6)
    ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, buf, sizeof buf);
  return buf;
}

std::uint16_t bound_port(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return 0;
  if (ss.ss_family == AF_INET) return ntohs(reinterpret_cast<sockaddr_in&>(ss).sin_port);
  if (ss.ss_family == AF_INET6) return ntohs(reinterpret_cast<sockaddr_in6&>(ss).sin6_port);
  return 0;
}

Result<int> open_listener(const Address& at, int backlog, bool reuse, const std::string& where) {
  int fd = ::socket(at.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return SdkError{Errc::listen_failed, "cannot listen on " + where + ": " + errno_text(errno)};
  if (reuse) {
    int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  }
  if (::bind(fd, reinterpret_cast<const sockaddr*>(&at.storage), at.len) != 0 || ::listen(fd, backlog) != 0) {
    int err = errno;
    ::close(fd);
    return SdkError{Errc::listen_failed, "cannot listen on " + where + ": " + errno_text(err)};
  }
  return fd;
}

// ---- TLS credentials, loaded once ----

struct CtxDeleter {
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};
using CtxPtr = std::unique_ptr<SSL_CTX, CtxDeleter>;

std::string tls_error_text() { return take_openssl_error("unknown TLS error"); }

int passphrase_cb(char* buf, int size, int, void* user) {
  const auto* pass = static_cast<const std::string*>(user);
  if (pass == nullptr || size <= 0) return 0;
  auto n = std::min<std::size_t>(pass->size(), static_cast<std::size_t>(size - 1));
  std::memcpy(buf, pass->data(), n);
  buf[n] = '\0';
  return static_cast<int>(n);
}

// `certified_as`: the node this endpoint's certificate must name (none for an operator's endpoint).
Result<CtxPtr> make_tls_context(const TlsOptions& tls, std::optional<NodeId> certified_as) {
  if (auto valid = tls.validate(); !valid) return valid.error();
  ERR_clear_error();
  CtxPtr ctx(SSL_CTX_new(TLS_method()));
  if (!ctx) return SdkError{Errc::invalid_tls, "cannot create a TLS context: " + tls_error_text()};
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  // The passphrase is needed only while the key is read: the callback's pointer does not outlive this call.
  std::string pass = tls.passphrase;
  SSL_CTX_set_default_passwd_cb(ctx.get(), passphrase_cb);
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), &pass);
  auto fail = [&](const std::string& what) {
    return SdkError{Errc::invalid_tls, what + ": " + tls_error_text()};
  };
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), tls.certificate.c_str()) != 1)
    return fail("cannot load certificate '" + tls.certificate + "'");
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), tls.key.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail("cannot load key '" + tls.key + "'");
  SSL_CTX_set_default_passwd_cb_userdata(ctx.get(), nullptr);
  if (SSL_CTX_check_private_key(ctx.get()) != 1) return fail("key does not match certificate");
  if (certified_as) {
    if (auto named = require_certificate_names(SSL_CTX_get0_certificate(ctx.get()), tls.certificate, *certified_as);
        !named)
      return named.error();
  }
  if (SSL_CTX_load_verify_locations(ctx.get(), tls.ca_file.c_str(), nullptr) != 1)
    return fail("cannot load CA file '" + tls.ca_file + "'");
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  SSL_CTX_set_mode(ctx.get(), SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  return ctx;
}

// ---- connections ----

struct Side {
  int fd = -1;
  SSL* ssl = nullptr;
  std::string out;          // bytes waiting to be written to fd
  std::size_t out_off = 0;
  bool connected = false;   // TCP established (accepted sockets start so)
  bool connecting = false;  // non-blocking connect in flight
  bool secured = true;      // TLS handshake done (or no TLS on this side)
  bool ssl_wants_write = false;  // the last TLS call needs the socket writable
  bool ssl_wants_read = false;   // the last TLS call needs the socket readable
  bool closed = false;      // EOF or error
  std::uint32_t events = 0;  // registered with epoll

  std::size_t pending() const { return out.size() - out_off; }
  bool ready() const { return connected && secured; }
};

struct Conn {
  std::uint64_t id = 0;
  bool inbound = true;
  Side net;    // the remote side: public network, TLS when configured
  Side local;  // CAF, over loopback
  BaspFrameCheck check;
  std::string source;           // inbound: the remote address, for per-source caps
  SteadyClock::time_point opened;
  SteadyClock::time_point last_net_rx;
  Address target;               // where the other side connects (backend for inbound, remote for outbound)
  bool pending = true;          // inbound: no actor message yet; outbound: no handshake from the remote yet
  // The CAF node the remote's handshake announced, and this endpoint's own (when known): monitor and down
  // frames must be from the one about the other.
  std::optional<caf::node_id> sender;
  std::optional<caf::node_id> local_node;
  // TLS: the node the remote's certificate names (none: an operator); identities_ maps `sender` to it while
  // the connection is open.
  bool certificate_read = false;
  std::optional<NodeId> certified;
  bool identity_recorded = false;

  Conn(std::size_t max_payload, BaspFrameCheck::First first) : check(max_payload, first) {}
};

struct Listener {
  int fd = -1;
  Address backend;
  bool paused = false;  // out of descriptors: accept stops for one sweep
};

struct Tunnel {
  int fd = -1;
  Address remote;
  SteadyClock::time_point expires;
};

}  // namespace

class Guard::Impl {
 public:
  Impl(ConnectionLimits limits, std::chrono::milliseconds idle) : limits_(limits), idle_timeout_(idle) {}

  ~Impl() { stop(); }

  Result<void> init(const TlsOptions& tls, std::optional<NodeId> certified_as) {
    certified_as_ = certified_as;
    if (tls.enabled()) {
      auto ctx = make_tls_context(tls, certified_as_);
      if (!ctx) return ctx.error();
      tls_ = std::shared_ptr<SSL_CTX>(ctx->release(), CtxDeleter{});
    }
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
      auto usable = rl.rlim_cur > kReservedDescriptors ? (rl.rlim_cur - kReservedDescriptors) / 3 : 1;
      limits_.max_connections = std::max<std::size_t>(1, std::min<std::size_t>(limits_.max_connections, usable));
    }
    epoll_ = ::epoll_create1(EPOLL_CLOEXEC);
    wake_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (epoll_ < 0 || wake_ < 0) return SdkError{Errc::listen_failed, "cannot create the guard's event loop"};
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.u64 = pack(0, kTunnelOrWake);
    ::epoll_ctl(epoll_, EPOLL_CTL_ADD, wake_, &ev);
    thread_ = std::thread([this] { run(); });
    return {};
  }

  void stop() {
    if (!thread_.joinable()) return;
    running_ = false;
    wake();
    thread_.join();
    for (auto& kv : conns_) release(kv.second);
    conns_.clear();
    for (auto& kv : listeners_) ::close(kv.second.fd);
    for (auto& kv : tunnels_) ::close(kv.second.fd);
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& t : new_tunnels_) ::close(t.second.fd);
    for (auto& l : new_listeners_) ::close(l.second.fd);
    ::close(epoll_);
    ::close(wake_);
  }

  Result<std::uint16_t> listen(const std::string& host, std::uint16_t port, std::uint16_t backend_port) {
    auto at = resolve(host, port);
    if (!at) return SdkError{Errc::listen_failed, at.error().message};
    auto backend = resolve("127.0.0.1", backend_port);
    if (!backend) return SdkError{Errc::listen_failed, backend.error().message};
    auto fd = open_listener(*at, 512, true, host + ":" + std::to_string(port));
    if (!fd) return fd.error();
    auto actual = bound_port(*fd);
    {
      std::lock_guard<std::mutex> lock(mu_);
      new_listeners_.emplace_back(next_id_++, Listener{*fd, *backend, false});
    }
    wake();
    return actual;
  }

  Result<std::uint16_t> open_tunnel(const PeerAddress& remote, std::chrono::milliseconds timeout) {
    auto target = resolve(remote.host, remote.port);
    if (!target) return target.error();
    auto loopback = resolve("127.0.0.1", 0);
    if (!loopback) return SdkError{Errc::listen_failed, loopback.error().message};
    auto fd = open_listener(*loopback, 1, false, "127.0.0.1:0");
    if (!fd) return fd.error();
    auto port = bound_port(*fd);
    {
      std::lock_guard<std::mutex> lock(mu_);
      new_tunnels_.emplace_back(next_id_++, Tunnel{*fd, *target, SteadyClock::now() + timeout});
    }
    wake();
    return port;
  }

  Result<void> reload_tls(const TlsOptions& tls) {
    if (!tls_) return SdkError{Errc::invalid_tls, "this endpoint runs without TLS: nothing to reload"};
    auto ctx = make_tls_context(tls, certified_as_);
    if (!ctx) return ctx.error();
    std::lock_guard<std::mutex> lock(mu_);
    tls_ = std::shared_ptr<SSL_CTX>(ctx->release(), CtxDeleter{});
    return {};
  }

  GuardStats stats() const {
    GuardStats s;
    s.accepted = accepted_.load();
    s.refused_capacity = refused_capacity_.load();
    s.evicted_pending = evicted_pending_.load();
    s.handshake_timeouts = handshake_timeouts_.load();
    s.idle_timeouts = idle_timeouts_.load();
    s.oversize_frames = oversize_frames_.load();
    s.malformed_frames = malformed_frames_.load();
    s.forbidden_messages = forbidden_messages_.load();
    s.tls_failures = tls_failures_.load();
    s.tunnels = tunnels_opened_.load();
    s.open = open_.load();
    return s;
  }

  const ConnectionLimits& limits() const noexcept { return limits_; }

  bool tls() const { return tls_context() != nullptr; }

  void set_local_node(const caf::node_id& node) {
    std::lock_guard<std::mutex> lock(mu_);
    local_node_ = node;
  }
  std::optional<caf::node_id> local_node() const {
    std::lock_guard<std::mutex> lock(mu_);
    return local_node_;
  }

  Result<void> vouches_for(const caf::node_id& from, NodeId claimed) const {
    if (!tls()) return {};
    auto refused = [&](const std::string& why) {
      return SdkError{Errc::peer_refused, "node " + to_hex(claimed) + " refused: " + why};
    };
    std::lock_guard<std::mutex> lock(identities_mu_);
    auto it = identities_.find(from);
    if (it == identities_.end()) return refused("no TLS connection of it is open");
    const auto& id = it->second;
    if (id.conflicting) return refused("its connections present certificates of different nodes");
    if (!id.certified) return refused("its TLS certificate names no node");
    if (*id.certified != claimed) return refused("its TLS certificate names node " + to_hex(*id.certified));
    return {};
  }

 private:
  void wake() {
    std::uint64_t one = 1;
    (void)!::write(wake_, &one, sizeof one);
  }

  std::shared_ptr<SSL_CTX> tls_context() const {
    std::lock_guard<std::mutex> lock(mu_);
    return tls_;
  }

  // ---- registration ----

  void watch(int fd, std::uint64_t data, std::uint32_t events, bool add) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u64 = data;
    ::epoll_ctl(epoll_, add ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, fd, &ev);
  }

  void adopt_new() {
    std::vector<std::pair<std::uint64_t, Listener>> listeners;
    std::vector<std::pair<std::uint64_t, Tunnel>> tunnels;
    {
      std::lock_guard<std::mutex> lock(mu_);
      listeners.swap(new_listeners_);
      tunnels.swap(new_tunnels_);
    }
    for (auto& [id, l] : listeners) {
      watch(l.fd, pack(id, kListener), EPOLLIN, true);
      listeners_.emplace(id, l);
    }
    for (auto& [id, t] : tunnels) {
      watch(t.fd, pack(id, kTunnelOrWake), EPOLLIN, true);
      tunnels_.emplace(id, t);
    }
  }

  // ---- the loop ----

  void run() {
    // A TLS write to a peer that just closed raises SIGPIPE on this thread: keep it pending, never delivered.
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, nullptr);
    std::vector<epoll_event> events(256);
    auto next_sweep = SteadyClock::now() + kSweep;
    while (running_) {
      auto wait_ms = std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - SteadyClock::now()).count();
      int n = ::epoll_wait(epoll_, events.data(), static_cast<int>(events.size()),
                           static_cast<int>(std::max<long long>(0, wait_ms)));
      // Connections in use first; then at most kPendingPerRound connections still in their (TLS) handshake,
      // whose CPU cost a stranger controls: the rest stay readable and come back in the next round, so
      // strangers' handshakes can only ever delay established links by a few handshake steps.
      std::size_t pending_served = 0;
      for (int pass = 0; pass < 2; ++pass) {
        for (int i = 0; i < n && running_; ++i) {
          const std::uint64_t data = events[static_cast<std::size_t>(i)].data.u64;
          const auto tag = static_cast<Tag>(data & 3u);
          const std::uint64_t id = data >> 2;
          if (tag == kNetSide || tag == kLocalSide) {
            auto it = conns_.find(id);
            if (it == conns_.end() || it->second.pending != (pass == 1)) continue;
            if (pass == 1 && pending_served++ >= kPendingPerRound) continue;
            pump(it->second);
          } else if (pass == 1) {
            dispatch_other(tag, id);
          }
        }
      }
      if (SteadyClock::now() >= next_sweep) {
        sweep();
        next_sweep = SteadyClock::now() + kSweep;
      }
    }
  }

  void dispatch_other(Tag tag, std::uint64_t id) {
    if (tag == kListener) {
      on_accept(id);
    } else if (id == 0) {
      std::uint64_t drained;
      (void)!::read(wake_, &drained, sizeof drained);
      adopt_new();
    } else {
      on_tunnel(id);
    }
  }

  // ---- admission ----

  std::size_t count_open(const std::string& source, bool pending_only) const {
    std::size_t n = 0;
    for (const auto& kv : conns_)
      if (kv.second.inbound && kv.second.source == source && (!pending_only || kv.second.pending)) ++n;
    return n;
  }

  // Closes the oldest pending inbound connection (of `source`, or of anyone when empty).
  bool evict_oldest_pending(const std::string& source) {
    Conn* oldest = nullptr;
    for (auto& kv : conns_) {
      auto& c = kv.second;
      if (!c.inbound || !c.pending || (!source.empty() && c.source != source)) continue;
      if (oldest == nullptr || c.opened < oldest->opened) oldest = &c;
    }
    if (oldest == nullptr) return false;
    ++evicted_pending_;
    close_conn(oldest->id);
    return true;
  }

  void on_accept(std::uint64_t listener_id) {
    auto lit = listeners_.find(listener_id);
    if (lit == listeners_.end()) return;
    for (;;) {
      sockaddr_storage from{};
      socklen_t len = sizeof from;
      int fd = ::accept4(lit->second.fd, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
          // Out of descriptors: the listener stays readable, so stop watching it until the next sweep.
          lit->second.paused = true;
          watch(lit->second.fd, pack(listener_id, kListener), 0, false);
        }
        return;
      }
      admit(fd, source_of(from), lit->second.backend);
    }
  }

  void admit(int fd, const std::string& source, const Address& backend) {
    if (count_open(source, true) >= limits_.max_pending_per_source) evict_oldest_pending(source);
    std::size_t pending = 0;
    for (const auto& kv : conns_) pending += kv.second.inbound && kv.second.pending ? 1 : 0;
    if (pending >= limits_.max_pending) evict_oldest_pending({});
    if (conns_.size() >= limits_.max_connections || count_open(source, false) >= limits_.max_connections_per_source) {
      ++refused_capacity_;
      ::close(fd);
      return;
    }
    ++accepted_;
    auto& c = add_conn(true, fd, backend);
    c.source = source;
    if (!secure(c.net, true)) return close_conn(c.id);
    pump(c);
  }

  // A connection whose accepted side is `fd`: the network side for inbound ones, CAF's side for tunnels.
  Conn& add_conn(bool inbound, int fd, const Address& target) {
    set_nodelay(fd);
    const auto id = next_id_++;
    const auto first = inbound ? BaspFrameCheck::First::ClientHandshake : BaspFrameCheck::First::ServerHandshake;
    auto& c = conns_.emplace(std::piecewise_construct, std::forward_as_tuple(id),
                             std::forward_as_tuple(limits_.max_message_size, first))
                  .first->second;
    c.id = id;
    c.inbound = inbound;
    c.local_node = local_node();
    c.check = BaspFrameCheck(
        limits_.max_message_size, first,
        [this, &c](const BaspFrameCheck::Inspected& frame) { return admits(c, frame); }, kMessageInspectBytes);
    c.opened = c.last_net_rx = SteadyClock::now();
    c.target = target;
    Side& accepted = inbound ? c.net : c.local;
    accepted.fd = fd;
    accepted.connected = true;
    accepted.events = EPOLLIN;
    watch(fd, pack(id, inbound ? kNetSide : kLocalSide), EPOLLIN, true);
    ++open_;
    return c;
  }

  void on_tunnel(std::uint64_t tunnel_id) {
    auto it = tunnels_.find(tunnel_id);
    if (it == tunnels_.end()) return;
    Tunnel t = it->second;
    tunnels_.erase(it);
    int fd = ::accept4(t.fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    ::close(t.fd);  // one connection per tunnel; the port closes once it is taken
    if (fd < 0) return;
    ++tunnels_opened_;
    auto& c = add_conn(false, fd, t.remote);
    if (!connect_side(c, c.net, kNetSide) || !secure(c.net, false)) return close_conn(c.id);
    pump(c);
  }

  // Gives `side` a TLS session when TLS is configured (the handshake runs in pump()).
  bool secure(Side& side, bool accepting) {
    auto ctx = tls_context();
    if (!ctx) return true;
    side.ssl = SSL_new(ctx.get());
    if (side.ssl == nullptr) return false;
    SSL_set_fd(side.ssl, side.fd);
    if (accepting)
      SSL_set_accept_state(side.ssl);
    else
      SSL_set_connect_state(side.ssl);
    side.secured = false;
    return true;
  }

  bool connect_side(Conn& c, Side& side, Tag tag) {
    int fd = ::socket(c.target.storage.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return false;
    side.fd = fd;
    set_nodelay(fd);
    int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&c.target.storage), c.target.len);
    if (rc == 0) {
      side.connected = true;
    } else if (errno == EINPROGRESS) {
      side.connecting = true;
    } else {
      return false;
    }
    side.events = EPOLLIN | EPOLLOUT;
    watch(fd, pack(c.id, tag), side.events, true);
    return true;
  }

  // ---- moving bytes ----

  // Finishes a non-blocking connect once the socket is writable. False: it failed.
  static bool finish_connect(Side& s) {
    if (!s.connecting) return true;
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return false;
    if (err == EINPROGRESS || err == EALREADY) return true;
    if (err != 0) return false;
    // Not yet known: connected sockets report a peer name.
    sockaddr_storage peer{};
    socklen_t plen = sizeof peer;
    if (::getpeername(s.fd, reinterpret_cast<sockaddr*>(&peer), &plen) != 0) return errno == ENOTCONN;
    s.connecting = false;
    s.connected = true;
    return true;
  }

  // TLS handshake step. False: refused or broken.
  bool handshake(Side& s) {
    if (s.secured || !s.connected) return true;
    ERR_clear_error();
    int rc = SSL_do_handshake(s.ssl);
    s.ssl_wants_read = s.ssl_wants_write = false;
    if (rc == 1) {
      s.secured = true;
      return true;
    }
    int err = SSL_get_error(s.ssl, rc);
    ERR_clear_error();
    if (err == SSL_ERROR_WANT_READ) {
      s.ssl_wants_read = true;
      return true;
    }
    if (err == SSL_ERROR_WANT_WRITE) {
      s.ssl_wants_write = true;
      return true;
    }
    ++tls_failures_;
    return false;
  }

  // Once the TLS handshake is done: which node the remote's certificate names. False: a malformed claim.
  bool read_certificate(Conn& c) {
    if (c.certificate_read || c.net.ssl == nullptr || !c.net.secured) return true;
    c.certificate_read = true;
    // Verified against the CA by the handshake (SSL_VERIFY_FAIL_IF_NO_PEER_CERT: there is one).
    X509* cert = SSL_get0_peer_certificate(c.net.ssl);
    if (cert == nullptr) return true;
    auto named = node_id_in_certificate(cert);
    if (!named) {
      ++tls_failures_;
      return false;
    }
    c.certified = *named;
    return true;
  }

  // Whether a frame from the network may reach CAF (basp_message.hpp says why each check exists).
  bool admits(Conn& c, const BaspFrameCheck::Inspected& frame) {
    using Part = BaspFrameCheck::Part;
    if (frame.part == Part::Handshake) {
      auto sender = handshake_sender(frame.payload, frame.n);
      // A repeated handshake (CAF may send one) must not change who the connection speaks for.
      if (!sender || (c.sender && *c.sender != *sender)) return false;
      if (!c.sender) {
        c.sender = sender;
        record_identity(c);
      }
      return true;
    }
    MessageVerdict verdict = MessageVerdict::Unreadable;
    if (frame.part == Part::Message) {
      verdict = inspect_direct_message(frame.payload, frame.n, frame.response);
    } else if (c.sender) {
      verdict = inspect_monitor_or_down(frame.payload, frame.n, frame.part == Part::Down, *c.sender, c.local_node);
    }
    return verdict == MessageVerdict::Ok;
  }

  // With TLS, when the remote's handshake names its CAF node (its certificate was read when the TLS
  // handshake completed, before any BASP byte): remember which node that certificate names.
  void record_identity(Conn& c) {
    if (c.net.ssl == nullptr) return;
    c.identity_recorded = true;
    std::lock_guard<std::mutex> lock(identities_mu_);
    auto& id = identities_[*c.sender];
    if (id.connections == 0) {
      id.certified = c.certified;
    } else if (id.certified != c.certified) {
      id.conflicting = true;
    }
    ++id.connections;
  }

  void forget_sender(const Conn& c) {
    if (!c.identity_recorded) return;
    std::lock_guard<std::mutex> lock(identities_mu_);
    auto it = identities_.find(*c.sender);
    if (it != identities_.end() && --it->second.connections == 0) identities_.erase(it);
  }

  // Reads up to `room` bytes. >0 bytes; 0 would block; -1 closed or failed.
  static long read_some(Side& s, char* buf, std::size_t room) {
    if (s.ssl != nullptr) {
      ERR_clear_error();
      int rc = SSL_read(s.ssl, buf, static_cast<int>(room));
      if (rc > 0) return rc;
      int err = SSL_get_error(s.ssl, rc);
      ERR_clear_error();
      if (err == SSL_ERROR_WANT_READ) return 0;
      if (err == SSL_ERROR_WANT_WRITE) {
        s.ssl_wants_write = true;
        return 0;
      }
      return -1;
    }
    ssize_t rc = ::recv(s.fd, buf, room, 0);
    if (rc > 0) return rc;
    if (rc < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return 0;
    return -1;
  }

  // Writes what is pending. False: the socket failed.
  static bool flush(Side& s) {
    while (s.pending() > 0) {
      const char* data = s.out.data() + s.out_off;
      const std::size_t n = s.pending();
      long wrote;
      if (s.ssl != nullptr) {
        ERR_clear_error();
        int rc = SSL_write(s.ssl, data, static_cast<int>(std::min<std::size_t>(n, 1u << 30)));
        if (rc <= 0) {
          int err = SSL_get_error(s.ssl, rc);
          ERR_clear_error();
          if (err == SSL_ERROR_WANT_WRITE) return true;
          if (err == SSL_ERROR_WANT_READ) {
            s.ssl_wants_read = true;
            return true;
          }
          return false;
        }
        wrote = rc;
      } else {
        ssize_t rc = ::send(s.fd, data, n, MSG_NOSIGNAL);
        if (rc < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return true;
          return false;
        }
        wrote = rc;
      }
      s.out_off += static_cast<std::size_t>(wrote);
    }
    s.out.clear();
    s.out_off = 0;
    return true;
  }

  // Network side to CAF: every byte passes the frame check first.
  bool read_net(Conn& c) {
    char buf[kChunk];
    while (c.net.ready() && !c.net.closed && c.local.pending() < kMaxBuffered) {
      long n = read_some(c.net, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        c.net.closed = true;
        break;
      }
      c.last_net_rx = SteadyClock::now();
      auto verdict = c.check.feed(reinterpret_cast<const std::uint8_t*>(buf), static_cast<std::size_t>(n));
      if (verdict == BaspFrameCheck::Verdict::Oversize) {
        ++oversize_frames_;
        return false;
      }
      if (verdict == BaspFrameCheck::Verdict::Malformed) {
        ++malformed_frames_;
        return false;
      }
      if (verdict == BaspFrameCheck::Verdict::Forbidden) {
        ++forbidden_messages_;
        return false;
      }
      c.local.out.append(buf, static_cast<std::size_t>(n));
    }
    if (c.inbound ? c.check.saw_actor_message() : c.check.frames() > 0) c.pending = false;
    return true;
  }

  void read_local(Conn& c) {
    char buf[kChunk];
    while (c.local.connected && !c.local.closed && c.net.pending() < kMaxBuffered) {
      long n = read_some(c.local, buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        c.local.closed = true;
        break;
      }
      c.net.out.append(buf, static_cast<std::size_t>(n));
    }
  }

  void pump(Conn& c) {
    const auto id = c.id;
    if (!finish_connect(c.net) || !finish_connect(c.local)) return close_conn(id);
    if (!handshake(c.net) || !read_certificate(c)) return close_conn(id);
    if (!read_net(c)) return close_conn(id);
    // An inbound connection reaches CAF only once its first BASP frame (the client handshake) is complete.
    if (c.inbound && c.local.fd < 0 && c.check.frames() > 0 && !connect_side(c, c.local, kLocalSide))
      return close_conn(id);
    if (!finish_connect(c.local)) return close_conn(id);
    if (c.local.connected && !flush(c.local)) return close_conn(id);
    // A TLS record already decrypted inside OpenSSL raises no socket event: take it while there is room.
    while (c.net.ssl != nullptr && !c.net.closed && SSL_pending(c.net.ssl) > 0 && c.local.pending() < kMaxBuffered &&
           c.local.connected) {
      if (!read_net(c) || !flush(c.local)) return close_conn(id);
    }
    read_local(c);
    if ((c.local.connected && !flush(c.local)) || (c.net.ready() && !flush(c.net))) return close_conn(id);
    // Either side gone: what could be delivered was, the rest of the bridge has no use.
    if (c.net.closed || c.local.closed) return close_conn(id);
    update_interest(c);
  }

  void update_interest(Conn& c) {
    auto set = [&](Side& s, Tag tag, std::uint32_t want) {
      if (s.fd < 0 || want == s.events) return;
      s.events = want;
      watch(s.fd, pack(c.id, tag), want, false);
    };
    std::uint32_t net = 0;
    if (c.net.connecting || c.net.ssl_wants_write || (c.net.ready() && c.net.pending() > 0)) net |= EPOLLOUT;
    if (!c.net.connecting && (!c.net.secured || c.net.ssl_wants_read || c.local.pending() < kMaxBuffered))
      net |= EPOLLIN;
    std::uint32_t local = 0;
    if (c.local.connecting || c.local.pending() > 0) local |= EPOLLOUT;
    if (c.local.connected && c.net.pending() < kMaxBuffered) local |= EPOLLIN;
    set(c.net, kNetSide, net);
    set(c.local, kLocalSide, local);
  }

  void sweep() {
    const auto now = SteadyClock::now();
    std::vector<std::uint64_t> expired;
    for (auto& kv : conns_) {
      auto& c = kv.second;
      if (c.pending && now - c.opened > limits_.handshake_timeout) {
        ++handshake_timeouts_;
        expired.push_back(c.id);
      } else if (!c.pending && now - c.last_net_rx > idle_timeout_) {
        ++idle_timeouts_;
        expired.push_back(c.id);
      }
    }
    for (auto id : expired) close_conn(id);
    for (auto it = tunnels_.begin(); it != tunnels_.end();) {
      if (now > it->second.expires) {
        ::close(it->second.fd);
        it = tunnels_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& kv : listeners_) {
      if (kv.second.paused) {
        kv.second.paused = false;
        watch(kv.second.fd, pack(kv.first, kListener), EPOLLIN, false);
      }
    }
  }

  void release(Conn& c) {
    for (Side* s : {&c.net, &c.local}) {
      if (s->ssl != nullptr) SSL_free(s->ssl);
      s->ssl = nullptr;
      if (s->fd >= 0) ::close(s->fd);  // close() also takes it out of the epoll set
      s->fd = -1;
    }
  }

  void close_conn(std::uint64_t id) {
    auto it = conns_.find(id);
    if (it == conns_.end()) return;
    forget_sender(it->second);
    release(it->second);
    conns_.erase(it);
    --open_;
  }

  ConnectionLimits limits_;
  std::chrono::milliseconds idle_timeout_;
  int epoll_ = -1;
  int wake_ = -1;
  std::thread thread_;
  std::atomic<bool> running_{true};

  mutable std::mutex mu_;  // guards tls_ and the hand-over vectors below
  std::shared_ptr<SSL_CTX> tls_;
  std::vector<std::pair<std::uint64_t, Listener>> new_listeners_;
  std::vector<std::pair<std::uint64_t, Tunnel>> new_tunnels_;
  std::atomic<std::uint64_t> next_id_{1};
  std::optional<NodeId> certified_as_;
  std::optional<caf::node_id> local_node_;  // under mu_

  // The remote CAF nodes of open TLS connections and the node their certificates name (read by actors).
  struct PeerIdentity {
    std::optional<NodeId> certified;
    std::size_t connections = 0;
    bool conflicting = false;  // two connections announced the same CAF node with different certificates
  };
  mutable std::mutex identities_mu_;
  std::map<caf::node_id, PeerIdentity> identities_;

  // Owned by the loop thread.
  std::map<std::uint64_t, Conn> conns_;
  std::map<std::uint64_t, Listener> listeners_;
  std::map<std::uint64_t, Tunnel> tunnels_;

  std::atomic<std::uint64_t> accepted_{0}, refused_capacity_{0}, evicted_pending_{0}, handshake_timeouts_{0},
      idle_timeouts_{0}, oversize_frames_{0}, malformed_frames_{0}, forbidden_messages_{0}, tls_failures_{0},
      tunnels_opened_{0}, open_{0};
};

Guard::Guard(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Guard::~Guard() = default;

Result<std::unique_ptr<Guard>> Guard::start(ConnectionLimits limits, std::chrono::milliseconds idle_timeout,
                                            const TlsOptions& tls, std::optional<NodeId> certified_as) {
  auto impl = std::make_unique<Impl>(limits, idle_timeout);
  if (auto ok = impl->init(tls, certified_as); !ok) return ok.error();
  return std::unique_ptr<Guard>(new Guard(std::move(impl)));
}

Result<std::uint16_t> Guard::listen(const std::string& host, std::uint16_t port, std::uint16_t backend_port) {
  return impl_->listen(host, port, backend_port);
}

Result<std::uint16_t> Guard::open_tunnel(const PeerAddress& remote, std::chrono::milliseconds timeout) {
  return impl_->open_tunnel(remote, timeout);
}

Result<void> Guard::reload_tls(const TlsOptions& tls) { return impl_->reload_tls(tls); }
GuardStats Guard::stats() const { return impl_->stats(); }
bool Guard::tls() const { return impl_->tls(); }
void Guard::set_local_node(const caf::node_id& node) { impl_->set_local_node(node); }
Result<void> Guard::vouches_for(const caf::node_id& from, NodeId claimed) const {
  return impl_->vouches_for(from, claimed);
}
const ConnectionLimits& Guard::limits() const noexcept { return impl_->limits(); }

}  // namespace meshos::net
