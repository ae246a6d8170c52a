// Helpers shared by the embedded store's tests: temp directories, objects, event collection.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <string>
#include <vector>

#include "core/discovery/model.h"
#include "core/discovery/store.h"

namespace strait::store::testing {

// A fresh directory under $TMPDIR, removed with everything in it at scope exit.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "strait-store-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline discovery::Service service(const std::string& ns, const std::string& name,
                                  std::uint16_t port = 80, const std::string& owner = "") {
  discovery::Service s;
  s.meta.cluster = "west";
  s.meta.ns = ns;
  s.meta.name = name;
  s.meta.owner = owner;
  s.ports = {{"http", port, 0, discovery::ProtocolHint::kHttp1}};
  return s;
}

inline discovery::Endpoint endpoint(const std::string& ns, const std::string& name,
                                    const std::string& owner = "") {
  discovery::Endpoint e;
  e.meta.cluster = "west";
  e.meta.ns = ns;
  e.meta.name = name;
  e.meta.owner = owner;
  e.service = "web";
  e.address = "10.0.0.1";
  e.port = 8080;
  return e;
}

struct Seen {
  discovery::Event::Type type;
  discovery::ObjectKey key;
  std::uint64_t version;
  bool operator==(const Seen&) const = default;
};

class Collector {
 public:
  std::function<void(const discovery::Event&)> callback() {
    return [this](const discovery::Event& e) {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(
          Seen{e.type, discovery::key_of(e.object), discovery::meta_of(e.object).version});
      cv_.notify_all();
    };
  }
  bool wait_for(std::size_t n, std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return seen_.size() >= n; });
  }
  std::vector<Seen> seen() {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Seen> seen_;
};

}  // namespace strait::store::testing
