#include <doctest/doctest.h>

#include <cstdint>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "meshos/shared_map.hpp"

using Map = meshos::SharedMap<std::uint64_t, std::string, 4>;

namespace {

std::map<std::uint64_t, std::string> as_std(const Map& m) {
  std::map<std::uint64_t, std::string> out;
  for (const auto& [k, v] : m) out.emplace(k, v);
  return out;
}

Map with_keys(std::uint64_t from, std::uint64_t to) {
  Map m;
  Map::Builder b(m);
  for (auto k = from; k < to; ++k) b.put(k, "v" + std::to_string(k));
  return std::move(b).finish();
}

}  // namespace

TEST_CASE("SharedMap reads like std::map: find, count, at, size and iteration in key order") {
  Map m;
  CHECK(m.empty());
  CHECK(m.begin() == m.end());
  CHECK(m.find(1) == m.end());
  CHECK_THROWS_AS(m.at(1), std::out_of_range);
  for (std::uint64_t k : {50u, 10u, 30u, 20u, 40u, 5u, 60u, 15u, 25u, 35u})
    CHECK(m.emplace(k, std::to_string(k)).second);
  CHECK_FALSE(m.emplace(30, "other").second);  // emplace does not overwrite
  CHECK(m.size() == 10);
  CHECK(m.at(30) == "30");
  CHECK(m.count(35) == 1);
  CHECK(m.count(36) == 0);
  CHECK(m.find(36) == m.end());
  CHECK(m.find(1) == m.end());    // below every key
  CHECK(m.find(100) == m.end());  // above every key
  std::vector<std::uint64_t> keys;
  for (const auto& kv : m) keys.push_back(kv.first);
  CHECK(keys == std::vector<std::uint64_t>{5, 10, 15, 20, 25, 30, 35, 40, 50, 60});
  m.insert_or_assign(30, "thirty");
  CHECK(m.at(30) == "thirty");
  CHECK(m.size() == 10);
  CHECK(m.erase(30) == 1);
  CHECK(m.erase(30) == 0);
  CHECK(m.size() == 9);
  CHECK_FALSE(m.contains(30));
}

TEST_CASE("a copy edited through a Builder shares every chunk it did not touch and leaves the original as it was") {
  const Map base = with_keys(0, 400);  // 100 chunks of 4
  REQUIRE(base.chunk_count() == 100);
  Map::Builder b(base);
  b.put(7, "changed");     // chunk of 4..7
  b.erase(201);            // chunk of 200..203
  b.put(1000, "appended"); // the last chunk
  const Map next = std::move(b).finish();
  CHECK(next.chunks_shared_with(base) == 97);
  CHECK(next.at(7) == "changed");
  CHECK(next.count(201) == 0);
  CHECK(next.at(1000) == "appended");
  CHECK(next.size() == 400);
  // The original is untouched.
  CHECK(base.at(7) == "v7");
  CHECK(base.at(201) == "v201");
  CHECK(base.count(1000) == 0);
  CHECK(base.size() == 400);
}

TEST_CASE("a chunk that grows past twice its size is split, and an emptied chunk disappears") {
  Map m;
  Map::Builder b(m);
  for (std::uint64_t k = 0; k < 100; ++k) b.put(k, "x");  // all into one chunk while building
  m = std::move(b).finish();
  CHECK(m.chunk_count() == 25);
  Map::Builder e(m);
  for (std::uint64_t k = 0; k < 4; ++k) e.erase(k);
  m = std::move(e).finish();
  CHECK(m.chunk_count() == 24);
  CHECK(m.begin()->first == 4);
}

TEST_CASE("SharedMap matches std::map under random edits, and every earlier version stays as it was") {
  std::mt19937_64 rng(20261202);
  Map m;
  std::map<std::uint64_t, std::string> expected;
  std::vector<std::pair<Map, std::map<std::uint64_t, std::string>>> versions;
  for (int round = 0; round < 200; ++round) {
    Map::Builder b(m);
    const int edits = static_cast<int>(rng() % 20);
    for (int i = 0; i < edits; ++i) {
      const std::uint64_t key = rng() % 300;
      if (rng() % 3 == 0) {
        b.erase(key);
        expected.erase(key);
      } else {
        auto value = std::to_string(rng() % 1000);
        b.put(key, value);
        expected[key] = value;
      }
    }
    m = std::move(b).finish();
    REQUIRE(m.size() == expected.size());
    REQUIRE(as_std(m) == expected);
    for (std::uint64_t probe = 0; probe < 300; probe += 7) CHECK(m.count(probe) == expected.count(probe));
    if (round % 20 == 0) versions.emplace_back(m, expected);
  }
  for (const auto& [kept, contents] : versions) CHECK(as_std(kept) == contents);
}
