#include <doctest/doctest.h>

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "meshos/capability.hpp"

using namespace meshos;

namespace {

CapabilitySet caps(std::vector<std::string> tags) {
  auto set = make_capability_set(tags);
  REQUIRE(set);
  return *set;
}

}  // namespace

TEST_CASE("well-formed capability tags are accepted") {
  for (const char* tag : {"hardware.gpu", "hardware.memory_gb=64", "gpu", "a", "zone.eu-west_1", "os.kernel=6.1.0",
                          "net.addr=10.0.0.1:8080", "model=A100-SXM4_80GB", "x.y.z.w"}) {
    CAPTURE(std::string(tag));
    CHECK(is_valid_capability_tag(tag));
  }
}

TEST_CASE("malformed capability tags are rejected") {
  for (const char* tag : {"", "Hardware.gpu", "hardware..gpu", ".gpu", "gpu.", "hardware gpu", "hardware.gpu=",
                          "=64", "hardware.memory_gb=6 4", "hardware.memory_gb=64=1", "tag/with/slash",
                          "hardware.gpu=yes!", "caf\xc3\xa9"}) {
    CAPTURE(std::string(tag));
    CHECK_FALSE(is_valid_capability_tag(tag));
  }
}

TEST_CASE("capability tags are limited to 128 characters") {
  CHECK(is_valid_capability_tag(std::string(128, 'a')));
  CHECK_FALSE(is_valid_capability_tag(std::string(129, 'a')));
  CHECK(is_valid_capability_tag("k=" + std::string(126, 'V')));
  CHECK_FALSE(is_valid_capability_tag("k=" + std::string(127, 'V')));
}

TEST_CASE("value_of reads name=value tags and nothing else") {
  auto set = caps({"hardware.memory_gb=64", "hardware.memory", "hardware.memory_gbx=3", "zone=eu"});
  CHECK(set.value_of("hardware.memory_gb") == std::optional<std::string>("64"));
  CHECK(set.value_of("zone") == std::optional<std::string>("eu"));
  CHECK_FALSE(set.value_of("hardware.memory"));  // present, but without a value
  CHECK_FALSE(set.value_of("hardware"));
  CHECK_FALSE(set.value_of("absent"));
}

TEST_CASE("memory_gb parses hardware.memory_gb=N") {
  CHECK(caps({"hardware.memory_gb=64"}).memory_gb() == std::optional<std::uint64_t>(64));
  CHECK_FALSE(caps({"hardware.gpu"}).memory_gb());
  CapabilitySet hand_built;  // built directly, bypassing validation
  hand_built.tags = {"hardware.memory_gb=lots"};
  CHECK_FALSE(hand_built.memory_gb());
  hand_built.tags = {"hardware.memory_gb=99999999999999999999999"};
  CHECK_FALSE(hand_built.memory_gb());
}

TEST_CASE("has_gpu recognises hardware.gpu with or without a value") {
  CHECK(caps({"hardware.gpu"}).has_gpu());
  CHECK(caps({"hardware.gpu=a100"}).has_gpu());
  CHECK_FALSE(caps({"hardware.gpus"}).has_gpu());
  CHECK_FALSE(caps({"hardware.memory_gb=8"}).has_gpu());
  CHECK_FALSE(CapabilitySet{}.has_gpu());
}

TEST_CASE("make_capability_set keeps tags and metadata") {
  auto set = make_capability_set({"b", "a", "a"}, {{"owner", "team-x"}});
  REQUIRE(set);
  CHECK(set->tags == std::set<std::string>{"a", "b"});
  CHECK(set->metadata == std::map<std::string, std::string>{{"owner", "team-x"}});
  CHECK(set->has("a"));
  CHECK_FALSE(set->has("c"));
}

TEST_CASE("make_capability_set rejects the whole input on one bad tag") {
  auto set = make_capability_set({"hardware.gpu", "Bad Tag", "zone=eu"});
  REQUIRE_FALSE(set);
  CHECK(set.error().code() == Errc::invalid_capability);
  CHECK(set.error().message.find("Bad Tag") != std::string::npos);
}

