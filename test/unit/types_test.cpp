#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <string>

#include "meshos/types.hpp"

using meshos::Bytes;

TEST_CASE("to_hex renders 16 lower-case digits without a prefix") {
  CHECK(meshos::to_hex(0) == "0000000000000000");
  CHECK(meshos::to_hex(1) == "0000000000000001");
  CHECK(meshos::to_hex(0xdeadbeefULL) == "00000000deadbeef");
  CHECK(meshos::to_hex(0x0123456789abcdefULL) == "0123456789abcdef");
  CHECK(meshos::to_hex(std::numeric_limits<std::uint64_t>::max()) == "ffffffffffffffff");
}

TEST_CASE("parse_hex_u64 inverts to_hex") {
  for (std::uint64_t id : {std::uint64_t{0}, std::uint64_t{1}, std::uint64_t{0x8000000000000000ULL},
                           std::uint64_t{0x0123456789abcdefULL}, std::numeric_limits<std::uint64_t>::max()}) {
    std::uint64_t parsed = 42;
    REQUIRE(meshos::parse_hex_u64(meshos::to_hex(id), parsed));
    CHECK(parsed == id);
  }
}

TEST_CASE("parse_hex_u64 accepts 1 to 16 digits of either case") {
  std::uint64_t out = 0;
  REQUIRE(meshos::parse_hex_u64("f", out));
  CHECK(out == 0xf);
  REQUIRE(meshos::parse_hex_u64("DeadBeef", out));
  CHECK(out == 0xdeadbeefULL);
  REQUIRE(meshos::parse_hex_u64("FFFFFFFFFFFFFFFF", out));
  CHECK(out == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("parse_hex_u64 rejects anything else and leaves the output untouched") {
  for (const char* bad : {"", "0x1f", "12345678901234567", "g", "12 34", " 1", "1-", "+1", "-1"}) {
    std::uint64_t out = 77;
    CAPTURE(bad);
    CHECK_FALSE(meshos::parse_hex_u64(bad, out));
    CHECK(out == 77);
  }
  std::uint64_t out = 77;
  CHECK_FALSE(meshos::parse_hex_u64(std::string("1\0" "2", 3), out));
  CHECK(out == 77);
}

TEST_CASE("bytes_to_hex renders every byte as two lower-case digits") {
  CHECK(meshos::bytes_to_hex(Bytes{}) == "");
  CHECK(meshos::bytes_to_hex(Bytes{0x00, 0x0f, 0xa0, 0xff}) == "000fa0ff");
  const std::uint8_t raw[] = {0xde, 0xad, 0xbe, 0xef};
  CHECK(meshos::bytes_to_hex(raw, sizeof raw) == "deadbeef");
  CHECK(meshos::bytes_to_hex(raw, 0) == "");
}

TEST_CASE("hex_to_bytes inverts bytes_to_hex for every byte value") {
  Bytes all;
  for (int b = 0; b < 256; ++b) all.push_back(static_cast<std::uint8_t>(b));
  Bytes back;
  REQUIRE(meshos::hex_to_bytes(meshos::bytes_to_hex(all), back));
  CHECK(back == all);
}

TEST_CASE("hex_to_bytes accepts upper case and the empty string") {
  Bytes out{1, 2, 3};
  REQUIRE(meshos::hex_to_bytes("", out));
  CHECK(out.empty());
  REQUIRE(meshos::hex_to_bytes("ABcd", out));
  CHECK(out == Bytes{0xab, 0xcd});
}

TEST_CASE("hex_to_bytes rejects odd lengths and non-hex characters without a partial value") {
  for (const char* bad : {"a", "abc", "zz", "0g", "ab cd", "0x00", "ab\n"}) {
    Bytes out{9, 9};
    CAPTURE(bad);
    CHECK_FALSE(meshos::hex_to_bytes(bad, out));
    CHECK(out == Bytes{9, 9});
  }
}

TEST_CASE("DaemonRef equality compares id and name") {
  meshos::DaemonRef a{1, "echo"};
  CHECK(a == meshos::DaemonRef{1, "echo"});
  CHECK_FALSE(a == meshos::DaemonRef{2, "echo"});
  CHECK_FALSE(a == meshos::DaemonRef{1, "other"});
}
