// MeshNode and RemoteNode over loopback: mesh formation and gossip, failure detection and re-admission,
// operator requests and signed commits, snapshot streaming, TLS. Several nodes per process, each with its
// own actor system; ephemeral ports; every wait bounded.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include <caf/all.hpp>
#include <nlohmann/json.hpp>

#include "meshos/caf.hpp"
#include "mesh_support.hpp"

namespace meshos::test {

namespace {

using nlohmann::json;

std::unique_ptr<RemoteNode> operator_for(const MeshNode& node, const TlsOptions& tls = {}) {
  auto remote = RemoteNode::connect(loopback(node.port()), tls, 5s);
  REQUIRE_MESSAGE(remote, (remote ? "" : remote.error().to_string()));
  return std::move(*remote);
}

json request_json(RemoteNode& remote, const std::string& kind, const std::string& body = "{}") {
  auto reply = remote.request(kind, body);
  REQUIRE_MESSAGE(reply, (reply ? "" : reply.error().to_string()));
  return json::parse(*reply);
}

// A node whose signed commits are checked against one operator key.
struct VerifyingNode {
  EntityKeypair op = EntityKeypair::generate();
  std::unique_ptr<MeshNode> node;
  VerifyingNode() {
    OperatorRegistry registry;
    REQUIRE(registry.add(op.public_key()));
    SdkOptions options;
    options.verifier = std::make_shared<AdminVerifier>(std::move(registry), 1);
    node = start_node(fast_network(), std::move(options));
  }
  std::string signed_commit(AdminEvent e, std::int64_t issued_at = wall_clock_ms()) const {
    auto c = sign_admin(op, issued_at, std::move(e));
    REQUIRE(c);
    json j = *c;
    return j.dump();
  }
};


}  // namespace

TEST_CASE("two nodes joined by one side see each other healthy with rtt, version, name and maintenance") {
  auto a = start_node();
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port())};
  net_b.software_version = "9.9.9-test";
  net_b.node_name = "node-b";
  auto b = start_node(net_b);
  SnapshotWatch wa(a->sdk()), wb(b->sdk());

  auto seen_by_b = wb.wait([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a->node_id()); });
  REQUIRE(seen_by_b);
  // a learned b from b's hello alone (a was configured with no peers).
  auto seen_by_a = wa.wait([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b->node_id()); });
  REQUIRE(seen_by_a);
  const auto& b_in_a = seen_by_a->peers.at(b->node_id());
  CHECK(b_in_a.version == "9.9.9-test");
  CHECK(b_in_a.name == "node-b");  // from its signed hello
  CHECK(seen_by_b->peers.at(a->node_id()).name.empty());  // a gives none
  auto status = RemoteNode::connect(loopback(b->port()));
  REQUIRE(status);
  CHECK(nlohmann::json::parse((*status)->request("status", "{}").value()).at("name") == "node-b");
  status->reset();
  REQUIRE(b_in_a.maintenance.has_value());
  CHECK(kind_of(*b_in_a.maintenance) == MaintenanceKind::Active);
  CHECK(seen_by_a->peers.count(a->node_id()) == 0);  // never a peer of itself

  REQUIRE(b->shutdown());
  REQUIRE(a->shutdown());
}


TEST_CASE("a node on the application's own actor system joins a node on its own - the system outlives it") {
  auto own = fast_network();
  caf::actor_system_config cfg;
  prepare_system_config(cfg, own.heartbeat_interval);
  caf::actor_system app_system(cfg);
  const NodeId id = fresh_node_id();
  auto started = start_node(app_system, node_config(id), with_key(own, id));
  REQUIRE_MESSAGE(started, (started ? "" : started.error().message));
  auto a = std::move(*started);
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b);
  SnapshotWatch wa(a->sdk()), wb(b->sdk());
  CHECK(wb.wait([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a->node_id()); }));
  CHECK(wa.wait([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b->node_id()); }));
  REQUIRE(b->shutdown());
  auto stats = a->shutdown();
  REQUIRE(stats);
  CHECK_FALSE(stats->forced);

  // The application's system still runs its own actors.
  auto echo = app_system.spawn([](caf::event_based_actor*, int) -> caf::behavior {
    return {[](int x) { return x + 1; }};
  }, 0);
  caf::scoped_actor self{app_system};
  int answer = 0;
  self->request(echo, std::chrono::seconds(10), 41).receive([&](int x) { answer = x; }, [](caf::error&) {});
  CHECK(answer == 42);
  self->send_exit(echo, caf::exit_reason::user_shutdown);
}

