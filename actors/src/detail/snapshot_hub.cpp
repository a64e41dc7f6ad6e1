#include "detail/snapshot_hub.hpp"

#include "detail/messages.hpp"

namespace meshos::detail {

SnapshotPtr SnapshotHub::latest() const {
  std::lock_guard<std::mutex> lock(latest_mu_);
  return latest_;
}

void SnapshotHub::publish(const SnapshotPtr& s) {
  {
    std::lock_guard<std::mutex> lock(latest_mu_);
    latest_ = s;
  }
  first_.notify_all();
  published_.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  for (auto& kv : subscribers_) {
    if (kv.second.credits->try_acquire())
      caf::anon_send(kv.second.actor, snapshot_atom::value, SnapshotMsg{s});
    else
      subscriber_drops_.fetch_add(1, std::memory_order_relaxed);
  }
}

bool SnapshotHub::wait_first(std::chrono::milliseconds timeout) const {
  std::unique_lock<std::mutex> lock(latest_mu_);
  return first_.wait_for(lock, timeout, [&] { return latest_ != nullptr; });
}

std::uint64_t SnapshotHub::add_subscriber(caf::actor actor, std::shared_ptr<Credits> credits) {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  auto id = next_subscriber_++;
  subscribers_.emplace(id, Subscriber{std::move(actor), std::move(credits)});
  return id;
}

caf::actor SnapshotHub::remove_subscriber(std::uint64_t id) {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  auto i = subscribers_.find(id);
  if (i == subscribers_.end()) return nullptr;
  auto actor = std::move(i->second.actor);
  subscribers_.erase(i);
  return actor;
}

std::vector<caf::actor> SnapshotHub::remove_all_subscribers() {
  std::lock_guard<std::mutex> lock(subscribers_mu_);
  std::vector<caf::actor> out;
  out.reserve(subscribers_.size());
  for (auto& kv : subscribers_) out.push_back(std::move(kv.second.actor));
  subscribers_.clear();
  return out;
}

}  // namespace meshos::detail
