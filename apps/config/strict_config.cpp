#include "strict_config.hpp"

#include <algorithm>
#include <filesystem>
#include <ostream>
#include <sstream>

#include <caf/config_option_adder.hpp>
#include <caf/config_option_set.hpp>
#include <caf/pec.hpp>

#include "meshos/file_io.hpp"
#include "meshos/value_text.hpp"

namespace meshos::apps {

namespace {

// A config file is a few kilobytes; anything near this is not one.
constexpr std::size_t kMaxConfigFileBytes = 1 << 20;
// Lists of lists at most this deep: CAF's reader recurses once per level (130,000 levels crash it).
constexpr int kMaxNesting = 16;

SdkError invalid(const std::vector<std::string>& problems) {
  std::string message;
  for (const auto& p : problems) message += (message.empty() ? "" : "\n") + p;
  return SdkError{Errc::invalid_config, message};
}

std::string trimmed(const std::string& s) {
  const auto begin = s.find_first_not_of(" \t\r");
  if (begin == std::string::npos) return {};
  return s.substr(begin, s.find_last_not_of(" \t\r") - begin + 1);
}

// The line up to a ';' comment outside quotes; `depth` counts the brackets and braces still open after it,
// `deepest` the most ever open.
std::string code_of(const std::string& line, int& depth, int& deepest) {
  char quote = 0;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == ';') {
      return line.substr(0, i);
    } else if (c == '[' || c == '{') {
      deepest = std::max(deepest, ++depth);
    } else if ((c == ']' || c == '}') && depth > 0) {  // a stray closer is CAF's to report
      --depth;
    }
  }
  return line;
}

// CAF writes a day count ("0d") that its own reader refuses, so durations are written here.
std::string timespan_text(caf::timespan t) {
  using namespace std::chrono;
  const auto ns = t.count();
  if (ns % 1'000'000 == 0) return duration_text(duration_cast<milliseconds>(t));
  if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
  return std::to_string(ns) + "ns";
}

std::string value_text(const caf::config_value& v) {
  if (auto t = caf::get_if<caf::timespan>(&v)) return timespan_text(*t);
  if (auto list = caf::get_if<caf::config_value::list>(&v)) {
    std::string out = "[";
    for (const auto& item : *list) out += (out.size() > 1 ? ", " : "") + value_text(item);
    return out + "]";
  }
  return caf::to_string(v);
}

// "unexpected_character at line 2, column 4" from the error CAF's reader returns.
std::string syntax_error_text(const caf::error& err) {
  std::string what = caf::to_string(static_cast<caf::pec>(err.code()));
  if (err.context().match_elements<caf::config_value::dictionary>()) {
    const auto& where = err.context().get_as<caf::config_value::dictionary>(0);
    auto line = where.find("line");
    auto column = where.find("column");
    if (line != where.end() && column != where.end())
      return "line " + caf::to_string(line->second) + ", column " + caf::to_string(column->second) +
             ": CAF cannot read it (" + what + ")";
  }
  return "CAF cannot read it (" + caf::to_string(err) + ")";
}

std::string str(caf::string_view s) { return std::string(s.begin(), s.end()); }

}  // namespace

void print_lines(std::ostream& out, const std::string& program, const std::string& message) {
  std::size_t begin = 0;
  do {
    const auto end = message.find('\n', begin);
    out << program << ": " << message.substr(begin, end == std::string::npos ? end : end - begin) << '\n';
    begin = end == std::string::npos ? end : end + 1;
  } while (begin != std::string::npos);
  out << std::flush;
}

std::string full_name(const std::string& section, const std::string& key) {
  return section == "global" ? key : section + "." + key;
}

namespace {

std::pair<std::string, std::string> split_name(const std::string& name) {
  const auto dot = name.rfind('.');
  if (dot == std::string::npos) return {"global", name};
  return {name.substr(0, dot), name.substr(dot + 1)};
}

bool is_caf_help_flag(const std::string& section, const std::string& key) {
  return section == "global" && (key == "help" || key == "long-help" || key == "dump-config" || key == "config-file");
}

}  // namespace

// A section's own line is kept under the key "[" (no key can be named so).
int ConfigFileLayout::line_of(const std::string& section, const std::string& key) const {
  auto it = lines.find({section, key});
  return it == lines.end() ? 0 : it->second;
}

int ConfigFileLayout::line_of(const std::string& section) const { return line_of(section, "["); }

