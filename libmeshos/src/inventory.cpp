#include "meshos/inventory.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

#include <nlohmann/json.hpp>

#include "json_reader.hpp"
#include "meshos/file_io.hpp"
#include "meshos/untrusted_json.hpp"

namespace meshos {
namespace {

constexpr Errc kInvalid = Errc::invalid_inventory;
// /proc/meminfo is some 1.5 KB; a bound keeps a strange proc_root from reading a large file.
constexpr std::size_t kMaxProcFileBytes = 64 * 1024;

SdkError invalid(const std::string& what) { return SdkError{kInvalid, what}; }

// The number of kB on the line "<key>:   <n> kB" of /proc/meminfo.
std::optional<std::uint64_t> meminfo_kb(std::string_view meminfo, std::string_view key) {
  std::size_t at = 0;
  while (at < meminfo.size()) {
    const std::size_t end = std::min(meminfo.find('\n', at), meminfo.size());
    std::string_view line = meminfo.substr(at, end - at);
    at = end + 1;
    if (line.size() <= key.size() || line.substr(0, key.size()) != key || line[key.size()] != ':') continue;
    std::string_view rest = line.substr(key.size() + 1);
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    std::uint64_t kb = 0;
    auto [ptr, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), kb);
    if (ec != std::errc() || ptr == rest.data()) return std::nullopt;
    if (kb > UINT64_MAX / 1024) return std::nullopt;
    return kb;
  }
  return std::nullopt;
}

}  // namespace

bool differs_materially(const NodeInventory& before, const NodeInventory& now) {
  if (before.memory_total_bytes != now.memory_total_bytes) return true;
  if (std::fabs(before.cpu_load_1m - now.cpu_load_1m) >= 0.05) return true;
  const std::uint64_t moved = before.memory_used_bytes > now.memory_used_bytes
                                  ? before.memory_used_bytes - now.memory_used_bytes
                                  : now.memory_used_bytes - before.memory_used_bytes;
  return moved >= now.memory_total_bytes / 100;
}

Result<void> check_inventory(const NodeInventory& inv) {
  if (!std::isfinite(inv.cpu_load_1m) || inv.cpu_load_1m < 0.0)
    return invalid("the CPU load must be a finite number, not negative");
  if (inv.memory_used_bytes > inv.memory_total_bytes)
    return invalid("more memory used (" + std::to_string(inv.memory_used_bytes) + " bytes) than there is (" +
                   std::to_string(inv.memory_total_bytes) + ")");
  return {};
}

Result<void> check_inventory_reading(const InventoryReading& r) {
  if (auto checked = check_inventory(r.inventory); !checked)
    return invalid("node " + to_hex(r.node) + ": " + checked.error().message);
  return {};
}

Result<NodeInventory> parse_proc_inventory(std::string_view loadavg, std::string_view meminfo) {
  NodeInventory inv;
  // "0.52 0.58 0.59 1/467 12345": the first field is the 1-minute average. strtod wants a terminated string.
  const std::string first(loadavg.substr(0, loadavg.find(' ')));
  char* end = nullptr;
  inv.cpu_load_1m = first.empty() ? -1.0 : std::strtod(first.c_str(), &end);
  if (first.empty() || end != first.c_str() + first.size() || !std::isfinite(inv.cpu_load_1m) || inv.cpu_load_1m < 0)
    return invalid("loadavg: no 1-minute load average at the start of \"" + std::string(loadavg.substr(0, 64)) + "\"");
  const auto total = meminfo_kb(meminfo, "MemTotal");
  if (!total) return invalid("meminfo: no MemTotal line in kB");
  const auto available = meminfo_kb(meminfo, "MemAvailable");
  if (!available) return invalid("meminfo: no MemAvailable line in kB (Linux 3.14 or later has it)");
  inv.memory_total_bytes = *total * 1024;
  inv.memory_used_bytes = *available >= *total ? 0 : (*total - *available) * 1024;
  return inv;
}

Result<NodeInventory> read_proc_inventory(const std::string& proc_root) {
  auto loadavg = read_file_bounded(proc_root + "/loadavg", kMaxProcFileBytes);
  if (!loadavg) return SdkError{Errc::read_failed, loadavg.error().message};
  auto meminfo = read_file_bounded(proc_root + "/meminfo", kMaxProcFileBytes);
  if (!meminfo) return SdkError{Errc::read_failed, meminfo.error().message};
  return parse_proc_inventory(*loadavg, *meminfo);
}

void to_json(nlohmann::json& j, const NodeInventory& inv) {
  j = nlohmann::json{{"cpu_load_1m", inv.cpu_load_1m},
                     {"memory_used_bytes", inv.memory_used_bytes},
                     {"memory_total_bytes", inv.memory_total_bytes}};
}

Result<NodeInventory> inventory_from_json(const nlohmann::json& j) {
  json_read::Reader r(kInvalid);
  const std::string path = "inventory";
  if (!j.is_object()) return invalid("an inventory must be a JSON object");
  NodeInventory inv;
  if (const auto* load = r.require(j, path, "cpu_load_1m")) inv.cpu_load_1m = r.number(*load, path + ".cpu_load_1m");
  inv.memory_used_bytes = r.u64(j, path, "memory_used_bytes");
  inv.memory_total_bytes = r.u64(j, path, "memory_total_bytes");
  if (r.failed()) return r.error();
  if (auto checked = check_inventory(inv); !checked) return checked.error();
  return inv;
}

Result<NodeInventory> inventory_from_json_text(const std::string& text) {
  auto j = parse_untrusted_json(text, json_limits::kInventory, kInvalid, "inventory");
  if (!j) return j.error();
  return inventory_from_json(*j);
}

}  // namespace meshos
