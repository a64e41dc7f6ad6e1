#pragma once
// What meshosd tells systemd (the sd_notify protocol, through libsystemd): READY=1 once it listens, STATUS=
// lines as its state changes, STOPPING=1 when it starts draining, and, when the unit sets WatchdogSec (the
// manager passes WATCHDOG_USEC), WATCHDOG=1 pings for as long as the node's loop keeps publishing snapshots:
// a node whose loop hangs stops pinging and systemd restarts it. Without NOTIFY_SOCKET every call does nothing.
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace meshos::apps {

class ServiceManager {
 public:
  ServiceManager();
  ~ServiceManager();
  ServiceManager(const ServiceManager&) = delete;
  ServiceManager& operator=(const ServiceManager&) = delete;

  void ready(const std::string& status);
  void status(const std::string& status);
  void stopping(const std::string& status);
  // The node's loop is alive (it published a snapshot); the watchdog pings only while this keeps coming.
  void alive();
  // The watchdog period the manager asked for (zero: none).
  std::chrono::microseconds watchdog_period() const { return watchdog_; }

 private:
  void notify(const std::string& message);
  void watch();

  std::chrono::microseconds watchdog_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  std::chrono::steady_clock::time_point last_alive_{};
  bool ready_ = false;
  bool stopping_ = false;
  std::thread pinger_;
};

}  // namespace meshos::apps
