#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/identity.hpp"
#include "meshos/operators.hpp"
#include "meshos/types.hpp"
#include "../support/keys.hpp"

using meshos::AdminVerifier;
using meshos::BlastRadiusHash;
using meshos::EntityKeypair;
using meshos::OperatorRegistry;
using meshos::SignedAdminCommit;
using meshos::SignedIceCommit;
using meshos::VerificationOutcome;
using nlohmann::json;
namespace admin = meshos::admin;
namespace ice = meshos::ice;

namespace {

constexpr std::int64_t kNow = 1700000000000;
constexpr std::int64_t kFreshness = 300'000;
constexpr std::int64_t kSkew = 30'000;
constexpr std::int64_t kCooldown = 300'000;

using meshos::test::key_from_byte;

// Three registered operators and one stranger, fixed so failures reproduce.
struct Operators {
  EntityKeypair alice = key_from_byte(0xa1);
  EntityKeypair bob = key_from_byte(0xb0);
  EntityKeypair carol = key_from_byte(0xc0);
  EntityKeypair mallory = key_from_byte(0x66);

  OperatorRegistry registry() const {
    OperatorRegistry r;
    REQUIRE(r.add(alice.public_key()));
    REQUIRE(r.add(bob.public_key()));
    REQUIRE(r.add(carol.public_key()));
    return r;
  }
};

std::string public_hex(const EntityKeypair& k) { return meshos::bytes_to_hex(k.public_key().data(), 32); }

BlastRadiusHash simulated() {
  BlastRadiusHash h{};
  h.fill(0x5a);
  return h;
}

SignedAdminCommit admin_commit(const EntityKeypair& op, std::int64_t issued_at, meshos::AdminEvent e,
                               const std::string& cluster = meshos::kDefaultClusterName) {
  auto c = meshos::sign_admin(op, issued_at, std::move(e), cluster);
  REQUIRE(c);
  return *c;
}

SignedIceCommit ice_commit(const std::vector<const EntityKeypair*>& signers, std::int64_t issued_at,
                           meshos::IceAction action, BlastRadiusHash blast = simulated(),
                           const std::string& cluster = meshos::kDefaultClusterName) {
  SignedIceCommit c{issued_at, blast, action, {}, cluster};
  for (const auto* k : signers) {
    auto sig = meshos::sign_ice(*k, issued_at, blast, action, cluster);
    REQUIRE(sig);
    c.signatures.push_back(*sig);
  }
  return c;
}

// A verifier whose replay memory holds at most `bound` signatures.
AdminVerifier remembering(const Operators& ops, std::size_t bound, std::size_t threshold = 1) {
  meshos::VerifierPolicy policy;
  policy.replay_memory = bound;
  return AdminVerifier(ops.registry(), threshold, policy);
}

bool accepted(const VerificationOutcome& o) { return std::holds_alternative<meshos::outcome::Accepted>(o); }

std::string rejection_kind(const VerificationOutcome& o) {
  const auto* r = std::get_if<meshos::outcome::Rejected>(&o);
  return r == nullptr ? std::string("(") + meshos::outcome_kind(o) + ")" : r->kind;
}

std::string rejection_message(const VerificationOutcome& o) {
  const auto* r = std::get_if<meshos::outcome::Rejected>(&o);
  return r == nullptr ? std::string() : r->message;
}

// TempDir: test/support/temp_dir.hpp
using meshos::test::TempDir;

void check_invalid_registry(const json& j, const std::string& field) {
  CAPTURE(j.dump());
  auto result = OperatorRegistry::from_json(j);
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == meshos::Errc::invalid_operator_registry);
  CHECK_MESSAGE(result.error().message.find(field) != std::string::npos, result.error().message);
}

}  // namespace

// ---- registry ------------------------------------------------------------------------------------

TEST_CASE("registry: add, find and contains, and an operator's id is its key's origin hash") {
  Operators ops;
  OperatorRegistry r;
  CHECK(r.size() == 0);
  CHECK(r.find(ops.alice.origin_hash()) == nullptr);
  REQUIRE(r.add(ops.alice.public_key()));
  REQUIRE(r.add(ops.alice.public_key()));  // the same key again is harmless
  CHECK(r.size() == 1);
  CHECK(r.contains(ops.alice.origin_hash()));
  REQUIRE(r.find(ops.alice.origin_hash()) != nullptr);
  CHECK(*r.find(ops.alice.origin_hash()) == ops.alice.public_key());
  CHECK_FALSE(r.contains(ops.bob.origin_hash()));
  REQUIRE(r.add(ops.bob.public_key()));
  CHECK(r.size() == 2);
  CHECK(r.keys().at(ops.bob.origin_hash()) == ops.bob.public_key());
}

TEST_CASE("registry from JSON: operators with names") {
  Operators ops;
  const json j = {{"operators",
                   {{{"name", "alice"}, {"public_key", public_hex(ops.alice)}},
                    {{"name", "bob"}, {"public_key", public_hex(ops.bob)}}}}};
  auto r = OperatorRegistry::from_json(j);
  REQUIRE(r);
  CHECK(r->size() == 2);
  CHECK(*r->find(ops.alice.origin_hash()) == ops.alice.public_key());
  CHECK(r->names().at(ops.bob.origin_hash()) == "bob");

  auto empty = OperatorRegistry::from_json(json::parse(R"({"operators": []})"));
  REQUIRE(empty);
  CHECK(empty->size() == 0);
}

