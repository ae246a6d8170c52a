// Harness tests (need root): flat and gateway reachability between clusters, teardown leaves
// nothing, the destructor cleans up after an exception, `strait-harness down` after a killed
// `up`, a crashed owner's run removed by `down --stale`, and the sink/source test apps.
#include "harness/harness.h"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include <gtest/gtest.h>

#include "harness/netns.h"

namespace strait::harness {
namespace {

using namespace std::chrono_literals;

const std::string kBuild = STRAIT_BUILD_DIR;
const std::string kTestapp = kBuild + "/tests/tools/strait-testapp";
const std::string kCli = kBuild + "/harness/strait-harness";

#define REQUIRE_ROOT() \
  if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)"

std::vector<std::string> namespaces_with_prefix(const std::string& prefix) {
  std::vector<std::string> out;
  // `ip netns list` is the observable truth, independent of our own listing code.
  auto r = exec_in("", {"ip", "netns", "list"}, 10s);
  EXPECT_TRUE(r.ok());
  if (!r) return out;
  std::istringstream lines(r->out);
  std::string line;
  while (std::getline(lines, line)) {
    std::string name = line.substr(0, line.find(' '));
    if (name.rfind(prefix, 0) == 0) out.push_back(name);
  }
  return out;
}

SpawnOptions to_log(const std::string& path) {
  SpawnOptions o;
  o.stdout_path = path;
  o.stderr_path = path;
  return o;
}

SpawnOptions as_user(uid_t uid, gid_t gid) {
  SpawnOptions o;
  o.uid = uid;
  o.gid = gid;
  return o;
}

bool pid_alive(pid_t pid) { return ::kill(pid, 0) == 0 || errno != ESRCH; }

std::unique_ptr<Harness> make(Topology topology = Topology::flat) {
  HarnessOptions o;
  o.topology = topology;
  auto h = Harness::create(o);
  EXPECT_TRUE(h.ok()) << (h.ok() ? "" : h.error().to_string());
  return h.ok() ? std::move(*h) : nullptr;
}

TEST(Harness, AddressPlan) {
  REQUIRE_ROOT();
  auto h = make();
  ASSERT_TRUE(h);
  auto east = h->add_cluster("east");
  auto west = h->add_cluster("west");
  ASSERT_TRUE(east.ok() && west.ok());
  EXPECT_EQ(east->router_ns, "st" + h->id() + "-east");
  EXPECT_EQ(east->pod_cidr, "198.18.1.0/24");
  EXPECT_EQ(west->router_ip, "198.18.2.1");
  EXPECT_EQ(west->wan_ip, "198.18.250.2");
  EXPECT_EQ(east->service_cidr, "198.19.0.0/20");
  EXPECT_EQ(west->service_cidr, "198.19.16.0/20");
  auto a = h->add_pod("east", "a");
  auto b = h->add_pod("east", "b", PodOptions{.on_wan = true});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->ip, "198.18.1.10");
  EXPECT_EQ(b->ip, "198.18.1.11");
  EXPECT_EQ(b->wan_ip, "198.18.250.100");
  EXPECT_EQ(a->ns, "st" + h->id() + "-east-a");
  EXPECT_FALSE(h->add_pod("nowhere", "x").ok());
  EXPECT_FALSE(h->add_pod("east", "a").ok());
  auto routes = h->exec("east/a", {"ip", "route"}, 5s);
  ASSERT_TRUE(routes.ok());
  EXPECT_NE(routes->out.find("default via 198.18.1.1"), std::string::npos) << routes->out;
  auto fwd = h->exec("east", {"cat", "/proc/sys/net/ipv4/ip_forward"}, 5s);
  ASSERT_TRUE(fwd.ok());
  EXPECT_EQ(fwd->out, "1\n");
  std::ifstream state(h->state_path());
  EXPECT_TRUE(state.good());
}

