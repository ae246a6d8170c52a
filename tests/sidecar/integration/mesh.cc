// Mesh: the pods, the controller, strait-init, the proxies and the test applications.
#include "tests/sidecar/integration/mesh.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

namespace strait::sidecar_it {
namespace {

using harness::Clock;
using harness::deadline_in;

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::trunc);
  out << text;
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int remaining_ms(Clock::time_point deadline) {
  auto d = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return d < 0 ? 0 : static_cast<int>(d);
}

}  // namespace

std::string build_path(const std::string& rel) { return std::string(STRAIT_BUILD_DIR) + "/" + rel; }
std::string testapp() { return build_path("tests/tools/strait-testapp"); }

// ---- Conn ----

bool Conn::send_all(const std::string& data) {
  std::size_t off = 0;
  while (off < data.size()) {
    ssize_t n = ::send(fd_.get(), data.data() + off, data.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    off += static_cast<std::size_t>(n);
  }
  return true;
}

std::string Conn::read_n(std::size_t n, std::chrono::milliseconds timeout, bool* ok) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  *ok = false;
  char buf[16384];
  while (out.size() < n) {
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    ssize_t got = ::recv(fd_.get(), buf, std::min(sizeof buf, n - out.size()), 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) return out;
    out.append(buf, static_cast<std::size_t>(got));
  }
  *ok = true;
  return out;
}

std::string Conn::read_to_end(std::chrono::milliseconds timeout, bool* closed) {
  auto deadline = Clock::now() + timeout;
  std::string out;
  *closed = false;
  char buf[16384];
  for (;;) {
    pollfd p{fd_.get(), POLLIN, 0};
    int r = ::poll(&p, 1, remaining_ms(deadline));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return out;
    ssize_t got = ::recv(fd_.get(), buf, sizeof buf, 0);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      *closed = true;
      return out;
    }
    out.append(buf, static_cast<std::size_t>(got));
  }
}

bool Conn::echo(const std::string& msg, std::chrono::milliseconds timeout) {
  if (!valid() || !send_all(msg)) return false;
  bool ok = false;
  return read_n(msg.size(), timeout, &ok) == msg && ok;
}

// ---- Mesh ----

