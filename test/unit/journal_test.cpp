// JournalWriter / read_journal_tail: appends land as lines, rotation keeps the journal within files x
// file_bytes and drops only the oldest file, the tail reads back across files oldest first, and what a
// crash or a stranger leaves (a cut line, an enormous line, a huge file) is skipped, never fatal.
#include "../support/temp_dir.hpp"
#include <doctest/doctest.h>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "meshos/file_io.hpp"
#include "meshos/journal.hpp"

using namespace meshos;
using meshos::test::TempDir;

namespace {

// A line of exactly `bytes` characters (newline excluded) numbered `n`.
std::string numbered_line(int n, std::size_t bytes = 100) {
  std::string line = "{\"n\":" + std::to_string(n) + ",\"pad\":\"";
  line.append(bytes - line.size() - 2, 'x');
  return line + "\"}";
}

std::vector<int> numbers(const JournalTail& tail) {
  std::vector<int> out;
  for (const auto& line : tail.lines) out.push_back(std::stoi(line.substr(5, line.find(',') - 5)));
  return out;
}

std::vector<int> range(int from, int to) {
  std::vector<int> out;
  for (int i = from; i <= to; ++i) out.push_back(i);
  return out;
}

std::uintmax_t size_of(const std::string& path) { return std::filesystem::file_size(path); }

}  // namespace

TEST_CASE("appended lines read back oldest first, within max_lines, from the newest end") {
  TempDir dir("meshos-journal");
  const JournalLimits limits{kMinJournalFileBytes, 3};
  JournalWriter writer(dir.path(), "logs", limits);
  REQUIRE(writer.append({numbered_line(1), numbered_line(2)}));
  REQUIRE(writer.append({numbered_line(3)}));
  REQUIRE(writer.append({}));
  CHECK(numbers(read_journal_tail(dir.path(), "logs", limits, 100)) == range(1, 3));
  CHECK(numbers(read_journal_tail(dir.path(), "logs", limits, 2)) == range(2, 3));
  CHECK(read_file_bounded(journal_file(dir.path(), "logs", 0), 1 << 20).value() ==
        numbered_line(1) + "\n" + numbered_line(2) + "\n" + numbered_line(3) + "\n");
  CHECK(writer.rotations() == 0);
}