TEST_CASE("registry from JSON rejects malformed files, naming the field") {
  Operators ops;
  const std::string alice = public_hex(ops.alice);
  const std::string bob = public_hex(ops.bob);
  check_invalid_registry(json::parse("[]"), "\"operators\"");
  check_invalid_registry(json::parse("{}"), "operators: missing");
  check_invalid_registry(json::parse(R"({"operators": {}})"), "operators: expected an array");
  check_invalid_registry(json{{"operators", json::array()}, {"threshold", 2}}, "threshold: unknown field");
  check_invalid_registry(json{{"operators", {"alice"}}}, "operators[0]");
  check_invalid_registry(json{{"operators", {{{"public_key", alice}}}}}, "operators[0].name: missing");
  check_invalid_registry(json{{"operators", {{{"name", 1}, {"public_key", alice}}}}}, "operators[0].name");
  check_invalid_registry(json{{"operators", {{{"name", ""}, {"public_key", alice}}}}}, "operators[0].name");
  check_invalid_registry(json{{"operators", {{{"name", std::string(257, 'n')}, {"public_key", alice}}}}},
                         "operators[0].name");
  check_invalid_registry(json{{"operators", {{{"name", "alice"}}}}}, "operators[0].public_key: missing");
  check_invalid_registry(json{{"operators", {{{"name", "alice"}, {"public_key", 7}}}}}, "operators[0].public_key");
  check_invalid_registry(json{{"operators", {{{"name", "alice"}, {"public_key", alice.substr(2)}}}}},
                         "operators[0].public_key");
  check_invalid_registry(json{{"operators", {{{"name", "alice"}, {"public_key", alice.substr(1) + "z"}}}}},
                         "operators[0].public_key");
  check_invalid_registry(json{{"operators", {{{"name", "alice"}, {"public_key", alice}, {"role", "admin"}}}}},
                         "operators[0].role: unknown field");
  check_invalid_registry(
      json{{"operators", {{{"name", "alice"}, {"public_key", alice}}, {{"name", "alice"}, {"public_key", bob}}}}},
      "operators[1].name");
  check_invalid_registry(
      json{{"operators", {{{"name", "alice"}, {"public_key", alice}}, {{"name", "al"}, {"public_key", alice}}}}},
      "operators[1].public_key");
}

TEST_CASE("registry file: loads, and reports unreadable or malformed files") {
  Operators ops;
  TempDir dir;
  const std::string good = dir.write("operators.json", R"({"operators": [{"name": "alice", "public_key": ")" +
                                                           public_hex(ops.alice) + R"("}]})");
  auto r = OperatorRegistry::load_file(good);
  REQUIRE(r);
  CHECK(r->contains(ops.alice.origin_hash()));
  CHECK(r->names().at(ops.alice.origin_hash()) == "alice");

  auto missing = OperatorRegistry::load_file(dir.path() + "/absent.json");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == meshos::Errc::operator_file_not_found);
  CHECK(missing.error().message.find("absent.json") != std::string::npos);

  auto directory = OperatorRegistry::load_file(dir.path());
  REQUIRE_FALSE(directory);
  CHECK(directory.error().code() == meshos::Errc::operator_file_not_found);

  auto not_json = OperatorRegistry::load_file(dir.write("broken.json", "{\"operators\": ["));
  REQUIRE_FALSE(not_json);
  CHECK(not_json.error().code() == meshos::Errc::invalid_operator_registry);
  CHECK(not_json.error().message.find("broken.json") != std::string::npos);

  auto bad_entry = OperatorRegistry::load_file(dir.write("bad.json", R"({"operators": [{"name": "x"}]})"));
  REQUIRE_FALSE(bad_entry);
  CHECK(bad_entry.error().code() == meshos::Errc::invalid_operator_registry);
  CHECK(bad_entry.error().message.find("operators[0].public_key") != std::string::npos);

  auto huge = OperatorRegistry::load_file(dir.write("huge.json", std::string((1 << 20) + 1, ' ')));
  REQUIRE_FALSE(huge);
  CHECK(huge.error().code() == meshos::Errc::invalid_operator_registry);
}

// ---- verifier: construction and names --------------------------------------------------------------

TEST_CASE("outcome_kind names every outcome") {
  CHECK(std::string(meshos::outcome_kind(meshos::outcome::Accepted{})) == "accepted");
  CHECK(std::string(meshos::outcome_kind(meshos::outcome::Rejected{"not_authorized", "x"})) == "rejected");
  CHECK(std::string(meshos::outcome_kind(meshos::outcome::Unverified{})) == "unverified");
}

TEST_CASE("the break-glass threshold is clamped to at least one") {
  Operators ops;
  CHECK(AdminVerifier(ops.registry(), 0).threshold() == 1);
  CHECK(AdminVerifier(ops.registry(), 1).threshold() == 1);
  CHECK(AdminVerifier(ops.registry(), 2).threshold() == 2);
  CHECK(AdminVerifier(ops.registry(), 2).registry().size() == 3);

  // A zero threshold must not let an unsigned break-glass commit through.
  AdminVerifier verifier(ops.registry(), 0);
  auto outcome = verifier.verify_ice(ice_commit({}, kNow, ice::ThawCluster{}), kNow);
  CHECK(rejection_kind(outcome) == "insufficient_signatures");
  CHECK(rejection_message(outcome).find("0 of 1") != std::string::npos);
}

// ---- verifier: admin commits ---------------------------------------------------------------------

