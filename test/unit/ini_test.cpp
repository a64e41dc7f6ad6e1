#include <doctest/doctest.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "meshos/ini.hpp"

using namespace meshos;

namespace {

void check_invalid_at_line(const std::string& text, int line) {
  CAPTURE(std::string(text));
  auto doc = parse_ini(text);
  REQUIRE_FALSE(doc);
  CHECK(doc.error().kind == "invalid_config");
  CHECK(doc.error().message.rfind("line " + std::to_string(line) + ": ", 0) == 0);
}

}  // namespace

TEST_CASE("parse_ini reads sections and key = value pairs in file order") {
  auto doc = parse_ini(
      "; a node\n"
      "top = 1\n"
      "\n"
      "[meshos]\n"
      "tick-interval = 500ms\n"
      "   control-capacity=8   \n"
      "[caf.middleman]\n"
      "app-identifier = \"meshos\"\n");
  REQUIRE(doc);
  CHECK(doc->sections == std::vector<std::string>{"meshos", "caf.middleman"});
  REQUIRE(doc->entries.size() == 4);
  CHECK(doc->entries[0].section == "");
  CHECK(doc->entries[0].key == "top");
  CHECK(doc->entries[0].value == "1");
  CHECK(doc->entries[0].line == 2);
  CHECK(doc->entries[1].section == "meshos");
  CHECK(doc->entries[1].key == "tick-interval");
  CHECK(doc->entries[1].value == "500ms");
  CHECK(doc->entries[1].line == 5);
  CHECK(doc->entries[2].key == "control-capacity");
  CHECK(doc->entries[2].value == "8");
  CHECK(doc->entries[3].section == "caf.middleman");
  CHECK(doc->entries[3].value == "\"meshos\"");  // quotes kept for the value parsers
  CHECK(doc->entries[3].line == 8);
}

TEST_CASE("parse_ini accepts an empty text and CRLF line ends") {
  auto empty = parse_ini("");
  REQUIRE(empty);
  CHECK(empty->entries.empty());
  CHECK(empty->sections.empty());

  auto crlf = parse_ini("[a]\r\nk = 1\r\n");
  REQUIRE(crlf);
  REQUIRE(crlf->entries.size() == 1);
  CHECK(crlf->entries[0].value == "1");
}

TEST_CASE("parse_ini strips trailing comments outside quotes only") {
  auto doc = parse_ini(
      "[s] ; the section\n"
      "a = 10s ; ten seconds\n"
      "b = \"x;y\" ; quoted semicolon stays\n"
      "c = \"say \\\"hi;\\\"\"\n");
  REQUIRE(doc);
  REQUIRE(doc->entries.size() == 3);
  CHECK(doc->entries[0].value == "10s");
  CHECK(doc->entries[1].value == "\"x;y\"");
  CHECK(doc->entries[2].value == "\"say \\\"hi;\\\"\"");
}

TEST_CASE("parse_ini joins a list that spans several lines") {
  auto doc = parse_ini(
      "[s]\n"
      "peers = [\"a\", ; first\n"
      "  \"b\",\n"
      "]\n"
      "after = 1\n");
  REQUIRE(doc);
  REQUIRE(doc->entries.size() == 2);
  CHECK(doc->entries[0].value == "[\"a\", \"b\", ]");
  CHECK(doc->entries[0].line == 2);
  CHECK(doc->entries[1].line == 5);
}

TEST_CASE("a section may be reopened and its keys are still unique") {
  auto doc = parse_ini("[a]\nx = 1\n[b]\nx = 2\n[a]\ny = 3\n");
  REQUIRE(doc);
  CHECK(doc->sections == std::vector<std::string>{"a", "b"});
  CHECK(doc->entries.size() == 3);
  check_invalid_at_line("[a]\nx = 1\n[b]\n[a]\nx = 2\n", 5);
}

TEST_CASE("parse_ini rejects '#' comments like CAF does") {
  check_invalid_at_line("[meshos]\n# a comment\n", 2);
  check_invalid_at_line("  # indented\n", 1);
}