TEST_CASE("a node refuses an application's actor system that was not prepared for it") {
  caf::actor_system_config plain_cfg;
  caf::actor_system plain(plain_cfg);
  const NodeId id = fresh_node_id();
  auto refused = start_node(plain, node_config(id), with_key(fast_network(), id));
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::invalid_config);
  CHECK(refused.error().message.find("prepare_system_config") != std::string::npos);
}

TEST_CASE("a peer whose heartbeats come back slower than the RTT threshold lands on the avoid list") {
  auto slow = start_node();
  auto cfg = node_config(fresh_node_id());
  cfg.rtt_degraded_threshold = 40ms;
  auto net = fast_network();
  net.peers = {loopback(slow->port())};
  auto started = MeshNode::start(cfg, with_key(net, cfg.this_node));
  REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  auto& watcher = *started;
  SnapshotWatch w(watcher->sdk());
  REQUIRE(w.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, slow->node_id()); }));
  auto avoided = [&](const MeshOsSnapshot& s) {
    for (auto& a : s.avoid)
      if (a.peer == slow->node_id()) return true;
    return false;
  };
  CHECK_FALSE(avoided(*watcher->sdk().snapshot()));  // loopback is far below 40 ms
  slow->set_heartbeat_delay(120ms);
  auto snap = w.wait(avoided);
  REQUIRE(static_cast<bool>(snap));
  CHECK(snap->peers.at(slow->node_id()).rtt_ms.value_or(0) > 40.0);
  for (auto& a : snap->avoid)
    if (a.peer == slow->node_id()) CHECK(a.reason.find("rtt") != std::string::npos);
  REQUIRE(watcher->shutdown());
  REQUIRE(slow->shutdown());
}

TEST_CASE("a change of peer health is published at once, not at the next tick") {
  auto cfg = node_config(fresh_node_id());
  cfg.tick_interval = std::chrono::hours(1);  // after the first snapshot, only news publishes one
  auto started = MeshNode::start(cfg, with_key(fast_network(), cfg.this_node));
  REQUIRE_MESSAGE(started, (started ? "" : started.error().to_string()));
  auto& a = *started;
  SnapshotWatch w(a->sdk());
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b);
  const auto b_id = b->node_id();
  REQUIRE(w.seen([&](const MeshOsSnapshot& s) { return has_health(s, b_id, PeerHealth::Healthy); }));
  REQUIRE(b->shutdown());
  CHECK(w.seen([&](const MeshOsSnapshot& s) { return has_health(s, b_id, PeerHealth::Unreachable); }));
  REQUIRE(a->shutdown());
}

