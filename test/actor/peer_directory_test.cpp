// The gateway's book of peers on its own (issue 11, point 7): what is tracked, admitted and ignored as peer
// actors claim node ids, report and end. Actors are only handles here, spawned to tell them apart.
#include <doctest/doctest.h>

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/event_based_actor.hpp>

#include "net/peer_directory.hpp"

using namespace meshos;
using meshos::net::Claim;
using meshos::net::PeerDirectory;

namespace {

constexpr NodeId kSelf = 0x5E1F;
constexpr NodeId kNodeA = 0xA;
constexpr NodeId kNodeB = 0xB;
const PeerAddress kSelfAddress{"10.0.0.1", 7100};
const PeerAddress kFirst{"10.0.0.2", 7100};
const PeerAddress kSecond{"10.0.0.2", 7200};
const PeerAddress kThird{"10.0.0.3", 7100};

// Distinct actor handles: each quits at once, only its identity matters. (Spawned with an argument: CAF 0.17
// dereferences a null argument tuple for spawns without one, which UBSan reports.)
struct Actors {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
  int spawned = 0;
  caf::actor make() {
    return system.spawn([](caf::event_based_actor* self, int) -> caf::behavior {
      self->quit();
      return {};
    }, ++spawned);
  }
};

}  // namespace

TEST_CASE("PeerDirectory tracks an address once, never this node's own, and not beyond its capacity") {
  Actors actors;
  PeerDirectory dir(kSelf, 2);
  CHECK_FALSE(dir.trackable(kSelfAddress, kSelfAddress));
  CHECK(dir.trackable(kFirst, kSelfAddress));
  CHECK(dir.add(kFirst, actors.make()));
  CHECK_FALSE(dir.trackable(kFirst, kSelfAddress));
  CHECK_FALSE(dir.add(kFirst, actors.make()));
  CHECK(dir.add(kSecond, actors.make()));
  CHECK(dir.full());
  CHECK_FALSE(dir.add(kThird, actors.make()));
  CHECK(dir.entries().size() == 2);
}

TEST_CASE("PeerDirectory: a claim admits the node at that address, and this node's own id is ignored for good") {
  Actors actors;
  PeerDirectory dir(kSelf, 8);
  REQUIRE(dir.add(kFirst, actors.make()));
  auto admitted = dir.claim(kFirst, kNodeA);
  CHECK(admitted.claim == Claim::Admitted);
  CHECK_FALSE(admitted.retired);
  CHECK(dir.admitted(kNodeA));
  CHECK(dir.entries().at(kFirst).node == kNodeA);

  REQUIRE(dir.add(kSecond, actors.make()));
  CHECK(dir.claim(kSecond, kSelf).claim == Claim::Self);
  CHECK(dir.ignored(kSecond));
  CHECK(dir.entries().count(kSecond) == 0);
  CHECK_FALSE(dir.trackable(kSecond, kSelfAddress));
}

TEST_CASE("PeerDirectory: a second address of a connected node is ignored, of a disconnected one takes over") {
  Actors actors;
  PeerDirectory dir(kSelf, 8);
  const caf::actor first = actors.make();
  REQUIRE(dir.add(kFirst, first));
  REQUIRE(dir.claim(kFirst, kNodeA).claim == Claim::Admitted);
  REQUIRE(dir.report(kFirst, kNodeA, true));

  REQUIRE(dir.add(kSecond, actors.make()));
  CHECK(dir.claim(kSecond, kNodeA).claim == Claim::Duplicate);
  CHECK(dir.ignored(kSecond));
  CHECK(dir.entries().count(kSecond) == 0);

  // The node restarted on another port while its old address is down: the old actor is retired.
  REQUIRE(dir.report(kFirst, kNodeA, false));
  REQUIRE(dir.add(kThird, actors.make()));
  auto moved = dir.claim(kThird, kNodeA);
  CHECK(moved.claim == Claim::Admitted);
  CHECK(moved.retired == first);
  CHECK(dir.entries().count(kFirst) == 0);
  const auto* found = dir.find(PeerAddress{"elsewhere", 1}, kNodeA);
  REQUIRE(found != nullptr);
  CHECK(found->node == kNodeA);
}

TEST_CASE("PeerDirectory: an address taken over by another node ends the first node's admission") {
  Actors actors;
  PeerDirectory dir(kSelf, 8);
  REQUIRE(dir.add(kFirst, actors.make()));
  REQUIRE(dir.claim(kFirst, kNodeA).claim == Claim::Admitted);
  CHECK(dir.claim(kFirst, kNodeB).claim == Claim::Admitted);
  CHECK(dir.admitted(kNodeB));
  CHECK_FALSE(dir.admitted(kNodeA));
  CHECK(dir.entries().at(kFirst).node == kNodeB);
}

TEST_CASE("PeerDirectory: forgetting an address ends its admission, and reports or forgets of unknown addresses change nothing") {
  Actors actors;
  PeerDirectory dir(kSelf, 8);
  REQUIRE(dir.add(kFirst, actors.make()));
  REQUIRE(dir.claim(kFirst, kNodeA).claim == Claim::Admitted);
  CHECK_FALSE(dir.report(kThird, kNodeB, true));
  CHECK_FALSE(dir.forget(kThird));
  CHECK(dir.admitted(kNodeA));
  CHECK(dir.forget(kFirst));
  CHECK_FALSE(dir.admitted(kNodeA));
  CHECK(dir.entries().empty());
  CHECK(dir.trackable(kFirst, kSelfAddress));
  CHECK(dir.find(kFirst, kNodeA) == nullptr);
}

TEST_CASE("PeerDirectory::clear hands back every actor to stop") {
  Actors actors;
  PeerDirectory dir(kSelf, 8);
  REQUIRE(dir.add(kFirst, actors.make()));
  REQUIRE(dir.add(kSecond, actors.make()));
  CHECK(dir.clear().size() == 2);
  CHECK(dir.entries().empty());
}