TEST_CASE("rotation: the live file moves to .1, older ones up, the oldest beyond `files` is deleted") {
  TempDir dir("meshos-journal");
  const JournalLimits limits{kMinJournalFileBytes, 3};
  JournalWriter writer(dir.path(), "logs", limits);
  // 100-byte lines + newline: 648 lines fill one 65536-byte file; 2,500 lines rotate three times.
  constexpr int kLines = 2500;
  for (int i = 1; i <= kLines; ++i) REQUIRE(writer.append({numbered_line(i)}));
  CHECK(writer.rotations() == 3);
  for (std::size_t i = 0; i < limits.files; ++i) {
    INFO("file " << i);
    REQUIRE(std::filesystem::exists(journal_file(dir.path(), "logs", i)));
    CHECK(size_of(journal_file(dir.path(), "logs", i)) <= limits.file_bytes);
  }
  CHECK_FALSE(std::filesystem::exists(journal_file(dir.path(), "logs", 3)));
  const std::uint64_t per_file = limits.file_bytes / 101;
  CHECK(size_of(journal_file(dir.path(), "logs", 1)) == per_file * 101);  // a full file rotated at its bound

  // Everything still kept reads back, in order and without a gap, up to the newest line.
  auto all = read_journal_tail(dir.path(), "logs", limits, 100'000);
  const auto kept = numbers(all);
  REQUIRE_FALSE(kept.empty());
  CHECK(kept == range(kept.front(), kLines));
  CHECK(kept.size() == 2 * per_file + (kLines - 3 * per_file));
  CHECK(all.skipped_lines == 0);
  CHECK(all.skipped_files == 0);
  // Only the files needed are read: the newest 10 lines.
  CHECK(numbers(read_journal_tail(dir.path(), "logs", limits, 10)) == range(kLines - 9, kLines));
}

TEST_CASE("a writer opened on an existing journal appends to it and counts its size") {
  TempDir dir("meshos-journal");
  const JournalLimits limits{kMinJournalFileBytes, 2};
  {
    JournalWriter first(dir.path(), "audit", limits);
    for (int i = 1; i <= 600; ++i) REQUIRE(first.append({numbered_line(i)}));
  }
  JournalWriter second(dir.path(), "audit", limits);
  for (int i = 601; i <= 700; ++i) REQUIRE(second.append({numbered_line(i)}));
  CHECK(second.rotations() == 1);  // 600 lines were there already: the file filled at 648
  CHECK(size_of(journal_file(dir.path(), "audit", 0)) < limits.file_bytes);
  CHECK(numbers(read_journal_tail(dir.path(), "audit", limits, 1000)) == range(1, 700));
}

TEST_CASE("one file only: a full journal starts over") {
  TempDir dir("meshos-journal");
  const JournalLimits limits{kMinJournalFileBytes, 1};
  JournalWriter writer(dir.path(), "logs", limits);
  for (int i = 1; i <= 700; ++i) REQUIRE(writer.append({numbered_line(i)}));
  CHECK(writer.rotations() == 1);
  CHECK(numbers(read_journal_tail(dir.path(), "logs", limits, 1000)) == range(649, 700));
  CHECK_FALSE(std::filesystem::exists(journal_file(dir.path(), "logs", 1)));
}

TEST_CASE("what a crash or a stranger leaves is skipped: a cut last line, an enormous line, a huge file") {
  TempDir dir("meshos-journal");
  const JournalLimits limits{kMinJournalFileBytes, 3};
  // The newest file ends in a line without its newline (the process died writing it): it is read as
  // written, and the reader's parse refuses it.
  dir.write("logs.jsonl", numbered_line(5) + "\n" + "{\"n\":6,\"pa");
  // The file before it holds a line no record can be.
  dir.write("logs.1.jsonl", numbered_line(3) + "\n" + std::string(kMaxJournalLineBytes + 1, 'y') + "\n" +
                                numbered_line(4) + "\n\n");
  // And the one before that is far larger than a journal file.
  {
    std::ofstream huge(dir.file("logs.2.jsonl"), std::ios::binary);
    huge << std::string(5 << 20, 'z');
  }
  auto tail = read_journal_tail(dir.path(), "logs", limits, 100);
  REQUIRE(tail.lines.size() == 4);
  CHECK(tail.lines[0] == numbered_line(3));
  CHECK(tail.lines[1] == numbered_line(4));
  CHECK(tail.lines[2] == numbered_line(5));
  CHECK(tail.lines[3] == "{\"n\":6,\"pa");
  CHECK(tail.skipped_lines == 1);
  CHECK(tail.skipped_files == 1);
}

TEST_CASE("a journal that does not exist is empty - limits outside their bounds are refused") {
  TempDir dir("meshos-journal");
  auto tail = read_journal_tail(dir.file("nowhere"), "logs", JournalLimits{}, 10);
  CHECK(tail.lines.empty());
  CHECK(tail.skipped_files == 0);

  CHECK(check_journal_limits(JournalLimits{}));
  auto small = check_journal_limits(JournalLimits{kMinJournalFileBytes - 1, 4});
  REQUIRE_FALSE(small);
  CHECK(small.error().code() == Errc::invalid_config);
  CHECK(small.error().message.find("65536") != std::string::npos);
  CHECK_FALSE(check_journal_limits(JournalLimits{kMinJournalFileBytes, 0}));
  CHECK_FALSE(check_journal_limits(JournalLimits{kMinJournalFileBytes, kMaxJournalFiles + 1}));
  CHECK(check_journal_limits(JournalLimits{kMinJournalFileBytes, kMaxJournalFiles}));
}

TEST_CASE("an append that cannot be written fails with write_failed, and the journal works again later") {
  TempDir dir("meshos-journal");
  const std::string sub = dir.file("state");
  const JournalLimits limits{kMinJournalFileBytes, 2};
  JournalWriter writer(sub, "logs", limits);
  auto failed = writer.append({numbered_line(1)});  // the folder is not there
  REQUIRE_FALSE(failed);
  CHECK(failed.error().code() == Errc::write_failed);
  CHECK(failed.error().message.find("logs.jsonl") != std::string::npos);
  std::filesystem::create_directories(sub);
  REQUIRE(writer.append({numbered_line(2)}));
  CHECK(numbers(read_journal_tail(sub, "logs", limits, 10)) == std::vector<int>{2});
}
