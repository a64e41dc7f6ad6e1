#include "meshos/journal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "meshos/file_io.hpp"
#include "posix_fd.hpp"

namespace meshos {
namespace {

SdkError write_failed(const std::string& path, const std::string& step, int err) {
  return SdkError{Errc::write_failed, "cannot " + step + " '" + path + "': " + std::strerror(err)};
}

// Lines of `text` from the last one backwards, into `out` (newest first), until it holds `max_lines`.
void take_lines_backwards(const std::string& text, std::size_t max_lines, std::vector<std::string>& out,
                          std::size_t& skipped) {
  std::size_t end = text.size();  // one past the last character not looked at yet
  while (end > 0 && out.size() < max_lines) {
    if (text[end - 1] == '\n') {
      --end;
      continue;
    }
    const std::size_t newline = text.rfind('\n', end - 1);
    const std::size_t first = newline == std::string::npos ? 0 : newline + 1;
    if (end - first > kMaxJournalLineBytes) {
      ++skipped;
    } else {
      out.push_back(text.substr(first, end - first));
    }
    end = first;
  }
}

}  // namespace

Result<void> check_journal_limits(const JournalLimits& limits) {
  if (limits.file_bytes < kMinJournalFileBytes)
    return SdkError{Errc::invalid_config, "a journal file must hold at least " + std::to_string(kMinJournalFileBytes) +
                                          " bytes (got " + std::to_string(limits.file_bytes) + ")"};
  if (limits.files < 1 || limits.files > kMaxJournalFiles)
    return SdkError{Errc::invalid_config, "a journal keeps 1 to " + std::to_string(kMaxJournalFiles) + " files (got " +
                                          std::to_string(limits.files) + ")"};
  return {};
}

std::string journal_file(const std::string& dir, const std::string& name, std::size_t index) {
  return dir + "/" + name + (index == 0 ? std::string() : "." + std::to_string(index)) + ".jsonl";
}

JournalWriter::JournalWriter(std::string dir, std::string name, JournalLimits limits)
    : dir_(std::move(dir)), name_(std::move(name)), limits_(limits) {}

JournalWriter::JournalWriter(JournalWriter&& other) noexcept
    : dir_(std::move(other.dir_)),
      name_(std::move(other.name_)),
      limits_(other.limits_),
      fd_(std::exchange(other.fd_, -1)),
      size_(other.size_),
      rotations_(other.rotations_) {}

JournalWriter& JournalWriter::operator=(JournalWriter&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    dir_ = std::move(other.dir_);
    name_ = std::move(other.name_);
    limits_ = other.limits_;
    fd_ = std::exchange(other.fd_, -1);
    size_ = other.size_;
    rotations_ = other.rotations_;
  }
  return *this;
}

JournalWriter::~JournalWriter() {
  if (fd_ >= 0) ::close(fd_);
}

Result<void> JournalWriter::open_live_file() {
  const std::string path = journal_file(dir_, name_, 0);
  detail::Fd file(::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644));
  if (file.get() < 0) return write_failed(path, "open", errno);
  struct stat info {};
  if (::fstat(file.get(), &info) != 0) return write_failed(path, "stat", errno);
  size_ = static_cast<std::uint64_t>(info.st_size);
  fd_ = file.release();
  return {};
}

Result<void> JournalWriter::rotate() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  // The oldest goes; every other moves up one; the live file becomes .1.
  const std::string oldest = journal_file(dir_, name_, limits_.files - 1);
  if (::unlink(oldest.c_str()) != 0 && errno != ENOENT) return write_failed(oldest, "remove", errno);
  for (std::size_t i = limits_.files - 1; i > 0; --i) {
    const std::string from = journal_file(dir_, name_, i - 1);
    const std::string to = journal_file(dir_, name_, i);
    if (::rename(from.c_str(), to.c_str()) != 0 && errno != ENOENT) return write_failed(from, "rotate", errno);
  }
  ++rotations_;
  return open_live_file();
}

Result<void> JournalWriter::append(const std::vector<std::string>& lines) {
  if (lines.empty()) return {};
  if (fd_ < 0) {
    if (auto opened = open_live_file(); !opened) return opened;
  }
  for (const auto& line : lines) {
    if (size_ > 0 && size_ + line.size() + 1 > limits_.file_bytes) {
      if (limits_.files == 1) {
        // Nothing to rotate into: the file starts over.
        if (::ftruncate(fd_, 0) != 0) return write_failed(journal_file(dir_, name_, 0), "truncate", errno);
        size_ = 0;
        ++rotations_;
      } else if (auto rotated = rotate(); !rotated) {
        return rotated;
      }
    }
    std::string text = line;
    text.push_back('\n');
    if (!detail::write_all(fd_, text.data(), text.size())) {
      const int err = errno;
      ::close(fd_);
      fd_ = -1;  // opened afresh next time: the size is then what the file really holds
      return write_failed(journal_file(dir_, name_, 0), "append to", err);
    }
    size_ += text.size();
  }
  return {};
}

JournalTail read_journal_tail(const std::string& dir, const std::string& name, const JournalLimits& limits,
                              std::size_t max_lines) {
  JournalTail tail;
  // A file may exceed file_bytes by one line; twice that (and a floor for small limits) is clearly not ours.
  const std::size_t max_file = static_cast<std::size_t>(std::max<std::uint64_t>(2 * limits.file_bytes, 4 << 20));
  for (std::size_t i = 0; i < std::max<std::size_t>(limits.files, 1) && tail.lines.size() < max_lines; ++i) {
    auto text = read_file_bounded(journal_file(dir, name, i), max_file);
    if (!text) {
      if (text.error().code() != Errc::file_not_found) ++tail.skipped_files;
      continue;
    }
    take_lines_backwards(*text, max_lines, tail.lines, tail.skipped_lines);
  }
  std::reverse(tail.lines.begin(), tail.lines.end());
  return tail;
}

}  // namespace meshos
