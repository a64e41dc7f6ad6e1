#pragma once
// CAF's config system made strict, for meshos' programs (meshosd, meshos-run).
//
// Keys are declared with CAF's opt_group, and CAF reads the file (its INI dialect) and the command line
// (`--section.key=value`), so CAF's own keys (scheduler.*, middleman.*) work as in any CAF application. What
// CAF lets pass silently is then checked in one pass, and every problem is reported at once with its file
// and line: a key nobody declared ("did you mean"), a value of the wrong type (CAF drops it and keeps the
// default), a key given twice, a list never closed (CAF reads the whole file as empty). Relative paths in a
// file are taken from the file's folder; on the command line, from the working directory.
#include <cstdint>
#include <filesystem>
#include <iosfwd>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <caf/actor_system_config.hpp>
#include <caf/config_value.hpp>
#include <caf/settings.hpp>

#include "meshos/result.hpp"

namespace meshos::apps {

// What CAF's reader does not keep of a file: on which line each key is, and which lines it cannot see wrong.
struct ConfigFileLayout {
  struct Entry {
    std::string section;  // "global" before the first [section], as CAF names it
    std::string key;
    int line = 0;
  };
  std::vector<Entry> entries;   // in file order
  std::vector<Entry> sections;  // each [section] where first opened (key empty)
  std::vector<std::string> problems;   // "line N: ...": duplicate keys, lists left open, nested too deep
  bool too_deep = false;               // CAF's reader recurses per level: such a text is not handed to it
  int line_of(const std::string& section, const std::string& key) const;  // 0: not in the file
  int line_of(const std::string& section) const;                          // its [section] line, or 0
  // Where each (section, key) and each section is, for lookups in files of any length.
  std::map<std::pair<std::string, std::string>, int> lines;
};

// Lines only: values are CAF's to read.
ConfigFileLayout scan_config_layout(const std::string& text);

// `message` (a verdict holds one problem per line) on `out`, each line as "<program>: <line>".
void print_lines(std::ostream& out, const std::string& program, const std::string& message);

// "section.key", or "key" for CAF's category "global" (the command line's own options).
std::string full_name(const std::string& section, const std::string& key);

class StrictConfig : public caf::actor_system_config {
 public:
  // `program` names the program in help texts.
  explicit StrictConfig(std::string program);

  // Reads `args` (the command line without the program name; `--section.key=value`, `--config-file=PATH` and
  // the aliases the program added) and the file they name, or `file` when the program takes it as a plain
  // argument. --help, --long-help, --dump-config and --version are recorded, not acted on. Fails only when there is
  // nothing to check further: config_not_found (the file cannot be read), or invalid_config for a file CAF
  // cannot read at all. Every other problem is kept for verdict(), and CAF reads the rest, so that the program
  // can check its values too and every problem is reported at once.
  Result<void> load(const std::vector<std::string>& args, std::string file = {});
  // The same with the file's text given; `file` names it in messages and is the folder of its relative paths.
  Result<void> load_text(const std::vector<std::string>& args, const std::string& text, std::string file);

  // A problem with the value of `name`, reported where the value comes from.
  void report(const std::string& name, const std::string& what);
  void report(const std::string& problem);
  // Kind invalid_config with every problem found, one per line, in the order found; or ok.
  Result<void> verdict() const;

  bool help_requested() const { return help_; }
  bool long_help_requested() const { return long_help_; }
  bool dump_requested() const { return dump_; }
  bool version_requested() const { return version_; }
  const std::string& file() const { return file_; }

  // Every declared key as `--section.key=<type>  help (default: value)`; CAF's own sections with `with_caf`.
  std::string options_text(bool with_caf) const;
  // Every key with the value in effect, as a config file this program reads back to the same values.
  std::string dump_text() const;

  // Values in effect (command line over file over default), of keys declared with that type.
  std::string text(const std::string& name) const;
  std::uint64_t count(const std::string& name) const;
  bool flag(const std::string& name) const;
  std::chrono::milliseconds duration(const std::string& name) const;
  std::vector<std::string> texts(const std::string& name) const;
  // A path: relative ones from the file are made relative to the file's folder.
  std::string path(const std::string& name) const;
  std::vector<std::string> paths(const std::string& name) const;
  // Whether the file or the command line set the key.
  bool is_set(const std::string& name) const;
  // Where the key's value comes from, for messages: "node.conf:7", "--node.listen-port", its [section]'s line
  // when the file leaves it out there, or "default".
  std::string where(const std::string& name) const;
  // The section's keys present in the file or on the command line, in declaration order.
  std::vector<std::string> keys_set_in(const std::string& section) const;

 protected:
  // Declares `section.key` with CAF (type T) and its default. T: std::string, std::uint16_t, std::uint64_t,
  // bool, caf::timespan, std::vector<std::string>.
  template <class T>
  void declare(const std::string& section, const std::string& key, T default_value, const std::string& help) {
    caf::config_option_adder{custom_options_, section}.add<T>(key, help);
    caf::put(defaults_, full_name(section, key), std::move(default_value));
    declared_.emplace_back(section, key);
  }
  // `--alias` alone stands for `replacement` (e.g. --fresh-state for --node.fresh-state=true).
  void add_flag_alias(std::string alias, std::string replacement);
  // `--alias X` and `--alias=X` stand for `--option=X` (e.g. --config for --config-file).
  void add_value_alias(std::string alias, std::string option);
  // A CAF key the program sets itself; setting it is refused with `why`.
  void reserve(std::string name, std::string why);
  // `name` holds a path (or a list of paths): --dump-config writes it as path() resolves it.
  void mark_path(std::string name);
  // What --long-help says of a CAF key's default, where the program chooses differently from CAF.
  void describe_default(std::string name, std::string text);
  // Sections whose names the file chooses (meshos-run's nodes): called with every section the file opens,
  // before anything is checked, so that the program can declare their keys.
  virtual void declare_sections_of_file(const std::vector<std::string>& sections);
  // Whether some key of `section` is declared (by CAF or by the program) already.
  bool is_declared_section(const std::string& section) const;

 private:
  Result<void> check_and_parse(const std::vector<std::string>& args, const std::string& text);
  std::vector<std::string> normalize(const std::vector<std::string>& args);
  void check_file_values(const caf::settings& raw);
  // The arguments CAF may read; the others are problems.
  std::vector<std::string> check_command_line(const std::vector<std::string>& args);
  const caf::config_value* value_of(const std::string& name) const;
  std::string unknown_key_problem(const std::string& section, const std::string& key) const;
  std::optional<std::filesystem::path> relative_base(const std::string& name) const;
  static std::string resolve(const std::optional<std::filesystem::path>& base, const std::string& value);

  std::string program_;
  std::string file_;
  ConfigFileLayout layout_;
  caf::settings defaults_;
  std::vector<std::pair<std::string, std::string>> declared_;  // (section, key) in declaration order
  std::set<std::string> from_command_line_;                    // "section.key"
  std::vector<std::string> problems_;
  std::vector<std::pair<std::string, caf::config_value>> command_line_flags_;  // booleans: CAF wants --name alone
  std::map<std::string, std::string> flag_aliases_;
  std::map<std::string, std::string> value_aliases_;
  std::map<std::string, std::string> reserved_;
  std::set<std::string> path_keys_;
  std::map<std::string, std::string> default_texts_;
  bool help_ = false;
  bool long_help_ = false;
  bool dump_ = false;
  bool version_ = false;
};

}  // namespace meshos::apps