TEST_CASE("a third node introduced to one member learns the other through gossip") {
  auto a = start_node();
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b);
  auto net_c = fast_network();
  net_c.peers = {loopback(b->port())};  // c is told about b only
  auto c = start_node(net_c);
  SnapshotWatch wa(a->sdk()), wb(b->sdk()), wc(c->sdk());

  auto full_mesh = [](NodeId x, NodeId y) {
    return [=](const MeshOsSnapshot& s) { return healthy_with_rtt(s, x) && healthy_with_rtt(s, y); };
  };
  CHECK(wa.seen(full_mesh(b->node_id(), c->node_id())));
  CHECK(wb.seen(full_mesh(a->node_id(), c->node_id())));
  CHECK(wc.seen(full_mesh(a->node_id(), b->node_id())));

  REQUIRE(c->shutdown());
  REQUIRE(b->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("a peer that is shut down is unreachable at once, and a node back on its port is re-admitted") {
  auto net = fast_network();
  net.peer_timeout = 5s;  // far beyond the waits below: only the connection loss can explain Unreachable
  auto a = start_node(net);
  const NodeId b_id = fresh_node_id();
  auto net_b = net;
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b, {}, b_id);
  const auto b_port = b->port();
  SnapshotWatch wa(a->sdk());
  REQUIRE(wa.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b_id); }));

  REQUIRE(b->shutdown());
  CHECK(wa.seen([&](const MeshOsSnapshot& s) { return has_health(s, b_id, PeerHealth::Unreachable); }, 2s));

  // The same node comes back on the same port with the same configuration (a restart) and dials a again.
  auto net_again = net_b;
  net_again.listen_port = b_port;
  auto b_again = start_node(net_again, {}, b_id);
  CHECK(wa.seen([&](const MeshOsSnapshot& s) { return has_health(s, b_id, PeerHealth::Healthy); }));
  auto logs = a->sdk().snapshot()->logs;
  CHECK(std::any_of(logs.begin(), logs.end(),
                    [](const LogRecord& r) { return r.message.find("connection lost") != std::string::npos; }));

  REQUIRE(b_again->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("a peer that stops answering is unreachable after the peer timeout and healthy once it answers") {
  auto a = start_node();
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b);
  SnapshotWatch wa(a->sdk());
  REQUIRE(wa.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b->node_id()); }));

  b->set_unresponsive(true);
  CHECK(wa.seen([&](const MeshOsSnapshot& s) { return has_health(s, b->node_id(), PeerHealth::Unreachable); }));
  b->set_unresponsive(false);
  CHECK(wa.seen([&](const MeshOsSnapshot& s) { return has_health(s, b->node_id(), PeerHealth::Healthy); }));

  REQUIRE(b->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("a peer configured under several addresses is tracked once") {
  auto a = start_node();
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port()), PeerAddress{"localhost", a->port()}, loopback(a->port())};
  auto b = start_node(net_b);
  SnapshotWatch wb(b->sdk());
  REQUIRE(wb.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a->node_id()); }));
  auto remote = operator_for(*b);
  auto peers = request_json(*remote, "peers");
  CHECK(peers["peers"].size() == 1);
  REQUIRE(b->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("an operator reads status, snapshot, peers and filtered logs") {
  auto a = start_node();
  auto net_b = fast_network();
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b);
  SnapshotWatch wa(a->sdk());
  REQUIRE(wa.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b->node_id()); }));
  auto daemon = a->sdk().register_daemon(make_daemon("echo", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(daemon);
  REQUIRE(a->sdk().publish(event::Log{LogLine{LogLevel::Debug, std::nullopt, "quiet detail"}}));
  REQUIRE(daemon->publish_log(LogLevel::Warn, "daemon warning"));
  REQUIRE(wa.seen([](const MeshOsSnapshot& s) { return s.logs.size() >= 2 && !s.daemons.empty(); }));

  auto remote = operator_for(*a);
  auto status = request_json(*remote, "status");
  CHECK(status["node_id"] == to_hex(a->node_id()));
  CHECK(status["daemons"]["count"] == 1);
  CHECK(status["maintenance"]["state"].is_string());
  REQUIRE(status["peers"].size() == 1);
  CHECK(status["peers"][0]["node"] == to_hex(b->node_id()));
  CHECK(status["peers"][0]["health"] == "healthy");
  CHECK(status["peers"][0]["rtt_ms"].is_number());
  CHECK(status["listen"] == "127.0.0.1:" + std::to_string(a->port()));
  CHECK(status["version"].is_string());
  CHECK(status["audit"].is_array());

  auto snapshot_text = remote->request("snapshot", "");
  REQUIRE(snapshot_text);
  auto snap = snapshot_from_json(json::parse(*snapshot_text));
  REQUIRE(snap);
  CHECK(snap->node_id == a->node_id());
  CHECK(snap->peers.count(b->node_id()) == 1);

  auto peers = request_json(*remote, "peers");
  REQUIRE(peers["peers"].size() == 1);
  CHECK(peers["addresses"][0]["connected"] == true);
  CHECK(peers["addresses"][0]["node"] == to_hex(b->node_id()));

  auto warn = request_json(*remote, "logs", json{{"level", "warn"}}.dump());
  REQUIRE(!warn["logs"].empty());
  for (const auto& line : warn["logs"]) CHECK((line["level"] == "warn" || line["level"] == "error"));
  auto mine = request_json(*remote, "logs", json{{"daemon", to_hex(daemon->daemon_id())}}.dump());
  REQUIRE(mine["logs"].size() == 1);
  CHECK(mine["logs"][0]["message"] == "daemon warning");
  auto after = request_json(*remote, "logs", json{{"after_seq", warn["last_seq"]}}.dump());
  for (const auto& line : after["logs"]) CHECK(line["seq"].get<std::uint64_t>() > warn["last_seq"].get<std::uint64_t>());

  auto unknown = remote->request("reboot", "{}");
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code() == Errc::unknown_request);
  auto bad_logs = remote->request("logs", "{\"level\": \"loud\"}");
  REQUIRE_FALSE(bad_logs);
  CHECK(bad_logs.error().code() == Errc::invalid_request);
  auto not_json = remote->request("admin", "{not json");
  REQUIRE_FALSE(not_json);
  CHECK(not_json.error().code() == Errc::invalid_request);
  auto bad_commit = remote->request("admin", "{\"issued_at_ms\": 1}");
  REQUIRE_FALSE(bad_commit);
  CHECK(bad_commit.error().code() == Errc::invalid_commit);
  // Still serving after the bad requests.
  CHECK(remote->request("status", ""));

  remote.reset();
  REQUIRE(daemon->graceful_shutdown(1s));
  REQUIRE(b->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("an operator connecting where no node listens gets connect_failed") {
  auto a = start_node();
  const auto port = a->port();
  REQUIRE(a->shutdown());
  auto remote = RemoteNode::connect(loopback(port), {}, 2s);
  REQUIRE_FALSE(remote);
  CHECK(remote.error().code() == Errc::connect_failed);
}

TEST_CASE("signed admin commits: accepted drains the node - forged, stale, replayed and unsigned are refused and audited") {
  VerifyingNode v;
  auto& node = *v.node;
  auto daemon = node.sdk().register_daemon(make_daemon("worker", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(daemon);
  SnapshotWatch watch(node.sdk());
  auto remote = operator_for(node);

  const std::string enter = v.signed_commit(admin::EnterMaintenance{node.node_id(), 60'000});
  auto accepted = remote->request("admin", enter);
  REQUIRE_MESSAGE(accepted, (accepted ? "" : accepted.error().to_string()));
  auto outcome = json::parse(*accepted);
  CHECK(outcome["outcome"] == "accepted");
  CHECK(outcome["event"] == "enter_maintenance");
  auto drain = daemon->next_control(10s);
  REQUIRE(drain);
  CHECK(std::holds_alternative<DrainStart>(*drain));
  CHECK(watch.seen([](const MeshOsSnapshot& s) { return kind_of(s.local_maintenance) == MaintenanceKind::Maintenance; }));

  auto replayed = remote->request("admin", enter);
  REQUIRE_FALSE(replayed);
  CHECK(replayed.error().code() == Errc::commit_replayed);

  auto stale = remote->request("admin", v.signed_commit(admin::Cordon{node.node_id()}, wall_clock_ms() - 600'000));
  REQUIRE_FALSE(stale);
  CHECK(stale.error().code() == Errc::envelope_expired);

  // Signed by a key the registry does not hold, under the registered operator's id.
  auto intruder = EntityKeypair::generate();
  auto forged = sign_admin(intruder, wall_clock_ms(), admin::Cordon{node.node_id()});
  REQUIRE(forged);
  auto genuine = sign_admin(v.op, wall_clock_ms(), admin::Cordon{node.node_id()});
  REQUIRE(genuine);
  forged->signature.operator_id = genuine->signature.operator_id;
  auto forged_reply = remote->request("admin", json(*forged).dump());
  REQUIRE_FALSE(forged_reply);
  CHECK(forged_reply.error().code() == Errc::signature_invalid);

  auto unsigned_reply = remote->request("admin", json{{"unsigned", json(AdminEvent{admin::Uncordon{0}})}}.dump());
  REQUIRE_FALSE(unsigned_reply);
  CHECK(unsigned_reply.error().code() == Errc::not_authorized);

  // The audit keeps what the operator signed; the forged and the unsigned commit, which no registered
  // operator's signature vouches for, are only counted, and name nobody as their author.
  auto status = request_json(*remote, "status");
  std::vector<std::string> kinds;
  for (const auto& rec : status["audit"]) kinds.push_back(rec["outcome"].get<std::string>() + ":" +
                                                          rec["reason_kind"].get<std::string>());
  CHECK(kinds == std::vector<std::string>{"accepted:", "rejected:commit_replayed", "rejected:envelope_expired"});
  auto snapshot = snapshot_from_json(request_json(*remote, "snapshot"));
  REQUIRE(snapshot);
  CHECK(snapshot->audit_strangers.by_kind ==
        std::map<std::string, std::uint64_t>{{"not_authorized", 1}, {"signature_invalid", 1}});
  REQUIRE(snapshot->audit_strangers.last.has_value());
  CHECK(snapshot->audit_strangers.last->operators.empty());
  for (const auto& rec : snapshot->audit)
    if (rec.reason_kind == "signature_invalid") CHECK(rec.operators.empty());

  remote.reset();
  (void)daemon->graceful_shutdown(1s);
  REQUIRE(node.shutdown());
}

TEST_CASE("without a verifier, unsigned admin commits apply and signed ones fold as unverified") {
  auto node = start_node();
  auto remote = operator_for(*node);
  // Commits name their node, here too: 0 is no node.
  auto no_target = remote->request("admin", json{{"unsigned", json(AdminEvent{admin::Cordon{0}})}}.dump());
  REQUIRE_FALSE(no_target);
  CHECK(no_target.error().code() == Errc::wrong_node);
  auto cordon = request_json(*remote, "admin",
                             json{{"unsigned", json(AdminEvent{admin::Cordon{node->node_id()}})}}.dump());
  CHECK(cordon["outcome"] == "accepted");
  CHECK(cordon["commit"] == "local");
  auto op = EntityKeypair::generate();
  auto signed_commit = sign_admin(op, wall_clock_ms(), admin::Uncordon{node->node_id()});
  REQUIRE(signed_commit);
  auto uncordon = request_json(*remote, "admin", json(*signed_commit).dump());
  CHECK(uncordon["outcome"] == "unverified");
  auto wrong_node = remote->request("admin", json{{"unsigned", json(AdminEvent{admin::Cordon{node->node_id() + 1}})}}.dump());
  REQUIRE_FALSE(wrong_node);
  CHECK(wrong_node.error().code() == Errc::wrong_node);
  remote.reset();
  REQUIRE(node->shutdown());
}

TEST_CASE("watch streams pushed snapshots with increasing seq") {
  auto node = start_node();
  auto remote = operator_for(*node);
  std::vector<std::uint64_t> seqs;
  auto result = remote->watch([&](const std::string& text) {
    auto snap = snapshot_from_json(json::parse(text));
    REQUIRE(snap);
    CHECK(snap->node_id == node->node_id());
    seqs.push_back(snap->seq);
    return seqs.size() < 3;
  });
  REQUIRE(result);
  REQUIRE(seqs.size() == 3);
  CHECK(seqs[0] < seqs[1]);
  CHECK(seqs[1] < seqs[2]);
  // The connection is still usable after the watch ended.
  CHECK(remote->request("status", ""));
  remote.reset();
  REQUIRE(node->shutdown());
}

TEST_CASE("watch ends with connection_lost when the node goes away") {
  auto node = start_node();
  auto remote = operator_for(*node);
  int seen = 0;
  auto result = remote->watch([&](const std::string&) {
    if (++seen == 1) REQUIRE(node->shutdown());
    return true;
  });
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == Errc::connection_lost);
  auto after = remote->request("status", "");
  REQUIRE_FALSE(after);
  CHECK(after.error().code() == Errc::connection_lost);
}

TEST_CASE("TLS: nodes with certificates from the same CA form - a node from another CA is refused") {
  TestPki pki;
  pki.make_ca("ca1");
  pki.make_ca("ca2");
  auto net_a = fast_network();
  const auto id_a = fresh_node_id();
  net_a.tls = pki.make_cert("ca1", "node-a", id_a);
  auto a = start_node(net_a, {}, id_a);
  auto net_b = fast_network();
  const auto id_b = fresh_node_id();
  net_b.tls = pki.make_cert("ca1", "node-b", id_b);
  net_b.peers = {loopback(a->port())};
  auto b = start_node(net_b, {}, id_b);
  SnapshotWatch wa(a->sdk()), wb(b->sdk());
  REQUIRE(wa.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b->node_id()); }));
  REQUIRE(wb.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a->node_id()); }));

  // An operator needs a certificate from the node's CA too.
  auto op = operator_for(*a, pki.make_cert("ca1", "operator"));
  CHECK(request_json(*op, "status")["tls"] == true);
  auto foreign_op = RemoteNode::connect(loopback(a->port()), pki.make_cert("ca2", "foreign-operator"), 2s);
  REQUIRE_FALSE(foreign_op);
  CHECK(foreign_op.error().code() == Errc::connect_failed);
  auto plain_op = RemoteNode::connect(loopback(a->port()), {}, 2s);
  CHECK_FALSE(plain_op);

  auto net_x = fast_network();
  const auto id_x = fresh_node_id();
  net_x.tls = pki.make_cert("ca2", "intruder", id_x);
  net_x.peers = {loopback(a->port())};
  net_x.reconnect_initial = 1s;  // knocks rarely: each refusal disturbs the node it knocks at (see below)
  net_x.reconnect_max = 10s;
  auto x = start_node(net_x, {}, id_x);
  SnapshotWatch wx(x->sdk());
  // The refusal shows in the intruder's log; it is never admitted on either side.
  CHECK(wx.seen([](const MeshOsSnapshot& s) {
    return std::any_of(s.logs.begin(), s.logs.end(),
                       [](const LogRecord& r) { return r.message.find("cannot connect") != std::string::npos; });
  }));
  CHECK(x->sdk().snapshot()->peers.empty());
  CHECK(a->sdk().snapshot()->peers.count(x->node_id()) == 0);
  // CAF 0.17's TLS layer may drop a node's other connections when it refuses a handshake; the members
  // must come back together (re-admission), whatever the intruder does.
  CHECK(wa.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, b->node_id()); }, 5s));
  CHECK(wb.seen([&](const MeshOsSnapshot& s) { return healthy_with_rtt(s, a->node_id()); }, 5s));

  op.reset();
  REQUIRE(x->shutdown());
  REQUIRE(b->shutdown());
  REQUIRE(a->shutdown());
}

