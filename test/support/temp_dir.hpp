#pragma once
// A scratch directory for one test, removed with everything in it when the test ends.
#include <sys/stat.h>
#include <sys/types.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

#include <doctest/doctest.h>

namespace meshos::test {

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "meshos-test") {
    const char* base = std::getenv("TMPDIR");
    path_ = std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/" + prefix + "-XXXXXX";
    REQUIRE(::mkdtemp(&path_[0]) != nullptr);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes `contents` to a file of this directory with the given mode and returns its path.
  std::string write(const std::string& name, const std::string& contents, mode_t mode = 0600) const {
    const std::string target = file(name);
    {
      std::ofstream out(target, std::ios::binary | std::ios::trunc);
      out << contents;
      REQUIRE(out.good());
    }
    REQUIRE(::chmod(target.c_str(), mode) == 0);
    return target;
  }

 private:
  std::string path_;
};

}  // namespace meshos::test