TEST(Harness, FlatPodsReachAcrossClustersAndGatewayCutsThemOff) {
  REQUIRE_ROOT();
  auto h = make(Topology::flat);
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_cluster("west").ok());
  ASSERT_TRUE(h->add_pod("east", "client").ok());
  auto server = h->add_pod("east", "server");
  ASSERT_TRUE(server.ok());
  auto gw = h->add_pod("east", "gw", PodOptions{.on_wan = true});
  ASSERT_TRUE(gw.ok());
  ASSERT_TRUE(h->add_pod("west", "client").ok());
  ASSERT_TRUE(h->add_pod("west", "server").ok());

  ASSERT_TRUE(h->spawn("east/server", {kTestapp, "echo", "--listen", "0.0.0.0:9000"}).ok());
  ASSERT_TRUE(h->spawn("east/gw", {kTestapp, "echo", "--listen", "0.0.0.0:9000"}).ok());
  const std::string server_addr = server->ip + ":9000";
  auto ready = h->wait_for_tcp("east/client", server_addr, deadline_in(10s));
  ASSERT_TRUE(ready.ok()) << ready.error().to_string();

  // Flat: a pod in west reaches a pod in east directly.
  auto flat = h->exec("west/client",
                      {kTestapp, "echo-client", "--connect", server_addr, "--message", "hi"}, 10s);
  ASSERT_TRUE(flat.ok());
  EXPECT_TRUE(flat->success()) << flat->status.to_string() << " " << flat->err;
  // A long-lived connection, re-checked every second.
  auto held = h->exec("west/client",
                      {kTestapp, "echo-client", "--connect", server_addr, "--message", "still",
                       "--hold-seconds", "2"},
                      10s);
  ASSERT_TRUE(held.ok());
  EXPECT_TRUE(held->success()) << held->err;
  EXPECT_EQ(held->out, "ok 3 echo(s) from " + server_addr + "\n");

  // Gateway: east's pods are out of reach, east's gateway on the wan is not.
  ASSERT_TRUE(h->set_topology(Topology::gateway).ok());
  const auto start = Clock::now();
  auto cut = h->connect("west/client", server_addr, deadline_in(3s));
  EXPECT_FALSE(cut.ok());
  EXPECT_LT(Clock::now() - start, 4s);
  auto cut_app = h->exec("west/client",
                         {kTestapp, "echo-client", "--connect", server_addr, "--message", "hi",
                          "--connect-timeout-ms", "1000"},
                         10s);
  ASSERT_TRUE(cut_app.ok());
  EXPECT_FALSE(cut_app->success());
  auto via_gw = h->exec(
      "west/client",
      {kTestapp, "echo-client", "--connect", gw->wan_ip + ":9000", "--message", "through the wan"},
      10s);
  ASSERT_TRUE(via_gw.ok());
  EXPECT_TRUE(via_gw->success()) << via_gw->err;
  // Inside a cluster nothing changes.
  auto local = h->exec("east/client",
                       {kTestapp, "echo-client", "--connect", server_addr, "--message", "x"}, 10s);
  ASSERT_TRUE(local.ok());
  EXPECT_TRUE(local->success()) << local->err;
  // And back to flat.
  ASSERT_TRUE(h->set_topology(Topology::flat).ok());
  EXPECT_TRUE(h->wait_for_tcp("west/client", server_addr, deadline_in(5s)).ok());
}

TEST(Harness, GatewayRunFromTheStart) {
  REQUIRE_ROOT();
  auto h = make(Topology::gateway);
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_cluster("west").ok());
  auto server = h->add_pod("east", "server");
  auto gw = h->add_pod("east", "gw", PodOptions{.on_wan = true});
  ASSERT_TRUE(h->add_pod("west", "client").ok());
  ASSERT_TRUE(server.ok() && gw.ok());
  ASSERT_TRUE(h->spawn("east/server", {kTestapp, "echo", "--listen", "0.0.0.0:9000"}).ok());
  ASSERT_TRUE(h->spawn("east/gw", {kTestapp, "echo", "--listen", "0.0.0.0:9000"}).ok());
  ASSERT_TRUE(h->wait_for_tcp("east/gw", server->ip + ":9000", deadline_in(10s)).ok());
  EXPECT_TRUE(h->wait_for_tcp("west/client", gw->wan_ip + ":9000", deadline_in(10s)).ok());
  EXPECT_FALSE(h->connect("west/client", server->ip + ":9000", deadline_in(2s)).ok());
  // The gateway sees the west router's wan address, not the pod's (MASQUERADE).
  auto rules = h->exec("west", {"iptables-save", "-t", "nat"}, 5s);
  ASSERT_TRUE(rules.ok());
  EXPECT_NE(rules->out.find("-A POSTROUTING -o wan0 -j MASQUERADE"), std::string::npos)
      << rules->out;
}