TEST_CASE("admin: a fresh commit by a registered operator is accepted") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  CHECK(accepted(verifier.verify_admin(admin_commit(ops.bob, kNow, admin::Drain{1}), kNow)));
  CHECK(accepted(verifier.verify_admin(admin_commit(ops.carol, kNow - 1000, admin::Cordon{1}), kNow)));
}

TEST_CASE("admin: an operator outside the registry is not_authorized") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  auto outcome = verifier.verify_admin(admin_commit(ops.mallory, kNow, admin::Drain{1}), kNow);
  CHECK(rejection_kind(outcome) == "not_authorized");
  CHECK(rejection_message(outcome).find(meshos::to_hex(ops.mallory.origin_hash())) != std::string::npos);
}

TEST_CASE("admin: a signature that does not match the commit is signature_invalid") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);

  auto altered_event = admin_commit(ops.alice, kNow, admin::Drain{1});
  altered_event.event = admin::Drain{2};
  CHECK(rejection_kind(verifier.verify_admin(altered_event, kNow)) == "signature_invalid");

  auto altered_time = admin_commit(ops.alice, kNow, admin::Drain{1});
  altered_time.issued_at_ms += 1;
  CHECK(rejection_kind(verifier.verify_admin(altered_time, kNow)) == "signature_invalid");

  auto altered_signature = admin_commit(ops.alice, kNow, admin::Drain{1});
  altered_signature.signature.signature[10] ^= 0x01;
  CHECK(rejection_kind(verifier.verify_admin(altered_signature, kNow)) == "signature_invalid");

  // Claiming to be bob while signing as alice.
  auto impersonation = admin_commit(ops.alice, kNow, admin::Drain{1});
  impersonation.signature.operator_id = ops.bob.origin_hash();
  CHECK(rejection_kind(verifier.verify_admin(impersonation, kNow)) == "signature_invalid");
}

TEST_CASE("admin: freshness window and future skew, with their boundaries") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  CHECK(accepted(verifier.verify_admin(admin_commit(ops.alice, kNow - kFreshness, admin::Drain{1}), kNow)));
  auto expired = verifier.verify_admin(admin_commit(ops.alice, kNow - kFreshness - 1, admin::Drain{2}), kNow);
  CHECK(rejection_kind(expired) == "envelope_expired");
  CHECK(rejection_message(expired).find("300001 ms") != std::string::npos);

  CHECK(accepted(verifier.verify_admin(admin_commit(ops.alice, kNow + kSkew, admin::Drain{3}), kNow)));
  auto future = verifier.verify_admin(admin_commit(ops.alice, kNow + kSkew + 1, admin::Drain{4}), kNow);
  CHECK(rejection_kind(future) == "envelope_from_future");
  CHECK(rejection_message(future).find("30001 ms") != std::string::npos);
}

TEST_CASE("admin: extreme timestamps are judged without overflow") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  const auto lowest = std::numeric_limits<std::int64_t>::min();
  const auto highest = std::numeric_limits<std::int64_t>::max();
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.alice, lowest, admin::Drain{1}), kNow)) ==
        "envelope_expired");
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.alice, highest, admin::Drain{1}), kNow)) ==
        "envelope_from_future");
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.alice, highest, admin::Drain{1}), lowest)) ==
        "envelope_from_future");
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.alice, lowest, admin::Drain{1}), highest)) ==
        "envelope_expired");
}

TEST_CASE("admin: the same commit twice is commit_replayed") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  const auto commit = admin_commit(ops.alice, kNow, admin::EnterMaintenance{1, 60000});
  CHECK(accepted(verifier.verify_admin(commit, kNow)));
  auto again = verifier.verify_admin(commit, kNow + 1000);
  CHECK(rejection_kind(again) == "commit_replayed");
  CHECK(rejection_message(again).find("enter_maintenance") != std::string::npos);
  // The same change re-signed with a new timestamp is a new commit.
  CHECK(accepted(verifier.verify_admin(admin_commit(ops.alice, kNow + 1, admin::EnterMaintenance{1, 60000}), kNow)));
}

TEST_CASE("admin: a rejected commit is not remembered as seen") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  const auto commit = admin_commit(ops.alice, kNow, admin::Drain{1});
  CHECK(rejection_kind(verifier.verify_admin(commit, kNow + kFreshness + 1)) == "envelope_expired");
  CHECK(accepted(verifier.verify_admin(commit, kNow)));
}

TEST_CASE("admin: a full replay memory refuses new commits instead of forgetting fresh signatures") {
  Operators ops;
  AdminVerifier verifier = remembering(ops, 2);
  const auto first = admin_commit(ops.alice, kNow, admin::Drain{1});
  const auto second = admin_commit(ops.alice, kNow, admin::Drain{2});
  CHECK(accepted(verifier.verify_admin(first, kNow)));
  CHECK(accepted(verifier.verify_admin(second, kNow)));
  auto full = verifier.verify_admin(admin_commit(ops.alice, kNow, admin::Drain{3}), kNow);
  CHECK(rejection_kind(full) == "replay_memory_full");
  // The oldest goes stale at kNow + kFreshness + 1: that is when the memory has room again.
  CHECK(rejection_message(full).find("forgotten in 300001 ms") != std::string::npos);
  // Both are still remembered: nothing was forgotten to make room.
  CHECK(rejection_kind(verifier.verify_admin(first, kNow + 1)) == "commit_replayed");
  CHECK(rejection_kind(verifier.verify_admin(second, kNow + 1)) == "commit_replayed");
  CHECK(verifier.memory().seen.size() == 2);
}

