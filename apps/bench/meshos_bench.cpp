// meshos-bench: what the runtime costs over plain CAF, measured in one run. Every figure is printed beside a
// baseline taken in the same process minutes apart (the machine is shared and noisy), and the ratio
// meshos/baseline of the two rates. Output lines follow the peers' format (see BENCHMARKS.md):
//   RESULT <workload> <param>=<value> ... rate=<ops/s> [p50_us=.. p99_us=..] ratio=..
//   BASELINE <workload> <param>=<value> ... rate=<ops/s>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <malloc.h>
#include <unistd.h>

#include <caf/all.hpp>

#include <meshos/meshos.hpp>

#include "bench_support.hpp"
#include "net_bench.hpp"

namespace bench {

using namespace std::chrono_literals;
using meshos::Bytes;
using meshos::CausalEvent;
using meshos::DaemonControl;

DaemonControl control_of(std::uint64_t i) {
  switch (i % 5) {
    case 0: return meshos::Shutdown{30'000};
    case 1: return meshos::DrainStart{60'000};
    case 2: return meshos::DrainFinish{};
    case 3: return meshos::BackpressureOn{0.9f};
    default: return meshos::BackpressureOff{};
  }
}

CausalEvent causal_event(std::uint64_t seq) {
  CausalEvent ev;
  ev.origin_hash = 1;
  ev.sequence = seq;
  ev.payload = Bytes(kPayloadBytes, static_cast<std::uint8_t>(seq));
  return ev;
}

std::vector<Bytes> echo(const CausalEvent& ev) { return std::vector<Bytes>{ev.payload}; }

// What one daemon saw; owned outside the runtime so it can be read after the daemon is gone.
struct DaemonCounters {
  std::atomic<std::uint64_t> controls{0};
  std::atomic<std::int64_t> last_control_ns{0};
  Tally processed;
};

// The daemon the benchmarks register: counts controls, echoes causal events (the peers' EchoDaemon).
class BenchDaemon : public meshos::MeshDaemon {
 public:
  BenchDaemon(std::string name, std::shared_ptr<DaemonCounters> counters)
      : name_(std::move(name)), counters_(std::move(counters)) {}
  std::string name() const override { return name_; }
  meshos::Result<std::vector<Bytes>> process(const CausalEvent& ev) override {
    auto out = echo(ev);
    counters_->processed.hit();
    return out;
  }
  void on_control(const DaemonControl&) override {
    counters_->controls.fetch_add(1, std::memory_order_relaxed);
    counters_->last_control_ns.store(now_ns(), std::memory_order_relaxed);
  }

 private:
  std::string name_;
  std::shared_ptr<DaemonCounters> counters_;
};

struct Registered {
  std::vector<meshos::MeshOsDaemonHandle> handles;
  std::vector<std::shared_ptr<DaemonCounters>> counters;
};

Registered register_daemons(meshos::MeshOsDaemonSdk& sdk, std::size_t n, const std::string& prefix) {
  Registered r;
  r.handles.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    auto counters = std::make_shared<DaemonCounters>();
    auto h = sdk.register_daemon(std::make_unique<BenchDaemon>(prefix + std::to_string(i), counters),
                                 meshos::EntityKeypair::generate());
    if (!h) fail("register_daemon: " + h.error().to_string());
    r.handles.push_back(std::move(h.value()));
    r.counters.push_back(std::move(counters));
  }
  return r;
}

// The control events the daemons' actors consumed, and when the last of them did (not before `not_before`).
struct ControlsConsumed {
  std::uint64_t events = 0;
  std::int64_t last_ns = 0;
};

ControlsConsumed controls_consumed(const Registered& reg, std::int64_t not_before) {
  ControlsConsumed out{0, not_before};
  for (const auto& c : reg.counters) {
    out.events += c->controls.load();
    out.last_ns = std::max(out.last_ns, c->last_control_ns.load());
  }
  return out;
}

meshos::MeshOsConfig quiet_config() {
  meshos::MeshOsConfig cfg;
  cfg.tick_interval = 1000ms;  // the loop's periodic work stays out of the way of the workload
  return cfg;
}

// A plain CAF system with CAF's defaults, the same configuration the SDK's own system uses.
struct PlainSystem {
  caf::actor_system_config cfg;
  caf::actor_system system{cfg};
};



}  // namespace bench

// ---- messages of the plain-CAF baselines (local only, like the runtime's own) ----
struct BaselineControl {
  meshos::DaemonControl control;
};
struct BaselineEvent {
  meshos::CausalEvent event;
};
struct BaselineOutputs {
  std::vector<meshos::Bytes> outputs;
};
struct BaselineSnapshot {
  std::shared_ptr<const meshos::MeshOsSnapshot> snapshot;
};
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(BaselineControl)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(BaselineEvent)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(BaselineOutputs)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(BaselineSnapshot)

namespace bench {

using done_atom = caf::atom_constant<caf::atom("done")>;
using publish_atom = caf::atom_constant<caf::atom("publish")>;

struct Sizes {
  std::uint64_t route_events = 2'000'000;
  std::vector<std::size_t> route_daemons{1, 100, 1000};
  std::uint64_t deliver_events = 2'000'000;
  std::uint64_t process_rounds = 20'000;
  std::uint64_t blocking_events = 400'000;
  std::size_t shutdown_daemons = 1000;
  std::size_t snapshot_daemons = 10'000;
  std::size_t snapshot_subscribers = 1000;
  std::uint64_t snapshot_ticks = 30;
  std::uint64_t fanout_ticks = 10;
  std::uint64_t broadcasts = 10'000;
  std::size_t broadcast_daemons = 1000;
  std::vector<std::size_t> scale_daemons{10'000, 100'000};
  std::uint64_t scale_ticks = 20;
};

Sizes quick_sizes() {
  Sizes s;
  s.route_events = 100'000;
  s.deliver_events = 100'000;
  s.process_rounds = 1000;
  s.blocking_events = 20'000;
  s.shutdown_daemons = 200;
  s.snapshot_daemons = 1000;
  s.snapshot_subscribers = 100;
  s.snapshot_ticks = 5;
  s.fanout_ticks = 3;
  s.broadcasts = 200;
  s.broadcast_daemons = 100;
  s.scale_daemons = {1000};
  s.scale_ticks = 5;
  return s;
}

// ---- 1. route ----
// meshos: one thread calls route() `events` times round-robin over D registered daemons (the five control
// kinds in turn), then routes one marker to an extra daemon. route() takes the daemon's gate itself (a full
// gate drops in the caller) and the router forwards the rest in order, so the marker's arrival means every
// accepted route() was forwarded. The daemons' actors consume (on_control counts); the handles are not
// drained. After shutdown() every sent control has been consumed:
// delivered = sum of on_control calls, dropped = events - delivered (the gate's drops: control_capacity 8).
// baseline: the same thread anon_sends the same payload round-robin to D event-based actors that count.
struct RouteFigures {
  double rate = 0, call_rate = 0, delivered_per_s = 0;
  std::uint64_t delivered = 0, dropped = 0, runtime_dropped = 0;
};

RouteFigures route_meshos(std::size_t daemons, std::uint64_t events) {
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, daemons, "route-");
  auto marker = register_daemons(sdk, 1, "marker-");
  std::vector<meshos::DaemonId> ids;
  for (auto& h : reg.handles) ids.push_back(h.daemon_id());

