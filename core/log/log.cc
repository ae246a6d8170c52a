// logfmt formatting, the process-wide level, component and sink.
#include "core/log/log.h"

#include <algorithm>

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <ctime>
#include <memory>
#include <mutex>

namespace strait::log {
namespace {

std::atomic<int> g_level{static_cast<int>(Level::info)};

// The sink and component change rarely (start-up, tests); a mutex keeps that simple and also
// serialises custom sinks so they see whole lines one at a time.
std::mutex g_mu;
Sink g_sink;              // guarded by g_mu; empty = stderr
std::string g_component;  // guarded by g_mu

void write_stderr(std::string_view line) {
  const char* p = line.data();
  size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(2, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;  // nowhere left to report a logging failure
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
}

bool needs_quotes(std::string_view s) {
  if (s.empty()) return true;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c == 0x7f) return true;
  }
  return false;
}

void append_timestamp(std::string& out, std::int64_t unix_ms) {
  std::time_t secs = static_cast<std::time_t>(unix_ms / 1000);
  int ms = static_cast<int>(unix_ms % 1000);
  if (ms < 0) {
    ms += 1000;
    --secs;
  }
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler imagines, so -Wformat-truncation stays quiet
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  out += buf;
}

}  // namespace

Value::Value(double d) : quote_if_needed_(false) {
  if (std::isnan(d)) {
    text_ = "NaN";
    return;
  }
  if (std::isinf(d)) {
    text_ = d > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
  text_.assign(buf, ec == std::errc() ? end : buf);
}

void set_level(Level level) { g_level.store(static_cast<int>(level), std::memory_order_relaxed); }
Level level() { return static_cast<Level>(g_level.load(std::memory_order_relaxed)); }
bool enabled(Level l) { return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed); }

Result<Level> parse_level(std::string_view text) {
  std::string t;
  for (char c : text) t += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (t == "debug") return Level::debug;
  if (t == "info") return Level::info;
  if (t == "warn" || t == "warning") return Level::warn;
  if (t == "error") return Level::error;
  std::string shown;
  append_value(shown, text);
  return make_error("invalid_log_level",
                    "expected a log level (debug, info, warn, error), got " + shown);
}

std::string_view level_name(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "unknown";
}

void append_value(std::string& out, std::string_view text) {
  if (!needs_quotes(text)) {
    out += text;
    return;
  }
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

std::string format_line(std::int64_t unix_ms, Level level, std::string_view component,
                        std::string_view msg, Fields fields) {
  std::string out;
  out.reserve(96 + msg.size() + fields.size() * 24);
  out += "ts=";
  append_timestamp(out, unix_ms);
  out += " level=";
  out += level_name(level);
  if (!component.empty()) {
    out += " component=";
    append_value(out, component);
  }
  // msg is always quoted so that lines read the same whatever the message.
  out += " msg=";
  if (needs_quotes(msg)) {
    append_value(out, msg);
  } else {
    out += '"';
    out += msg;
    out += '"';
  }
  for (const Field& f : fields) {
    out += ' ';
    out += f.key.empty() ? std::string_view("_") : f.key;
    out += '=';
    if (f.value.quote_if_needed()) {
      append_value(out, f.value.text());
    } else {
      out += f.value.text();
    }
  }
  out += '\n';
  return out;
}

void set_sink(Sink sink) {
  std::lock_guard lock(g_mu);
  g_sink = std::move(sink);
}

void set_component(std::string component) {
  std::lock_guard lock(g_mu);
  g_component = std::move(component);
}

void write(Level l, std::string_view component, std::string_view msg, Fields fields) {
  if (!enabled(l)) return;
  auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                 std::chrono::system_clock::now().time_since_epoch())
                 .count();
  std::string line = format_line(now, l, component, msg, fields);
  std::lock_guard lock(g_mu);
  if (g_sink) {
    g_sink(line);
  } else {
    write_stderr(line);
  }
}

namespace {
void write_default(Level l, std::string_view msg, Fields fields) {
  if (!enabled(l)) return;
  std::string component;
  {
    std::lock_guard lock(g_mu);
    component = g_component;
  }
  write(l, component, msg, fields);
}
}  // namespace

void debug(std::string_view msg, Fields fields) { write_default(Level::debug, msg, fields); }
void info(std::string_view msg, Fields fields) { write_default(Level::info, msg, fields); }
void warn(std::string_view msg, Fields fields) { write_default(Level::warn, msg, fields); }
void error(std::string_view msg, Fields fields) { write_default(Level::error, msg, fields); }

bool RateLimit::allow(std::string_view key, std::uint64_t* dropped) {
  std::lock_guard lock(mu_);
  const auto now = std::chrono::steady_clock::now();
  auto it = keys_.find(key);
  if (it == keys_.end()) it = keys_.emplace(std::string(key), State{burst_, now, 0}).first;
  State& s = it->second;
  s.tokens = std::min(
      burst_, s.tokens + per_second_ * std::chrono::duration<double>(now - s.refilled).count());
  s.refilled = now;
  if (s.tokens < 1) {
    ++s.dropped;
    return false;
  }
  s.tokens -= 1;
  *dropped = std::exchange(s.dropped, 0);
  return true;
}

}  // namespace strait::log
