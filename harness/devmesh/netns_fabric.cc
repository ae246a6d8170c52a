// The netns fabric: a harness run, created here or attached to by its id.
#include <boost/json.hpp>

#include "harness/devmesh/fabric.h"
#include "harness/netns.h"
#include "harness/state.h"

namespace strait::devmesh {
namespace {

class NetnsFabric : public Fabric {
 public:
  // Created here: the harness object owns the run.
  explicit NetnsFabric(std::unique_ptr<harness::Harness> h)
      : h_(std::move(h)), id_(h_->id()), state_root_() {}
  // Attached: only the run's recorded namespaces.
  NetnsFabric(std::string state_root, harness::RunState run)
      : id_(run.id), state_root_(std::move(state_root)), run_(std::move(run)) {}

  std::string kind() const override { return "netns"; }
  bool isolated() const override { return true; }
  std::string run_id() const override { return id_; }

  Result<harness::ClusterInfo> add_cluster(const std::string& name) override {
    if (!h_) return make_error("attached", "an attached mesh cannot grow");
    return h_->add_cluster(name);
  }
  Result<harness::PodInfo> add_pod(const std::string& cluster, const std::string& pod,
                                   bool on_wan) override {
    if (!h_) return make_error("attached", "an attached mesh cannot grow");
    return h_->add_pod(cluster, pod, harness::PodOptions{on_wan});
  }
  Result<std::string> netns_of(const std::string& ref) const override {
    if (h_) return h_->netns_of(ref);
    if (ref == "wan") return run_.wan_ns;
    for (const auto& p : run_.pods) {
      if (p.ref() == ref) return p.ns;
    }
    for (const auto& c : run_.clusters) {
      if (c.name == ref) return c.router_ns;
    }
    return make_error("no_pod", "no pod " + ref + " in run " + id_);
  }
  Result<harness::Process> spawn(const std::string& ref, const std::vector<std::string>& argv,
                                 const harness::SpawnOptions& options) override {
    if (h_) return h_->spawn(ref, argv, options);
    auto ns = netns_of(ref);
    if (!ns) return ns.error();
    return harness::spawn_in(*ns, argv, options);  // found later by its namespace
  }
  std::vector<pid_t> pids(const std::string& ref) const override {
    auto ns = netns_of(ref);
    return ns ? harness::netns_pids(*ns) : std::vector<pid_t>{};
  }
  harness::Harness* harness() override { return h_.get(); }
  Result<void> teardown() override {
    if (h_) return h_->teardown();
    return harness::down_run(state_root_, id_, nullptr);
  }
  boost::json::value to_json() const override {
    return boost::json::object{{"kind", "netns"}, {"harnessId", id_}};
  }

 private:
  std::unique_ptr<harness::Harness> h_;
  std::string id_;
  std::string state_root_;
  harness::RunState run_;
};

}  // namespace

Result<std::unique_ptr<Fabric>> make_netns_fabric(const harness::HarnessOptions& options,
                                                  bool detached) {
  auto h = harness::Harness::create(options);
  if (!h) return h.error();
  if (detached) {
    if (auto r = (*h)->detach(); !r) return r.error();
  }
  return std::unique_ptr<Fabric>(new NetnsFabric(std::move(*h)));
}

Result<std::unique_ptr<Fabric>> attach_netns_fabric(const std::string& state_root,
                                                    const std::string& id) {
  auto run = harness::load_state(state_root, id);
  if (!run) return run.error();
  return std::unique_ptr<Fabric>(new NetnsFabric(state_root, std::move(*run)));
}

}  // namespace strait::devmesh
