#pragma once
// Library: meshos_core.
// Files a node writes for others or for its own next start: replaced atomically and durably, so that a
// reader, or the node restarted after a crash or a power cut, finds the old file or the new one, whole.
#include <cstddef>
#include <string>

#include "meshos/result.hpp"

namespace meshos {

// Writes `bytes` to a temporary file beside `path` (same directory, so the rename cannot cross file
// systems), fsyncs it, renames it over `path` and fsyncs the directory. On any failure the temporary file
// is removed and `path` is left exactly as it was. Kind "write_failed", naming the file, the step that
// failed and why.
Result<void> write_file_atomically(const std::string& path, const std::string& bytes);

// The whole file, refused when it holds more than `max_bytes`. Kinds: "file_not_found" (no such file),
// "read_failed" (anything else: a directory, no permission, an I/O error, too large).
Result<std::string> read_file_bounded(const std::string& path, std::size_t max_bytes);

}  // namespace meshos