  auto t0 = now_ns();
  for (std::uint64_t i = 0; i < events; ++i) sdk.route(ids[i % daemons], control_of(i));
  auto t_calls = now_ns();
  sdk.route(marker.handles[0].daemon_id(), meshos::BackpressureOff{});
  if (!marker.handles[0].next_control(kWaitLimit)) fail("route: the marker never arrived");
  auto t_routed = now_ns();

  auto stats = sdk.shutdown();
  if (!stats) fail("route: shutdown: " + stats.error().to_string());
  RouteFigures f;
  const auto consumed = controls_consumed(reg, t_routed);
  const auto last = consumed.last_ns;
  f.delivered = consumed.events;
  f.dropped = events - f.delivered;
  f.runtime_dropped = stats->control_dropped;
  f.rate = per_second(events, seconds_between(t0, t_routed));
  f.call_rate = per_second(events, seconds_between(t0, t_calls));
  f.delivered_per_s = per_second(f.delivered, seconds_between(t0, last));
  return f;
}

double route_baseline(std::size_t daemons, std::uint64_t events) {
  PlainSystem plain;
  struct Counter {
    std::uint64_t count = 0;
    std::int64_t last_ns = 0;
  };
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::int64_t> last{0};
  Tally finished;
  std::vector<caf::actor> actors;
  for (std::size_t i = 0; i < daemons; ++i) {
    actors.push_back(plain.system.spawn([&](caf::stateful_actor<Counter>* self) -> caf::behavior {
      return {
          [=](const BaselineControl&) {
            ++self->state.count;
            self->state.last_ns = now_ns();
          },
          [=, &delivered, &last, &finished](done_atom) {
            delivered.fetch_add(self->state.count);
            auto mine = self->state.last_ns;
            auto seen = last.load();
            while (mine > seen && !last.compare_exchange_weak(seen, mine)) {
            }
            finished.hit();
            self->quit();
          },
      };
    }));
  }
  auto t0 = now_ns();
  for (std::uint64_t i = 0; i < events; ++i) caf::anon_send(actors[i % daemons], BaselineControl{control_of(i)});
  for (auto& a : actors) caf::anon_send(a, done_atom::value);
  if (!finished.wait_for_count(daemons)) fail("route baseline: actors did not finish");
  if (delivered.load() != events) fail("route baseline: lost messages");
  return per_second(events, seconds_between(t0, last.load()));
}

void run_route(const Sizes& sizes) {
  for (auto d : sizes.route_daemons) {
    auto m = route_meshos(d, sizes.route_events);
    auto base = route_baseline(d, sizes.route_events);
    print_pair(fmt("route daemons=%zu events=%llu delivered=%llu dropped=%llu runtime_dropped=%llu "
                   "delivered_per_s=%.0f call_rate=%.0f rate=%.0f baseline_rate=%.0f",
                   d, static_cast<unsigned long long>(sizes.route_events),
                   static_cast<unsigned long long>(m.delivered), static_cast<unsigned long long>(m.dropped),
                   static_cast<unsigned long long>(m.runtime_dropped), m.delivered_per_s, m.call_rate, m.rate, base),
               fmt("route daemons=%zu events=%llu delivered=%llu dropped=0 rate=%.0f", d,
                   static_cast<unsigned long long>(sizes.route_events),
                   static_cast<unsigned long long>(sizes.route_events), base),
               m.rate, base);
  }
}

// ---- 2. deliver / process_rtt ----
// deliver: one thread calls deliver() `events` times with a fresh 64-byte payload to one daemon that echoes
// (process() returns the payload). Bounded per daemon (event_queue_capacity 1024): mode=drop counts
// queue_full and moves on; mode=retry yields the thread and retries, so every event gets through; mode=wait
// calls deliver with a timeout, which sleeps until the daemon makes room (nothing is dropped either). rate =
// events processed / time until the last one was processed. baseline: anon_send of the same event to one
// actor doing the same echo, unbounded.
struct DeliverFigures {
  double rate = 0;
  std::uint64_t processed = 0, queue_full = 0;
};

// ---- 1b. broadcast (the peers' workload) ----
// meshos: one thread calls broadcast() `broadcasts` times (BackpressureOn{0.9} and BackpressureOff in turn) to
// D registered daemons; a daemon with control_capacity events outstanding drops the newcomer (counted). After
// shutdown() every sent event has been consumed: delivered = the daemons' on_control calls.
// baseline: the same thread anon_sends the same payload to D plain actors, broadcast after broadcast,
// unbounded: a tenth of the broadcasts (a mailbox flood of D x broadcasts messages would be gigabytes).
struct BroadcastFigures {
  double delivered_per_s = 0, offered_per_s = 0;
  std::uint64_t delivered = 0, dropped = 0;
};

DaemonControl broadcast_control(std::uint64_t i) {
  return i % 2 == 0 ? DaemonControl{meshos::BackpressureOn{0.9f}} : DaemonControl{meshos::BackpressureOff{}};
}

BroadcastFigures broadcast_meshos(std::size_t daemons, std::uint64_t broadcasts) {
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, daemons, "broadcast-");
  auto t0 = now_ns();
  for (std::uint64_t i = 0; i < broadcasts; ++i) sdk.broadcast(broadcast_control(i));
  auto t_offered = now_ns();
  auto stats = sdk.shutdown();
  if (!stats) fail("broadcast: shutdown: " + stats.error().to_string());
  BroadcastFigures f;
  const auto consumed = controls_consumed(reg, t_offered);
  const auto last = consumed.last_ns;
  f.delivered = consumed.events;
  const std::uint64_t offered = broadcasts * daemons;
  f.dropped = offered - f.delivered;
  if (stats->control_dropped != f.dropped) fail("broadcast: delivered + dropped is not what was offered");
  f.offered_per_s = per_second(offered, seconds_between(t0, t_offered));
  f.delivered_per_s = per_second(f.delivered, seconds_between(t0, last));
  return f;
}

