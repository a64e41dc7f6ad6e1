// StrictConfig (apps/config): CAF's config system reading a file and a command line, and the checks CAF does
// not make, on their own (meshosd's own use is tested through the program in integration/meshosd_config).
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "strict_config.hpp"

using namespace meshos;
using namespace meshos::apps;

namespace {

class TestConfig : public StrictConfig {
 public:
  TestConfig() : StrictConfig("test") {
    declare<std::string>("node", "name", "x", "a name");
    declare<std::uint16_t>("node", "port", 7, "a port");
    declare<bool>("node", "flag", false, "a flag");
    declare<caf::timespan>("node", "wait", caf::timespan{std::chrono::milliseconds(250)}, "a duration");
    declare<std::string>("node", "key-file", "", "a path");
    declare<std::vector<std::string>>("node", "plugins", {}, "paths");
    declare<std::string>("global", "mode", "plain", "a command-line option");
    mark_path("node.key-file");
    mark_path("node.plugins");
    add_flag_alias("--flagged", "--node.flag=true");
    add_value_alias("--config", "--config-file");
    reserve("middleman.heartbeat-interval", "mine");
  }
};

std::vector<std::string> problems_of(const StrictConfig& c) {
  std::vector<std::string> out;
  auto verdict = c.verdict();
  if (verdict) return out;
  const std::string& m = verdict.error().message;
  for (std::size_t begin = 0; begin <= m.size();) {
    const auto end = std::min(m.find('\n', begin), m.size());
    out.push_back(m.substr(begin, end - begin));
    begin = end + 1;
  }
  return out;
}

}  // namespace

TEST_CASE("scan_config_layout finds each key's line, keys set twice and lists left open") {
  auto layout = scan_config_layout("top = 1\n[node]\nname = \"a ; [ not a list\" ; comment [\n"
                                   "plugins = [\"a\",\n  \"b\"]\nport = 1\n[other]\nport = 2\n[node]\nport = 3\n");
  CHECK(layout.line_of("global", "top") == 1);
  CHECK(layout.line_of("node", "name") == 3);
  CHECK(layout.line_of("node", "plugins") == 4);
  CHECK(layout.line_of("node", "port") == 6);
  CHECK(layout.line_of("other", "port") == 8);
  CHECK(layout.line_of("node") == 2);
  CHECK(layout.line_of("node", "missing") == 0);
  REQUIRE(layout.problems.size() == 1);  // a reopened section may not set a key again
  CHECK(layout.problems[0] == "line 10: [node] port is set twice (first on line 6)");

  auto open = scan_config_layout("[node]\nplugins = [\"a\",\n\"b\"\n[x]\n");
  REQUIRE(open.problems.size() == 1);
  CHECK(open.problems[0] == "line 2: the list or map of plugins is never closed");

  // A stray closer (CAF's to report) does not hide a list opened later and never closed.
  auto stray = scan_config_layout("[node]\nport = 1]\nplugins = [\"a\",\n");
  REQUIRE(stray.problems.size() == 1);
  CHECK(stray.problems[0] == "line 3: the list or map of plugins is never closed");

  auto deep = scan_config_layout("[node]\nplugins = " + std::string(200, '[') + std::string(200, ']') + "\n");
  CHECK(deep.too_deep);
}

TEST_CASE("the file, the command line over it, and defaults - where each value comes from") {
  TestConfig c;
  REQUIRE(c.load_text({"--node.port=9", "--flagged", "--mode=fancy"},
                      "[node]\nname = \"from file\"\nport = 8\nwait = 1s\n", "/etc/x/test.conf"));
  CHECK(c.verdict());
  CHECK(c.text("node.name") == "from file");
  CHECK(c.count("node.port") == 9);
  CHECK(c.flag("node.flag"));
  CHECK(c.duration("node.wait") == std::chrono::seconds(1));
  CHECK(c.text("mode") == "fancy");
  CHECK(c.texts("node.plugins").empty());
  CHECK(c.where("node.name") == "/etc/x/test.conf:2");
  CHECK(c.where("node.port") == "--node.port");
  CHECK(c.where("node.key-file") == "/etc/x/test.conf:1");  // left out: its section's line
  CHECK(c.is_set("node.name"));
  CHECK_FALSE(c.is_set("node.key-file"));
  CHECK(c.keys_set_in("node") == std::vector<std::string>{"name", "port", "flag", "wait"});
}