TEST_CASE("parse_ini rejects duplicate keys in a section") {
  check_invalid_at_line("[meshos]\ntick-interval = 1s\n\ntick-interval = 2s\n", 4);
  auto doc = parse_ini("[meshos]\nk = 1\nk = 2\n");
  REQUIRE_FALSE(doc);
  CHECK(doc.error().message.find("duplicate key 'k'") != std::string::npos);
}

TEST_CASE("parse_ini rejects malformed lines with their line number") {
  check_invalid_at_line("[meshos]\njust words\n", 2);
  check_invalid_at_line("[meshos\n", 1);
  check_invalid_at_line("[]\n", 1);
  check_invalid_at_line("[bad name]\n", 1);
  check_invalid_at_line("[s]x\n", 1);
  check_invalid_at_line("[s]\n= value\n", 2);
  check_invalid_at_line("[s]\nbad key = 1\n", 2);
  check_invalid_at_line("[s]\nkey =\n", 2);
  check_invalid_at_line("[s]\nkey = ; only a comment\n", 2);
  check_invalid_at_line("[s]\nkey = \"open\n", 2);
  check_invalid_at_line("[s]\nkey = [\"a\",\n\"b\"\n", 2);
  check_invalid_at_line("[s]\nkey = 1]\n", 2);
  check_invalid_at_line("[s]\ndotted.key = 1\n", 2);
  check_invalid_at_line("[s]\n-key = 1\n", 2);
  check_invalid_at_line("[s.]\n", 1);
  check_invalid_at_line("[.s]\n", 1);
}

TEST_CASE("parse_ini rejects bare words, which CAF cannot read") {
  check_invalid_at_line("[s]\nname = echo\n", 2);
  check_invalid_at_line("[s]\nflag = yes\n", 2);
  check_invalid_at_line("[s]\nnode = a1b2c3d4e5f60718\n", 2);
  auto doc = parse_ini(
      "[s]\n"
      "a = true\n"
      "b = false\n"
      "c = \"quoted\"\n"
      "d = 'atom'\n"
      "e = -1\n"
      "f = +2\n"
      "g = .5\n"
      "h = <tcp://localhost:1>\n"
      "i = []\n"
      "j = { x = 1 }\n"
      "k = 0x1f\n");
  REQUIRE(doc);
  CHECK(doc->entries.size() == 11);
}

TEST_CASE("parse_ini_file reads a file and reports a missing one") {
  const std::string path = "meshos_ini_test_" + std::to_string(std::rand()) + ".ini";
  {
    std::ofstream out(path);
    out << "[meshos]\ntick-interval = 250ms\n";
  }
  auto doc = parse_ini_file(path);
  std::remove(path.c_str());
  REQUIRE(doc);
  REQUIRE(doc->entries.size() == 1);
  CHECK(doc->entries[0].value == "250ms");

  auto missing = parse_ini_file("/nonexistent/dir/meshos.ini");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().kind == "config_not_found");
  CHECK(missing.error().message.find("/nonexistent/dir/meshos.ini") != std::string::npos);
}

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
    CHECK(parsed.error().kind == "invalid_config");
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
  CHECK(*parse_duration("1h") == Millis(3'600'000));
  CHECK(*parse_duration("1500us") == Millis(1));  // rounds down to whole milliseconds
  CHECK(*parse_duration("2000000ns") == Millis(2));
  CHECK(*parse_duration("2ns") == Millis(0));
  CHECK(*parse_duration("0s") == Millis(0));
}

TEST_CASE("parse_duration requires a known unit and an unsigned integer count") {
  for (const char* text : {"", "10", "ms", "-5s", "+5s", "1.5s", "10 s", "10sec", "10m", "10S", "5mins", "s10",
                           "10ms ", "1d"}) {
    CAPTURE(std::string(text));
    auto parsed = parse_duration(text);
    REQUIRE_FALSE(parsed);
    CHECK(parsed.error().kind == "invalid_config");
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
    CHECK(parsed.error().kind == "invalid_config");
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
    CHECK(parsed.error().kind == "invalid_config");
  }
}
