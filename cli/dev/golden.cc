// Golden metrics from Prometheus text (see golden.h).
#include "cli/dev/golden.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace strait::cli::dev {
namespace {

bool number(std::string_view s, double& v) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  return ec == std::errc() && p == s.data() + s.size() && !std::isnan(v);
}

// `name{a="b",...} value` -> name, labels, value; false for comments and what does not parse.
bool parse_sample(std::string_view line, std::string& name,
                  std::map<std::string, std::string>& labels, double& value) {
  labels.clear();
  if (line.empty() || line[0] == '#') return false;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  name = std::string(line.substr(0, i));
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      auto eq = line.find('=', i);
      if (eq == std::string_view::npos || eq + 1 >= line.size() || line[eq + 1] != '"')
        return false;
      std::string key(line.substr(i, eq - i));
      std::string v;
      std::size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) {
          ++j;
          v += line[j] == 'n' ? '\n' : line[j];
        } else {
          v += line[j];
        }
      }
      if (j >= line.size()) return false;
      labels[key] = v;
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return false;
    ++i;  // '}'
  }
  while (i < line.size() && line[i] == ' ') ++i;
  std::string_view rest = line.substr(i);
  rest = rest.substr(0, rest.find(' '));  // an optional timestamp follows
  if (rest == "+Inf") {
    value = std::numeric_limits<double>::infinity();
    return true;
  }
  return number(rest, value);
}

double bound(const std::string& le) {
  if (le == "+Inf") return std::numeric_limits<double>::infinity();
  double v = 0;
  return number(le, v) ? v : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

std::map<std::string, ServiceTraffic> outbound_traffic(std::string_view text) {
  std::map<std::string, ServiceTraffic> out;
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
  std::size_t at = 0;
  while (at < text.size()) {
    auto nl = text.find('\n', at);
    std::string_view line =
        text.substr(at, nl == std::string_view::npos ? text.size() - at : nl - at);
    at = nl == std::string_view::npos ? text.size() : nl + 1;
    if (!parse_sample(line, name, labels, value)) continue;
    if (labels["direction"] != "outbound" || labels["dst_service"].empty()) continue;
    auto& t = out[labels["dst_service"]];
    if (name == "response_total") {
      t.responses += value;
      if (labels["classification"] == "success") t.successes += value;
    } else if (name == "response_latency_ms_bucket") {
      double b = bound(labels["le"]);
      if (!std::isnan(b)) t.buckets[b] += value;
    }
  }
  return out;
}

double histogram_quantile(const std::map<double, double>& buckets, double q) {
  if (buckets.empty()) return -1;
  const double total = buckets.rbegin()->second;
  if (total <= 0) return -1;
  const double rank = q * total;
  double prev_bound = 0, prev_count = 0;
  for (const auto& [b, count] : buckets) {
    if (count >= rank) {
      if (std::isinf(b)) return prev_bound;  // above the last finite bucket: its bound
      if (count == prev_count) return b;
      return prev_bound + (b - prev_bound) * (rank - prev_count) / (count - prev_count);
    }
    prev_bound = b;
    prev_count = count;
  }
  return prev_bound;
}

}  // namespace strait::cli::dev
