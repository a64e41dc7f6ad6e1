#include "service_manager.hpp"

#include <systemd/sd-daemon.h>

namespace meshos::apps {

ServiceManager::ServiceManager() {
  std::uint64_t usec = 0;
  // > 0: WATCHDOG_USEC is set (and WATCHDOG_PID, if set, is this process).
  if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
    watchdog_ = std::chrono::microseconds(usec);
    pinger_ = std::thread([this] { watch(); });
  }
}

ServiceManager::~ServiceManager() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (pinger_.joinable()) pinger_.join();
}

void ServiceManager::notify(const std::string& message) {
  // 0: NOTIFY_SOCKET stays in the environment, every later notification needs it.
  (void)sd_notify(0, message.c_str());
}

void ServiceManager::ready(const std::string& status) {
  notify("READY=1\nSTATUS=" + status);
  std::lock_guard<std::mutex> lock(mu_);
  ready_ = true;
}

void ServiceManager::status(const std::string& status) { notify("STATUS=" + status); }

void ServiceManager::stopping(const std::string& status) { notify("STOPPING=1\nSTATUS=" + status); }

void ServiceManager::alive() {
  std::lock_guard<std::mutex> lock(mu_);
  last_alive_ = std::chrono::steady_clock::now();
}

// Pings at half the period (systemd's advice), once ready, each only when the loop was seen alive within the
// period.
void ServiceManager::watch() {
  const auto interval = watchdog_ / 2;
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval, [&] { return stopping_; })) {
    if (!ready_ || std::chrono::steady_clock::now() - last_alive_ > watchdog_) continue;
    lock.unlock();
    notify("WATCHDOG=1");
    lock.lock();
  }
}

}  // namespace meshos::apps
