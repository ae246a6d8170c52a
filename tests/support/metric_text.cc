// metric_sum: a small parser of the text exposition format (labels with escapes).
#include "tests/support/metric_text.h"

#include <cstdlib>
#include <sstream>

namespace strait::testing {

double metric_sum(const std::string& text, const std::string& name,
                  const std::map<std::string, std::string>& want) {
  double sum = 0;
  bool found = false;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    auto end = line.find_first_of("{ ");
    if (end == std::string::npos || line.compare(0, end, name) != 0 || end != name.size()) continue;
    std::map<std::string, std::string> labels;
    std::size_t at = end;
    if (line[at] == '{') {
      ++at;
      while (at < line.size() && line[at] != '}') {
        auto eq = line.find('=', at);
        if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') break;
        std::string key = line.substr(at, eq - at);
        std::string value;
        std::size_t i = eq + 2;
        for (; i < line.size() && line[i] != '"'; ++i) {
          if (line[i] == '\\' && i + 1 < line.size()) {
            ++i;
            value += line[i] == 'n' ? '\n' : line[i];
          } else {
            value += line[i];
          }
        }
        labels[key] = value;
        at = i + 1;
        if (at < line.size() && line[at] == ',') ++at;
      }
      at = line.find(' ', at);
      if (at == std::string::npos) continue;
    }
    bool match = true;
    for (const auto& [k, v] : want) {
      auto it = labels.find(k);
      if (it == labels.end() || it->second != v) match = false;
    }
    if (!match) continue;
    found = true;
    sum += std::strtod(line.c_str() + at + 1, nullptr);
  }
  return found ? sum : -1;
}

std::string promtool_check_command(const std::string& url) {
  return "m=$(curl -sSf --max-time 5 '" + url +
         "') || exit 9; printf '%s\\n' \"$m\" | promtool check metrics 2>&1 | "
         "grep -v '^response_latency_ms metric names should not contain abbreviated units$' | "
         "(! grep .)";
}

}  // namespace strait::testing