TEST(Harness, TeardownRemovesNamespacesAndProcesses) {
  REQUIRE_ROOT();
  auto h = make();
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_pod("east", "a").ok());
  ASSERT_TRUE(h->add_pod("east", "b", PodOptions{.on_wan = true}).ok());
  auto p1 = h->spawn("east/a", {kTestapp, "echo", "--listen", "0.0.0.0:9000"});
  // A process that ignores SIGTERM: teardown must still end it.
  auto p2 = h->spawn("east/b", {"sh", "-c", "trap '' TERM; sleep 600 & wait"});
  ASSERT_TRUE(p1.ok() && p2.ok());
  ASSERT_TRUE(h->set_resolver("east/a", {"198.18.1.2"}, {"default.svc.cluster.local"}).ok());
  const std::string prefix = h->prefix();
  const std::string state = h->state_path();
  EXPECT_EQ(namespaces_with_prefix(prefix).size(), 4u);  // wan, router, two pods
  ASSERT_TRUE(h->teardown().ok());
  EXPECT_TRUE(namespaces_with_prefix(prefix).empty());
  EXPECT_FALSE(pid_alive(p1->pid()));
  EXPECT_FALSE(pid_alive(p2->pid()));
  EXPECT_FALSE(std::filesystem::exists(state));
  EXPECT_FALSE(std::filesystem::exists("/etc/netns/" + prefix + "east-a"));
  EXPECT_TRUE(h->teardown().ok());  // twice is fine
  EXPECT_FALSE(h->add_cluster("west").ok());
}

// A detached run reopened by another owner (straitctl dev run/rm): it grows and shrinks there,
// the freed address is handed out again, and the reopened object leaves the run running.
TEST(Harness, AReopenedRunGrowsAndShrinks) {
  REQUIRE_ROOT();
  auto h = make();
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_pod("east", "a").ok());
  ASSERT_TRUE(h->add_pod("east", "gw", PodOptions{.on_wan = true}).ok());
  ASSERT_TRUE(h->detach().ok());
  const std::string prefix = h->prefix();
  {
    auto again = Harness::reopen(default_state_root(), h->id());
    ASSERT_TRUE(again.ok()) << again.error().to_string();
    auto& r = **again;
    auto b = r.add_pod("east", "b");
    ASSERT_TRUE(b.ok()) << b.error().to_string();
    EXPECT_EQ(b->ip, "198.18.1.12");
    auto w = r.add_pod("east", "w", PodOptions{.on_wan = true});
    ASSERT_TRUE(w.ok()) << w.error().to_string();
    EXPECT_EQ(w->wan_ip, "198.18.250.101");  // .100 is gw's
    ASSERT_TRUE(r.set_resolver("east/b", {"198.18.1.11"}).ok());
    // A process that ignores SIGTERM: remove_pod still ends it.
    auto p = r.spawn("east/b", {"sh", "-c", "trap '' TERM; sleep 600 & wait"});
    auto echo = r.spawn("east/b", {kTestapp, "echo", "--listen", "0.0.0.0:9000"});
    ASSERT_TRUE(p.ok() && echo.ok());
    auto reach = r.wait_for_tcp("east/a", "198.18.1.12:9000", deadline_in(10s));
    ASSERT_TRUE(reach.ok()) << reach.error().to_string();
    ASSERT_TRUE(r.remove_pod("east/b").ok());
    EXPECT_FALSE(pid_alive(p->pid()));
    EXPECT_FALSE(pid_alive(echo->pid()));
    EXPECT_FALSE(std::filesystem::exists("/etc/netns/" + prefix + "east-b"));
    EXPECT_FALSE(r.pod("east/b").ok());
    EXPECT_FALSE(r.remove_pod("east/b").ok());
    auto c = r.add_pod("east", "c");  // the freed address again
    ASSERT_TRUE(c.ok()) << c.error().to_string();
    EXPECT_EQ(c->ip, "198.18.1.12");
  }  // the reopened object goes; the run stays
  auto names = namespaces_with_prefix(prefix);
  EXPECT_EQ(names.size(), 6u);  // wan, router, a, gw, w, c
  EXPECT_EQ(std::count(names.begin(), names.end(), prefix + "east-b"), 0);
  // The first owner's view is stale, but teardown (through the state file) removes everything.
  auto third = Harness::reopen(default_state_root(), h->id());
  ASSERT_TRUE(third.ok());
  EXPECT_TRUE((*third)->pod("east/c").ok());
  ASSERT_TRUE((*third)->teardown().ok());
  EXPECT_TRUE(namespaces_with_prefix(prefix).empty());
  EXPECT_TRUE(h->teardown().ok());
}

