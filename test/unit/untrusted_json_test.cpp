#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "meshos/admin.hpp"
#include "meshos/capability.hpp"
#include "meshos/identity.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/maintenance.hpp"
#include "meshos/operators.hpp"
#include "meshos/snapshot.hpp"
#include "meshos/types.hpp"
#include "meshos/untrusted_json.hpp"
#include "meshos/utf8.hpp"

using namespace meshos;
using nlohmann::json;

namespace {

// What killed nodes: 130,000 nested '[' (260 KB with the closing ones) in a peer's hello.
constexpr std::size_t kAttackDepth = 130'000;

std::string deep_array(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

std::string deep_object(std::size_t depth) {
  std::string text;
  for (std::size_t i = 0; i < depth; ++i) text += "{\"a\":";
  text += "1";
  text += std::string(depth, '}');
  return text;
}

// Only the opening half: a stream cut off mid-way must be refused for its depth just the same.
std::string deep_open_arrays(std::size_t depth) { return std::string(depth, '['); }

Result<json> parse(const std::string& text, std::size_t max_bytes = 1 << 20) {
  return parse_untrusted_json(text, JsonLimits{max_bytes, kMaxJsonDepth}, Errc::invalid_request, "test input");
}

bool says_too_deep(const SdkError& e) {
  return e.message.find("nests deeper than the limit of " + std::to_string(kMaxJsonDepth) + " levels") !=
         std::string::npos;
}

// Every deep form is refused by `decode` with `kind`: the 130,000-level ones (as too deep, or as too large
// where the use's size limit is below their size), and as too deep the deepest of each form that fits
// within `limits.max_bytes` as well as the first depth over the limit.
template <class Decode>
void check_refuses_deep_input(Decode decode, const std::string& kind, const JsonLimits& limits) {
  for (const std::string& text : {deep_array(kAttackDepth), deep_object(kAttackDepth), deep_open_arrays(kAttackDepth)}) {
    CAPTURE(text.size());
    auto result = decode(text);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == kind);
  }
  const std::size_t fits = limits.max_bytes;
  for (const std::string& text :
       {deep_array(std::min(kAttackDepth, fits / 2)), deep_object(std::min(kAttackDepth, (fits - 1) / 6)),
        deep_open_arrays(std::min(kAttackDepth, fits)), deep_array(kMaxJsonDepth + 1),
        deep_object(kMaxJsonDepth + 1)}) {
    CAPTURE(text.size());
    REQUIRE(text.size() <= fits);
    auto result = decode(text);
    REQUIRE_FALSE(result);
    CHECK(result.error().kind == kind);
    CHECK(says_too_deep(result.error()));
  }
}

std::string key_file_text(const EntityKeypair& kp) {
  auto seed = kp.seed();
  REQUIRE(seed);
  return json{{"name", "alice"},
              {"seed", bytes_to_hex(seed->data(), seed->size())},
              {"public_key", bytes_to_hex(kp.public_key().data(), kp.public_key().size())}}
      .dump();
}

Result<SignedAdminCommit> admin_commit_from_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kCommit, Errc::invalid_commit, "commit");
  if (!j) return j.error();
  return signed_admin_commit_from_json(*j);
}

Result<SignedIceCommit> ice_commit_from_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kCommit, Errc::invalid_commit, "commit");
  if (!j) return j.error();
  return signed_ice_commit_from_json(*j);
}

}  // namespace

TEST_CASE("untrusted JSON: the depth limit itself is accepted, one level more is refused") {
  auto arrays = parse(deep_array(kMaxJsonDepth));
  REQUIRE(arrays);
  CHECK(arrays->is_array());
  auto objects = parse(deep_object(kMaxJsonDepth));
  REQUIRE(objects);
  CHECK(objects->is_object());
  // Mixed nesting counts both kinds of bracket.
  std::string mixed;
  for (std::size_t i = 0; i < kMaxJsonDepth / 2; ++i) mixed += "[{\"k\":";
  mixed += "0";
  for (std::size_t i = 0; i < kMaxJsonDepth / 2; ++i) mixed += "}]";
  CHECK(parse(mixed));
  CHECK_FALSE(parse("[" + mixed + "]"));

  // The message gives the offset of the bracket that opens the level one too deep.
  const std::pair<std::string, std::size_t> too_deep[] = {{deep_array(kMaxJsonDepth + 1), kMaxJsonDepth},
                                                          {deep_object(kMaxJsonDepth + 1), kMaxJsonDepth * 5}};
  for (const auto& [text, offset] : too_deep) {
    auto refused = parse(text);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == Errc::invalid_request);
    CHECK(says_too_deep(refused.error()));
    CHECK(refused.error().message.find("(at byte " + std::to_string(offset) + ")") != std::string::npos);
  }
}

