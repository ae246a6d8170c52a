// YAML loading, flag overlay and typed, path-naming getters for Config.
#include "core/config/config.h"

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace strait::config {
namespace {

using std::chrono::milliseconds;

std::vector<std::string> split_path(std::string_view path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    out.emplace_back(
        path.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return out;
}

bool valid_path(std::string_view path) {
  if (path.empty()) return false;
  for (const auto& seg : split_path(path)) {
    if (seg.empty()) return false;
    for (char c : seg) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
      if (!ok) return false;
    }
  }
  return true;
}

std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  out += '"';
  return out;
}

std::string describe(const YAML::Node& n) {
  switch (n.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return quoted(n.Scalar());
    default:
      return "nothing";
  }
}

Error invalid(std::string_view path, std::string_view expected, const YAML::Node& got) {
  return make_error("config_invalid", std::string(path) + ": expected " + std::string(expected) +
                                          ", got " + describe(got));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

struct ParsedArgs {
  std::vector<std::pair<std::string, std::string>> flags;  // path, value
  std::vector<std::string> positional;
};

Result<ParsedArgs> parse_args(std::span<const std::string> args) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--") {
      out.positional.insert(out.positional.end(), args.begin() + static_cast<std::ptrdiff_t>(i) + 1,
                            args.end());
      break;
    }
    if (a.rfind("--", 0) != 0) {
      out.positional.push_back(a);
      continue;
    }
    std::string_view body = std::string_view(a).substr(2);
    std::string path, value;
    if (size_t eq = body.find('='); eq != std::string_view::npos) {
      path = std::string(body.substr(0, eq));
      value = std::string(body.substr(eq + 1));
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      path = std::string(body);
      value = args[++i];
    } else {
      path = std::string(body);
      value = "true";
    }
    if (!valid_path(path)) {
      return make_error(
          "config_flag",
          "bad flag " + quoted(a) +
              ": expected --a.b=value with a dotted path of letters, digits, '_' or '-'");
    }
    out.flags.emplace_back(std::move(path), std::move(value));
  }
  return out;
}

}  // namespace

Result<milliseconds> parse_duration(std::string_view text) {
  auto fail = [&] {
    return make_error("config_invalid", "expected a duration like \"24h\", got " + quoted(text));
  };
  std::string_view s = text;
  if (s == "0") return milliseconds(0);
  if (s.empty()) return fail();
  double total_ms = 0;
  while (!s.empty()) {
    size_t n = 0;
    while (n < s.size() && ((s[n] >= '0' && s[n] <= '9') || s[n] == '.')) ++n;
    if (n == 0) return fail();
    double number = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + n, number);
    if (ec != std::errc() || end != s.data() + n) return fail();
    s.remove_prefix(n);
    double unit_ms;
    if (s.starts_with("ms")) {
      unit_ms = 1;
      s.remove_prefix(2);
    } else if (s.starts_with("s")) {
      unit_ms = 1000;
      s.remove_prefix(1);
    } else if (s.starts_with("m")) {
      unit_ms = 60'000;
      s.remove_prefix(1);
    } else if (s.starts_with("h")) {
      unit_ms = 3'600'000;
      s.remove_prefix(1);
    } else
      return fail();
    total_ms += number * unit_ms;
  }
  // ~292 million years of milliseconds fit in int64; far beyond that is a typo.
  if (!std::isfinite(total_ms) || total_ms > 9.0e15) return fail();
  return milliseconds(static_cast<std::int64_t>(std::llround(total_ms)));
}

Config::Config() : root_(YAML::NodeType::Map) {}

Config::Config(const Config& other)
    : root_(YAML::Clone(other.root_)), flags_(other.flags_), positional_(other.positional_) {}

Config& Config::operator=(const Config& other) {
  if (this != &other) {
    root_.reset(
        YAML::Clone(other.root_));  // reset rebinds; operator= would write through the reference
    flags_ = other.flags_;
    positional_ = other.positional_;
  }
  return *this;
}

Config::Config(Config&& other) noexcept
    : root_(other.root_),
      mu_(std::move(other.mu_)),
      flags_(std::move(other.flags_)),
      positional_(std::move(other.positional_)) {}

Config& Config::operator=(Config&& other) noexcept {
  if (this != &other) {
    root_.reset(other.root_);
    mu_ = std::move(other.mu_);
    flags_ = std::move(other.flags_);
    positional_ = std::move(other.positional_);
  }
  return *this;
}

Result<Config> Config::from_yaml(std::string_view text, std::string_view source) {
  Config c;
  YAML::Node doc;
  try {
    doc = YAML::Load(std::string(text));
  } catch (const YAML::Exception& e) {
    std::ostringstream msg;
    msg << source << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": " << e.msg;
    return make_error("config_parse", msg.str());
  }
  if (doc.IsNull() || !doc.IsDefined()) return c;
  if (!doc.IsMap()) {
    return make_error(
        "config_parse",
        std::string(source) + ": expected a map at the top level, got " + describe(doc));
  }
  c.root_.reset(doc);
  return c;
}

Result<Config> Config::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return make_error("config_file", "cannot read " + path + ": " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  return from_yaml(ss.str(), path);
}

Result<Config> Config::from_args(std::span<const std::string> args) {
  auto parsed = parse_args(args);
  if (!parsed) return parsed.error();
  std::vector<std::string> rest;
  std::string file;
  for (auto& [path, value] : parsed->flags) {
    if (path == "config") {
      file = value;
    } else {
      rest.push_back("--" + path + "=" + value);
    }
  }
  rest.emplace_back("--");
  rest.insert(rest.end(), parsed->positional.begin(), parsed->positional.end());

  Config c;
  if (!file.empty()) {
    auto loaded = from_file(file);
    if (!loaded) return loaded.error();
    c = std::move(*loaded);
    c.flags_.emplace_back("config");
  }
  if (auto r = c.apply_flags(rest); !r) return r.error();
  return c;
}

