// The netns fabric: a harness run, created here or reopened by its id (straitctl dev: each
// command reopens the run that `dev up` made and left running).
#include <boost/json.hpp>

#include "harness/devmesh/fabric.h"
#include "harness/netns.h"
#include "harness/state.h"

namespace strait::devmesh {
namespace {

class NetnsFabric : public Fabric {
 public:
  explicit NetnsFabric(std::unique_ptr<harness::Harness> h) : h_(std::move(h)) {}

  std::string kind() const override { return "netns"; }
  bool isolated() const override { return true; }
  std::string run_id() const override { return h_->id(); }

  Result<harness::ClusterInfo> add_cluster(const std::string& name) override {
    return h_->add_cluster(name);
  }
  Result<harness::PodInfo> add_pod(const std::string& cluster, const std::string& pod,
                                   bool on_wan) override {
    return h_->add_pod(cluster, pod, harness::PodOptions{on_wan});
  }
  Result<void> remove_pod(const std::string& ref) override { return h_->remove_pod(ref); }
  Result<std::string> netns_of(const std::string& ref) const override { return h_->netns_of(ref); }
  Result<harness::Process> spawn(const std::string& ref, const std::vector<std::string>& argv,
                                 const harness::SpawnOptions& options) override {
    return h_->spawn(ref, argv, options);
  }
  std::vector<pid_t> pids(const std::string& ref) const override {
    auto ns = netns_of(ref);
    return ns ? harness::netns_pids(*ns) : std::vector<pid_t>{};
  }
  harness::Harness* harness() override { return h_.get(); }
  Result<void> teardown() override { return h_->teardown(); }
  boost::json::value to_json() const override {
    return boost::json::object{{"kind", "netns"}, {"harnessId", h_->id()}};
  }

 private:
  std::unique_ptr<harness::Harness> h_;
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
  auto h = harness::Harness::reopen(state_root, id);
  if (!h) return h.error();
  return std::unique_ptr<Fabric>(new NetnsFabric(std::move(*h)));
}

}  // namespace strait::devmesh