TEST_CASE("untrusted JSON: 130,000 levels are refused before parsing, arrays, objects and unterminated") {
  for (const auto& text : {deep_array(kAttackDepth), deep_object(kAttackDepth), deep_open_arrays(kAttackDepth)}) {
    auto refused = parse(text, text.size());
    REQUIRE_FALSE(refused);
    CHECK(says_too_deep(refused.error()));
    CHECK(refused.error().message.size() < 200);
  }
}

TEST_CASE("untrusted JSON: brackets inside strings are text, not nesting") {
  const std::string brackets(10 * kMaxJsonDepth, '[');
  auto in_string = parse("[\"" + brackets + "\", \"" + std::string(10 * kMaxJsonDepth, '{') + "\"]");
  REQUIRE(in_string);
  CHECK((*in_string)[0] == brackets);
  // As an object key too.
  CHECK(parse("{\"" + brackets + "\": 1}"));
  // Closing brackets inside a string do not lower the depth either.
  std::string closers = "\"" + std::string(kMaxJsonDepth, ']') + "\"";
  CHECK_FALSE(parse(std::string(kMaxJsonDepth, '[') + closers + "," + deep_array(1) + std::string(kMaxJsonDepth, ']')));
}

TEST_CASE("untrusted JSON: escaped quotes keep a string open, an escaped backslash does not") {
  // \" inside the string: the brackets after it are still text.
  const std::string brackets(2 * kMaxJsonDepth, '[');
  auto escaped_quote = parse("[\"a\\\"" + brackets + "\"]");
  REQUIRE(escaped_quote);
  CHECK((*escaped_quote)[0] == "a\"" + brackets);
  // \\ ends in a real quote: what follows is structure, and counts.
  const std::string nested = deep_array(kMaxJsonDepth);
  auto counted = parse("[\"a\\\\\", " + nested + "]");
  REQUIRE_FALSE(counted);
  CHECK(says_too_deep(counted.error()));
  CHECK(parse("[\"a\\\\\", " + deep_array(kMaxJsonDepth - 1) + "]"));
  // \u0022 is a quote character in the value, not the end of the string.
  auto unicode_quote = parse("[\"\\u0022" + brackets + "\"]");
  REQUIRE(unicode_quote);
  CHECK((*unicode_quote)[0] == "\"" + brackets);
}

TEST_CASE("untrusted JSON: the size limit is inclusive and checked first") {
  const std::string exactly = "\"" + std::string(14, 'x') + "\"";  // 16 bytes
  CHECK(parse(exactly, 16));
  auto over = parse(exactly + " ", 16);
  REQUIRE_FALSE(over);
  CHECK(over.error().code() == Errc::invalid_request);
  CHECK(over.error().message == "test input JSON is 17 bytes, over the limit of 16");
  // Oversize and deep: the size is what is reported, nothing was scanned.
  auto both = parse(deep_array(kAttackDepth), 1024);
  REQUIRE_FALSE(both);
  CHECK(both.error().message.find("over the limit of 1024") != std::string::npos);
}

