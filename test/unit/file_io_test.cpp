// write_file_atomically: the target holds the old bytes or the new ones, never a mix, and no temporary file
// stays behind, whatever step fails. read_file_bounded: whole files, bounded.
#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <string>

#include "meshos/file_io.hpp"

using meshos::read_file_bounded;
using meshos::write_file_atomically;
using meshos::test::TempDir;

namespace {

std::size_t entries_in(const std::string& dir) {
  std::size_t n = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    (void)entry;
    ++n;
  }
  return n;
}

// The file size limit of this process lowered to `bytes` while it lives (a disk that fills up mid-write);
// SIGXFSZ ignored so the write fails with EFBIG instead of killing the test.
class FileSizeLimit {
 public:
  explicit FileSizeLimit(rlim_t bytes) {
    REQUIRE(getrlimit(RLIMIT_FSIZE, &saved_) == 0);
    previous_handler_ = signal(SIGXFSZ, SIG_IGN);
    rlimit lowered = saved_;
    lowered.rlim_cur = bytes;
    REQUIRE(setrlimit(RLIMIT_FSIZE, &lowered) == 0);
  }
  ~FileSizeLimit() {
    setrlimit(RLIMIT_FSIZE, &saved_);
    signal(SIGXFSZ, previous_handler_);
  }

 private:
  rlimit saved_{};
  void (*previous_handler_)(int) = nullptr;
};

}  // namespace

TEST_CASE("write_file_atomically creates and replaces the file and leaves nothing else") {
  TempDir dir("meshos-file-io");
  const std::string path = dir.file("state.json");
  REQUIRE(write_file_atomically(path, "first"));
  CHECK(read_file_bounded(path, 1024).value() == "first");
  REQUIRE(write_file_atomically(path, std::string(100'000, 'x')));
  CHECK(read_file_bounded(path, 1'000'000).value() == std::string(100'000, 'x'));
  REQUIRE(write_file_atomically(path, ""));
  CHECK(read_file_bounded(path, 1024).value().empty());
  CHECK(entries_in(dir.path()) == 1);
}

TEST_CASE("a write that fails half way (disk full) leaves the old file whole and no temporary file") {
  TempDir dir("meshos-file-io");
  const std::string path = dir.file("state.json");
  const std::string old_text(1000, 'o');
  REQUIRE(write_file_atomically(path, old_text));
  {
    FileSizeLimit limit(4096);
    auto failed = write_file_atomically(path, std::string(10'000, 'n'));
    REQUIRE_FALSE(failed);
    CHECK(failed.error().code() == meshos::Errc::write_failed);
    CHECK(failed.error().message.find(path) != std::string::npos);
  }
  CHECK(read_file_bounded(path, 100'000).value() == old_text);
  CHECK(entries_in(dir.path()) == 1);
}

TEST_CASE("a rename that fails leaves the target as it was and no temporary file") {
  TempDir dir("meshos-file-io");
  // The target is a directory that is not empty: rename(2) refuses to replace it.
  const std::string target = dir.file("occupied");
  std::filesystem::create_directory(target);
  dir.write("occupied/keep", "kept");
  auto failed = write_file_atomically(target, "new");
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code() == meshos::Errc::write_failed);
  CHECK(failed.error().message.find("rename") != std::string::npos);
  CHECK(read_file_bounded(dir.file("occupied/keep"), 100).value() == "kept");
  CHECK(entries_in(dir.path()) == 1);

  auto no_dir = write_file_atomically(dir.file("missing/state.json"), "x");
  REQUIRE_FALSE(no_dir);
  CHECK(no_dir.error().code() == meshos::Errc::write_failed);
}

TEST_CASE("read_file_bounded: missing file, directory, too large") {
  TempDir dir("meshos-file-io");
  auto missing = read_file_bounded(dir.file("nothing"), 10);
  REQUIRE_FALSE(missing);
  CHECK(missing.error().code() == meshos::Errc::file_not_found);
  auto directory = read_file_bounded(dir.path(), 10);
  REQUIRE_FALSE(directory);
  CHECK(directory.error().code() == meshos::Errc::read_failed);
  const std::string big = dir.write("big", std::string(11, 'b'));
  auto too_large = read_file_bounded(big, 10);
  REQUIRE_FALSE(too_large);
  CHECK(too_large.error().code() == meshos::Errc::read_failed);
  CHECK(too_large.error().message.find("larger than 10 bytes") != std::string::npos);
  CHECK(read_file_bounded(big, 11).value() == std::string(11, 'b'));
}