void run_broadcast(const Sizes& sizes) {
  const auto d = sizes.broadcast_daemons;
  auto m = broadcast_meshos(d, sizes.broadcasts);
  const std::uint64_t baseline_broadcasts = std::max<std::uint64_t>(sizes.broadcasts / 10, 1);
  auto base = route_baseline(d, baseline_broadcasts * d);  // round-robin over D actors: broadcast after broadcast
  print_pair(fmt("broadcast daemons=%zu broadcasts=%llu delivered=%llu dropped=%llu offered_per_s=%.0f rate=%.0f "
                 "baseline_rate=%.0f",
                 d, static_cast<unsigned long long>(sizes.broadcasts), static_cast<unsigned long long>(m.delivered),
                 static_cast<unsigned long long>(m.dropped), m.offered_per_s, m.delivered_per_s, base),
             fmt("broadcast daemons=%zu broadcasts=%llu dropped=0 rate=%.0f", d,
                 static_cast<unsigned long long>(baseline_broadcasts), base),
             m.delivered_per_s, base);
}

enum class DeliverMode { Drop, Retry, Wait };
const char* to_string(DeliverMode m) { return m == DeliverMode::Drop ? "drop" : m == DeliverMode::Retry ? "retry" : "wait"; }

DeliverFigures deliver_meshos(std::uint64_t events, DeliverMode mode) {
  const bool retry = mode == DeliverMode::Retry;
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, 1, "deliver-");
  auto id = reg.handles[0].daemon_id();
  auto& counters = *reg.counters[0];
  DeliverFigures f;
  auto t0 = now_ns();
  for (std::uint64_t i = 0; i < events; ++i) {
    if (mode == DeliverMode::Wait) {
      if (auto r = sdk.deliver(id, causal_event(i), std::chrono::seconds(30)); !r)
        fail("deliver: " + r.error().to_string());
      continue;
    }
    for (;;) {
      auto r = sdk.deliver(id, causal_event(i));
      if (r) break;
      if (r.error().code() != meshos::Errc::queue_full) fail("deliver: " + r.error().to_string());
      ++f.queue_full;
      if (!retry) break;
      std::this_thread::yield();
    }
  }
  auto accepted = mode == DeliverMode::Drop ? events - f.queue_full : events;
  if (!counters.processed.wait_for_count(accepted)) fail("deliver: events were lost");
  f.processed = counters.processed.count();
  f.rate = per_second(f.processed, seconds_between(t0, counters.processed.last_ns()));
  if (auto stats = sdk.shutdown(); !stats) fail("deliver: shutdown: " + stats.error().to_string());
  return f;
}

caf::actor spawn_echo(caf::actor_system& system, Tally& processed) {
  return system.spawn([&processed](caf::event_based_actor* self) -> caf::behavior {
    return {
        [&processed](const BaselineEvent& m) {
          auto out = echo(m.event);
          processed.hit();
        },
        [](const BaselineEvent& m, done_atom) -> BaselineOutputs { return BaselineOutputs{echo(m.event)}; },
        [self](done_atom) { self->quit(); },
    };
  });
}

double deliver_baseline(std::uint64_t events) {
  PlainSystem plain;
  Tally processed;
  auto actor = spawn_echo(plain.system, processed);
  auto t0 = now_ns();
  for (std::uint64_t i = 0; i < events; ++i) caf::anon_send(actor, BaselineEvent{causal_event(i)});
  if (!processed.wait_for_count(events)) fail("deliver baseline: events were lost");
  auto rate = per_second(events, seconds_between(t0, processed.last_ns()));
  caf::anon_send(actor, done_atom::value);
  return rate;
}

// process_rtt: sequential process() calls (request/response, the caller waits for the outputs) to one echo
// daemon; baseline: sequential requests from one scoped_actor to a plain echo actor.
std::vector<double> process_meshos(std::uint64_t rounds) {
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, 1, "process-");
  auto id = reg.handles[0].daemon_id();
  std::vector<double> us;
  us.reserve(rounds);
  for (std::uint64_t i = 0; i < rounds + 100; ++i) {
    auto t = now_ns();
    auto out = sdk.process(id, causal_event(i), 10s);
    auto dt = now_ns() - t;
    if (!out || out->size() != 1) fail("process: " + (out ? std::string("wrong outputs") : out.error().to_string()));
    if (i >= 100) us.push_back(static_cast<double>(dt) / 1e3);  // the first 100 warm up
  }
  if (auto stats = sdk.shutdown(); !stats) fail("process: shutdown: " + stats.error().to_string());
  return us;
}

std::vector<double> process_baseline(std::uint64_t rounds) {
  PlainSystem plain;
  Tally unused;
  auto actor = spawn_echo(plain.system, unused);
  std::vector<double> us;
  us.reserve(rounds);
  {
    caf::scoped_actor self{plain.system};
    for (std::uint64_t i = 0; i < rounds + 100; ++i) {
      auto t = now_ns();
      bool ok = false;
      self->request(actor, caf::infinite, BaselineEvent{causal_event(i)}, done_atom::value)
          .receive([&](BaselineOutputs& out) { ok = out.outputs.size() == 1; }, [&](caf::error&) { ok = false; });
      auto dt = now_ns() - t;
      if (!ok) fail("process baseline: request failed");
      if (i >= 100) us.push_back(static_cast<double>(dt) / 1e3);
    }
  }
  caf::anon_send(actor, done_atom::value);
  return us;
}


void run_deliver(const Sizes& sizes) {
  auto base = deliver_baseline(sizes.deliver_events);
  for (auto mode : {DeliverMode::Drop, DeliverMode::Retry, DeliverMode::Wait}) {
    auto m = deliver_meshos(sizes.deliver_events, mode);
    print_pair(fmt("deliver mode=%s events=%llu payload_bytes=%zu capacity=1024 processed=%llu queue_full=%llu "
                   "rate=%.0f baseline_rate=%.0f",
                   to_string(mode), static_cast<unsigned long long>(sizes.deliver_events), kPayloadBytes,
                   static_cast<unsigned long long>(m.processed), static_cast<unsigned long long>(m.queue_full),
                   m.rate, base),
               fmt("deliver events=%llu payload_bytes=%zu processed=%llu rate=%.0f",
                   static_cast<unsigned long long>(sizes.deliver_events), kPayloadBytes,
                   static_cast<unsigned long long>(sizes.deliver_events), base),
               m.rate, base);
  }
}

// process_async: `rounds` round trips in a chain (each answer's callback sends the next), timed from the first
// send to the last answer. Baseline: an event-based actor doing the same chain of requests to a plain echo
// actor (request(...).then(...)).
double process_async_meshos(std::uint64_t rounds) {
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, 1, "async-");
  auto id = reg.handles[0].daemon_id();
  Tally answered;
  std::atomic<bool> failed{false};
  std::function<void(std::uint64_t)> send = [&](std::uint64_t i) {
    auto sent = sdk.process_async(id, causal_event(i), 10s, [&, i](meshos::Result<std::vector<Bytes>> out) {
      if (!out || out->size() != 1) failed = true;
      answered.hit();
      if (i + 1 < rounds) send(i + 1);
    });
    if (!sent) {
      failed = true;
      answered.hit();
    }
  };
  auto t0 = now_ns();
  send(0);
  if (!answered.wait_for_count(rounds) || failed) fail("process_async: a round trip failed");
  const double rate = per_second(rounds, seconds_between(t0, answered.last_ns()));
  if (auto stats = sdk.shutdown(); !stats) fail("process_async: shutdown: " + stats.error().to_string());
  return rate;
}

