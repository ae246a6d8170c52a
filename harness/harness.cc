// The address plan and the namespace plumbing of a run (iproute2 and iptables inside the run's
// namespaces only; the harness never touches the root namespace's interfaces, routes or rules).
#include "harness/harness.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <random>
#include <sstream>
#include <thread>

#include "harness/netns.h"

namespace strait::harness {

namespace fs = std::filesystem;

namespace {

using namespace std::chrono_literals;

constexpr int kMaxClusters = 16;  // 198.19.0.0/16 holds 16 service blocks of /20
constexpr int kFirstHost = 10;
constexpr int kFirstWanPod = 100;
const char kWanSegment[] = "198.18.250";

bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 32 || n.front() == '-' || n.back() == '-') return false;
  return std::all_of(n.begin(), n.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
  });
}

std::string random_id() {
  static const char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  std::random_device rd;
  std::string id;
  for (int i = 0; i < 4; ++i) id += kAlphabet[rd() % 36];
  return id;
}

bool id_in_use(const std::string& root, const std::string& id) {
  std::error_code ec;
  if (fs::exists(state_dir(root, id), ec)) return true;
  const std::string prefix = "st" + id + "-";
  for (const auto& ns : list_netns()) {
    if (ns.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

Result<void> ip(const std::string& ns, std::vector<std::string> args) {
  args.insert(args.begin(), {"ip", "-n", ns});
  return run_command(args);
}

}  // namespace

std::string topology_name(Topology t) { return t == Topology::flat ? "flat" : "gateway"; }

Result<Topology> parse_topology(const std::string& text) {
  if (text == "flat") return Topology::flat;
  if (text == "gateway") return Topology::gateway;
  return make_error("bad_topology", "topology must be flat or gateway, not " + text);
}

Harness::Harness(HarnessOptions options, std::string id)
    : options_(std::move(options)), id_(std::move(id)), topology_(options_.topology) {}

Result<std::unique_ptr<Harness>> Harness::create(HarnessOptions options) {
  if (::geteuid() != 0) {
    return make_error("not_root", "strait-harness needs root: it creates network namespaces");
  }
  std::string id = options.id;
  if (id.empty()) {
    do {
      id = random_id();
    } while (id_in_use(options.state_root, id));
  } else if (!valid_run_id(id)) {
    return make_error("bad_id", "run id must be 1 to 8 of [a-z0-9]: " + id);
  } else if (id_in_use(options.state_root, id)) {
    return make_error("id_in_use", "run " + id +
                                       " exists (state or namespaces); `strait-harness down --id " +
                                       id + "` removes it");
  }
  std::unique_ptr<Harness> h(new Harness(std::move(options), id));
  Result<void> r;
  {
    std::lock_guard lock(h->mu_);
    h->state_.id = id;
    h->state_.owner_pid = ::getpid();
    h->state_.owner_start_time = process_start_time(::getpid());
    h->state_.phase = "creating";
    h->state_.topology = topology_name(h->topology_);
    h->state_.wan_ns = h->wan_ns();
    // The state file exists before the first namespace does.
    r = h->save_locked();
    const std::string wan = h->wan_ns();
    if (r) r = h->create_ns_locked(wan);
    if (r) r = ip(wan, {"link", "set", "lo", "up"});
    if (r) r = ip(wan, {"link", "add", "br0", "type", "bridge"});
    if (r) r = ip(wan, {"link", "set", "br0", "up"});
  }
  if (!r) return r.error();  // the destructor removes what was made
  return h;
}

Result<std::unique_ptr<Harness>> Harness::reopen(const std::string& state_root,
                                                 const std::string& id) {
  auto run = load_state(state_root, id);
  if (!run) return run.error();
  auto topology = parse_topology(run->topology);
  if (!topology) return topology.error();
  HarnessOptions options;
  options.id = id;
  options.state_root = state_root;
  options.topology = *topology;
  std::unique_ptr<Harness> h(new Harness(std::move(options), id));
  std::lock_guard lock(h->mu_);
  h->detached_ = true;
  h->state_ = std::move(*run);
  h->next_wan_pod_ = h->free_wan_slot_locked();
  for (const auto& c : h->state_.clusters) h->next_host_[c.name] = h->free_host_locked(c);
  for (const auto& dir : h->state_.resolv_dirs) {
    std::error_code ec;
    const std::string ns = fs::path(dir).filename().string();
    if (fs::exists(dir + "/resolv.conf", ec)) h->resolv_files_[ns] = dir + "/resolv.conf";
  }
  return h;
}

int Harness::free_host_locked(const ClusterInfo& c) const {
  const std::string prefix = "198.18." + std::to_string(c.index) + ".";
  for (int host = kFirstHost;; ++host) {
    const std::string ip = prefix + std::to_string(host);
    if (std::none_of(state_.pods.begin(), state_.pods.end(),
                     [&](const PodInfo& p) { return p.ip == ip; })) {
      return host;
    }
  }
}

int Harness::free_wan_slot_locked() const {
  for (int k = 0;; ++k) {
    const std::string ip = std::string(kWanSegment) + "." + std::to_string(kFirstWanPod + k);
    if (std::none_of(state_.pods.begin(), state_.pods.end(),
                     [&](const PodInfo& p) { return p.wan_ip == ip; })) {
      return k;
    }
  }
}

Result<void> Harness::remove_pod(const std::string& ref) {
  std::lock_guard lock(mu_);
  if (torn_down_) return make_error("torn_down", "the run was torn down");
  auto it = std::find_if(state_.pods.begin(), state_.pods.end(),
                         [&](const PodInfo& p) { return p.ref() == ref; });
  if (it == state_.pods.end()) return make_error("no_pod", "no pod " + ref + " in run " + id_);
  const PodInfo pod = *it;
  // Politely first: a proxy withdraws its registration when asked to stop.
  auto pids = netns_pids(pod.ns);
  for (pid_t pid : pids) ::kill(pid, SIGTERM);
  const Deadline grace = Clock::now() + options_.stop_grace;
  while (Clock::now() < grace && !pids.empty()) {
    std::this_thread::sleep_for(20ms);
    for (pid_t pid : pids) ::waitpid(pid, nullptr, WNOHANG);  // ours exit as zombies else
    pids = netns_pids(pod.ns);
  }
  if (auto r = delete_netns(pod.ns); !r) return r;  // SIGKILLs what is left
  const std::string dir = "/etc/netns/" + pod.ns;
  std::error_code ec;
  fs::remove_all(dir, ec);
  resolv_files_.erase(pod.ns);
  std::erase(state_.resolv_dirs, dir);
  std::erase(state_.namespaces, pod.ns);
  std::erase_if(state_.processes, [&](const ProcessRecord& p) { return p.netns == pod.ns; });
  std::erase_if(processes_, [](const Process& p) { return !p.running(); });
  state_.pods.erase(it);
  for (const auto& c : state_.clusters) {
    if (c.name == pod.cluster) next_host_[c.name] = free_host_locked(c);
  }
  next_wan_pod_ = free_wan_slot_locked();
  return save_locked();
}

Harness::~Harness() {
  if (!detached_) (void)teardown();
}

Result<void> Harness::detach() {
  std::lock_guard lock(mu_);
  detached_ = true;
  state_.detached = true;
  return save_locked();
}

std::string Harness::state_path() const { return state_file(options_.state_root, id_); }

Result<void> Harness::save_locked() { return save_state(options_.state_root, state_); }

Result<void> Harness::create_ns_locked(const std::string& name) {
  if (std::find(state_.namespaces.begin(), state_.namespaces.end(), name) !=
      state_.namespaces.end()) {
    return make_error("exists", "namespace " + name + " already exists in this run");
  }
  // Recorded first: a crash right after creation still leaves it findable.
  state_.namespaces.push_back(name);
  if (auto r = save_locked(); !r) return r;
  return create_netns(name);
}

Result<ClusterInfo> Harness::add_cluster(const std::string& name) {
  std::lock_guard lock(mu_);
  if (torn_down_) return make_error("torn_down", "the run was torn down");
  if (!valid_name(name) || name == "wan") {
    return make_error("bad_name", "cluster name must be [a-z0-9-]{1,32} and not 'wan': " + name);
  }
  for (const auto& c : state_.clusters) {
    if (c.name == name) return make_error("exists", "cluster " + name + " exists");
  }
  const int i = static_cast<int>(state_.clusters.size()) + 1;
  if (i > kMaxClusters) return make_error("too_many_clusters", "at most 16 clusters");
  ClusterInfo c;
  c.name = name;
  c.index = i;
  c.router_ns = prefix() + name;
  c.pod_cidr = "198.18." + std::to_string(i) + ".0/24";
  c.router_ip = "198.18." + std::to_string(i) + ".1";
  c.wan_ip = std::string(kWanSegment) + "." + std::to_string(i);
  c.service_cidr = "198.19." + std::to_string(16 * (i - 1)) + ".0/20";
  const std::string r = c.router_ns;
  const std::string wan_if = "c" + std::to_string(i);  // the router's port on the wan bridge

  Result<void> res = create_ns_locked(r);
  if (res) res = ip(r, {"link", "set", "lo", "up"});
  if (res) res = ip(r, {"link", "add", "br0", "type", "bridge"});
  if (res) res = ip(r, {"addr", "add", c.router_ip + "/24", "dev", "br0"});
  if (res) res = ip(r, {"link", "set", "br0", "up"});
  if (res)
    res = ip(r, {"link", "add", "wan0", "type", "veth", "peer", "name", wan_if, "netns", wan_ns()});
  if (res) res = ip(wan_ns(), {"link", "set", wan_if, "master", "br0", "up"});
  if (res) res = ip(r, {"addr", "add", c.wan_ip + "/24", "dev", "wan0"});
  if (res) res = ip(r, {"link", "set", "wan0", "up"});
  if (res) res = write_sysctl_in(r, "net/ipv4/ip_forward", "1");
  if (!res) return res.error();
  state_.clusters.push_back(c);
  next_host_[name] = kFirstHost;
  if (auto s = save_locked(); !s) return s.error();
  // Every router learns of the new cluster (flat) and the new router of every other.
  for (const auto& each : state_.clusters) {
    if (auto t = apply_topology_locked(each); !t) return t.error();
  }
  return c;
}

Result<void> Harness::apply_topology_locked(const ClusterInfo& c) {
  const std::string& r = c.router_ns;
  for (const auto& other : state_.clusters) {
    if (other.name == c.name) continue;
    if (topology_ == Topology::flat) {
      if (auto x = ip(r, {"route", "replace", other.pod_cidr, "via", other.wan_ip, "dev", "wan0"});
          !x)
        return x;
    } else {
      (void)ip(r, {"route", "del", other.pod_cidr});  // absent already is fine
    }
  }
  // Gateway topology: what leaves for the wan carries the router's wan address, so the other
  // side needs no route back into this cluster's pod subnet (and has none).
  if (auto x = run_command_in(r, {"iptables", "-w", "5", "-t", "nat", "-F", "POSTROUTING"}); !x)
    return x;
  if (topology_ == Topology::gateway) {
    if (auto x = run_command_in(r, {"iptables", "-w", "5", "-t", "nat", "-A", "POSTROUTING", "-o",
                                    "wan0", "-j", "MASQUERADE"});
        !x) {
      return x;
    }
  }
  return {};
}

Result<void> Harness::set_topology(Topology topology) {
  std::lock_guard lock(mu_);
  if (torn_down_) return make_error("torn_down", "the run was torn down");
  topology_ = topology;
  state_.topology = topology_name(topology);
  if (auto s = save_locked(); !s) return s;
  for (const auto& c : state_.clusters) {
    if (auto r = apply_topology_locked(c); !r) return r;
  }
  return {};
}

Topology Harness::topology() const {
  std::lock_guard lock(mu_);
  return topology_;
}

Result<void> Harness::mark_ready() {
  std::lock_guard lock(mu_);
  state_.phase = "ready";
  return save_locked();
}

Result<PodInfo> Harness::add_pod(const std::string& cluster, const std::string& pod,
                                 PodOptions options) {
  std::lock_guard lock(mu_);
  if (torn_down_) return make_error("torn_down", "the run was torn down");
  if (!valid_name(pod)) return make_error("bad_name", "pod name must be [a-z0-9-]{1,32}: " + pod);
  auto c = std::find_if(state_.clusters.begin(), state_.clusters.end(),
                        [&](const ClusterInfo& x) { return x.name == cluster; });
  if (c == state_.clusters.end()) return make_error("no_cluster", "no cluster " + cluster);
  for (const auto& p : state_.pods) {
    if (p.cluster == cluster && p.name == pod)
      return make_error("exists", "pod " + cluster + "/" + pod + " exists");
  }
  int& host = next_host_[cluster];
  host = free_host_locked(*c);
  if (options.on_wan) next_wan_pod_ = free_wan_slot_locked();
  if (host > 254)
    return make_error("subnet_full", "cluster " + cluster + " has no free pod address");
  if (options.on_wan && kFirstWanPod + next_wan_pod_ > 254) {
    return make_error("subnet_full", "no free address on the wan segment");
  }
  PodInfo p;
  p.cluster = cluster;
  p.name = pod;
  p.ns = prefix() + cluster + "-" + pod;
  p.ip = "198.18." + std::to_string(c->index) + "." + std::to_string(host);
  const std::string router_if = "p" + std::to_string(host);
  const std::string r = c->router_ns;

  Result<void> res = create_ns_locked(p.ns);
  if (res) res = ip(p.ns, {"link", "set", "lo", "up"});
  if (res)
    res = ip(r, {"link", "add", router_if, "type", "veth", "peer", "name", "eth0", "netns", p.ns});
  if (res) res = ip(r, {"link", "set", router_if, "master", "br0", "up"});
  if (res) res = ip(p.ns, {"addr", "add", p.ip + "/24", "dev", "eth0"});
  if (res) res = ip(p.ns, {"link", "set", "eth0", "up"});
  if (res) res = ip(p.ns, {"route", "add", "default", "via", c->router_ip, "dev", "eth0"});
  if (res && options.on_wan) {
    const int k = next_wan_pod_;
    const std::string wan_if = "g" + std::to_string(k);
    p.wan_ip = std::string(kWanSegment) + "." + std::to_string(kFirstWanPod + k);
    res = ip(wan_ns(),
             {"link", "add", wan_if, "type", "veth", "peer", "name", "wan0", "netns", p.ns});
    if (res) res = ip(wan_ns(), {"link", "set", wan_if, "master", "br0", "up"});
    if (res) res = ip(p.ns, {"addr", "add", p.wan_ip + "/24", "dev", "wan0"});
    if (res) res = ip(p.ns, {"link", "set", "wan0", "up"});
    if (res) ++next_wan_pod_;
  }
  if (!res) return res.error();
  ++host;
  state_.pods.push_back(p);
  if (auto s = save_locked(); !s) return s.error();
  return p;
}

std::vector<ClusterInfo> Harness::clusters() const {
  std::lock_guard lock(mu_);
  return state_.clusters;
}

std::vector<PodInfo> Harness::pods() const {
  std::lock_guard lock(mu_);
  return state_.pods;
}

Result<ClusterInfo> Harness::cluster(const std::string& name) const {
  std::lock_guard lock(mu_);
  for (const auto& c : state_.clusters) {
    if (c.name == name) return c;
  }
  return make_error("no_cluster", "no cluster " + name);
}

Result<PodInfo> Harness::pod(const std::string& ref) const {
  std::lock_guard lock(mu_);
  for (const auto& p : state_.pods) {
    if (p.ref() == ref) return p;
  }
  return make_error("no_pod", "no pod " + ref);
}

Result<std::string> Harness::netns_of_locked(const std::string& ref) const {
  if (ref == "wan") return wan_ns();
  for (const auto& p : state_.pods) {
    if (p.ref() == ref || p.ns == ref) return p.ns;
  }
  for (const auto& c : state_.clusters) {
    if (c.name == ref || c.router_ns == ref) return c.router_ns;
  }
  if (ref == wan_ns()) return ref;
  return make_error("no_pod", "no pod, cluster or namespace " + ref + " in run " + id_);
}

Result<std::string> Harness::netns_of(const std::string& ref) const {
  std::lock_guard lock(mu_);
  return netns_of_locked(ref);
}

Result<std::string> Harness::resolve_pod_ns(const std::string& ref, std::string* resolv) const {
  std::lock_guard lock(mu_);
  if (torn_down_) return make_error("torn_down", "the run was torn down");
  auto ns = netns_of_locked(ref);
  if (ns && resolv) {
    auto it = resolv_files_.find(*ns);
    if (it != resolv_files_.end()) *resolv = it->second;
  }
  return ns;
}

Result<std::string> Harness::set_resolver(const std::string& pod_ref,
                                          const std::vector<std::string>& nameservers,
                                          const std::vector<std::string>& search) {
  std::lock_guard lock(mu_);
  auto ns = netns_of_locked(pod_ref);
  if (!ns) return ns.error();
  const std::string dir = "/etc/netns/" + *ns;
  if (std::find(state_.resolv_dirs.begin(), state_.resolv_dirs.end(), dir) ==
      state_.resolv_dirs.end()) {
    state_.resolv_dirs.push_back(dir);
    if (auto s = save_locked(); !s) return s.error();
  }
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error("resolver_failed", "cannot create " + dir + ": " + ec.message());
  const std::string path = dir + "/resolv.conf";
  std::ofstream out(path, std::ios::trunc);
  out << "# written by strait-harness run " << id_ << "\n";
  for (const auto& n : nameservers) out << "nameserver " << n << "\n";
  if (!search.empty()) {
    out << "search";
    for (const auto& s : search) out << " " << s;
    out << "\n";
  }
  out << "options ndots:5\n";
  out.flush();
  if (!out) return make_error("resolver_failed", "cannot write " + path);
  resolv_files_[*ns] = path;
  return path;
}

Result<Process> Harness::spawn(const std::string& ref, const std::vector<std::string>& argv,
                               SpawnOptions options) {
  std::string resolv;
  auto ns = resolve_pod_ns(ref, &resolv);
  if (!ns) return ns.error();
  if (options.resolv_conf.empty()) options.resolv_conf = resolv;
  auto p = spawn_in(*ns, argv, options);
  if (!p) return p.error();
  std::lock_guard lock(mu_);
  processes_.push_back(*p);
  std::string command;
  for (const auto& a : argv) command += (command.empty() ? "" : " ") + a;
  state_.processes.push_back(ProcessRecord{p->pid(), process_start_time(p->pid()), *ns, command});
  (void)save_locked();
  return p;
}

Result<ExecResult> Harness::exec(const std::string& ref, const std::vector<std::string>& argv,
                                 std::chrono::milliseconds timeout, SpawnOptions options) {
  std::string resolv;
  auto ns = resolve_pod_ns(ref, &resolv);
  if (!ns) return ns.error();
  if (options.resolv_conf.empty()) options.resolv_conf = resolv;
  return exec_in(*ns, argv, timeout, options);
}

Result<UniqueFd> Harness::connect(const std::string& ref, const std::string& address,
                                  Deadline deadline) {
  auto ns = resolve_pod_ns(ref, nullptr);
  if (!ns) return ns.error();
  return connect_in(*ns, address, deadline);
}

Result<void> Harness::wait_for_tcp(const std::string& ref, const std::string& address,
                                   Deadline deadline) {
  auto ns = resolve_pod_ns(ref, nullptr);
  if (!ns) return ns.error();
  return wait_for_tcp_in(*ns, address, deadline);
}

Result<void> Harness::wait_for_http_ok(const std::string& ref, const std::string& url,
                                       Deadline deadline) {
  auto ns = resolve_pod_ns(ref, nullptr);
  if (!ns) return ns.error();
  return wait_for_http_ok_in(*ns, url, deadline);
}

Result<void> Harness::teardown() {
  std::lock_guard lock(mu_);
  if (torn_down_) return {};
  state_.phase = "tearing_down";
  (void)save_locked();
  // All at once: SIGTERM to every process group, one shared grace period, then SIGKILL.
  for (const auto& p : processes_) p.signal(SIGTERM);
  const Deadline grace = Clock::now() + options_.stop_grace;
  for (const auto& p : processes_) (void)p.wait_exit(grace);
  for (const auto& p : processes_) {
    if (p.running()) p.kill();
  }
  processes_.clear();
  resolv_files_.clear();
  // Whatever else is inside (grandchildren that left the group), namespaces, resolv dirs, state.
  auto r = down_run(options_.state_root, id_, nullptr);
  if (!r) return r;
  torn_down_ = true;
  return {};
}

std::string Harness::describe() const {
  std::lock_guard lock(mu_);
  std::ostringstream o;
  o << "run " << id_ << "  topology " << topology_name(topology_) << "  state " << state_path()
    << "\n";
  o << "wan segment " << kWanSegment << ".0/24 in " << wan_ns() << "\n\n";
  o << std::left << std::setw(12) << "CLUSTER" << std::setw(24) << "ROUTER-NAMESPACE"
    << std::setw(16) << "POD-CIDR" << std::setw(14) << "GATEWAY-IP" << std::setw(15) << "WAN-IP"
    << "SERVICE-CIDR\n";
  for (const auto& c : state_.clusters) {
    o << std::setw(12) << c.name << std::setw(24) << c.router_ns << std::setw(16) << c.pod_cidr
      << std::setw(14) << c.router_ip << std::setw(15) << c.wan_ip << c.service_cidr << "\n";
  }
  if (!state_.pods.empty()) {
    o << "\n"
      << std::setw(24) << "POD" << std::setw(32) << "NAMESPACE" << std::setw(15) << "IP"
      << "WAN-IP\n";
    for (const auto& p : state_.pods) {
      o << std::setw(24) << p.ref() << std::setw(32) << p.ns << std::setw(15) << p.ip
        << (p.wan_ip.empty() ? "-" : p.wan_ip) << "\n";
    }
  }
  return o.str();
}

}  // namespace strait::harness
