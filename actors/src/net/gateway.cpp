// The node's published actor: answers peers (hello, ping) and operators (requests, watch), owns the set of
// peer actors (one per remote address, deduplicated by node id) and carries operator commits to the loop,
// answering only once the commit's audit record shows the real outcome.
//
// Operator requests, (mrequest, kind, body) -> NetReply{error_kind, error_message, json}:
//   "status"   {} -> {"node_id", "name", "version", "listen", "tls", "verifies_commits", "cluster", "operators": [{"id", "name"}],
//                     "scheduler": {"workers", "policy"}, "runtime_epoch", "seq", "wall_ms", "maintenance", "cordoned", "daemons": {"count", "states": {lifecycle: n},
//                     "list": [{"id", "name", "lifecycle", "intent"}]}, "peers": [PeerSnapshot],
//                     "avoid_count", "audit": [last 16 AuditRecord], "watchers", "watch_drops",
//                     "refused": {what the front door refused, by kind}, "connections"}
//   "snapshot" {} -> the MeshOsSnapshot JSON (snapshot.hpp)
//   "peers"    {} -> {"node_id", "peers": [PeerSnapshot], "addresses": [{"address", "node"|null, "connected"}]}
//   "logs"     {"daemon"?: hex, "level"?: minimum level, "after_seq"?: N}
//              -> {"node_id", "runtime_epoch", "last_seq", "logs": [LogRecord]}
//   "admin"    SignedAdminCommit JSON, or {"unsigned": AdminEvent JSON}
//   "ice"      SignedIceCommit JSON
//              -> {"outcome": "accepted"|"rejected"|"unverified", "kind", "message", "commit", "event",
//                  "audit_seq"}; a rejection also sets error_kind/error_message (the verifier's kind).
// Errors: invalid_request, unknown_request, invalid_commit, queue_full, loop_closed, timeout, shutting_down.
#include <deque>
#include <map>
#include <random>
#include <set>

#include <nlohmann/json.hpp>

#include "detail/messages.hpp"
#include "detail/runtime.hpp"
#include "meshos/version.hpp"
#include "net/context.hpp"
#include "net/requests.hpp"

namespace meshos::net {

namespace {

struct Watcher {
  caf::actor handle;
  std::uint32_t in_flight = 0;
};

struct PendingCommit {
  std::uint64_t id = 0;
  CommitPlan plan;
  caf::typed_response_promise<NetReply> promise;
  std::uint64_t baseline = 0;  // audit seq before the commit was published
};

// Commits one operator connection may have waiting, and all connections together; beyond: queue_full.
constexpr std::size_t kMaxCommitsPerConnection = 16;
constexpr std::size_t kMaxQueuedCommits = 256;
// Bound on answers withheld while the test hook keeps the gateway silent.
constexpr std::size_t kMaxWithheld = 4096;
// Challenges handed out and not yet answered: a stranger asking for many only recycles the oldest.
constexpr std::size_t kMaxChallenges = 256;
constexpr auto kChallengeLifetime = std::chrono::seconds(30);
// Refused hellos are counted; a log line at most this often says how many.
constexpr auto kRefusalLogInterval = std::chrono::seconds(1);

struct GatewayState {
  NetContextPtr ctx;
  PeerDirectory directory;

  std::map<caf::actor_addr, Watcher> watchers;
  std::uint64_t watch_drops = 0;
  std::uint64_t watch_refused = 0;

  // Peer authentication: outstanding challenge nonces (insertion order for eviction) and refusals.
  std::mt19937_64 rng{std::random_device{}()};
  std::map<std::uint64_t, Clock::time_point> challenges;
  std::deque<std::uint64_t> challenge_order;
  std::uint64_t hellos_refused = 0;
  std::uint64_t hellos_refused_logged = 0;
  Clock::time_point last_refusal_log{};
  std::uint64_t peers_refused = 0;  // addresses not tracked because max_peers was reached

  // Commits wait per operator connection (keyed by the sending node) and are served one at a time, the
  // connections in rotation: a flood on one connection delays another's commit by at most one commit each.
  std::map<caf::node_id, std::deque<PendingCommit>> queued;
  std::deque<caf::node_id> rotation;
  std::size_t queued_total = 0;
  std::optional<PendingCommit> in_flight;
  std::uint64_t next_commit = 1;
  std::uint64_t commits_refused_full = 0;

  // Self-description, re-published to peers (through info_rev) when it changes.
  std::uint64_t info_rev = 1;
  std::optional<MaintenanceKind> maintenance_kind;
  std::string maintenance_json;
  CapabilitySet capabilities;
  std::vector<DaemonDescription> daemons;
  std::optional<NodeInventory> inventory;  // as last described (differs_materially decides when to again)
  std::vector<std::string> gossip;
  std::vector<std::uint64_t> gossip_ids;

