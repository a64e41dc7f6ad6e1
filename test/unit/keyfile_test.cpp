#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include <nlohmann/json.hpp>

#include "meshos/identity.hpp"
#include "meshos/keyfile.hpp"
#include "meshos/types.hpp"

using meshos::EntityKeypair;
using meshos::load_key_file;
using meshos::write_key_file;
using nlohmann::json;

namespace {

// TempDir: test/support/temp_dir.hpp
using meshos::test::TempDir;

mode_t mode_of(const std::string& path) {
  struct stat info {};
  REQUIRE(::stat(path.c_str(), &info) == 0);
  return info.st_mode & 07777;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string public_hex(const EntityKeypair& kp) {
  return meshos::bytes_to_hex(kp.public_key().data(), kp.public_key().size());
}

std::string seed_hex(const EntityKeypair& kp) {
  auto seed = kp.seed();
  REQUIRE(seed);
  return meshos::bytes_to_hex(seed->data(), seed->size());
}

json key_json(const EntityKeypair& kp, const std::string& name = "alice") {
  return json{{"name", name}, {"seed", seed_hex(kp)}, {"public_key", public_hex(kp)}};
}

void check_invalid(const TempDir& dir, const std::string& contents, const std::string& message_part) {
  CAPTURE(contents);
  auto loaded = load_key_file(dir.write("bad.key", contents));
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code() == meshos::Errc::invalid_key_file);
  CHECK(loaded.error().message.find(message_part) != std::string::npos);
  CHECK(loaded.error().message.find(dir.file("bad.key")) != std::string::npos);
}

}  // namespace

TEST_CASE("a written key file loads back with the same name and key") {
  TempDir dir;
  auto kp = EntityKeypair::generate();
  const std::string path = dir.file("alice.key");
  REQUIRE(write_key_file(path, "alice", kp));

  auto loaded = load_key_file(path);
  REQUIRE(loaded);
  CHECK(loaded->name == "alice");
  CHECK(loaded->keypair.public_key() == kp.public_key());
  CHECK(loaded->keypair.has_secret());
  CHECK(seed_hex(loaded->keypair) == seed_hex(kp));
  CHECK(loaded->keypair.node_id() == kp.node_id());
}

TEST_CASE("a key file is written with mode 0600 whatever the umask, as the documented JSON") {
  TempDir dir;
  auto kp = EntityKeypair::generate();
  const std::string path = dir.file("node.key");
  const mode_t previous = ::umask(0);
  auto written = write_key_file(path, "node-a", kp);
  ::umask(previous);
  REQUIRE(written);
  CHECK(mode_of(path) == 0600);

  json j = json::parse(read_text(path));
  CHECK(j == key_json(kp, "node-a"));
  // Nothing but the key file itself is left in the directory (no temporary file).
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(dir.path())) ++entries;
  CHECK(entries == 1);
}

TEST_CASE("an existing key file is kept unless overwrite is asked for") {
  TempDir dir;
  auto first = EntityKeypair::generate();
  auto second = EntityKeypair::generate();
  const std::string path = dir.file("op.key");
  REQUIRE(write_key_file(path, "first", first));

  auto refused = write_key_file(path, "second", second);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == meshos::Errc::key_file_exists);
  auto still = load_key_file(path);
  REQUIRE(still);
  CHECK(still->name == "first");
  CHECK(still->keypair.public_key() == first.public_key());

  REQUIRE(write_key_file(path, "second", second, /*overwrite=*/true));
  auto replaced = load_key_file(path);
  REQUIRE(replaced);
  CHECK(replaced->name == "second");
  CHECK(replaced->keypair.public_key() == second.public_key());
  CHECK(mode_of(path) == 0600);
}

TEST_CASE("a public-only key cannot be written to a key file") {
  TempDir dir;
  auto kp = EntityKeypair::generate();
  auto result = write_key_file(dir.file("pub.key"), "x", EntityKeypair::public_only(kp.public_key()));
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == meshos::Errc::public_key_only);
  CHECK_FALSE(std::filesystem::exists(dir.file("pub.key")));
}