TEST_CASE("untrusted JSON: parse errors name the place, never quote the text, and stay printable") {
  for (const std::string& text : {std::string("{not json"), std::string(""), std::string("[1, 2"),
                                  "[\"" + std::string(100'000, 'a') + "\xff\"]", "[" + std::string(100'000, '7') + "e999]",
                                  "[\"" + std::string(100'000, 'b')}) {
    CAPTURE(text.substr(0, 40));
    auto refused = parse(text);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == Errc::invalid_request);
    CHECK(refused.error().message.rfind("test input is not valid JSON", 0) == 0);
    CHECK(refused.error().message.size() < 300);
    CHECK(refused.error().message.find("aaaaaaaa") == std::string::npos);
    CHECK(refused.error().message.find("77777777") == std::string::npos);
    CHECK(refused.error().message.find("bbbbbbbb") == std::string::npos);
    // The message ends up in JSON (audit records, replies): it must serialise.
    CHECK_NOTHROW((void)json{{"message", refused.error().message}}.dump());
  }
  auto at = parse("[1, x]");
  REQUIRE_FALSE(at);
  CHECK(at.error().message.find("(at byte ") != std::string::npos);
}

TEST_CASE("capabilities from text: deep input refused with invalid_capability, the limit depth reaches the decoder") {
  check_refuses_deep_input([](const std::string& t) { return capability_set_from_json_text(t); }, "invalid_capability",
                           json_limits::kCapabilities);
  // 64 levels parse; the decoder then refuses the inner array as a tag.
  auto at_limit = capability_set_from_json_text(deep_array(kMaxJsonDepth));
  REQUIRE_FALSE(at_limit);
  CHECK(at_limit.error().message == "every tag must be a string, got array");
  auto too_big = capability_set_from_json_text("[\"" + std::string(json_limits::kCapabilities.max_bytes, 'a') + "\"]");
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().code() == Errc::invalid_capability);
  CHECK(too_big.error().message.find("over the limit of 262144") != std::string::npos);
  auto fine = capability_set_from_json_text(R"({"tags": ["zone=[eu]"], "metadata": {"note": "{[("}})");
  REQUIRE_FALSE(fine);  // '[' is not a tag character: refused by the tag check, not as nesting
  CHECK_FALSE(says_too_deep(fine.error()));
  auto good = capability_set_from_json_text(R"({"tags": ["hardware.gpu"], "metadata": {"note": "[[[[{{{{"}})");
  REQUIRE(good);
  CHECK(good->metadata.at("note") == "[[[[{{{{");
}

TEST_CASE("capabilities: a long bad tag is quoted by its prefix only") {
  auto refused = capability_set_from_json_text("[\"" + std::string(200'000, 'A') + "\"]");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message.size() < 400);
  CHECK(refused.error().message.find("(200000 bytes)") != std::string::npos);
}

TEST_CASE("snapshots from text: deep input refused with invalid_snapshot, a real snapshot read back") {
  check_refuses_deep_input([](const std::string& t) { return snapshot_from_json_text(t); }, "invalid_snapshot",
                           json_limits::kSnapshot);
  MeshOsSnapshot s;
  s.node_id = 42;
  s.seq = 7;
  PeerSnapshot peer;
  peer.node = 9;
  peer.capability_tags = {"zone=eu"};
  s.peers.emplace(peer.node, peer);
  AuditRecord audit;
  audit.seq = 1;
  audit.reason = "brackets [[[[ in a reason";
  s.audit.push_back(audit);
  auto back = snapshot_from_json_text(json(s).dump());
  REQUIRE(back);
  CHECK(back->node_id == 42);
  CHECK(back->seq == 7);
  CHECK(back->peers.count(9) == 1);
  REQUIRE(back->audit.size() == 1);
  CHECK(back->audit[0].reason == audit.reason);
}

TEST_CASE("maintenance views from text: deep input refused with invalid_maintenance_state") {
  check_refuses_deep_input([](const std::string& t) { return maintenance_view_from_json_text(t); },
                           "invalid_maintenance_state", json_limits::kMaintenanceView);
  json j;
  to_json(j, MaintenanceStateView{view::DrainFailed{5, "[[[[ stuck"}});
  auto back = maintenance_view_from_json_text(j.dump());
  REQUIRE(back);
  CHECK(kind_of(*back) == MaintenanceKind::DrainFailed);
}

TEST_CASE("key files from text: deep input refused with invalid_key_file, a real key read back") {
  check_refuses_deep_input([](const std::string& t) { return key_file_from_text(t, "k.json"); }, "invalid_key_file",
                           json_limits::kKeyFile);
  auto kp = EntityKeypair::generate();
  auto back = key_file_from_text(key_file_text(kp), "k.json");
  REQUIRE(back);
  CHECK(back->name == "alice");
  CHECK(back->keypair.public_key() == kp.public_key());
  auto too_big = key_file_from_text(std::string(json_limits::kKeyFile.max_bytes + 1, ' '), "k.json");
  REQUIRE_FALSE(too_big);
  CHECK(too_big.error().message.rfind("k.json: ", 0) == 0);
}

TEST_CASE("operator registries from text: deep input refused with invalid_operator_registry") {
  check_refuses_deep_input([](const std::string& t) { return OperatorRegistry::from_json_text(t); },
                           "invalid_operator_registry", json_limits::kOperatorRegistry);
  auto kp = EntityKeypair::generate();
  const json registry{{"operators", {{{"name", "[alice]"},
                                      {"public_key", bytes_to_hex(kp.public_key().data(), kp.public_key().size())}}}}};
  auto back = OperatorRegistry::from_json_text(registry.dump());
  REQUIRE(back);
  CHECK(back->contains(kp.origin_hash()));
}

TEST_CASE("signed commits from text: deep input refused with invalid_commit, real commits read back") {
  check_refuses_deep_input([](const std::string& t) { return admin_commit_from_text(t); }, "invalid_commit",
                           json_limits::kCommit);
  check_refuses_deep_input([](const std::string& t) { return ice_commit_from_text(t); }, "invalid_commit",
                           json_limits::kCommit);
  auto op = EntityKeypair::generate();
  auto commit = sign_admin(op, 1000, admin::Cordon{7});
  REQUIRE(commit);
  auto back = admin_commit_from_text(json(*commit).dump());
  REQUIRE(back);
  CHECK(back->signature.operator_id == op.origin_hash());
  BlastRadiusHash blast{};
  blast[0] = 1;
  auto sig = sign_ice(op, 1000, blast, ice::ThawCluster{});
  REQUIRE(sig);
  auto ice_back = ice_commit_from_text(json(SignedIceCommit{1000, blast, ice::ThawCluster{}, {*sig}}).dump());
  REQUIRE(ice_back);
  CHECK(ice_back->signatures.size() == 1);
  // A deep value where the decoder expects a field is refused by the parser, not by the decoder.
  json with_deep_event = json(*commit);
  auto text = with_deep_event.dump();
  text.replace(text.find("\"event\":") + 8, 0, deep_array(kMaxJsonDepth) + ",\"x\":");
  auto deep_field = admin_commit_from_text(text);
  REQUIRE_FALSE(deep_field);
  CHECK(says_too_deep(deep_field.error()));
}

TEST_CASE("is_valid_utf8 takes well-formed UTF-8 only, and utf8_prefix never cuts a character in two") {
  CHECK(meshos::is_valid_utf8(""));
  CHECK(meshos::is_valid_utf8("plain ascii"));
  CHECK(meshos::is_valid_utf8("gr\xC3\xBC\xC3\x9F \xE2\x82\xAC \xF0\x9F\x98\x80"));  // ü ß € 😀
  CHECK_FALSE(meshos::is_valid_utf8("\xC3"));                   // cut sequence
  CHECK_FALSE(meshos::is_valid_utf8("\xC0\xAF"));               // overlong '/'
  CHECK_FALSE(meshos::is_valid_utf8("\xED\xA0\x80"));           // a UTF-16 surrogate
  CHECK_FALSE(meshos::is_valid_utf8("\xF4\x90\x80\x80"));       // beyond U+10FFFF
  CHECK_FALSE(meshos::is_valid_utf8("\xFF"));
  CHECK_FALSE(meshos::is_valid_utf8(std::string_view("a\x80", 2)));  // a continuation byte alone
  const std::string euros = "\xE2\x82\xAC\xE2\x82\xAC";  // two 3-byte characters
  CHECK(meshos::utf8_prefix(euros, 6) == euros);
  CHECK(meshos::utf8_prefix(euros, 5) == "\xE2\x82\xAC");
  CHECK(meshos::utf8_prefix(euros, 3) == "\xE2\x82\xAC");
  CHECK(meshos::utf8_prefix(euros, 2).empty());
  CHECK(meshos::utf8_prefix("abc", 2) == "ab");
  for (std::size_t n = 0; n <= euros.size(); ++n) CHECK(meshos::is_valid_utf8(meshos::utf8_prefix(euros, n)));
}