double process_async_baseline(std::uint64_t rounds) {
  PlainSystem plain;
  Tally unused, answered;
  auto echo_actor = spawn_echo(plain.system, unused);
  auto t0 = now_ns();
  plain.system.spawn([&answered, rounds](caf::event_based_actor* self, caf::actor echo_to) {
    auto next = std::make_shared<std::function<void(std::uint64_t)>>();
    *next = [=, &answered](std::uint64_t i) {
      self->request(echo_to, caf::infinite, BaselineEvent{causal_event(i)}, done_atom::value)
          .then([=, &answered](BaselineOutputs&) {
            answered.hit();
            if (i + 1 < rounds) (*next)(i + 1);
          });
    };
    (*next)(0);
  }, echo_actor);
  if (!answered.wait_for_count(rounds)) fail("process_async baseline: requests failed");
  const double rate = per_second(rounds, seconds_between(t0, answered.last_ns()));
  caf::anon_send(echo_actor, done_atom::value);
  return rate;
}

void run_process(const Sizes& sizes) {
  auto m = process_meshos(sizes.process_rounds);
  auto b = process_baseline(sizes.process_rounds);
  auto mp = percentiles(m), bp = percentiles(b);
  auto mr = rate_of(m), br = rate_of(b);
  print_pair(fmt("process_rtt rounds=%llu rate=%.0f p50_us=%.2f p99_us=%.2f baseline_rate=%.0f",
                 static_cast<unsigned long long>(sizes.process_rounds), mr, mp.p50_us, mp.p99_us, br),
             fmt("process_rtt rounds=%llu rate=%.0f p50_us=%.2f p99_us=%.2f",
                 static_cast<unsigned long long>(sizes.process_rounds), br, bp.p50_us, bp.p99_us),
             mr, br);
  const double am = process_async_meshos(sizes.process_rounds);
  const double ab = process_async_baseline(sizes.process_rounds);
  print_pair(fmt("process_async rounds=%llu rate=%.0f baseline_rate=%.0f",
                 static_cast<unsigned long long>(sizes.process_rounds), am, ab),
             fmt("process_async rounds=%llu rate=%.0f (event-based request chain)",
                 static_cast<unsigned long long>(sizes.process_rounds), ab),
             am, ab);
}

// ---- 3. shutdown ----
// meshos: register N prompt daemons (their actors idle), then graceful_shutdown() every handle, from one
// thread in turn (threads=1) or split between two threads (threads=2). graceful_shutdown returns once the
// daemon's actor consumed Shutdown; rate = daemons shut down per second; p50/p99 per call.
// baseline: N plain actors; threads=1 sends an exit to one actor and waits for its termination before the
// next; threads=all sends an exit to all and waits until all terminated.
struct ShutdownFigures {
  double rate = 0;
  Percentiles per_call;
  std::uint64_t forced = 0;
};

ShutdownFigures shutdown_meshos(std::size_t daemons, unsigned threads) {
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, daemons, "prompt-");
  std::vector<std::vector<double>> us(threads);
  std::atomic<std::uint64_t> forced{0};
  auto shut_range = [&](unsigned part) {
    for (std::size_t i = part; i < daemons; i += threads) {
      auto t = now_ns();
      auto outcome = reg.handles[i].graceful_shutdown(5s);
      us[part].push_back(static_cast<double>(now_ns() - t) / 1e3);
      if (!outcome) fail("graceful_shutdown: " + outcome.error().to_string());
      if (*outcome != meshos::ShutdownOutcome::Consumed) forced.fetch_add(1);
    }
  };
  auto t0 = now_ns();
  if (threads == 1) {
    shut_range(0);
  } else {
    std::vector<std::thread> pool;
    for (unsigned p = 0; p < threads; ++p) pool.emplace_back(shut_range, p);
    for (auto& t : pool) t.join();
  }
  auto t1 = now_ns();
  if (auto stats = sdk.shutdown(); !stats) fail("shutdown: " + stats.error().to_string());
  std::vector<double> all;
  for (auto& v : us) all.insert(all.end(), v.begin(), v.end());
  ShutdownFigures f;
  f.rate = per_second(daemons, seconds_between(t0, t1));
  f.per_call = percentiles(all);
  f.forced = forced.load();
  return f;
}

// bulk: every handle at once through shutdown_daemons (Shutdown to all, then one wait each against one deadline);
// sdk: sdk.shutdown() with the daemons still registered. rate = daemons per second over the whole call.
struct BulkShutdownFigures {
  double bulk_rate = 0;
  double bulk_ms = 0;
  std::uint64_t forced = 0;
  double sdk_rate = 0;
  double sdk_ms = 0;
};

BulkShutdownFigures shutdown_meshos_bulk(std::size_t daemons) {
  BulkShutdownFigures f;
  {
    auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
    auto reg = register_daemons(sdk, daemons, "bulk-");
    std::vector<meshos::MeshOsDaemonHandle*> handles;
    for (auto& h : reg.handles) handles.push_back(&h);
    auto t0 = now_ns();
    auto outcomes = meshos::shutdown_daemons(handles, 5s);
    auto t1 = now_ns();
    for (auto& o : outcomes) {
      if (!o) fail("shutdown_daemons: " + o.error().to_string());
      if (*o != meshos::ShutdownOutcome::Consumed) ++f.forced;
    }
    f.bulk_ms = seconds_between(t0, t1) * 1e3;
    f.bulk_rate = per_second(daemons, seconds_between(t0, t1));
    if (auto stats = sdk.shutdown(); !stats) fail("shutdown: " + stats.error().to_string());
  }
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  auto reg = register_daemons(sdk, daemons, "sdk-");
  auto t0 = now_ns();
  auto stats = sdk.shutdown();
  auto t1 = now_ns();
  if (!stats) fail("shutdown: " + stats.error().to_string());
  if (stats->forced) fail("shutdown: forced with prompt daemons");
  f.sdk_ms = seconds_between(t0, t1) * 1e3;
  f.sdk_rate = per_second(daemons, seconds_between(t0, t1));
  return f;
}

struct BaselineShutdown {
  double rate = 0;
  Percentiles per_actor;
};