TEST_CASE("make_capability_set enforces its limits") {
  std::vector<std::string> at_limit;
  for (std::size_t i = 0; i < kMaxCapabilityTags; ++i) at_limit.push_back("t" + std::to_string(i));
  CHECK(make_capability_set(at_limit));
  auto over = at_limit;
  over.push_back("one.more");
  auto too_many = make_capability_set(over);
  REQUIRE_FALSE(too_many);
  CHECK(too_many.error().code() == Errc::invalid_capability);

  std::map<std::string, std::string> metadata;
  for (std::size_t i = 0; i < kMaxCapabilityMetadata; ++i) metadata["k" + std::to_string(i)] = "v";
  CHECK(make_capability_set({}, metadata));
  metadata["extra"] = "v";
  CHECK_FALSE(make_capability_set({}, metadata));

  CHECK(make_capability_set({}, {{"k", std::string(kMaxCapabilityMetadataValue, 'x')}}));
  CHECK_FALSE(make_capability_set({}, {{"k", std::string(kMaxCapabilityMetadataValue + 1, 'x')}}));
  CHECK_FALSE(make_capability_set({}, {{"", "v"}}));
  CHECK_FALSE(make_capability_set({}, {{std::string(129, 'k'), "v"}}));
}

TEST_CASE("make_capability_set rejects metadata that is not UTF-8") {
  CHECK(make_capability_set({}, {{"region", "M\xc3\xbcnchen"}}));
  CHECK_FALSE(make_capability_set({}, {{"region", "M\xfcnchen"}}));  // Latin-1
  CHECK_FALSE(make_capability_set({}, {{"region", "\xc3"}}));        // truncated sequence
  CHECK_FALSE(make_capability_set({}, {{"region", "\xc0\xaf"}}));    // overlong encoding
  CHECK_FALSE(make_capability_set({}, {{"region", "\xed\xa0\x80"}}));  // surrogate
  CHECK_FALSE(make_capability_set({}, {{"\xff", "v"}}));
}

TEST_CASE("make_capability_set rejects one name with two values and a non-numeric memory size") {
  auto conflicting = make_capability_set({"hardware.memory_gb=64", "hardware.memory_gb=32"});
  REQUIRE_FALSE(conflicting);
  CHECK(conflicting.error().message.find("hardware.memory_gb") != std::string::npos);
  CHECK(make_capability_set({"zone=eu", "zone=eu"}));
  auto not_a_number = make_capability_set({"hardware.memory_gb=lots"});
  REQUIRE_FALSE(not_a_number);
  CHECK(not_a_number.error().code() == Errc::invalid_capability);
}

TEST_CASE("capability_set_from_json accepts an array of tags") {
  auto set = capability_set_from_json(nlohmann::json::parse(R"(["hardware.gpu", "hardware.memory_gb=16"])"));
  REQUIRE(set);
  CHECK(set->tags == std::set<std::string>{"hardware.gpu", "hardware.memory_gb=16"});
  CHECK(set->metadata.empty());
}

TEST_CASE("capability_set_from_json accepts an object with tags and metadata") {
  auto set = capability_set_from_json(
      nlohmann::json::parse(R"({"tags": ["zone=eu"], "metadata": {"owner": "ops", "rack": "r12"}})"));
  REQUIRE(set);
  CHECK(set->tags == std::set<std::string>{"zone=eu"});
  CHECK(set->metadata == std::map<std::string, std::string>{{"owner", "ops"}, {"rack", "r12"}});
  auto only_tags = capability_set_from_json(nlohmann::json::parse(R"({"tags": []})"));
  REQUIRE(only_tags);
  CHECK(*only_tags == CapabilitySet{});
}

TEST_CASE("capability_set_from_json rejects malformed input") {
  const char* bad[] = {
      R"("hardware.gpu")",
      R"(42)",
      R"(null)",
      R"([1, 2])",
      R"(["ok", null])",
      R"(["Not Valid"])",
      R"({"tags": "hardware.gpu"})",
      R"({"tag": ["hardware.gpu"]})",
      R"({"tags": [], "metadata": {"k": 1}})",
      R"({"tags": [], "metadata": ["k"]})",
  };
  for (const char* text : bad) {
    CAPTURE(std::string(text));
    auto set = capability_set_from_json(nlohmann::json::parse(text));
    REQUIRE_FALSE(set);
    CHECK(set.error().code() == Errc::invalid_capability);
  }
}

TEST_CASE("capability_set_from_json_text reports JSON errors with their position, without throwing") {
  auto set = capability_set_from_json_text(R"(["hardware.gpu", )");
  REQUIRE_FALSE(set);
  CHECK(set.error().code() == Errc::invalid_capability);
  CHECK(set.error().message.find("at byte 18") != std::string::npos);

  for (const char* text : {"", "[", "{\"tags\": [}", "not json", "[\"a\"] trailing", "[\"\xff\"]"}) {
    CAPTURE(std::string(text));
    Result<CapabilitySet> result = CapabilitySet{};
    CHECK_NOTHROW(result = capability_set_from_json_text(text));
    REQUIRE_FALSE(result);
    CHECK(result.error().code() == Errc::invalid_capability);
  }
}

