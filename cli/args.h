// Args: straitctl's command line — a verb path, positional words, and flags in the forms
// --name value, --name=value, -n value; a flag's known names decide which take values.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/base/result.h"

namespace strait::cli {

class Args {
 public:
  // `valued`: flags that take a value (long names without dashes; short ones as "-n").
  // `aliases`: short to long ("n" -> "namespace").
  static Result<Args> parse(const std::vector<std::string>& argv,
                            const std::set<std::string>& valued,
                            const std::set<std::string>& booleans,
                            const std::map<std::string, std::string>& aliases);

  std::optional<std::string> get(const std::string& name) const;
  std::string get_or(const std::string& name, const std::string& def) const;
  bool has(const std::string& name) const { return flags_.contains(name); }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace strait::cli
