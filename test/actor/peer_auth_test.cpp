// The pure pieces behind the node's front door: BASP frame checking (what the guard lets through to CAF)
// and peer hello authentication (who is admitted).
#include <doctest/doctest.h>

#include <cstring>
#include <optional>
#include <tuple>

#include <caf/all.hpp>
#include <caf/binary_serializer.hpp>

#include "net/basp_message.hpp"
#include "net/guard.hpp"
#include "net/hello.hpp"
#include "net/wire.hpp"

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

TEST_CASE("only messages of meshos' wire protocol pass the guard: no system message, no byte buffer, no stack") {
  caf::actor_system_config cfg;
  net::add_wire_types(cfg);
  caf::actor_system sys(cfg);
  caf::scoped_actor self(sys);
  const std::vector<caf::strong_actor_ptr> no_stack;
  const std::vector<caf::strong_actor_ptr> stack{caf::actor_cast<caf::strong_actor_ptr>(self)};
  using net::MessageVerdict;
  const auto addr = caf::actor_cast<caf::actor_addr>(self);
  auto payload = [&](const caf::message& m) { return direct_payload(sys, no_stack, m); };
  // What meshos sends: atoms, strings, integers, actor handles, its own types.
  CHECK(inspect(payload(caf::make_message(caf::atom("ping"), std::uint64_t{7}))) == MessageVerdict::Ok);
  CHECK(inspect(payload(caf::make_message(caf::atom("x"), std::string(5000, 'x')))) == MessageVerdict::Ok);
  CHECK(inspect(payload(caf::make_message(net::NetHello{}, caf::actor_cast<caf::actor>(self)))) == MessageVerdict::Ok);
  CHECK(inspect(payload(caf::make_message(net::NetReply{}))) == MessageVerdict::Ok);
  CHECK(inspect(payload(caf::make_message())) == MessageVerdict::Ok);
  // System messages steer or stop the receiver: refused, alone or inside a message.
  CHECK(inspect(payload(caf::make_message(caf::exit_msg{addr, caf::exit_reason::kill}))) == MessageVerdict::Forbidden);
  CHECK(inspect(payload(caf::make_message(caf::down_msg{addr, caf::exit_reason::normal}))) == MessageVerdict::Forbidden);
  CHECK(inspect(payload(caf::make_message(1, caf::exit_msg{addr, caf::exit_reason::kill}))) == MessageVerdict::Forbidden);
  // A byte buffer is sized by what the sender declares: refused.
  CHECK(inspect(payload(caf::make_message(std::vector<char>(8, 'x')))) == MessageVerdict::Forbidden);
  // A forwarding stack names actors on nodes of the sender's choosing.
  CHECK(inspect(direct_payload(sys, stack, caf::make_message(caf::atom("ping")))) == MessageVerdict::Forbidden);
  // An error only as a response, and only with wire types in its context.
  auto lone_error = payload(caf::make_message(caf::make_error(caf::sec::runtime_error, "no")));
  CHECK(inspect(lone_error) == MessageVerdict::Forbidden);
  CHECK(inspect(lone_error, /*response=*/true) == MessageVerdict::Ok);
  auto error_with_buffer =
      payload(caf::make_message(caf::make_error(caf::sec::runtime_error, std::vector<char>(8, 'x'))));
  CHECK(inspect(error_with_buffer, true) == MessageVerdict::Forbidden);
  CHECK(inspect(payload(caf::make_message(caf::make_error(caf::sec::runtime_error), 1)), true) ==
        MessageVerdict::Forbidden);
  // Cut short or garbage: not readable, so not let through.
  auto whole = payload(caf::make_message(caf::atom("ping")));
  whole.resize(3);
  CHECK(inspect(whole) == MessageVerdict::Unreadable);
  CHECK(inspect(std::vector<char>(64, '\x7f')) != MessageVerdict::Ok);
}