Result<Config> Config::from_argv(int argc, const char* const* argv) {
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) args.emplace_back(argv[i]);
  return from_args(args);
}

Result<void> Config::apply_flags(std::span<const std::string> args) {
  auto parsed = parse_args(args);
  if (!parsed) return parsed.error();
  std::lock_guard lock(*mu_);
  for (auto& [path, value] : parsed->flags) {
    if (auto r = set(path, value); !r) return r;
    flags_.push_back(path);
  }
  positional_.insert(positional_.end(), parsed->positional.begin(), parsed->positional.end());
  return {};
}

Result<void> Config::set(std::string_view path, const std::string& value) {
  auto segs = split_path(path);
  YAML::Node cur(root_);  // shares root_: writes go into the tree
  std::string walked;
  for (size_t i = 0; i + 1 < segs.size(); ++i) {
    walked += (walked.empty() ? "" : ".") + segs[i];
    YAML::Node child = cur[segs[i]];
    if (!child.IsDefined() || child.IsNull()) {
      child = YAML::Node(YAML::NodeType::Map);
    } else if (!child.IsMap()) {
      return make_error("config_flag", "flag --" + std::string(path) + " needs " + walked +
                                           " to be a map, but the configuration has " +
                                           describe(child));
    }
    cur.reset(child);
  }
  cur[segs.back()] = value;
  return {};
}

YAML::Node Config::lookup(std::string_view path) const {
  YAML::Node missing(YAML::NodeType::Undefined);
  if (path.empty()) return root_;
  YAML::Node cur(root_);
  for (const auto& seg : split_path(path)) {
    if (!cur.IsMap()) return missing;
    const YAML::Node& ccur = cur;  // const operator[] never inserts
    YAML::Node next = ccur[seg];
    if (!next.IsDefined()) return missing;
    cur.reset(next);
  }
  return cur;
}

Result<void> Config::check_known(std::span<const std::string_view> known) const {
  std::lock_guard lock(*mu_);
  for (const auto& flag : flags_) {
    if (flag == "config") continue;
    bool ok = false;
    for (auto k : known) {
      if (flag == k || (flag.size() > k.size() && flag.starts_with(k) && flag[k.size()] == '.')) {
        ok = true;
        break;
      }
    }
    if (!ok) {
      std::string list;
      for (auto k : known) list += (list.empty() ? "" : ", ") + std::string("--") + std::string(k);
      return make_error("config_unknown_flag", "unknown flag --" + flag + " (known: " + list + ")");
    }
  }
  return {};
}

bool Config::has(std::string_view path) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  return n.IsDefined() && !n.IsNull();
}

YAML::Node Config::subtree(std::string_view path) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined()) return n;
  return YAML::Clone(n);
}

Result<std::string> Config::get_string(std::string_view path, std::string_view def) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined() || n.IsNull()) return std::string(def);
  if (!n.IsScalar()) return invalid(path, "a string", n);
  return n.Scalar();
}

Result<std::string> Config::require_string(std::string_view path) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined() || n.IsNull() || (n.IsScalar() && n.Scalar().empty())) {
    return make_error("config_missing",
                      std::string(path) +
                          ": required, expected a string, got nothing (set it in the "
                          "config file or with --" +
                          std::string(path) + "=...)");
  }
  if (!n.IsScalar()) return invalid(path, "a string", n);
  return n.Scalar();
}

Result<std::int64_t> Config::get_int(std::string_view path, std::int64_t def) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined() || n.IsNull()) return def;
  if (!n.IsScalar()) return invalid(path, "an integer", n);
  const std::string& s = n.Scalar();
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || end != s.data() + s.size())
    return invalid(path, "an integer", n);
  return v;
}

Result<bool> Config::get_bool(std::string_view path, bool def) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined() || n.IsNull()) return def;
  if (n.IsScalar()) {
    std::string s = lower(n.Scalar());
    if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
    if (s == "false" || s == "no" || s == "off" || s == "0") return false;
  }
  return invalid(path, "true or false", n);
}

Result<milliseconds> Config::get_duration(std::string_view path, milliseconds def) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined() || n.IsNull()) return def;
  if (!n.IsScalar()) return invalid(path, "a duration like \"24h\"", n);
  auto d = parse_duration(n.Scalar());
  if (!d) return invalid(path, "a duration like \"24h\"", n);
  return *d;
}

Result<std::vector<std::string>> Config::get_string_list(std::string_view path,
                                                         std::vector<std::string> def) const {
  std::lock_guard lock(*mu_);
  YAML::Node n = lookup(path);
  if (!n.IsDefined() || n.IsNull()) return def;
  std::vector<std::string> out;
  if (n.IsScalar()) {
    std::string_view s = n.Scalar();
    size_t start = 0;
    while (start <= s.size()) {
      size_t comma = s.find(',', start);
      if (comma == std::string_view::npos) comma = s.size();
      std::string item = trim(s.substr(start, comma - start));
      if (!item.empty()) out.push_back(std::move(item));
      start = comma + 1;
    }
    return out;
  }
  if (!n.IsSequence()) return invalid(path, "a list of strings", n);
  for (size_t i = 0; i < n.size(); ++i) {
    YAML::Node item = n[i];
    if (!item.IsScalar()) {
      return invalid(std::string(path) + "[" + std::to_string(i) + "]", "a string", item);
    }
    out.push_back(item.Scalar());
  }
  return out;
}

}  // namespace strait::config
