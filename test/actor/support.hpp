#pragma once
// Shared fixtures for the actor tests: test daemons and waiting on snapshots (never sleeping).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>

#include <doctest/doctest.h>

#include <meshos/meshos.hpp>

namespace meshos::test {

using namespace std::chrono_literals;

// A causal event whose payload is one byte (what an echo daemon gives back).
inline CausalEvent event_with(std::uint8_t byte) {
  CausalEvent ev;
  ev.payload = {byte};
  return ev;
}

inline MeshOsConfig fast_config() {
  MeshOsConfig cfg;
  cfg.tick_interval = 10ms;
  cfg.daemon_check_interval = 10ms;
  return cfg;
}

// Opens when released; lets a test hold a daemon inside process() (its actor busy) for as long as it likes.
class Latch {
 public:
  void release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// Counts calls made on another thread; a test waits for a count instead of for time to pass.
class CallCounter {
 public:
  void add() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++count_;
    }
    cv_.notify_all();
  }
  int count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }
  bool wait_at_least(int n, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return count_ >= n; });
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

// What a test daemon observed, shared with the test after the daemon moved into the runtime.
struct DaemonProbe {
  std::atomic<int> processed{0};
  std::atomic<int> controls{0};
  std::atomic<int> restores{0};
  std::shared_ptr<Latch> entered = std::make_shared<Latch>();  // process() was entered
  std::shared_ptr<Latch> gate;                                 // when set, process() waits on it
  std::atomic<bool> crash_on_process{false};
  std::atomic<bool> healthy{true};
  CallCounter controls_seen;  // on_control() calls, to wait on
  CallCounter health_checks;  // health() calls: one per check of the daemon's actor
  CallCounter states_taken;   // snapshot() calls of a stateful daemon
  DaemonHosting hosting = DaemonHosting::Shared;  // what the daemon asks for
};

class TestDaemon : public MeshDaemon {
 public:
  TestDaemon(std::string name, std::shared_ptr<DaemonProbe> probe, bool stateful = false)
      : name_(std::move(name)), probe_(std::move(probe)), stateful_(stateful) {}
  std::string name() const override { return name_; }
  Result<std::vector<Bytes>> process(const CausalEvent& ev) override {
    probe_->entered->release();
    if (probe_->gate) probe_->gate->wait(30s);
    if (probe_->crash_on_process) throw std::runtime_error("boom");
    ++probe_->processed;
    ++count_;
    return std::vector<Bytes>{ev.payload};
  }
  void on_control(const DaemonControl&) override {
    ++probe_->controls;
    probe_->controls_seen.add();
  }
  bool is_stateful() const override { return stateful_; }
  std::optional<Bytes> snapshot() const override {
    if (!stateful_) return std::nullopt;
    probe_->states_taken.add();
    return Bytes{static_cast<std::uint8_t>(count_)};
  }
  Result<void> restore(const Bytes& b) override {
    ++probe_->restores;
    count_ = b.empty() ? 0 : b[0];
    return {};
  }
  DaemonHealth health() const override {
    probe_->health_checks.add();
    if (probe_->healthy) return health::Healthy{};
    return health::Degraded{"probe says so"};
  }
  DaemonHosting hosting() const override { return probe_->hosting; }
  int count() const { return count_; }

 private:
  std::string name_;
  std::shared_ptr<DaemonProbe> probe_;
  bool stateful_;
  int count_ = 0;
};

inline std::unique_ptr<TestDaemon> make_daemon(const std::string& name, std::shared_ptr<DaemonProbe> probe,
                                               bool stateful = false) {
  return std::make_unique<TestDaemon>(name, std::move(probe), stateful);
}

// Receives every published snapshot; wait() blocks until one satisfies the predicate or the timeout passes.
class SnapshotWatch {
 public:
  explicit SnapshotWatch(MeshOsDaemonSdk& sdk) : shared_(std::make_shared<Shared>()) {
    auto s = shared_;
    subscription_ = sdk.subscribe([s](const SnapshotPtr& snap) {
      {
        std::lock_guard<std::mutex> lock(s->mu);
        s->last = snap;
        s->history.push_back(snap);
        if (s->history.size() > kHistory) s->history.pop_front();
        ++s->count;
      }
      s->cv.notify_all();
    });
  }