BaselineShutdown shutdown_baseline(std::size_t actors_n, bool one_at_a_time) {
  PlainSystem plain;
  Tally terminated;
  std::vector<caf::actor> actors;
  for (std::size_t i = 0; i < actors_n; ++i) {
    auto a = plain.system.spawn([](caf::event_based_actor*) -> caf::behavior { return {[](done_atom) {}}; });
    a->attach_functor([&terminated] { terminated.hit(); });
    actors.push_back(std::move(a));
  }
  std::vector<double> us;
  auto t0 = now_ns();
  for (std::size_t i = 0; i < actors_n; ++i) {
    auto t = now_ns();
    caf::anon_send_exit(actors[i], caf::exit_reason::user_shutdown);
    if (one_at_a_time) {
      if (!terminated.wait_for_count(i + 1)) fail("shutdown baseline: an actor did not terminate");
      us.push_back(static_cast<double>(now_ns() - t) / 1e3);
    }
  }
  if (!terminated.wait_for_count(actors_n)) fail("shutdown baseline: actors did not terminate");
  BaselineShutdown b;
  b.rate = per_second(actors_n, seconds_between(t0, now_ns()));
  b.per_actor = percentiles(us);
  return b;
}

void run_shutdown(const Sizes& sizes) {
  auto n = sizes.shutdown_daemons;
  auto seq = shutdown_meshos(n, 1);
  auto base_seq = shutdown_baseline(n, true);
  print_pair(fmt("shutdown daemons=%zu threads=1 forced=%llu rate=%.0f p50_us=%.2f p99_us=%.2f baseline_rate=%.0f",
                 n, static_cast<unsigned long long>(seq.forced), seq.rate, seq.per_call.p50_us,
                 seq.per_call.p99_us, base_seq.rate),
             fmt("shutdown daemons=%zu threads=1 rate=%.0f p50_us=%.2f p99_us=%.2f", n, base_seq.rate,
                 base_seq.per_actor.p50_us, base_seq.per_actor.p99_us),
             seq.rate, base_seq.rate);
  auto par = shutdown_meshos(n, 2);
  auto base_all = shutdown_baseline(n, false);
  print_pair(fmt("shutdown daemons=%zu threads=2 forced=%llu rate=%.0f p50_us=%.2f p99_us=%.2f baseline_rate=%.0f",
                 n, static_cast<unsigned long long>(par.forced), par.rate, par.per_call.p50_us, par.per_call.p99_us,
                 base_all.rate),
             fmt("shutdown daemons=%zu threads=all rate=%.0f", n, base_all.rate), par.rate, base_all.rate);
  auto bulk = shutdown_meshos_bulk(n);
  auto base_bulk = shutdown_baseline(n, false);
  print_pair(fmt("shutdown daemons=%zu mode=shutdown_daemons forced=%llu total_ms=%.2f rate=%.0f baseline_rate=%.0f", n,
                 static_cast<unsigned long long>(bulk.forced), bulk.bulk_ms, bulk.bulk_rate, base_bulk.rate),
             fmt("shutdown daemons=%zu threads=all rate=%.0f", n, base_bulk.rate), bulk.bulk_rate, base_bulk.rate);
  print_pair(fmt("shutdown daemons=%zu mode=sdk.shutdown total_ms=%.2f rate=%.0f baseline_rate=%.0f", n, bulk.sdk_ms,
                 bulk.sdk_rate, base_bulk.rate),
             fmt("shutdown daemons=%zu threads=all rate=%.0f", n, base_bulk.rate), bulk.sdk_rate, base_bulk.rate);
}

// ---- 4. snapshot ----
// meshos: N registered daemons, S subscribers, the loop ticking as fast as it can (tick_interval 1 ms, so
// a tick's own cost sets the pace). Every subscriber notes when it received which seq. tick_us = interval
// between the first receipts of consecutive seqs (reconcile + building the N-daemon snapshot + router
// polls + fan-out); fanout_us = first to last receipt of one seq; coverage = receipts / (S x seqs), below 1
// when busy subscribers skipped a snapshot. rate = ticks per second.
// baseline: a plain actor sends one shared_ptr (the last real N-daemon snapshot) to S actors; a round ends
// when the last one received it; rounds back to back. rate = rounds per second.
class ReceiptLog {
 public:
  void note(std::uint64_t seq, std::size_t daemons) {
    auto t = now_ns();
    std::lock_guard<std::mutex> lock(mu_);
    if (daemons < wanted_daemons_) return;
    auto& r = receipts_[seq];
    if (r.count == 0) r.first_ns = t;
    r.last_ns = t;
    ++r.count;
    if (r.count == 1) cv_.notify_all();  // once per seq: the waiter looks at the newest seq
  }
  // The first seq whose snapshot shows every daemon, then `ticks` more after it.
  bool wait_ticks(std::uint64_t ticks, std::uint64_t& first_seq) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, kWaitLimit, [&] { return !receipts_.empty(); })) return false;
    first_seq = receipts_.begin()->first;
    wake_at_seq_ = first_seq + ticks + 1;  // one more, so the last measured seq's receipts are complete
    return cv_.wait_for(lock, kWaitLimit, [&] { return receipts_.rbegin()->first >= wake_at_seq_; });
  }
  void set_wanted_daemons(std::size_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    wanted_daemons_ = n;
  }
  struct Receipt {
    std::int64_t first_ns = 0, last_ns = 0;
    std::uint64_t count = 0;
  };
  std::map<std::uint64_t, Receipt> copy() {
    std::lock_guard<std::mutex> lock(mu_);
    return receipts_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::map<std::uint64_t, Receipt> receipts_;
  std::size_t wanted_daemons_ = SIZE_MAX;
  std::uint64_t wake_at_seq_ = UINT64_MAX;
};

struct SnapshotFigures {
  double rate = 0;
  Percentiles tick, fanout;
  double coverage = 0;
  double fanout_rate = 0;  // fan-outs per second, from the first-to-last receipt spreads
  meshos::SnapshotPtr last;
};

