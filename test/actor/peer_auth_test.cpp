// The pure pieces behind the node's front door: BASP frame checking (what the guard lets through to CAF)
// and peer hello authentication (who is admitted).
#include <doctest/doctest.h>

#include <cstring>

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include "net/basp_message.hpp"
#include "net/guard.hpp"
#include "net/hello.hpp"

namespace meshos::test {

namespace {

using net::BaspFrameCheck;
using Verdict = BaspFrameCheck::Verdict;

std::vector<std::uint8_t> header(std::uint8_t op, std::uint32_t payload) {
  std::vector<std::uint8_t> h(BaspFrameCheck::kHeaderSize, 0);
  h[0] = op;
  h[4] = static_cast<std::uint8_t>(payload >> 24);
  h[5] = static_cast<std::uint8_t>(payload >> 16);
  h[6] = static_cast<std::uint8_t>(payload >> 8);
  h[7] = static_cast<std::uint8_t>(payload);
  return h;
}

Verdict feed(BaspFrameCheck& c, const std::vector<std::uint8_t>& bytes) { return c.feed(bytes.data(), bytes.size()); }

}  // namespace

TEST_CASE("the frame check passes a handshake then messages, split at any byte") {
  std::vector<std::uint8_t> stream = header(0x01, 10);
  stream.resize(stream.size() + 10, 7);
  auto msg = header(0x02, 3);
  stream.insert(stream.end(), msg.begin(), msg.end());
  stream.insert(stream.end(), {1, 2, 3});
  auto beat = header(0x06, 0);
  stream.insert(stream.end(), beat.begin(), beat.end());
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    BaspFrameCheck c(1024, BaspFrameCheck::First::ClientHandshake);
    REQUIRE(c.feed(stream.data(), split) == Verdict::Ok);
    REQUIRE(c.feed(stream.data() + split, stream.size() - split) == Verdict::Ok);
    CHECK(c.frames() == 3);
    CHECK(c.saw_actor_message());
  }
}

TEST_CASE("the frame check refuses an announced payload over the limit before it arrives") {
  BaspFrameCheck c(1024, BaspFrameCheck::First::ClientHandshake);
  REQUIRE(feed(c, header(0x01, 0)) == Verdict::Ok);
  CHECK(feed(c, header(0x02, 1025)) == Verdict::Oversize);
  CHECK(feed(c, header(0x06, 0)) == Verdict::Oversize);  // sticky: the stream must be closed
  BaspFrameCheck at_limit(1024, BaspFrameCheck::First::Any);
  CHECK(feed(at_limit, header(0x02, 1024)) == Verdict::Ok);
  // A handshake is small whatever the message limit: 1 GiB announced in the first header is refused.
  BaspFrameCheck big(std::size_t{1} << 31, BaspFrameCheck::First::ClientHandshake);
  CHECK(feed(big, header(0x01, 1u << 30)) == Verdict::Oversize);
}

TEST_CASE("the frame check refuses unknown operations and a wrong first frame") {
  BaspFrameCheck unknown(1024, BaspFrameCheck::First::Any);
  CHECK(feed(unknown, header(0x07, 0)) == Verdict::Malformed);
  BaspFrameCheck client(1024, BaspFrameCheck::First::ClientHandshake);
  CHECK(feed(client, header(0x02, 0)) == Verdict::Malformed);
  BaspFrameCheck server(1024, BaspFrameCheck::First::ServerHandshake);
  CHECK(feed(server, header(0x01, 0)) == Verdict::Malformed);
  BaspFrameCheck ok(1024, BaspFrameCheck::First::ServerHandshake);
  CHECK(feed(ok, header(0x00, 0)) == Verdict::Ok);
  CHECK_FALSE(ok.saw_actor_message());
  // Garbage text is not a handshake.
  BaspFrameCheck text(1024, BaspFrameCheck::First::ClientHandshake);
  std::string get = "GET / HTTP/1.1\r\nHost: x\r\n\r\n12345";
  CHECK(text.feed(reinterpret_cast<const std::uint8_t*>(get.data()), get.size()) != Verdict::Ok);
}

TEST_CASE("the frame check refuses routed messages, which name their own sender") {
  BaspFrameCheck c(1024, BaspFrameCheck::First::ClientHandshake);
  REQUIRE(feed(c, header(0x01, 0)) == Verdict::Ok);
  REQUIRE(feed(c, header(0x02, 0)) == Verdict::Ok);
  CHECK(feed(c, header(0x03, 0)) == Verdict::Malformed);
}

