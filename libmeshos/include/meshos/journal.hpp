#pragma once
// Library: meshos_core.
// A node's history on disk, for people and their tools (jq, grep, a log shipper) and for the node's own next
// start: one JSON object per line, appended. Bounded by rotation: NAME.jsonl takes the appends; once it holds
// `file_bytes` it becomes NAME.1.jsonl, older files move up one (NAME.2.jsonl, ...) and the one beyond
// `files` is deleted, so a journal never takes much more than files x file_bytes.
//
// Appends are not fsynced: a process that crashes loses nothing it wrote, a power cut may lose the last
// lines. What must survive a power cut lives in the state file (persistent_state.hpp), which is.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "meshos/result.hpp"

namespace meshos {

struct JournalLimits {
  std::uint64_t file_bytes = 4 * 1024 * 1024;  // the live file is rotated once it holds this much
  std::size_t files = 4;                       // the live file and up to files - 1 rotated ones
};
inline constexpr std::uint64_t kMinJournalFileBytes = 64 * 1024;  // a line may be ~16 KiB (a log message)
inline constexpr std::size_t kMaxJournalFiles = 100;
// Kind "invalid_config": file_bytes below kMinJournalFileBytes, files outside 1..kMaxJournalFiles.
Result<void> check_journal_limits(const JournalLimits& limits);

// dir/NAME.jsonl for index 0, dir/NAME.<index>.jsonl for the rotated ones (1 the newest).
std::string journal_file(const std::string& dir, const std::string& name, std::size_t index);

// Appends to one journal. Not thread-safe: one owner writes (the node's state writer).
class JournalWriter {
 public:
  JournalWriter(std::string dir, std::string name, JournalLimits limits);
  JournalWriter(JournalWriter&&) noexcept;
  JournalWriter& operator=(JournalWriter&&) noexcept;
  ~JournalWriter();

  // Each line (one JSON text without a newline) on a line of its own, rotating first when the live file is
  // full. Kind "write_failed", naming the file and why; the journal stays usable (the next append opens
  // the file again).
  Result<void> append(const std::vector<std::string>& lines);
  std::uint64_t rotations() const noexcept { return rotations_; }

 private:
  Result<void> open_live_file();
  Result<void> rotate();

  std::string dir_;
  std::string name_;
  JournalLimits limits_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t rotations_ = 0;
};

// The last `max_lines` lines of a journal, oldest first, read newest file first and no further back than
// needed. Lines are as written (the reader parses them: a line cut short by a crash does not parse); a line
// longer than any record (kMaxJournalLineBytes) and a file too large to be one of the journal's are skipped
// and counted, never an error; a journal that does not exist is empty.
inline constexpr std::size_t kMaxJournalLineBytes = 1024 * 1024;
struct JournalTail {
  std::vector<std::string> lines;
  std::size_t skipped_lines = 0;
  std::size_t skipped_files = 0;
};
JournalTail read_journal_tail(const std::string& dir, const std::string& name, const JournalLimits& limits,
                              std::size_t max_lines);

}  // namespace meshos
