// DevMesh: clusters, components, workloads and links of a multi-cluster mesh in namespaces.
#include "harness/devmesh/devmesh.h"

#include <limits.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "core/discovery/json_codec.h"
#include "core/tls/authority.h"
#include "harness/netns.h"

namespace strait::devmesh {
namespace fs = std::filesystem;
namespace json = boost::json;
using harness::deadline_in;

namespace {

Result<void> write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return make_error("io_error", "cannot write " + path);
  return {};
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The program a process runs (canonical path), "" when it is gone.
std::string process_exe(pid_t pid) {
  std::error_code ec;
  auto p = fs::read_symlink("/proc/" + std::to_string(pid) + "/exe", ec);
  return ec ? "" : p.string();
}

std::string canonical(const std::string& path) {
  std::error_code ec;
  auto p = fs::weakly_canonical(path, ec);
  return ec ? path : p.string();
}

std::string tail(std::string text, std::size_t max) {
  return text.size() > max ? "...\n" + text.substr(text.size() - max) : text;
}

// Readable by the proxies' user: they run as kProxyUid and read their configs here.
void make_world_readable_dir(const std::string& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  fs::permissions(dir,
                  fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                      fs::perms::others_read | fs::perms::others_exec,
                  ec);
}

std::string app_name(App a) {
  switch (a) {
    case App::http:
      return "http";
    case App::echo:
      return "echo";
    case App::command:
      return "command";
    case App::none:
      break;
  }
  return "none";
}

}  // namespace

std::string topology_name(Topology t) {
  switch (t) {
    case Topology::gateway:
      return "gateway";
    case Topology::flat:
      return "flat";
    case Topology::mixed:
      break;
  }
  return "mixed";
}

Result<Topology> parse_topology(const std::string& text) {
  if (text == "gateway") return Topology::gateway;
  if (text == "flat") return Topology::flat;
  if (text == "mixed") return Topology::mixed;
  return make_error("bad_topology",
                    "topology must be gateway, flat or mixed, not \"" + text + "\"");
}

// ---- Binaries ----

Binaries Binaries::from_build_dir(const std::string& d) {
  Binaries b;
  b.controller = d + "/controlplane/strait-controller";
  b.proxy = d + "/sidecar/proxy/strait-proxy";
  b.init = d + "/sidecar/init/strait-init";
  b.gateway = d + "/gateway/strait-gateway";
  b.link = d + "/link/strait-link";
  b.straitctl = d + "/cli/straitctl";
  b.testapp = d + "/tests/tools/strait-testapp";
  return b;
}

Result<Binaries> Binaries::locate() {
  char buf[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return make_error("no_binaries", "cannot read /proc/self/exe");
  fs::path self(std::string(buf, static_cast<std::size_t>(n)));
  fs::path dir = self.parent_path();
  // An installed layout: every program in one directory.
  if (fs::exists(dir / "strait-controller")) {
    Binaries b;
    b.controller = dir / "strait-controller";
    b.proxy = dir / "strait-proxy";
    b.init = dir / "strait-init";
    b.gateway = dir / "strait-gateway";
    b.link = dir / "strait-link";
    b.straitctl = dir / "straitctl";
    b.testapp = dir / "strait-testapp";
    if (auto r = b.check(); !r) return r.error();
    return b;
  }
  // The build tree: <build>/cli/straitctl.
  Binaries b = from_build_dir(dir.parent_path().string());
  if (auto r = b.check(); !r) return r.error();
  return b;
}

Result<void> Binaries::check() const {
  for (const auto* p : {&controller, &proxy, &init, &gateway, &link, &straitctl, &testapp}) {
    if (::access(p->c_str(), X_OK) != 0) {
      return make_error("no_binaries", "missing program " + *p + " (build everything first)");
    }
  }
  return {};
}

int ServiceView::ready() const {
  int n = 0;
  for (const auto& e : endpoints) n += e.ready ? 1 : 0;
  return n;
}

// ---- DevMesh ----

DevMesh::DevMesh(Options options) : options_(std::move(options)) {}

DevMesh::~DevMesh() {
  if (!options_.detached && !attached_) (void)teardown();
}

void DevMesh::progress(const std::string& step) const {
  if (options_.progress) options_.progress(step);
}

std::string DevMesh::file(const std::string& rel) const { return options_.work_dir + "/" + rel; }

std::string DevMesh::log_path(const std::string& name) const {
  return file("logs/" + name + ".log");
}

harness::SpawnOptions DevMesh::logged(const std::string& name) const {
  harness::SpawnOptions o;
  o.stdout_path = o.stderr_path = log_path(name);
  // LeakSanitizer cannot inspect a process that changed its uid; leaks are the unit tests' job.
  o.env = {{"ASAN_OPTIONS", "detect_leaks=0"}};
  o.die_with_parent = !options_.detached;
  return o;
}

Result<std::unique_ptr<DevMesh>> DevMesh::create(Options options) {
  if (auto r = options.bin.check(); !r) return r.error();
  if (options.work_dir.empty()) return make_error("bad_options", "work_dir is required");
  if (fs::exists(options.work_dir + "/devmesh.json")) {
    return make_error("exists", "a mesh lives in " + options.work_dir + " already");
  }
  std::unique_ptr<DevMesh> m(new DevMesh(std::move(options)));
  make_world_readable_dir(m->options_.work_dir);
  make_world_readable_dir(m->file("logs"));

  if (m->options_.loopback) {
    DevMesh* self = m.get();
    m->fabric_ = make_loopback_fabric([self] { (void)self->save(); });
  } else {
    harness::HarnessOptions ho;
    ho.id = m->options_.id;
    ho.state_root = m->options_.harness_state_root;
    ho.topology = m->options_.topology == Topology::gateway ? harness::Topology::gateway
                                                            : harness::Topology::flat;
    auto f = make_netns_fabric(ho, m->options_.detached);
    if (!f) return f.error();
    m->fabric_ = std::move(*f);
  }

  if (m->options_.trust == Trust::shared) {
    auto root = tls::CertificateAuthority::create_root("strait dev trust anchor",
                                                       std::chrono::hours(24 * 365));
    if (!root) return root.error();
    m->anchor_cert_pem_ = root->cert().to_pem();
    m->anchor_key_pem_ = root->key().to_pem();
    make_world_readable_dir(m->file("pki"));
    if (auto r = write_file(m->file("pki/anchor.crt"), m->anchor_cert_pem_); !r) return r.error();
  }
  return m;
}

Result<std::unique_ptr<DevMesh>> DevMesh::attach(const std::string& work_dir) {
  const std::string path = work_dir + "/devmesh.json";
  const std::string text = read_file(path);
  if (text.empty()) return make_error("no_mesh", "no mesh in " + work_dir);
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) return make_error("bad_state", "cannot parse " + path);
  const auto& o = v.as_object();
  auto str = [](const json::object& obj, const char* key) -> std::string {
    auto it = obj.find(key);
    return it != obj.end() && it->value().is_string() ? std::string(it->value().get_string())
                                                      : std::string();
  };
  auto num = [](const json::object& obj, const char* key) -> std::int64_t {
    auto it = obj.find(key);
    return it != obj.end() && it->value().is_int64() ? it->value().get_int64() : 0;
  };
  Options options;
  options.work_dir = work_dir;
  options.harness_state_root = str(o, "harnessStateRoot");
  auto topology = parse_topology(str(o, "topology"));
  if (!topology) return topology.error();
  options.topology = *topology;
  options.trust = str(o, "trust") == "separate" ? Trust::separate : Trust::shared;
  options.detached = true;
  if (auto it = o.find("binaries"); it != o.end() && it->value().is_object()) {
    const auto& b = it->value().get_object();
    options.bin =
        Binaries{str(b, "controller"), str(b, "proxy"),     str(b, "init"),   str(b, "gateway"),
                 str(b, "link"),       str(b, "straitctl"), str(b, "testapp")};
  }
  std::unique_ptr<DevMesh> m(new DevMesh(std::move(options)));
  m->attached_ = true;
  m->phase_ = str(o, "phase");
  auto fit = o.find("fabric");
  if (fit == o.end() || !fit->value().is_object()) {
    return make_error("bad_state", path + " does not say where the pods are");
  }
  const auto& fabric = fit->value().get_object();
  std::vector<harness::ClusterInfo> nets;
  std::vector<harness::PodInfo> pods;
  if (str(fabric, "kind") == "loopback") {
    DevMesh* self = m.get();
    auto f = attach_loopback_fabric(fit->value(), [self] { (void)self->save(); });
    if (!f) return f.error();
    m->fabric_ = std::move(*f);
    m->options_.loopback = true;
  } else {
    auto run = harness::load_state(m->options_.harness_state_root, str(fabric, "harnessId"));
    if (!run) return run.error();
    nets = run->clusters;
    pods = run->pods;
    auto f = attach_netns_fabric(m->options_.harness_state_root, run->id);
    if (!f) return f.error();
    m->fabric_ = std::move(*f);
  }
  if (auto it = o.find("clusters"); it != o.end() && it->value().is_array()) {
    for (const auto& e : it->value().get_array()) {
      if (!e.is_object()) continue;
      const auto& c = e.get_object();
      ClusterView view;
      view.name = str(c, "name");
      view.trust_domain = str(c, "trustDomain");
      view.domain = str(c, "domain");
      for (const auto& info : nets) {
        if (info.name == view.name) view.net = info;
      }
      view.net.name = view.name;
      view.ctrl_ip = str(c, "controller");
      view.ctrl_wan_ip = str(c, "controllerWan");
      view.gateway_ip = str(c, "gateway");
      view.gateway_wan_ip = str(c, "gatewayWan");
      view.state_dir = str(c, "stateDir");
      m->clusters_.push_back(view);
    }
  }
  if (auto it = o.find("workloads"); it != o.end() && it->value().is_array()) {
    for (const auto& e : it->value().get_array()) {
      if (!e.is_object()) continue;
      const auto& w = e.get_object();
      WorkloadView view;
      view.spec.cluster = str(w, "cluster");
      view.spec.pod = str(w, "pod");
      view.spec.ns = str(w, "namespace");
      view.spec.service_account = str(w, "serviceAccount");
      const std::string app = str(w, "app");
      view.spec.app = app == "http"      ? App::http
                      : app == "echo"    ? App::echo
                      : app == "command" ? App::command
                                         : App::none;
      view.spec.port = static_cast<std::uint16_t>(num(w, "port"));
      auto list = [&](const char* key) -> const json::array* {
        auto it = w.find(key);
        return it != w.end() && it->value().is_array() ? &it->value().get_array() : nullptr;
      };
      if (const auto* ports = list("ports")) {
        for (const auto& p : *ports) {
          if (p.is_int64() && p.get_int64() > 0 && p.get_int64() <= 65535) {
            view.spec.ports.push_back(static_cast<std::uint16_t>(p.get_int64()));
          }
        }
      }
      if (const auto* command = list("command")) {
        for (const auto& a : *command) {
          if (a.is_string()) view.spec.command.emplace_back(a.get_string());
        }
      }
      view.spec.service = str(w, "service");
      view.identity = str(w, "identity");
      for (const auto& p : pods) {
        if (p.cluster == view.spec.cluster && p.name == view.spec.pod) view.pod = p;
      }
      if (view.pod.ip.empty()) {
        view.pod.cluster = view.spec.cluster;
        view.pod.name = view.spec.pod;
        view.pod.ip = view.pod.wan_ip = str(w, "ip");
      }
      m->workloads_.push_back(view);
    }
  }
  return m;
}

Result<ClusterView> DevMesh::cluster(const std::string& name) const {
  for (const auto& c : clusters_) {
    if (c.name == name) return c;
  }
  return make_error("no_cluster", "no cluster " + name + " in this mesh");
}

namespace {

// "a:port,b:port", or one of them when both are the same address (loopback).
std::string both(const std::string& a, const std::string& b, int port) {
  const std::string p = ":" + std::to_string(port);
  return a == b ? a + p : a + p + "," + b + p;
}

}  // namespace

Result<void> DevMesh::install(ClusterView& c) {
  std::vector<std::string> argv = {
      options_.bin.straitctl, "install", "--cluster-name", c.name, "--trust-domain", c.trust_domain,
      "--domain", c.domain, "--state-dir", c.state_dir, "--service-cidr", c.net.service_cidr,
      // Each listener on the networks it serves (docs/security.md):
      // identity for pods and for linked clusters' link tokens,
      // destination for pods only, export for linked clusters only,
      // admin inside the controller's pod.
      "--identity-listen", both(c.ctrl_ip, c.ctrl_wan_ip, 8080), "--destination-listen",
      c.ctrl_ip + ":8086", "--admin-listen",
      (loopback() ? c.ctrl_ip : std::string("127.0.0.1")) + ":9990", "--export-listen",
      c.ctrl_wan_ip + ":8443", "--export-address", c.ctrl_wan_ip + ":8443", "--identity-address",
      c.ctrl_wan_ip + ":8080", "--gateway-addresses", c.gateway_wan_ip,
      // DNS for the cluster's pods, recursion for them only (there is no upstream: names
      // outside the mesh are refused, and no query leaves this machine). Port 53 needs root,
      // which a loopback mesh does without.
      "--dns-listen", c.ctrl_ip + (loopback() ? ":0" : ":53"), "--dns-recursion-networks",
      c.net.pod_cidr};
  if (options_.trust == Trust::shared) {
    // The cluster's issuer, signed by the mesh's one anchor.
    auto root = tls::CertificateAuthority::from_pem(anchor_cert_pem_, anchor_key_pem_, "");
    if (!root) return root.error();
    auto issuer =
        root->create_intermediate("strait issuer " + c.name, std::chrono::hours(24 * 364));
    if (!issuer) return issuer.error();
    const std::string dir = file(c.name + "/pki");
    make_world_readable_dir(dir);
    if (auto r = write_file(dir + "/issuer.crt", issuer->cert().to_pem()); !r) return r;
    if (auto r = write_file(dir + "/issuer.key", issuer->key().to_pem()); !r) return r;
    ::chmod((dir + "/issuer.key").c_str(), 0600);
    argv.insert(argv.end(), {"--trust-anchor", file("pki/anchor.crt"), "--issuer-cert",
                             dir + "/issuer.crt", "--issuer-key", dir + "/issuer.key"});
  }
  auto r = harness::exec_in("", argv, 30s);
  if (!r) return r.error();
  if (!r->success()) return make_error("install_failed", c.name + ": " + r->out + r->err);
  return {};
}

Result<void> DevMesh::start_controller(const ClusterView& c) {
  std::vector<std::string> argv = {options_.bin.controller, "--config",
                                   c.state_dir + "/controller.yaml"};
  // Without namespaces every proxy's registration stream comes from 127.0.0.1, not from its
  // pod's own 127.x address: let workloads name their address (in namespaces, never).
  if (loopback()) argv.push_back("--registration.anyAddress=*");
  argv.insert(argv.end(), options_.controller_flags.begin(), options_.controller_flags.end());
  auto p = spawn(c.name + "/ctrl", argv, logged(c.name + "-controller"));
  if (!p) return p.error();
  processes_.insert_or_assign(c.name + "/controller", *p);
  const std::string admin_ip = loopback() ? c.ctrl_ip : "127.0.0.1";
  std::vector<std::string> ports = {c.ctrl_ip + ":8080", c.ctrl_ip + ":8086",
                                    c.ctrl_wan_ip + ":8443", admin_ip + ":9990"};
  if (!loopback()) ports.push_back(c.ctrl_ip + ":53");  // DNS over TCP: UDP is bound first
  for (const std::string& at : ports) {
    if (auto r = wait_for_tcp(c.name + "/ctrl", at, deadline_in(30s)); !r) {
      return make_error("controller_not_up",
                        c.name + ": " + at + ": " + r.error().message + "\n" +
                            tail(read_file(log_path(c.name + "-controller")), 4000));
    }
  }
  // straitctl reads run/endpoints.json: wait for this run's file (it carries the pid).
  const std::string pid = std::to_string(p->pid());
  auto ok = harness::wait_until(
      [&] { return read_file(c.state_dir + "/run/endpoints.json").find(pid) != std::string::npos; },
      deadline_in(15s));
  if (!ok)
    return make_error("controller_not_up", c.name + ": no run/endpoints.json with pid " + pid);
  return {};
}

Result<std::string> DevMesh::write_proxy_config(const ClusterView& c, const std::string& name,
                                                const std::string& ns, const std::string& sa,
                                                const std::string& extra_yaml) {
  const std::string dir = file(c.name + "/" + name);
  make_world_readable_dir(dir);
  auto token =
      straitctl(c.name, {"token", "--namespace", ns, "--service-account", sa, "--ttl", "24h"});
  if (!token) return token.error();
  if (auto r = write_file(dir + "/token", *token); !r) return r.error();
  if (auto r = write_file(dir + "/anchor.crt", read_file(c.state_dir + "/ca/anchor.crt")); !r) {
    return r.error();
  }
  const std::string yaml =
      "identity:\n  trustDomain: " + c.trust_domain + "\n  namespace: " + ns +
      "\n  serviceAccount: " + sa + "\n  tokenFile: " + dir + "/token\n  trustAnchors: " + dir +
      "/anchor.crt\ncontroller:\n  identity: " + c.ctrl_ip + ":8080\n  destination: " + c.ctrl_ip +
      ":8086\ncluster:\n  domain: " + c.domain + "\n  name: " + c.name + "\n" + extra_yaml;
  if (auto r = write_file(dir + "/proxy.yaml", yaml); !r) return r.error();
  for (const char* f : {"/token", "/anchor.crt", "/proxy.yaml"}) {
    const std::string path = dir + f;
    // In namespaces the proxies run as their own user (strait-init exempts it); on loopback
    // as whoever runs the mesh.
    if ((!loopback() && ::chown(path.c_str(), kProxyUid, kProxyUid) != 0) ||
        ::chmod(path.c_str(), 0600) != 0) {
      return make_error("io_error", "cannot hand " + path + " to the proxy user");
    }
  }
  return dir + "/proxy.yaml";
}

Result<void> DevMesh::start_gateway(const ClusterView& c) {
  const std::string ip = listen_ip(c.gateway_ip);
  auto config = write_proxy_config(c, "gateway", "strait-multicluster", "strait-gateway",
                                   "listen:\n  inbound: " + ip + ":4143\n  admin: " + ip +
                                       ":4191\n  outbound: " + c.gateway_ip + ":4140\n");
  if (!config) return config.error();
  auto p = spawn(c.name + "/gw", {options_.bin.gateway, "--config", *config},
                 logged(c.name + "-gateway"));
  if (!p) return p.error();
  processes_.insert_or_assign(c.name + "/gateway", *p);
  // Ready once it has its certificate; the admin port speaks TLS.
  std::string last;
  auto ok = harness::wait_until(
      [&] {
        auto r = exec(c.name + "/gw",
                      {"curl", "-sk", "--max-time", "2", "-o", "/dev/null", "-w", "%{http_code}",
                       "https://" + c.gateway_ip + ":4191/ready"},
                      5s);
        last = r.out + r.err;
        return r.success() && r.out == "200";
      },
      deadline_in(30s), 100ms);
  if (!ok) {
    return make_error("gateway_not_ready",
                      c.name + ": /ready said " + last + "\n" +
                          tail(read_file(log_path(c.name + "-gateway")), 4000));
  }
  return {};
}

Result<void> DevMesh::start_link(const ClusterView& c) {
  auto p = spawn(c.name + "/ctrl",
                 {options_.bin.link, "--state-dir", c.state_dir, "--admin.listen",
                  listen_ip(c.ctrl_ip) + ":9999", "--links.poll", "1s"},
                 logged(c.name + "-link"));
  if (!p) return p.error();
  processes_.insert_or_assign(c.name + "/link", *p);
  if (auto r = wait_for_http_ok(c.name + "/ctrl", "http://" + c.ctrl_ip + ":9999/links",
                                deadline_in(30s));
      !r) {
    return make_error("link_not_up", c.name + ": " + r.error().message + "\n" +
                                         tail(read_file(log_path(c.name + "-link")), 4000));
  }
  return {};
}

Result<ClusterView> DevMesh::add_cluster(const std::string& name) {
  if (cluster(name)) return make_error("exists", "cluster " + name + " exists");
  progress(name + ": network");
  ClusterView c;
  c.name = name;
  c.trust_domain = options_.trust == Trust::shared ? "strait.local" : name + ".strait";
  auto net = fabric_->add_cluster(name);
  if (!net) return net.error();
  c.net = *net;
  auto ctrl = fabric_->add_pod(name, "ctrl", true);
  if (!ctrl) return ctrl.error();
  auto gw = fabric_->add_pod(name, "gw", true);
  if (!gw) return gw.error();
  c.ctrl_ip = ctrl->ip;
  c.ctrl_wan_ip = ctrl->wan_ip;
  c.gateway_ip = gw->ip;
  c.gateway_wan_ip = gw->wan_ip;
  c.state_dir = file(name + "/state");
  make_world_readable_dir(file(name));

  progress(name + ": install (trust domain " + c.trust_domain + ")");
  if (auto r = install(c); !r) return r.error();
  clusters_.push_back(c);
  progress(name + ": controller at " + c.ctrl_ip + " (wan " + c.ctrl_wan_ip + ")");
  if (auto r = start_controller(c); !r) return r.error();
  progress(name + ": gateway at " + c.gateway_wan_ip + ":4143, waiting for its certificate");
  if (auto r = start_gateway(c); !r) return r.error();
  progress(name + ": strait-link");
  if (auto r = start_link(c); !r) return r.error();
  if (auto r = save(); !r) return r.error();
  return c;
}

Result<WorkloadView> DevMesh::add_workload(WorkloadSpec spec) {
  auto c = cluster(spec.cluster);
  if (!c) return c.error();
  const std::string ref = spec.cluster + "/" + spec.pod;
  for (const auto& w : workloads_) {
    if (w.spec.cluster == spec.cluster && w.spec.pod == spec.pod) {
      return make_error("exists", "pod " + ref + " exists");
    }
  }
  if (spec.app == App::command && spec.command.empty()) {
    return make_error("bad_workload", ref + ": no command to run");
  }
  if (!spec.ports.empty()) spec.port = spec.ports.front();
  auto pod = fabric_->add_pod(spec.cluster, spec.pod, false);
  if (!pod) return pod.error();
  auto w = start_workload(*c, spec, *pod);
  if (!w) {
    (void)fabric_->remove_pod(ref);  // nothing half-made stays behind
    return w.error();
  }
  workloads_.push_back(*w);
  if (auto r = save(); !r) return r.error();
  return w;
}

Result<void> DevMesh::remove_workload(const std::string& ref) {
  auto it = std::find_if(workloads_.begin(), workloads_.end(), [&](const WorkloadView& w) {
    return w.spec.cluster + "/" + w.spec.pod == ref;
  });
  if (it == workloads_.end()) return make_error("no_pod", "no workload " + ref + " in this mesh");
  for (auto p = processes_.begin(); p != processes_.end();) {
    p = p->first.rfind(ref + "/", 0) == 0 ? processes_.erase(p) : std::next(p);
  }
  if (auto r = fabric_->remove_pod(ref); !r) return r;
  workloads_.erase(it);
  return save();
}

Result<WorkloadView> DevMesh::start_workload(const ClusterView& cv, WorkloadSpec spec,
                                             const harness::PodInfo& pod_info) {
  const ClusterView* c = &cv;
  const harness::PodInfo* pod = &pod_info;
  if (spec.service_account.empty()) spec.service_account = spec.pod;
  if (spec.port == 0 && spec.app != App::none) spec.port = spec.app == App::http ? 8080 : 9000;
  if (spec.name.empty()) spec.name = spec.cluster + "-" + spec.pod;
  const std::string ref = spec.cluster + "/" + spec.pod;
  progress(ref + ": pod (" + spec.ns + "/" + spec.service_account + ", " + app_name(spec.app) +
           ")");
  WorkloadView w{spec, *pod,
                 "spiffe://" + c->trust_domain + "/ns/" + spec.ns + "/sa/" + spec.service_account};

  if (!loopback()) {
    // The pod's resolver is its cluster's DNS, with the Kubernetes search list.
    auto r = fabric_->harness()->set_resolver(
        ref, {c->ctrl_ip}, {spec.ns + ".svc." + c->domain, "svc." + c->domain, c->domain});
    if (!r) return r.error();
  }
  if (spec.intercept && !loopback()) {
    auto r = exec(ref,
                  {options_.bin.init, "--proxy-uid", std::to_string(kProxyUid),
                   "--skip-outbound-cidrs", c->ctrl_ip + "/32"},
                  30s);
    if (!r.success()) return make_error("strait_init_failed", ref + ": " + r.out + r.err);
  }
  if (spec.app == App::command) {
    if (auto r = start_command(spec, *pod); !r) return r.error();
  } else if (spec.app != App::none) {
    const std::string listen = listen_ip(pod->ip) + ":" + std::to_string(spec.port);
    std::vector<std::string> argv = {
        options_.bin.testapp, app_name(spec.app), "--listen", listen, "--io-timeout-ms", "300000"};
    if (spec.app == App::http) argv.insert(argv.end(), {"--name", spec.name});
    auto p = spawn(ref, argv, logged(spec.cluster + "-" + spec.pod + "-app"));
    if (!p) return p.error();
    processes_.insert_or_assign(ref + "/app", *p);
    if (auto r = wait_for_tcp(ref, pod->ip + ":" + std::to_string(spec.port), deadline_in(10s));
        !r) {
      return r.error();
    }
  }
  std::string extra = "workload:\n  labels: {app: " + spec.pod + "}\n";
  std::string ports;
  for (auto port : spec.ports.empty() ? std::vector<std::uint16_t>{spec.port} : spec.ports) {
    if (port != 0) ports += (ports.empty() ? "" : ", ") + std::to_string(port);
  }
  if (!ports.empty()) extra += "  ports: [" + ports + "]\n";
  if (!spec.service.empty()) {
    extra +=
        "register: {service: " + spec.service + ", " +
        (spec.ports.size() > 1 ? "ports: [" + ports + "]" : "port: " + std::to_string(spec.port)) +
        ", name: " + spec.cluster + "-" + spec.pod +
        (loopback() ? ", address: " + pod->ip : std::string()) + "}\n";
  }
  if (loopback()) {
    // Every listener on the pod's own address; the application is reached there too; clients
    // come in through the explicit port (no interception without namespaces).
    const std::string& ip = pod->ip;
    extra += "listen:\n  outbound: " + ip + ":4140\n  explicit: " + ip + ":" +
             std::to_string(kExplicitPort) + "\n  inbound: " + ip + ":4143\n  admin: " + ip +
             ":4191\ninbound:\n  forwardAddress: " + ip + "\n";
  }
  auto config = write_proxy_config(*c, spec.pod, spec.ns, spec.service_account, extra);
  if (!config) return config.error();
  auto o = logged(spec.cluster + "-" + spec.pod + "-proxy");
  if (!loopback()) {
    o.uid = kProxyUid;
    o.gid = kProxyUid;
  }
  auto p = spawn(ref, {options_.bin.proxy, "--config", *config}, o);
  if (!p) return p.error();
  processes_.insert_or_assign(ref + "/proxy", *p);
  auto ns = netns_of(ref);
  if (!ns) return ns.error();
  auto ready = harness::wait_until(
      [&] {
        return !p->running() || harness::wait_for_http_ok_in(
                                    *ns, "http://" + pod->ip + ":4191/ready", deadline_in(200ms));
      },
      deadline_in(30s), 100ms);
  if (!ready || !p->running()) {
    return make_error(
        "proxy_not_ready",
        ref + ": no /ready" + (p->running() ? "" : " (the proxy exited)") + "\n" +
            tail(read_file(log_path(spec.cluster + "-" + spec.pod + "-proxy")), 4000));
  }
  return w;
}

Result<void> DevMesh::start_command(const WorkloadSpec& spec, const harness::PodInfo& pod) {
  const std::string ref = spec.cluster + "/" + spec.pod;
  const std::string log = spec.cluster + "-" + spec.pod + "-app";
  auto o = logged(log);
  const char* path = std::getenv("PATH");
  o.env.push_back({"POD_IP", pod.ip});
  o.env.push_back({"PATH", fs::path(options_.bin.straitctl).parent_path().string() + ":" +
                               fs::path(options_.bin.testapp).parent_path().string() + ":" +
                               (path ? path : "/usr/bin:/bin")});
  auto p = spawn(ref, spec.command, o);
  if (!p) return p.error();
  processes_.insert_or_assign(ref + "/app", *p);
  for (auto port : spec.ports.empty() ? std::vector<std::uint16_t>{spec.port} : spec.ports) {
    if (port == 0) continue;
    const std::string address = pod.ip + ":" + std::to_string(port);
    auto up = harness::wait_until(
        [&] { return !p->running() || wait_for_tcp(ref, address, deadline_in(200ms)).ok(); },
        deadline_in(30s), 100ms);
    if (!up || !p->running()) {
      return make_error("app_not_listening",
                        ref + ": " +
                            (p->running() ? "nothing listens on " + address + " after 30 s"
                                          : "the command exited") +
                            "\n" + tail(read_file(log_path(log)), 4000));
    }
  }
  return {};
}

Result<std::string> DevMesh::link_gen(const std::string& to, const std::string& from,
                                      const std::string& ttl) {
  return straitctl(to, {"multicluster", "link-gen", "--cluster-name", to, "--source-cluster", from,
                        "--ttl", ttl});
}

Result<void> DevMesh::link(const std::string& from, const std::string& to) {
  progress(from + " -> " + to + ": link");
  auto yaml = link_gen(to, from);
  if (!yaml) return yaml.error();
  return apply(from, *yaml);
}

Result<std::string> DevMesh::straitctl(const std::string& cluster_name,
                                       std::vector<std::string> args,
                                       std::chrono::milliseconds timeout) {
  auto c = cluster(cluster_name);
  if (!c) return c.error();
  args.insert(args.begin(), options_.bin.straitctl);
  args.insert(args.end(), {"--state-dir", c->state_dir});
  auto r = exec(cluster_name + "/ctrl", args, timeout);
  if (!r.success()) {
    std::string what;
    for (std::size_t i = 1; i < args.size() && i < 4; ++i) what += (i > 1 ? " " : "") + args[i];
    return make_error("straitctl_failed", cluster_name + ": straitctl " + what + ": " +
                                              r.status.to_string() + "\n" + r.out + r.err);
  }
  return r.out;
}

Result<void> DevMesh::apply(const std::string& cluster_name, const std::string& yaml) {
  const std::string path = file("manifests/" + std::to_string(++manifests_) + ".yaml");
  make_world_readable_dir(file("manifests"));
  if (auto r = write_file(path, yaml); !r) return r;
  auto r = straitctl(cluster_name, {"apply", "-f", path});
  if (!r) return r.error();
  return {};
}

Result<ServiceView> DevMesh::service(const std::string& cluster_name, const std::string& ns,
                                     const std::string& name) {
  ServiceView v;
  bool found = false;
  for (const char* kind : {"services", "endpoints"}) {
    auto out = straitctl(cluster_name, {"get", kind, "-n", ns, "-o", "json"});
    if (!out) return out.error();
    boost::system::error_code ec;
    auto list = json::parse(*out, ec);
    if (ec || !list.is_object() || !list.as_object().contains("items")) {
      return make_error("bad_reply", "straitctl get " + std::string(kind) + ": not a JSON list");
    }
    for (const auto& item : list.at("items").as_array()) {
      auto o = discovery::object_from_json(item, discovery::JsonDialect::kManifest);
      if (!o) return o.error();
      if (auto* s = std::get_if<discovery::Service>(&*o); s && s->meta.name == name) {
        v.service = *s;
        found = true;
      } else if (auto* e = std::get_if<discovery::Endpoint>(&*o); e && e->service == name) {
        v.endpoints.push_back(*e);
      }
    }
  }
  if (!found) return make_error("no_service", cluster_name + ": no service " + ns + "/" + name);
  return v;
}

Result<std::string> DevMesh::service_vip(const std::string& cluster_name, const std::string& ns,
                                         const std::string& name) {
  auto s = service(cluster_name, ns, name);
  if (!s) return s.error();
  if (s->service.cluster_ip.empty()) {
    return make_error("no_vip", cluster_name + ": " + ns + "/" + name + " has no virtual IP");
  }
  return s->service.cluster_ip;
}

Result<ServiceView> DevMesh::wait_service(const std::string& cluster_name, const std::string& ns,
                                          const std::string& name, int ready,
                                          std::chrono::milliseconds deadline, bool exact) {
  Result<ServiceView> last = make_error("timeout", "not checked");
  auto ok = harness::wait_until(
      [&] {
        last = service(cluster_name, ns, name);
        return last && (exact ? last->ready() == ready : last->ready() >= ready);
      },
      deadline_in(deadline), 250ms);
  if (ok) return last;
  return make_error("timeout", cluster_name + ": " + ns + "/" + name + " never had " +
                                   (exact ? "exactly " : "at least ") + std::to_string(ready) +
                                   " ready endpoints (last: " +
                                   (last ? std::to_string(last->ready()) + " ready of " +
                                               std::to_string(last->endpoints.size())
                                         : last.error().message) +
                                   ")");
}

harness::ExecResult DevMesh::exec(const std::string& pod, const std::vector<std::string>& argv,
                                  std::chrono::milliseconds timeout) {
  harness::SpawnOptions o;
  o.env = {{"ASAN_OPTIONS", "detect_leaks=0"}};
  auto ns = netns_of(pod);
  if (ns) o.resolv_conf = resolver_of(*ns);
  auto r = ns ? harness::exec_in(*ns, argv, timeout, o) : Result<harness::ExecResult>(ns.error());
  if (!r) {
    harness::ExecResult failed;
    failed.err = r.error().to_string();
    return failed;
  }
  return *r;
}

Result<std::string> DevMesh::curl(const std::string& pod, const std::string& url,
                                  std::chrono::milliseconds timeout) {
  const auto secs = std::max<long long>(1, timeout.count() / 1000);
  std::vector<std::string> argv = {"curl", "-sS", "--max-time", std::to_string(secs)};
  for (auto& a : curl_via(pod)) argv.push_back(std::move(a));
  argv.push_back(url);
  auto r = exec(pod, argv, timeout + 5s);
  if (!r.success()) {
    return make_error("curl_failed",
                      pod + " -> " + url + ": " + r.status.to_string() + " " + r.err);
  }
  return r.out;
}

std::string DevMesh::listen_ip(const std::string& pod_ip) const {
  return loopback() ? pod_ip : "0.0.0.0";
}

std::string DevMesh::explicit_proxy(const std::string& pod) const {
  if (!loopback()) return "";
  for (const auto& w : workloads_) {
    if (w.pod.ref() == pod) return w.pod.ip + ":" + std::to_string(kExplicitPort);
  }
  return "";
}

std::vector<std::string> DevMesh::curl_via(const std::string& pod) const {
  const std::string proxy = explicit_proxy(pod);
  if (proxy.empty()) return {};
  return {"--proxytunnel", "-x", "http://" + proxy};
}

std::string DevMesh::metrics(const std::string& pod) {
  const bool gateway = pod.size() > 3 && pod.compare(pod.size() - 3, 3, "/gw") == 0;
  std::string ip;
  for (const auto& c : clusters_) {
    if (pod == c.name + "/gw") ip = c.gateway_ip;
  }
  for (const auto& w : workloads_) {
    if (w.pod.ref() == pod) ip = w.pod.ip;
  }
  if (ip.empty()) return "";
  auto r = exec(pod,
                {"curl", "-sSk", "--max-time", "5",
                 std::string(gateway ? "https" : "http") + "://" + ip + ":4191/metrics"},
                10s);
  return r.success() ? r.out : "";
}

std::string DevMesh::link_status(const std::string& cluster_name) {
  auto c = cluster(cluster_name);
  if (!c) return "";
  auto r = exec(cluster_name + "/ctrl",
                {"curl", "-sS", "--max-time", "5", "http://" + c->ctrl_ip + ":9999/links"}, 10s);
  return r.success() ? r.out : "";
}

Result<harness::Process> DevMesh::spawn(const std::string& ref,
                                        const std::vector<std::string>& argv,
                                        harness::SpawnOptions options) {
  if (auto ns = netns_of(ref); ns && options.resolv_conf.empty()) {
    options.resolv_conf = resolver_of(*ns);
  }
  return fabric_->spawn(ref, argv, options);
}

Result<void> DevMesh::wait_for_tcp(const std::string& ref, const std::string& address,
                                   harness::Deadline deadline) {
  auto ns = netns_of(ref);
  if (!ns) return ns.error();
  return harness::wait_for_tcp_in(*ns, address, deadline);
}

Result<void> DevMesh::wait_for_http_ok(const std::string& ref, const std::string& url,
                                       harness::Deadline deadline) {
  auto ns = netns_of(ref);
  if (!ns) return ns.error();
  return harness::wait_for_http_ok_in(*ns, url, deadline);
}

std::string DevMesh::resolver_of(const std::string& netns) {
  if (netns.empty()) return "";
  const std::string path = "/etc/netns/" + netns + "/resolv.conf";
  std::error_code ec;
  return std::filesystem::exists(path, ec) ? path : "";
}

Result<std::string> DevMesh::netns_of(const std::string& ref) const {
  return fabric_->netns_of(ref);
}

Result<void> DevMesh::start_process(const std::string& pod, const std::string& name,
                                    const std::vector<std::string>& argv) {
  std::string log = pod + "-" + name;
  std::replace(log.begin(), log.end(), '/', '-');
  auto p = spawn(pod, argv, logged(log));
  if (!p) return p.error();
  processes_.insert_or_assign(pod + "/" + name, *p);
  return {};
}

std::string DevMesh::component_pod(const std::string& cluster_name,
                                   const std::string& component) const {
  return cluster_name + (component == "gateway" ? "/gw" : "/ctrl");
}

std::string DevMesh::component_binary(const std::string& component) const {
  if (component == "controller") return canonical(options_.bin.controller);
  if (component == "gateway") return canonical(options_.bin.gateway);
  if (component == "link") return canonical(options_.bin.link);
  return "";
}

Result<void> DevMesh::stop(const std::string& cluster_name, const std::string& component) {
  auto it = processes_.find(cluster_name + "/" + component);
  if (it != processes_.end()) {
    it->second.stop(5s);
    return {};
  }
  // Started by another process: find it among the processes in its pod.
  const std::string binary = component_binary(component);
  const std::string pod = component_pod(cluster_name, component);
  if (binary.empty() || !netns_of(pod)) {
    return make_error("no_component", "no " + component + " in cluster " + cluster_name);
  }
  bool found = false;
  for (pid_t pid : fabric_->pids(pod)) {
    if (process_exe(pid) != binary) continue;
    found = true;
    ::kill(pid, SIGTERM);
    auto gone = harness::wait_until([&] { return ::kill(pid, 0) != 0; }, deadline_in(5s));
    if (!gone) ::kill(pid, SIGKILL);
  }
  if (!found)
    return make_error("not_running", component + " of " + cluster_name + " is not running");
  return {};
}

Result<void> DevMesh::start(const std::string& cluster_name, const std::string& component) {
  auto c = cluster(cluster_name);
  if (!c) return c.error();
  if (running(cluster_name, component)) return {};
  if (component == "controller") return start_controller(*c);
  if (component == "gateway") return start_gateway(*c);
  if (component == "link") return start_link(*c);
  return make_error("no_component", "no component " + component + " (controller, gateway, link)");
}

bool DevMesh::running(const std::string& cluster_name, const std::string& component) {
  auto it = processes_.find(cluster_name + "/" + component);
  if (it != processes_.end()) return it->second.running();
  const std::string binary = component_binary(component);
  if (binary.empty()) return false;
  for (pid_t pid : fabric_->pids(component_pod(cluster_name, component))) {
    if (process_exe(pid) == binary) return true;
  }
  return false;
}

std::string DevMesh::logs() {
  std::string out;
  for (const auto& [name, p] : processes_) {
    auto st = p.poll();
    out += name + " (pid " + std::to_string(p.pid()) +
           "): " + (st ? "exited, " + st->to_string() : "running") + "\n";
  }
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(file("logs"), ec)) {
    out += "===== " + e.path().filename().string() + " =====\n" +
           tail(read_file(e.path().string()), 8000) + "\n";
  }
  return out;
}

