// How straitctl writes times, durations and latencies for people.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace strait::cli {

// "2025-11-02T10:00:00Z".
std::string format_time(std::int64_t unix_seconds);
std::string format_time(std::chrono::system_clock::time_point t);
// "1.3ms" below 10 ms, "42ms" above.
std::string format_ms(double ms);
// "2d3h", "23h59m", "42m", "17s": the two largest units, truncated.
std::string human_duration(std::chrono::seconds d);

}  // namespace strait::cli