TEST(Harness, DestructorCleansUpAfterException) {
  REQUIRE_ROOT();
  std::string prefix;
  pid_t pid = 0;
  try {
    auto h = make();
    ASSERT_TRUE(h);
    prefix = h->prefix();
    ASSERT_TRUE(h->add_cluster("east").ok());
    ASSERT_TRUE(h->add_pod("east", "a").ok());
    auto p = h->spawn("east/a", {"sleep", "600"});
    ASSERT_TRUE(p.ok());
    pid = p->pid();
    throw std::runtime_error("test failed half-way");
  } catch (const std::runtime_error&) {
  }
  EXPECT_TRUE(namespaces_with_prefix(prefix).empty());
  EXPECT_FALSE(pid_alive(pid));
}

TEST(Harness, SpawnAndExecOptions) {
  REQUIRE_ROOT();
  auto h = make();
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_pod("east", "a").ok());
  auto id = h->exec("east/a", {"sh", "-c", "id -u; id -g; echo $STRAIT_X; pwd"}, 5s, [] {
    SpawnOptions o = as_user(4321, 4322);
    o.env = {{"STRAIT_X", "y"}};
    o.working_dir = "/tmp";
    return o;
  }());
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(id->out, "4321\n4322\ny\n/tmp\n");
  // The timeout kills the whole group.
  const auto start = Clock::now();
  auto slow = h->exec("east/a", {"sh", "-c", "sleep 30; echo never"}, 300ms);
  ASSERT_TRUE(slow.ok());
  EXPECT_TRUE(slow->timed_out);
  EXPECT_LT(Clock::now() - start, 5s);
  auto missing = h->spawn("east/a", {"/nonexistent/binary"});
  EXPECT_FALSE(missing.ok());
  // The pod's resolver replaces /etc/resolv.conf for processes in the pod only.
  ASSERT_TRUE(h->set_resolver("east/a", {"198.18.1.2"}, {"svc.east.local"}).ok());
  auto resolv = h->exec("east/a", {"cat", "/etc/resolv.conf"}, 5s);
  ASSERT_TRUE(resolv.ok());
  EXPECT_NE(resolv->out.find("nameserver 198.18.1.2"), std::string::npos) << resolv->out;
  // Log files and signals.
  const std::string log = "/tmp/strait-harness-test-" + h->id() + ".log";
  auto echo = h->spawn("east/a", {kTestapp, "echo", "--listen", "0.0.0.0:9000"}, to_log(log));
  ASSERT_TRUE(echo.ok());
  ASSERT_TRUE(h->wait_for_tcp("east/a", "127.0.0.1:9000", deadline_in(10s)).ok());
  // The line is written just after listen(): wait for it rather than assume it is there.
  auto first_line = [&] {
    std::ifstream in(log);
    std::string line;
    std::getline(in, line);
    return line;
  };
  EXPECT_TRUE(
      wait_until([&] { return first_line() == "listening 0.0.0.0:9000"; }, deadline_in(5s)).ok())
      << first_line();
  echo->signal(SIGTERM);
  auto st = echo->wait_exit(deadline_in(5s));
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->signal, SIGTERM);
  std::filesystem::remove(log);
}