TEST_CASE("admin: flooding the default replay memory with fresh commits cannot revive an old one") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  const std::size_t bound = meshos::VerifierPolicy{}.replay_memory;
  const auto old = admin_commit(ops.alice, kNow, admin::Drain{0});
  CHECK(accepted(verifier.verify_admin(old, kNow)));
  std::size_t accepted_count = 1;
  std::string last_refusal;
  for (std::uint64_t i = 1; i <= bound; ++i) {
    auto outcome = verifier.verify_admin(admin_commit(ops.alice, kNow + 1, admin::Drain{i}), kNow + 1);
    if (accepted(outcome)) ++accepted_count;
    else last_refusal = rejection_kind(outcome);
  }
  CHECK(accepted_count == bound);
  CHECK(last_refusal == "replay_memory_full");
  // Still inside its freshness window, the first commit is still known.
  CHECK(rejection_kind(verifier.verify_admin(old, kNow + kFreshness)) == "commit_replayed");
}

TEST_CASE("admin: a signature is forgotten only once its commit is stale") {
  Operators ops;
  AdminVerifier verifier = remembering(ops, 1);
  const auto commit = admin_commit(ops.alice, kNow, admin::Drain{1});
  CHECK(accepted(verifier.verify_admin(commit, kNow)));
  // At the last moment the commit is fresh it is still remembered, and it still takes its place.
  CHECK(rejection_kind(verifier.verify_admin(commit, kNow + kFreshness)) == "commit_replayed");
  const auto next = admin_commit(ops.alice, kNow + kFreshness, admin::Drain{2});
  CHECK(rejection_kind(verifier.verify_admin(next, kNow + kFreshness)) == "replay_memory_full");
  // One millisecond later it is stale: forgotten, and a replay of it is refused as expired.
  CHECK(accepted(verifier.verify_admin(next, kNow + kFreshness + 1)));
  CHECK(rejection_kind(verifier.verify_admin(commit, kNow + kFreshness + 1)) == "envelope_expired");
  REQUIRE(verifier.memory().seen.size() == 1);
  CHECK(verifier.memory().seen[0].signature == next.signature.signature);
}

TEST_CASE("admin: a commit issued ahead of the clock is remembered until it is stale by its own time") {
  Operators ops;
  AdminVerifier verifier = remembering(ops, 1);
  const auto ahead = admin_commit(ops.alice, kNow + kSkew, admin::Drain{1});
  CHECK(accepted(verifier.verify_admin(ahead, kNow)));
  // kFreshness after acceptance it is still fresh (issued kFreshness - kSkew ago), so still remembered.
  const std::int64_t later = kNow + kFreshness + 1;
  CHECK(rejection_kind(verifier.verify_admin(ahead, later)) == "commit_replayed");
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.alice, later, admin::Drain{2}), later)) ==
        "replay_memory_full");
  const std::int64_t stale = kNow + kSkew + kFreshness + 1;
  CHECK(rejection_kind(verifier.verify_admin(ahead, stale)) == "envelope_expired");
  CHECK(accepted(verifier.verify_admin(admin_commit(ops.alice, stale, admin::Drain{2}), stale)));
}

TEST_CASE("admin: a commit signed for another cluster is wrong_cluster, refused as its signer's") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  auto outcome = verifier.verify_admin(admin_commit(ops.alice, kNow, admin::Drain{1}, "staging"), kNow);
  CHECK(rejection_kind(outcome) == "wrong_cluster");
  CHECK(std::get<meshos::outcome::Rejected>(outcome).authenticated);
  // A stranger's commit for another cluster is the stranger's: not_authorized, not authenticated.
  auto stranger = verifier.verify_admin(admin_commit(ops.mallory, kNow, admin::Drain{1}, "staging"), kNow);
  CHECK(rejection_kind(stranger) == "not_authorized");
  CHECK_FALSE(std::get<meshos::outcome::Rejected>(stranger).authenticated);
  auto forged = admin_commit(ops.alice, kNow, admin::Drain{1});
  forged.signature.signature[3] ^= 0x10;
  CHECK_FALSE(std::get<meshos::outcome::Rejected>(verifier.verify_admin(forged, kNow)).authenticated);
}

TEST_CASE("admin: the precheck runs after authentication and before admission") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  int prechecks = 0;
  auto refuse = [&]() -> std::optional<meshos::outcome::Rejected> {
    ++prechecks;
    return meshos::outcome::Rejected{"wrong_node", "not here"};
  };
  // A stranger never reaches it.
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.mallory, kNow, admin::Drain{1}), kNow, refuse)) ==
        "not_authorized");
  CHECK(prechecks == 0);
  // Its refusal wins over staleness, is authenticated, and does not use up the signature.
  const auto commit = admin_commit(ops.alice, kNow, admin::Drain{1});
  auto refused = verifier.verify_admin(commit, kNow + kFreshness + 1, refuse);
  CHECK(rejection_kind(refused) == "wrong_node");
  CHECK(std::get<meshos::outcome::Rejected>(refused).authenticated);
  CHECK(prechecks == 1);
  CHECK(verifier.memory().seen.empty());
  CHECK(accepted(verifier.verify_admin(commit, kNow, [] { return std::optional<meshos::outcome::Rejected>{}; })));
}

