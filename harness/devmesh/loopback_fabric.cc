// The loopback fabric: pods are addresses 127.0.<cluster>.<n> on this host; processes are
// recorded (pid and start time, so a reused pid is never mistaken for ours) and saved through
// the `changed` callback, so that another process can stop them.
#include <signal.h>

#include <algorithm>
#include <boost/json.hpp>
#include <thread>

#include "harness/devmesh/fabric.h"

namespace strait::devmesh {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

struct Record {
  pid_t pid = 0;
  unsigned long long start_time = 0;
  std::string ref;
};

class LoopbackFabric : public Fabric {
 public:
  explicit LoopbackFabric(std::function<void()> changed) : changed_(std::move(changed)) {}

  std::string kind() const override { return "loopback"; }
  bool isolated() const override { return false; }
  std::string run_id() const override { return ""; }

  Result<harness::ClusterInfo> add_cluster(const std::string& name) override {
    for (const auto& c : clusters_) {
      if (c.name == name) return make_error("exists", "cluster " + name + " exists");
    }
    const int i = static_cast<int>(clusters_.size()) + 1;
    if (i > 15) return make_error("too_many", "at most 15 clusters on loopback");
    harness::ClusterInfo c;
    c.name = name;
    c.index = i;
    c.pod_cidr = "127.0." + std::to_string(i) + ".0/24";
    c.router_ip = "127.0." + std::to_string(i) + ".1";
    c.wan_ip = c.router_ip;
    // The same virtual-IP blocks as the netns fabric: only keys for destination lookups here.
    c.service_cidr = "198.19." + std::to_string(16 * (i - 1)) + ".0/20";
    clusters_.push_back(c);
    return c;
  }

  Result<harness::PodInfo> add_pod(const std::string& cluster, const std::string& pod,
                                   bool) override {
    const harness::ClusterInfo* c = nullptr;
    for (const auto& x : clusters_) {
      if (x.name == cluster) c = &x;
    }
    if (!c) return make_error("no_cluster", "no cluster " + cluster);
    const std::string prefix = "127.0." + std::to_string(c->index) + ".";
    int host = 10;  // the lowest address no pod holds
    while (std::any_of(pods_.begin(), pods_.end(), [&](const harness::PodInfo& p) {
      return p.ip == prefix + std::to_string(host);
    })) {
      ++host;
    }
    if (host > 250) return make_error("too_many", "cluster " + cluster + " is full");
    harness::PodInfo p;
    p.cluster = cluster;
    p.name = pod;
    p.ip = "127.0." + std::to_string(c->index) + "." + std::to_string(host);
    p.wan_ip = p.ip;  // everything is reachable on loopback
    pods_.push_back(p);
    return p;
  }

  Result<std::string> netns_of(const std::string& ref) const override {
    if (ref == "wan") return std::string();
    for (const auto& p : pods_) {
      if (p.ref() == ref) return std::string();
    }
    for (const auto& c : clusters_) {
      if (c.name == ref) return std::string();
    }
    return make_error("no_pod", "no pod " + ref + " in the mesh");
  }

  Result<harness::Process> spawn(const std::string& ref, const std::vector<std::string>& argv,
                                 const harness::SpawnOptions& options) override {
    if (auto ns = netns_of(ref); !ns) return ns.error();
    auto p = harness::spawn_in("", argv, options);
    if (!p) return p.error();
    records_.push_back({p->pid(), harness::process_start_time(p->pid()), ref});
    if (changed_) changed_();
    return p;
  }

  std::vector<pid_t> pids(const std::string& ref) const override {
    std::vector<pid_t> out;
    for (const auto& r : records_) {
      if (r.ref == ref && harness::same_process_alive(r.pid, r.start_time)) out.push_back(r.pid);
    }
    return out;
  }

  harness::Harness* harness() override { return nullptr; }

  Result<void> remove_pod(const std::string& ref) override {
    auto it = std::find_if(pods_.begin(), pods_.end(),
                           [&](const harness::PodInfo& p) { return p.ref() == ref; });
    if (it == pods_.end()) return make_error("no_pod", "no pod " + ref + " in the mesh");
    std::vector<Record> mine;
    for (const auto& r : records_) {
      if (r.ref == ref) mine.push_back(r);
    }
    auto stopped = stop(mine);
    if (!stopped) return stopped;
    std::erase_if(records_, [&](const Record& r) { return r.ref == ref; });
    pods_.erase(it);
    if (changed_) changed_();
    return {};
  }

  Result<void> teardown() override {
    auto r = stop(records_);
    if (r) records_.clear();
    return r;
  }

