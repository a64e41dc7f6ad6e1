// Commits that cross nodes (replication.hpp, MeshOsState::fold): what a node keeps to offer its peers, how a
// commit forwarded by a peer is checked and folded, how freeze and thaw converge whatever order they arrive
// in, and how a node mirrors commits meant for another node.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>

#include "meshos/admin.hpp"
#include "meshos/replication.hpp"
#include "meshos/state.hpp"
#include "../support/state_node.hpp"
#include "../support/keys.hpp"

using namespace meshos;
using namespace std::chrono_literals;
using meshos::test::StateNode;

namespace {

constexpr NodeId kA = 0xA;
constexpr NodeId kB = 0xB;
constexpr NodeId kC = 0xC;

using meshos::test::key_from_byte;

const EntityKeypair kAlice = key_from_byte(0xa1);
const EntityKeypair kBob = key_from_byte(0xb0);

std::shared_ptr<AdminVerifier> verifier(VerifierPolicy policy = {}) {
  OperatorRegistry registry;
  REQUIRE(registry.add(kAlice.public_key()));
  REQUIRE(registry.add(kBob.public_key()));
  return std::make_shared<AdminVerifier>(std::move(registry), 1, policy);
}

VerifierPolicy without_cooldown() {
  VerifierPolicy p;
  p.ice_cooldown_ms = 0;
  return p;
}

// A node of a cluster of a, b and c that knows its two peers.
StateNode member(NodeId self, std::shared_ptr<AdminVerifier> v = verifier()) {
  MeshOsConfig config;
  config.this_node = self;
  StateNode n(std::move(config), std::move(v));
  for (NodeId peer : {kA, kB, kC})
    if (peer != self) n.fold(event::NodeHealth{peer, PeerHealth::Healthy});
  return n;
}

SignedAdminCommit admin_commit(std::int64_t issued_at_ms, AdminEvent e, const EntityKeypair& op = kAlice) {
  auto c = sign_admin(op, issued_at_ms, std::move(e));
  REQUIRE(c);
  return *c;
}

// Signed for the blast radius of the node it is submitted to (relayed copies are not simulated again).
SignedIceCommit break_glass(const StateNode& submitted_to, std::int64_t issued_at_ms, IceAction a,
                            const EntityKeypair& op = kAlice) {
  SignedIceCommit c;
  c.issued_at_ms = issued_at_ms;
  c.proposal = std::move(a);
  c.blast_radius_hash = submitted_to.radius_hash(c.proposal);
  auto sig = sign_ice(op, issued_at_ms, c.blast_radius_hash, c.proposal);
  REQUIRE(sig);
  c.signatures.push_back(*sig);
  return c;
}

const KnownCommit* known(const StateNode& n, CommitDigest d) {
  for (const auto& k : n.state.commits()->log)
    if (k.digest == d) return &k;
  return nullptr;
}

}  // namespace

