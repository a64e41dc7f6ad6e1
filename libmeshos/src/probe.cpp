#include "meshos/probe.hpp"

#include <exception>

#include "overloaded.hpp"

namespace meshos {
namespace {

constexpr std::size_t kMaxProbeErrorBytes = 512;

std::string what_of(std::exception_ptr e) {
  try {
    std::rethrow_exception(std::move(e));
  } catch (const std::exception& x) {
    std::string what = x.what();
    if (what.size() > kMaxProbeErrorBytes) what.resize(kMaxProbeErrorBytes);  // a log line, not a dump
    return what.empty() ? "an exception without a message" : what;
  } catch (...) {
    return "an exception that is not a std::exception";
  }
}

}  // namespace

Result<void> check_probe(const Probe& p) {
  if (p.name.empty()) return SdkError{Errc::invalid_probe, "a probe needs a name"};
  const bool callable = std::visit([](const auto& f) { return static_cast<bool>(f); }, p.poll);
  if (!callable) return SdkError{Errc::invalid_probe, "probe " + p.name + " has no function to poll"};
  return {};
}

Probe proc_inventory_probe(std::string proc_root) {
  InventoryProbe poll = [root = std::move(proc_root)]() -> std::vector<InventoryReading> {
    auto inventory = read_proc_inventory(root);
    if (!inventory) throw SdkException(inventory.error());
    return {InventoryReading{0, *inventory}};
  };
  return Probe{"proc-inventory", std::move(poll)};
}

Result<void> ProbeSet::attach(std::uint64_t id, Probe probe) {
  if (auto checked = check_probe(probe); !checked) return checked;
  if (probes_.count(id) != 0) return SdkError{Errc::invalid_probe, "a probe is attached as " + std::to_string(id) + " already"};
  probes_.emplace(id, Attached{std::move(probe), {}});
  return {};
}

bool ProbeSet::detach(std::uint64_t id) { return probes_.erase(id) != 0; }

ProbeRound ProbeSet::poll() {
  ProbeRound round;
  for (auto& [id, attached] : probes_) {
    const bool inventory_probe = std::holds_alternative<InventoryProbe>(attached.probe.poll);
    if (inventory_probe) ++round.inventory.probes;
    std::string error;
    try {
      std::visit(overloaded{
                     [&](const LocalityProbe& f) {
                       for (auto& r : f()) {
                         if (r.peer == 0 || r.rtt < Clock::duration::zero()) {
                           ++round.invalid;
                           continue;
                         }
                         round.rtts.push_back(std::move(r));
                       }
                     },
                     [&](const HealthProbe& f) {
                       for (auto& r : f()) {
                         if (r.peer == 0) {
                           ++round.invalid;
                           continue;
                         }
                         round.health.push_back(std::move(r));
                       }
                     },
                     [&](const InventoryProbe& f) {
                       for (auto& r : f()) {
                         if (!check_inventory_reading(r)) {
                           ++round.invalid;
                           continue;
                         }
                         round.inventory.readings.push_back(std::move(r));
                       }
                     },
                 },
                 attached.probe.poll);
    } catch (...) {
      error = what_of(std::current_exception());
    }
    if (!error.empty()) {
      ++round.failed;
      if (inventory_probe) ++round.inventory.failed;
    }
    if (error != attached.failing) {
      round.news.push_back(error.empty() ? LogLine{LogLevel::Info, std::nullopt, "probe " + attached.probe.name + " works again"}
                                         : LogLine{LogLevel::Warn, std::nullopt,
                                                   "probe " + attached.probe.name + " failed: " + error +
                                                       " (its earlier reports stand; said again only when it changes)"});
      attached.failing = std::move(error);
    }
  }
  return round;
}

}  // namespace meshos