TEST_CASE("the frame check keeps the first frame's payload, split at any byte, and only that one") {
  std::vector<std::uint8_t> stream = header(0x00, 5);
  stream.insert(stream.end(), {'h', 'e', 'l', 'l', 'o'});
  auto msg = header(0x02, 3);
  stream.insert(stream.end(), msg.begin(), msg.end());
  stream.insert(stream.end(), {'x', 'y', 'z'});
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    BaspFrameCheck c(1024, BaspFrameCheck::First::ServerHandshake);
    REQUIRE(c.feed(stream.data(), split) == Verdict::Ok);
    REQUIRE(c.feed(stream.data() + split, stream.size() - split) == Verdict::Ok);
    CHECK(c.first_payload() == "hello");
  }
}

namespace {

// A direct message's payload as CAF 0.17 writes it: the forwarding stack, then the message.
std::vector<char> direct_payload(caf::actor_system& sys, const std::vector<caf::strong_actor_ptr>& stack,
                                 const caf::message& msg) {
  std::vector<char> buf;
  caf::binary_serializer sink(sys, buf);
  auto copy = stack;
  auto content = msg;
  REQUIRE_FALSE(sink(copy, content));
  return buf;
}

net::MessageVerdict inspect(const std::vector<char>& payload, bool response = false) {
  auto n = std::min(payload.size(), net::kMessageInspectBytes);
  return net::inspect_direct_message(reinterpret_cast<const std::uint8_t*>(payload.data()), n, response);
}

}  // namespace

TEST_CASE("the guard tells a direct message that steers or stops an actor from an ordinary one") {
  caf::actor_system_config cfg;
  caf::actor_system sys(cfg);
  caf::scoped_actor self(sys);
  const std::vector<caf::strong_actor_ptr> no_stack;
  const std::vector<caf::strong_actor_ptr> stack{caf::actor_cast<caf::strong_actor_ptr>(self)};
  using net::MessageVerdict;
  const auto addr = caf::actor_cast<caf::actor_addr>(self);
  for (const auto& route : {no_stack, stack}) {
    CHECK(inspect(direct_payload(sys, route, caf::make_message(caf::atom("ping"), std::string(5000, 'x')))) ==
          MessageVerdict::Ok);
    CHECK(inspect(direct_payload(sys, route, caf::make_message()))  == MessageVerdict::Ok);
    CHECK(inspect(direct_payload(sys, route, caf::make_message(caf::exit_msg{addr, caf::exit_reason::kill}))) ==
          MessageVerdict::SystemMessage);
    CHECK(inspect(direct_payload(sys, route, caf::make_message(caf::down_msg{addr, caf::exit_reason::normal}))) ==
          MessageVerdict::SystemMessage);
    // An exit message anywhere in a message is refused; a lone error only when it answers nothing.
    CHECK(inspect(direct_payload(sys, route, caf::make_message(1, caf::exit_msg{addr, caf::exit_reason::kill}))) ==
          MessageVerdict::SystemMessage);
    auto lone_error = direct_payload(sys, route, caf::make_message(caf::make_error(caf::sec::runtime_error)));
    CHECK(inspect(lone_error) == MessageVerdict::SystemMessage);
    CHECK(inspect(lone_error, /*response=*/true) == MessageVerdict::Ok);
    CHECK(inspect(direct_payload(sys, route, caf::make_message(caf::make_error(caf::sec::runtime_error), 1))) ==
          MessageVerdict::Ok);
  }
  // Cut short or garbage: not readable, so not let through.
  auto whole = direct_payload(sys, no_stack, caf::make_message(caf::atom("ping")));
  whole.resize(3);
  CHECK(inspect(whole) == MessageVerdict::Unreadable);
  CHECK(inspect(std::vector<char>(64, '\xff')) == MessageVerdict::Unreadable);
}