ConfigFileLayout scan_config_layout(const std::string& text) {
  ConfigFileLayout layout;
  std::istringstream in(text);
  std::string raw;
  std::string section = "global";
  int line = 0;
  int depth = 0;       // brackets and braces open from earlier lines: a value going on
  int value_line = 0;  // where that value started
  int deepest = 0;
  int deep_line = 0;  // where lists first nest too deep
  std::string value_key;
  while (std::getline(in, raw)) {
    ++line;
    if (deepest > kMaxNesting && deep_line == 0) deep_line = line - 1;
    if (depth > 0) {
      (void)code_of(raw, depth, deepest);
      continue;
    }
    const std::string code = trimmed(code_of(raw, depth, deepest));
    if (code.empty()) continue;
    if (code.front() == '[' && code.back() == ']' && code.find('=') == std::string::npos) {
      depth = 0;
      section = trimmed(code.substr(1, code.size() - 2));
      if (layout.line_of(section) == 0) {
        layout.sections.push_back({section, "", line});
        layout.lines[{section, "["}] = line;
      }
      continue;
    }
    const auto eq = code.find('=');
    if (eq == std::string::npos) continue;  // CAF reports it
    const std::string key = trimmed(code.substr(0, eq));
    if (int first = layout.line_of(section, key); first != 0) {
      layout.problems.push_back("line " + std::to_string(line) + ": [" + section + "] " + key +
                                " is set twice (first on line " + std::to_string(first) + ")");
    } else {
      layout.entries.push_back({section, key, line});
      layout.lines[{section, key}] = line;
    }
    value_line = line;
    value_key = key;
  }
  if (depth > 0)
    layout.problems.push_back("line " + std::to_string(value_line) + ": the list or map of " + value_key +
                              " is never closed");
  if (deepest > kMaxNesting) {
    layout.too_deep = true;
    layout.problems.push_back("line " + std::to_string(deep_line == 0 ? line : deep_line) + ": lists nested more than " +
                              std::to_string(kMaxNesting) + " deep");
  }
  return layout;
}

StrictConfig::StrictConfig(std::string program) : program_(std::move(program)) {}

void StrictConfig::add_flag_alias(std::string alias, std::string replacement) {
  flag_aliases_.emplace(std::move(alias), std::move(replacement));
}

void StrictConfig::add_value_alias(std::string alias, std::string option) {
  value_aliases_.emplace(std::move(alias), std::move(option));
}

void StrictConfig::reserve(std::string name, std::string why) { reserved_.emplace(std::move(name), std::move(why)); }

void StrictConfig::mark_path(std::string name) { path_keys_.insert(std::move(name)); }

void StrictConfig::describe_default(std::string name, std::string text) {
  default_texts_.emplace(std::move(name), std::move(text));
}

void StrictConfig::declare_sections_of_file(const std::vector<std::string>&) {}

bool StrictConfig::is_declared_section(const std::string& section) const {
  return std::any_of(custom_options_.begin(), custom_options_.end(),
                     [&](const caf::config_option& o) { return o.category() == section; });
}

std::string StrictConfig::unknown_key_problem(const std::string& section, const std::string& key) const {
  std::vector<std::string> known;
  for (const auto& o : custom_options_)
    if (o.category() == section) known.emplace_back(str(o.long_name()));
  std::string problem = "unknown key " + key + " in [" + section + "]";
  if (auto near = closest_word(key, known)) problem += " (did you mean " + *near + "?)";
  return problem;
}

// The command line as CAF reads it: aliases replaced, --help and friends taken out, the file's name kept.
std::vector<std::string> StrictConfig::normalize(const std::vector<std::string>& args) {
  auto& problems = problems_;
  std::vector<std::string> out;
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string arg = args[i];
    if (arg == "--help" || arg == "-h") {
      help_ = true;
      continue;
    }
    if (arg == "--long-help") {
      long_help_ = true;
      continue;
    }
    if (arg == "--dump-config") {
      dump_ = true;
      continue;
    }
    if (arg == "--version") {
      version_ = true;
      continue;
    }
    if (auto flag = flag_aliases_.find(arg); flag != flag_aliases_.end()) arg = flag->second;
    const std::string name = arg.substr(0, arg.find('='));
    if (auto alias = value_aliases_.find(name); alias != value_aliases_.end()) {
      if (arg.size() > name.size()) {
        arg = alias->second + arg.substr(name.size());
      } else if (i + 1 < args.size()) {
        arg = alias->second + "=" + args[++i];
      } else {
        problems.push_back(arg + " needs a value");
        continue;
      }
    }
    if (arg == "--config-file" && i + 1 < args.size()) arg = "--config-file=" + args[++i];
    if (arg.rfind("--config-file=", 0) == 0) {
      file_ = arg.substr(14);
      continue;
    }
    if (arg.rfind("--", 0) != 0) {
      problems.push_back("unexpected argument \"" + arg + "\" (options are --section.key=value)");
      continue;
    }
    out.push_back(arg);
  }
  return out;
}

