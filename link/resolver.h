// Gateway names to addresses: every A and AAAA record of a name (c-ares), IP literals as they
// are. Blocking with a deadline; strait-link calls it at start and on each repair.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "core/base/result.h"

namespace strait::link {

// Errors: resolve_failed (the message names the name and c-ares' reason), resolve_timeout.
Result<std::vector<std::string>> resolve_all(const std::string& name,
                                             std::chrono::milliseconds timeout);

// Every address of every name, in order, without duplicates; names that fail are skipped
// (and reported in `errors`, if given).
std::vector<std::string> resolve_gateways(const std::vector<std::string>& names,
                                          std::chrono::milliseconds timeout,
                                          std::vector<Error>* errors = nullptr);

}  // namespace strait::link
