// Formatting for people.
#include "cli/format.h"

#include <cstdio>
#include <ctime>

namespace strait::cli {

std::string format_time(std::int64_t unix_seconds) {
  std::time_t t = unix_seconds;
  std::tm tm{};
  ::gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string format_time(std::chrono::system_clock::time_point t) {
  return format_time(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

std::string format_ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, ms < 10 ? "%.1fms" : "%.0fms", ms);
  return buf;
}

std::string human_duration(std::chrono::seconds d) {
  if (d.count() < 0) return "-" + human_duration(-d);
  struct Unit {
    const char* name;
    std::int64_t seconds;
  };
  static constexpr Unit units[] = {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}};
  std::int64_t left = d.count();
  std::string out;
  int shown = 0;
  for (const auto& u : units) {
    const std::int64_t n = left / u.seconds;
    left %= u.seconds;
    if (n > 0) {
      out += std::to_string(n) + u.name;
      ++shown;
    } else if (shown > 0) {
      break;  // "2d", not "2d0h"
    }
    if (shown == 2) break;
  }
  return out.empty() ? "0s" : out;
}

}  // namespace strait::cli
