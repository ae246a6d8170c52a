// strait-bench-cp: the control-plane benchmark, and a helper the data-plane driver uses.
//
//   certify --state-dir DIR --namespace NS --service-account SA --out PREFIX
//       A workload certificate from a running controller (join token from the admin API, then
//       Certify with a fresh P-256 key): PREFIX.crt (leaf + chain), PREFIX.key, PREFIX.pem (both,
//       for HAProxy), PREFIX.anchor.crt. The same credentials Strait's proxies get.
//
//   run --build DIR --work DIR [--services 1000] [--endpoints 10,1000,10000] [--samples 20]
//       [--streams 1000] [--failure-samples 3] [--probe-period-ms 1000] [--fanout-rounds 5]
//       [--link-repair-period 60s] [--verbose 1]
//       Two real controllers (east, west) on loopback, west linked to east by the real
//       strait-link, east's real strait-gateway (its admin port is what the link probes).
//       East gets --services services (even ones exported through the gateway, odd ones flat)
//       and, step by step, each --endpoints total. At each step: propagation from an Apply in
//       east to the message on a west destination stream (gateway and flat mirrors; and the
//       same write seen on an east stream, the local baseline). At the last step: a hung
//       gateway (SIGSTOP) until its mirrors' endpoints leave the west streams; fan-out of one
//       change to --streams streams; controller RSS. One JSON object on stdout.
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <cmath>
#include <deque>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "bench/common.h"
#include "controlplane/client/certify.h"
#include "controlplane/client/channel.h"
#include "controlplane/client/controller_access.h"
#include "controlplane/server/state_files.h"
#include "core/discovery/json_codec.h"
#include "core/discovery/manifest.h"
#include "core/discovery/model.h"
#include "core/identity/spiffe_id.h"
#include "strait/admin.grpc.pb.h"
#include "strait/destination.grpc.pb.h"

namespace fs = std::filesystem;
namespace json = boost::json;
using namespace std::chrono_literals;
using strait::bench::Clock;
using strait::bench::Flags;
namespace dst = strait::destination::v1;
namespace adm = strait::admin::v1;
namespace disc = strait::discovery;

namespace {

constexpr const char* kTool = "strait-bench-cp";
bool g_verbose = false;

void note(const std::string& msg) {
  if (g_verbose) std::cerr << "strait-bench-cp: " << msg << std::endl;
}

[[noreturn]] void fail(const std::string& msg) { strait::bench::die(kTool, msg, 1); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text(const fs::path& p, const std::string& text,
                fs::perms perms = fs::perms::owner_read | fs::perms::owner_write) {
  {
    std::ofstream out(p, std::ios::trunc);
    out << text;
  }
  fs::permissions(p, perms);
}

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

bool wait_until(const std::function<bool()>& cond, Clock::duration deadline,
                Clock::duration poll = 10ms) {
  auto until = Clock::now() + deadline;
  for (;;) {
    if (cond()) return true;
    if (Clock::now() >= until) return false;
    std::this_thread::sleep_for(poll);
  }
}

long rss_kb(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

// ---- processes ----

class Proc {
 public:
  ~Proc() { stop(); }
  void start(const std::vector<std::string>& args, const fs::path& log) {
    std::vector<std::string> copy = args;
    std::vector<char*> argv;
    for (auto& a : copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int devnull = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      ::dup2(devnull, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      for (int i = 3; i < 4096; ++i) ::close(i);  // gRPC's sockets are not all close-on-exec
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(fd);
    ::close(devnull);
    if (pid < 0) fail("fork failed");
    pid_ = pid;
    log_ = log;
  }
  void stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGCONT);
    ::kill(pid_, SIGTERM);
    int st = 0;
    if (!wait_until([&] { return ::waitpid(pid_, &st, WNOHANG) == pid_; }, 5s)) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, &st, 0);
    }
    pid_ = -1;
  }
  bool alive() {
    int st = 0;
    return pid_ > 0 && ::waitpid(pid_, &st, WNOHANG) == 0;
  }
  pid_t pid() const { return pid_; }
  std::string log() const { return slurp(log_); }

 private:
  pid_t pid_ = -1;
  fs::path log_;
};

// ---- a controller ----

struct Controller {
  std::string name;
  fs::path state;
  Proc proc;
  strait::controlplane::ControllerAccess access;
  std::unique_ptr<adm::Admin::Stub> admin;