  json::value to_json() const override {
    json::array clusters, pods, records;
    for (const auto& c : clusters_) {
      clusters.push_back(json::object{{"name", c.name},
                                      {"index", c.index},
                                      {"podCidr", c.pod_cidr},
                                      {"serviceCidr", c.service_cidr}});
    }
    for (const auto& p : pods_) {
      pods.push_back(json::object{{"cluster", p.cluster}, {"name", p.name}, {"ip", p.ip}});
    }
    for (const auto& r : records_) {
      records.push_back(json::object{{"pid", r.pid}, {"startTime", r.start_time}, {"ref", r.ref}});
    }
    return json::object{{"kind", "loopback"},
                        {"clusters", std::move(clusters)},
                        {"pods", std::move(pods)},
                        {"processes", std::move(records)}};
  }

  // From to_json().
  Result<void> load(const json::value& v) {
    if (!v.is_object()) return make_error("bad_state", "the loopback fabric is not an object");
    const auto& o = v.get_object();
    auto arr = [&](const char* key) -> const json::array* {
      auto it = o.find(key);
      return it != o.end() && it->value().is_array() ? &it->value().get_array() : nullptr;
    };
    auto str = [](const json::object& x, const char* key) {
      auto it = x.find(key);
      return it != x.end() && it->value().is_string() ? std::string(it->value().get_string())
                                                      : std::string();
    };
    auto num = [](const json::object& x, const char* key) -> std::uint64_t {
      auto it = x.find(key);
      if (it == x.end()) return 0;
      if (it->value().is_uint64()) return it->value().get_uint64();
      return it->value().is_int64() ? static_cast<std::uint64_t>(it->value().get_int64()) : 0;
    };
    if (const auto* a = arr("clusters")) {
      for (const auto& e : *a) {
        if (!e.is_object()) continue;
        harness::ClusterInfo c;
        c.name = str(e.get_object(), "name");
        c.index = static_cast<int>(num(e.get_object(), "index"));
        c.pod_cidr = str(e.get_object(), "podCidr");
        c.service_cidr = str(e.get_object(), "serviceCidr");
        c.router_ip = c.wan_ip = "127.0." + std::to_string(c.index) + ".1";
        clusters_.push_back(c);
      }
    }
    if (const auto* a = arr("pods")) {
      for (const auto& e : *a) {
        if (!e.is_object()) continue;
        harness::PodInfo p;
        p.cluster = str(e.get_object(), "cluster");
        p.name = str(e.get_object(), "name");
        p.ip = p.wan_ip = str(e.get_object(), "ip");
        pods_.push_back(p);
      }
    }
    if (const auto* a = arr("processes")) {
      for (const auto& e : *a) {
        if (!e.is_object()) continue;
        records_.push_back({static_cast<pid_t>(num(e.get_object(), "pid")),
                            num(e.get_object(), "startTime"), str(e.get_object(), "ref")});
      }
    }
    return {};
  }

 private:
  // SIGTERM to each live one's process group, SIGKILL to what is left after a grace period.
  static Result<void> stop(const std::vector<Record>& records) {
    std::vector<Record> alive;
    for (const auto& r : records) {
      if (harness::same_process_alive(r.pid, r.start_time)) alive.push_back(r);
    }
    for (const auto& r : alive) ::kill(-r.pid, SIGTERM);  // each leads its own group
    auto done = [&] {
      for (const auto& r : alive) {
        if (harness::same_process_alive(r.pid, r.start_time)) return false;
      }
      return true;
    };
    (void)harness::wait_until(done, harness::deadline_in(3s));
    for (const auto& r : alive) {
      if (harness::same_process_alive(r.pid, r.start_time)) ::kill(-r.pid, SIGKILL);
    }
    (void)harness::wait_until(done, harness::deadline_in(3s));
    if (!done()) return make_error("teardown_incomplete", "processes survived SIGKILL");
    return {};
  }

  std::function<void()> changed_;
  std::vector<harness::ClusterInfo> clusters_;
  std::vector<harness::PodInfo> pods_;
  std::vector<Record> records_;
};

}  // namespace

std::unique_ptr<Fabric> make_loopback_fabric(std::function<void()> changed) {
  return std::make_unique<LoopbackFabric>(std::move(changed));
}

Result<std::unique_ptr<Fabric>> attach_loopback_fabric(const json::value& description,
                                                       std::function<void()> changed) {
  auto f = std::make_unique<LoopbackFabric>(std::move(changed));
  if (auto r = f->load(description); !r) return r.error();
  return std::unique_ptr<Fabric>(std::move(f));
}

}  // namespace strait::devmesh