TEST_CASE("TlsOptions::validate rejects missing, garbage and mismatched files with invalid_tls") {
  TestPki pki;
  pki.make_ca("ca");
  auto good = pki.make_cert("ca", "node");
  CHECK(good.validate());
  auto other = pki.make_cert("ca", "other");

  auto missing = good;
  missing.key = pki.path("nope.key");
  auto r = missing.validate();
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == Errc::invalid_tls);
  CHECK(r.error().message.find("nope.key") != std::string::npos);

  {
    std::ofstream(pki.path("garbage.pem")) << "this is not PEM\n";
  }
  auto garbage = good;
  garbage.certificate = pki.path("garbage.pem");
  r = garbage.validate();
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == Errc::invalid_tls);
  CHECK(r.error().message.find("garbage.pem") != std::string::npos);

  auto mismatched = good;
  mismatched.key = other.key;
  r = mismatched.validate();
  REQUIRE_FALSE(r);
  CHECK(r.error().code() == Errc::invalid_tls);

  auto partial = good;
  partial.ca_file.clear();
  CHECK_FALSE(partial.validate());

  // A node refuses to start on bad files instead of letting CAF terminate at the first handshake.
  auto net = fast_network();
  net.tls = garbage;
  auto id = fresh_node_id();
  auto node = MeshNode::start(node_config(id), with_key(net, id));
  REQUIRE_FALSE(node);
  CHECK(node.error().code() == Errc::invalid_tls);
}