SnapshotFigures snapshot_meshos(std::size_t daemons, std::size_t subscribers, std::uint64_t ticks,
                                std::chrono::milliseconds tick_interval) {
  auto cfg = quiet_config();
  cfg.tick_interval = tick_interval;
  auto sdk = meshos::MeshOsDaemonSdk::start(cfg, nullptr);
  auto log = std::make_shared<ReceiptLog>();
  std::vector<meshos::Subscription> subs;
  for (std::size_t i = 0; i < subscribers; ++i)
    subs.push_back(sdk.subscribe([log](const meshos::SnapshotPtr& s) { log->note(s->seq, s->daemons.size()); }));
  auto reg = register_daemons(sdk, daemons, "snap-");
  log->set_wanted_daemons(daemons);
  std::uint64_t first = 0;
  if (!log->wait_ticks(ticks, first)) fail("snapshot: the subscribers did not see enough ticks");
  auto receipts = log->copy();
  SnapshotFigures f;
  f.last = sdk.snapshot();
  if (auto stats = sdk.shutdown(); !stats) fail("snapshot: shutdown: " + stats.error().to_string());

  std::vector<double> tick_us, fanout_us;
  std::uint64_t got = 0;
  const ReceiptLog::Receipt* prev = nullptr;
  std::uint64_t prev_seq = 0;
  auto end = first + ticks;
  for (auto& [seq, r] : receipts) {
    if (seq < first || seq > end) continue;
    got += r.count;
    fanout_us.push_back(static_cast<double>(r.last_ns - r.first_ns) / 1e3);
    if (prev)
      tick_us.push_back(static_cast<double>(r.first_ns - prev->first_ns) / 1e3 / static_cast<double>(seq - prev_seq));
    prev = &r;
    prev_seq = seq;
  }
  f.tick = percentiles(tick_us);
  f.fanout = percentiles(fanout_us);
  f.coverage = static_cast<double>(got) / static_cast<double>(subscribers * (ticks + 1));
  double total_us = 0;
  for (auto u : tick_us) total_us += u;
  f.rate = tick_us.empty() ? 0.0 : static_cast<double>(tick_us.size()) / (total_us / 1e6);
  f.fanout_rate = rate_of(fanout_us);
  return f;
}

struct BaselineFanout {
  double rate = 0;
  Percentiles round;
};

BaselineFanout snapshot_baseline(const meshos::SnapshotPtr& payload, std::size_t receivers_n, std::uint64_t rounds) {
  PlainSystem plain;
  Tally received;
  std::vector<caf::actor> receivers;
  for (std::size_t i = 0; i < receivers_n; ++i)
    receivers.push_back(plain.system.spawn([&received](caf::event_based_actor* self) -> caf::behavior {
      return {
          [&received](const BaselineSnapshot& m) {
            if (m.snapshot) received.hit();
          },
          [self](done_atom) { self->quit(); },
      };
    }));
  auto publisher = plain.system.spawn([receivers](caf::event_based_actor* self) -> caf::behavior {
    return {
        [=](publish_atom, const BaselineSnapshot& m) {
          for (auto& r : receivers) self->send(r, m);
        },
        [self](done_atom) { self->quit(); },
    };
  });
  std::vector<double> us;
  for (std::uint64_t i = 0; i < rounds; ++i) {
    auto t = now_ns();
    caf::anon_send(publisher, publish_atom::value, BaselineSnapshot{payload});
    if (!received.wait_for_count((i + 1) * receivers_n)) fail("snapshot baseline: receivers did not receive");
    us.push_back(static_cast<double>(received.last_ns() - t) / 1e3);
  }
  for (auto& r : receivers) caf::anon_send(r, done_atom::value);
  caf::anon_send(publisher, done_atom::value);
  return {rate_of(us), percentiles(us)};
}

void run_snapshot(const Sizes& sizes) {
  auto m = snapshot_meshos(sizes.snapshot_daemons, sizes.snapshot_subscribers, sizes.snapshot_ticks, 1ms);
  auto b = snapshot_baseline(m.last, sizes.snapshot_subscribers, sizes.snapshot_ticks);
  print_pair(fmt("snapshot daemons=%zu subscribers=%zu rounds=%llu tick_ms=1 coverage=%.3f fanout_p50_us=%.0f "
                 "fanout_p99_us=%.0f rate=%.1f p50_us=%.0f p99_us=%.0f baseline_rate=%.1f",
                 sizes.snapshot_daemons, sizes.snapshot_subscribers,
                 static_cast<unsigned long long>(sizes.snapshot_ticks), m.coverage, m.fanout.p50_us,
                 m.fanout.p99_us, m.rate, m.tick.p50_us, m.tick.p99_us, b.rate),
             fmt("snapshot daemons=%zu subscribers=%zu rounds=%llu rate=%.1f p50_us=%.0f p99_us=%.0f",
                 sizes.snapshot_daemons, sizes.snapshot_subscribers,
                 static_cast<unsigned long long>(sizes.snapshot_ticks), b.rate, b.round.p50_us, b.round.p99_us),
             m.rate, b.rate);
  // The fan-out alone, with the loop idle between ticks (100 ms apart): first-to-last receipt of one seq,
  // against the baseline's publish-to-last receipt (so this ratio flatters meshos slightly).
  auto idle = snapshot_meshos(sizes.snapshot_daemons, sizes.snapshot_subscribers, sizes.fanout_ticks, 100ms);
  print_pair(fmt("snapshot_fanout daemons=%zu subscribers=%zu rounds=%llu tick_ms=100 coverage=%.3f rate=%.1f "
                 "p50_us=%.0f p99_us=%.0f baseline_rate=%.1f",
                 sizes.snapshot_daemons, sizes.snapshot_subscribers,
                 static_cast<unsigned long long>(sizes.fanout_ticks), idle.coverage, idle.fanout_rate,
                 idle.fanout.p50_us, idle.fanout.p99_us, b.rate),
             fmt("snapshot_fanout daemons=%zu subscribers=%zu rounds=%llu rate=%.1f p50_us=%.0f p99_us=%.0f",
                 sizes.snapshot_daemons, sizes.snapshot_subscribers,
                 static_cast<unsigned long long>(sizes.snapshot_ticks), b.rate, b.round.p50_us, b.round.p99_us),
             idle.fanout_rate, b.rate);
}

// ---- 7. scale ----
// meshos: N idle daemons registered one after another (the rate; each with a fresh keypair, as an application
// does), the resident memory they add (RSS delta / N, the bench's handles included), the loop's tick with one
// subscriber while it runs flat out (1 ms interval: the interval between consecutive snapshots), one
// broadcast until every daemon's actor consumed it, and sdk.shutdown() with all N registered.
// baseline: N plain CAF actors (spawn rate, RSS delta / N), one message to all until all consumed it, an exit
// to all and the wait for all. Memory comes back to the allocator, not always to the system: the RSS deltas
// of a run after others are a lower bound, so the heap bytes in use (mallinfo2) are printed beside them. The
// keypairs are made before the clock starts: key generation is the application's cost, not the runtime's.
// Heap bytes in use (glibc's count of allocated chunks, mmapped ones included): unlike RSS, it does not depend
// on what earlier workloads left in the allocator's free lists.
std::uint64_t heap_bytes_in_use() {
  const struct mallinfo2 m = mallinfo2();
  return static_cast<std::uint64_t>(m.uordblks) + static_cast<std::uint64_t>(m.hblkhd);
}

std::uint64_t resident_bytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long long size = 0, resident = 0;
  const int read = std::fscanf(f, "%llu %llu", &size, &resident);
  std::fclose(f);
  return read == 2 ? resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