  void start(const std::string& binary, const std::vector<std::string>& flags,
             const fs::path& log) {
    std::vector<std::string> argv = {binary, "--config", (state / "controller.yaml").string()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    proc.start(argv, log);
    const fs::path endpoints = state / "run" / "endpoints.json";
    bool up = wait_until(
        [&] {
          boost::system::error_code ec;
          auto v = json::parse(slurp(endpoints), ec);
          if (ec || !v.is_object()) return false;
          const auto* pid = v.as_object().if_contains("pid");
          return pid && pid->is_int64() && pid->as_int64() == proc.pid();
        },
        30s);
    if (!up) fail("controller " + name + " did not start:\n" + proc.log());
    auto a = strait::controlplane::access_from_state_dir(state);
    if (!a) fail("access " + name + ": " + a.error().to_string());
    access = *a;
    admin = access.admin();
  }

  std::unique_ptr<grpc::ClientContext> ctx(Clock::duration deadline = 60s) const {
    auto c = std::make_unique<grpc::ClientContext>();
    c->set_deadline(std::chrono::system_clock::now() +
                    std::chrono::duration_cast<std::chrono::system_clock::duration>(deadline));
    return c;
  }

  void apply(const std::vector<disc::Object>& objects) const {
    for (std::size_t at = 0; at < objects.size(); at += 500) {
      adm::ApplyRequest req;
      for (std::size_t i = at; i < std::min(objects.size(), at + 500); ++i) {
        req.add_objects_json(json::serialize(disc::object_to_json(objects[i])));
      }
      adm::ApplyResponse resp;
      auto c = ctx();
      auto s = admin->Apply(c.get(), req, &resp);
      if (!s.ok()) fail(name + " Apply: " + s.error_message());
    }
  }
  void remove(disc::Kind kind, const std::string& ns, const std::string& n) const {
    adm::DeleteRequest req;
    req.set_kind(std::string(disc::kind_name(kind)));
    req.set_namespace_(ns);
    req.set_name(n);
    adm::DeleteResponse resp;
    auto c = ctx();
    auto s = admin->Delete(c.get(), req, &resp);
    if (!s.ok()) fail(name + " Delete: " + s.error_message());
  }
  std::map<std::string, std::uint64_t> counts() const {
    adm::StatusRequest req;
    adm::StatusResponse resp;
    auto c = ctx(10s);
    std::map<std::string, std::uint64_t> out;
    if (!admin->Status(c.get(), req, &resp).ok()) return out;
    for (const auto& [k, v] : resp.objects()) out[k] = v;
    return out;
  }
  std::string token(const std::string& ns, const std::string& sa) const {
    adm::IssueTokenRequest req;
    req.set_namespace_(ns);
    req.set_service_account(sa);
    req.set_ttl_seconds(3600);
    adm::IssueTokenResponse resp;
    auto c = ctx();
    auto s = admin->IssueToken(c.get(), req, &resp);
    if (!s.ok()) fail(name + " IssueToken: " + s.error_message());
    return resp.token();
  }
};

// ---- destination streams ----

// What one stream has seen: per "ip:port", when it was last added and last removed.
struct StreamLog {
  bool first = false;
  bool done = false;
  std::map<std::string, Clock::time_point> added, removed;
  std::set<std::string> present;
};

class Streams;

class Watch : public grpc::ClientReadReactor<dst::Update> {
 public:
  Watch(Streams* owner, std::size_t index, dst::Destination::Stub* stub, const std::string& path);
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status&) override;
  void cancel() { ctx_.TryCancel(); }

 private:
  Streams* owner_;
  std::size_t index_;
  grpc::ClientContext ctx_;
  dst::GetDestination req_;
  dst::Update msg_;
};

// Many Destination.Get streams over a few channels (each its own connection).
class Streams {
 public:
  Streams(const strait::controlplane::ControllerAccess& access, std::size_t channels) {
    for (std::size_t i = 0; i < channels; ++i) {
      auto ch = strait::controlplane::make_channel(access.destination_address, access.credentials);
      stubs_.push_back(dst::Destination::NewStub(ch));
    }
  }
  ~Streams() { close(); }

