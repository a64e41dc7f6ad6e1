#include "meshos/keyfile.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>

#include "posix_fd.hpp"

#include "meshos/untrusted_json.hpp"

namespace meshos {
namespace {

using nlohmann::json;

// A key file holds three short strings; anything larger is not a key file (and is not read whole).
constexpr std::size_t kMaxKeyFileBytes = json_limits::kKeyFile.max_bytes;

SdkError invalid_key_file(const std::string& path, const std::string& message) {
  return SdkError{Errc::invalid_key_file, path + ": " + message};
}

std::string errno_text() { return std::strerror(errno); }

std::string octal_mode(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

// The text holds the seed: wipe it whichever way the function leaves.
struct SecretText {
  std::string text;
  ~SecretText() {
    if (!text.empty()) OPENSSL_cleanse(&text[0], text.size());
  }
};

using detail::write_all;
using detail::Fd;

std::string directory_of(const std::string& path) {
  auto slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// The rename is only durable once the directory entry is on disk; failing to sync it loses nothing
// that the caller could act on, so it is best effort.
void sync_directory(const std::string& path) {
  Fd dir(::open(directory_of(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.get() >= 0) (void)::fsync(dir.get());
}

}  // namespace

Result<KeyFile> load_key_file(const std::string& path) {
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (fd.get() < 0) return SdkError{Errc::key_file_not_found, "cannot open key file " + path + ": " + errno_text()};
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0)
    return SdkError{Errc::key_file_not_found, "cannot read key file " + path + ": " + errno_text()};
  if (!S_ISREG(info.st_mode)) return SdkError{Errc::key_file_not_found, "key file " + path + " is not a regular file"};
  // A secret others can read (or replace) is no longer a secret of its owner's.
  if ((info.st_mode & 077) != 0)
    return invalid_key_file(path, "permissions too open (mode " + octal_mode(info.st_mode) +
                                      "; group and others must have no access: chmod 600 " + path + ")");
  if (static_cast<std::uint64_t>(info.st_size) > kMaxKeyFileBytes)
    return invalid_key_file(path, "larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");

  SecretText content;
  content.text.resize(kMaxKeyFileBytes + 1);
  std::size_t used = 0;
  while (used < content.text.size()) {
    ssize_t n = ::read(fd.get(), &content.text[used], content.text.size() - used);
    if (n < 0) {
      if (errno == EINTR) continue;
      return SdkError{Errc::key_file_not_found, "cannot read key file " + path + ": " + errno_text()};
    }
    if (n == 0) break;
    used += static_cast<std::size_t>(n);
  }
  if (used > kMaxKeyFileBytes) return invalid_key_file(path, "larger than " + std::to_string(kMaxKeyFileBytes) + " bytes");
  content.text.resize(used);
  return key_file_from_text(content.text, path);
}

Result<KeyFile> key_file_from_text(const std::string& text, const std::string& path) {
  auto parsed = parse_untrusted_json(text, json_limits::kKeyFile, Errc::invalid_key_file, "key file");
  if (!parsed) return invalid_key_file(path, parsed.error().message);
  json& j = *parsed;
  if (!j.is_object()) return invalid_key_file(path, "expected a JSON object with \"name\", \"seed\" and \"public_key\"");
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.key() != "name" && it.key() != "seed" && it.key() != "public_key")
      return invalid_key_file(path, it.key() + ": unknown field");
  for (const char* field : {"name", "seed", "public_key"}) {
    auto it = j.find(field);
    if (it == j.end()) return invalid_key_file(path, std::string(field) + ": missing");
    if (!it->is_string()) return invalid_key_file(path, std::string(field) + ": expected a string");
  }

  SecretText seed_hex{j["seed"].get<std::string>()};
  OPENSSL_cleanse(&j["seed"].get_ref<std::string&>()[0], j["seed"].get_ref<std::string&>().size());
  auto keypair = EntityKeypair::from_seed_hex(seed_hex.text);
  if (!keypair) return invalid_key_file(path, "seed: " + keypair.error().message);
  auto listed = EntityKeypair::from_public_hex(j["public_key"].get<std::string>());
  if (!listed) return invalid_key_file(path, "public_key: " + listed.error().message);
  if (listed->public_key() != keypair->public_key())
    return invalid_key_file(path, "public_key does not match the seed (the file is damaged or was edited)");
  return KeyFile{j["name"].get<std::string>(), std::move(*keypair)};
}

Result<void> write_key_file(const std::string& path, const std::string& name, const EntityKeypair& keypair,
                            bool overwrite) {
  auto seed = keypair.seed();
  if (!seed) return seed.error();
  SecretText content;
  {
    SecretText seed_hex{bytes_to_hex(seed->data(), seed->size())};
    OPENSSL_cleanse(seed->data(), seed->size());
    json j = json{{"name", name},
                  {"seed", seed_hex.text},
                  {"public_key", bytes_to_hex(keypair.public_key().data(), keypair.public_key().size())}};
    content.text = j.dump(2) + "\n";
    OPENSSL_cleanse(&j["seed"].get_ref<std::string&>()[0], j["seed"].get_ref<std::string&>().size());
  }

  struct stat existing {};
  if (!overwrite && ::lstat(path.c_str(), &existing) == 0)
    return SdkError{Errc::key_file_exists, "key file " + path + " already exists (refusing to replace a key)"};

  // mkstemp creates the file 0600 from the start, so the seed is never readable by others, not even briefly.
  std::string temp_path = path + ".tmp.XXXXXX";
  Fd fd(::mkstemp(&temp_path[0]));
  if (fd.get() < 0)
    return SdkError{Errc::key_file_write_failed, "cannot create a temporary file next to " + path + ": " + errno_text()};
  auto fail = [&](const std::string& what) -> Result<void> {
    SdkError error{Errc::key_file_write_failed, what + " " + path + ": " + errno_text()};
    fd.close();
    ::unlink(temp_path.c_str());
    return error;
  };
  if (::fchmod(fd.get(), 0600) != 0) return fail("cannot set mode 0600 on the key file for");
  if (!write_all(fd.get(), content.text.data(), content.text.size())) return fail("cannot write key file");
  if (::fsync(fd.get()) != 0) return fail("cannot flush key file");
  if (fd.close() != 0) return fail("cannot close key file");

  if (overwrite) {
    if (::rename(temp_path.c_str(), path.c_str()) != 0) return fail("cannot move the new key file into place at");
  } else {
    // link() refuses an existing name, so a key created meanwhile by someone else is never replaced.
    if (::link(temp_path.c_str(), path.c_str()) != 0) {
      if (errno == EEXIST) {
        ::unlink(temp_path.c_str());
        return SdkError{Errc::key_file_exists, "key file " + path + " already exists (refusing to replace a key)"};
      }
      return fail("cannot move the new key file into place at");
    }
    ::unlink(temp_path.c_str());
  }
  sync_directory(path);
  return ok();
}

}  // namespace meshos