class IdleDaemon : public meshos::MeshDaemon {
 public:
  IdleDaemon(std::string name, Tally& controls) : name_(std::move(name)), controls_(controls) {}
  std::string name() const override { return name_; }
  meshos::Result<std::vector<Bytes>> process(const CausalEvent& ev) override { return echo(ev); }
  void on_control(const DaemonControl&) override { controls_.hit(); }

 private:
  std::string name_;
  Tally& controls_;
};

struct ScaleFigures {
  double register_rate = 0;
  double rss_per_daemon = 0;
  double heap_per_daemon = 0;
  Percentiles tick;
  double broadcast_ms = 0;
  double shutdown_ms = 0;
};

ScaleFigures scale_meshos(std::size_t daemons, std::uint64_t ticks) {
  auto cfg = quiet_config();
  cfg.tick_interval = 1ms;
  Tally controls;
  ScaleFigures f;
  auto sdk = meshos::MeshOsDaemonSdk::start(cfg, nullptr);
  std::vector<meshos::EntityKeypair> keys;
  keys.reserve(daemons);
  for (std::size_t i = 0; i < daemons; ++i) keys.push_back(meshos::EntityKeypair::generate());
  std::vector<meshos::MeshOsDaemonHandle> handles;
  handles.reserve(daemons);
  const auto rss0 = resident_bytes();
  const auto heap0 = heap_bytes_in_use();
  auto t0 = now_ns();
  for (std::size_t i = 0; i < daemons; ++i) {
    auto h = sdk.register_daemon(std::make_unique<IdleDaemon>("idle-" + std::to_string(i), controls), std::move(keys[i]));
    if (!h) fail("scale: register_daemon: " + h.error().to_string());
    handles.push_back(std::move(h.value()));
  }
  f.register_rate = per_second(daemons, seconds_between(t0, now_ns()));
  keys.clear();
  keys.shrink_to_fit();
  f.rss_per_daemon = static_cast<double>(resident_bytes() - std::min(rss0, resident_bytes())) / static_cast<double>(daemons);
  f.heap_per_daemon = static_cast<double>(heap_bytes_in_use() - std::min(heap0, heap_bytes_in_use())) / static_cast<double>(daemons);

  auto log = std::make_shared<ReceiptLog>();
  log->set_wanted_daemons(daemons);
  {
    auto sub = sdk.subscribe([log](const meshos::SnapshotPtr& s) { log->note(s->seq, s->daemons.size()); });
    std::uint64_t first = 0;
    if (!log->wait_ticks(ticks, first)) fail("scale: the subscriber did not see enough ticks");
    auto receipts = log->copy();
    std::vector<double> tick_us;
    const ReceiptLog::Receipt* prev = nullptr;
    std::uint64_t prev_seq = 0;
    for (auto& [seq, r] : receipts) {
      if (seq < first || seq > first + ticks) continue;
      if (prev)
        tick_us.push_back(static_cast<double>(r.first_ns - prev->first_ns) / 1e3 / static_cast<double>(seq - prev_seq));
      prev = &r;
      prev_seq = seq;
    }
    f.tick = percentiles(tick_us);
  }

  auto t1 = now_ns();
  sdk.broadcast(meshos::BackpressureOff{});
  if (!controls.wait_for_count(daemons)) fail("scale: the broadcast did not reach every daemon");
  f.broadcast_ms = seconds_between(t1, now_ns()) * 1e3;

  auto t2 = now_ns();
  auto stats = sdk.shutdown();
  f.shutdown_ms = seconds_between(t2, now_ns()) * 1e3;
  if (!stats) fail("scale: shutdown: " + stats.error().to_string());
  return f;
}

struct BaselineScale {
  double spawn_rate = 0;
  double rss_per_actor = 0;
  double heap_per_actor = 0;
  double broadcast_ms = 0;
  double shutdown_ms = 0;
};

BaselineScale scale_baseline(std::size_t actors_n) {
  PlainSystem plain;
  Tally received, terminated;
  std::vector<caf::actor> actors;
  actors.reserve(actors_n);
  BaselineScale b;
  const auto rss0 = resident_bytes();
  const auto heap0 = heap_bytes_in_use();
  auto t0 = now_ns();
  for (std::size_t i = 0; i < actors_n; ++i) {
    auto a = plain.system.spawn([&received](caf::event_based_actor*) -> caf::behavior {
      return {[&received](const BaselineControl&) { received.hit(); }};
    });
    a->attach_functor([&terminated] { terminated.hit(); });
    actors.push_back(std::move(a));
  }
  b.spawn_rate = per_second(actors_n, seconds_between(t0, now_ns()));
  b.rss_per_actor = static_cast<double>(resident_bytes() - std::min(rss0, resident_bytes())) / static_cast<double>(actors_n);
  b.heap_per_actor = static_cast<double>(heap_bytes_in_use() - std::min(heap0, heap_bytes_in_use())) / static_cast<double>(actors_n);
  auto t1 = now_ns();
  for (auto& a : actors) caf::anon_send(a, BaselineControl{meshos::BackpressureOff{}});
  if (!received.wait_for_count(actors_n)) fail("scale baseline: a message was not consumed");
  b.broadcast_ms = seconds_between(t1, now_ns()) * 1e3;
  auto t2 = now_ns();
  for (auto& a : actors) caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
  if (!terminated.wait_for_count(actors_n)) fail("scale baseline: actors did not terminate");
  b.shutdown_ms = seconds_between(t2, now_ns()) * 1e3;
  return b;
}