  std::size_t open(const std::string& path) {
    std::lock_guard lock(mu_);
    std::size_t i = logs_.size();
    logs_.emplace_back();
    watches_.push_back(std::make_unique<Watch>(this, i, stubs_[i % stubs_.size()].get(), path));
    return i;
  }
  void close() {
    for (auto& w : watches_) w->cancel();
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, 10s, [&] {
      for (const auto& l : logs_)
        if (!l.done) return false;
      return true;
    });
    lock.unlock();
    watches_.clear();
    logs_.clear();
  }
  // Waits (deadline) until pred holds over the logs, under the lock.
  bool wait(const std::function<bool(const std::vector<StreamLog>&)>& pred,
            Clock::duration deadline) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, deadline, [&] { return pred(logs_); });
  }
  template <class F>
  auto with(F f) {
    std::lock_guard lock(mu_);
    return f(logs_);
  }

  void on_update(std::size_t i, const dst::Update& u) {
    auto now = Clock::now();
    std::lock_guard lock(mu_);
    auto& l = logs_[i];
    l.first = true;
    auto key = [](const dst::TcpAddress& a) { return a.ip() + ":" + std::to_string(a.port()); };
    if (u.has_add()) {
      for (const auto& a : u.add().addrs()) {
        l.added[key(a.addr())] = now;
        l.present.insert(key(a.addr()));
      }
    } else if (u.has_remove()) {
      for (const auto& a : u.remove().addrs()) {
        l.removed[key(a)] = now;
        l.present.erase(key(a));
      }
    } else if (u.has_no_endpoints()) {
      for (const auto& k : l.present) l.removed[k] = now;
      l.present.clear();
    }
    cv_.notify_all();
  }
  void on_done(std::size_t i) {
    std::lock_guard lock(mu_);
    logs_[i].done = true;
    cv_.notify_all();
  }

 private:
  std::vector<std::unique_ptr<dst::Destination::Stub>> stubs_;
  std::deque<std::unique_ptr<Watch>> watches_;
  std::vector<StreamLog> logs_;
  std::mutex mu_;
  std::condition_variable cv_;
};

Watch::Watch(Streams* owner, std::size_t index, dst::Destination::Stub* stub,
             const std::string& path)
    : owner_(owner), index_(index) {
  req_.set_path(path);
  stub->async()->Get(&ctx_, &req_, this);
  StartRead(&msg_);
  StartCall();
}
void Watch::OnReadDone(bool ok) {
  if (!ok) return;
  owner_->on_update(index_, msg_);
  StartRead(&msg_);
}
void Watch::OnDone(const grpc::Status&) { owner_->on_done(index_); }

// ---- objects ----

disc::Service service(const std::string& name, disc::Labels labels) {
  disc::Service s;
  s.meta.ns = "shop";
  s.meta.name = name;
  s.meta.labels = std::move(labels);
  s.ports.push_back({.name = "http", .port = 80, .target_port = 8080});
  return s;
}

// Addresses are data only here (nothing connects to them): 198.18.0.0/15, the benchmark range.
disc::Endpoint endpoint(const std::string& svc, const std::string& name, std::size_t n) {
  disc::Endpoint e;
  e.meta.ns = "shop";
  e.meta.name = name;
  e.service = svc;
  e.address = "198.18." + std::to_string(100 + n / 250) + "." + std::to_string(n % 250 + 1);
  e.port = 8080;
  e.identity = "spiffe://east.strait/ns/shop/sa/" + svc;
  return e;
}

json::object percentiles(std::vector<double> v) {
  json::object o;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    if (v.empty()) return 0.0;
    auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return v[std::min(i, v.size() - 1)];
  };
  o["count"] = v.size();
  o["p50_ms"] = at(0.5);
  o["p99_ms"] = at(0.99);
  o["max_ms"] = v.empty() ? 0.0 : v.back();
  json::array all;
  for (double x : v) all.push_back(std::round(x * 10) / 10);
  o["samples_ms"] = all;  // sorted
  return o;
}

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

// ---- certify ----