TEST(Harness, HttpReadiness) {
  REQUIRE_ROOT();
  auto h = make();
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_cluster("west").ok());
  auto web = h->add_pod("east", "web");
  ASSERT_TRUE(web.ok());
  ASSERT_TRUE(h->add_pod("west", "client").ok());
  ASSERT_TRUE(
      h->spawn("east/web", {kTestapp, "http", "--listen", "0.0.0.0:8080", "--name", "web"}).ok());
  auto ok = h->wait_for_http_ok("west/client", "http://" + web->ip + ":8080/", deadline_in(10s));
  EXPECT_TRUE(ok.ok()) << ok.error().to_string();
  auto missing =
      h->wait_for_http_ok("west/client", "http://" + web->ip + ":8080/nope", deadline_in(500ms));
  EXPECT_FALSE(missing.ok());
  // Body and keep-alive: two requests on one connection.
  auto c = h->connect("west/client", web->ip + ":8080", deadline_in(5s));
  ASSERT_TRUE(c.ok());
  const std::string req = "GET / HTTP/1.1\r\nHost: web\r\n\r\n";
  std::string got;
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(::send(c->get(), req.data(), req.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(req.size()));
  }
  timeval tv{5, 0};
  ::setsockopt(c->get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char buf[4096];
  while (got.find("hello from web\n", got.find("hello from web\n") + 1) == std::string::npos ||
         got.find("hello from web\n") == std::string::npos) {
    ssize_t n = ::recv(c->get(), buf, sizeof buf, 0);
    ASSERT_GT(n, 0) << got;
    got.append(buf, static_cast<size_t>(n));
  }
  EXPECT_EQ(got.rfind("HTTP/1.1 200 OK", 0), 0u);
}

TEST(Harness, SinkAndSourceTenMegabytes) {
  REQUIRE_ROOT();
  auto h = make();
  ASSERT_TRUE(h);
  ASSERT_TRUE(h->add_cluster("east").ok());
  ASSERT_TRUE(h->add_cluster("west").ok());
  auto sink = h->add_pod("east", "sink");
  ASSERT_TRUE(sink.ok());
  ASSERT_TRUE(h->add_pod("west", "source").ok());
  ASSERT_TRUE(h->spawn("east/sink", {kTestapp, "sink", "--listen", "0.0.0.0:9100"}).ok());
  ASSERT_TRUE(h->wait_for_tcp("west/source", sink->ip + ":9100", deadline_in(10s)).ok());
  auto r = h->exec("west/source",
                   {kTestapp, "source", "--connect", sink->ip + ":9100", "--bytes", "10485760",
                    "--seed", "7", "--expect-match"},
                   60s);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->success()) << r->status.to_string() << " " << r->err;
  ASSERT_EQ(r->out.size(), 65u);  // 64 hex digits and a newline
  EXPECT_NE(r->err.find("sent=" + r->out.substr(0, 64)), std::string::npos) << r->err;
  // Deterministic: the same seed gives the same hash; another seed another.
  auto again = h->exec(
      "west/source",
      {kTestapp, "source", "--connect", sink->ip + ":9100", "--bytes", "10485760", "--seed", "7"},
      60s);
  auto other = h->exec(
      "west/source",
      {kTestapp, "source", "--connect", sink->ip + ":9100", "--bytes", "10485760", "--seed", "8"},
      60s);
  ASSERT_TRUE(again.ok() && other.ok());
  EXPECT_EQ(again->out, r->out);
  EXPECT_NE(other->out, r->out);
}

TEST(HarnessCli, DownRemovesTheRunOfAKilledUp) {
  REQUIRE_ROOT();
  const std::string id = "t" + std::to_string(::getpid() % 100000);
  const std::string root = default_state_root();
  auto up = spawn_in(
      "",
      {kCli, "up", "--clusters", "east,west", "--pods", "east/a,west/b,east/gw:wan", "--id", id},
      to_log("/dev/null"));
  ASSERT_TRUE(up.ok()) << up.error().to_string();
  auto ready = wait_until(
      [&] {
        auto s = load_state(root, id);
        return s.ok() && s->phase == "ready";
      },
      deadline_in(30s));
  ASSERT_TRUE(ready.ok()) << "the CLI never reported ready";
  EXPECT_EQ(namespaces_with_prefix("st" + id + "-").size(), 6u);
  up->kill();  // SIGKILL: no chance to clean up
  EXPECT_EQ(namespaces_with_prefix("st" + id + "-").size(), 6u);
  auto down = exec_in("", {kCli, "down", "--id", id}, 60s);
  ASSERT_TRUE(down.ok());
  EXPECT_TRUE(down->success()) << down->err;
  EXPECT_TRUE(namespaces_with_prefix("st" + id + "-").empty());
  EXPECT_FALSE(std::filesystem::exists(state_dir(root, id)));
}

