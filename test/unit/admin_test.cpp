#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/identity.hpp"
#include "meshos/types.hpp"

using meshos::AdminEvent;
using meshos::BlastRadiusHash;
using meshos::Bytes;
using meshos::EntityKeypair;
using meshos::IceAction;
using nlohmann::json;
namespace admin = meshos::admin;
namespace ice = meshos::ice;

namespace {

const std::string kRfcSeed1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
constexpr std::int64_t kIssuedAt = 1700000000000;
constexpr meshos::NodeId kNode = 0x0123456789abcdefULL;

// The worked examples of libmeshos/docs/signing.md, byte for byte.
// Signed-bytes version 2: the cluster ("meshos", the default) follows the domain tag. Computed independently
// with `openssl pkeyutl -sign -rawin` over the bytes below.
const std::string kExample1Bytes =
    "6d6573686f732f61646d696e2d636f6d6d69742f763200060000006d6573686f730068e5cf8b01000000efcdab8967452301"
    "0160ea000000000000";
const std::string kExample1Signature =
    "2914a06a2944a43dd1f80569f5f3ade79404f021b61f7e6e52b3c03ef22b54d3"
    "ddf48c682b332614d9040f7ac65a1191911b7021bd5839b4bd3726c06b1d0a0c";
const std::string kExample2Bytes =
    "6d6573686f732f61646d696e2d636f6d6d69742f763200060000006d6573686f730068e5cf8b01000007efcdab8967452301"
    "040000006563686f00";
const std::string kExample2Signature =
    "89dd7452fc877cdf0bba4a20cc328bf9d69e55b89909e494bcfc74ceba55e17c"
    "cec796dca8a1e9f0e7c3409703c8088dfb133a12213adc34707741435915ec0c";
const std::string kExample3Bytes =
    "6d6573686f732f6963652d636f6d6d69742f763200060000006d6573686f730068e5cf8b010000000102030405060708090a0b"
    "0c0d0e0f101112131415161718191a1b1c1d1e1f00c027090000000000";
const std::string kExample3Signature =
    "663a632e4fdbbca8d04bd54de9208c838000e76c490c06bde25e0e980bc60408"
    "4ac162bc190589e0bf94c3190cd1b0556b5f8b478259f8f5748bb9f8e163dd08";

EntityKeypair rfc_key() { return *EntityKeypair::from_seed_hex(kRfcSeed1); }

BlastRadiusHash counting_hash() {
  BlastRadiusHash h{};
  for (std::size_t i = 0; i < h.size(); ++i) h[i] = static_cast<std::uint8_t>(i);
  return h;
}

template <std::size_t N>
std::string hex_of(const std::array<std::uint8_t, N>& a) {
  return meshos::bytes_to_hex(a.data(), a.size());
}

std::vector<AdminEvent> every_admin_event() {
  return {admin::EnterMaintenance{kNode, 60000},
          admin::EnterMaintenance{kNode, std::nullopt},
          admin::ExitMaintenance{1},
          admin::Drain{2},
          admin::Cordon{3},
          admin::Uncordon{4},
          admin::RestartAllDaemons{5},
          admin::ClearAvoidList{6},
          admin::SetDaemonIntent{7, "echo", true},
          admin::SetDaemonIntent{8, "ünïcode daemon", false}};
}

std::vector<IceAction> every_ice_action() {
  return {ice::FreezeCluster{600000}, ice::ThawCluster{}, ice::FlushAvoidLists{}, ice::ForceRestartDaemon{0xabc},
          ice::KillMigration{std::numeric_limits<std::uint64_t>::max()}};
}

// The hex of one code block of libmeshos/docs/signing.md: per line, the space-separated hex before the
// annotation (which starts after two or more spaces).
std::string doc_block_hex(const std::string& doc, const std::string& section, int block_index) {
  auto at = doc.find(section);
  REQUIRE_MESSAGE(at != std::string::npos, "libmeshos/docs/signing.md lacks section " << section);
  for (int i = 0; i <= block_index; ++i) {
    at = doc.find("```\n", at);
    REQUIRE(at != std::string::npos);
    at += 4;
    if (i < block_index) {
      at = doc.find("```", at);
      REQUIRE(at != std::string::npos);
      at += 3;
    }
  }
  const auto end = doc.find("```", at);
  REQUIRE(end != std::string::npos);
  std::istringstream lines(doc.substr(at, end - at));
  std::string hex;
  for (std::string line; std::getline(lines, line);) {
    line = line.substr(0, line.find("  "));
    line.erase(std::remove(line.begin(), line.end(), ' '), line.end());
    hex += line;
  }
  return hex;
}

void check_invalid_admin_event(const json& j, const std::string& field) {
  CAPTURE(j.dump());
  auto result = meshos::admin_event_from_json(j);
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == meshos::Errc::invalid_commit);
  CHECK_MESSAGE(result.error().message.find(field) != std::string::npos, result.error().message);
}