int cmd_certify(const Flags& f) {
  for (const char* k : {"state-dir", "namespace", "service-account", "out"}) {
    if (!f.has(k)) fail(std::string("certify needs --") + k);
  }
  auto access = strait::controlplane::access_from_state_dir(f.str("state-dir"));
  if (!access) fail(access.error().to_string());
  Controller c;
  c.name = access->cluster;
  c.access = *access;
  c.admin = access->admin();
  auto token = c.token(f.str("namespace"), f.str("service-account"));
  auto id = strait::identity::SpiffeId::workload(access->trust_domain, f.str("namespace"),
                                                 f.str("service-account"));
  auto creds = strait::controlplane::certify(access->identity_address,
                                             access->credentials.anchor_pem, id, token, 10s);
  if (!creds) fail("certify: " + creds.error().to_string());
  const std::string out = f.str("out");
  write_text(out + ".crt", creds->cert_chain_pem());
  write_text(out + ".key", creds->key_pem);
  write_text(out + ".pem", creds->cert_chain_pem() + creds->key_pem);
  write_text(out + ".anchor.crt", access->credentials.anchor_pem);
  std::cout << creds->identity << "\n";
  return 0;
}

// ---- install, token, apply: what the data-plane driver needs, without straitctl ----

int cmd_install(const Flags& f) {
  strait::controlplane::InstallOptions o;
  for (const char* k : {"cluster-name", "trust-domain", "state-dir"}) {
    if (!f.has(k)) fail(std::string("install needs --") + k);
  }
  o.cluster = f.str("cluster-name");
  o.trust_domain = f.str("trust-domain");
  o.state_dir = f.str("state-dir");
  o.service_cidr = f.str("service-cidr", o.service_cidr);
  o.identity_listen = f.str("identity-listen", o.identity_listen);
  o.destination_listen = f.str("destination-listen", o.destination_listen);
  o.admin_listen = f.str("admin-listen", o.admin_listen);
  o.export_listen = f.str("export-listen", o.export_listen);
  o.dns_listen = f.str("dns-listen", "127.0.0.1:0");
  if (f.has("trust-anchor")) {
    o.anchor_cert = f.str("trust-anchor");
    o.issuer_cert = f.str("issuer-cert");
    o.issuer_key = f.str("issuer-key");
  }
  if (auto r = strait::controlplane::install_state(o); !r) fail(r.error().to_string());
  return 0;
}

Controller connect(const Flags& f) {
  if (!f.has("state-dir")) fail("--state-dir is required");
  auto access = strait::controlplane::access_from_state_dir(f.str("state-dir"));
  if (!access) fail(access.error().to_string());
  Controller c;
  c.name = access->cluster;
  c.access = *access;
  c.admin = access->admin();
  return c;
}

int cmd_token(const Flags& f) {
  std::cout << connect(f).token(f.str("namespace"), f.str("service-account")) << std::endl;
  return 0;
}

int cmd_apply(const Flags& f) {
  auto c = connect(f);
  auto objects = strait::discovery::parse_manifests(slurp(f.str("file")), c.access.cluster);
  if (!objects) fail(objects.error().to_string());
  c.apply(*objects);
  return 0;
}

// ---- run ----

struct Bench {
  Flags f;
  fs::path build, work;
  Controller east, west;
  Proc gateway, link;
  std::uint16_t gw_port = 0, gw_admin = 0;
  std::size_t services = 1000;
  std::size_t endpoints_now = 0;
  json::object out;

  std::string bin(const std::string& rel) const { return (build / rel).string(); }

