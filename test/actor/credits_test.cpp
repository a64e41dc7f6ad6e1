// Credits on their own (issue 11, point 2): the per-receiver bound every queue of the runtime is kept with,
// and the waitable kind a sender that must not drop sleeps on.
#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <future>

#include "detail/credits.hpp"

namespace meshos::detail {

using namespace std::chrono_literals;

namespace {
auto never() {
  return [] { return false; };
}
std::chrono::steady_clock::time_point in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }
}  // namespace

TEST_CASE("credits: taken up to the capacity, given back, and every refusal counted once") {
  Credits credits(2);
  CHECK(credits.try_acquire());
  CHECK(credits.try_acquire());
  CHECK_FALSE(credits.try_acquire());
  CHECK_FALSE(credits.try_acquire_uncounted());  // a sender that will wait: not a drop yet
  CHECK(credits.dropped() == 1);
  CHECK(credits.in_flight() == 2);
  credits.release();
  CHECK(credits.in_flight() == 1);
  CHECK(credits.try_acquire());
  credits.release(2);
  CHECK(credits.in_flight() == 0);
  CHECK(Credits(0).capacity() == 1);  // a bound of nothing would refuse everything
}

TEST_CASE("a sender waiting on full WaitableCredits takes the credit a release frees, and no drop is counted") {
  WaitableCredits credits(1);
  REQUIRE(credits.try_acquire());
  auto waiter = std::async(std::launch::async, [&] { return credits.acquire_until(in(30s), never()); });
  // Nothing frees a credit until the release below: the waiter is still waiting after a while.
  CHECK(waiter.wait_for(50ms) == std::future_status::timeout);
  credits.release();
  REQUIRE(waiter.wait_for(10s) == std::future_status::ready);
  CHECK(waiter.get());
  CHECK(credits.in_flight() == 1);
  CHECK(credits.dropped() == 0);
}

TEST_CASE("waiters are woken once a quarter of the credits is free, not on every release") {
  WaitableCredits credits(8);
  for (int i = 0; i < 8; ++i) REQUIRE(credits.try_acquire());
  auto waiter = std::async(std::launch::async, [&] { return credits.acquire_until(in(30s), never()); });
  REQUIRE(waiter.wait_for(50ms) == std::future_status::timeout);
  credits.release();  // one free: the receiver is still working off its batch
  CHECK(waiter.wait_for(50ms) == std::future_status::timeout);
  credits.release();  // two of eight free: the waiter is woken and takes one
  REQUIRE(waiter.wait_for(10s) == std::future_status::ready);
  CHECK(waiter.get());
  CHECK(credits.in_flight() == 7);
  CHECK(credits.dropped() == 0);
}

TEST_CASE("a wait on full WaitableCredits ends at its deadline with one drop, or at once when it gives up") {
  WaitableCredits credits(1);
  REQUIRE(credits.try_acquire());
  CHECK_FALSE(credits.acquire_until(in(20ms), never()));
  CHECK(credits.dropped() == 1);

  std::atomic<bool> give_up{false};
  auto waiter = std::async(std::launch::async, [&] { return credits.acquire_until(in(30s), [&] { return give_up.load(); }); });
  give_up = true;
  credits.wake_all();
  REQUIRE(waiter.wait_for(10s) == std::future_status::ready);
  CHECK_FALSE(waiter.get());
  CHECK(credits.dropped() == 2);
  CHECK(credits.in_flight() == 1);  // the credit is still the first holder's
}

}  // namespace meshos::detail