void check_invalid_signed_admin(const json& j, const std::string& field) {
  CAPTURE(j.dump());
  auto result = meshos::signed_admin_commit_from_json(j);
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == meshos::Errc::invalid_commit);
  CHECK_MESSAGE(result.error().message.find(field) != std::string::npos, result.error().message);
}

void check_invalid_signed_ice(const json& j, const std::string& field) {
  CAPTURE(j.dump());
  auto result = meshos::signed_ice_commit_from_json(j);
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == meshos::Errc::invalid_commit);
  CHECK_MESSAGE(result.error().message.find(field) != std::string::npos, result.error().message);
}

json valid_signed_admin_json() {
  auto commit = meshos::sign_admin(rfc_key(), kIssuedAt, admin::SetDaemonIntent{kNode, "echo", true});
  REQUIRE(commit);
  return json(*commit);
}

json valid_signed_ice_json() {
  auto key = rfc_key();
  auto sig = meshos::sign_ice(key, kIssuedAt, counting_hash(), ice::ForceRestartDaemon{0xabc});
  REQUIRE(sig);
  meshos::SignedIceCommit commit{kIssuedAt, counting_hash(), ice::ForceRestartDaemon{0xabc}, {*sig, *sig}};
  return json(commit);
}

}  // namespace

TEST_CASE("admin_kind and admin_target name every event") {
  const std::vector<std::pair<AdminEvent, std::string>> cases = {
      {admin::EnterMaintenance{1, std::nullopt}, "enter_maintenance"},
      {admin::ExitMaintenance{2}, "exit_maintenance"},
      {admin::Drain{3}, "drain"},
      {admin::Cordon{4}, "cordon"},
      {admin::Uncordon{5}, "uncordon"},
      {admin::RestartAllDaemons{6}, "restart_all_daemons"},
      {admin::ClearAvoidList{7}, "clear_avoid_list"},
      {admin::SetDaemonIntent{8, "echo", true}, "set_daemon_intent"},
      {admin::RestartDaemon{9, "echo"}, "restart_daemon"},
  };
  meshos::NodeId expected_target = 1;
  for (const auto& [event, kind] : cases) {
    CHECK(std::string(meshos::admin_kind(event)) == kind);
    CHECK(meshos::admin_target(event) == expected_target++);
  }
}

TEST_CASE("ice_kind names every action and ice_target_key is one key per kind and target") {
  CHECK(std::string(meshos::ice_kind(ice::FreezeCluster{1})) == "freeze_cluster");
  CHECK(std::string(meshos::ice_kind(ice::ThawCluster{})) == "thaw_cluster");
  CHECK(std::string(meshos::ice_kind(ice::FlushAvoidLists{})) == "flush_avoid_lists");
  CHECK(std::string(meshos::ice_kind(ice::ForceRestartDaemon{1})) == "force_restart_daemon");
  CHECK(std::string(meshos::ice_kind(ice::KillMigration{1})) == "kill_migration");

  CHECK(meshos::ice_target_key(ice::FreezeCluster{1}) == meshos::ice_target_key(ice::FreezeCluster{2}));
  // The cluster-wide actions share one bucket (as in the original).
  CHECK(meshos::ice_target_key(ice::FreezeCluster{1}) == "cluster");
  CHECK(meshos::ice_target_key(ice::ThawCluster{}) == "cluster");
  CHECK(meshos::ice_target_key(ice::FlushAvoidLists{}) == "cluster");
  // A scoped flush acts on its node or its peer: a bucket of its own.
  CHECK(meshos::ice_target_key(ice::FlushAvoidLists{meshos::avoid_scope::Local{0xabc}}) ==
        "flush_avoid_lists:node:0000000000000abc");
  CHECK(meshos::ice_target_key(ice::FlushAvoidLists{meshos::avoid_scope::OnPeer{0xabc}}) ==
        "flush_avoid_lists:peer:0000000000000abc");
  CHECK(meshos::ice_target_key(ice::ForceRestartDaemon{0xabc}) == "force_restart_daemon:0000000000000abc");
  CHECK(meshos::ice_target_key(ice::ForceRestartDaemon{1}) != meshos::ice_target_key(ice::ForceRestartDaemon{2}));
  CHECK(meshos::ice_target_key(ice::KillMigration{1}) == "kill_migration:0000000000000001");
  CHECK(meshos::ice_target_key(ice::KillMigration{1}) != meshos::ice_target_key(ice::ForceRestartDaemon{1}));
}

