// meshos-run: starts the nodes of a cluster description (local ones as child processes, remote ones
// through ssh), restarts a node that dies with backoff, relays what they print, and on SIGTERM / SIGINT
// stops them all: SIGTERM in file order, a bounded wait, SIGKILL for stragglers.
// One thread, one poll(): child output pipes and a signalfd (SIGCHLD, SIGTERM, SIGINT, SIGHUP: SIGHUP stops the
// cluster too); the only timeouts are the restart backoffs and the stop deadline. Remote nodes run with
// --on-hangup=drain, so the hang-up of their ssh session stops them (meshosd's SIGHUP otherwise reloads TLS).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "cluster.hpp"
#include "strict_config.hpp"

namespace {

using namespace meshos::apps;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr int kExitClean = 0;
constexpr int kExitFailure = 1;
constexpr int kExitBadConfig = 2;
constexpr int kMeshosdBadConfig = 2;

void say(const std::string& line) { std::cout << "meshos-run: " << line << std::endl; }

enum class NodeState { Waiting, Running, Up, Backoff, Stopping, Stopped };

struct NodeProcess {
  ClusterNode spec;
  NodeState state = NodeState::Waiting;
  pid_t pid = -1;
  int out_fd = -1;
  std::string partial;
  std::optional<std::uint16_t> port;  // known once the node printed its start line
  std::string node_id;
  milliseconds backoff{0};
  Clock::time_point restart_at{};
  Clock::time_point started_at{};
  int exit_code = -1;  // of the last exit; -1 while none
  std::string address() const { return spec.host + ":" + std::to_string(port.value_or(spec.port)); }
};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("signal ") + strsignal(WTERMSIG(status));
  return "status " + std::to_string(status);
}

std::string directory_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

bool is_executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

std::string find_meshosd(const std::string& configured) {
  if (!configured.empty()) return configured;
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    const std::string dir = directory_of(std::string(self, static_cast<std::size_t>(n)));
    for (const std::string& candidate : {dir + "/meshosd", dir + "/../meshosd/meshosd"}) {
      if (is_executable(candidate)) return candidate;
    }
  }
  return "meshosd";  // from PATH
}

class Launcher {
 public:
  Launcher(ClusterDescription cluster, std::string meshosd, int signal_fd)
      : cluster_(std::move(cluster)), meshosd_(std::move(meshosd)), signal_fd_(signal_fd) {
    for (const auto& spec : cluster_.nodes) {
      NodeProcess p;
      p.spec = spec;
      p.backoff = cluster_.restart_initial;
      nodes_.push_back(std::move(p));
    }
  }