Result<void> DevMesh::save() const {
  json::array clusters;
  for (const auto& c : clusters_) {
    clusters.push_back(json::object{{"name", c.name},
                                    {"trustDomain", c.trust_domain},
                                    {"domain", c.domain},
                                    {"index", c.net.index},
                                    {"podCidr", c.net.pod_cidr},
                                    {"serviceCidr", c.net.service_cidr},
                                    {"controller", c.ctrl_ip},
                                    {"controllerWan", c.ctrl_wan_ip},
                                    {"gateway", c.gateway_ip},
                                    {"gatewayWan", c.gateway_wan_ip},
                                    {"stateDir", c.state_dir}});
  }
  json::array workloads;
  for (const auto& w : workloads_) {
    workloads.push_back(json::object{{"cluster", w.spec.cluster},
                                     {"pod", w.spec.pod},
                                     {"namespace", w.spec.ns},
                                     {"serviceAccount", w.spec.service_account},
                                     {"app", app_name(w.spec.app)},
                                     {"port", w.spec.port},
                                     {"ports", json::value_from(w.spec.ports)},
                                     {"command", json::value_from(w.spec.command)},
                                     {"service", w.spec.service},
                                     {"ip", w.pod.ip},
                                     {"identity", w.identity}});
  }
  json::object root{{"fabric", fabric_ ? fabric_->to_json() : json::value()},
                    {"harnessStateRoot", options_.harness_state_root},
                    {"phase", phase_},
                    {"binaries", json::object{{"controller", options_.bin.controller},
                                              {"proxy", options_.bin.proxy},
                                              {"init", options_.bin.init},
                                              {"gateway", options_.bin.gateway},
                                              {"link", options_.bin.link},
                                              {"straitctl", options_.bin.straitctl},
                                              {"testapp", options_.bin.testapp}}},
                    {"topology", topology_name(options_.topology)},
                    {"trust", options_.trust == Trust::shared ? "shared" : "separate"},
                    {"clusters", std::move(clusters)},
                    {"workloads", std::move(workloads)}};
  const std::string path = file("devmesh.json");
  if (auto r = write_file(path + ".tmp", json::serialize(root) + "\n"); !r) return r;
  std::error_code ec;
  fs::rename(path + ".tmp", path, ec);
  if (ec) return make_error("io_error", "cannot write " + path + ": " + ec.message());
  return {};
}

Result<void> DevMesh::mark_ready() {
  phase_ = "ready";
  return save();
}

Result<void> DevMesh::teardown() {
  processes_.clear();
  if (fabric_) {
    if (auto r = fabric_->teardown(); !r) return r;
  }
  // Everything under the work directory was made here (states, configs, logs).
  std::error_code ec;
  fs::remove_all(options_.work_dir, ec);
  return {};
}

}  // namespace strait::devmesh
