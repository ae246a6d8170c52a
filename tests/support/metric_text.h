// Reading Prometheus text exposition in tests: the sum of a metric's samples whose labels
// include the given ones; checking an exposition with promtool.
#pragma once

#include <map>
#include <string>

namespace strait::testing {

// Sum of the samples of `name` whose labels include all of `labels` (other labels are free);
// -1 when no sample matches.
double metric_sum(const std::string& exposition, const std::string& name,
                  const std::map<std::string, std::string>& labels = {});

// A shell command (for `sh -c`) that fetches `url` with curl and runs `promtool check metrics` on
// it; it fails when the fetch fails or promtool reports anything but the one finding we keep on
// purpose: response_latency_ms "should not contain abbreviated units" (the reference proxy's
// name, which its dashboards query). promtool's findings are the command's output.
std::string promtool_check_command(const std::string& url);

}  // namespace strait::testing