TEST_CASE("signing bytes match the worked examples of libmeshos/docs/signing.md byte for byte") {
  CHECK(meshos::bytes_to_hex(meshos::admin_signing_bytes(kIssuedAt, admin::EnterMaintenance{kNode, 60000})) ==
        kExample1Bytes);
  CHECK(meshos::bytes_to_hex(meshos::admin_signing_bytes(kIssuedAt, admin::SetDaemonIntent{kNode, "echo", false})) ==
        kExample2Bytes);
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(kIssuedAt, counting_hash(), ice::FreezeCluster{600000})) ==
        kExample3Bytes);

  auto key = rfc_key();
  auto commit1 = meshos::sign_admin(key, kIssuedAt, admin::EnterMaintenance{kNode, 60000});
  REQUIRE(commit1);
  CHECK(hex_of(commit1->signature.signature) == kExample1Signature);
  CHECK(meshos::to_hex(commit1->signature.operator_id) == "96dd720507478b63");
  auto commit2 = meshos::sign_admin(key, kIssuedAt, admin::SetDaemonIntent{kNode, "echo", false});
  REQUIRE(commit2);
  CHECK(hex_of(commit2->signature.signature) == kExample2Signature);
  auto sig3 = meshos::sign_ice(key, kIssuedAt, counting_hash(), ice::FreezeCluster{600000});
  REQUIRE(sig3);
  CHECK(hex_of(sig3->signature) == kExample3Signature);
  CHECK(sig3->operator_id == key.origin_hash());
}

#ifdef MESHOS_SOURCE_DIR
TEST_CASE("libmeshos/docs/signing.md shows exactly the bytes the code signs") {
  std::ifstream in(std::string(MESHOS_SOURCE_DIR) + "/libmeshos/docs/signing.md");
  REQUIRE(in.is_open());
  const std::string doc((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(doc_block_hex(doc, "### Worked example 1", 0) == kExample1Bytes);
  CHECK(doc_block_hex(doc, "### Worked example 1", 1) == kExample1Signature);
  CHECK(doc_block_hex(doc, "### Worked example 2", 0) == kExample2Bytes);
  CHECK(doc_block_hex(doc, "### Worked example 2", 1) == kExample2Signature);
  CHECK(doc_block_hex(doc, "### Worked example 3", 0) == kExample3Bytes);
  CHECK(doc_block_hex(doc, "### Worked example 3", 1) == kExample3Signature);
}
#endif

TEST_CASE("signing bytes: each field is encoded as documented") {
  // Domain tag "meshos/admin-commit/v2", 00, then the cluster "meshos" (u32 length 6, bytes).
  const std::string cluster = "06000000" "6d6573686f73";
  const std::string admin_prefix = "6d6573686f732f61646d696e2d636f6d6d69742f763200" + cluster;
  // Negative timestamps are two's complement; an absent optional is a single zero byte.
  CHECK(meshos::bytes_to_hex(meshos::admin_signing_bytes(-1, admin::EnterMaintenance{1, std::nullopt})) ==
        admin_prefix + "ffffffffffffffff" + "00" + "0100000000000000" + "00");
  CHECK(meshos::bytes_to_hex(meshos::admin_signing_bytes(0, admin::ClearAvoidList{2})) ==
        admin_prefix + "0000000000000000" + "06" + "0200000000000000");
  CHECK(meshos::bytes_to_hex(meshos::admin_signing_bytes(0, admin::SetDaemonIntent{0, "", true})) ==
        admin_prefix + "0000000000000000" + "07" + "0000000000000000" + "00000000" + "01");

  const std::string ice_prefix = "6d6573686f732f6963652d636f6d6d69742f763200" + cluster;
  const std::string zero_time = "0000000000000000";
  const std::string hash(64, 'f');
  BlastRadiusHash ff{};
  ff.fill(0xff);
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::ThawCluster{})) ==
        ice_prefix + zero_time + hash + "01");
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::FlushAvoidLists{})) ==
        ice_prefix + zero_time + hash + "02");  // the global flush: the same bytes as before scopes existed
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::FlushAvoidLists{meshos::avoid_scope::Local{0x05}})) ==
        ice_prefix + zero_time + hash + "02" + "01" + "0500000000000000");
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::FlushAvoidLists{meshos::avoid_scope::OnPeer{0x05}})) ==
        ice_prefix + zero_time + hash + "02" + "02" + "0500000000000000");
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::ForceRestartDaemon{0x0102})) ==
        ice_prefix + zero_time + hash + "03" + "0201000000000000");
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::KillMigration{0x03})) ==
        ice_prefix + zero_time + hash + "04" + "0300000000000000");

  // Another cluster: its name, length first, in the same place.
  CHECK(meshos::bytes_to_hex(meshos::admin_signing_bytes(0, admin::ClearAvoidList{2}, "prod-eu")) ==
        "6d6573686f732f61646d696e2d636f6d6d69742f763200" "07000000" "70726f642d6575" + zero_time + "06" +
            "0200000000000000");
  CHECK(meshos::bytes_to_hex(meshos::ice_signing_bytes(0, ff, ice::ThawCluster{}, "x")) ==
        "6d6573686f732f6963652d636f6d6d69742f763200" "01000000" "78" + zero_time + hash + "01");
}