std::vector<std::string> StrictConfig::check_command_line(const std::vector<std::string>& args) {
  auto& problems = problems_;
  std::vector<std::string> valid;
  for (const auto& arg : args) {
    const auto eq = arg.find('=');
    const std::string name = arg.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    const auto [section, key] = split_name(name);
    const caf::config_option* option = custom_options_.qualified_name_lookup(section, key);
    if (option == nullptr || is_caf_help_flag(section, key)) {
      problems.push_back(arg + ": " + (section == "global" ? "unknown option" : unknown_key_problem(section, key)));
      continue;
    }
    if (auto r = reserved_.find(name); r != reserved_.end()) {
      problems.push_back(arg + ": " + r->second);
      continue;
    }
    if (eq == std::string::npos && option->type_name() != "boolean") {
      problems.push_back(arg + ": needs a value (--" + name + "=<" + str(option->type_name()) + ">)");
      continue;
    }
    auto value = eq == std::string::npos ? caf::expected<caf::config_value>{caf::config_value{true}}
                                         : option->parse(arg.substr(eq + 1));
    if (!value) {
      problems.push_back(arg + ": expected a value of type " + str(option->type_name()));
      continue;
    }
    from_command_line_.insert(name);
    // CAF takes a flag as --name alone: --name=true and --name=false are set after it read the rest.
    if (option->type_name() == "boolean") {
      command_line_flags_.emplace_back(name, *value);
    } else {
      valid.push_back(arg);
    }
  }
  return valid;
}

void StrictConfig::check_file_values(const caf::settings& raw) {
  auto& problems = problems_;
  auto at = [&](int line) { return file_ + ":" + std::to_string(line) + ": "; };
  auto check_key = [&](const std::string& section, const std::string& key, const caf::config_value& value) {
    const int line = layout_.line_of(section, key);
    const caf::config_option* option = custom_options_.qualified_name_lookup(section, key);
    if (option == nullptr || is_caf_help_flag(section, key)) {
      problems.push_back(at(line) + unknown_key_problem(section, key));
    } else if (auto r = reserved_.find(full_name(section, key)); r != reserved_.end()) {
      problems.push_back(at(line) + "[" + section + "] " + key + ": " + r->second);
    } else if (option->check(value)) {
      std::string got = value_text(value);
      if (got.size() > 64) got = got.substr(0, 60) + "...";  // a message names the value, it does not hold it
      problems.push_back(at(line) + "[" + section + "] " + key + ": expected a value of type " +
                         str(option->type_name()) + ", got " + got);
    }
  };
  for (const auto& [name, value] : raw) {
    const auto* section = caf::get_if<caf::config_value::dictionary>(&value);
    if (section == nullptr) {
      check_key("global", name, value);
      continue;
    }
    if (!is_declared_section(name)) {
      std::vector<std::string> known;
      for (const auto& o : custom_options_)
        if (std::find(known.begin(), known.end(), o.category()) == known.end()) known.emplace_back(str(o.category()));
      std::string problem = at(layout_.line_of(name)) + "unknown section [" + name + "]";
      if (auto near = closest_word(name, known)) problem += " (did you mean [" + *near + "]?)";
      problems.push_back(problem);
      continue;
    }
    for (const auto& [key, v] : *section) check_key(name, key, v);
  }
}

Result<void> StrictConfig::load(const std::vector<std::string>& args, std::string file) {
  std::vector<std::string> caf_args = normalize(args);
  if (!file.empty()) file_ = std::move(file);
  if (help_ || long_help_ || version_) return ok();
  std::string text;
  if (!file_.empty()) {
    auto read = read_file_bounded(file_, kMaxConfigFileBytes);
    if (!read) return SdkError{Errc::config_not_found, "cannot read config file " + file_ + ": " + read.error().message};
    text = std::move(*read);
  }
  return check_and_parse(caf_args, text);
}

Result<void> StrictConfig::load_text(const std::vector<std::string>& args, const std::string& text, std::string file) {
  std::vector<std::string> caf_args = normalize(args);
  file_ = std::move(file);
  return check_and_parse(caf_args, text);
}