TEST_CASE("admin: a replay memory of zero still refuses an immediate replay") {
  Operators ops;
  AdminVerifier verifier = remembering(ops, 0);
  const auto commit = admin_commit(ops.alice, kNow, admin::Drain{1});
  CHECK(accepted(verifier.verify_admin(commit, kNow)));
  CHECK(rejection_kind(verifier.verify_admin(commit, kNow)) == "commit_replayed");
}

TEST_CASE("admin: check order is authorization, signature, freshness, replay") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  // A stranger's stale commit: not_authorized wins over envelope_expired.
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.mallory, kNow - kFreshness - 1, admin::Drain{1}),
                                             kNow)) == "not_authorized");
  // A forged stale commit: signature_invalid wins over envelope_expired.
  auto forged = admin_commit(ops.alice, kNow - kFreshness - 1, admin::Drain{1});
  forged.event = admin::Drain{9};
  CHECK(rejection_kind(verifier.verify_admin(forged, kNow)) == "signature_invalid");
  // An accepted commit replayed after its window: envelope_expired wins over commit_replayed.
  const auto commit = admin_commit(ops.alice, kNow, admin::Drain{1});
  CHECK(accepted(verifier.verify_admin(commit, kNow)));
  CHECK(rejection_kind(verifier.verify_admin(commit, kNow + kFreshness + 1)) == "envelope_expired");
}

// ---- verifier: break-glass commits -----------------------------------------------------------------

TEST_CASE("ice: enough distinct operator signatures over a simulated proposal are accepted") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice, &ops.bob}, kNow, ice::FreezeCluster{60000}), kNow)));
  CHECK(accepted(
      verifier.verify_ice(ice_commit({&ops.alice, &ops.bob, &ops.carol}, kNow, ice::ForceRestartDaemon{7}), kNow)));
}

TEST_CASE("ice: an all-zero blast-radius hash is simulation_required") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  auto outcome =
      verifier.verify_ice(ice_commit({&ops.alice, &ops.bob}, kNow, ice::FlushAvoidLists{}, BlastRadiusHash{}), kNow);
  CHECK(rejection_kind(outcome) == "simulation_required");
  // Any non-zero byte counts as simulated.
  BlastRadiusHash one_bit{};
  one_bit[31] = 1;
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::FlushAvoidLists{}, one_bit), kNow)));
}

TEST_CASE("ice: freshness and future skew apply") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, kNow - kFreshness - 1, ice::ThawCluster{}),
                                           kNow)) == "envelope_expired");
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, kNow + kSkew + 1, ice::ThawCluster{}), kNow)) ==
        "envelope_from_future");
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow - kFreshness, ice::ThawCluster{}), kNow)));
}

TEST_CASE("ice: fewer distinct signers than the threshold is insufficient_signatures, N of M") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  auto one = verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::ThawCluster{}), kNow);
  CHECK(rejection_kind(one) == "insufficient_signatures");
  CHECK(rejection_message(one).find("1 of 2") != std::string::npos);

  auto none = verifier.verify_ice(ice_commit({}, kNow, ice::ThawCluster{}), kNow);
  CHECK(rejection_kind(none) == "insufficient_signatures");
  CHECK(rejection_message(none).find("0 of 2") != std::string::npos);
}

TEST_CASE("ice: one operator signing twice counts once") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  auto doubled = verifier.verify_ice(ice_commit({&ops.alice, &ops.alice, &ops.alice}, kNow, ice::ThawCluster{}), kNow);
  CHECK(rejection_kind(doubled) == "insufficient_signatures");
  CHECK(rejection_message(doubled).find("1 of 2") != std::string::npos);
}

TEST_CASE("ice: a threshold above the registry size can never be met") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 4);
  auto outcome = verifier.verify_ice(ice_commit({&ops.alice, &ops.bob, &ops.carol}, kNow, ice::ThawCluster{}), kNow);
  CHECK(rejection_kind(outcome) == "insufficient_signatures");
  CHECK(rejection_message(outcome).find("3 of 4") != std::string::npos);
}

TEST_CASE("ice: a signature from outside the registry is not_authorized even with a quorum") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  auto outcome =
      verifier.verify_ice(ice_commit({&ops.alice, &ops.bob, &ops.mallory}, kNow, ice::FreezeCluster{1000}), kNow);
  CHECK(rejection_kind(outcome) == "not_authorized");
  CHECK(rejection_message(outcome).find(meshos::to_hex(ops.mallory.origin_hash())) != std::string::npos);
}

TEST_CASE("ice: a registered operator's signature over other bytes is signature_invalid") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  auto commit = ice_commit({&ops.alice, &ops.bob}, kNow, ice::FreezeCluster{1000});
  commit.signatures[1] = *meshos::sign_ice(ops.bob, kNow, simulated(), ice::FreezeCluster{999999});
  CHECK(rejection_kind(verifier.verify_ice(commit, kNow)) == "signature_invalid");

  auto other_hash = ice_commit({&ops.alice, &ops.bob}, kNow, ice::FreezeCluster{1000});
  other_hash.blast_radius_hash[0] ^= 0xff;
  CHECK(rejection_kind(verifier.verify_ice(other_hash, kNow)) == "signature_invalid");

  // An admin signature over the same time cannot stand in for a break-glass signature.
  auto cross_domain = ice_commit({&ops.alice, &ops.bob}, kNow, ice::FreezeCluster{1000});
  cross_domain.signatures[0].signature = admin_commit(ops.alice, kNow, admin::Drain{0}).signature.signature;
  CHECK(rejection_kind(verifier.verify_ice(cross_domain, kNow)) == "signature_invalid");
}

