// Reading Prometheus text exposition in tests: the sum of a metric's samples whose labels
// include the given ones.
#pragma once

#include <map>
#include <string>

namespace strait::testing {

// Sum of the samples of `name` whose labels include all of `labels` (other labels are free);
// -1 when no sample matches.
double metric_sum(const std::string& exposition, const std::string& name,
                  const std::map<std::string, std::string>& labels = {});

}  // namespace strait::testing