TEST_CASE("relative paths from the file are taken from its folder, from the command line as given") {
  TestConfig c;
  REQUIRE(c.load_text({}, "[node]\nkey-file = \"../keys/k.json\"\nplugins = [\"p.so\", \"/abs/q.so\"]\n",
                      "/etc/meshos/conf/test.conf"));
  CHECK(c.path("node.key-file") == "/etc/meshos/keys/k.json");
  CHECK(c.paths("node.plugins") == std::vector<std::string>{"/etc/meshos/conf/p.so", "/abs/q.so"});
  TestConfig cli;
  REQUIRE(cli.load_text({"--node.key-file=k.json"}, "", "/etc/meshos/conf/test.conf"));
  CHECK(cli.path("node.key-file") == "k.json");
}

TEST_CASE("what CAF lets pass is reported, every problem at once, and the rest is still read") {
  TestConfig c;
  REQUIRE(c.load_text({"--node.bogus=1", "--node.port=70000", "--nope", "stray", "--node.wait"},
                      "[node]\nnmae = \"a\"\nport = \"8\"\nwait = 2s\n[nodes]\nx = 1\n[middleman]\nheartbeat-interval = 1s\n",
                      "t.conf"));
  const auto problems = problems_of(c);
  CHECK(problems == std::vector<std::string>{
                        "unexpected argument \"stray\" (options are --section.key=value)",
                        "t.conf:8: [middleman] heartbeat-interval: mine",
                        "t.conf:2: unknown key nmae in [node] (did you mean name?)",
                        "t.conf:3: [node] port: expected a value of type uint16, got \"8\"",
                        "t.conf:5: unknown section [nodes] (did you mean [node]?)",
                        "--node.bogus=1: unknown key bogus in [node]",
                        "--node.port=70000: expected a value of type uint16",
                        "--nope: unknown option",
                        "--node.wait: needs a value (--node.wait=<timespan>)",
                    });
  CHECK(c.duration("node.wait") == std::chrono::seconds(2));  // good values are read all the same
  CHECK(c.count("node.port") == 7);                           // the wrong one left the default
  c.report("node.wait", "too long");
  CHECK(problems_of(c).back() == "t.conf:4: [node] wait: too long");
}

TEST_CASE("a file CAF cannot read, and one nested too deep, stop the reading") {
  TestConfig bare;
  auto refused = bare.load_text({}, "[node]\nname = bare\n", "t.conf");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().code() == Errc::invalid_config);
  CHECK(refused.error().message.rfind("t.conf: line 2, column", 0) == 0);
  TestConfig deep;
  auto too_deep = deep.load_text({}, "[node]\nplugins = " + std::string(100'000, '[') + "\n", "t.conf");
  REQUIRE_FALSE(too_deep);
  CHECK(too_deep.error().message.find("nested more than 16 deep") != std::string::npos);
}

TEST_CASE("the dump is a file that reads back to the same values, with paths resolved") {
  TestConfig c;
  REQUIRE(c.load_text({"--node.port=9", "--scheduler.max-threads=3"},
                      "mode = \"m\"\n[node]\nname = \"a \\\"quoted\\\" name\"\nkey-file = \"k.json\"\nwait = 90s\n",
                      "/srv/test.conf"));
  const std::string dump = c.dump_text();
  CHECK(dump.find("mode = \"m\"\n") != std::string::npos);
  CHECK(dump.find("[node]\nname = \"a \\\"quoted\\\" name\"\nport = 9\n") != std::string::npos);
  CHECK(dump.find("key-file = \"/srv/k.json\"\n") != std::string::npos);
  CHECK(dump.find("wait = 90s\n") != std::string::npos);
  CHECK(dump.find("[scheduler]\nmax-threads = 3\n") != std::string::npos);
  CHECK(dump.find("heartbeat-interval") == std::string::npos);  // reserved, and CAF's unset keys stay out
  TestConfig again;
  REQUIRE(again.load_text({}, dump, "/elsewhere/dump.conf"));
  CHECK(again.verdict());
  CHECK(again.dump_text() == dump);
}

TEST_CASE("help lists each declared key with its type and default") {
  TestConfig c;
  const std::string help = c.options_text(false);
  CHECK(help.find("[node]\n") != std::string::npos);
  CHECK(help.find("--node.port=<uint16>") != std::string::npos);
  CHECK(help.find("a port (default: 7)") != std::string::npos);
  CHECK(help.find("a duration (default: 250ms)") != std::string::npos);
  CHECK(help.find("--mode=<string>") != std::string::npos);
  CHECK(help.find("--scheduler.") == std::string::npos);
  CHECK(c.options_text(true).find("--scheduler.max-threads=<uint64>") != std::string::npos);
}