TEST_CASE("a commit signed for one cluster does not verify as another cluster's") {
  auto key = rfc_key();
  auto commit = meshos::sign_admin(key, kIssuedAt, admin::Cordon{kNode}, "blue");
  REQUIRE(commit);
  CHECK(commit->cluster == "blue");
  CHECK(key.verify(meshos::signing_bytes(*commit), commit->signature.signature));
  CHECK_FALSE(key.verify(meshos::admin_signing_bytes(kIssuedAt, commit->event, "green"), commit->signature.signature));
  CHECK_FALSE(key.verify(meshos::admin_signing_bytes(kIssuedAt, commit->event), commit->signature.signature));

  auto sig = meshos::sign_ice(key, kIssuedAt, counting_hash(), ice::ThawCluster{}, "blue");
  REQUIRE(sig);
  meshos::SignedIceCommit ice_commit{kIssuedAt, counting_hash(), ice::ThawCluster{}, {*sig}, "blue"};
  CHECK(key.verify(meshos::signing_bytes(ice_commit), sig->signature));
  ice_commit.cluster = "green";
  CHECK_FALSE(key.verify(meshos::signing_bytes(ice_commit), sig->signature));
}

TEST_CASE("cluster names are 1 to 256 bytes") {
  CHECK(meshos::check_cluster_name("a"));
  CHECK(meshos::check_cluster_name(std::string(256, 'c')));
  for (const std::string& bad : {std::string(), std::string(257, 'c')}) {
    CHECK(meshos::check_cluster_name(bad).error().code() == meshos::Errc::invalid_cluster_name);
    auto commit = meshos::sign_admin(rfc_key(), kIssuedAt, admin::Drain{1}, bad);
    REQUIRE_FALSE(commit);
    CHECK(commit.error().code() == meshos::Errc::invalid_cluster_name);
    auto sig = meshos::sign_ice(rfc_key(), kIssuedAt, counting_hash(), ice::ThawCluster{}, bad);
    REQUIRE_FALSE(sig);
    CHECK(sig.error().code() == meshos::Errc::invalid_cluster_name);
  }
}

TEST_CASE("the two domains never produce the same bytes for the same content") {
  const auto admin_bytes = meshos::admin_signing_bytes(kIssuedAt, admin::EnterMaintenance{0, std::nullopt});
  const auto ice_bytes = meshos::ice_signing_bytes(kIssuedAt, BlastRadiusHash{}, ice::FreezeCluster{0});
  CHECK(admin_bytes != ice_bytes);
  CHECK(meshos::admin_signing_bytes(1, admin::Drain{1}) != meshos::admin_signing_bytes(1, admin::Cordon{1}));
}

TEST_CASE("sign_admin and sign_ice refuse a public-only key") {
  auto pub = EntityKeypair::public_only(rfc_key().public_key());
  auto commit = meshos::sign_admin(pub, kIssuedAt, admin::Drain{1});
  REQUIRE_FALSE(commit);
  CHECK(commit.error().code() == meshos::Errc::public_key_only);
  auto sig = meshos::sign_ice(pub, kIssuedAt, counting_hash(), ice::ThawCluster{});
  REQUIRE_FALSE(sig);
  CHECK(sig.error().code() == meshos::Errc::public_key_only);
}

TEST_CASE("signed commits verify against the signer's key") {
  auto key = rfc_key();
  auto commit = meshos::sign_admin(key, kIssuedAt, admin::Cordon{kNode});
  REQUIRE(commit);
  CHECK(commit->issued_at_ms == kIssuedAt);
  CHECK(std::holds_alternative<admin::Cordon>(commit->event));
  CHECK(key.verify(meshos::admin_signing_bytes(kIssuedAt, commit->event), commit->signature.signature));
  CHECK_FALSE(key.verify(meshos::admin_signing_bytes(kIssuedAt + 1, commit->event), commit->signature.signature));
}

