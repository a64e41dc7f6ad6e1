#include "detail/daemon_registry.hpp"

#include <algorithm>

namespace meshos::detail {

// ---- DaemonSlot ----

namespace {

// Makes room for one more in a full inbox: the oldest event that is not a Shutdown goes (a pull-model daemon
// must never miss its Shutdown). False when the inbox holds nothing but Shutdowns.
bool evict_for_one(std::deque<DaemonControl>& inbox) {
  auto victim = std::find_if(inbox.begin(), inbox.end(), [](const DaemonControl& c) { return !std::holds_alternative<Shutdown>(c); });
  if (victim == inbox.end()) return false;
  inbox.erase(victim);
  return true;
}

}  // namespace

void DaemonSlot::consumed(const DaemonControl& c) {
  {
    std::lock_guard<std::mutex> lock(mu);
    if (closed) return;
    const bool shutdown = std::holds_alternative<Shutdown>(c);
    if (shutdown) ++shutdowns_consumed;
    if (inbox.size() >= inbox_capacity) {
      ++inbox_dropped;
      if (!evict_for_one(inbox) && !shutdown) return;  // only Shutdowns in there: the newcomer goes instead
    }
    inbox.push_back(c);
  }
  cv.notify_all();
}

void DaemonSlot::close() {
  {
    std::lock_guard<std::mutex> lock(mu);
    closed = true;
    // The daemon leaves without having heard Shutdown (its node shut down, its grace ran out, its handle went):
    // a thread waiting in next_control still ends on one, never on silence.
    if (shutdowns_consumed == 0) inbox.push_back(Shutdown{0});
  }
  cv.notify_all();
  data_credits.wake_all();  // a deliver waiting for room gives up now, not at its deadline
}

std::uint64_t DaemonSlot::dropped() const { return control_credits.dropped(); }

bool DaemonSlot::awaits_acknowledgement() {
  std::lock_guard<std::mutex> lock(mu);
  return awaits_acknowledgement_locked();
}

void DaemonSlot::acknowledge_shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu);
    shutdowns_acknowledged = shutdowns_consumed;
  }
  cv.notify_all();
}

// ---- DaemonRegistry ----

Result<void> DaemonRegistry::add(const SlotPtr& slot) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!slots_.emplace(slot->daemon.id, slot).second)
    return SdkError{Errc::register_failed, "daemon " + to_hex(slot->daemon.id) + " ('" + slot->daemon.name +
                                           "') is already registered"};
  every_.reset();
  return {};
}

bool DaemonRegistry::remove(const SlotPtr& slot) {
  std::lock_guard<std::mutex> lock(mu_);
  auto i = slots_.find(slot->daemon.id);
  if (i == slots_.end() || i->second != slot) return false;
  slots_.erase(i);
  every_.reset();
  return true;
}

std::vector<DaemonRegistry::SlotPtr> DaemonRegistry::take_all() {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<SlotPtr> out;
  out.reserve(slots_.size());
  for (auto& kv : slots_) out.push_back(std::move(kv.second));
  slots_.clear();
  every_.reset();
  return out;
}

DaemonRegistry::SlotPtr DaemonRegistry::find(DaemonId id) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto i = slots_.find(id);
  return i == slots_.end() || !i->second->live.load(std::memory_order_acquire) ? nullptr : i->second;
}

std::vector<DaemonRegistry::SlotPtr> DaemonRegistry::live() const {
  const auto slots = every();
  std::vector<SlotPtr> out;
  out.reserve(slots->size());
  for (const auto& slot : *slots)
    if (slot->live.load(std::memory_order_acquire)) out.push_back(slot);
  return out;
}

std::shared_ptr<const std::vector<DaemonRegistry::SlotPtr>> DaemonRegistry::every() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (!every_) {
    auto built = std::make_shared<std::vector<SlotPtr>>();
    built->reserve(slots_.size());
    for (const auto& kv : slots_) built->push_back(kv.second);
    every_ = std::move(built);
  }
  return every_;
}

std::size_t DaemonRegistry::size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return slots_.size();
}

Result<void> DaemonRegistry::add_factory(std::string name, DaemonFactory factory) {
  if (name.empty()) return SdkError{Errc::register_failed, "a daemon factory needs a name"};
  if (!factory) return SdkError{Errc::register_failed, "no factory given for daemons named '" + name + "'"};
  std::lock_guard<std::mutex> lock(mu_);
  if (!factories_.emplace(name, std::move(factory)).second)
    return SdkError{Errc::register_failed, "a factory for daemons named '" + name + "' is registered already"};
  return {};
}

Result<DaemonFactory> DaemonRegistry::factory(const std::string& name, NodeId node) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = factories_.find(name);
  if (it == factories_.end())
    return SdkError{Errc::no_factory, "node " + to_hex(node) + " has no factory for daemons named '" + name + "'"};
  return it->second;
}

DaemonRegistry::SlotPtr DaemonRegistry::reserve_control(DaemonId id) {
  auto slot = find(id);
  if (!slot) return nullptr;
  if (!slot->control_credits.try_acquire()) {
    control_dropped_.fetch_add(1, std::memory_order_relaxed);
    return nullptr;
  }
  return slot;
}

}  // namespace meshos::detail
