// FakeStore: an in-memory LocalStore for unit tests, with failures to inject and a log of
// writes, so tests can check what the handlers wrote and how often.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "link/local_store.h"

namespace strait::link::testing {

// The Link to cluster east the link tests use: one gateway at `gateway_address`, gateway-mode
// selector only.
inline discovery::Link east_test_link(const std::string& gateway_address = "198.18.0.10") {
  discovery::Link l;
  l.meta.ns = "strait-multicluster";
  l.meta.name = "east";
  l.target_cluster = "east";
  l.target_domain = "east.local";
  l.target_trust_domain = "east.strait";
  l.gateway_addresses = {gateway_address};
  l.gateway_identity = "spiffe://east.strait/ns/strait-multicluster/sa/strait-gateway";
  l.selector = {{"mirror.strait.dev/exported", "true"}};
  return l;
}

class FakeStore final : public LocalStore {
 public:
  Result<void> apply(const std::vector<discovery::Object>& objects) override {
    if (auto e = take_failure()) return *e;
    for (const auto& o : objects) {
      auto& stored = objects_[discovery::key_of(o)];
      std::string kept_ip;  // a re-applied Service keeps its address, as in the real store
      if (auto* old = std::get_if<discovery::Service>(&stored)) kept_ip = old->cluster_ip;
      stored = o;
      auto* s = std::get_if<discovery::Service>(&stored);
      if (allocate_virtual_ips && s && s->cluster_ip.empty()) {
        s->cluster_ip = !kept_ip.empty() ? kept_ip : "10.96.0." + std::to_string(++allocated_);
      }
      ++applies;
    }
    return {};
  }
  Result<void> remove(const discovery::ObjectKey& key) override {
    if (auto e = take_failure()) return *e;
    if (objects_.erase(key)) ++removes;
    return {};
  }
  Result<std::vector<discovery::Object>> list(discovery::Kind kind,
                                              const std::string& ns) override {
    if (auto e = take_failure()) return *e;
    std::vector<discovery::Object> out;
    for (const auto& [k, o] : objects_) {
      if (k.kind == kind && (ns.empty() || k.ns == ns)) out.push_back(o);
    }
    return out;
  }

  // Services applied without a virtual IP get one, as from the real store's allocator.
  bool allocate_virtual_ips = false;

  // The next `n` calls fail with `error`.
  void fail_next(int n, Error error) {
    for (int i = 0; i < n; ++i) failures_.push_back(error);
  }
  void put(discovery::Object o) { objects_[discovery::key_of(o)] = std::move(o); }
  // A local (not mirrored) Service, so that its namespace exists for the mirrors' status.
  void put_local_service(const std::string& ns, const std::string& name) {
    discovery::Service local;
    local.meta.ns = ns;
    local.meta.name = name;
    put(local);
  }
  const discovery::Object* find(discovery::Kind kind, const std::string& ns,
                                const std::string& name) const {
    auto it = objects_.find({kind, ns, name});
    return it == objects_.end() ? nullptr : &it->second;
  }
  const discovery::Service* service(const std::string& ns, const std::string& name) const {
    auto* o = find(discovery::Kind::kService, ns, name);
    return o ? &std::get<discovery::Service>(*o) : nullptr;
  }
  // Endpoints backing `service`, by name.
  std::map<std::string, discovery::Endpoint> endpoints_of(const std::string& ns,
                                                          const std::string& service) const {
    std::map<std::string, discovery::Endpoint> out;
    for (const auto& [k, o] : objects_) {
      if (k.kind != discovery::Kind::kEndpoint || k.ns != ns) continue;
      const auto& e = std::get<discovery::Endpoint>(o);
      if (e.service == service) out[k.name] = e;
    }
    return out;
  }
  std::size_t count_owned_by(const std::string& owner) const {
    std::size_t n = 0;
    for (const auto& [k, o] : objects_) n += discovery::meta_of(o).owner == owner ? 1 : 0;
    return n;
  }
  std::size_t size() const { return objects_.size(); }

  int applies = 0;
  int removes = 0;

 private:
  std::optional<Error> take_failure() {
    if (failures_.empty()) return std::nullopt;
    Error e = failures_.front();
    failures_.pop_front();
    return e;
  }
  std::map<discovery::ObjectKey, discovery::Object> objects_;
  std::deque<Error> failures_;
  int allocated_ = 0;
};

}  // namespace strait::link::testing