  // The latest snapshot when called, then every one received while waiting, in order: a state that lasts a
  // tick or two (BackingOff between crashes, say) is seen however late this thread gets to look.
  SnapshotPtr wait(const std::function<bool(const MeshOsSnapshot&)>& pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(shared_->mu);
    if (shared_->last && pred(*shared_->last)) return shared_->last;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    std::uint64_t checked = shared_->count;  // snapshots numbered from 0; those below are checked
    for (;;) {
      const std::uint64_t first_kept = shared_->count - shared_->history.size();
      for (std::uint64_t i = std::max(checked, first_kept); i < shared_->count; ++i) {
        const SnapshotPtr& snap = shared_->history[i - first_kept];
        if (pred(*snap)) return snap;
      }
      checked = shared_->count;
      if (!shared_->cv.wait_until(lock, deadline, [&] { return shared_->count > checked; })) return nullptr;
    }
  }
  bool seen(const std::function<bool(const MeshOsSnapshot&)>& pred, std::chrono::milliseconds timeout = 10s) {
    return wait(pred, timeout) != nullptr;
  }
  // Waits for the next snapshot (one tick of the loop).
  bool next(std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(shared_->mu);
    const auto before = shared_->count;
    return shared_->cv.wait_for(lock, timeout, [&] { return shared_->count > before; });
  }

 private:
  static constexpr std::size_t kHistory = 4096;  // a wait looks back no further (minutes at a fast tick)
  struct Shared {
    std::mutex mu;
    std::condition_variable cv;
    SnapshotPtr last;
    std::deque<SnapshotPtr> history;  // the latest kHistory snapshots, oldest first
    std::uint64_t count = 0;          // snapshots received
  };
  std::shared_ptr<Shared> shared_;
  Subscription subscription_;
};

// Counts the events it processed; the count is its state (with `padding` bytes more, to make it heavy) and
// its output. Stateful: what a move or a restart must carry.
class CountingDaemon : public MeshDaemon {
 public:
  explicit CountingDaemon(std::size_t padding = 0) : padding_(padding) {}
  std::string name() const override { return "counter"; }
  Result<std::vector<Bytes>> process(const CausalEvent&) override {
    ++count_;
    return std::vector<Bytes>{encode(count_)};
  }
  bool is_stateful() const override { return true; }
  std::optional<Bytes> snapshot() const override {
    Bytes state = encode(count_);
    state.resize(8 + padding_);
    return state;
  }
  Result<void> restore(const Bytes& state) override {
    if (state.size() < 8) return SdkError{Errc::restore_failed, "short state"};
    std::memcpy(&count_, state.data(), 8);
    padding_ = state.size() - 8;
    return {};
  }
  static Bytes encode(std::uint64_t n) {
    Bytes b(8);
    std::memcpy(b.data(), &n, 8);
    return b;
  }
  static std::uint64_t decode(const Bytes& b) {
    std::uint64_t n = 0;
    if (b.size() >= 8) std::memcpy(&n, b.data(), 8);
    return n;
  }

 private:
  std::uint64_t count_ = 0;
  std::size_t padding_;
};

inline bool is_stop_of(const PendingAction& p, DaemonId id) {
  auto* s = std::get_if<action::StopDaemon>(&p.action);
  return s && s->daemon.id == id;
}
inline bool is_start_of(const PendingAction& p, DaemonId id) {
  auto* s = std::get_if<action::StartDaemon>(&p.action);
  return s && s->daemon.id == id;
}

inline const DaemonSnapshot* find_daemon(const MeshOsSnapshot& s, DaemonId id) {
  auto i = s.daemons.find(id);
  return i == s.daemons.end() ? nullptr : &i->second;
}

inline bool lifecycle_is(const MeshOsSnapshot& s, DaemonId id, DaemonLifecycleState want) {
  const auto* d = find_daemon(s, id);
  return d && d->lifecycle == want;
}

// A registered daemon seen Running in a snapshot, with the handle that keeps it registered.
struct RunningDaemon {
  MeshOsDaemonHandle handle;
  DaemonRef ref;
};
inline RunningDaemon register_running(MeshOsDaemonSdk& sdk, SnapshotWatch& watch, std::unique_ptr<MeshDaemon> daemon) {
  auto name = daemon->name();
  auto h = sdk.register_daemon(std::move(daemon), EntityKeypair::generate());
  REQUIRE(h);
  DaemonRef ref{h->daemon_id(), name};
  REQUIRE(watch.seen([&](const MeshOsSnapshot& s) { return lifecycle_is(s, ref.id, DaemonLifecycleState::Running); }));
  return RunningDaemon{std::move(*h), ref};
}

inline Seed seed_of(std::uint8_t b) {
  Seed s{};
  s.fill(b);
  return s;
}

}  // namespace meshos::test