  void setup() {
    fs::create_directories(work / "logs");
    const auto export_port = free_port(), identity_port = free_port();
    gw_port = free_port();
    gw_admin = free_port();
    for (auto* c : {&east, &west}) {
      strait::controlplane::InstallOptions o;
      c->name = c == &east ? "east" : "west";
      o.cluster = c->name;
      o.trust_domain = c->name + ".strait";
      o.state_dir = c->state = work / c->name;
      o.identity_listen = o.destination_listen = o.admin_listen = o.export_listen = o.dns_listen =
          "127.0.0.1:0";
      if (c == &west) o.service_cidr = "198.19.16.0/20";
      if (auto r = strait::controlplane::install_state(o); !r) fail(r.error().to_string());
    }
    const std::string e = "127.0.0.1:" + std::to_string(export_port);
    const std::string i = "127.0.0.1:" + std::to_string(identity_port);
    east.start(
        bin("controlplane/strait-controller"),
        {"--listen.export=" + e, "--multicluster.exportAddress=" + e, "--listen.identity=" + i,
         "--multicluster.identityAddress=" + i, "--multicluster.gatewayAddresses=127.0.0.1",
         "--multicluster.gatewayPort=" + std::to_string(gw_port)},
        work / "logs" / "east-controller.log");
    west.start(bin("controlplane/strait-controller"), {}, work / "logs" / "west-controller.log");
    out["controller_rss_kb_start"] = {{"east", rss_kb(east.proc.pid())},
                                      {"west", rss_kb(west.proc.pid())}};

    // East's gateway: the real strait-gateway; the link probes its admin port.
    const fs::path gwdir = work / "gateway";
    fs::create_directories(gwdir);
    write_text(gwdir / "token", east.token("strait-multicluster", "strait-gateway"));
    write_text(gwdir / "anchor.crt", east.access.credentials.anchor_pem);
    write_text(
        gwdir / "gateway.yaml",
        "identity:\n  trustDomain: east.strait\n  namespace: strait-multicluster\n"
        "  serviceAccount: strait-gateway\n  tokenFile: " +
            (gwdir / "token").string() + "\n  trustAnchors: " + (gwdir / "anchor.crt").string() +
            "\ncontroller:\n  identity: " + east.access.identity_address +
            "\n  destination: " + east.access.destination_address +
            "\ncluster:\n  domain: cluster.local\n  name: east\nlisten:\n"
            "  outbound: 127.0.0.1:0\n  inbound: 127.0.0.1:" +
            std::to_string(gw_port) + "\n  admin: 127.0.0.1:" + std::to_string(gw_admin) + "\n");
    gateway.start({bin("gateway/strait-gateway"), "--config", (gwdir / "gateway.yaml").string()},
                  work / "logs" / "gateway.log");
    if (!wait_until([&] { return gateway.log().find("gateway serving") != std::string::npos; },
                    30s)) {
      fail("the gateway did not start:\n" + gateway.log());
    }

    // West needs the namespace: a local service of its own.
    west.apply({service("frontend", {})});
    // East: the services, the probe services (no endpoints yet), the fan-out service.
    std::vector<disc::Object> objs;
    for (std::size_t s = 0; s < services; ++s) {
      objs.push_back(
          service("svc-" + std::to_string(s),
                  {{"mirror.strait.dev/exported", s % 2 == 0 ? "true" : "remote-discovery"}}));
    }
    objs.push_back(service("probe-gw", {{"mirror.strait.dev/exported", "true"}}));
    objs.push_back(service("probe-flat", {{"mirror.strait.dev/exported", "remote-discovery"}}));
    objs.push_back(service("fanout", {}));
    objs.push_back(endpoint("fanout", "fanout-base", 60000 - 1));
    east.apply(objs);

    // The link: LinkGen on east, the probe pointed at the gateway's admin port, applied in west.
    adm::LinkGenRequest req;
    req.set_source_cluster("west");
    req.set_ttl_seconds(900);
    adm::LinkGenResponse resp;
    auto c = east.ctx();
    auto s = east.admin->LinkGen(c.get(), req, &resp);
    if (!s.ok()) fail("LinkGen: " + s.error_message());
    auto o = disc::object_from_json(json::parse(resp.link_json()));
    if (!o) fail("LinkGen: " + o.error().to_string());
    auto linkobj = std::get<disc::Link>(*o);
    linkobj.probe.port = gw_admin;
    linkobj.probe.period =
        std::chrono::milliseconds(static_cast<int>(f.num("probe-period-ms", 1000)));
    linkobj.probe.timeout = std::chrono::milliseconds(
        std::min<int>(1000, static_cast<int>(f.num("probe-period-ms", 1000))));
    linkobj.probe.failure_threshold = 3;
    out["probe"] = {{"period_ms", linkobj.probe.period.count()},
                    {"timeout_ms", linkobj.probe.timeout.count()},
                    {"failure_threshold", linkobj.probe.failure_threshold}};
    west.apply({linkobj});
    std::vector<std::string> link_argv = {bin("link/strait-link"), "--state-dir",
                                          west.state.string(), "--admin.listen", "127.0.0.1:0"};
    // strait-link's own default unless asked (an experiment: its periodic repair pass).
    if (f.has("link-repair-period"))
      link_argv.push_back("--repair.period=" + f.str("link-repair-period"));
    link.start(link_argv, work / "logs" / "strait-link.log");
  }

