// TokenLedger: the single-use link tokens already spent, persisted so that a restart does not
// make a spent token good again. Entries go once their token has expired anyway.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "core/base/result.h"

namespace strait::controlplane {

class TokenLedger {
 public:
  // Empty path: memory only. A corrupt file is an error, never silently emptied.
  static Result<std::unique_ptr<TokenLedger>> open(std::filesystem::path path);

  // Marks the token spent. Error reused_token if it already was.
  Result<void> spend(const std::string& token_id, std::chrono::system_clock::time_point expires);

 private:
  explicit TokenLedger(std::filesystem::path path) : path_(std::move(path)) {}
  Result<void> save_locked();

  std::filesystem::path path_;
  std::mutex mu_;
  std::map<std::string, std::int64_t> spent_;  // token id -> expiry (unix seconds)
};

}  // namespace strait::controlplane