TEST_CASE("ice: the same commit twice is commit_replayed") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  const auto commit = ice_commit({&ops.alice, &ops.bob}, kNow, ice::ForceRestartDaemon{7});
  CHECK(accepted(verifier.verify_ice(commit, kNow)));
  CHECK(rejection_kind(verifier.verify_ice(commit, kNow + 1)) == "commit_replayed");

  // Re-using one accepted signature next to a fresh one is still a replay of an accepted commit.
  auto partly_replayed = commit;
  partly_replayed.signatures = {commit.signatures[0],
                                *meshos::sign_ice(ops.carol, kNow, simulated(), ice::ForceRestartDaemon{7})};
  CHECK(rejection_kind(verifier.verify_ice(partly_replayed, kNow + kCooldown)) == "commit_replayed");
}

TEST_CASE("ice: an accepted commit starts a cooldown for its target, which expires") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::ForceRestartDaemon{7}), kNow)));

  const std::int64_t later = kNow + kCooldown - 1;
  auto cooling = verifier.verify_ice(ice_commit({&ops.bob}, later, ice::ForceRestartDaemon{7}), later);
  CHECK(rejection_kind(cooling) == "ice_cooldown_active");
  CHECK(rejection_message(cooling).find("force_restart_daemon:0000000000000007") != std::string::npos);
  CHECK(rejection_message(cooling).find("1 ms") != std::string::npos);

  // Other targets and other kinds are not held back.
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.bob}, later, ice::ForceRestartDaemon{8}), later)));
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.bob}, later, ice::KillMigration{7}), later)));

  const std::int64_t expired = kNow + kCooldown;
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.carol}, expired, ice::ForceRestartDaemon{7}), expired)));
  // ...and the accepted commit starts a new cooldown.
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, expired + 1, ice::ForceRestartDaemon{7}),
                                           expired + 1)) == "ice_cooldown_active");
}

TEST_CASE("ice: freeze, thaw and flush share one cooldown, whatever the freeze ttl (issue 9, point 6)") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::FreezeCluster{1000}), kNow)));
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, kNow + 1, ice::FreezeCluster{2000}), kNow + 1)) ==
        "ice_cooldown_active");
  const auto thaw = verifier.verify_ice(ice_commit({&ops.bob}, kNow + 5'000, ice::ThawCluster{}), kNow + 5'000);
  CHECK(rejection_kind(thaw) == "ice_cooldown_active");
  CHECK(rejection_message(thaw).find("cluster") != std::string::npos);
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.bob}, kNow + 5'000, ice::FlushAvoidLists{}), kNow + 5'000)) ==
        "ice_cooldown_active");
  // Per-target actions have buckets of their own.
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.bob}, kNow + 5'000, ice::ForceRestartDaemon{7}), kNow + 5'000)));
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.carol}, kNow + kCooldown, ice::ThawCluster{}), kNow + kCooldown)));
}

TEST_CASE("ice: a relayed commit is not held back by the cooldown and starts it from its issue time") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::FlushAvoidLists{}), kNow)));
  meshos::IceChecks relayed;
  relayed.cooldown = false;
  // A peer admitted a freeze issued 100 s later; it applies here although this node's cooldown runs...
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.bob}, kNow + 100'000, ice::FreezeCluster{1000}), kNow + 150'000,
                                     relayed)));
  // ...and the cooldown here now ends when the admitting node's does: 300 s after the freeze was issued.
  CHECK(verifier.memory().cooldown_until_ms.at("cluster") == kNow + 100'000 + kCooldown);
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.carol}, kNow + 100'000 + kCooldown - 1, ice::ThawCluster{}),
                                           kNow + 100'000 + kCooldown - 1)) == "ice_cooldown_active");
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.carol}, kNow + 100'000 + kCooldown, ice::ThawCluster{}),
                                     kNow + 100'000 + kCooldown)));
}

TEST_CASE("ice: the cooldown follows the policy") {
  Operators ops;
  meshos::VerifierPolicy policy;
  policy.ice_cooldown_ms = 10;
  AdminVerifier verifier(ops.registry(), 1, policy);
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::FlushAvoidLists{}), kNow)));
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, kNow + 9, ice::FlushAvoidLists{}), kNow + 9)) ==
        "ice_cooldown_active");
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice}, kNow + 10, ice::FlushAvoidLists{}), kNow + 10)));
}

TEST_CASE("ice: a rejected commit starts no cooldown") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, kNow, ice::ThawCluster{}), kNow)) ==
        "insufficient_signatures");
  CHECK(accepted(verifier.verify_ice(ice_commit({&ops.alice, &ops.bob}, kNow, ice::ThawCluster{}), kNow)));
}