  // West holds every mirror (services and endpoints) for the current east contents.
  std::pair<std::uint64_t, std::uint64_t> expected_west() const {
    std::uint64_t svcs = 1 + services + 2;       // frontend, mirrors, probe-gw/probe-flat mirrors
    std::uint64_t eps = (services + 1) / 2 + 1;  // one gateway endpoint per gateway mirror
    for (std::size_t n = 0; n < endpoints_now; ++n) eps += (n % services) % 2 == 1 ? 1 : 0;
    return {svcs, eps};
  }

  double grow_to(std::size_t total) {
    std::vector<disc::Object> objs;
    for (std::size_t n = endpoints_now; n < total; ++n) {
      objs.push_back(endpoint("svc-" + std::to_string(n % services), "ep-" + std::to_string(n), n));
    }
    auto t0 = Clock::now();
    east.apply(objs);
    endpoints_now = total;
    auto [svcs, eps] = expected_west();
    std::map<std::string, std::uint64_t> last;
    bool synced = wait_until(
        [&] {
          last = west.counts();
          return last["Service"] == svcs && last["Endpoint"] == eps;
        },
        std::chrono::seconds(static_cast<int>(f.num("sync-timeout", 600))), 100ms);
    if (!synced) {
      fail("west did not sync: Service " + std::to_string(last["Service"]) + "/" +
           std::to_string(svcs) + ", Endpoint " + std::to_string(last["Endpoint"]) + "/" +
           std::to_string(eps) + "\n" + link.log().substr(0, 4000));
    }
    return ms_between(t0, Clock::now());
  }

  // Propagation: Apply of a ready endpoint in east -> the add on west's stream of the mirror
  // (and on east's own stream of the service); then the delete -> the remove.
  json::object propagation(std::size_t samples) {
    json::object res;
    Streams streams(west.access, 1), local(east.access, 1);
    auto gw = streams.open("probe-gw-east.shop.svc.cluster.local:80");
    auto flat = streams.open("probe-flat-east.shop.svc.cluster.local:80");
    auto lg = local.open("probe-gw.shop.svc.cluster.local:80");
    auto firsts = [](const std::vector<StreamLog>& l) {
      for (const auto& x : l)
        if (!x.first) return false;
      return true;
    };
    if (!streams.wait(firsts, 30s) || !local.wait(firsts, 30s)) fail("no first message");
    std::vector<double> add_gw, add_flat, add_local, del_gw, del_flat;
    // Generous: a sample that lands behind strait-link's repair pass waits for all of it.
    constexpr auto kSample = std::chrono::seconds(180);
    const std::string gw_key = "127.0.0.1:" + std::to_string(gw_port);
    for (std::size_t i = 0; i < samples; ++i) {
      auto ep_gw = endpoint("probe-gw", "probe-gw-0", 50000 + i);
      auto ep_flat = endpoint("probe-flat", "probe-flat-0", 55000 + i);
      const std::string flat_key = ep_flat.address + ":8080";
      // gateway mirror + local
      auto t0 = Clock::now();
      east.apply({ep_gw});
      if (!streams.wait([&](const auto& l) { return l[gw].present.count(gw_key) > 0; }, kSample))
        fail("gateway mirror endpoint never arrived");
      add_gw.push_back(
          ms_between(t0, streams.with([&](auto& l) { return l[gw].added.at(gw_key); })));
      const std::string lkey = ep_gw.address + ":8080";
      if (local.wait([&](const auto& l) { return l[lg].present.count(lkey) > 0; }, 10s))
        add_local.push_back(
            ms_between(t0, local.with([&](auto& l) { return l[lg].added.at(lkey); })));
      t0 = Clock::now();
      east.remove(disc::Kind::kEndpoint, "shop", "probe-gw-0");
      if (!streams.wait([&](const auto& l) { return l[gw].present.count(gw_key) == 0; }, kSample))
        fail("gateway mirror endpoint never left");
      del_gw.push_back(
          ms_between(t0, streams.with([&](auto& l) { return l[gw].removed.at(gw_key); })));
      // flat mirror
      t0 = Clock::now();
      east.apply({ep_flat});
      if (!streams.wait([&](const auto& l) { return l[flat].present.count(flat_key) > 0; },
                        kSample))
        fail("flat mirror endpoint never arrived");
      add_flat.push_back(
          ms_between(t0, streams.with([&](auto& l) { return l[flat].added.at(flat_key); })));
      t0 = Clock::now();
      east.remove(disc::Kind::kEndpoint, "shop", "probe-flat-0");
      if (!streams.wait([&](const auto& l) { return l[flat].present.count(flat_key) == 0; },
                        kSample))
        fail("flat mirror endpoint never left");
      del_flat.push_back(
          ms_between(t0, streams.with([&](auto& l) { return l[flat].removed.at(flat_key); })));
    }
    res["gateway_add"] = percentiles(add_gw);
    res["gateway_remove"] = percentiles(del_gw);
    res["flat_add"] = percentiles(add_flat);
    res["flat_remove"] = percentiles(del_flat);
    res["local_add"] = percentiles(add_local);
    return res;
  }

