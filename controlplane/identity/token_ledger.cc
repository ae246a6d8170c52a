// TokenLedger: a small JSON file, rewritten atomically on every spend.
#include "controlplane/identity/token_ledger.h"

#include <boost/json.hpp>

#include "controlplane/server/state_files.h"

namespace strait::controlplane {
namespace fs = std::filesystem;

namespace {
std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Result<std::unique_ptr<TokenLedger>> TokenLedger::open(fs::path path) {
  std::unique_ptr<TokenLedger> l(new TokenLedger(path));
  if (path.empty() || !fs::exists(path)) return l;
  auto text = read_file(path);
  if (!text) return text.error();
  boost::system::error_code ec;
  auto json = boost::json::parse(*text, ec);
  if (ec || !json.is_object()) {
    return make_error("corrupt_state", path.string() +
                                           ": not a JSON object; refusing to forget "
                                           "which link tokens were spent");
  }
  for (const auto& [k, v] : json.as_object()) {
    if (!v.is_int64())
      return make_error("corrupt_state", path.string() + ": bad entry " + std::string(k));
    l->spent_[std::string(k)] = v.as_int64();
  }
  return l;
}

Result<void> TokenLedger::save_locked() {
  if (path_.empty()) return {};
  boost::json::object o;
  for (const auto& [k, v] : spent_) o[k] = v;
  return write_file_atomic(path_, boost::json::serialize(o),
                           fs::perms::owner_read | fs::perms::owner_write);
}

Result<void> TokenLedger::spend(const std::string& id,
                                std::chrono::system_clock::time_point expires) {
  std::lock_guard lock(mu_);
  const auto now = unix_now();
  std::erase_if(spent_, [now](const auto& e) { return e.second < now; });
  if (spent_.contains(id)) return make_error("reused_token", "this link token was already used");
  spent_[id] = std::chrono::duration_cast<std::chrono::seconds>(expires.time_since_epoch()).count();
  if (auto r = save_locked(); !r) {
    spent_.erase(id);  // not recorded: refuse rather than risk a second use after a restart
    return r;
  }
  return {};
}

}  // namespace strait::controlplane