TEST_CASE("monitor and down frames pass only from the connection's node and for the local one") {
  caf::actor_system_config cfg;
  caf::actor_system sys(cfg);
  const auto sender = caf::make_node_id(1001, "0123456789abcdef0123456789abcdef01234567");
  const auto local = caf::make_node_id(1002, "89abcdef0123456789abcdef0123456789abcdef");
  REQUIRE(sender);
  REQUIRE(local);
  auto frame = [&](const caf::optional<caf::node_id>& from, const caf::optional<caf::node_id>& to,
                   std::optional<caf::error> reason) {
    std::vector<char> buf;
    caf::binary_serializer sink(sys, buf);
    auto f = *from;
    auto t = *to;
    REQUIRE_FALSE(sink(f, t));
    if (reason) REQUIRE_FALSE(sink(*reason));
    return buf;
  };
  auto check = [&](const std::vector<char>& b, bool down) {
    return net::inspect_monitor_or_down(reinterpret_cast<const std::uint8_t*>(b.data()), b.size(), down, *sender,
                                        *local);
  };
  using net::MessageVerdict;
  CHECK(check(frame(sender, local, std::nullopt), false) == MessageVerdict::Ok);
  CHECK(check(frame(sender, local, caf::error{}), true) == MessageVerdict::Ok);
  CHECK(check(frame(sender, local, caf::make_error(caf::exit_reason::user_shutdown)), true) == MessageVerdict::Ok);
  // A down naming another node's actor (the sender cannot speak for it), or meant for a third node.
  CHECK(check(frame(local, local, caf::error{}), true) == MessageVerdict::Forbidden);
  CHECK(check(frame(sender, sender, std::nullopt), false) == MessageVerdict::Forbidden);
  CHECK(check(frame(sender, local, caf::make_error(caf::sec::runtime_error, std::vector<char>(4, 'x'))), true) ==
        MessageVerdict::Forbidden);
  // The handshake's node id.
  std::vector<char> hs;
  caf::binary_serializer sink(sys, hs);
  auto n = *sender;
  REQUIRE_FALSE(sink(n));
  auto named = net::handshake_sender(reinterpret_cast<const std::uint8_t*>(hs.data()), hs.size());
  REQUIRE(named);
  CHECK(*named == *sender);
  CHECK_FALSE(net::handshake_sender(reinterpret_cast<const std::uint8_t*>(hs.data()), 3));
}

TEST_CASE("the frame check hands handshakes whole, and a message's first bytes, to the inspector before the frame ends") {
  using Part = BaspFrameCheck::Part;
  std::vector<std::tuple<Part, std::string, bool>> seen;
  auto inspector = [&](const BaspFrameCheck::Inspected& f) {
    std::string bytes(reinterpret_cast<const char*>(f.payload), f.n);
    seen.emplace_back(f.part, bytes, f.response);
    return bytes.find("bad") == std::string::npos;
  };
  std::vector<std::uint8_t> stream = header(0x01, 6);
  stream.insert(stream.end(), {'h', 'e', 'l', 'l', 'o', '!'});
  auto msg = header(0x02, 6);
  msg[8] = 0x80;  // a response
  stream.insert(stream.end(), msg.begin(), msg.end());
  stream.insert(stream.end(), {'g', 'o', 'o', 'd', '!', '!'});
  auto beat = header(0x06, 0);
  stream.insert(stream.end(), beat.begin(), beat.end());
  auto down = header(0x05, 2);
  stream.insert(stream.end(), down.begin(), down.end());
  stream.insert(stream.end(), {'d', 'n'});
  for (std::size_t split = 0; split <= stream.size(); ++split) {
    seen.clear();
    BaspFrameCheck c(1024, BaspFrameCheck::First::ClientHandshake, inspector, 4);
    REQUIRE(c.feed(stream.data(), split) == Verdict::Ok);
    REQUIRE(c.feed(stream.data() + split, stream.size() - split) == Verdict::Ok);
    REQUIRE(seen.size() == 3);
    CHECK(seen[0] == std::make_tuple(Part::Handshake, std::string("hello!"), false));
    CHECK(seen[1] == std::make_tuple(Part::Message, std::string("good"), true));
    CHECK(seen[2] == std::make_tuple(Part::Down, std::string("dn"), false));
  }
  // Refused on its 4th byte: the rest of the frame (which CAF needs before it acts) is never passed on.
  BaspFrameCheck c(1024, BaspFrameCheck::First::Any, inspector, 4);
  REQUIRE(feed(c, header(0x02, 100)) == Verdict::Ok);
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
    CHECK(r.error().code() == Errc::peer_refused);
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