TEST_CASE("a commit's digest is its signature's first 8 bytes, the same for every copy and signer order") {
  const auto c = admin_commit(1'000, admin::Cordon{kA});
  CommitDigest expected = 0;
  for (int i = 7; i >= 0; --i) expected = (expected << 8) | c.signature.signature[static_cast<std::size_t>(i)];
  CHECK(commit_digest(c) == expected);
  CHECK(commit_digest(AnySignedCommit{c}) == expected);

  const auto origin = member(kA);
  auto two = break_glass(origin, 1'000, ice::ThawCluster{});
  two.signatures.push_back(break_glass(origin, 1'000, ice::ThawCluster{}, kBob).signatures[0]);
  auto swapped = two;
  std::swap(swapped.signatures[0], swapped.signatures[1]);
  CHECK(commit_digest(two) == commit_digest(swapped));
  CHECK(commit_digest(two) != commit_digest(c));
  CHECK(std::string(commit_channel(AnySignedCommit{two})) == "ice");
  CHECK(std::string(commit_channel(AnySignedCommit{c})) == "admin");
}

TEST_CASE("CommitKnowledge: what a peer lacks, in the order this node learned it, at most max") {
  CommitKnowledge k;
  for (std::uint64_t i = 1; i <= 5; ++i) k.log.push_back(KnownCommit{i, 100 + i, AnySignedCommit{}, 0});
  k.refused = {900};
  CHECK(k.knows(103));
  CHECK(k.knows(900));
  CHECK_FALSE(k.knows(42));
  CHECK(k.digests() == std::vector<CommitDigest>{101, 102, 103, 104, 105, 900});
  auto missing = k.missing_from({102, 104}, 2);
  REQUIRE(missing.size() == 2);
  CHECK(missing[0]->digest == 101);
  CHECK(missing[1]->digest == 103);
  CHECK(k.missing_from(k.digests(), 10).empty());
}

TEST_CASE("a commit accepted from an operator is kept to offer - a relayed copy at a peer applies there once") {
  auto a = member(kA);
  auto b = member(kB);
  const auto freeze = break_glass(a, a.wall_ms, ice::FreezeCluster{60'000});
  const auto digest = commit_digest(freeze);

  REQUIRE_FALSE(a.fold(event::SignedIce{freeze}).rejected);
  const KnownCommit* at_a = known(a, digest);
  REQUIRE(at_a != nullptr);
  CHECK(at_a->relayed_from == 0);
  CHECK(a.state.actual().frozen(a.now));

  REQUIRE_FALSE(b.fold(event::SignedIce{freeze, kA}).rejected);
  CHECK(b.state.actual().frozen(b.now));
  const KnownCommit* at_b = known(b, digest);
  REQUIRE(at_b != nullptr);
  CHECK(at_b->relayed_from == kA);
  const AuditRecord& rec = b.state.audit().items().back();
  CHECK(rec.outcome == "accepted");
  CHECK(rec.relayed_from == kA);
  CHECK(rec.operators == std::vector<OperatorId>{kAlice.origin_hash()});
  CHECK(b.state.loop_stats().commits_relayed == 1);

  // A second copy (from c, or a sync racing the push) is ignored: no audit record, no second application.
  const auto audited = b.state.audit_seq();
  const auto revision = b.state.persistent_revision();
  CHECK_FALSE(b.fold(event::SignedIce{freeze, kC}).rejected);
  CHECK(b.state.audit_seq() == audited);
  CHECK(b.state.persistent_revision() == revision);  // nothing to save: a flood of copies writes nothing
  CHECK(b.state.loop_stats().commits_relayed_known == 1);

  // The same commit handed to b by an operator is a replay there too.
  auto replay = b.fold(event::SignedIce{freeze});
  REQUIRE(replay.rejected);
  CHECK(replay.rejected->kind == "commit_replayed");
}

TEST_CASE("a relayed commit is verified at the receiving node: a forged or foreign one is refused and remembered") {
  auto b = member(kB);
  auto forged = break_glass(b, b.wall_ms, ice::FreezeCluster{60'000});
  forged.signatures[0].signature[10] ^= 1;
  auto fx = b.fold(event::SignedIce{forged, kA});
  REQUIRE(fx.rejected);
  CHECK(fx.rejected->kind == "signature_invalid");
  CHECK_FALSE(b.state.actual().frozen(b.now));
  CHECK(b.state.commits()->knows(commit_digest(forged)));  // peers stop offering it
  CHECK(known(b, commit_digest(forged)) == nullptr);        // and b never offers it

  // Stale admin commits are refused as anywhere else.
  const auto stale = admin_commit(b.wall_ms - 400'000, admin::Cordon{kB});
  auto old = b.fold(event::SignedAdmin{stale, kA});
  REQUIRE(old.rejected);
  CHECK(old.rejected->kind == "envelope_expired");
  CHECK_FALSE(b.state.actual().cordoned);
}

TEST_CASE("freeze and thaw: the one issued last decides, in whatever order they arrive") {
  auto a = member(kA);
  auto b = member(kB);
  const auto freeze = break_glass(a, a.wall_ms, ice::FreezeCluster{60'000});
  const auto thaw = break_glass(a, a.wall_ms + 1'000, ice::ThawCluster{});

  a.fold(event::SignedIce{freeze});
  a.fold(event::SignedIce{thaw, kC});
  CHECK_FALSE(a.state.actual().frozen(a.now));

  b.fold(event::SignedIce{thaw, kC});
  auto late = b.fold(event::SignedIce{freeze, kA});
  REQUIRE(late.rejected);
  CHECK(late.rejected->kind == "superseded");
  CHECK_FALSE(b.state.actual().frozen(b.now));
  CHECK(a.state.actual().freeze_decided_by == b.state.actual().freeze_decided_by);

  // An operator's freeze issued before the thaw in force is refused the same way (on a node without the
  // cooldown, which would refuse it first).
  auto c = member(kC, verifier(without_cooldown()));
  c.fold(event::SignedIce{thaw, kA});
  auto older = c.fold(event::SignedIce{break_glass(c, a.wall_ms + 500, ice::FreezeCluster{60'000}, kBob)});
  REQUIRE(older.rejected);
  CHECK(older.rejected->kind == "superseded");
}

TEST_CASE("a freeze lasts from its issue time: a node learning it late is frozen until the same moment") {
  auto b = member(kB);
  const auto freeze = break_glass(b, b.wall_ms - 4'000, ice::FreezeCluster{10'000});
  REQUIRE_FALSE(b.fold(event::SignedIce{freeze, kA}).rejected);
  REQUIRE(b.state.actual().frozen_until);
  CHECK(*b.state.actual().frozen_until == b.now + 6'000ms);

  // A node back after longer than the freshness window still learns a freeze in force...
  auto c = member(kC);
  const auto long_freeze = break_glass(c, c.wall_ms - 600'000, ice::FreezeCluster{3'600'000});
  REQUIRE_FALSE(c.fold(event::SignedIce{long_freeze, kA}).rejected);
  CHECK(c.state.actual().frozen(c.now));
  // ...but an operator cannot hand it the same stale commit directly.
  auto d = member(kA);
  auto direct = d.fold(event::SignedIce{long_freeze});
  REQUIRE(direct.rejected);
  CHECK(direct.rejected->kind == "envelope_expired");
  // A freeze that has ended is no exception to freshness.
  auto ended = c.fold(event::SignedIce{break_glass(c, c.wall_ms - 600'000, ice::FreezeCluster{1'000}, kBob), kA});
  REQUIRE(ended.rejected);
  CHECK(ended.rejected->kind == "envelope_expired");
}

TEST_CASE("a relayed break-glass commit skips the cooldown (the admitting node checked it) and starts it here") {
  auto b = member(kB);
  REQUIRE_FALSE(b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::FlushAvoidLists{})}).rejected);
  b.advance(1'000ms);
  // Another flush accepted by a in the meantime applies at b although b's own cooldown runs.
  REQUIRE_FALSE(b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::FlushAvoidLists{}, kBob), kA}).rejected);
  // An operator's third flush at b is refused by the cooldown.
  b.advance(1'000ms);
  auto third = b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::FlushAvoidLists{})});
  REQUIRE(third.rejected);
  CHECK(third.rejected->kind == "ice_cooldown_active");
}

TEST_CASE("a relayed force-restart or kill-migration for something another node holds is known, not refused") {
  auto b = member(kB);
  auto restart = b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::ForceRestartDaemon{0xD1}), kA});
  CHECK_FALSE(restart.rejected);
  CHECK(restart.restart_daemons.empty());
  CHECK_FALSE(b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::KillMigration{3}), kA}).rejected);
  CHECK(b.state.commits()->log.size() == 2);
}

TEST_CASE("an admin commit for a known peer is accepted and mirrored - the peer applies its relayed copy") {
  auto a = member(kA);
  auto b = member(kB);
  const auto enter = admin_commit(a.wall_ms, admin::EnterMaintenance{kB, 30'000});

  auto at_a = a.fold(event::SignedAdmin{enter});
  REQUIRE_FALSE(at_a.rejected);
  CHECK(kind_of(a.state.actual().maintenance) == MaintenanceKind::Active);
  REQUIRE(a.state.actual().peers.at(kB).maintenance);
  CHECK(kind_of(*a.state.actual().peers.at(kB).maintenance) == MaintenanceKind::EnteringMaintenance);
  CHECK(a.state.audit().items().back().mirrored_for == kB);
  REQUIRE(known(a, commit_digest(enter)) != nullptr);

  auto at_b = b.fold(event::SignedAdmin{enter, kA});
  REQUIRE_FALSE(at_b.rejected);
  CHECK(kind_of(b.state.actual().maintenance) == MaintenanceKind::EnteringMaintenance);
  REQUIRE(at_b.maintenance_changed);
  CHECK(b.state.audit().items().back().mirrored_for == 0);
  CHECK(b.state.audit().items().back().relayed_from == kA);

  // Exit mirrored at a once b's drain is under way.
  const auto exit = admin_commit(a.wall_ms + 1, admin::ExitMaintenance{kB});
  REQUIRE_FALSE(a.fold(event::SignedAdmin{exit}).rejected);
  CHECK(kind_of(*a.state.actual().peers.at(kB).maintenance) == MaintenanceKind::ExitingMaintenance);
}

TEST_CASE("freeze: an operator's commit for a peer is refused - a relayed one is mirrored unless it is for this node") {
  auto b = member(kB);
  REQUIRE_FALSE(b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::FreezeCluster{60'000})}).rejected);
  auto for_c = b.fold(event::SignedAdmin{admin_commit(b.wall_ms, admin::Cordon{kC})});
  REQUIRE(for_c.rejected);
  CHECK(for_c.rejected->kind == "freeze_in_effect");
  CHECK_FALSE(b.fold(event::SignedAdmin{admin_commit(b.wall_ms, admin::Cordon{kC}, kBob), kA}).rejected);
  auto for_b = b.fold(event::SignedAdmin{admin_commit(b.wall_ms, admin::Cordon{kB}), kA});
  REQUIRE(for_b.rejected);
  CHECK(for_b.rejected->kind == "freeze_in_effect");
  CHECK_FALSE(b.state.actual().cordoned);
}

TEST_CASE("the log keeps fresh commits and the freeze in force - it forgets the rest on a tick") {
  auto a = member(kA);
  const auto freeze = break_glass(a, a.wall_ms, ice::FreezeCluster{3'600'000});
  const auto cordon = admin_commit(a.wall_ms, admin::Cordon{kA});
  REQUIRE_FALSE(a.fold(event::SignedAdmin{cordon}).rejected);
  REQUIRE_FALSE(a.fold(event::SignedIce{freeze}).rejected);
  a.fold(event::Tick{});
  CHECK(a.state.commits()->log.size() == 2);
  const auto before = a.state.commits();

  a.advance(Millis(VerifierPolicy{}.freshness_ms + VerifierPolicy{}.future_skew_ms + 1));
  a.fold(event::Tick{});
  REQUIRE(a.state.commits()->log.size() == 1);
  CHECK(a.state.commits()->log[0].digest == commit_digest(freeze));
  CHECK(before->log.size() == 2);  // a snapshot holding the old value keeps it: the knowledge is immutable

  a.advance(3'600'000ms);
  a.fold(event::Tick{});
  CHECK(a.state.commits()->log.empty());
}

TEST_CASE("a full log forgets its oldest commit first and counts it") {
  auto a = member(kA);
  for (std::size_t i = 0; i < kCommitLogCapacity + 3; ++i) {
    REQUIRE_FALSE(a.fold(event::SignedAdmin{admin_commit(a.wall_ms + static_cast<std::int64_t>(i),
                                                         i % 2 ? admin::Cordon{kA} : AdminEvent{admin::Uncordon{kA}})})
                      .rejected);
  }
  const auto& log = a.state.commits()->log;
  CHECK(log.size() == kCommitLogCapacity);
  CHECK(log.front().seq == 4);
  CHECK(a.state.loop_stats().commit_log_evicted == 3);
}

TEST_CASE("after a restart, a relayed copy of a commit the node accepted before is known again, not refused") {
  auto v = verifier();
  auto a = member(kA, v);
  const auto cordon = admin_commit(a.wall_ms, admin::Cordon{kA});
  REQUIRE_FALSE(a.fold(event::SignedAdmin{cordon}).rejected);

  auto restarted_verifier = verifier();
  REQUIRE(restarted_verifier->restore(v->memory(), a.wall_ms));
  auto again = member(kA, restarted_verifier);
  again.wall_ms = a.wall_ms;
  const auto audited = again.state.audit_seq();
  CHECK_FALSE(again.fold(event::SignedAdmin{cordon, kB}).rejected);
  CHECK(again.state.audit_seq() == audited);
  CHECK(known(again, commit_digest(cordon)) != nullptr);
  CHECK(again.state.loop_stats().commits_relayed_known == 1);
}

TEST_CASE("without a verifier a relayed commit applies as unverified, once") {
  MeshOsConfig config;
  config.this_node = kB;
  StateNode b(config);
  const auto cordon = admin_commit(b.wall_ms, admin::Cordon{kB});
  REQUIRE_FALSE(b.fold(event::SignedAdmin{cordon, kA}).rejected);
  CHECK(b.state.actual().cordoned);
  CHECK(b.state.audit().items().back().outcome == "unverified");
  b.fold(event::Admin{admin::Uncordon{kB}});
  CHECK_FALSE(b.fold(event::SignedAdmin{cordon, kC}).rejected);
  CHECK_FALSE(b.state.actual().cordoned);  // the second copy was not applied
}

TEST_CASE("a node that learns a freeze from a peer cools down until the admitting node does") {
  auto b = member(kB);
  // Admitted by a 100 s ago; b learns it now (it was away).
  const auto freeze = break_glass(b, b.wall_ms - 100'000, ice::FreezeCluster{600'000});
  REQUIRE_FALSE(b.fold(event::SignedIce{freeze, kA}).rejected);
  auto thaw = b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::ThawCluster{}, kBob)});
  REQUIRE(thaw.rejected);
  CHECK(thaw.rejected->kind == "ice_cooldown_active");
  b.advance(200'000ms);  // 300 s after the freeze was issued: the cooldown ends here as it does on a
  CHECK_FALSE(b.fold(event::SignedIce{break_glass(b, b.wall_ms, ice::ThawCluster{}, kBob)}).rejected);
  CHECK_FALSE(b.state.actual().frozen(b.now));
}