TEST_CASE("ice: check order is signatures, cluster, simulation, freshness, quorum, replay, cooldown") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 2);
  // Unsimulated and stale, from a stranger: not_authorized first, and not authenticated.
  auto stranger = verifier.verify_ice(
      ice_commit({&ops.mallory}, kNow - kFreshness - 1, ice::ThawCluster{}, BlastRadiusHash{}), kNow);
  CHECK(rejection_kind(stranger) == "not_authorized");
  CHECK_FALSE(std::get<meshos::outcome::Rejected>(stranger).authenticated);
  // A bad signature next to a good one, stale: signature_invalid.
  auto bad = ice_commit({&ops.alice, &ops.bob}, kNow - kFreshness - 1, ice::ThawCluster{});
  bad.signatures[1].signature[0] ^= 1;
  CHECK(rejection_kind(verifier.verify_ice(bad, kNow)) == "signature_invalid");
  // Signed for another cluster, unsimulated: wrong_cluster, and the refusal is the signers' own.
  auto other_cluster = ice_commit({&ops.alice}, kNow, ice::ThawCluster{}, BlastRadiusHash{}, "elsewhere");
  auto refused = verifier.verify_ice(other_cluster, kNow);
  CHECK(rejection_kind(refused) == "wrong_cluster");
  CHECK(std::get<meshos::outcome::Rejected>(refused).authenticated);
  // Unsimulated and stale: simulation_required before envelope_expired.
  CHECK(rejection_kind(verifier.verify_ice(
            ice_commit({&ops.alice}, kNow - kFreshness - 1, ice::ThawCluster{}, BlastRadiusHash{}), kNow)) ==
        "simulation_required");
  // Stale and short of quorum: envelope_expired before insufficient_signatures.
  CHECK(rejection_kind(verifier.verify_ice(ice_commit({&ops.alice}, kNow - kFreshness - 1, ice::ThawCluster{}),
                                           kNow)) == "envelope_expired");
  // No signature at all: insufficient, and nobody vouches for it.
  auto none = verifier.verify_ice(ice_commit({}, kNow, ice::ThawCluster{}), kNow);
  CHECK(rejection_kind(none) == "insufficient_signatures");
  CHECK_FALSE(std::get<meshos::outcome::Rejected>(none).authenticated);
  // A replay inside the cooldown: commit_replayed before ice_cooldown_active.
  const auto commit = ice_commit({&ops.alice, &ops.bob}, kNow, ice::ThawCluster{});
  CHECK(accepted(verifier.verify_ice(commit, kNow)));
  CHECK(rejection_kind(verifier.verify_ice(commit, kNow + 1)) == "commit_replayed");
  // Short of quorum inside the cooldown: insufficient_signatures before ice_cooldown_active.
  auto short_of_quorum = verifier.verify_ice(ice_commit({&ops.carol}, kNow + 2, ice::ThawCluster{}), kNow + 2);
  CHECK(rejection_kind(short_of_quorum) == "insufficient_signatures");
  CHECK(std::get<meshos::outcome::Rejected>(short_of_quorum).authenticated);
}

TEST_CASE("ice: a commit signed for cluster X is refused by cluster Y and accepted by X") {
  Operators ops;
  meshos::VerifierPolicy x;
  x.cluster = "x";
  meshos::VerifierPolicy y;
  y.cluster = "y";
  AdminVerifier in_x(ops.registry(), 2, x);
  AdminVerifier in_y(ops.registry(), 2, y);
  const auto for_x = ice_commit({&ops.alice, &ops.bob}, kNow, ice::FreezeCluster{60000}, simulated(), "x");
  auto refused = in_y.verify_ice(for_x, kNow);
  CHECK(rejection_kind(refused) == "wrong_cluster");
  CHECK(rejection_message(refused).find("signed for cluster \"x\"; this node belongs to cluster \"y\"") !=
        std::string::npos);
  CHECK(accepted(in_x.verify_ice(for_x, kNow)));
  // Renaming the cluster in the envelope breaks every signature.
  auto renamed = for_x;
  renamed.cluster = "y";
  CHECK(rejection_kind(in_y.verify_ice(renamed, kNow)) == "signature_invalid");
  // The refusal in y started no cooldown and remembered nothing there.
  CHECK(in_y.memory() == meshos::VerifierMemory{});
}

TEST_CASE("ice: every signature of an accepted commit needs room in the replay memory") {
  Operators ops;
  AdminVerifier small = remembering(ops, 3, 2);
  CHECK(accepted(small.verify_ice(ice_commit({&ops.alice, &ops.bob}, kNow, ice::ThawCluster{}), kNow)));
  CHECK(small.memory().seen.size() == 2);
  auto full = small.verify_ice(ice_commit({&ops.alice, &ops.bob}, kNow, ice::ForceRestartDaemon{7}), kNow);
  CHECK(rejection_kind(full) == "replay_memory_full");
  // Refused for lack of room: no cooldown started, nothing remembered.
  CHECK(small.memory().cooldown_until_ms.count("force_restart_daemon:0000000000000007") == 0);
  CHECK(small.memory().seen.size() == 2);
}

// ---- verifier memory: export, restore, JSON -----------------------------------------------------------

