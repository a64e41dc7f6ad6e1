// The pure pieces behind the node's front door: BASP frame checking (what the guard lets through to CAF)
// and peer hello authentication (who is admitted).
#include <doctest/doctest.h>

#include <cstring>

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
