// process_async (issue 8, point 4): process() without blocking the caller; the answer comes to a callback on
// a thread of the node's, exactly once, whatever happens to the daemon or the node meanwhile.
#include <doctest/doctest.h>

#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <ostream>
#include <thread>
#include <stdexcept>
#include <vector>

#include "support.hpp"

using namespace meshos;
using namespace meshos::test;

namespace {

// The answers a test's callbacks got, in order, and the threads they ran on.
struct Answers {
  std::mutex mu;
  std::condition_variable cv;
  std::vector<Result<std::vector<Bytes>>> got;
  std::vector<std::thread::id> threads;

  MeshOsDaemonSdk::ProcessCallback callback() {
    return [this](Result<std::vector<Bytes>> r) { add(std::move(r)); };
  }
  void add(Result<std::vector<Bytes>> r) {
    {
      std::lock_guard<std::mutex> lock(mu);
      got.push_back(std::move(r));
      threads.push_back(std::this_thread::get_id());
    }
    cv.notify_all();
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu);
    return cv.wait_for(lock, timeout, [&] { return got.size() >= n; });
  }
};

}  // namespace

TEST_CASE("process_async answers on a node thread, and a callback may ask again") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  auto h = sdk.register_daemon(make_daemon("echo", probe), EntityKeypair::generate());
  REQUIRE(h);
  const DaemonId id = h->daemon_id();
  Answers answers;
  // Three in a chain: each callback sends the next.
  std::function<void(Result<std::vector<Bytes>>)> chain = [&](Result<std::vector<Bytes>> r) {
    const std::size_t seen = [&] {
      std::lock_guard<std::mutex> lock(answers.mu);
      return answers.got.size();
    }();
    if (seen < 2) REQUIRE(sdk.process_async(id, event_with(static_cast<std::uint8_t>(seen + 2)), 10s, chain));
    answers.add(std::move(r));
  };
  REQUIRE(sdk.process_async(id, event_with(1), 10s, chain));
  REQUIRE(answers.wait_for(3));
  std::lock_guard<std::mutex> lock(answers.mu);
  REQUIRE(answers.got.size() == 3);
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(answers.got[i]);
    CHECK(answers.got[i].value() == std::vector<Bytes>{Bytes{static_cast<std::uint8_t>(i + 1)}});
    CHECK(answers.threads[i] != std::this_thread::get_id());
  }
  CHECK(probe->processed.load() == 3);
}

TEST_CASE("process_async refuses what it cannot send, and the callback then never runs") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  Answers answers;
  auto unknown = sdk.process_async(0xdead, event_with(1), 1s, answers.callback());
  REQUIRE_FALSE(unknown);
  CHECK(unknown.error().code() == Errc::not_found);
  auto h = sdk.register_daemon(make_daemon("echo", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(h);
  auto no_callback = sdk.process_async(h->daemon_id(), event_with(1), 1s, nullptr);
  REQUIRE_FALSE(no_callback);
  CHECK(no_callback.error().code() == Errc::invalid_argument);
  REQUIRE(sdk.shutdown());
  auto closed = sdk.process_async(h->daemon_id(), event_with(1), 1s, answers.callback());
  REQUIRE_FALSE(closed);
  CHECK(closed.error().code() == Errc::loop_closed);
  CHECK(answers.got.empty());
}

TEST_CASE("process_async: a daemon that does not answer in time is a timeout, and a throwing callback stops nothing") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto slow = sdk.register_daemon(make_daemon("slow", probe), EntityKeypair::generate());
  auto echo = sdk.register_daemon(make_daemon("echo", std::make_shared<DaemonProbe>()), EntityKeypair::generate());
  REQUIRE(slow);
  REQUIRE(echo);
  Answers answers;
  REQUIRE(sdk.process_async(slow->daemon_id(), event_with(1), 50ms, answers.callback()));
  REQUIRE(answers.wait_for(1));
  REQUIRE_FALSE(answers.got[0]);
  CHECK(answers.got[0].error().code() == Errc::timeout);
  probe->gate->release();

  REQUIRE(sdk.process_async(echo->daemon_id(), event_with(2), 10s,
                            [](Result<std::vector<Bytes>>) { throw std::runtime_error("callback bug"); }));
  REQUIRE(sdk.process_async(echo->daemon_id(), event_with(3), 10s, answers.callback()));
  REQUIRE(answers.wait_for(2));
  REQUIRE(answers.got[1]);
  CHECK(answers.got[1].value() == std::vector<Bytes>{Bytes{3}});
}

TEST_CASE("process_async: an answer still due when the node shuts down comes as loop_closed") {
  auto sdk = MeshOsDaemonSdk::start(fast_config(), nullptr);
  auto probe = std::make_shared<DaemonProbe>();
  probe->gate = std::make_shared<Latch>();
  auto h = sdk.register_daemon(make_daemon("held", probe), EntityKeypair::generate());
  REQUIRE(h);
  Answers answers;
  REQUIRE(sdk.process_async(h->daemon_id(), event_with(1), 60s, answers.callback()));
  REQUIRE(probe->entered->wait(10s));  // the daemon holds the event: no answer can come before the shutdown
  auto stopping = std::async(std::launch::async, [&] { return sdk.shutdown(); });
  REQUIRE(answers.wait_for(1));
  probe->gate->release();  // now the daemon may finish, and the shutdown with it
  auto stats = stopping.get();
  REQUIRE(stats);
  std::lock_guard<std::mutex> lock(answers.mu);
  REQUIRE(answers.got.size() == 1);
  REQUIRE_FALSE(answers.got[0]);
  CHECK(answers.got[0].error().code() == Errc::loop_closed);
}