  // A hung gateway (SIGSTOP): from the stop until each watched gateway mirror's endpoint left
  // its west stream; then SIGCONT until they are all back.
  json::object gateway_failure(std::size_t samples) {
    json::object res;
    std::size_t watch = std::min<std::size_t>(200, (services + 1) / 2);
    std::vector<std::string> paths;
    for (std::size_t s = 0; s < services && paths.size() < watch; s += 2) {
      // Only gateway mirrors whose remote service has an endpoint are ready.
      bool has = false;
      for (std::size_t n = s; n < endpoints_now; n += services) has = true;
      if (has) paths.push_back("svc-" + std::to_string(s) + "-east.shop.svc.cluster.local:80");
    }
    res["streams"] = paths.size();
    if (paths.empty()) return res;
    Streams streams(west.access, 4);
    for (const auto& p : paths) streams.open(p);
    const std::string key = "127.0.0.1:" + std::to_string(gw_port);
    auto all_present = [&](const std::vector<StreamLog>& l) {
      for (const auto& x : l)
        if (!x.present.count(key)) return false;
      return true;
    };
    auto none_present = [&](const std::vector<StreamLog>& l) {
      for (const auto& x : l)
        if (x.present.count(key)) return false;
      return true;
    };
    if (!streams.wait(all_present, 60s)) fail("gateway mirrors not all ready before the failure");
    std::vector<double> first, last, back;
    for (std::size_t i = 0; i < samples; ++i) {
      auto t0 = Clock::now();
      ::kill(gateway.pid(), SIGSTOP);
      bool gone = streams.wait(none_present, 120s);
      ::kill(gateway.pid(), SIGCONT);
      auto t1 = Clock::now();
      if (!gone) fail("the mirrors stayed ready with the gateway stopped");
      streams.with([&](auto& l) {
        Clock::time_point lo = Clock::time_point::max(), hi{};
        for (const auto& x : l) {
          lo = std::min(lo, x.removed.at(key));
          hi = std::max(hi, x.removed.at(key));
        }
        first.push_back(ms_between(t0, lo));
        last.push_back(ms_between(t0, hi));
        return 0;
      });
      if (!streams.wait(all_present, 120s)) fail("the mirrors did not come back");
      back.push_back(ms_between(t1, Clock::now()));
    }
    res["first_stream"] = percentiles(first);
    res["last_stream"] = percentiles(last);
    res["recovery_all"] = percentiles(back);
    return res;
  }