TEST_CASE("memory: a restored verifier refuses replays and keeps cooldowns") {
  Operators ops;
  AdminVerifier verifier(ops.registry(), 1);
  const auto commit = admin_commit(ops.alice, kNow, admin::Drain{1});
  const auto freeze = ice_commit({&ops.bob}, kNow + 10, ice::FreezeCluster{1000});
  CHECK(accepted(verifier.verify_admin(commit, kNow)));
  CHECK(accepted(verifier.verify_ice(freeze, kNow + 10)));

  const meshos::VerifierMemory exported = verifier.memory();
  REQUIRE(exported.seen.size() == 2);
  CHECK(exported.seen[0] == meshos::RememberedCommit{commit.signature.signature, kNow});
  CHECK(exported.seen[1] == meshos::RememberedCommit{freeze.signatures[0].signature, kNow + 10});
  CHECK(exported.cooldown_until_ms == std::map<std::string, std::int64_t>{{"cluster", kNow + 10 + kCooldown}});

  // Through JSON, as a node persists it, into a fresh verifier.
  const json j = exported;
  auto decoded = meshos::verifier_memory_from_json(json::parse(j.dump()));
  REQUIRE(decoded);
  CHECK(*decoded == exported);

  AdminVerifier restarted(ops.registry(), 1);
  REQUIRE(restarted.restore(*decoded, kNow + 1000));
  CHECK(restarted.memory() == exported);
  CHECK(rejection_kind(restarted.verify_admin(commit, kNow + 1000)) == "commit_replayed");
  CHECK(rejection_kind(restarted.verify_ice(freeze, kNow + 1000)) == "commit_replayed");
  CHECK(rejection_kind(restarted.verify_ice(ice_commit({&ops.carol}, kNow + 1000, ice::FreezeCluster{5}), kNow + 1000)) ==
        "ice_cooldown_active");

  // Without the restore the same verifier would have taken the replay.
  AdminVerifier forgetful(ops.registry(), 1);
  CHECK(accepted(forgetful.verify_admin(commit, kNow + 1000)));
}

TEST_CASE("memory: restore drops what is already stale and keeps what is fresh, even beyond the bound") {
  Operators ops;
  AdminVerifier verifier = remembering(ops, 1);
  const auto stale = admin_commit(ops.alice, kNow - kFreshness - 1, admin::Drain{1});
  const auto fresh1 = admin_commit(ops.alice, kNow - 10, admin::Drain{2});
  const auto fresh2 = admin_commit(ops.alice, kNow, admin::Drain{3});
  meshos::VerifierMemory m;
  m.seen = {{stale.signature.signature, stale.issued_at_ms},
            {fresh1.signature.signature, fresh1.issued_at_ms},
            {fresh2.signature.signature, fresh2.issued_at_ms}};
  m.cooldown_until_ms = {{"thaw_cluster", kNow}, {"freeze_cluster", kNow + 1}};
  REQUIRE(verifier.restore(m, kNow));
  const auto kept = verifier.memory();
  REQUIRE(kept.seen.size() == 2);
  CHECK(kept.seen[0].signature == fresh1.signature.signature);
  CHECK(kept.seen[1].signature == fresh2.signature.signature);
  CHECK(kept.cooldown_until_ms == std::map<std::string, std::int64_t>{{"freeze_cluster", kNow + 1}});
  CHECK(rejection_kind(verifier.verify_admin(fresh1, kNow)) == "commit_replayed");
  CHECK(rejection_kind(verifier.verify_admin(admin_commit(ops.alice, kNow, admin::Drain{4}), kNow)) ==
        "replay_memory_full");

  // A restore replaces the memory: an empty one forgets everything.
  REQUIRE(verifier.restore(meshos::VerifierMemory{}, kNow));
  CHECK(verifier.memory() == meshos::VerifierMemory{});
}

TEST_CASE("memory: JSON form and strict decoding") {
  meshos::VerifierMemory m;
  meshos::Signature sig{};
  sig.fill(0xab);
  m.seen.push_back({sig, -5});
  m.cooldown_until_ms["force_restart_daemon:0000000000000007"] = kNow;
  const json j = m;
  std::string ab;
  for (int i = 0; i < 64; ++i) ab += "ab";
  CHECK(j == json{{"seen", {{{"signature", ab}, {"issued_at_ms", -5}}}},
                  {"cooldown_until_ms", {{"force_restart_daemon:0000000000000007", kNow}}}});

  auto expect_invalid = [](json bad, const std::string& where) {
    CAPTURE(bad.dump());
    auto r = meshos::verifier_memory_from_json(bad);
    REQUIRE_FALSE(r);
    CHECK(r.error().code() == meshos::Errc::invalid_verifier_memory);
    CHECK_MESSAGE(r.error().message.find(where) != std::string::npos, r.error().message);
  };
  expect_invalid(json::array(), "expected a JSON object");
  expect_invalid(json{{"cooldown_until_ms", json::object()}}, "seen: missing");
  expect_invalid(json{{"seen", json::array()}}, "cooldown_until_ms: missing");
  expect_invalid(json{{"seen", json::object()}, {"cooldown_until_ms", json::object()}}, "seen: expected an array");
  expect_invalid(json{{"seen", json::array()}, {"cooldown_until_ms", json::array()}}, "cooldown_until_ms: expected");
  expect_invalid(json{{"seen", json::array()}, {"cooldown_until_ms", json::object()}, {"extra", 1}}, "extra: unknown");
  json wrong = j;
  wrong["seen"][0]["signature"] = std::string(126, 'a');
  expect_invalid(wrong, "seen[0].signature");
  wrong = j;
  wrong["seen"][0]["issued_at_ms"] = "5";
  expect_invalid(wrong, "seen[0].issued_at_ms");
  wrong = j;
  wrong["seen"][0]["issued_at_ms"] = 18446744073709551615ull;
  expect_invalid(wrong, "seen[0].issued_at_ms");
  wrong = j;
  wrong["seen"][0]["note"] = 1;
  expect_invalid(wrong, "seen[0].note: unknown field");
  wrong = j;
  wrong["cooldown_until_ms"]["thaw_cluster"] = 1.5;
  expect_invalid(wrong, "cooldown_until_ms[\"thaw_cluster\"]");
  wrong = j;
  wrong["cooldown_until_ms"][""] = 1;
  expect_invalid(wrong, "a key must be");
}