  int run() {
    say("cluster of " + std::to_string(nodes_.size()) + " nodes, meshosd " + meshosd_);
    start_ready_nodes();
    while (!finished()) {
      std::vector<pollfd> fds{{signal_fd_, POLLIN, 0}};
      std::vector<NodeProcess*> owners{nullptr};
      for (auto& n : nodes_) {
        if (n.out_fd >= 0) {
          fds.push_back({n.out_fd, POLLIN, 0});
          owners.push_back(&n);
        }
      }
      const int ready = poll(fds.data(), fds.size(), poll_timeout_ms());
      if (ready < 0 && errno != EINTR) {
        say(std::string("poll failed: ") + std::strerror(errno));
        kill_all();
        return kExitFailure;
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0) read_output(*owners[i]);
      }
      if (fds[0].revents & POLLIN) handle_signals();
      on_time();
    }
    return exit_code_;
  }

 private:
  bool finished() const {
    if (!stopping_) return false;
    return std::all_of(nodes_.begin(), nodes_.end(),
                       [](const NodeProcess& n) { return n.pid < 0 && n.out_fd < 0; });
  }

  int poll_timeout_ms() const {
    std::optional<Clock::time_point> next;
    auto consider = [&](Clock::time_point t) { next = next ? std::min(*next, t) : t; };
    if (stopping_ && !killed_) consider(stop_deadline_);
    for (const auto& n : nodes_) {
      if (n.state == NodeState::Backoff) consider(n.restart_at);
    }
    if (!next) return -1;
    const auto left = std::chrono::duration_cast<milliseconds>(*next - Clock::now()).count();
    return static_cast<int>(std::clamp<long long>(left + 1, 0, 24LL * 3600 * 1000));
  }

  bool joins_known(const NodeProcess& n) const {
    return std::all_of(n.spec.join.begin(), n.spec.join.end(), [&](const std::string& name) {
      return find(name).port.has_value();
    });
  }

  const NodeProcess& find(const std::string& name) const {
    return *std::find_if(nodes_.begin(), nodes_.end(), [&](const NodeProcess& n) { return n.spec.name == name; });
  }

  void start_ready_nodes() {
    if (stopping_) return;
    for (auto& n : nodes_) {
      if (n.state == NodeState::Waiting && joins_known(n)) start(n);
    }
  }

  std::vector<std::string> meshosd_arguments(const NodeProcess& n) const {
    // Text lines: meshos-run reads each node's start line (its port) and relays every line with the node's name.
    std::vector<std::string> args{"--config", n.spec.config, "--log-format=text"};
    // The cluster file owns the port; a node keeps a learned one across restarts so its peers find it again.
    args.push_back("--node.listen-port=" + std::to_string(n.port.value_or(n.spec.port)));
    args.push_back("--node.name=" + n.spec.name);  // its peers, meshos-ctl and the logs call it so
    if (!n.spec.join.empty()) {
      std::string peers = "[";
      for (const auto& name : n.spec.join) peers += (peers.size() > 1 ? ", \"" : "\"") + find(name).address() + "\"";
      args.push_back("--node.peers=" + peers + "]");
    }
    return args;
  }

  void start(NodeProcess& n) {
    std::vector<std::string> argv;
    if (n.spec.is_local()) {
      argv.push_back(meshosd_);
      for (auto& a : meshosd_arguments(n)) argv.push_back(a);
    } else {
      // -tt: when this ssh ends, the remote session hangs up; --on-hangup=drain makes meshosd drain and stop
      // on that SIGHUP (by default SIGHUP only reloads its TLS files, and the node would live on unsupervised).
      std::string remote = "exec " + shell_quote(cluster_.remote_meshosd) + " --on-hangup=drain";
      for (auto& a : meshosd_arguments(n)) remote += " " + shell_quote(a);
      argv = {"ssh", "-tt", "-o", "BatchMode=yes", n.spec.host, remote};
    }
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
      say(n.spec.name + ": cannot create a pipe: " + std::strerror(errno));
      schedule_restart(n);
      return;
    }
    // Made before fork: between fork and exec the child may only make async-signal-safe calls (a malloc
    // there deadlocks if another thread held the allocator's lock at the fork).
    std::vector<char*> cargv;
    for (auto& a : argv) cargv.push_back(a.data());
    cargv.push_back(nullptr);
    const std::string exec_failed = "meshos-run: cannot run " + argv[0] + " (errno ";
    sigset_t none;
    sigemptyset(&none);
    const pid_t launcher = getpid();
    const pid_t pid = fork();
    if (pid < 0) {
      say(n.spec.name + ": fork failed: " + std::strerror(errno));
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      schedule_restart(n);
      return;
    }
    if (pid == 0) {
      // Own process group: a terminal's Ctrl-C reaches meshos-run only, which stops the nodes in order.
      setpgid(0, 0);
      // If meshos-run itself dies (SIGKILL), its nodes must not live on unsupervised: they get SIGTERM and drain.
      prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (getppid() != launcher) _exit(1);  // the launcher died before prctl took effect
      sigprocmask(SIG_SETMASK, &none, nullptr);
      dup2(pipe_fds[1], STDOUT_FILENO);
      dup2(pipe_fds[1], STDERR_FILENO);
      execvp(cargv[0], cargv.data());
      char digits[16];
      int len = 0;
      for (int e = errno; len == 0 || e != 0; e /= 10) digits[len++] = static_cast<char>('0' + e % 10);
      (void)!write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
      while (len > 0) (void)!write(STDERR_FILENO, &digits[--len], 1);
      (void)!write(STDERR_FILENO, ")\n", 2);
      _exit(127);
    }
    close(pipe_fds[1]);
    n.pid = pid;
    n.out_fd = pipe_fds[0];
    n.partial.clear();
    n.state = NodeState::Running;
    n.started_at = Clock::now();
    say(n.spec.name + ": starting (pid " + std::to_string(pid) + (n.spec.is_local() ? "" : ", via ssh " + n.spec.host) + ")");
  }

  void read_output(NodeProcess& n) {
    char buf[4096];
    const ssize_t got = read(n.out_fd, buf, sizeof buf);
    if (got < 0 && errno == EINTR) return;
    if (got <= 0) {
      if (!n.partial.empty()) on_line(n, n.partial);
      n.partial.clear();
      close(n.out_fd);
      n.out_fd = -1;
      return;
    }
    n.partial.append(buf, static_cast<std::size_t>(got));
    std::size_t eol;
    while ((eol = n.partial.find('\n')) != std::string::npos) {
      const std::string line = n.partial.substr(0, eol);
      n.partial.erase(0, eol + 1);
      on_line(n, line);
    }
  }

  void on_line(NodeProcess& n, const std::string& line) {
    std::cout << "[" << n.spec.name << "] " << line << std::endl;
    // meshosd's start line: "<time> info meshosd: node <id> listening on <host>:<port>...".
    const std::string node_marker = "meshosd: node ";
    const std::string listen_marker = " listening on ";
    const auto node_at = line.find(node_marker);
    const auto listen = line.find(listen_marker);
    if (node_at == std::string::npos || listen == std::string::npos || listen < node_at) return;
    n.node_id = line.substr(node_at + node_marker.size(), listen - node_at - node_marker.size());
    const std::string rest = line.substr(listen + listen_marker.size());
    const auto colon = rest.rfind(':', rest.find_first_of(" ,"));
    if (colon == std::string::npos) return;
    try {
      n.port = static_cast<std::uint16_t>(std::stoul(rest.substr(colon + 1)));
    } catch (const std::exception&) {
      return;
    }
    if (n.state == NodeState::Running) n.state = NodeState::Up;
    say(n.spec.name + ": up (node " + n.node_id + " at " + n.address() + ")");
    start_ready_nodes();
  }

  void handle_signals() {
    signalfd_siginfo info;
    while (read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      if (info.ssi_signo == SIGCHLD) {
        reap_children();
      } else if (!stopping_) {
        say(std::string("received ") + strsignal(static_cast<int>(info.ssi_signo)) + ": stopping the cluster");
        stop_all(kExitClean);
      } else if (!killed_) {
        say("second stop signal: killing the nodes now");
        kill_all();
      }
    }
  }

  void reap_children() {
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
      auto it = std::find_if(nodes_.begin(), nodes_.end(), [&](const NodeProcess& n) { return n.pid == pid; });
      if (it == nodes_.end()) continue;
      NodeProcess& n = *it;
      n.pid = -1;
      n.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
      if (stopping_) {
        n.state = NodeState::Stopped;
        say(n.spec.name + ": stopped (" + exit_text(status) + ")");
        if (n.exit_code != 0 && exit_code_ == kExitClean) exit_code_ = kExitFailure;
      } else if (n.spec.is_local() && n.exit_code == kMeshosdBadConfig) {
        n.state = NodeState::Stopped;
        say(n.spec.name + ": rejected its config (" + exit_text(status) + "); stopping the cluster");
        stop_all(kExitBadConfig);
      } else {
        say(n.spec.name + ": died (" + exit_text(status) + ")");
        schedule_restart(n);
      }
    }
  }

  void schedule_restart(NodeProcess& n) {
    // A node that ran for a while gets a fresh backoff; one that keeps dying waits longer each time.
    if (Clock::now() - n.started_at >= cluster_.restart_max) n.backoff = cluster_.restart_initial;
    n.state = NodeState::Backoff;
    n.restart_at = Clock::now() + n.backoff;
    say(n.spec.name + ": restarting in " + std::to_string(n.backoff.count()) + " ms");
    n.backoff = std::min(n.backoff * 2, cluster_.restart_max);
  }

  void on_time() {
    const auto now = Clock::now();
    if (stopping_ && !killed_ && now >= stop_deadline_) {
      say("stop timeout (" + std::to_string(cluster_.stop_timeout.count()) + " ms) passed: killing what is left");
      kill_all();
    }
    if (stopping_) return;
    for (auto& n : nodes_) {
      if (n.state == NodeState::Backoff && now >= n.restart_at) start(n);
    }
  }

  void stop_all(int code) {
    stopping_ = true;
    exit_code_ = code;
    stop_deadline_ = Clock::now() + cluster_.stop_timeout;
    for (auto& n : nodes_) {
      if (n.pid > 0) {
        say(n.spec.name + ": SIGTERM (pid " + std::to_string(n.pid) + ")");
        kill(n.pid, SIGTERM);
        n.state = NodeState::Stopping;
      } else {
        n.state = NodeState::Stopped;
      }
    }
  }

  void kill_all() {
    killed_ = true;
    stopping_ = true;
    exit_code_ = kExitFailure;
    for (auto& n : nodes_) {
      if (n.pid > 0) {
        say(n.spec.name + ": SIGKILL (pid " + std::to_string(n.pid) + ")");
        kill(n.pid, SIGKILL);
      }
    }
  }

  ClusterDescription cluster_;
  std::string meshosd_;
  int signal_fd_;
  std::vector<NodeProcess> nodes_;
  bool stopping_ = false;
  bool killed_ = false;
  Clock::time_point stop_deadline_{};
  int exit_code_ = kExitClean;
};

