// One long-lived actor per remote address: connects (without blocking a scheduler thread), greets,
// heartbeats, reports RTT / health / self-description into the loop, and reconnects with backoff.
// Long-lived on purpose: CAF 0.17 never collects a local actor that sent to a remote node (issue 2056).
#include <algorithm>
#include <random>

#include "net/context.hpp"
#include "net/guard.hpp"
#include "net/requests.hpp"

namespace meshos::net {

namespace {

struct PeerState {
  NetContextPtr ctx;
  caf::actor gateway;
  PeerAddress address;
  caf::actor remote;          // the peer's gateway, validated by a hello
  NodeId node = 0;            // 0 until the first hello answered
  std::uint64_t gen = 0;      // connection generation: replies and timers of an older one are ignored
  std::uint64_t answers = 0;  // pongs received in this generation
  std::uint64_t last_rev = 0;
  std::uint64_t nonce = 0;
  bool connecting = false;
  std::optional<PeerHealth> health;
  std::chrono::milliseconds backoff{0};
  bool stopped = false;
  bool dialer = true;
  bool configured = false;      // the address came from the node's configuration: dialed for ever
  std::uint64_t unreachable_epoch = 0;  // counts transitions to Unreachable; an expiry timer names one
  bool departed = false;        // expired: not in the snapshot until admitted again
  std::string last_failure;  // logged once per distinct reason, not once per retry
  std::mt19937_64 rng{std::random_device{}()};  // challenges for the remote's answering hellos
  std::uint32_t relays_in_flight = 0;  // commits sent to the remote and not yet answered (kRelayWindow)
  bool sync_wanted = false;            // a hello came since the last complete sync
  bool sync_in_flight = false;
  // Work to the remote's daemons (work.hpp): the link whose credits callers take, the delivers gathered for the
  // next batch, and those sent but not yet credited back (of the current epoch).
  std::shared_ptr<PeerLink> link;
  NetEventBatch batch;
  bool flush_scheduled = false;
  std::uint64_t work_epoch = 1;
  std::uint64_t uncredited = 0;
  Clock::time_point last_credit{};
};

using peer_actor = caf::stateful_actor<PeerState>;

event::PeerInfo info_of(NodeId node, const NetHello& h) {
  event::PeerInfo info;
  info.peer = node;
  // Bounded and checked at the sender; a peer that sends more anyway is shown by its id only.
  if (is_valid_node_name(h.node_name)) info.name = h.node_name;
  info.version = h.version;
  if (auto caps = capability_set_from_json_text(h.capabilities_json)) info.capabilities = std::move(*caps);
  if (auto daemons = daemon_descriptions_from_json_text(h.daemons_json)) info.daemons = std::move(*daemons);
  // Bounded and checked; a malformed one is shown as none.
  if (!h.inventory_json.empty())
    if (auto inventory = inventory_from_json_text(h.inventory_json)) info.inventory = *inventory;
  // Bounded in size and depth before it is parsed; a malformed view keeps the previous mirror.
  if (!h.maintenance_json.empty()) {
    if (auto view = maintenance_view_from_json_text(h.maintenance_json)) info.maintenance = std::move(*view);
  }
  return info;
}

void log(peer_actor* self, LogLevel level, const std::string& what) {
  auto& st = self->state;
  std::string who = "peer " + st.address.to_string();
  if (st.node != 0) who += " (node " + to_hex(st.node) + ")";
  st.ctx->publish(event::Log{LogLine{level, std::nullopt, who + ": " + what}});
}

void set_health(peer_actor* self, PeerHealth h) {
  auto& st = self->state;
  if (h == PeerHealth::Unreachable && st.health != PeerHealth::Unreachable) {
    self->delayed_send(self, st.ctx->options.peer_expiry, expire_atom::value, ++st.unreachable_epoch);
  }
  st.health = h;
  if (st.node != 0) st.ctx->publish(event::NodeHealth{st.node, h});
}

void tell_gateway_connected(peer_actor* self, bool connected) {
  auto& st = self->state;
  self->send(st.gateway, state_atom::value, st.address.host, st.address.port, st.node, connected);
}

void schedule_reconnect(peer_actor* self) {
  auto& st = self->state;
  if (st.stopped || !st.dialer) return;
  auto delay = st.backoff;
  st.backoff = std::min(st.backoff * 2, st.ctx->options.reconnect_max);
  self->delayed_send(self, delay, connect_atom::value, st.gen);
}

void attempt_failed(peer_actor* self, const std::string& why) {
  auto& st = self->state;
  st.connecting = false;
  if (why != st.last_failure) {
    st.last_failure = why;
    log(self, LogLevel::Warn, "cannot connect: " + why);
  }
  if (st.node != 0 && !st.departed && st.health != PeerHealth::Unreachable) set_health(self, PeerHealth::Unreachable);
  schedule_reconnect(self);
}

void learn_from(peer_actor* self, const NetHello& h) {
  auto& st = self->state;
  if (h.peers.size() != h.peer_ids.size()) return;  // malformed gossip: nothing to learn
  self->send(st.gateway, learn_atom::value, h.peers, h.peer_ids);
}

void beat(peer_actor* self);

// Asks the remote for the commits this node does not know (wire.hpp, msync) and folds them as relayed by it.
// Repeated while the answer says there are more; a failed round is tried again with the next heartbeat.
void sync_commits(peer_actor* self) {
  auto& st = self->state;
  if (!st.sync_wanted || st.sync_in_flight || !st.remote || st.stopped) return;
  auto snap = st.ctx->sdk->snapshot();
  if (!snap || !snap->commits) return;
  st.sync_in_flight = true;
  st.sync_wanted = false;
  const auto gen = st.gen;
  self->request(st.remote, st.ctx->options.peer_timeout, sync_atom::value,
                NetDigests{st.ctx->node_id, snap->commits->digests()})
      .then(
          [=](NetCommits& answer) {
            auto& s = self->state;
            s.sync_in_flight = false;
            if (gen != s.gen || s.stopped) return;
            ++s.ctx->replication.syncs;
            const std::size_t n = std::min({answer.channels.size(), answer.bodies.size(), kSyncBatch});
            for (std::size_t i = 0; i < n; ++i) {
              auto ev = relayed_commit_event(answer.channels[i], answer.bodies[i], s.node);
              if (!ev) continue;  // the offering node's fault; it stays unknown here and is offered again
              ++s.ctx->replication.commits_fetched;
              s.ctx->publish(std::move(*ev));
            }
            // Another round once the loop folded this one (its digests are then in the snapshot).
            if (answer.more) s.sync_wanted = true;
          },
          [=](caf::error&) {
            auto& s = self->state;
            s.sync_in_flight = false;
            if (gen == s.gen) s.sync_wanted = true;
          });
}

// A commit this node accepted from an operator, to the remote at once while the link's window has room.
void relay_commit(peer_actor* self, const std::string& channel, const std::string& body) {
  auto& st = self->state;
  auto& counters = st.ctx->replication;
  if (!st.remote || st.stopped || st.relays_in_flight >= kRelayWindow) {
    ++counters.relays_unsent;
    return;
  }
  ++st.relays_in_flight;
  ++counters.relays_sent;
  const auto gen = st.gen;
  self->request(st.remote, st.ctx->options.peer_timeout, relay_in_atom::value, st.ctx->node_id, channel, body)
      .then(
          [=](ok_atom) {
            if (gen == self->state.gen) --self->state.relays_in_flight;
          },
          [=](caf::error&) {
            auto& s = self->state;
            ++s.ctx->replication.relays_failed;
            if (gen == s.gen) --s.relays_in_flight;
          });
}

// Gives back the credits of `n` events that will never be answered (the link went down, or stayed silent).
void work_lost(peer_actor* self, std::uint64_t n) {
  auto& st = self->state;
  if (n == 0 || !st.link) return;
  st.link->window.release(n);
  st.link->failed.fetch_add(n, std::memory_order_relaxed);
}

// Sends the gathered delivers as one message. Scheduled by the first deliver of a batch as a message to
// this actor, so every deliver already in the mailbox joins the batch.
void flush_batch(peer_actor* self) {
  auto& st = self->state;
  st.flush_scheduled = false;
  const std::uint64_t n = st.batch.events.size();
  if (n == 0) return;
  if (!st.remote || st.stopped) {
    work_lost(self, n);
  } else {
    if (st.uncredited == 0) st.last_credit = Clock::now();
    st.uncredited += n;
    self->send(st.remote, deliver_in_atom::value, st.ctx->node_id, st.work_epoch, std::move(st.batch));
  }
  st.batch = NetEventBatch{};
}

// The remote handled a batch: its credits come back.
void credited(peer_actor* self, std::uint64_t epoch, std::uint64_t handled, std::uint64_t refused) {
  auto& st = self->state;
  if (epoch != st.work_epoch || !st.link) return;
  const std::uint64_t n = std::min(handled, st.uncredited);
  st.uncredited -= n;
  st.last_credit = Clock::now();
  st.link->window.release(n);
  st.link->failed.fetch_add(std::min(refused, n), std::memory_order_relaxed);
}

// Nothing credited back for peer_timeout: the events in flight are counted lost and their credits given back;
// credits of them that come later are of an old epoch and ignored.
void expire_uncredited(peer_actor* self, bool now) {
  auto& st = self->state;
  if (st.uncredited == 0) return;
  if (!now && Clock::now() - st.last_credit < st.ctx->options.peer_timeout) return;
  work_lost(self, st.uncredited);
  st.uncredited = 0;
  ++st.work_epoch;
}

// Work for a daemon of the remote node; the caller took a credit of the link. A deliver joins the next batch
// (answered by the batch's credit); a process is a request of its own, sent after the gathered delivers.
caf::result<NetOutputs> send_work(peer_actor* self, OutboundWork& w) {
  auto& st = self->state;
  auto link = std::move(w.link);
  if (!link) return NetOutputs{"invalid_request", "work without a link", {}};
  if (!st.remote || st.stopped || link != st.link) {
    link->window.release();
    link->failed.fetch_add(1, std::memory_order_relaxed);
    return NetOutputs{"unreachable", "node " + to_hex(st.node) + " is not connected", {}};
  }
  if (!w.wants_outputs) {
    st.batch.daemons.push_back(w.daemon);
    st.batch.events.push_back(std::move(w.event));
    if (!st.flush_scheduled) {
      st.flush_scheduled = true;
      self->send(self, flush_atom::value);
    }
    return NetOutputs{};
  }
  flush_batch(self);
  auto rp = self->make_response_promise<NetOutputs>();
  auto node = st.node;
  self->request(st.remote, std::chrono::milliseconds(w.timeout_ms) + st.ctx->options.peer_timeout,
                process_in_atom::value, st.ctx->node_id, w.daemon, std::move(w.event), w.timeout_ms)
      .then(
          [link, rp](NetOutputs& r) mutable {
            link->window.release();
            if (!r.error_kind.empty()) link->failed.fetch_add(1, std::memory_order_relaxed);
            rp.deliver(std::move(r));
          },
          [link, rp, node](caf::error& e) mutable {
            link->window.release();
            link->failed.fetch_add(1, std::memory_order_relaxed);
            const bool late = e == caf::sec::request_timeout;
            rp.deliver(NetOutputs{late ? "timeout" : "unreachable",
                                  std::string(late ? "no answer from node " : "lost the link to node ") + to_hex(node),
                                  {}});
          });
  return rp;
}

// A daemon of this (draining) node moving to the remote node, or released there again.
caf::result<NetReply> send_move(peer_actor* self, OutboundMove& m) {
  auto& st = self->state;
  if (!st.remote || st.stopped) return NetReply{to_string(Errc::unreachable), "node " + to_hex(st.node) + " is not connected", {}};
  auto rp = self->make_response_promise<NetReply>();
  auto node = st.node;
  auto on_error = [rp, node](caf::error& e) mutable {
    const bool late = e == caf::sec::request_timeout;
    rp.deliver(NetReply{late ? "timeout" : "unreachable",
                        std::string(late ? "no answer from node " : "lost the link to node ") + to_hex(node), {}});
  };
  auto on_reply = [rp](NetReply& r) mutable { rp.deliver(std::move(r)); };
  if (m.release) {
    self->request(st.remote, m.timeout, move_release_atom::value, st.ctx->node_id, std::move(m.move))
        .then(on_reply, on_error);
  } else {
    self->request(st.remote, m.timeout, move_in_atom::value, st.ctx->node_id, std::move(m.move))
        .then(on_reply, on_error);
  }
  return rp;
}

void admitted(peer_actor* self, caf::actor handle, const NetHello& h) {
  auto& st = self->state;
  if (st.node != 0 && st.node != h.node_id) {  // a new identity here
    st.ctx->publish(event::PeerRemoved{st.node});
    st.ctx->links.remove(st.node, caf::actor_cast<caf::actor>(self));
  }
  st.node = h.node_id;
  st.remote = std::move(handle);
  st.connecting = false;
  st.answers = 0;
  st.last_rev = h.info_rev;
  st.backoff = st.ctx->options.reconnect_initial;
  st.last_failure.clear();
  st.departed = false;
  st.relays_in_flight = 0;
  st.sync_wanted = true;
  st.link = st.ctx->links.up(h.node_id, caf::actor_cast<caf::actor>(self));
  log(self, LogLevel::Info, "admitted (version " + h.version + ")");
  self->monitor(st.remote);
  st.ctx->publish(info_of(st.node, h));
  set_health(self, PeerHealth::Healthy);
  tell_gateway_connected(self, true);
  learn_from(self, h);
  self->delayed_send(self, st.ctx->options.peer_timeout, deadline_atom::value, st.gen, st.answers);
  beat(self);
  sync_commits(self);
}

// Both sides prove who they are (hello.hpp): the remote hands out a challenge, our signed hello answers it
// and carries a challenge of ours, and the remote's signed answer must carry that one back. `on_ok` gets
// the remote's verified hello; `on_fail` the reason otherwise.
template <class OnOk, class OnFail>
void greet(peer_actor* self, caf::actor handle, OnOk on_ok, OnFail on_fail) {
  auto& st = self->state;
  auto gen = st.gen;
  auto timeout = st.ctx->options.peer_timeout;
  self->request(handle, timeout, challenge_atom::value)
      .then(
          [=](challenge_atom, std::uint64_t nonce, std::uint64_t remote_node) {
            auto& s = self->state;
            if (gen != s.gen || s.stopped) return;
            std::uint64_t expected = 0;
            while (expected == 0) expected = s.rng();
            auto mine = s.ctx->hello();
            seal_hello(mine, nonce, expected, remote_node, s.ctx->node_key);
            self->request(handle, timeout, hello_atom::value, mine, s.gateway)
                .then(
                    [=](NetHello& h) {
                      auto& s2 = self->state;
                      if (gen != s2.gen || s2.stopped) return;
                      auto valid =
                          verify_hello(h, expected, s2.ctx->node_id, s2.ctx->members, s2.ctx->options.max_peers);
                      if (valid) valid = s2.ctx->guard->vouches_for(handle.node(), h.node_id);
                      if (!valid) {
                        on_fail(valid.error().message);
                        return;
                      }
                      on_ok(std::move(h));
                    },
                    [=](caf::error& e) {
                      if (gen == self->state.gen) on_fail("hello refused: " + self->system().render(e));
                    });
          },
          [=](caf::error& e) {
            if (gen == self->state.gen) on_fail("no answer to challenge: " + self->system().render(e));
          });
}

void greeted(peer_actor* self, caf::actor handle, NetHello h) {
  auto& st = self->state;
  auto gen = st.gen;
  self->request(st.gateway, std::chrono::seconds(10), claim_atom::value, st.address.host, st.address.port, h.node_id)
      .then(
          [=](int claim) {
            auto& s = self->state;
            if (gen != s.gen || s.stopped) return;
            if (claim != static_cast<int>(Claim::Admitted)) {
              // Ourselves, or a node already tracked under another address: this actor has no job.
              s.stopped = true;
              self->quit();
              return;
            }
            admitted(self, handle, h);
          },
          [=](caf::error& e) {
            if (gen == self->state.gen) attempt_failed(self, "admission: " + self->system().render(e));
          });
}

void attempt(peer_actor* self) {
  auto& st = self->state;
  if (st.stopped || st.remote || st.connecting || !st.dialer) return;
  st.connecting = true;
  auto gen = st.gen;
  auto timeout = std::max(st.ctx->options.peer_timeout, std::chrono::milliseconds(1000));
  // CAF dials a one-shot loopback port of the guard, which carries the connection to the peer.
  auto tunnel = st.ctx->guard->open_tunnel(st.address, timeout);
  if (!tunnel) {
    attempt_failed(self, tunnel.error().message);
    return;
  }
  self->request(connector(*st.ctx->system), timeout, caf::connect_atom::value, std::string("127.0.0.1"), *tunnel)
      .then(
          [=](const caf::node_id&, caf::strong_actor_ptr& ptr, const std::set<std::string>&) {
            auto& s = self->state;
            if (gen != s.gen || s.stopped) return;
            if (!ptr) {
              attempt_failed(self, "no actor is published there");
              return;
            }
            auto handle = caf::actor_cast<caf::actor>(std::move(ptr));
            // After a failure CAF may hand out a stale proxy: only an answered hello validates the handle.
            greet(self, handle, [=](NetHello h) { greeted(self, handle, std::move(h)); },
                  [=](const std::string& why) { attempt_failed(self, why); });
          },
          [=](caf::error& e) {
            if (gen == self->state.gen) attempt_failed(self, self->system().render(e));
          });
}

// The remote dialed us: talk to its gateway over that connection (a handle validated by a hello).
void adopt(peer_actor* self, caf::actor handle) {
  auto& st = self->state;
  if (st.stopped || !handle || handle == st.remote) return;
  if (st.remote) {
    self->demonitor(st.remote);
    st.remote = nullptr;
  }
  ++st.gen;
  st.connecting = true;
  greet(self, handle, [=](NetHello h) { greeted(self, handle, std::move(h)); },
        [=](const std::string& why) { attempt_failed(self, why); });
}

void refresh_hello(peer_actor* self) {
  greet(
      self, self->state.remote,
      [=](NetHello h) {
        auto& s = self->state;
        if (h.node_id != s.node) return;
        s.last_rev = h.info_rev;
        s.ctx->publish(info_of(s.node, h));
        learn_from(self, h);
        s.sync_wanted = true;
        sync_commits(self);
      },
      // The next heartbeat shows the same revision gap and asks again.
      [](const std::string&) {});
}

void beat(peer_actor* self) {
  auto& st = self->state;
  if (st.stopped || !st.remote) return;
  // Repeated while silent, so a health event dropped on a full intake is repaired.
  if (st.health == PeerHealth::Unreachable) set_health(self, PeerHealth::Unreachable);
  sync_commits(self);
  expire_uncredited(self, false);
  auto gen = st.gen;
  auto nonce = ++st.nonce;
  auto sent = Clock::now();
  self->request(st.remote, st.ctx->options.peer_timeout, ping_atom::value, nonce)
      .then(
          [=](pong_atom, std::uint64_t echoed, std::uint64_t rev) {
            auto& s = self->state;
            if (gen != s.gen || s.stopped || echoed != nonce) return;
            ++s.answers;
            s.ctx->publish(event::RttSample{s.node, Clock::now() - sent});
            set_health(self, PeerHealth::Healthy);
            self->delayed_send(self, s.ctx->options.peer_timeout, deadline_atom::value, gen, s.answers);
            if (rev != s.last_rev) refresh_hello(self);
          },
          [=](caf::error&) {
            // Silence is judged by the deadline (peer_timeout after the last answer), not per ping.
          });
  self->delayed_send(self, st.ctx->options.heartbeat_interval, beat_atom::value, gen);
}

void connection_lost(peer_actor* self) {
  auto& st = self->state;
  if (st.remote) self->demonitor(st.remote);
  st.remote = nullptr;
  st.connecting = false;
  ++st.gen;
  log(self, LogLevel::Warn, "connection lost");
  if (st.node != 0) st.ctx->links.down(st.node, caf::actor_cast<caf::actor>(self));
  flush_batch(self);  // without a remote: counted lost
  expire_uncredited(self, true);
  set_health(self, PeerHealth::Unreachable);
  tell_gateway_connected(self, false);
  st.backoff = st.ctx->options.reconnect_initial;
  schedule_reconnect(self);
}

}  // namespace

// Unreachable since the expiry timer was set: the peer leaves the snapshot, and a peer nobody configured
// leaves altogether (a configured address is still dialed; it comes back once it answers).
void expire(peer_actor* self) {
  auto& st = self->state;
  log(self, LogLevel::Warn, "departed: unreachable for " + std::to_string(st.ctx->options.peer_expiry.count()) + " ms");
  if (st.node != 0) st.ctx->publish(event::PeerRemoved{st.node});
  st.health.reset();
  st.departed = true;
  if (st.configured) return;
  st.stopped = true;
  st.ctx->links.remove(st.node, caf::actor_cast<caf::actor>(self));
  self->send(st.gateway, forget_atom::value, st.address.host, st.address.port);
  if (st.remote) self->demonitor(st.remote);
  st.remote = nullptr;
  self->quit();
}

caf::actor spawn_peer(NetContextPtr ctx, caf::actor gateway, PeerAddress address, bool dialer, bool configured,
                      caf::actor remote) {
  auto* sys = ctx->system;
  return sys->spawn(
      [](peer_actor* self, NetContextPtr c, caf::actor gw, PeerAddress addr, bool dials, bool from_config,
         caf::actor adopted) -> caf::behavior {
        auto& st = self->state;
        st.ctx = std::move(c);
        st.gateway = std::move(gw);
        st.address = std::move(addr);
        st.dialer = dials;
        st.configured = from_config;
        st.backoff = st.ctx->options.reconnect_initial;
        self->set_down_handler([=](caf::down_msg& dm) {
          if (self->state.remote && dm.source == self->state.remote.address()) connection_lost(self);
        });
        self->set_default_handler(caf::drop);
        if (adopted)
          adopt(self, std::move(adopted));
        else
          self->send(self, connect_atom::value, st.gen);
        return {
            [=](adopt_atom, caf::actor handle) { adopt(self, std::move(handle)); },
            [=](relay_atom, const std::string& channel, const std::string& body) {
              // Only the node's gateway forwards commits through this actor.
              const auto& sender = self->current_sender();
              if (sender && sender->node() == self->node()) relay_commit(self, channel, body);
            },
            [=](connect_atom, std::uint64_t gen) {
              if (gen == self->state.gen) attempt(self);
            },
            [=](beat_atom, std::uint64_t gen) {
              if (gen == self->state.gen) beat(self);
            },
            [=](deadline_atom, std::uint64_t gen, std::uint64_t answers) {
              auto& s = self->state;
              if (gen != s.gen || answers != s.answers || !s.remote) return;
              if (s.health != PeerHealth::Unreachable) {
                log(self, LogLevel::Warn, "no answer for " + std::to_string(s.ctx->options.peer_timeout.count()) + " ms");
                set_health(self, PeerHealth::Unreachable);
              }
            },
            [=](expire_atom, std::uint64_t epoch) {
              auto& s = self->state;
              if (!s.stopped && epoch == s.unreachable_epoch && s.health == PeerHealth::Unreachable) expire(self);
            },
            [=](OutboundWork& w) { return send_work(self, w); },
            [=](OutboundMove& m) { return send_move(self, m); },
            [=](flush_atom) { flush_batch(self); },
            [=](credit_atom, std::uint64_t epoch, std::uint64_t handled, std::uint64_t refused) {
              // Only the remote's gateway gives credits back.
              const auto& sender = self->current_sender();
              auto& s = self->state;
              if (sender && s.remote && sender->node() == s.remote.node()) credited(self, epoch, handled, refused);
            },
            [=](stop_atom) {
              auto& s = self->state;
              s.stopped = true;
              if (s.node != 0) s.ctx->links.remove(s.node, caf::actor_cast<caf::actor>(self));
              if (s.remote) self->demonitor(s.remote);
              s.remote = nullptr;
              self->quit();
            },
        };
      },
      std::move(ctx), std::move(gateway), std::move(address), dialer, configured, std::move(remote));
}

}  // namespace meshos::net
