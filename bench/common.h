// Small pieces shared by the benchmark tools: address parsing, flags, and a latency recorder
// that keeps every sample (runs are bounded in count, so exact percentiles are affordable).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iomanip>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

namespace strait::bench {

using Clock = std::chrono::steady_clock;

[[noreturn]] inline void die(const std::string& tool, const std::string& msg, int code = 2) {
  std::fprintf(stderr, "%s: %s\n", tool.c_str(), msg.c_str());
  std::exit(code);
}

// --key value pairs after the first positional word (the mode).
struct Flags {
  std::string mode;
  std::map<std::string, std::string> values;

  static Flags parse(int argc, char** argv, const std::string& tool) {
    Flags f;
    for (int i = 1; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) == 0) {
        auto eq = a.find('=');
        if (eq != std::string::npos) {
          f.values[a.substr(2, eq - 2)] = a.substr(eq + 1);
        } else if (i + 1 < argc) {
          f.values[a.substr(2)] = argv[++i];
        } else {
          die(tool, "flag " + a + " needs a value");
        }
      } else if (f.mode.empty()) {
        f.mode = a;
      } else {
        die(tool, "unexpected argument " + a);
      }
    }
    return f;
  }
  std::string str(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
  double num(const std::string& k, double def) const {
    auto it = values.find(k);
    return it == values.end() ? def : std::strtod(it->second.c_str(), nullptr);
  }
  bool has(const std::string& k) const { return values.count(k) != 0; }
};

inline boost::asio::ip::tcp::endpoint parse_endpoint(const std::string& s,
                                                     const std::string& tool) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) die(tool, "bad address " + s + " (want IP:PORT)");
  boost::system::error_code ec;
  auto ip = boost::asio::ip::make_address(s.substr(0, colon), ec);
  if (ec) die(tool, "bad address " + s);
  return {ip, static_cast<std::uint16_t>(std::atoi(s.c_str() + colon + 1))};
}

// Exact percentiles over every recorded sample, in microseconds.
class Latencies {
 public:
  void reserve(std::size_t n) { us_.reserve(n); }
  void add(Clock::duration d) {
    us_.push_back(std::chrono::duration<double, std::micro>(d).count());
  }
  std::size_t count() const { return us_.size(); }
  void merge(const Latencies& o) { us_.insert(us_.end(), o.us_.begin(), o.us_.end()); }

  // {"p50":..,"p90":..,"p99":..,"p999":..,"max":..,"mean":..} and a spectrum for plots.
  std::string json() {
    std::sort(us_.begin(), us_.end());
    std::ostringstream o;
    o.precision(1);
    o << std::fixed;
    auto at = [&](double q) {
      if (us_.empty()) return 0.0;
      auto i = static_cast<std::size_t>(q * static_cast<double>(us_.size() - 1) + 0.5);
      return us_[std::min(i, us_.size() - 1)];
    };
    double sum = 0;
    for (double v : us_) sum += v;
    o << "{\"count\":" << us_.size() << ",\"p50\":" << at(0.5) << ",\"p90\":" << at(0.9)
      << ",\"p99\":" << at(0.99) << ",\"p999\":" << at(0.999)
      << ",\"max\":" << (us_.empty() ? 0.0 : us_.back())
      << ",\"mean\":" << (us_.empty() ? 0.0 : sum / static_cast<double>(us_.size()))
      << ",\"spectrum\":[";
    // Percentiles 0, 50, 75, 87.5, ... (halving the rest) up to what the sample count supports.
    bool first = true;
    for (double rest = 1.0; rest * static_cast<double>(us_.size()) >= 1.0 && rest > 1e-6;
         rest /= 2) {
      o << (first ? "" : ",") << "[" << std::setprecision(6) << (1.0 - rest) * 100.0 << ","
        << std::setprecision(1) << at(1.0 - rest) << "]";
      first = false;
    }
    if (!us_.empty()) o << (first ? "" : ",") << "[100.0," << us_.back() << "]";
    o << "]}";
    return o.str();
  }

 private:
  std::vector<double> us_;
};

}  // namespace strait::bench