TEST_CASE("JSON form of events, actions and envelopes") {
  CHECK(json(AdminEvent{admin::EnterMaintenance{kNode, 60000}}) ==
        json::parse(R"({"kind":"enter_maintenance","node":"0123456789abcdef","drain_for_ms":60000})"));
  CHECK(json(AdminEvent{admin::EnterMaintenance{kNode, std::nullopt}}) ==
        json::parse(R"({"kind":"enter_maintenance","node":"0123456789abcdef"})"));
  CHECK(json(AdminEvent{admin::SetDaemonIntent{kNode, "echo", false}}) ==
        json::parse(R"({"kind":"set_daemon_intent","node":"0123456789abcdef","daemon":"echo","run":false})"));
  CHECK(json(AdminEvent{admin::RestartDaemon{kNode, "echo"}}) ==
        json::parse(R"({"kind":"restart_daemon","node":"0123456789abcdef","daemon":"echo"})"));
  CHECK(json(IceAction{ice::FreezeCluster{600000}}) == json::parse(R"({"kind":"freeze_cluster","ttl_ms":600000})"));
  CHECK(json(IceAction{ice::ThawCluster{}}) == json::parse(R"({"kind":"thaw_cluster"})"));
  CHECK(json(IceAction{ice::FlushAvoidLists{}}) == json::parse(R"({"kind":"flush_avoid_lists","scope":"global"})"));
  CHECK(json(IceAction{ice::FlushAvoidLists{meshos::avoid_scope::Local{kNode}}}) ==
        json::parse(R"({"kind":"flush_avoid_lists","scope":"local","node":"0123456789abcdef"})"));
  CHECK(json(IceAction{ice::FlushAvoidLists{meshos::avoid_scope::OnPeer{kNode}}}) ==
        json::parse(R"({"kind":"flush_avoid_lists","scope":"on_peer","peer":"0123456789abcdef"})"));
  CHECK(json(IceAction{ice::ForceRestartDaemon{0xabc}}) ==
        json::parse(R"({"kind":"force_restart_daemon","daemon":"0000000000000abc"})"));
  CHECK(json(IceAction{ice::KillMigration{1}}) ==
        json::parse(R"({"kind":"kill_migration","migration_id":"0000000000000001"})"));

  auto commit = meshos::sign_admin(rfc_key(), kIssuedAt, admin::EnterMaintenance{kNode, 60000});
  REQUIRE(commit);
  CHECK(json(*commit) == json{{"issued_at_ms", kIssuedAt},
                              {"cluster", "meshos"},
                              {"event", {{"kind", "enter_maintenance"}, {"node", "0123456789abcdef"},
                                         {"drain_for_ms", 60000}}},
                              {"signature", {{"operator_id", "96dd720507478b63"},
                                             {"signature", kExample1Signature}}}});

  auto sig = meshos::sign_ice(rfc_key(), kIssuedAt, counting_hash(), ice::FreezeCluster{600000});
  REQUIRE(sig);
  meshos::SignedIceCommit ice_commit{kIssuedAt, counting_hash(), ice::FreezeCluster{600000}, {*sig}};
  CHECK(json(ice_commit) ==
        json{{"issued_at_ms", kIssuedAt},
             {"cluster", "meshos"},
             {"blast_radius_hash", "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"},
             {"proposal", {{"kind", "freeze_cluster"}, {"ttl_ms", 600000}}},
             {"signatures", json::array({{{"operator_id", "96dd720507478b63"}, {"signature", kExample3Signature}}})}});
}

TEST_CASE("JSON round trip of every event and action keeps the signed bytes") {
  for (const auto& event : every_admin_event()) {
    CAPTURE(json(event).dump());
    auto decoded = meshos::admin_event_from_json(json::parse(json(event).dump()));
    REQUIRE(decoded);
    CHECK(decoded->index() == event.index());
    CHECK(meshos::admin_signing_bytes(kIssuedAt, *decoded) == meshos::admin_signing_bytes(kIssuedAt, event));
  }
  for (const auto& action : every_ice_action()) {
    CAPTURE(json(action).dump());
    auto decoded = meshos::ice_action_from_json(json::parse(json(action).dump()));
    REQUIRE(decoded);
    CHECK(decoded->index() == action.index());
    CHECK(meshos::ice_signing_bytes(kIssuedAt, counting_hash(), *decoded) ==
          meshos::ice_signing_bytes(kIssuedAt, counting_hash(), action));
  }
}