void run_scale(const Sizes& sizes) {
  for (auto n : sizes.scale_daemons) {
    auto b = scale_baseline(n);  // first: its RSS delta is taken before meshos' freed memory is around
    auto m = scale_meshos(n, sizes.scale_ticks);
    // One line per figure; each ratio is meshos' rate over the baseline's (for memory: baseline bytes over
    // meshos bytes, so that below 1 means meshos costs more, as everywhere else).
    print_pair(fmt("scale_register daemons=%zu rate=%.0f baseline_rate=%.0f", n, m.register_rate, b.spawn_rate),
               fmt("scale_register daemons=%zu rate=%.0f", n, b.spawn_rate), m.register_rate, b.spawn_rate);
    print_pair(fmt("scale_memory daemons=%zu heap_bytes_per_daemon=%.0f rss_bytes_per_daemon=%.0f "
                   "baseline_heap_bytes=%.0f baseline_rss_bytes=%.0f",
                   n, m.heap_per_daemon, m.rss_per_daemon, b.heap_per_actor, b.rss_per_actor),
               fmt("scale_memory daemons=%zu heap_bytes_per_actor=%.0f rss_bytes_per_actor=%.0f", n, b.heap_per_actor,
                   b.rss_per_actor),
               1.0 / m.heap_per_daemon, 1.0 / b.heap_per_actor);
    print_pair(fmt("scale_tick daemons=%zu subscribers=1 tick_ms=1 rate=%.1f p50_us=%.0f p99_us=%.0f", n,
                   m.tick.p50_us > 0 ? 1e6 / m.tick.p50_us : 0.0, m.tick.p50_us, m.tick.p99_us),
               fmt("scale_tick daemons=%zu rate=1000 (the 1 ms interval itself: a tick has no plain-CAF counterpart)", n),
               m.tick.p50_us > 0 ? 1e6 / m.tick.p50_us : 0.0, 1000.0);
    print_pair(fmt("scale_broadcast daemons=%zu ms=%.1f rate=%.0f baseline_ms=%.1f", n, m.broadcast_ms,
                   per_second(n, m.broadcast_ms / 1e3), b.broadcast_ms),
               fmt("scale_broadcast daemons=%zu ms=%.1f rate=%.0f", n, b.broadcast_ms, per_second(n, b.broadcast_ms / 1e3)),
               1.0 / m.broadcast_ms, 1.0 / b.broadcast_ms);
    print_pair(fmt("scale_shutdown daemons=%zu ms=%.1f rate=%.0f baseline_ms=%.1f", n, m.shutdown_ms,
                   per_second(n, m.shutdown_ms / 1e3), b.shutdown_ms),
               fmt("scale_shutdown daemons=%zu ms=%.1f rate=%.0f", n, b.shutdown_ms, per_second(n, b.shutdown_ms / 1e3)),
               1.0 / m.shutdown_ms, 1.0 / b.shutdown_ms);
  }
}

// ---- 8. blocking ----
// A daemon whose process() blocks (a 100 ms sleep per event, fed with more events than the run lasts) beside
// an echo daemon that one thread feeds `events` events through deliver with a timeout. rate = the echo
// daemon's events per second; baseline: the same run without the blocking daemon (same process, just
// before). hosting=own_thread: the blocking daemon asks for DaemonHosting::OwnThread; hosting=shared: it does
// not, and holds one of the scheduler's threads while it sleeps.
class SleepyDaemon : public meshos::MeshDaemon {
 public:
  explicit SleepyDaemon(meshos::DaemonHosting hosting) : hosting_(hosting) {}
  std::string name() const override { return "sleepy"; }
  meshos::DaemonHosting hosting() const override { return hosting_; }
  meshos::Result<std::vector<Bytes>> process(const CausalEvent&) override {
    std::this_thread::sleep_for(100ms);  // the blocking I/O this workload stands for
    return std::vector<Bytes>{};
  }

 private:
  meshos::DaemonHosting hosting_;
};

double echo_rate_beside(std::optional<meshos::DaemonHosting> blocker, std::uint64_t events) {
  auto sdk = meshos::MeshOsDaemonSdk::start(quiet_config(), nullptr);
  std::optional<meshos::MeshOsDaemonHandle> sleepy;
  if (blocker) {
    auto h = sdk.register_daemon(std::make_unique<SleepyDaemon>(*blocker), meshos::EntityKeypair::generate());
    if (!h) fail("blocking: register_daemon: " + h.error().to_string());
    for (std::uint64_t i = 0; i < 200; ++i)  // 20 s of sleeps: more than the run takes
      if (auto r = sdk.deliver(h->daemon_id(), causal_event(i)); !r) fail("blocking: deliver: " + r.error().to_string());
    sleepy.emplace(std::move(h.value()));
  }
  auto reg = register_daemons(sdk, 1, "echo-");
  auto id = reg.handles[0].daemon_id();
  auto& counters = *reg.counters[0];
  auto t0 = now_ns();
  for (std::uint64_t i = 0; i < events; ++i)
    if (auto r = sdk.deliver(id, causal_event(i), std::chrono::seconds(30)); !r) fail("blocking: deliver: " + r.error().to_string());
  if (!counters.processed.wait_for_count(events)) fail("blocking: events were lost");
  const double rate = per_second(events, seconds_between(t0, counters.processed.last_ns()));
  if (auto stats = sdk.shutdown(); !stats) fail("blocking: shutdown: " + stats.error().to_string());
  return rate;
}

void run_blocking(const Sizes& sizes) {
  using meshos::DaemonHosting;
  for (auto hosting : {DaemonHosting::OwnThread, DaemonHosting::Shared}) {
    const double alone = echo_rate_beside(std::nullopt, sizes.blocking_events);
    const double beside = echo_rate_beside(hosting, sizes.blocking_events);
    const char* name = hosting == DaemonHosting::OwnThread ? "own_thread" : "shared";
    print_pair(fmt("blocking hosting=%s sleep_ms=100 events=%llu rate=%.0f baseline_rate=%.0f", name,
                   static_cast<unsigned long long>(sizes.blocking_events), beside, alone),
               fmt("blocking without_blocker events=%llu rate=%.0f", static_cast<unsigned long long>(sizes.blocking_events),
                   alone),
               beside, alone);
  }
}

int usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [--quick] [--only route|broadcast|deliver|process|blocking|shutdown|snapshot|scale|net|rtt|remote]...\n"
               "  (net includes rtt)\n"
               "  --quick  small counts (a smoke run, well under 20 s)\n",
               argv0);
  return 2;
}

}  // namespace bench

int main(int argc, char** argv) {
  if (argc > 1 && std::string(argv[1]) == "--victim") return bench::run_victim(argc, argv);
  bool quick = false;
  std::set<std::string> only;
  const std::set<std::string> known{"route", "broadcast", "deliver", "process", "blocking", "shutdown",
                                    "snapshot", "scale", "net", "rtt", "remote"};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--only" && i + 1 < argc && known.count(argv[i + 1]) != 0) {
      only.insert(argv[++i]);
    } else {
      return bench::usage(argv[0]);
    }
  }
  auto sizes = quick ? bench::quick_sizes() : bench::Sizes{};
  auto wanted = [&](const char* name) { return only.empty() || only.count(name) != 0; };
  std::printf("# meshos-bench %s: %u hardware threads; ratio = meshos rate / baseline rate (same run)\n",
              quick ? "--quick" : "full", std::thread::hardware_concurrency());
  std::fflush(stdout);
  if (wanted("route")) bench::run_route(sizes);
  if (wanted("broadcast")) bench::run_broadcast(sizes);
  if (wanted("deliver")) bench::run_deliver(sizes);
  if (wanted("process")) bench::run_process(sizes);
  if (wanted("blocking")) bench::run_blocking(sizes);
  if (wanted("shutdown")) bench::run_shutdown(sizes);
  if (wanted("snapshot")) bench::run_snapshot(sizes);
  if (wanted("scale")) bench::run_scale(sizes);
  if (wanted("net")) {
    bench::run_net(quick);
  } else if (wanted("rtt")) {
    bench::run_remote_rtt(quick);
  }
  if (wanted("remote")) bench::run_remote(quick);
  return 0;
}
