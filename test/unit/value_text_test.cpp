#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <optional>
#include <vector>

#include "meshos/value_text.hpp"

using namespace meshos;

TEST_CASE("parse_uint accepts plain decimal digits up to 2^64-1") {
  CHECK(*parse_uint("0") == 0);
  CHECK(*parse_uint("1024") == 1024);
  CHECK(*parse_uint("007") == 7);
  CHECK(*parse_uint("18446744073709551615") == 18446744073709551615ULL);
}

TEST_CASE("parse_uint rejects signs, overflow and anything else") {
  for (const char* text : {"", "-1", "+1", "18446744073709551616", "99999999999999999999999", "1.5", "1e3", "0x10",
                           " 1", "1 ", "1_000", "ten"}) {
    CAPTURE(std::string(text));
    auto parsed = parse_uint(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::invalid_config);
  }
  CHECK(parse_uint("18446744073709551616").error().message.find("too large") != std::string::npos);
}

TEST_CASE("parse_bool accepts exactly true and false") {
  CHECK(*parse_bool("true") == true);
  CHECK(*parse_bool("false") == false);
  for (const char* text : {"", "True", "FALSE", "1", "0", "yes", "on"}) {
    CAPTURE(std::string(text));
    CHECK_FALSE(parse_bool(text));
  }
}

TEST_CASE("parse_duration reads every unit") {
  CHECK(*parse_duration("250ms") == Millis(250));
  CHECK(*parse_duration("10s") == Millis(10'000));
  CHECK(*parse_duration("5min") == Millis(300'000));
  CHECK(*parse_duration("10m") == Millis(600'000));  // kubectl's --since 10m
  CHECK(*parse_duration("1h") == Millis(3'600'000));
  CHECK(*parse_duration("1500us") == Millis(1));  // rounds down to whole milliseconds
  CHECK(*parse_duration("2000000ns") == Millis(2));
  CHECK(*parse_duration("2ns") == Millis(0));
  CHECK(*parse_duration("0s") == Millis(0));
}

TEST_CASE("parse_duration requires a known unit and an unsigned integer count") {
  for (const char* text : {"", "10", "ms", "-5s", "+5s", "1.5s", "10 s", "10sec", "10M", "10S", "5mins", "s10",
                           "10ms ", "1d"}) {
    CAPTURE(std::string(text));
    auto parsed = parse_duration(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::invalid_config);
  }
  CHECK(parse_duration("10").error().message.find("unit") != std::string::npos);
}

TEST_CASE("parse_duration rejects values the monotonic clock cannot hold") {
  // Clock::duration is nanoseconds in 64 bits: about 292 years.
  CHECK(parse_duration("2562047h"));
  CHECK_FALSE(parse_duration("2562048h"));
  CHECK_FALSE(parse_duration("99999999999999999999h"));
  CHECK_FALSE(parse_duration("18446744073709551615ms"));
  CHECK_FALSE(parse_duration("18446744073709551616ns"));
}

TEST_CASE("parse_string unquotes and unescapes") {
  CHECK(*parse_string("\"hello world\"") == "hello world");
  CHECK(*parse_string("\"\"") == "");
  CHECK(*parse_string(R"("a \"quoted\" word")") == "a \"quoted\" word");
  CHECK(*parse_string(R"("back\\slash")") == "back\\slash");
  CHECK(*parse_string("\"semi;colon\"") == "semi;colon");
  CHECK(*parse_string(R"("tab\tnew\nline\r")") == "tab\tnew\nline\r");
  CHECK(*parse_string("bare") == "bare");
  CHECK(*parse_string("/etc/meshos/node.key") == "/etc/meshos/node.key");
}

TEST_CASE("parse_string rejects malformed strings") {
  for (const char* text : {"", "\"open", "\"trailing\" junk", R"("bad \q escape")", "\"ends with \\\"",
                           "bare\"quote", "\"a\"\"b\""}) {
    CAPTURE(std::string(text));
    auto parsed = parse_string(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::invalid_config);
  }
}

TEST_CASE("parse_string_list reads lists of quoted strings") {
  CHECK(*parse_string_list(R"(["a", "b"])") == std::vector<std::string>{"a", "b"});
  CHECK(*parse_string_list(R"(["a","b","c"])") == std::vector<std::string>{"a", "b", "c"});
  CHECK(*parse_string_list(R"([ "with, comma" , "x\"y" ])") == std::vector<std::string>{"with, comma", "x\"y"});
  CHECK(*parse_string_list(R"(["a", "b",])") == std::vector<std::string>{"a", "b"});  // as CAF allows
  CHECK(parse_string_list("[]")->empty());
  CHECK(parse_string_list("[  ]")->empty());
}

TEST_CASE("parse_string_list takes a single string as a list of one") {
  CHECK(*parse_string_list("single") == std::vector<std::string>{"single"});
  CHECK(*parse_string_list("\"quoted one\"") == std::vector<std::string>{"quoted one"});
}

TEST_CASE("parse_string_list rejects malformed lists") {
  for (const char* text : {"", "[", R"(["a")", R"([,])", R"(["a" "b"])", "[a, b]", R"(["a"] tail)",
                           R"([,"a"])", R"(["a",,"b"])", R"([["a"]])", R"(["open])"}) {
    CAPTURE(std::string(text));
    auto parsed = parse_string_list(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().code() == Errc::invalid_config);
  }
}

TEST_CASE("duration_text writes the largest whole unit, which parse_duration reads back") {
  CHECK(duration_text(Millis(0)) == "0ms");
  CHECK(duration_text(Millis(250)) == "250ms");
  CHECK(duration_text(Millis(1'500)) == "1500ms");
  CHECK(duration_text(Millis(90'000)) == "90s");
  CHECK(duration_text(Millis(300'000)) == "5min");
  CHECK(duration_text(Millis(7'200'000)) == "2h");
  for (auto ms : {0LL, 1LL, 999LL, 1'000LL, 61'000LL, 3'600'000LL, 86'400'000LL * 365}) {
    CAPTURE(ms);
    auto back = parse_duration(duration_text(Millis(ms)));
    REQUIRE(back);
    CHECK(back->count() == ms);
  }
}

TEST_CASE("closest_word suggests a near miss only") {
  const std::vector<std::string> keys{"listen-port", "listen-host", "peers", "peer-timeout"};
  CHECK(closest_word("listen-prot", keys) == std::optional<std::string>("listen-port"));
  CHECK(closest_word("peer", keys) == std::optional<std::string>("peers"));
  CHECK_FALSE(closest_word("colour", keys));
  CHECK_FALSE(closest_word("", keys));
  CHECK_FALSE(closest_word("listen-port", {}));
  CHECK_FALSE(closest_word(std::string(10'000, 'x'), keys));
}