TEST(HarnessCli, UpTearsDownOnSigterm) {
  REQUIRE_ROOT();
  const std::string id = "u" + std::to_string(::getpid() % 100000);
  auto up = spawn_in("", {kCli, "up", "--clusters", "east", "--pods", "east/a", "--id", id},
                     to_log("/dev/null"));
  ASSERT_TRUE(up.ok());
  ASSERT_TRUE(wait_until(
                  [&] {
                    auto s = load_state(default_state_root(), id);
                    return s.ok() && s->phase == "ready";
                  },
                  deadline_in(30s))
                  .ok());
  up->signal(SIGTERM);
  auto st = up->wait_exit(deadline_in(30s));
  ASSERT_TRUE(st.ok());
  EXPECT_TRUE(st->success()) << st->to_string();
  EXPECT_TRUE(namespaces_with_prefix("st" + id + "-").empty());
}

TEST(HarnessCli, StaleRemovesTheRunOfACrashedTest) {
  REQUIRE_ROOT();
  // A child process stands in for a test binary that crashes with a run up and a process in it.
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    ::close(pipefd[0]);
    auto h = Harness::create({});
    if (!h) ::_exit(3);
    if (!(*h)->add_cluster("east") || !(*h)->add_pod("east", "a")) ::_exit(4);
    auto p = (*h)->spawn("east/a", {"sleep", "600"});
    if (!p) ::_exit(5);
    std::string msg = (*h)->id() + " " + std::to_string(p->pid()) + "\n";
    if (::write(pipefd[1], msg.data(), msg.size()) < 0) ::_exit(6);
    ::abort();  // no destructor, no teardown
  }
  ::close(pipefd[1]);
  char buf[64] = {};
  ssize_t n = ::read(pipefd[0], buf, sizeof buf - 1);
  ::close(pipefd[0]);
  int status;
  ::waitpid(child, &status, 0);
  ASSERT_GT(n, 0);
  std::istringstream in(buf);
  std::string id;
  pid_t sleeper = 0;
  in >> id >> sleeper;
  ASSERT_FALSE(namespaces_with_prefix("st" + id + "-").empty());
  // The spawned process died with its owner (parent-death signal).
  EXPECT_TRUE(wait_until([&] { return process_start_time(sleeper) == 0; }, deadline_in(5s)).ok());
  auto down = exec_in("", {kCli, "down", "--stale"}, 60s);
  ASSERT_TRUE(down.ok());
  EXPECT_TRUE(down->success()) << down->err;
  EXPECT_TRUE(namespaces_with_prefix("st" + id + "-").empty());
  EXPECT_FALSE(std::filesystem::exists(state_dir(default_state_root(), id)));
}

TEST(HarnessCli, ListAndNotRootMessage) {
  auto list = exec_in("", {kCli, "list"}, 10s);
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->success());
  auto usage = exec_in("", {kCli, "bogus"}, 10s);
  ASSERT_TRUE(usage.ok());
  EXPECT_EQ(usage->status.code, 2);
  if (::geteuid() == 0) {
    auto as_nobody = exec_in("", {kCli, "up", "--clusters", "east"}, 10s, as_user(65534, 65534));
    ASSERT_TRUE(as_nobody.ok());
    EXPECT_EQ(as_nobody->status.code, 2);
    EXPECT_NE(as_nobody->err.find("strait-harness needs root: it creates network namespaces"),
              std::string::npos)
        << as_nobody->err;
  }
}

}  // namespace
}  // namespace strait::harness