const char* kUsage = R"(usage: meshos-run CLUSTER-FILE [--meshosd=PATH] [--section.key=value ...] [--help]

Starts every node of the cluster description (local hosts as child processes, others through ssh),
restarts a node that dies (with backoff), relays what the nodes print, and on Ctrl-C / SIGTERM stops them
all: SIGTERM in file order, then SIGKILL for any node still running after stop-timeout.
Exit codes: 0 every node drained and exited 0; 1 otherwise; 2 bad cluster file or a node's bad config.
The cluster file format is described in conf/README.md.
)";

}  // namespace

int main(int argc, char** argv) {
  sigset_t handled;
  sigemptyset(&handled);
  for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGHUP}) sigaddset(&handled, s);
  sigprocmask(SIG_BLOCK, &handled, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::string cluster_path;
  std::string meshosd;
  std::vector<std::string> overrides;  // --section.key=value over the cluster file
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      std::cout << kUsage;
      return kExitClean;
    }
    if (arg.rfind("--meshosd=", 0) == 0) {
      meshosd = arg.substr(10);
    } else if (arg.rfind("--", 0) == 0 && arg.find('.') < arg.find('=') && arg.find('=') != std::string::npos) {
      overrides.push_back(arg);
    } else if (arg.rfind("--", 0) != 0 && cluster_path.empty()) {
      cluster_path = arg;
    } else {
      std::cerr << "meshos-run: unknown argument \"" << arg << "\" (see --help)" << std::endl;
      return kExitBadConfig;
    }
  }
  if (cluster_path.empty()) {
    std::cerr << "meshos-run: no cluster file given (see --help)" << std::endl;
    return kExitBadConfig;
  }
  auto cluster = load_cluster_file(cluster_path, overrides);
  if (!cluster) {
    print_lines(std::cerr, "meshos-run", cluster.error().message);
    return kExitBadConfig;
  }
  const int signal_fd = signalfd(-1, &handled, SFD_CLOEXEC | SFD_NONBLOCK);
  if (signal_fd < 0) {
    std::cerr << "meshos-run: signalfd failed: " << std::strerror(errno) << std::endl;
    return kExitFailure;
  }
  const std::string program = find_meshosd(meshosd.empty() ? cluster->meshosd : meshosd);
  Launcher launcher(std::move(*cluster), program, signal_fd);
  return launcher.run();
}