TEST_CASE("the frame check hands a direct message's first bytes to the inspector before the frame ends") {
  std::vector<std::pair<std::string, bool>> seen;
  auto inspector = [&](const std::uint8_t* p, std::size_t n, bool response) {
    seen.emplace_back(std::string(reinterpret_cast<const char*>(p), n), response);
    return std::string(reinterpret_cast<const char*>(p), n).find("bad") == std::string::npos;
  };
  std::vector<std::uint8_t> stream = header(0x01, 0);
  auto msg = header(0x02, 6);
  msg[8] = 0x80;  // a response
  stream.insert(stream.end(), msg.begin(), msg.end());
  stream.insert(stream.end(), {'g', 'o', 'o', 'd', '!', '!'});
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    seen.clear();
    BaspFrameCheck c(1024, BaspFrameCheck::First::ClientHandshake, inspector, 4);
    REQUIRE(c.feed(stream.data(), split) == Verdict::Ok);
    REQUIRE(c.feed(stream.data() + split, stream.size() - split) == Verdict::Ok);
    REQUIRE(seen.size() == 1);
    CHECK(seen[0].first == "good");
    CHECK(seen[0].second);
  }
  // Refused on its 4th byte: the rest of the frame (which CAF needs before it acts) is never passed on.
  BaspFrameCheck c(1024, BaspFrameCheck::First::Any, inspector, 4);
  auto bad = header(0x02, 100);
  REQUIRE(feed(c, bad) == Verdict::Ok);
  CHECK(feed(c, {'x', 'b', 'a', 'd'}) == Verdict::Forbidden);
  CHECK(feed(c, {'y'}) == Verdict::Forbidden);
}

namespace {

struct HelloCase {
  EntityKeypair a = EntityKeypair::generate();
  EntityKeypair b = EntityKeypair::generate();
  net::Membership members{std::vector<PublicKey>{a.public_key(), b.public_key()}};

  // a's hello to b, answering b's nonce 77.
  net::NetHello from_a() const {
    net::NetHello h;
    h.version = "1";
    h.listen_host = "127.0.0.1";
    h.listen_port = 7001;
    h.peers = {"127.0.0.1:7003"};
    h.peer_ids = {3};
    h.answers = 77;
    h.challenge = 99;
    h.target = b.node_id();
    net::sign_hello(h, a);
    return h;
  }
};

}  // namespace

TEST_CASE("a signed hello from a member answering this node's challenge is admitted") {
  HelloCase t;
  auto h = t.from_a();
  CHECK(h.node_id == t.a.node_id());
  CHECK(net::verify_hello(h, 77, t.b.node_id(), t.members, 16));
}

TEST_CASE("a hello is refused when forged, stale, relayed, from a stranger or over-long") {
  HelloCase t;
  auto expect_refused = [&](const net::NetHello& h, std::uint64_t nonce, NodeId target, const char* why) {
    auto r = net::verify_hello(h, nonce, target, t.members, 16);
    REQUIRE_FALSE_MESSAGE(r, why);
    CHECK(r.error().kind == "peer_refused");
    CHECK_MESSAGE(r.error().message.find(why) != std::string::npos, r.error().message);
  };
  auto tampered = t.from_a();
  tampered.listen_port = 6666;  // an attacker redirects where b would dial a
  expect_refused(tampered, 77, t.b.node_id(), "signature");
  auto claims_b = t.from_a();
  claims_b.node_id = t.b.node_id();  // a claims to be b
  expect_refused(claims_b, 77, t.b.node_id(), "not the id of its key");
  expect_refused(t.from_a(), 78, t.b.node_id(), "challenge");   // answers another nonce: stale or replayed
  expect_refused(t.from_a(), 0, t.b.node_id(), "challenge");    // no challenge outstanding
  expect_refused(t.from_a(), 77, 12345, "meant for node");      // relayed to a third node
  auto unsigned_hello = t.from_a();
  unsigned_hello.signature.clear();
  expect_refused(unsigned_hello, 77, t.b.node_id(), "not signed");
  auto stranger = EntityKeypair::generate();
  auto h = t.from_a();
  net::sign_hello(h, stranger);
  expect_refused(h, 77, t.b.node_id(), "not a member");
  auto gossip = t.from_a();
  for (int i = 0; i < 20; ++i) {
    gossip.peers.push_back("127.0.0.1:1");
    gossip.peer_ids.push_back(static_cast<std::uint64_t>(i));
  }
  net::sign_hello(gossip, t.a);
  expect_refused(gossip, 77, t.b.node_id(), "gossip");
}

}  // namespace meshos::test