TEST_CASE("JSON round trip of signed envelopes") {
  auto key = rfc_key();
  for (const auto& event : every_admin_event()) {
    auto commit = meshos::sign_admin(key, -5, event, "round-trip");
    REQUIRE(commit);
    auto decoded = meshos::signed_admin_commit_from_json(json::parse(json(*commit).dump()));
    REQUIRE(decoded);
    CHECK(decoded->issued_at_ms == -5);
    CHECK(decoded->cluster == "round-trip");
    CHECK(decoded->signature.operator_id == commit->signature.operator_id);
    CHECK(decoded->signature.signature == commit->signature.signature);
    CHECK(key.verify(meshos::signing_bytes(*decoded), decoded->signature.signature));
  }

  auto other = EntityKeypair::generate();
  for (const auto& action : every_ice_action()) {
    meshos::SignedIceCommit commit{kIssuedAt, counting_hash(), action, {}, "round-trip"};
    commit.signatures.push_back(*meshos::sign_ice(key, kIssuedAt, counting_hash(), action, "round-trip"));
    commit.signatures.push_back(*meshos::sign_ice(other, kIssuedAt, counting_hash(), action, "round-trip"));
    auto decoded = meshos::signed_ice_commit_from_json(json::parse(json(commit).dump()));
    REQUIRE(decoded);
    CHECK(decoded->issued_at_ms == kIssuedAt);
    CHECK(decoded->cluster == "round-trip");
    CHECK(decoded->blast_radius_hash == counting_hash());
    REQUIRE(decoded->signatures.size() == 2);
    CHECK(decoded->signatures[1].operator_id == other.origin_hash());
    CHECK(decoded->signatures[1].signature == commit.signatures[1].signature);
    CHECK(other.verify(meshos::signing_bytes(*decoded), decoded->signatures[1].signature));
  }

  meshos::SignedIceCommit unsigned_commit{kIssuedAt, counting_hash(), ice::ThawCluster{}, {}};
  auto decoded = meshos::signed_ice_commit_from_json(json(unsigned_commit));
  REQUIRE(decoded);
  CHECK(decoded->signatures.empty());
}

TEST_CASE("decoding accepts an explicit null for an absent optional and upper-case hex") {
  auto event = meshos::admin_event_from_json(
      json::parse(R"({"kind":"enter_maintenance","node":"0123456789ABCDEF","drain_for_ms":null})"));
  REQUIRE(event);
  const auto* enter = std::get_if<admin::EnterMaintenance>(&*event);
  REQUIRE(enter != nullptr);
  CHECK(enter->node == kNode);
  CHECK_FALSE(enter->drain_for_ms.has_value());
}

TEST_CASE("admin event decoding rejects malformed input, naming the field") {
  check_invalid_admin_event(json::parse("[]"), "event");
  check_invalid_admin_event(json::parse("null"), "event");
  check_invalid_admin_event(json::parse(R"({"node":"0123456789abcdef"})"), "event.kind");
  check_invalid_admin_event(json::parse(R"({"kind":7,"node":"0123456789abcdef"})"), "event.kind");
  check_invalid_admin_event(json::parse(R"({"kind":"reboot","node":"0123456789abcdef"})"), "event.kind");
  check_invalid_admin_event(json::parse(R"({"kind":"drain"})"), "event.node");
  check_invalid_admin_event(json::parse(R"({"kind":"drain","node":81985529216486895})"), "event.node");
  check_invalid_admin_event(json::parse(R"({"kind":"drain","node":"123"})"), "event.node");
  check_invalid_admin_event(json::parse(R"({"kind":"drain","node":"0123456789abcdef0"})"), "event.node");
  check_invalid_admin_event(json::parse(R"({"kind":"drain","node":"0123456789abcdeg"})"), "event.node");
  check_invalid_admin_event(json::parse(R"({"kind":"drain","node":"0x23456789abcdef"})"), "event.node");
  check_invalid_admin_event(json::parse(R"({"kind":"drain","node":"0123456789abcdef","extra":1})"), "event.extra");
  check_invalid_admin_event(
      json::parse(R"({"kind":"enter_maintenance","node":"0123456789abcdef","drain_for_ms":-1})"),
      "event.drain_for_ms");
  check_invalid_admin_event(
      json::parse(R"({"kind":"enter_maintenance","node":"0123456789abcdef","drain_for_ms":1.5})"),
      "event.drain_for_ms");
  check_invalid_admin_event(
      json::parse(R"({"kind":"enter_maintenance","node":"0123456789abcdef","drain_for_ms":"60000"})"),
      "event.drain_for_ms");
  check_invalid_admin_event(json::parse(R"({"kind":"set_daemon_intent","node":"0123456789abcdef","run":true})"),
                            "event.daemon");
  check_invalid_admin_event(
      json::parse(R"({"kind":"set_daemon_intent","node":"0123456789abcdef","daemon":"","run":true})"),
      "event.daemon");
  check_invalid_admin_event(
      json::parse(R"({"kind":"set_daemon_intent","node":"0123456789abcdef","daemon":5,"run":true})"),
      "event.daemon");
  check_invalid_admin_event(
      json::parse(R"({"kind":"set_daemon_intent","node":"0123456789abcdef","daemon":"echo"})"), "event.run");
  check_invalid_admin_event(
      json::parse(R"({"kind":"set_daemon_intent","node":"0123456789abcdef","daemon":"echo","run":1})"),
      "event.run");
}