Mesh::~Mesh() {
  if (h_) (void)h_->teardown();
  if (!dir_.empty()) {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
}

harness::SpawnOptions Mesh::logged(const std::string& name) const {
  harness::SpawnOptions o;
  o.stdout_path = o.stderr_path = log_path(name);
  // LeakSanitizer cannot inspect a process that changed its uid; leaks are the unit tests' job.
  o.env = {{"ASAN_OPTIONS", "detect_leaks=0"}};
  return o;
}

std::string Mesh::logs() {
  std::string out;
  std::error_code ec;
  auto status = [&](const std::string& name, harness::Process& p) {
    auto st = p.poll();
    out += name + " (pid " + std::to_string(p.pid()) +
           "): " + (st ? "exited, " + st->to_string() : "running") + "\n";
  };
  for (auto [name, p] : {std::pair{"controller", &controller_},
                         {"client proxy", &client_proxy_},
                         {"server proxy", &server_proxy_}}) {
    if (*p) status(name, **p);
  }
  for (auto& [pod, p] : extra_proxies_) status(pod + " proxy", p);
  if (h_) {
    for (const char* pod : {"client", "server"}) {
      auto nat = run(pod, {"iptables-save", "-t", "nat"}, 5s);
      auto ss = run(pod, {"ss", "-tanp"}, 5s);
      out += std::string("===== ") + pod + ": iptables-save -t nat; ss -tanp =====\n" + nat.out +
             nat.err + ss.out + ss.err + "\n";
    }
  }
  for (const auto& e : fs::directory_iterator(dir_ / "logs", ec)) {
    std::string text = read_file(e.path());
    if (text.size() > 12000) text = "...\n" + text.substr(text.size() - 12000);
    out += "===== " + e.path().filename().string() + " =====\n" + text + "\n";
  }
  return out;
}

harness::ExecResult Mesh::run(const std::string& pod, const std::vector<std::string>& argv,
                              std::chrono::milliseconds timeout) {
  harness::SpawnOptions o;
  o.env = {{"ASAN_OPTIONS", "detect_leaks=0"}};
  auto r = h_->exec("east/" + pod, argv, timeout, o);
  if (!r) {
    harness::ExecResult failed;
    failed.err = r.error().to_string();
    return failed;
  }
  return *r;
}

Result<std::string> Mesh::straitctl(std::vector<std::string> args) {
  args.insert(args.begin(), build_path("cli/straitctl"));
  args.push_back("--state-dir");
  args.push_back(state_dir().string());
  auto r = run("ctrl", args, 30s);
  if (!r.success()) {
    return make_error("straitctl_failed",
                      args[1] + ": " + r.status.to_string() + "\n" + r.out + r.err);
  }
  return r.out;
}

Result<void> Mesh::apply(const std::string& yaml) {
  static int n = 0;
  fs::path f = dir_ / ("manifest-" + std::to_string(++n) + ".yaml");
  write_file(f, yaml);
  auto r = straitctl({"apply", "-f", f.string()});
  if (!r) return r.error();
  return {};
}

Result<std::string> Mesh::curl(const std::string& pod, const std::string& url,
                               std::chrono::milliseconds timeout) {
  auto secs = std::to_string(std::max<long>(1, static_cast<long>(timeout.count() / 1000)));
  auto r = run(pod, {"curl", "-sS", "--max-time", secs, url}, timeout + 5s);
  if (!r.success())
    return make_error("curl_failed", url + ": " + r.status.to_string() + " " + r.err);
  return r.out;
}

std::string Mesh::metrics(const std::string& pod) {
  auto r = run(pod, {"curl", "-sS", "--max-time", "5", "http://127.0.0.1:4191/metrics"}, 10s);
  return r.success() ? r.out : "";
}

bool Mesh::wait_metric(const std::string& pod, const std::string& name,
                       const std::map<std::string, std::string>& labels, double at_least,
                       std::chrono::milliseconds deadline) {
  return harness::wait_until([&] { return metric(pod, name, labels) >= at_least; },
                             deadline_in(deadline), 200ms)
      .ok();
}

Result<Conn> Mesh::connect(const std::string& pod, const std::string& address,
                           std::chrono::milliseconds timeout) {
  auto fd = h_->connect("east/" + pod, address, deadline_in(timeout));
  if (!fd) return fd.error();
  return Conn(std::move(*fd));
}

Result<void> Mesh::start_controller() {
  std::vector<std::string> argv = {build_path("controlplane/strait-controller"), "--config",
                                   (state_dir() / "controller.yaml").string()};
  argv.insert(argv.end(), options_.controller_flags.begin(), options_.controller_flags.end());
  auto p = h_->spawn("east/ctrl", argv, logged("controller"));
  if (!p) return p.error();
  controller_ = *p;
  for (const char* port : {":8080", ":8086", ":9990"}) {
    if (auto r = h_->wait_for_tcp("east/ctrl", ctrl_ip + port, deadline_in(30s)); !r) {
      return make_error("controller_not_up", std::string("port") + port + ": " + r.error().message);
    }
  }
  // straitctl reads run/endpoints.json: wait for this run's file (it carries the pid).
  auto ok = harness::wait_until(
      [&] {
        return read_file(state_dir() / "run" / "endpoints.json").find(std::to_string(p->pid())) !=
               std::string::npos;
      },
      deadline_in(10s));
  if (!ok)
    return make_error("controller_not_up",
                      "no run/endpoints.json with pid " + std::to_string(p->pid()));
  return {};
}

Result<void> Mesh::start_proxy(const std::string& pod, const std::string& ns, const std::string& sa,
                               const std::string& extra_yaml,
                               const std::vector<std::string>& flags) {
  fs::path pd = dir_ / ("proxy-" + pod);
  fs::create_directories(pd);
  auto token = straitctl({"token", "--namespace", ns, "--service-account", sa, "--ttl", "1h"});
  if (!token) return token.error();
  write_file(pd / "token", *token);
  fs::copy_file(state_dir() / "ca" / "anchor.crt", pd / "anchor.crt",
                fs::copy_options::overwrite_existing);
  std::string yaml =
      "identity:\n  trustDomain: " + std::string(kTrustDomain) + "\n  namespace: " + ns +
      "\n  serviceAccount: " + sa + "\n  tokenFile: " + (pd / "token").string() +
      "\n  trustAnchors: " + (pd / "anchor.crt").string() +
      "\ncontroller:\n  identity: " + ctrl_ip + ":8080\n  destination: " + ctrl_ip +
      ":8086\nlisten:\n  outbound: 127.0.0.1:4140\n  inbound: 0.0.0.0:4143\n  admin: "
      "0.0.0.0:4191\n" +
      extra_yaml;
  write_file(pd / "proxy.yaml", yaml);
  for (const auto& f : {pd / "token", pd / "anchor.crt", pd / "proxy.yaml"}) {
    ::chown(f.c_str(), kProxyUid, kProxyUid);
    fs::permissions(f, fs::perms::owner_read | fs::perms::owner_write);
  }
  ::chown(pd.c_str(), kProxyUid, kProxyUid);

  std::vector<std::string> argv = {build_path("sidecar/proxy/strait-proxy"), "--config",
                                   (pd / "proxy.yaml").string()};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (const char* g = std::getenv("STRAIT_SINT_GDB"); g && pod == g) {  // debugging aid
    argv.insert(argv.begin(), {"gdb", "-batch", "-ex", "run", "-ex", "bt", "-ex",
                               "info registers rip", "--args"});
  }
  auto o = logged(pod + "-proxy");
  o.uid = kProxyUid;
  o.gid = kProxyUid;
  auto p = h_->spawn("east/" + pod, argv, o);
  if (!p) return p.error();
  if (pod == "client") {
    client_proxy_ = *p;
  } else if (pod == "server") {
    server_proxy_ = *p;
  } else {
    extra_proxies_.insert_or_assign(pod, *p);
  }
  return {};
}

Result<void> Mesh::start_app(const std::string& pod, const PodApp& app) {
  auto p = h_->spawn("east/" + pod, app.argv, logged("app-" + pod + "-" + app.name));
  if (!p) return p.error();
  if (app.port == 0) return {};
  return h_->wait_for_tcp("east/" + pod, "127.0.0.1:" + std::to_string(app.port), deadline_in(15s));
}

Result<std::string> Mesh::add_server_pod(const std::string& pod, const std::vector<PodApp>& apps) {
  auto info = h_->add_pod("east", pod);
  if (!info) return info.error();
  auto r = run(pod,
               {build_path("sidecar/init/strait-init"), "--proxy-uid", std::to_string(kProxyUid),
                "--skip-outbound-cidrs", ctrl_ip + "/32"},
               30s);
  if (!r.success()) return make_error("strait_init_failed", pod + ": " + r.out + r.err);
  for (const auto& app : apps) {
    if (auto started = start_app(pod, app); !started) return started.error();
  }
  std::string ports;
  for (const auto& app : apps) {
    if (app.port != 0) ports += (ports.empty() ? "" : ", ") + std::to_string(app.port);
  }
  if (auto started = start_proxy(pod, "shop", "web",
                                 "workload:\n  ports: [" + ports + "]\n  labels: {app: web}\n",
                                 options_.server_proxy_flags);
      !started) {
    return started.error();
  }
  if (auto ready =
          h_->wait_for_http_ok("east/" + pod, "http://127.0.0.1:4191/ready", deadline_in(30s));
      !ready) {
    return make_error("proxy_not_ready", pod + ": " + ready.error().message);
  }
  return info->ip;
}

Result<void> Mesh::up(MeshOptions options) {
  options_ = std::move(options);
  char tmpl[] = "/tmp/strait-sint-XXXXXX";
  if (!::mkdtemp(tmpl)) return make_error("io_error", "mkdtemp failed");
  dir_ = tmpl;
  // The proxies run as uid 2102 and read their files here.
  fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                            fs::perms::others_read | fs::perms::others_exec);
  fs::create_directories(dir_ / "logs");

  auto h = harness::Harness::create({});
  if (!h) return h.error();
  h_ = std::move(*h);
  if (auto r = h_->add_cluster("east"); !r) return r.error();
  for (auto [name, ip] : {std::pair{"ctrl", &ctrl_ip},
                          {"client", &client_ip},
                          {"server", &server_ip},
                          {"plain", &plain_ip}}) {
    auto pod = h_->add_pod("east", name);
    if (!pod) return pod.error();
    *ip = pod->ip;
  }

  // The control plane.
  auto install = harness::exec_in(
      "",
      {build_path("cli/straitctl"), "install", "--cluster-name", "east", "--trust-domain",
       kTrustDomain, "--state-dir", state_dir().string(), "--identity-listen", "0.0.0.0:8080",
       "--destination-listen", "0.0.0.0:8086", "--admin-listen", "0.0.0.0:9990"},
      30s);
  if (!install || !install->success()) {
    return make_error("install_failed",
                      install ? install->out + install->err : install.error().to_string());
  }
  if (auto r = start_controller(); !r) return r;
  auto applied = apply(std::string(R"(apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: web, namespace: shop, labels: {app: web}}
spec:
  clusterIP: 198.19.0.10
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: echo, namespace: shop}
spec:
  clusterIP: 198.19.0.11
  ports: [{name: echo, port: 9000, targetPort: 9000}]
---
apiVersion: strait.dev/v1alpha1
kind: Service
metadata: {name: sink, namespace: shop}
spec:
  clusterIP: 198.19.0.12
  ports: [{name: sink, port: 9100, targetPort: 9100}]
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: echo-0, namespace: shop}
spec: {service: echo, address: )") +
                       server_ip + R"(, port: 9000, identity: "spiffe://east.strait/ns/shop/sa/web"}
---
apiVersion: strait.dev/v1alpha1
kind: Endpoint
metadata: {name: sink-0, namespace: shop}
spec: {service: sink, address: )" +
                       server_ip + R"(, port: 9100, identity: "spiffe://east.strait/ns/shop/sa/web"}
)");
  if (!applied) return applied.error();

  // Interception in the two meshed pods; the controller is reached directly.
  for (const char* pod : {"client", "server"}) {
    auto r = run(pod,
                 {build_path("sidecar/init/strait-init"), "--proxy-uid", std::to_string(kProxyUid),
                  "--skip-outbound-cidrs", ctrl_ip + "/32"},
                 30s);
    if (!r.success())
      return make_error("strait_init_failed", std::string(pod) + ": " + r.out + r.err);
  }

  // The server's applications.
  for (auto [mode, listen] :
       {std::pair{"http", "0.0.0.0:8080"}, {"echo", "0.0.0.0:9000"}, {"sink", "0.0.0.0:9100"}}) {
    // Connections may sit idle for a while in the tests (the testapp's default I/O timeout is 30
    // s).
    std::vector<std::string> argv = {testapp(),         mode,    "--listen", listen,
                                     "--io-timeout-ms", "180000"};
    if (std::string(mode) == "http") argv.insert(argv.end(), {"--name", "server"});
    auto p = h_->spawn("east/server", argv, logged(std::string("app-") + mode));
    if (!p) return p.error();
  }
  for (const char* port : {"127.0.0.1:8080", "127.0.0.1:9000", "127.0.0.1:9100"}) {
    if (auto r = h_->wait_for_tcp("east/server", port, deadline_in(10s)); !r) return r.error();
  }

  // The proxies.
  std::string extra;
  for (auto p : options_.server_extra_ports) extra += ", " + std::to_string(p);
  if (auto r = start_proxy("server", "shop", "web",
                           "workload:\n  ports: [8080, 9000, 9100" + extra +
                               "]\n  labels: {app: web}\n"
                               "register: {service: web, port: 8080, name: web-0}\n",
                           options_.server_proxy_flags);
      !r) {
    return r;
  }
  if (auto r = start_proxy("client", "front", "client", "workload:\n  labels: {app: client}\n",
                           options_.client_proxy_flags);
      !r) {
    return r;
  }
  for (const char* pod : {"server", "client"}) {
    if (auto r = h_->wait_for_http_ok(std::string("east/") + pod, "http://127.0.0.1:4191/ready",
                                      deadline_in(30s));
        !r) {
      return make_error("proxy_not_ready", std::string(pod) + ": " + r.error().message);
    }
  }
  // The registered endpoint travels to the client's proxy: an unmodified client gets through.
  std::string last;
  auto through = harness::wait_until(
      [&] {
        auto body = curl("client", std::string("http://") + kWebVip + "/", 3s);
        last = body ? *body : body.error().message;
        return body && body->find("hello from server") != std::string::npos;
      },
      deadline_in(30s), 200ms);
  if (!through) return make_error("mesh_not_ready", "web never answered through the mesh: " + last);
  return {};
}

// ---- fixture ----

void MeshTest::SetUp() {
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, iptables)";
  mesh_ = std::make_unique<Mesh>();
}

void MeshTest::TearDown() {
  if (mesh_ && HasFailure()) std::cerr << mesh_->logs();
  mesh_.reset();
}

}  // namespace strait::sidecar_it