TEST_CASE("PeerAddress::parse accepts host:port and rejects the rest with invalid_address") {
  auto ok = PeerAddress::parse("127.0.0.1:4000");
  REQUIRE(ok);
  CHECK(ok->host == "127.0.0.1");
  CHECK(ok->port == 4000);
  CHECK(PeerAddress::parse("[::1]:7")->host == "::1");
  for (const char* bad : {"", "host", "host:", ":80", "host:0", "host:65536", "host:8o", "host:123456"}) {
    auto r = PeerAddress::parse(bad);
    CHECK_MESSAGE(!r, bad);
    if (!r) CHECK(r.error().code() == Errc::invalid_address);
  }
}

TEST_CASE("a node writes its port file and refuses a port that is taken") {
  TestPki dir;  // only for its scratch directory
  auto net = fast_network();
  net.port_file = dir.path("port");
  auto a = start_node(net);
  std::ifstream in(net.port_file);
  int written = 0;
  in >> written;
  CHECK(written == a->port());

  auto taken = fast_network();
  taken.listen_port = a->port();
  auto id = fresh_node_id();
  auto clash = MeshNode::start(node_config(id), with_key(taken, id));
  // SO_REUSEADDR lets a restart bind through TIME_WAIT, yet a live listener still holds the port.
  REQUIRE_FALSE(clash);
  CHECK(clash.error().code() == Errc::listen_failed);
  REQUIRE(a->shutdown());
}


