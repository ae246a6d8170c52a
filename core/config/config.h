// Config: a binary's configuration, read from a YAML file and overlaid by command-line flags
// `--a.b=value` / `--a.b value` (a dotted path into the YAML). Built once at start-up, then
// read-only: share it as std::shared_ptr<const Config>. Typed getters return Result errors that
// name the full path and what was expected, e.g.
//   identity.certLifetime: expected a duration like "24h", got "abc"
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "core/base/result.h"

namespace strait::config {

class Config {
 public:
  Config();
  // Copies are deep: a YAML::Node is a reference, and a copy must not see later flags of the
  // original.
  Config(const Config& other);
  Config& operator=(const Config& other);
  Config(Config&& other) noexcept;
  Config& operator=(Config&& other) noexcept;

  // Parses YAML text; `source` names it in errors (a file name). An empty document is an empty map.
  static Result<Config> from_yaml(std::string_view text, std::string_view source = "<yaml>");
  static Result<Config> from_file(const std::string& path);

  // The usual start-up path: if the arguments hold --config <file> (or --config=<file>), that file
  // is loaded first; then every other flag is overlaid. `args` excludes argv[0].
  static Result<Config> from_args(std::span<const std::string> args);
  static Result<Config> from_argv(int argc, const char* const* argv);

  // Overlays flags onto the loaded YAML:
  //   --a.b=value   sets a.b
  //   --a.b value   the same, when the next argument does not start with "--"
  //   --a.b         sets a.b to "true" (a bare boolean; use --a.b=false for false)
  //   --            everything after it is positional
  // Anything not starting with "--" is positional. A later flag replaces an earlier one.
  // Values are kept as YAML scalars, so get_int("x") works for both `x: 3` and `--x=3`.
  Result<void> apply_flags(std::span<const std::string> args);

  // Flags that were given, as dotted paths, in order (the --config flag included).
  const std::vector<std::string>& flags() const { return flags_; }
  const std::vector<std::string>& positional() const { return positional_; }

  // Errors if a flag was given that is neither a known path nor under one ("admin" admits
  // --admin.port). Callers that want strict flags call this after from_args.
  Result<void> check_known(std::span<const std::string_view> known) const;
  Result<void> check_known(std::initializer_list<std::string_view> known) const {
    return check_known(std::span<const std::string_view>(known.begin(), known.size()));
  }

  bool has(std::string_view path) const;

  // Missing (or null) paths give the default; present but malformed values give an error.
  Result<std::string> get_string(std::string_view path, std::string_view def = "") const;
  Result<std::int64_t> get_int(std::string_view path, std::int64_t def = 0) const;
  Result<bool> get_bool(std::string_view path, bool def = false) const;
  // "500ms", "3s", "1m", "24h", and sums such as "1h30m"; also "0". Bare numbers are rejected:
  // a unit is required so that nobody guesses whether 30 means seconds or milliseconds.
  Result<std::chrono::milliseconds> get_duration(std::string_view path,
                                                 std::chrono::milliseconds def) const;
  // A YAML sequence of scalars, or a comma-separated scalar (what a flag can carry): "a,b,c".
  Result<std::vector<std::string>> get_string_list(std::string_view path,
                                                   std::vector<std::string> def = {}) const;
  // Like get_string, but a missing or empty value is an error.
  Result<std::string> require_string(std::string_view path) const;

  // A deep copy of the merged tree (or of one subsection; undefined when missing), for a component
  // that parses its own objects.
  YAML::Node subtree(std::string_view path = "") const;

 private:
  Result<void> set(std::string_view path, const std::string& value);
  YAML::Node lookup(std::string_view path) const;  // an undefined node when missing

  YAML::Node root_;
  // yaml-cpp does not promise that concurrent reads are safe, so getters take this lock.
  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
  std::vector<std::string> flags_;
  std::vector<std::string> positional_;
};

// Parses a duration as accepted by Config::get_duration.
Result<std::chrono::milliseconds> parse_duration(std::string_view text);

}  // namespace strait::config
