#include "meshos/file_io.hpp"

#include "posix_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace meshos {
namespace {

using detail::Fd;
using detail::write_all;

std::string errno_text(int err) { return std::strerror(err); }

SdkError write_failed(const std::string& path, const std::string& step, int err) {
  return SdkError{Errc::write_failed, "cannot " + step + " '" + path + "': " + errno_text(err)};
}

std::string directory_of(const std::string& path) {
  const auto parent = std::filesystem::path(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

// Unique per process and call: two writers of one path in one process never share a temporary file.
std::string temporary_name(const std::string& path) {
  static std::atomic<std::uint64_t> counter{0};
  return path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1));
}

}  // namespace

Result<void> write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::string tmp = temporary_name(path);
  Fd file(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
  if (file.get() < 0) return write_failed(tmp, "create the temporary file", errno);
  auto abandon = [&](const std::string& step) {
    const int err = errno;
    ::unlink(tmp.c_str());
    return write_failed(path, step, err);
  };
  if (!write_all(file.get(), bytes.data(), bytes.size())) return abandon("write the temporary file for");
  if (::fsync(file.get()) != 0) return abandon("fsync the temporary file for");
  if (file.close() != 0) return abandon("close the temporary file for");
  if (::rename(tmp.c_str(), path.c_str()) != 0) return abandon("rename the temporary file over");
  // The rename itself lives in the directory: without this a crash may bring the old file back.
  const std::string dir = directory_of(path);
  Fd directory(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (directory.get() < 0 || ::fsync(directory.get()) != 0) return write_failed(dir, "fsync the directory", errno);
  return {};
}

Result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes) {
  Fd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (file.get() < 0) {
    const int err = errno;
    return SdkError{err == ENOENT ? Errc::file_not_found : Errc::read_failed,
                    "cannot open '" + path + "': " + errno_text(err)};
  }
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) return SdkError{Errc::read_failed, "cannot stat '" + path + "': " + errno_text(errno)};
  if (!S_ISREG(info.st_mode)) return SdkError{Errc::read_failed, "'" + path + "' is not a regular file"};
  std::string text;
  char buf[65536];
  for (;;) {
    const ssize_t n = ::read(file.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SdkError{Errc::read_failed, "cannot read '" + path + "': " + errno_text(errno)};
    }
    if (n == 0) break;
    if (text.size() + static_cast<std::size_t>(n) > max_bytes)
      return SdkError{Errc::read_failed, "'" + path + "' is larger than " + std::to_string(max_bytes) + " bytes"};
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

}  // namespace meshos
