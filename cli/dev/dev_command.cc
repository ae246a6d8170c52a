// straitctl dev up | status | exec | run | rm | logs | stop | start | down.
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "cli/dev/dev.h"
#include "cli/dev/dev_plan.h"
#include "cli/dev/dev_run.h"
#include "cli/dev/dev_status.h"
#include "harness/state.h"

namespace strait::cli {
namespace fs = std::filesystem;
using devmesh::DevMesh;
using namespace std::chrono_literals;

namespace {

constexpr const char* kNeedsRoot =
    "this dev mesh lives in network namespaces: run straitctl dev as root (sudo)";
constexpr const char* kLoopbackNotice =
    "Not root: straitctl dev needs root for network namespaces, veth pairs, bridges and "
    "iptables rules. Falling back to loopback mode: every pod is an address 127.0.<cluster>.<n> "
    "on this host, nothing isolates the clusters, and workloads reach the mesh through their "
    "proxy's explicit port (curl --proxytunnel -x http://<pod>:4141 ...) instead of interception. "
    "Cross-cluster traffic still goes through the gateways. Run with sudo for the real thing.";

struct Where {
  std::string work_dir;
  std::string id;
  std::string harness_root;
};

Where where(const Args& args) {
  Where w;
  const char* env = std::getenv("STRAIT_DEV_DIR");
  std::string def = "/run/strait-dev";
  if (::geteuid() != 0) {  // /run is root's; a user's mesh lives in their runtime directory
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    def = xdg ? std::string(xdg) + "/strait-dev" : "/tmp/strait-dev-" + std::to_string(::geteuid());
  }
  w.work_dir = args.get_or("work-dir", env ? env : def);
  w.id = args.get_or("id", "dev");
  w.harness_root = harness::default_state_root();
  return w;
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, sep);) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

bool run_exists(const Where& w) {
  for (const auto& r : harness::list_runs(w.harness_root)) {
    if (r.id == w.id) return true;
  }
  return false;
}

// Removes the mesh (its processes, namespaces, files). True when something was removed.
Result<bool> remove_mesh(const Where& w) {
  bool removed = false;
  if (auto m = DevMesh::attach(w.work_dir)) {
    if (auto r = (*m)->teardown(); !r) return r.error();
    removed = true;
  }
  if (run_exists(w)) {
    if (auto r = harness::down_run(w.harness_root, w.id, nullptr); !r) return r.error();
    removed = true;
  }
  std::error_code ec;
  if (fs::exists(w.work_dir, ec)) {
    fs::remove_all(w.work_dir, ec);
    removed = true;
  }
  return removed;
}

class Progress {
 public:
  Progress() : start_(std::chrono::steady_clock::now()) {}
  void operator()(const std::string& step) const {
    const double s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    char buf[24];
    std::snprintf(buf, sizeof buf, "[%6.1fs] ", s);
    std::cout << buf << step << std::endl;
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Everything `up` builds once the clusters exist.
Result<void> build(DevMesh& m, const std::vector<std::string>& clusters, const Progress& say) {
  const auto plan = dev::samples(m.options().topology);
  for (const auto& c : clusters) {
    if (auto r = m.add_cluster(c); !r) return r.error();
    for (const auto& s : plan) {
      if (auto r = m.apply(c, dev::service_manifest(s)); !r) return r;
      devmesh::WorkloadSpec w;
      w.cluster = c;
      w.pod = s.name;
      w.ns = "shop";
      w.app = s.app;
      w.name = c + "-" + s.name;
      w.service = s.name;
      if (auto r = m.add_workload(w); !r) return r.error();
    }
    devmesh::WorkloadSpec client;
    client.cluster = c;
    client.pod = "client";
    client.ns = "front";
    if (auto r = m.add_workload(client); !r) return r.error();
  }
  for (const auto& from : clusters) {
    for (const auto& to : clusters) {
      if (from != to) {
        if (auto r = m.link(from, to); !r) return r;
      }
    }
  }
  // Every mirror, with ready endpoints.
  for (const auto& c : clusters) {
    for (const auto& s : plan) {
      for (const auto& other : clusters) {
        if (other == c) continue;
        const std::string name = dev::mirror_of(s, other);
        const int ready = s.mode == "federated" ? static_cast<int>(clusters.size()) : 1;
        say(c + ": waiting for shop/" + name + " (" + s.mode + ", " + std::to_string(ready) +
            " ready endpoint" + (ready > 1 ? "s" : "") + ")");
        if (auto r = m.wait_service(c, "shop", name, ready, 60s); !r) return r.error();
        if (s.mode == "federated") break;
      }
    }
  }
  // The trickle: each client calls a web mirror and the federated service once a second.
  for (std::size_t i = 0; i < clusters.size(); ++i) {
    const std::string& c = clusters[i];
    const std::string& next = clusters[(i + 1) % clusters.size()];
    std::string loop = "while :; do";
    std::string via;
    for (const auto& a : m.curl_via(c + "/client")) via += " " + a;
    for (const auto& s : plan) {
      if (s.app != devmesh::App::http) continue;
      // By name where the pods have their cluster's DNS; a loopback mesh has no per-pod resolver.
      std::string host = dev::dns_name_of(s, next);
      if (m.loopback()) {
        auto vip = m.service_vip(c, "shop", dev::mirror_of(s, next));
        if (!vip) return vip.error();
        host = *vip;
      }
      loop += " curl -s -o /dev/null --max-time 2" + via + " http://" + host + "/;";
    }
    loop += " sleep 1; done";
    say(c + "/client: steady traffic (" + loop + ")");
    if (auto r = m.start_process(c + "/client", "traffic", {"/bin/sh", "-c", loop}); !r) return r;
  }
  return m.mark_ready();
}

int up(const Args& args) {
  const bool loopback = args.has("loopback") || ::geteuid() != 0;
  if (::geteuid() != 0) std::cout << kLoopbackNotice << "\n\n";
  const Where w = where(args);
  const auto clusters = split(args.get_or("clusters", "east,west"), ',');
  if (clusters.size() < 2 || clusters.size() > 8) {
    return fail("--clusters needs 2 to 8 names, e.g. east,west,north");
  }
  auto topology = devmesh::parse_topology(args.get_or("topology", "mixed"));
  if (!topology) return fail(topology.error().message);
  const std::string trust = args.get_or("trust", "shared");
  if (trust != "shared" && trust != "separate") return fail("--trust must be shared or separate");
  auto bin = devmesh::Binaries::locate();
  if (!bin) return fail(bin.error().message);

  // One mesh at a time: a complete, running one is left alone; leftovers of a crashed or
  // interrupted `up` are removed first, so a new one never builds on half of an old one.
  if (auto existing = DevMesh::attach(w.work_dir)) {
    bool alive = (*existing)->ready();
    for (const auto& c : (*existing)->clusters()) {
      alive = alive && (*existing)->running(c.name, "controller");
    }
    if (alive) {
      return fail("a dev mesh is already up in " + w.work_dir +
                  " (`straitctl dev status` shows it; `straitctl dev down` removes it)");
    }
  }
  Progress say;
  if (auto removed = remove_mesh(w); !removed) {
    return fail("cannot clear the leftovers of an earlier run: " + removed.error().message);
  } else if (*removed) {
    say("removed the leftovers of an earlier, unfinished dev mesh");
  }

  devmesh::Options o;
  o.work_dir = w.work_dir;
  o.id = w.id;
  o.harness_state_root = w.harness_root;
  o.topology = *topology;
  o.trust = trust == "shared" ? devmesh::Trust::shared : devmesh::Trust::separate;
  o.bin = *bin;
  o.detached = true;
  o.loopback = loopback;
  o.progress = say;
  say("building " + std::to_string(clusters.size()) + " clusters, topology " +
      devmesh::topology_name(*topology) + (loopback ? " (loopback mode)" : "") + ", in " +
      w.work_dir);
  auto m = DevMesh::create(o);
  if (!m) return fail(m.error().message);
  if (auto r = build(**m, clusters, say); !r) {
    std::cerr << "straitctl: dev up failed: " << r.error().message << "\n"
              << "logs are in " << w.work_dir << "/logs; removing what was built\n";
    (void)(*m)->teardown();
    return 1;
  }
  say("ready");
  std::cout << "\n";
  const bool healthy = dev::print_status(**m, std::cout);
  std::string via;
  for (const auto& a : (*m)->curl_via(clusters[1] + "/client")) via += a + " ";
  const std::string to = (*m)->loopback() ? "<VIRTUAL-IP>" : "web-" + clusters[0] + ".shop";
  std::cout << "\nTry:\n"
            << "  straitctl dev exec " << clusters[1] << "/client -- curl -s " << via << "http://"
            << to << "/\n"
            << "  straitctl dev exec " << clusters[1]
            << "/ctrl -- straitctl multicluster gateways\n"
            << "  straitctl dev stop " << clusters[0] << "/gateway    (and dev start)\n"
            << "  straitctl dev logs " << clusters[1] << "/link\n"
            << "  straitctl dev status | straitctl dev down\n";
  return healthy ? 0 : 1;
}

Result<std::unique_ptr<DevMesh>> attach(const Args& args) {
  const Where w = where(args);
  auto m = DevMesh::attach(w.work_dir);
  if (!m && m.error().code == "no_mesh") {
    return make_error("no_mesh",
                      "no dev mesh in " + w.work_dir + " (`straitctl dev up` makes one)");
  }
  // A namespace mesh needs root to be reached.
  if (m && !(*m)->loopback() && ::geteuid() != 0) return make_error("not_root", kNeedsRoot);
  return m;
}

int status(const Args& args) {
  auto m = attach(args);
  if (!m) return fail(m.error().message);
  return dev::print_status(**m, std::cout) ? 0 : 1;
}

int exec(const Args& args) {
  const auto& p = args.positional();  // dev exec REF -- CMD...
  if (p.size() < 4) return fail("usage: straitctl dev exec CLUSTER/POD -- COMMAND [ARGS...]");
  auto m = attach(args);
  if (!m) return fail(m.error().message);
  const std::string ref = p[2];
  auto ns = (*m)->netns_of(ref);
  if (!ns) return fail(ns.error().message);
  harness::SpawnOptions o;
  // The pod's own resolver (its cluster's DNS), as every process the mesh starts in it has.
  o.resolv_conf = devmesh::DevMesh::resolver_of(*ns);
  // straitctl inside a controller pod finds its cluster; the mesh's programs are on the PATH.
  const std::string cluster = ref.substr(0, ref.find('/'));
  if (auto c = (*m)->cluster(cluster)) o.env.push_back({"STRAIT_STATE_DIR", c->state_dir});
  const char* path = std::getenv("PATH");
  o.env.push_back({"PATH", fs::path((*m)->options().bin.straitctl).parent_path().string() + ":" +
                               fs::path((*m)->options().bin.testapp).parent_path().string() + ":" +
                               (path ? path : "/usr/bin:/bin")});
  std::vector<std::string> argv(p.begin() + 3, p.end());
  auto proc = harness::spawn_in(*ns, argv, o);
  if (!proc) return fail(proc.error().message);
  auto st = proc->wait_exit(harness::deadline_in(std::chrono::hours(24 * 365)));
  if (!st) return fail(st.error().message);
  return st->exited ? st->code : 128 + st->signal;
}

// Held while a command changes the mesh (dev run, dev rm): one at a time.
class MeshLock {
 public:
  explicit MeshLock(const std::string& work_dir)
      : fd_(::open((work_dir + "/devmesh.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644)) {
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~MeshLock() {
    if (fd_ >= 0) ::close(fd_);  // releases the lock
  }
  MeshLock(const MeshLock&) = delete;
  MeshLock& operator=(const MeshLock&) = delete;
  bool ok() const { return fd_ >= 0; }

 private:
  int fd_;
};

int run(const Args& args) {
  auto request = dev::parse_run(args);
  if (!request) return fail(request.error().message);
  const Where w = where(args);
  if (!fs::exists(w.work_dir + "/devmesh.json")) {
    return fail("no dev mesh in " + w.work_dir + " (`straitctl dev up` makes one)");
  }
  MeshLock lock(w.work_dir);
  if (!lock.ok()) return fail("cannot lock " + w.work_dir + "/devmesh.lock");
  auto m = attach(args);  // under the lock: what the last change saved
  if (!m) return fail(m.error().message);
  return dev::run(**m, *request);
}

int rm(const Args& args) {
  const auto& p = args.positional();  // dev rm REF
  if (p.size() != 3) return fail("usage: straitctl dev rm CLUSTER/POD");
  const Where w = where(args);
  if (!fs::exists(w.work_dir + "/devmesh.json")) {
    return fail("no dev mesh in " + w.work_dir + " (`straitctl dev up` makes one)");
  }
  MeshLock lock(w.work_dir);
  if (!lock.ok()) return fail("cannot lock " + w.work_dir + "/devmesh.lock");
  auto m = attach(args);
  if (!m) return fail(m.error().message);
  return dev::rm(**m, p[2]);
}

int logs(const Args& args) {
  const auto& p = args.positional();  // dev logs CLUSTER/COMPONENT
  if (p.size() < 3) {
    return fail(
        "usage: straitctl dev logs CLUSTER/COMPONENT (controller, gateway, link, or a pod)");
  }
  const Where w = where(args);
  std::string ref = p[2];
  std::replace(ref.begin(), ref.end(), '/', '-');
  for (const std::string& name : {ref, ref + "-proxy"}) {
    const std::string path = w.work_dir + "/logs/" + name + ".log";
    std::ifstream in(path);
    if (!in) continue;
    std::cout << in.rdbuf();
    return 0;
  }
  std::string known;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(w.work_dir + "/logs", ec)) {
    known += " " + e.path().stem().string();
  }
  return fail("no log " + p[2] + (known.empty() ? " (no dev mesh?)" : "; there are:" + known));
}

int stop_or_start(const Args& args, bool stop) {
  const auto& p = args.positional();  // dev stop CLUSTER/COMPONENT
  const std::string verb = stop ? "stop" : "start";
  if (p.size() < 3 || p[2].find('/') == std::string::npos) {
    return fail("usage: straitctl dev " + verb + " CLUSTER/{controller,gateway,link}");
  }
  auto m = attach(args);
  if (!m) return fail(m.error().message);
  const std::string cluster = p[2].substr(0, p[2].find('/'));
  const std::string component = p[2].substr(p[2].find('/') + 1);
  auto r = stop ? (*m)->stop(cluster, component) : (*m)->start(cluster, component);
  if (!r) return fail(r.error().message);
  std::cout << (stop ? "stopped " : "started ") << p[2] << "\n";
  return 0;
}

int down(const Args& args) {
  const Where w = where(args);
  if (auto m = DevMesh::attach(w.work_dir); m && !(*m)->loopback() && ::geteuid() != 0) {
    return fail(kNeedsRoot);
  }
  auto removed = remove_mesh(w);
  if (!removed) return fail("dev down: " + removed.error().message);
  std::cout << (*removed ? "removed the dev mesh (processes, namespaces, links, rules, files)"
                         : "no dev mesh to remove")
            << "\n";
  return 0;
}

}  // namespace

int cmd_dev(const Args& args) {
  const auto& p = args.positional();
  const std::string sub = p.size() >= 2 ? p[1] : "";
  if (sub == "up") return up(args);
  if (sub == "status") return status(args);
  if (sub == "exec") return exec(args);
  if (sub == "run") return run(args);
  if (sub == "rm") return rm(args);
  if (sub == "logs") return logs(args);
  if (sub == "stop") return stop_or_start(args, true);
  if (sub == "start") return stop_or_start(args, false);
  if (sub == "down") return down(args);
  return fail("dev needs a command: up, status, exec, run, rm, logs, stop, start, down");
}

}  // namespace strait::cli
