// Args: parsing straitctl's flags.
#include "cli/args.h"

namespace strait::cli {

Result<Args> Args::parse(const std::vector<std::string>& argv, const std::set<std::string>& valued,
                         const std::set<std::string>& booleans,
                         const std::map<std::string, std::string>& aliases) {
  Args out;
  for (std::size_t i = 0; i < argv.size(); ++i) {
    const std::string& a = argv[i];
    if (a == "--") {
      out.positional_.insert(out.positional_.end(), argv.begin() + static_cast<long>(i) + 1,
                             argv.end());
      break;
    }
    if (a.size() < 2 || a[0] != '-' || a == "-") {
      out.positional_.push_back(a);
      continue;
    }
    std::string name = a.substr(a[1] == '-' ? 2 : 1);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (auto al = aliases.find(name); al != aliases.end()) name = al->second;
    if (booleans.contains(name)) {
      out.flags_[name] = value.value_or("true");
      continue;
    }
    if (!valued.contains(name)) {
      return make_error("unknown_flag", "unknown flag " + a);
    }
    if (!value) {
      if (i + 1 >= argv.size()) return make_error("missing_value", "flag " + a + " needs a value");
      value = argv[++i];
    }
    out.flags_[name] = *value;
  }
  return out;
}

std::optional<std::string> Args::get(const std::string& name) const {
  auto it = flags_.find(name);
  if (it == flags_.end()) return std::nullopt;
  return it->second;
}

std::string Args::get_or(const std::string& name, const std::string& def) const {
  return get(name).value_or(def);
}

}  // namespace strait::cli