TEST_CASE("writing into a missing directory fails with key_file_write_failed") {
  TempDir dir;
  auto result = write_key_file(dir.file("no/such/dir/op.key"), "x", EntityKeypair::generate());
  REQUIRE_FALSE(result);
  CHECK(result.error().code() == meshos::Errc::key_file_write_failed);
}

TEST_CASE("a missing key file or a directory is key_file_not_found") {
  TempDir dir;
  auto missing = load_key_file(dir.file("absent.key"));
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == meshos::Errc::key_file_not_found);
  CHECK(missing.error().message.find("absent.key") != std::string::npos);

  auto directory = load_key_file(dir.path());
  REQUIRE_FALSE(directory);
  CHECK(directory.error().code() == meshos::Errc::key_file_not_found);
}

TEST_CASE("a key file readable by group or others is refused") {
  TempDir dir;
  auto kp = EntityKeypair::generate();
  const std::string text = key_json(kp).dump();
  for (mode_t mode : {mode_t{0640}, mode_t{0604}, mode_t{0644}, mode_t{0660}}) {
    CAPTURE(mode);
    auto loaded = load_key_file(dir.write("open.key", text, mode));
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error().code() == meshos::Errc::invalid_key_file);
    CHECK(loaded.error().message.find("permissions too open") != std::string::npos);
  }
  CHECK(load_key_file(dir.write("owner-only.key", text, 0400)));
}

TEST_CASE("malformed key files are refused with invalid_key_file and the reason") {
  TempDir dir;
  auto kp = EntityKeypair::generate();
  auto other = EntityKeypair::generate();

  check_invalid(dir, "not json", "not valid JSON");
  check_invalid(dir, "", "not valid JSON");
  check_invalid(dir, "[1, 2]", "expected a JSON object");

  json missing_seed = key_json(kp);
  missing_seed.erase("seed");
  check_invalid(dir, missing_seed.dump(), "seed: missing");
  json missing_name = key_json(kp);
  missing_name.erase("name");
  check_invalid(dir, missing_name.dump(), "name: missing");
  json missing_public = key_json(kp);
  missing_public.erase("public_key");
  check_invalid(dir, missing_public.dump(), "public_key: missing");

  json extra = key_json(kp);
  extra["comment"] = "hi";
  check_invalid(dir, extra.dump(), "comment: unknown field");

  json numeric_name = key_json(kp);
  numeric_name["name"] = 7;
  check_invalid(dir, numeric_name.dump(), "name: expected a string");

  json short_seed = key_json(kp);
  short_seed["seed"] = "abcd";
  check_invalid(dir, short_seed.dump(), "seed:");
  json non_hex_seed = key_json(kp);
  non_hex_seed["seed"] = std::string(64, 'z');
  check_invalid(dir, non_hex_seed.dump(), "seed:");
  json bad_public = key_json(kp);
  bad_public["public_key"] = std::string(63, '0');
  check_invalid(dir, bad_public.dump(), "public_key:");

  json mismatched = key_json(kp);
  mismatched["public_key"] = public_hex(other);
  check_invalid(dir, mismatched.dump(), "does not match the seed");
}

TEST_CASE("a malformed seed is described without echoing it") {
  TempDir dir;
  json j = key_json(EntityKeypair::generate());
  const std::string secretish = std::string(62, 'a') + "zz";
  j["seed"] = secretish;
  auto loaded = load_key_file(dir.write("leak.key", j.dump()));
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().message.find(secretish) == std::string::npos);
}

TEST_CASE("an oversized key file is refused without reading it whole") {
  TempDir dir;
  auto loaded = load_key_file(dir.write("huge.key", std::string(200 * 1024, ' ')));
  REQUIRE_FALSE(loaded);
  CHECK(loaded.error().code() == meshos::Errc::invalid_key_file);
  CHECK(loaded.error().message.find("larger than") != std::string::npos);
}