TEST_CASE("capability_set_from_json_text refuses oversized input") {
  std::string huge = "[\"" + std::string(300 * 1024, 'a') + "\"]";
  auto set = capability_set_from_json_text(huge);
  REQUIRE_FALSE(set);
  CHECK(set.error().code() == Errc::invalid_capability);
}

TEST_CASE("capability sets round-trip through JSON text") {
  auto original = make_capability_set({"hardware.gpu", "hardware.memory_gb=64"}, {{"owner", "ops"}});
  REQUIRE(original);
  nlohmann::json j = *original;
  CHECK(j == nlohmann::json::parse(
                 R"({"tags":["hardware.gpu","hardware.memory_gb=64"],"metadata":{"owner":"ops"}})"));
  auto decoded = capability_set_from_json_text(j.dump());
  REQUIRE(decoded);
  CHECK(*decoded == *original);
}

TEST_CASE("the default filter matches everything") {
  CapabilityFilter any;
  CHECK(any.matches(CapabilitySet{}));
  CHECK(any.matches(caps({"hardware.gpu", "zone=eu"})));
}

TEST_CASE("a filter requires all of its tags") {
  CapabilityFilter filter;
  filter.required_tags = {"zone=eu", "ssd"};
  CHECK(filter.matches(caps({"zone=eu", "ssd", "extra"})));
  CHECK_FALSE(filter.matches(caps({"zone=eu"})));
  CHECK_FALSE(filter.matches(caps({"zone=us", "ssd"})));
}

TEST_CASE("a filter's minimum memory comes from hardware.memory_gb") {
  CapabilityFilter filter;
  filter.min_memory_gb = 32;
  CHECK(filter.matches(caps({"hardware.memory_gb=32"})));
  CHECK(filter.matches(caps({"hardware.memory_gb=64"})));
  CHECK_FALSE(filter.matches(caps({"hardware.memory_gb=16"})));
  CHECK_FALSE(filter.matches(caps({"hardware.gpu"})));  // unknown memory does not qualify
}

TEST_CASE("a filter may require a GPU") {
  CapabilityFilter filter;
  filter.gpu_required = true;
  CHECK(filter.matches(caps({"hardware.gpu"})));
  CHECK(filter.matches(caps({"hardware.gpu=h100"})));
  CHECK_FALSE(filter.matches(caps({"hardware.memory_gb=512"})));
}

TEST_CASE("filters serialize to JSON") {
  CapabilityFilter filter;
  CHECK(nlohmann::json(filter) ==
        nlohmann::json::parse(R"({"required_tags":[],"min_memory_gb":null,"gpu_required":false})"));
  filter.required_tags = {"ssd"};
  filter.min_memory_gb = 8;
  filter.gpu_required = true;
  CHECK(nlohmann::json(filter) ==
        nlohmann::json::parse(R"({"required_tags":["ssd"],"min_memory_gb":8,"gpu_required":true})"));
}

TEST_CASE("daemon descriptions round-trip through JSON and refuse what a peer must not send") {
  auto caps = make_capability_set({"hardware.gpu"}, {{"rack", "b7"}});
  REQUIRE(caps);
  std::vector<DaemonDescription> daemons{{0xabc, "trainer", *caps, true}, {0xdef, "idle", {}, false}};
  const auto text = nlohmann::json(daemons).dump();
  auto decoded = daemon_descriptions_from_json_text(text);
  REQUIRE(decoded);
  CHECK(*decoded == daemons);
  for (const char* bad : {R"({"id": "abc"})", R"([{"id": "0", "name": "x"}])", R"([{"id": "xyz", "name": "x"}])",
                          R"([{"id": "abc", "name": 5}])", R"([{"id": "abc", "name": "x", "running": "yes"}])",
                          R"([{"id": "abc", "name": "x", "capabilities": ["Not A Tag"]}])", "[[[[", "not json"}) {
    auto refused = daemon_descriptions_from_json_text(bad);
    REQUIRE_FALSE(refused);
    CHECK(refused.error().code() == Errc::invalid_daemon_descriptions);
  }
  nlohmann::json many = nlohmann::json::array();
  for (std::size_t i = 0; i <= kMaxDescribedDaemons; ++i) many.push_back({{"id", "1"}, {"name", "x"}});
  CHECK_FALSE(daemon_descriptions_from_json(many));
}