TEST_CASE("a node name that is too long or holds other characters than letters, digits, '.', '_', '-' is refused") {
  CHECK(is_valid_node_name(""));
  CHECK(is_valid_node_name("node-a.eu_1"));
  CHECK(is_valid_node_name(std::string(kMaxNodeNameBytes, 'n')));
  CHECK_FALSE(is_valid_node_name(std::string(kMaxNodeNameBytes + 1, 'n')));
  for (const char* bad : {"node a", "node\n", "n\xc3\xa9", "a/b", "x:1"}) {
    CAPTURE(bad);
    CHECK_FALSE(is_valid_node_name(bad));
    auto net = fast_network();
    net.node_name = bad;
    const NodeId id = fresh_node_id();
    auto started = MeshNode::start(node_config(id), with_key(net, id), nullptr);
    REQUIRE_FALSE(started);
    CHECK(started.error().code() == Errc::invalid_config);
  }
}

TEST_CASE("RemoteNode::watch with a bound ends with timeout when the callback never says stop - and can watch again") {
  auto node = start_node();
  auto remote = RemoteNode::connect(loopback(node->port()));
  REQUIRE(remote);
  std::size_t seen = 0;
  auto bounded = (*remote)->watch(
      [&](const std::string&) {
        ++seen;
        return true;
      },
      std::chrono::milliseconds(300));
  REQUIRE_FALSE(bounded);
  CHECK(bounded.error().code() == Errc::timeout);
  CHECK(seen >= 1);  // the node pushed its snapshot first
  auto again = (*remote)->watch([](const std::string&) { return false; }, std::chrono::seconds(10));
  CHECK(again);
  remote->reset();
  REQUIRE(node->shutdown());
}
}  // namespace meshos::test
