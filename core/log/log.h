// Structured logging: one logfmt line per event on stderr,
//   ts=2026-11-26T06:00:00.123Z level=info component=proxy msg="..." key=value key2="quoted value"
// The process-wide level and the output sink live here; a Logger only adds its component name.
#pragma once

#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <mutex>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace strait::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

// The process-wide minimum level (default info). Cheap to read from any thread.
void set_level(Level level);
Level level();
bool enabled(Level level);

// "debug" | "info" | "warn" | "warning" | "error" (case-insensitive).
Result<Level> parse_level(std::string_view text);
std::string_view level_name(Level level);

// The value of one field: text (quoted when it needs it) or a number/bool (never quoted).
class Value {
 public:
  Value(std::string_view s)
      : text_(s), quote_if_needed_(true) {}  // NOLINT(google-explicit-constructor)
  Value(const std::string& s) : text_(s), quote_if_needed_(true) {}        // NOLINT
  Value(const char* s) : text_(s ? s : ""), quote_if_needed_(true) {}      // NOLINT
  Value(bool b) : text_(b ? "true" : "false"), quote_if_needed_(false) {}  // NOLINT
  template <std::integral T>
  requires(!std::same_as<T, bool> && !std::same_as<T, char>) Value(T n)
      : text_(std::to_string(n)), quote_if_needed_(false) {}  // NOLINT
  Value(double d);                                            // NOLINT(google-explicit-constructor)
  Value(float f) : Value(static_cast<double>(f)) {}           // NOLINT

  const std::string& text() const { return text_; }
  bool quote_if_needed() const { return quote_if_needed_; }

 private:
  std::string text_;
  bool quote_if_needed_;
};

struct Field {
  std::string_view key;  // a literal at the call site; rendered as is
  Value value;
};
using Fields = std::initializer_list<Field>;

// Appends `text` to `out` as a logfmt value: bare when it is a plain token, otherwise in double
// quotes with \" \\ \n \r \t and \u00XX escapes. Empty text becomes "".
void append_value(std::string& out, std::string_view text);

// One complete line (with the trailing newline), without touching the level or the sink.
// `component` is omitted when empty; `unix_ms` is milliseconds since the epoch.
std::string format_line(std::int64_t unix_ms, Level level, std::string_view component,
                        std::string_view msg, Fields fields);

// Where lines go. The default writes each line to fd 2 with a single write(2), so lines from
// several threads or processes sharing stderr never interleave. Tests install a capture sink.
using Sink = std::function<void(std::string_view line)>;
void set_sink(Sink sink);  // an empty Sink restores stderr

// Free functions log under the process component (set once by main, e.g. "proxy"; empty omits it).
void set_component(std::string component);

void write(Level level, std::string_view component, std::string_view msg, Fields fields);
void debug(std::string_view msg, Fields fields = {});
void info(std::string_view msg, Fields fields = {});
void warn(std::string_view msg, Fields fields = {});
void error(std::string_view msg, Fields fields = {});

// A logger bound to one component name ("admin", "identity", ...). Cheap to copy.
class Logger {
 public:
  explicit Logger(std::string component) : component_(std::move(component)) {}

  const std::string& component() const { return component_; }
  void debug(std::string_view msg, Fields fields = {}) const {
    write(Level::debug, component_, msg, fields);
  }
  void info(std::string_view msg, Fields fields = {}) const {
    write(Level::info, component_, msg, fields);
  }
  void warn(std::string_view msg, Fields fields = {}) const {
    write(Level::warn, component_, msg, fields);
  }
  void error(std::string_view msg, Fields fields = {}) const {
    write(Level::error, component_, msg, fields);
  }

 private:
  std::string component_;
};

// Keeps lines caused by untrusted traffic (refusals) from flooding the log: per key (a refusal
// reason), a token bucket of `burst` lines refilled at `per_second`; the next line allowed after
// some were dropped says how many. Counting stays the metrics' job. Thread-safe.
class RateLimit {
 public:
  explicit RateLimit(double burst = 20, double per_second = 5)
      : burst_(burst), per_second_(per_second) {}
  // True when a line for `key` may be written now; *dropped gets how many were not since the
  // last one that was.
  bool allow(std::string_view key, std::uint64_t* dropped);

 private:
  struct State {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled{};
    std::uint64_t dropped = 0;
  };
  const double burst_, per_second_;
  std::mutex mu_;
  std::map<std::string, State, std::less<>> keys_;
};

}  // namespace strait::log