  // Fan-out: F streams in east on one service; one Apply; until every stream has it.
  json::object fanout(std::size_t n, std::size_t rounds) {
    json::object res;
    const long before = rss_kb(east.proc.pid());
    Streams streams(east.access, 10);
    for (std::size_t i = 0; i < n; ++i) streams.open("fanout.shop.svc.cluster.local:80");
    auto firsts = [](const std::vector<StreamLog>& l) {
      for (const auto& x : l)
        if (!x.first) return false;
      return true;
    };
    auto t_open = Clock::now();
    if (!streams.wait(firsts, 60s)) fail("fan-out streams did not all open");
    res["open_all_ms"] = ms_between(t_open, Clock::now());
    std::this_thread::sleep_for(500ms);  // let allocations settle before reading RSS
    const long with = rss_kb(east.proc.pid());
    res["streams"] = n;
    res["east_rss_kb_before"] = before;
    res["east_rss_kb_with_streams"] = with;
    std::vector<double> last, p50s;
    for (std::size_t r = 0; r < rounds; ++r) {
      auto ep = endpoint("fanout", "fanout-" + std::to_string(r), 59000 + r);
      const std::string key = ep.address + ":8080";
      auto t0 = Clock::now();
      east.apply({ep});
      bool ok = streams.wait(
          [&](const auto& l) {
            for (const auto& x : l)
              if (!x.present.count(key)) return false;
            return true;
          },
          60s);
      if (!ok) fail("the fan-out change did not reach every stream");
      std::vector<double> each = streams.with([&](auto& l) {
        std::vector<double> v;
        for (const auto& x : l) v.push_back(ms_between(t0, x.added.at(key)));
        return v;
      });
      auto p = percentiles(each);
      last.push_back(p["max_ms"].as_double());
      p50s.push_back(p["p50_ms"].as_double());
    }
    res["all_streams"] = percentiles(last);  // per round: when the last stream had it
    res["median_stream"] = percentiles(p50s);
    return res;
  }

  void run() {
    services = static_cast<std::size_t>(f.num("services", 1000));
    const std::size_t samples = static_cast<std::size_t>(f.num("samples", 20));
    std::vector<std::size_t> steps;
    {
      std::stringstream ss(f.str("endpoints", "10,1000,10000"));
      for (std::string x; std::getline(ss, x, ',');) steps.push_back(std::stoul(x));
      std::sort(steps.begin(), steps.end());
    }
    auto t_setup = Clock::now();
    setup();
    // The first sync: every mirror of the empty services.
    double first_sync = grow_to(0);
    out["services"] = services;
    out["setup_ms"] = ms_between(t_setup, Clock::now());
    out["initial_sync_ms"] = first_sync;
    json::array scale;
    for (auto total : steps) {
      note("growing to " + std::to_string(total) + " endpoints");
      json::object step;
      step["endpoints"] = total;
      step["sync_ms"] = grow_to(total);
      std::this_thread::sleep_for(500ms);
      step["east_rss_kb"] = rss_kb(east.proc.pid());
      step["west_rss_kb"] = rss_kb(west.proc.pid());
      step["link_rss_kb"] = rss_kb(link.pid());
      note("propagation at " + std::to_string(total));
      step["propagation"] = propagation(samples);
      scale.push_back(step);
    }
    out["scale"] = scale;
    note("gateway failure");
    out["gateway_failure"] = gateway_failure(static_cast<std::size_t>(f.num("failure-samples", 3)));
    note("fan-out");
    out["fanout"] = fanout(static_cast<std::size_t>(f.num("streams", 1000)),
                           static_cast<std::size_t>(f.num("fanout-rounds", 5)));
    out["east_rss_kb_end"] = rss_kb(east.proc.pid());
    std::cout << json::serialize(out) << std::endl;
  }
};

}  // namespace

int main(int argc, char** argv) {
  auto f = Flags::parse(argc, argv, kTool);
  g_verbose = f.has("verbose");
  if (f.mode == "certify") return cmd_certify(f);
  if (f.mode == "install") return cmd_install(f);
  if (f.mode == "token") return cmd_token(f);
  if (f.mode == "apply") return cmd_apply(f);
  if (f.mode == "run") {
    if (!f.has("build") || !f.has("work")) fail("run needs --build DIR --work DIR");
    Bench b;
    b.f = f;
    b.build = f.str("build");
    b.work = f.str("work");
    b.run();
    return 0;
  }
  strait::bench::die(kTool, "usage: strait-bench-cp certify ... | run ... (see bench/cp.cc)");
}