Result<void> StrictConfig::check_and_parse(const std::vector<std::string>& args, const std::string& text) {
  layout_ = scan_config_layout(text);
  for (const auto& p : layout_.problems) problems_.push_back(file_ + ":" + p.substr(5));
  std::vector<std::string> sections;
  for (const auto& s : layout_.sections) sections.push_back(s.section);
  declare_sections_of_file(sections);
  if (layout_.too_deep) return verdict();

  // The file once without declared options, to see every value as written: CAF's reader with the options
  // drops a value of the wrong type without a word.
  std::istringstream raw_in(text);
  auto raw = caf::actor_system_config::parse_config(raw_in);
  if (!raw) {
    problems_.push_back(file_ + ": " + syntax_error_text(raw.error()));
    return verdict();
  }
  check_file_values(*raw);
  // What is wrong stays out of CAF's way (CAF drops a file's wrongly typed values itself), so the program can
  // check the rest and report every problem at once.
  const std::vector<std::string> valid_args = check_command_line(args);
  std::istringstream in(text);
  if (auto err = parse(valid_args, in)) {
    problems_.push_back("CAF refused the configuration: " + caf::to_string(err));
    return verdict();
  }
  for (const auto& [name, value] : command_line_flags_) caf::put(content, name, value);
  for (const auto& [section, key] : declared_) {
    const std::string name = full_name(section, key);
    if (caf::get_if(&content, name) == nullptr) caf::put(content, name, *caf::get_if(&defaults_, name));
  }
  return ok();
}

void StrictConfig::report(const std::string& name, const std::string& what) {
  const auto [section, key] = split_name(name);
  problems_.push_back(where(name) + ": " + (section == "global" ? key : "[" + section + "] " + key) + ": " + what);
}

void StrictConfig::report(const std::string& problem) { problems_.push_back(problem); }

Result<void> StrictConfig::verdict() const {
  if (problems_.empty()) return ok();
  return invalid(problems_);
}

const caf::config_value* StrictConfig::value_of(const std::string& name) const {
  if (auto v = caf::get_if(&content, name)) return v;
  return caf::get_if(&defaults_, name);
}

std::string StrictConfig::text(const std::string& name) const {
  auto v = value_of(name);
  auto s = v ? caf::get_if<std::string>(v) : nullptr;
  return s ? *s : std::string{};
}

std::uint64_t StrictConfig::count(const std::string& name) const {
  auto v = value_of(name);
  auto n = v ? caf::get_if<std::uint64_t>(v) : caf::optional<std::uint64_t>{};
  return n ? *n : 0;
}

bool StrictConfig::flag(const std::string& name) const {
  auto v = value_of(name);
  auto b = v ? caf::get_if<bool>(v) : nullptr;
  return b && *b;
}

std::chrono::milliseconds StrictConfig::duration(const std::string& name) const {
  auto v = value_of(name);
  auto t = v ? caf::get_if<caf::timespan>(v) : nullptr;
  return t ? std::chrono::duration_cast<std::chrono::milliseconds>(*t) : std::chrono::milliseconds{0};
}

std::vector<std::string> StrictConfig::texts(const std::string& name) const {
  auto v = value_of(name);
  auto list = v ? caf::get_if<std::vector<std::string>>(v) : caf::optional<std::vector<std::string>>{};
  return list ? *list : std::vector<std::string>{};
}

// The folder relative paths of `name`'s value are taken from: the file's, when the file set it; none else.
std::optional<std::filesystem::path> StrictConfig::relative_base(const std::string& name) const {
  const std::filesystem::path folder = std::filesystem::path(file_).parent_path();
  const auto [section, key] = split_name(name);
  if (from_command_line_.count(name) || layout_.line_of(section, key) == 0 || folder.empty()) return std::nullopt;
  return folder;
}

std::string StrictConfig::resolve(const std::optional<std::filesystem::path>& base, const std::string& value) {
  if (!base || value.empty() || std::filesystem::path(value).is_absolute()) return value;
  // Lexically: a folder reached through a symbolic link keeps its own parent for "..".
  return (*base / value).lexically_normal().string();
}

std::string StrictConfig::path(const std::string& name) const { return resolve(relative_base(name), text(name)); }

std::vector<std::string> StrictConfig::paths(const std::string& name) const {
  const auto base = relative_base(name);
  std::vector<std::string> out = texts(name);
  for (auto& p : out) p = resolve(base, p);
  return out;
}

bool StrictConfig::is_set(const std::string& name) const {
  const auto [section, key] = split_name(name);
  return from_command_line_.count(name) != 0 || layout_.line_of(section, key) != 0;
}