  // Commits: the highest seq of the node's known commits already forwarded (replication.hpp).
  std::uint64_t pushed_seq = 0;

  PeerAddress self_address;  // what peers are told to connect to; port 0 until published
  bool silent = false;
  std::deque<caf::response_promise> withheld;
  // Test hook (set_heartbeat_delay): pongs leave this late; each waits here for its timer, bounded like
  // `withheld`.
  std::chrono::milliseconds pong_delay{0};
  std::deque<std::pair<caf::response_promise, std::uint64_t>> delayed_pongs;
};

using gateway_actor = caf::stateful_actor<GatewayState>;

bool from_this_node(gateway_actor* self) {
  const auto& sender = self->current_sender();
  return sender && sender->node() == self->node();
}

std::chrono::milliseconds commit_wait(const NetContext& ctx) {
  auto tick = ctx.sdk->config().tick_interval;
  return std::max<std::chrono::milliseconds>(std::chrono::seconds(2), tick * 6);
}

void rebuild_hello(gateway_actor* self) {
  auto& st = self->state;
  NetHello h;
  h.node_id = st.ctx->node_id;
  h.node_name = st.ctx->options.node_name;
  h.version = st.ctx->options.software_version;
  h.listen_host = st.self_address.host;
  h.listen_port = st.self_address.port;
  h.capabilities_json = nlohmann::json(st.capabilities).dump();
  h.maintenance_json = st.maintenance_json.empty() ? nlohmann::json(MaintenanceStateView{view::Active{}}).dump()
                                                   : st.maintenance_json;
  h.daemons_json = nlohmann::json(st.daemons).dump();
  if (st.inventory) h.inventory_json = nlohmann::json(*st.inventory).dump();
  h.peers = st.gossip;
  h.peer_ids = st.gossip_ids;
  h.info_rev = st.info_rev;
  st.ctx->set_hello(std::move(h));
}

void refresh_gossip(gateway_actor* self) {
  auto& st = self->state;
  std::vector<std::string> gossip;
  std::vector<std::uint64_t> ids;
  for (const auto& kv : st.directory.entries()) {
    if (kv.second.node != 0 && kv.second.connected) {
      gossip.push_back(kv.first.to_string());
      ids.push_back(kv.second.node);
    }
  }
  if (gossip != st.gossip || ids != st.gossip_ids) {
    st.gossip = std::move(gossip);
    st.gossip_ids = std::move(ids);
    ++st.info_rev;
    rebuild_hello(self);
  }
}

void track_peer(gateway_actor* self, const PeerAddress& addr, bool dialer, bool configured, caf::actor remote = {}) {
  auto& st = self->state;
  if (st.directory.full()) {
    ++st.peers_refused;
    return;
  }
  auto actor = spawn_peer(st.ctx, caf::actor_cast<caf::actor>(self), addr, dialer, configured, std::move(remote));
  if (st.ctx->tracker) st.ctx->tracker->track(actor);
  st.directory.add(addr, std::move(actor));
}

bool trackable(gateway_actor* self, const PeerAddress& addr) {
  auto& st = self->state;
  return st.directory.trackable(addr, st.self_address);
}

// Configured peers: always dialed.
void join(gateway_actor* self, const std::vector<PeerAddress>& addresses) {
  for (const auto& addr : addresses)
    if (trackable(self, addr)) track_peer(self, addr, true, true);
}

// Gossip: of two nodes that learn each other, the lower node id dials (one connection per pair).
void learn(gateway_actor* self, const std::vector<std::string>& addresses, const std::vector<std::uint64_t>& ids) {
  auto& st = self->state;
  for (std::size_t i = 0; i < addresses.size() && i < ids.size(); ++i) {
    const NodeId node = ids[i];
    if (node == 0 || node == st.ctx->node_id || st.directory.admitted(node) || st.ctx->node_id > node) continue;
    if (!st.ctx->members.contains(node)) continue;  // gossip about strangers is never acted on
    auto addr = PeerAddress::parse(addresses[i]);
    if (addr && trackable(self, *addr)) track_peer(self, *addr, true, false);
  }
}

// A node dialed us and greeted: answer over its connection, through the peer actor tracking it.
void greeted_by(gateway_actor* self, const NetHello& h, const caf::actor& remote) {
  auto& st = self->state;
  if (h.node_id == st.ctx->node_id || !remote || h.listen_host.empty() || h.listen_port == 0) return;
  PeerAddress addr{h.listen_host, h.listen_port};
  if (const auto* entry = st.directory.find(addr, h.node_id)) {
    if (!entry->connected) self->send(entry->actor, adopt_atom::value, remote);
    return;
  }
  if (st.directory.ignored(addr) || addr == st.self_address) return;
  track_peer(self, addr, false, false, remote);
}

std::uint64_t issue_challenge(gateway_actor* self) {
  auto& st = self->state;
  const auto now = Clock::now();
  while (!st.challenge_order.empty() &&
         (st.challenges.size() >= kMaxChallenges || st.challenges[st.challenge_order.front()] < now)) {
    st.challenges.erase(st.challenge_order.front());
    st.challenge_order.pop_front();
  }
  std::uint64_t nonce = 0;
  while (nonce == 0 || st.challenges.count(nonce)) nonce = st.rng();
  st.challenges.emplace(nonce, now + kChallengeLifetime);
  st.challenge_order.push_back(nonce);
  return nonce;
}

// A challenge answers one hello only.
bool take_challenge(gateway_actor* self, std::uint64_t nonce) {
  auto& st = self->state;
  auto it = st.challenges.find(nonce);
  if (it == st.challenges.end() || it->second < Clock::now()) return false;
  st.challenges.erase(it);
  st.challenge_order.erase(std::find(st.challenge_order.begin(), st.challenge_order.end(), nonce));
  return true;
}

void note_refused_hello(gateway_actor* self, const SdkError& why) {
  auto& st = self->state;
  ++st.hellos_refused;
  const auto now = Clock::now();
  if (now - st.last_refusal_log < kRefusalLogInterval) return;
  st.last_refusal_log = now;
  const auto since = st.hellos_refused - st.hellos_refused_logged;
  st.hellos_refused_logged = st.hellos_refused;
  st.ctx->publish(event::Log{LogLine{LogLevel::Warn, std::nullopt,
                                     "refused " + std::to_string(since) + " peer hello(s); latest: " + why.message}});
}

void log(gateway_actor* self, LogLevel level, std::string what) {
  self->state.ctx->publish(event::Log{LogLine{level, std::nullopt, std::move(what)}});
}

// This node's hello answering `theirs`, signed for its sender.
NetHello answer_hello(gateway_actor* self, const NetHello& theirs) {
  auto h = self->state.ctx->hello();
  seal_hello(h, theirs.challenge, 0, theirs.node_id, self->state.ctx->node_key);
  return h;
}

void start_next_commit(gateway_actor* self);

// Test hook (set_unresponsive): a silent gateway answers no peer, as a stopped process would; the request's
// promise is kept (bounded) and dropped unanswered when it speaks again.
bool withhold(gateway_actor* self) {
  auto& st = self->state;
  if (!st.silent) return false;
  if (st.withheld.size() < kMaxWithheld) st.withheld.push_back(self->make_response_promise());
  return true;
}

void finish_commit(gateway_actor* self, NetReply reply) {
  auto& st = self->state;
  if (!st.in_flight) return;
  st.in_flight->promise.deliver(std::move(reply));
  st.in_flight.reset();
  start_next_commit(self);
}

// `who`: the node the commit came from (its connection).
void queue_commit(gateway_actor* self, const caf::node_id& who, CommitPlan plan,
                  caf::typed_response_promise<NetReply> promise) {
  auto& st = self->state;
  auto& waiting = st.queued[who];
  if (waiting.size() >= kMaxCommitsPerConnection || st.queued_total >= kMaxQueuedCommits) {
    ++st.commits_refused_full;
    if (waiting.empty()) st.queued.erase(who);
    promise.deliver(reply_error(Errc::queue_full, "too many commits waiting (" + std::to_string(waiting.size()) +
                                                  " from this connection, " + std::to_string(st.queued_total) +
                                                  " in all); try again"));
    return;
  }
  if (waiting.empty()) st.rotation.push_back(who);
  waiting.push_back(PendingCommit{st.next_commit++, std::move(plan), std::move(promise), 0});
  ++st.queued_total;
  start_next_commit(self);
}

void start_next_commit(gateway_actor* self) {
  auto& st = self->state;
  while (!st.in_flight && !st.rotation.empty()) {
    const auto who = st.rotation.front();
    st.rotation.pop_front();
    auto& waiting = st.queued[who];
    PendingCommit c = std::move(waiting.front());
    waiting.pop_front();
    --st.queued_total;
    if (waiting.empty())
      st.queued.erase(who);
    else
      st.rotation.push_back(who);
    auto snap = st.ctx->sdk->snapshot();
    c.baseline = snap ? last_audit_seq(*snap) : 0;
    auto published = st.ctx->sdk->publish(c.plan.event);
    if (!published) {
      c.promise.deliver(reply_error(published.error()));
      continue;
    }
    self->delayed_send(self, commit_wait(*st.ctx), commit_to_atom::value, c.id);
    st.in_flight = std::move(c);
  }
}

void settle_commit(gateway_actor* self, const MeshOsSnapshot& snap) {
  auto& st = self->state;
  while (st.in_flight) {
    const auto& c = *st.in_flight;
    const AuditRecord* found =
        find_commit_record(snap, c.baseline, c.plan.audit_commit, c.plan.audit_event, c.plan.operators);
    if (!found) return;
    finish_commit(self, commit_reply(*found, c.plan));
  }
}

// Commits an operator handed this node and that it accepted go to every connected peer at once; what a
// peer then lacks (it was away, a window was full) reaches it with the sync after its next hello, which the
// new info revision asks for.
void forward_commits(gateway_actor* self, const CommitKnowledge& known) {
  auto& st = self->state;
  if (known.log.empty() || known.log.back().seq <= st.pushed_seq) return;
  for (const auto& k : known.log) {
    if (k.seq <= st.pushed_seq || k.relayed_from != 0) continue;
    const std::string channel = commit_channel(k.commit);
    const std::string body = commit_json_text(k.commit);
    for (const auto& kv : st.directory.entries()) {
      if (kv.second.connected && kv.second.node != 0) {
        self->send(kv.second.actor, relay_atom::value, channel, body);
      }
    }
  }
  st.pushed_seq = known.log.back().seq;
  ++st.info_rev;
  rebuild_hello(self);
}

// The node id a peer's message claims, if the connection it came over is an admitted peer's.
std::optional<SdkError> check_admitted(gateway_actor* self, NodeId from) {
  auto& st = self->state;
  const auto& sender = self->current_sender();
  if (!sender || from == 0 || !st.directory.admitted(from))
    return SdkError{Errc::peer_refused, "not an admitted peer"};
  auto vouched = st.ctx->guard->vouches_for(sender->node(), from);
  if (!vouched) return vouched.error();
  return std::nullopt;
}

using Outputs = Result<std::vector<Bytes>>;

// Work for a daemon of this node (from a peer or an operator), without blocking the gateway: `done` runs with
// the daemon's answer, or the error when it gave none in time.
void process_here(gateway_actor* self, DaemonId daemon, CausalEvent ev, std::chrono::milliseconds timeout,
                  std::function<void(Outputs)> done) {
  auto slot = detail::SdkInternals::runtime(*self->state.ctx->sdk).take_data_slot(daemon);
  if (!slot) return done(slot.error());
  const std::string name = slot.value()->daemon.name;
  self->request(slot.value()->actor, timeout, detail::process_atom::value, detail::CausalMsg{std::move(ev)})
      .then([done](detail::OutputsMsg& m) { done(detail::outputs_of(std::move(m))); },
            [done, self, name](caf::error& e) { done(detail::process_failure(self->system(), e, name)); });
}

// A daemon moving here from the draining node `from`: built from its factory, then its state restored (on its
// own actor, before any work reaches it). Answered once it runs here, or with why not.
caf::result<NetReply> move_in(gateway_actor* self, NodeId from, NetMove m) {
  auto& rt = detail::SdkInternals::runtime(*self->state.ctx->sdk);
  const std::string who = "daemon " + m.name + " (" + to_hex(m.daemon) + ") from node " + to_hex(from);
  auto slot = rt.accept_move(m.migration, DaemonRef{m.daemon, m.name});
  if (!slot) {
    log(self, LogLevel::Warn, who + " refused: " + slot.error().describe());
    return reply_error(slot.error());
  }
  if (!m.has_state) {
    log(self, LogLevel::Info, who + " moved here");
    return NetReply{};
  }
  auto rp = self->make_response_promise<NetReply>();
  auto moved = slot.value();
  auto refuse = [self, moved, who, rp](const SdkError& e) mutable {
    detail::SdkInternals::runtime(*self->state.ctx->sdk).unregister_daemon(moved, true);
    log(self, LogLevel::Warn, who + " refused: " + e.describe());
    rp.deliver(reply_error(e));
  };
  self->request(moved->actor, rt.config().stop_grace, detail::restore_atom::value,
                detail::StateMsg{Bytes(m.state.begin(), m.state.end())})
      .then(
          [self, who, rp, refuse](detail::OutputsMsg& r) mutable {
            if (r.error) return refuse(*r.error);
            log(self, LogLevel::Info, who + " moved here with its state");
            rp.deliver(NetReply{});
          },
          [refuse, who](caf::error&) mutable {
            refuse(SdkError{Errc::restore_failed, who + " did not restore its state in time"});
          });
  return rp;
}

// An operator's deliver / process for a daemon anywhere in the cluster.
void handle_work(gateway_actor* self, bool wants_outputs, const std::string& body,
                 caf::typed_response_promise<NetReply> promise) {
  auto& ctx = *self->state.ctx;
  auto request = parse_work_request(body);
  if (!request) return (void)promise.deliver(reply_error(request.error()));
  const DaemonAddress address = request->daemon;
  if (!wants_outputs) {  // never blocks: the same path as MeshNode::deliver
    auto delivered = deliver_work(ctx, address, std::move(request->event));
    return (void)promise.deliver(delivered ? NetReply{{}, {}, work_reply_json(address, nullptr)}
                                           : reply_error(delivered.error()));
  }
  auto route = route_work(ctx, address);
  if (!route) return (void)promise.deliver(reply_error(route.error()));
  auto answer = [promise, address](Outputs r) mutable {
    if (!r) return (void)promise.deliver(reply_error(r.error()));
    promise.deliver(NetReply{{}, {}, work_reply_json(address, &*r)});
  };
  if (!route->link)
    return process_here(self, route->daemon, std::move(request->event), request->timeout, std::move(answer));
  auto link = route->link;
  const auto ms = static_cast<std::uint32_t>(request->timeout.count());
  self->request(link->actor, request->timeout + 2 * ctx.options.peer_timeout,
                OutboundWork{link, route->daemon, to_wire(request->event), true, ms})
      .then([answer](NetOutputs& r) mutable { answer(from_wire(std::move(r))); },
            [answer, address](caf::error&) mutable { answer(no_work_answer(address)); });
}

void on_snapshot(gateway_actor* self, const SnapshotPtr& snap) {
  auto& st = self->state;
  if (!snap) return;
  if (snap->commits) forward_commits(self, *snap->commits);
  // Peers see our maintenance kind, capabilities, daemons and inventory; re-describe only on a real change (the
  // view's relative times change every tick, the inventory a little every tick). The new revision reaches each peer with its next heartbeat.
  auto kind = kind_of(snap->local_maintenance);
  std::vector<DaemonDescription> daemons;
  for (const auto& kv : snap->daemons) daemons.push_back(describe_daemon(kv.second));
  std::optional<NodeInventory> inventory;
  if (snap->inventory) inventory = snap->inventory->inventory;
  const bool inventory_news = inventory.has_value() != st.inventory.has_value() ||
                              (inventory && differs_materially(*st.inventory, *inventory));
  if (st.maintenance_kind != kind || !(st.capabilities == snap->node_capabilities) || daemons != st.daemons ||
      inventory_news) {
    st.maintenance_kind = kind;
    st.inventory = inventory;
    st.maintenance_json = nlohmann::json(snap->local_maintenance).dump();
    st.capabilities = snap->node_capabilities;
    st.daemons = std::move(daemons);
    ++st.info_rev;
    rebuild_hello(self);
  }
  settle_commit(self, *snap);
  if (!st.watchers.empty()) {
    auto json = snapshot_json(*snap);
    for (auto& kv : st.watchers) {
      if (kv.second.in_flight >= kWatchWindow) {
        ++st.watch_drops;
        continue;
      }
      ++kv.second.in_flight;
      self->send(kv.second.handle, snap_atom::value, snap->seq, json);
    }
  }
}

GatewayFacts facts_of(gateway_actor* self) {
  auto& st = self->state;
  GatewayFacts f;
  f.version = st.ctx->options.software_version;
  f.node_name = st.ctx->options.node_name;
  f.listen = st.self_address.to_string();
  f.tls = st.ctx->tls;
  f.verifies_commits = st.ctx->has_verifier;
  f.cluster = st.ctx->cluster;
  f.operator_names = &st.ctx->operator_names;
  f.scheduler_workers = self->system().scheduler().num_workers();
  f.scheduler_policy = caf::to_string(caf::get_or(self->system().config(), "scheduler.policy", caf::atom("stealing")));
  f.watchers = st.watchers.size();
  f.watch_drops = st.watch_drops;
  if (st.ctx->guard) f.guard = st.ctx->guard->stats();
  f.hellos_refused = st.hellos_refused;
  f.watch_refused = st.watch_refused;
  f.commits_refused_full = st.commits_refused_full;
  f.peers_refused = st.peers_refused;
  f.work = {st.ctx->work.received.load(), st.ctx->work.refused.load(), st.ctx->links.stats()};
  const auto& r = st.ctx->replication;
  f.replication = {r.relays_sent.load(),     r.relays_unsent.load(), r.relays_failed.load(),
                   r.relays_received.load(), r.relays_refused.load(), r.syncs.load(),
                   r.commits_fetched.load(), r.syncs_served.load()};
  for (const auto& kv : st.directory.entries()) f.addresses.push_back({kv.first.to_string(), kv.second.node, kv.second.connected});
  return f;
}

void handle_request(gateway_actor* self, const std::string& kind, const std::string& body) {
  auto& st = self->state;
  // Read before the promise takes the request over (it empties current_sender()).
  const auto& sender = self->current_sender();
  const caf::node_id who = sender ? sender->node() : caf::node_id{};
  auto promise = self->make_response_promise<NetReply>();
  auto snap = st.ctx->sdk->snapshot();
  if (!snap) {
    promise.deliver(reply_error(Errc::loop_closed, "the node has no snapshot (shutting down)"));
    return;
  }
  if (kind == "status") {
    promise.deliver(NetReply{{}, {}, status_json(*snap, facts_of(self))});
  } else if (kind == "snapshot") {
    promise.deliver(NetReply{{}, {}, snapshot_json(*snap)});
  } else if (kind == "peers") {
    promise.deliver(NetReply{{}, {}, peers_json(*snap, facts_of(self))});
  } else if (kind == "logs") {
    auto logs = logs_json(*snap, body);
    promise.deliver(logs ? NetReply{{}, {}, std::move(*logs)} : reply_error(logs.error()));
  } else if (kind == "deliver" || kind == "process") {
    handle_work(self, kind == "process", body, std::move(promise));
  } else if (kind == "admin" || kind == "ice") {
    auto plan = plan_commit(kind, body, st.ctx->has_verifier, wall_clock_ms());
    if (!plan) {
      // Counted among the strangers' refusals: nobody is known to have sent it.
      st.ctx->publish(event::CommitUndecodable{kind, plan.error().kind, plan.error().message});
      promise.deliver(reply_error(plan.error()));
      return;
    }
    queue_commit(self, who, std::move(*plan), std::move(promise));
  } else {
    promise.deliver(reply_error(Errc::unknown_request, "unknown request kind \"" + kind +
                                                       "\" (status, snapshot, peers, logs, admin, ice, "
                                                       "deliver, process)"));
  }
}

void stop(gateway_actor* self) {
  auto& st = self->state;
  for (auto& actor : st.directory.clear()) self->send<caf::message_priority::high>(actor, stop_atom::value);
  auto refuse = [](PendingCommit& c) { c.promise.deliver(reply_error(Errc::shutting_down, "the node is shutting down")); };
  if (st.in_flight) refuse(*st.in_flight);
  st.in_flight.reset();
  for (auto& kv : st.queued)
    for (auto& c : kv.second) refuse(c);
  st.queued.clear();
  st.rotation.clear();
  st.queued_total = 0;
  for (auto& kv : st.watchers) self->demonitor(kv.second.handle);
  st.watchers.clear();
  st.withheld.clear();
  self->quit();
}

}  // namespace

caf::actor spawn_gateway(NetContextPtr ctx) {
  auto* sys = ctx->system;
  return sys->spawn(
      [](gateway_actor* self, NetContextPtr c) -> caf::behavior {
        auto& st = self->state;
        st.ctx = std::move(c);
        st.directory = PeerDirectory(st.ctx->node_id, st.ctx->options.max_peers);
        rebuild_hello(self);
        self->set_down_handler([=](caf::down_msg& dm) { self->state.watchers.erase(dm.source); });
        // Anything else (a stray or hostile message) is refused, never fatal.
        self->set_default_handler(caf::drop);
        return {
            // ---- peers ----
            [=](challenge_atom) -> caf::result<challenge_atom, std::uint64_t, std::uint64_t> {
              auto& s = self->state;
              if (withhold(self)) return caf::delegated<challenge_atom, std::uint64_t, std::uint64_t>{};
              return {challenge_atom::value, issue_challenge(self), s.ctx->node_id};
            },
            [=](hello_atom, const NetHello& h, const caf::actor& remote) -> caf::result<NetHello> {
              auto& s = self->state;
              if (withhold(self)) return caf::delegated<NetHello>{};
              const auto answered = take_challenge(self, h.answers) ? h.answers : 0;
              auto valid = verify_hello(h, answered, s.ctx->node_id, s.ctx->members, s.ctx->options.max_peers);
              const auto& sender = self->current_sender();
              if (valid && sender == nullptr) valid = SdkError{Errc::peer_refused, "a hello without a sender"};
              // The gateway it offers to be answered through must be on the node that sent the hello.
              if (valid && (!remote || remote.node() != sender->node()))
                valid = SdkError{Errc::peer_refused, "the hello offers a gateway on another node"};
              if (valid) valid = s.ctx->guard->vouches_for(sender->node(), h.node_id);
              if (!valid) {
                note_refused_hello(self, valid.error());
                return caf::make_error(caf::sec::invalid_argument, valid.error().message);
              }
              greeted_by(self, h, remote);
              learn(self, h.peers, h.peer_ids);
              return answer_hello(self, h);
            },
            [=](ping_atom, std::uint64_t nonce) -> caf::result<pong_atom, std::uint64_t, std::uint64_t> {
              auto& s = self->state;
              if (withhold(self)) return caf::delegated<pong_atom, std::uint64_t, std::uint64_t>{};
              if (s.pong_delay > std::chrono::milliseconds::zero() && s.delayed_pongs.size() < kMaxWithheld) {
                s.delayed_pongs.emplace_back(self->make_response_promise(), nonce);
                self->delayed_send(self, s.pong_delay, pong_atom::value);
                return caf::delegated<pong_atom, std::uint64_t, std::uint64_t>{};
              }
              return {pong_atom::value, nonce, s.info_rev};
            },
            // The timer of the oldest delayed pong (timers of equal delay fire in order).
            [=](pong_atom) {
              auto& s = self->state;
              if (s.delayed_pongs.empty()) return;
              auto [rp, nonce] = std::move(s.delayed_pongs.front());
              s.delayed_pongs.pop_front();
              rp.deliver(pong_atom::value, nonce, s.info_rev);
            },
            // ---- commits between peers ----
            [=](relay_in_atom, std::uint64_t from, const std::string& channel,
                const std::string& body) -> caf::result<ok_atom> {
              auto& s = self->state;
              if (withhold(self)) return caf::delegated<ok_atom>{};
              auto& counters = s.ctx->replication;
              auto refused = check_admitted(self, from);
              std::optional<MeshOsEvent> ev;
              if (!refused) {
                auto decoded = relayed_commit_event(channel, body, from);
                if (decoded)
                  ev = std::move(*decoded);
                else
                  refused = decoded.error();
              }
              if (!refused) {
                auto published = s.ctx->sdk->publish(std::move(*ev));
                if (!published) refused = published.error();
              }
              if (refused) {
                ++counters.relays_refused;
                return caf::make_error(caf::sec::invalid_argument, refused->kind + ": " + refused->message);
              }
              ++counters.relays_received;
              return ok_atom::value;
            },
            [=](sync_atom, const NetDigests& asked) -> caf::result<NetCommits> {
              auto& s = self->state;
              if (withhold(self)) return caf::delegated<NetCommits>{};
              if (auto refused = check_admitted(self, asked.node))
                return caf::make_error(caf::sec::invalid_argument, refused->message);
              if (asked.digests.size() > kMaxSyncDigests)
                return caf::make_error(caf::sec::invalid_argument, "too many digests");
              auto snap = s.ctx->sdk->snapshot();
              NetCommits answer;
              if (snap && snap->commits) {
                auto missing = snap->commits->missing_from(asked.digests, kSyncBatch + 1);
                answer.more = missing.size() > kSyncBatch;
                if (answer.more) missing.pop_back();
                for (const auto* k : missing) {
                  answer.channels.emplace_back(commit_channel(k->commit));
                  answer.bodies.push_back(commit_json_text(k->commit));
                }
              }
              ++s.ctx->replication.syncs_served;
              return answer;
            },
            // ---- work from peers, for this node's daemons ----
            [=](deliver_in_atom, std::uint64_t from, std::uint64_t epoch, NetEventBatch& batch) {
              auto& s = self->state;
              const auto& sender = self->current_sender();
              if (s.silent || !sender) return;  // a stopped process credits nothing back
              auto refused_peer = check_admitted(self, from);
              const std::size_t n = batch.events.size();
              const bool well_formed = batch.daemons.size() == n;
              std::uint64_t refused = 0;
              for (std::size_t i = 0; i < n; ++i) {
                const bool handed = !refused_peer && well_formed &&
                                    s.ctx->sdk->deliver(batch.daemons[i], from_wire(std::move(batch.events[i])));
                ++(handed ? s.ctx->work.received : s.ctx->work.refused);
                if (!handed) ++refused;
              }
              self->send(caf::actor_cast<caf::actor>(sender), credit_atom::value, epoch, std::uint64_t{n}, refused);
            },
            [=](process_in_atom, std::uint64_t from, std::uint64_t daemon, NetEvent& ev,
                std::uint32_t timeout_ms) -> caf::result<NetOutputs> {
              auto& s = self->state;
              if (withhold(self)) return caf::delegated<NetOutputs>{};
              if (auto refused = check_admitted(self, from)) {
                ++s.ctx->work.refused;
                return NetOutputs{refused->kind, refused->message, {}};
              }
              auto rp = self->make_response_promise<NetOutputs>();
              const auto timeout = std::min(std::chrono::milliseconds(timeout_ms), kMaxWorkTimeout);
              process_here(self, daemon, from_wire(std::move(ev)), timeout, [self, rp](Outputs r) mutable {
                ++(r ? self->state.ctx->work.received : self->state.ctx->work.refused);
                rp.deliver(to_wire(r));
              });
              return rp;
            },
            [=](move_in_atom, std::uint64_t from, NetMove& m) -> caf::result<NetReply> {
              if (withhold(self)) return caf::delegated<NetReply>{};
              if (auto refused = check_admitted(self, from)) return reply_error(*refused);
              return move_in(self, from, std::move(m));
            },
            [=](move_release_atom, std::uint64_t from, const NetMove& m) -> NetReply {
              if (auto refused = check_admitted(self, from)) return reply_error(*refused);
              auto released = detail::SdkInternals::runtime(*self->state.ctx->sdk).release(m.migration, {m.daemon, m.name});
              if (!released) return reply_error(released.error());
              log(self, LogLevel::Info, "daemon " + m.name + " (" + to_hex(m.daemon) + ") released: node " +
                                            to_hex(from) + " aborted its move");
              return NetReply{};
            },
            // ---- operators ----
            [=](request_atom, const std::string& kind, const std::string& body) {
              handle_request(self, kind, body);
            },
            [=](watch_atom, const caf::actor& watcher) -> caf::result<ok_atom> {
              if (!watcher) return caf::make_error(caf::sec::invalid_argument);
              auto& s = self->state;
              if (s.watchers.count(watcher.address()) == 0 && s.watchers.size() >= s.ctx->options.max_watchers) {
                ++s.watch_refused;
                return caf::make_error(caf::sec::invalid_argument,
                                       "too many snapshot watchers (" + std::to_string(s.watchers.size()) + ")");
              }
              self->monitor(watcher);
              self->state.watchers[watcher.address()] = Watcher{watcher, 0};
              return ok_atom::value;
            },
            [=](unwatch_atom, const caf::actor& watcher) {
              if (!watcher) return;
              self->demonitor(watcher);
              self->state.watchers.erase(watcher.address());
            },
            [=](ack_atom) {
              const auto& sender = self->current_sender();
              if (!sender) return;
              auto it = self->state.watchers.find(caf::actor_cast<caf::actor_addr>(sender));
              if (it != self->state.watchers.end() && it->second.in_flight > 0) --it->second.in_flight;
            },
            // ---- this node's own actors ----
            // SnapshotMsg cannot be deserialized: only this process can send it.
            [=](local_snap_atom, const detail::SnapshotMsg& m) { on_snapshot(self, m.snapshot); },
            [=](claim_atom, const std::string& host, std::uint16_t port, NodeId node) -> int {
              if (!from_this_node(self)) return static_cast<int>(Claim::Duplicate);
              auto outcome = self->state.directory.claim(PeerAddress{host, port}, node);
              if (outcome.retired) self->send<caf::message_priority::high>(outcome.retired, stop_atom::value);
              return static_cast<int>(outcome.claim);
            },
            [=](state_atom, const std::string& host, std::uint16_t port, NodeId node, bool connected) {
              if (!from_this_node(self)) return;
              if (self->state.directory.report(PeerAddress{host, port}, node, connected)) refresh_gossip(self);
            },
            [=](forget_atom, const std::string& host, std::uint16_t port) {
              if (!from_this_node(self)) return;
              if (self->state.directory.forget(PeerAddress{host, port})) refresh_gossip(self);
            },
            [=](learn_atom, const std::vector<std::string>& addresses, const std::vector<std::uint64_t>& ids) {
              if (from_this_node(self)) learn(self, addresses, ids);
            },
            [=](commit_to_atom, std::uint64_t id) {
              auto& s = self->state;
              if (!s.in_flight || s.in_flight->id != id) return;
              finish_commit(self, reply_error(Errc::timeout, "the commit was published but its outcome did not show in "
                                                         "the audit ring in time; check status"));
            },
            [=](const GatewayCommand& cmd) {
              auto& s = self->state;
              switch (cmd.what) {
                case GatewayCommand::Stop: stop(self); break;
                case GatewayCommand::Silence: s.silent = true; break;
                case GatewayCommand::Listening:
                  s.self_address = cmd.address;
                  ++s.info_rev;
                  rebuild_hello(self);
                  break;
                case GatewayCommand::Join: join(self, cmd.peers); break;
                case GatewayCommand::Speak:
                  s.silent = false;
                  s.withheld.clear();
                  break;
                case GatewayCommand::Delay:
                  s.pong_delay = cmd.delay;
                  break;
              }
            },
        };
      },
      std::move(ctx));
}

}  // namespace meshos::net