TEST_CASE("daemon names are limited to 4 KiB") {
  json j = {{"kind", "set_daemon_intent"}, {"node", "0123456789abcdef"}, {"daemon", std::string(4096, 'd')},
            {"run", true}};
  auto at_limit = meshos::admin_event_from_json(j);
  REQUIRE(at_limit);
  CHECK(std::get<admin::SetDaemonIntent>(*at_limit).daemon.size() == 4096);
  j["daemon"] = std::string(4097, 'd');
  check_invalid_admin_event(j, "event.daemon");
  auto result = meshos::admin_event_from_json(j);
  REQUIRE_FALSE(result);
  CHECK(result.error().message.size() < 200);
}

TEST_CASE("an unknown kind is quoted in the message, but never at full length") {
  json j = {{"kind", std::string(10000, 'k')}, {"node", "0123456789abcdef"}};
  auto result = meshos::admin_event_from_json(j);
  REQUIRE_FALSE(result);
  CHECK(result.error().message.size() < 300);

  // Two-byte characters straddling the cut: the message must stay valid UTF-8 so it can go into JSON.
  std::string accented = "k";
  for (int i = 0; i < 100; ++i) accented += "\u00e9";
  auto unicode = meshos::admin_event_from_json(json{{"kind", accented}, {"node", "0123456789abcdef"}});
  REQUIRE_FALSE(unicode);
  CHECK_NOTHROW(json(unicode.error().message).dump());
}

TEST_CASE("ice action decoding rejects malformed input, naming the field") {
  auto check_invalid = [](const std::string& text, const std::string& field) {
    CAPTURE(text);
    auto result = meshos::ice_action_from_json(json::parse(text));
    REQUIRE_FALSE(result);
    CHECK(result.error().code() == meshos::Errc::invalid_commit);
    CHECK_MESSAGE(result.error().message.find(field) != std::string::npos, result.error().message);
  };
  check_invalid(R"("freeze_cluster")", "proposal");
  check_invalid(R"({"kind":"melt_cluster"})", "proposal.kind");
  check_invalid(R"({"kind":"freeze_cluster"})", "proposal.ttl_ms");
  check_invalid(R"({"kind":"freeze_cluster","ttl_ms":-5})", "proposal.ttl_ms");
  check_invalid(R"({"kind":"freeze_cluster","ttl_ms":true})", "proposal.ttl_ms");
  check_invalid(R"({"kind":"thaw_cluster","ttl_ms":5})", "proposal.ttl_ms");
  check_invalid(R"({"kind":"force_restart_daemon"})", "proposal.daemon");
  check_invalid(R"({"kind":"force_restart_daemon","daemon":"abc"})", "proposal.daemon");
  check_invalid(R"({"kind":"kill_migration","migration_id":7})", "proposal.migration_id");
}

TEST_CASE("signed admin envelope decoding rejects malformed input, naming the field") {
  const json valid = valid_signed_admin_json();
  REQUIRE(meshos::signed_admin_commit_from_json(valid));

  check_invalid_signed_admin(json::parse("\"commit\""), "commit");
  auto without = [&](const std::string& key) {
    json j = valid;
    j.erase(key);
    return j;
  };
  auto with = [&](const json::json_pointer& at, json value) {
    json j = valid;
    j[at] = std::move(value);
    return j;
  };
  check_invalid_signed_admin(without("issued_at_ms"), "issued_at_ms");
  check_invalid_signed_admin(without("event"), "event");
  check_invalid_signed_admin(without("signature"), "signature");
  check_invalid_signed_admin(with("/issued_at_ms"_json_pointer, 1.5), "issued_at_ms");
  check_invalid_signed_admin(with("/issued_at_ms"_json_pointer, "1700000000000"), "issued_at_ms");
  check_invalid_signed_admin(with("/issued_at_ms"_json_pointer, std::numeric_limits<std::uint64_t>::max()),
                             "issued_at_ms");
  check_invalid_signed_admin(with("/event/kind"_json_pointer, "teleport"), "event.kind");
  check_invalid_signed_admin(with("/event"_json_pointer, json::array()), "event");
  check_invalid_signed_admin(with("/signature"_json_pointer, "00"), "signature");
  check_invalid_signed_admin(with("/signature/operator_id"_json_pointer, "96dd720507478b6"), "signature.operator_id");
  check_invalid_signed_admin(with("/signature/signature"_json_pointer, std::string(127, 'a')),
                             "signature.signature");
  check_invalid_signed_admin(with("/signature/signature"_json_pointer, std::string(130, 'a')),
                             "signature.signature");
  check_invalid_signed_admin(with("/signature/signature"_json_pointer, std::string(126, 'a') + "zz"),
                             "signature.signature");
  check_invalid_signed_admin(with("/signature/extra"_json_pointer, 1), "signature.extra");
  check_invalid_signed_admin(with("/note"_json_pointer, "unsigned text"), "note");
  check_invalid_signed_admin(with("/cluster"_json_pointer, ""), "cluster: must be 1 to 256 bytes");
  check_invalid_signed_admin(with("/cluster"_json_pointer, std::string(257, 'c')), "cluster: must be 1 to 256 bytes");
  check_invalid_signed_admin(with("/cluster"_json_pointer, 7), "cluster: expected a string");
  // A version 1 envelope (no cluster) is refused as such, not as a bad signature.
  check_invalid_signed_admin(without("cluster"), "cluster: missing: this is a version 1 commit");

  json negative = valid;
  negative["issued_at_ms"] = -42;
  auto decoded = meshos::signed_admin_commit_from_json(negative);
  REQUIRE(decoded);
  CHECK(decoded->issued_at_ms == -42);
}