std::string StrictConfig::where(const std::string& name) const {
  if (from_command_line_.count(name)) return "--" + name;
  const auto [section, key] = split_name(name);
  if (int line = layout_.line_of(section, key)) return file_ + ":" + std::to_string(line);
  if (int line = layout_.line_of(section)) return file_ + ":" + std::to_string(line);  // a key left out
  return "default";
}

std::vector<std::string> StrictConfig::keys_set_in(const std::string& section) const {
  std::vector<std::string> out;
  for (const auto& o : custom_options_) {
    const std::string key = str(o.long_name());
    if (o.category() == section && is_set(full_name(section, key))) out.push_back(key);
  }
  return out;
}

std::string StrictConfig::options_text(bool with_caf) const {
  const caf::settings caf_defaults = dump_content();
  std::vector<std::string> categories;
  for (const auto& o : custom_options_)
    if (std::find(categories.begin(), categories.end(), o.category()) == categories.end())
      categories.emplace_back(str(o.category()));
  std::ostringstream out;
  for (const auto& category : categories) {
    const bool ours = std::any_of(declared_.begin(), declared_.end(), [&](const auto& d) { return d.first == category; });
    if (!ours && !with_caf && category != "global") continue;
    out << (category == "global" ? std::string("command line") : "[" + category + "]") << "\n";
    for (const auto& o : custom_options_) {
      if (o.category() != category) continue;
      const std::string key = str(o.long_name());
      const std::string name = full_name(category, key);
      if (reserved_.count(name)) continue;
      std::string arg = "  --" + name + (o.type_name() == "boolean" ? "" : "=<" + str(o.type_name()) + ">");
      out << arg << std::string(arg.size() < 44 ? 44 - arg.size() : 1, ' ') << o.description();
      const caf::config_value* def = caf::get_if(&defaults_, name);
      if (def == nullptr && category != "global") def = caf::get_if(&caf_defaults, name);
      if (auto text = default_texts_.find(name); text != default_texts_.end()) {
        out << " (default: " << text->second << ")";
      } else if (def != nullptr) {
        out << " (default: " << value_text(*def) << ")";
      }
      out << "\n";
    }
    out << "\n";
  }
  return out.str();
}

std::string StrictConfig::dump_text() const {
  std::ostringstream out;
  out << "; the configuration " << program_ << " runs with (file, command line and defaults)\n";
  auto print = [&](const std::string& section, const std::string& key, const caf::config_value& v) {
    const std::string name = full_name(section, key);
    if (is_caf_help_flag(section, key) || reserved_.count(name)) return;
    if (custom_options_.qualified_name_lookup(section, key) == nullptr) return;
    std::string text = value_text(v);
    if (path_keys_.count(name)) {
      if (caf::get_if<std::string>(&v)) {
        text = value_text(caf::config_value{path(name)});
      } else {
        caf::config_value::list resolved;
        for (const auto& p : paths(name)) resolved.emplace_back(p);
        text = value_text(caf::config_value{std::move(resolved)});
      }
    }
    out << key << " = " << text << "\n";
  };
  // Declared keys with their value in effect (defaults included); CAF's keys only as set: where nothing is set,
  // CAF (and meshos' scheduler choice) decide, and a dump read back must not change that.
  for (const auto& [section, key] : declared_)
    if (section == "global") print(section, key, *value_of(key));
  std::vector<std::string> ordered;
  for (const auto& [section, key] : declared_)
    if (section != "global" && std::find(ordered.begin(), ordered.end(), section) == ordered.end())
      ordered.push_back(section);
  for (const auto& [name, value] : content)
    if (caf::get_if<caf::config_value::dictionary>(&value) && std::find(ordered.begin(), ordered.end(), name) == ordered.end())
      ordered.push_back(name);
  for (const auto& section : ordered) {
    std::ostringstream keys;
    std::swap(keys, out);
    bool declared_here = false;
    for (const auto& [s, key] : declared_) {
      if (s != section) continue;
      declared_here = true;
      if (auto v = value_of(full_name(s, key))) print(s, key, *v);
    }
    if (!declared_here)
      if (auto dict = caf::get_if<caf::config_value::dictionary>(caf::get_if(&content, section)))
        for (const auto& [key, v] : *dict) print(section, key, v);
    std::swap(keys, out);
    if (!keys.str().empty()) out << "\n[" << section << "]\n" << keys.str();
  }
  return out.str();
}

}  // namespace meshos::apps
