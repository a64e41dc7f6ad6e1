#pragma once
// Child processes for the meshosd / meshos-run integration tests: spawned with their output on pipes,
// read line by line against a deadline, and always killed (SIGKILL, then reaped) when the handle goes,
// so a failing test leaves nothing running.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

namespace meshos::test {

using Deadline = std::chrono::steady_clock::time_point;
inline Deadline deadline_in(std::chrono::milliseconds d) { return std::chrono::steady_clock::now() + d; }

inline std::string meshosd_path() { return std::string(MESHOS_BINARY_DIR) + "/apps/meshosd/meshosd"; }
inline std::string meshos_run_path() { return std::string(MESHOS_BINARY_DIR) + "/apps/run/meshos-run"; }
inline std::string sample_plugin_path() {
  return std::string(MESHOS_BINARY_DIR) + "/apps/plugins/libmeshos_sample_plugin.so";
}
inline std::string cert_script_path() { return std::string(MESHOS_SOURCE_DIR) + "/scripts/make-test-certs.sh"; }

// A fresh directory under the build tree, removed by nobody: its contents help to debug a failure.
inline std::string scratch_dir(const std::string& name) {
  std::string dir = std::string(MESHOS_BINARY_DIR) + "/test/integration-scratch";
  mkdir(dir.c_str(), 0755);
  dir += "/" + name;
  const std::string wipe = "rm -rf '" + dir + "'";
  if (std::system(wipe.c_str()) != 0) return dir;
  mkdir(dir.c_str(), 0700);
  return dir;
}

inline void write_file(const std::string& path, const std::string& text, mode_t mode = 0600) {
  std::ofstream(path, std::ios::trunc) << text;
  chmod(path.c_str(), mode);
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Exit {
  bool exited = false;  // false: still running at the deadline (then killed)
  int code = -1;        // exit code, or 128 + signal
};

class ChildProcess {
 public:
  explicit ChildProcess(const std::vector<std::string>& argv) {
    int out[2];
    int err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) return;
    // Everything the child needs is made before fork: in a multithreaded parent only async-signal-safe calls
    // are allowed between fork and exec. A malloc there deadlocks when another thread held the allocator's
    // lock at the fork (seen under ASan: the child never ran, its pipes stayed open, the test saw a hang).
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    sigset_t none;
    sigemptyset(&none);
    pid_ = fork();
    if (pid_ == 0) {
      sigprocmask(SIG_SETMASK, &none, nullptr);
      dup2(out[1], STDOUT_FILENO);
      dup2(err[1], STDERR_FILENO);
      execv(args[0], args.data());
      _exit(127);
    }
    close(out[1]);
    close(err[1]);
    out_ = out[0];
    err_ = err[0];
  }
  ~ChildProcess() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (out_ >= 0) close(out_);
    if (err_ >= 0) close(err_);
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const {
    if (pid_ > 0 && !reaped_) kill(pid_, sig);
  }

  // The next stdout line, or nullopt at EOF or at the deadline. Stderr is collected meanwhile.
  std::optional<std::string> next_line(Deadline deadline) {
    for (;;) {
      const auto eol = out_buf_.find('\n');
      if (eol != std::string::npos) {
        std::string line = out_buf_.substr(0, eol);
        out_buf_.erase(0, eol + 1);
        transcript_ += line + "\n";
        return line;
      }
      if (out_ < 0 || !pump(deadline)) return std::nullopt;
    }
  }
  // Reads stdout lines until one contains `needle`; that line, or nullopt.
  std::optional<std::string> wait_for_line(const std::string& needle, Deadline deadline) {
    while (auto line = next_line(deadline)) {
      if (line->find(needle) != std::string::npos) return line;
    }
    return std::nullopt;
  }

  // Reads both pipes to EOF and reaps the process; SIGKILL at the deadline.
  Exit wait_exit(Deadline deadline) {
    while ((out_ >= 0 || err_ >= 0) && pump(deadline)) {
    }
    Exit e;
    if (out_ >= 0 || err_ >= 0) {  // deadline passed with the process still holding its pipes
      kill(pid_, SIGKILL);
    } else {
      e.exited = true;
    }
    int status = 0;
    waitpid(pid_, &status, 0);
    reaped_ = true;
    if (!e.exited) return e;
    e.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return e;
  }

  const std::string& err() const { return err_buf_; }
  std::string out() const { return transcript_ + out_buf_; }

 private:
  // One poll round over the open pipes; false at the deadline.
  bool pump(Deadline deadline) {
    std::vector<pollfd> fds;
    if (out_ >= 0) fds.push_back({out_, POLLIN, 0});
    if (err_ >= 0) fds.push_back({err_, POLLIN, 0});
    if (fds.empty()) return false;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    if (poll(fds.data(), fds.size(), static_cast<int>(left.count())) <= 0) return false;
    for (const auto& p : fds) {
      if (p.revents == 0) continue;
      char buf[4096];
      const ssize_t n = read(p.fd, buf, sizeof buf);
      int& fd = p.fd == out_ ? out_ : err_;
      std::string& into = p.fd == out_ ? out_buf_ : err_buf_;
      if (n <= 0) {
        close(fd);
        fd = -1;
      } else {
        into.append(buf, static_cast<std::size_t>(n));
      }
    }
    return true;
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int out_ = -1;
  int err_ = -1;
  std::string out_buf_;
  std::string err_buf_;
  std::string transcript_;
};

// Runs scripts/make-test-certs.sh into `dir` (once per test process and directory).
inline bool make_test_certs(const std::string& dir) {
  const std::string cmd = "'" + cert_script_path() + "' '" + dir + "' > /dev/null";
  return std::system(cmd.c_str()) == 0;
}

// A stand-in for ssh in `root`/bin (put it first on PATH): `ssh [options] HOST COMMAND` runs COMMAND on this
// machine (exec: the pid meshos-run announces is the command's), recording HOST in `root`/ssh-host-HOST and
// COMMAND in `root`/remote-command.
inline void write_ssh_stand_in(const std::string& root) {
  ::mkdir((root + "/bin").c_str(), 0700);
  write_file(root + "/bin/ssh",
             "#!/bin/sh\n"
             "while [ $# -gt 0 ]; do\n"
             "  case \"$1\" in -o) shift 2 ;; -*) shift ;; *) break ;; esac\n"
             "done\n"
             "echo \"ssh stand-in: host $1\" > \"$(dirname \"$0\")/../ssh-host-$1\"\n"
             "shift\n"
             "echo \"$*\" > \"$(dirname \"$0\")/../remote-command\"\n"
             "exec /bin/sh -c \"$*\"\n",
             0700);
}

// How a node that drains cleanly ends: SIGTERM (or `signal`), its last line, exit code 0.
// meshosd's "listening on" line, once it is up (its stderr shown when it never comes).
inline std::string wait_listening(ChildProcess& node) {
  auto line = node.wait_for_line("listening on", deadline_in(std::chrono::seconds(20)));
  INFO("meshosd stderr: " << node.err());
  REQUIRE(line);
  return *line;
}

inline void check_drains(ChildProcess& node, int signal = SIGTERM) {
  node.signal(signal);
  CHECK(node.wait_for_line("drained and stopped", deadline_in(std::chrono::seconds(30))));
  const Exit e = node.wait_exit(deadline_in(std::chrono::seconds(30)));
  CHECK(e.exited);
  CHECK(e.code == 0);
}

}  // namespace meshos::test