TEST_CASE("signed ice envelope decoding rejects malformed input, naming the field") {
  const json valid = valid_signed_ice_json();
  REQUIRE(meshos::signed_ice_commit_from_json(valid));

  auto with = [&](const json::json_pointer& at, json value) {
    json j = valid;
    j[at] = std::move(value);
    return j;
  };
  json without_hash = valid;
  without_hash.erase("blast_radius_hash");
  check_invalid_signed_ice(without_hash, "blast_radius_hash");
  json without_signatures = valid;
  without_signatures.erase("signatures");
  check_invalid_signed_ice(without_signatures, "signatures");
  check_invalid_signed_ice(with("/blast_radius_hash"_json_pointer, std::string(62, '1')), "blast_radius_hash");
  check_invalid_signed_ice(with("/blast_radius_hash"_json_pointer, std::string(63, '1') + "q"), "blast_radius_hash");
  check_invalid_signed_ice(with("/proposal/kind"_json_pointer, "nuke"), "proposal.kind");
  check_invalid_signed_ice(with("/signatures"_json_pointer, json::object()), "signatures");
  check_invalid_signed_ice(with("/signatures/1/signature"_json_pointer, "ab"), "signatures[1].signature");
  check_invalid_signed_ice(with("/signatures/1/operator_id"_json_pointer, 5), "signatures[1].operator_id");
  check_invalid_signed_ice(with("/signatures/0"_json_pointer, "sig"), "signatures[0]");
  check_invalid_signed_ice(with("/issued_at_ms"_json_pointer, nullptr), "issued_at_ms");
  check_invalid_signed_ice(with("/cluster"_json_pointer, ""), "cluster: must be 1 to 256 bytes");
  json version1 = valid;
  version1.erase("cluster");
  check_invalid_signed_ice(version1, "cluster: missing: this is a version 1 commit");

  json too_many = valid;
  const json one = valid["signatures"][0];
  too_many["signatures"] = json::array();
  for (int i = 0; i < 257; ++i) too_many["signatures"].push_back(one);
  check_invalid_signed_ice(too_many, "signatures");
  too_many["signatures"].erase(too_many["signatures"].size() - 1);
  auto at_limit = meshos::signed_ice_commit_from_json(too_many);
  REQUIRE(at_limit);
  CHECK(at_limit->signatures.size() == 256);
}

TEST_CASE("a flush's scope reads back from JSON - absent is global, an unknown scope or a missing id is refused") {
  auto with_proposal = [](const json& proposal) {
    json j = valid_signed_ice_json();
    j["proposal"] = proposal;
    return j;
  };
  for (const auto& scope : {meshos::AvoidScope{meshos::avoid_scope::Global{}}, meshos::AvoidScope{meshos::avoid_scope::Local{kNode}},
                            meshos::AvoidScope{meshos::avoid_scope::OnPeer{kNode}}}) {
    auto back = meshos::signed_ice_commit_from_json(with_proposal(json(IceAction{ice::FlushAvoidLists{scope}})));
    REQUIRE(back);
    CHECK(std::get<ice::FlushAvoidLists>(back->proposal).scope == scope);
  }
  auto bare = meshos::signed_ice_commit_from_json(with_proposal(json{{"kind", "flush_avoid_lists"}}));
  REQUIRE(bare);
  CHECK(std::holds_alternative<meshos::avoid_scope::Global>(std::get<ice::FlushAvoidLists>(bare->proposal).scope));
  check_invalid_signed_ice(with_proposal(json{{"kind", "flush_avoid_lists"}, {"scope", "cluster"}}), "proposal.scope");
  check_invalid_signed_ice(with_proposal(json{{"kind", "flush_avoid_lists"}, {"scope", "local"}}), "proposal.node");
  check_invalid_signed_ice(with_proposal(json{{"kind", "flush_avoid_lists"}, {"scope", 3}}), "proposal.scope");
}
