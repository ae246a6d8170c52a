// straitctl dev, end to end as a user runs it: `dev up` builds two linked clusters with sample
// workloads and leaves them running after it exits; a request through each topology succeeds;
// a second `up` is refused while the mesh is healthy, and clears the leftovers of one that did
// not finish; `dev down` leaves no namespace, interface, process or file behind, and a second
// `down` does nothing. Each run uses its own id and work directory.
#include <unistd.h>

#include <filesystem>
#include <algorithm>
#include <fstream>
#include <sstream>
#include <random>

#include <gtest/gtest.h>

#include "harness/devmesh/devmesh.h"
#include "harness/netns.h"
#include "harness/process.h"

namespace strait::cli {
namespace {

using namespace std::chrono_literals;
namespace fs = std::filesystem;

const std::string kStraitctl = std::string(STRAIT_BUILD_DIR) + "/cli/straitctl";

std::string random_id() {
  std::random_device rd;
  std::string id = "dv";
  for (int i = 0; i < 4; ++i) id += "abcdefghijklmnopqrstuvwxyz0123456789"[rd() % 36];
  return id;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Interfaces of the root namespace (the mesh must add none there).
std::string root_links() {
  auto r = harness::exec_in("", {"ip", "-o", "link", "show"}, 10s);
  std::string names;
  if (!r) return names;
  std::istringstream in(r->out);
  for (std::string line; std::getline(in, line);) {
    auto a = line.find(": ");
    auto b = line.find(':', a + 2);
    if (a != std::string::npos && b != std::string::npos)
      names += line.substr(a + 2, b - a - 2) + " ";
  }
  return names;
}

// Processes whose command line mentions `text` (the work directory: every process of the mesh).
int processes_mentioning(const std::string& text) {
  int n = 0;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string cmd = read_file("/proc/" + pid + "/cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(text) != std::string::npos) ++n;
  }
  return n;
}

class DevTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces)";
    id_ = random_id();
    work_ = "/tmp/strait-devtest-" + id_;
    links_before_ = root_links();
  }
  void TearDown() override {
    if (work_.empty()) return;
    if (HasFailure()) {
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(work_ + "/logs", ec)) {
        std::string text = read_file(e.path().string());
        if (text.size() > 4000) text = text.substr(text.size() - 4000);
        std::cerr << "===== " << e.path().filename().string() << " =====\n" << text << "\n";
      }
    }
    (void)straitctl({"dev", "down"});  // also on failure
    std::error_code ec;
    fs::remove_all(work_ + "-www", ec);
  }

  harness::ExecResult straitctl(std::vector<std::string> args, std::chrono::milliseconds t = 180s) {
    // Flags first: whatever follows "--" belongs to `dev exec`'s command.
    args.insert(args.begin(), {kStraitctl, "--work-dir", work_, "--id", id_});
    harness::SpawnOptions o;
    if (as_user_) {
      o.uid = kNobody;
      o.gid = kNobody;
      o.clear_env = true;
      o.env = {{"PATH", "/usr/bin:/bin"}, {"ASAN_OPTIONS", "detect_leaks=0"}};
    }
    auto r = harness::exec_in("", args, t, o);
    if (!r) {
      harness::ExecResult failed;
      failed.err = r.error().to_string();
      return failed;
    }
    return *r;
  }

  static constexpr uid_t kNobody = 65534;
  std::string id_, work_, links_before_;
  bool as_user_ = false;  // run straitctl as an unprivileged user
};

TEST_F(DevTest, UpServesEveryTopologyRefusesASecondUpAndDownRemovesEverything) {
  auto up = straitctl({"dev", "up", "--clusters", "east,west"});
  ASSERT_TRUE(up.success()) << up.status.to_string() << "\n" << up.out << up.err;
  EXPECT_NE(up.out.find("] ready"), std::string::npos) << up.out;
  // The table's live requests: one per topology, each answered.
  EXPECT_NE(up.out.find("gateway     200 hello from west-web"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("flat        echoed"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("federated   200 hello from"), std::string::npos) << up.out;

  // `up` has exited; the mesh runs on. Requests of our own through each topology, from west.
  auto mesh = devmesh::DevMesh::attach(work_);
  ASSERT_TRUE(mesh.ok()) << mesh.error().to_string();
  auto& m = **mesh;
  EXPECT_TRUE(m.ready());
  auto web = m.service_vip("west", "shop", "web-east");
  ASSERT_TRUE(web.ok()) << web.error().to_string();
  auto body = m.curl("west/client", "http://" + *web + "/");
  ASSERT_TRUE(body.ok()) << body.error().to_string();
  EXPECT_EQ(*body, "hello from east-web\n");
  auto echo = m.service_vip("west", "shop", "echo-east");
  ASSERT_TRUE(echo.ok());
  auto echoed = m.exec("west/client", {m.options().bin.testapp, "echo-client", "--connect",
                                       *echo + ":9000", "--message", "through-flat"});
  EXPECT_TRUE(echoed.success()) << echoed.out << echoed.err;
  auto fed = m.service("west", "shop", "api-federated");
  ASSERT_TRUE(fed.ok());
  EXPECT_EQ(fed->ready(), 2);
  // dev exec runs in the pod; straitctl inside a controller pod finds its cluster.
  auto exec =
      straitctl({"dev", "exec", "west/client", "--", "curl", "-sS", "http://" + *web + "/"});
  EXPECT_TRUE(exec.success()) << exec.err;
  EXPECT_EQ(exec.out, "hello from east-web\n");
  // By name, as the "Try:" line says: dev exec gives the command the pod's resolver (west's DNS
  // and its search list), not the host's.
  EXPECT_NE(up.out.find("curl -s http://web-east.shop/"), std::string::npos) << up.out;
  auto by_name = straitctl({"dev", "exec", "west/client", "--", "curl", "-sS", "--max-time", "5",
                            "http://web-east.shop/"});
  EXPECT_TRUE(by_name.success()) << by_name.err;
  EXPECT_EQ(by_name.out, "hello from east-web\n");
  auto fed_by_name = straitctl({"dev", "exec", "west/client", "--", "curl", "-sS", "--max-time",
                                "5", "http://api.shop.svc.clusterset.local/"});
  EXPECT_TRUE(fed_by_name.success()) << fed_by_name.err;
  EXPECT_NE(fed_by_name.out.find("hello from"), std::string::npos) << fed_by_name.out;
  EXPECT_NE(up.out.find("api.shop.svc.clusterset.local"), std::string::npos) << up.out;
  auto inside = straitctl({"dev", "exec", "west/ctrl", "--", "straitctl", "get", "links"});
  EXPECT_TRUE(inside.success()) << inside.err;
  EXPECT_NE(inside.out.find("east"), std::string::npos) << inside.out;
  auto logs = straitctl({"dev", "logs", "west/link"});
  EXPECT_TRUE(logs.success());
  EXPECT_NE(logs.out.find("export stream open"), std::string::npos) << logs.out;

  // dev run: a program of one's own (Python's HTTP server, on two ports) in a meshed pod of
  // east, exported through the gateways, is west's files-east.default by name on both ports;
  // dev rm removes the pod, its Service and so west's mirror and name.
  const std::string www = work_ + "-www";
  fs::create_directories(www);
  std::ofstream(www + "/index.html") << "files of east\n";
  const std::string serve = "/usr/bin/python3 -m http.server --directory " + www;
  auto run = straitctl({"dev", "run", "east/files", "--service", "files", "--port", "8000,8001",
                        "--export", "gateway", "--", "/bin/sh", "-c",
                        serve + " 8000 & exec " + serve + " 8001"});
  ASSERT_TRUE(run.success()) << run.out << run.err;
  EXPECT_NE(run.out.find("in west: files-east.default (gateway)"), std::string::npos) << run.out;
  auto twice_run = straitctl({"dev", "run", "east/files", "--", "/bin/true"});
  EXPECT_FALSE(twice_run.success());
  EXPECT_NE(twice_run.err.find("pod east/files exists"), std::string::npos) << twice_run.err;
  for (const char* port : {"8000", "8001"}) {
    std::string last;
    const std::string url = std::string("http://files-east.default:") + port + "/";
    EXPECT_TRUE(harness::wait_until(
        [&] {
          auto b = m.curl("west/client", url, 3s);
          last = b ? *b : b.error().message;
          return b && *b == "files of east\n";
        },
        harness::deadline_in(45s), 200ms))
        << url << ": " << last;
  }
  auto with_run = straitctl({"dev", "status"});
  EXPECT_NE(with_run.out.find("east/files"), std::string::npos) << with_run.out;
  EXPECT_NE(with_run.out.find("8000,8001"), std::string::npos) << with_run.out;
  auto removed = straitctl({"dev", "rm", "east/files"});
  ASSERT_TRUE(removed.success()) << removed.out << removed.err;
  EXPECT_NE(removed.out.find("removed east/files and service default/files"), std::string::npos)
      << removed.out;
  EXPECT_TRUE(harness::wait_until([&] { return !m.service("west", "default", "files-east").ok(); },
                                  harness::deadline_in(30s), 200ms));
  auto gone = m.exec("west/client", {"getent", "hosts", "files-east.default"});
  EXPECT_FALSE(gone.success()) << gone.out;
  for (const auto& ns : harness::list_netns()) EXPECT_NE(ns, "st" + id_ + "-east-files");
  EXPECT_FALSE(straitctl({"dev", "rm", "east/files"}).success());
  EXPECT_FALSE(straitctl({"dev", "rm", "east/web"}).success());  // dev up's own sample
  fs::remove_all(www);

  // A second `up` while it is healthy: refused, and the mesh is untouched.
  auto again = straitctl({"dev", "up"});
  EXPECT_FALSE(again.success());
  EXPECT_NE(again.err.find("already up"), std::string::npos) << again.err;
  auto status = straitctl({"dev", "status"});
  EXPECT_TRUE(status.success()) << status.out << status.err;
  // The golden metrics of the steady traffic, from the client proxies' HTTP metrics.
  EXPECT_NE(status.out.find("SUCCESS"), std::string::npos) << status.out;
  EXPECT_NE(status.out.find("100.0%"), std::string::npos) << status.out;
  auto still = m.curl("west/client", "http://" + *web + "/");
  EXPECT_TRUE(still.ok() && *still == "hello from east-web\n");

  // An `up` that never finished (as after a crash): the next `up` clears it and builds anew.
  std::string state = read_file(work_ + "/devmesh.json");
  auto at = state.find("\"phase\":\"ready\"");
  ASSERT_NE(at, std::string::npos) << state;
  state.replace(at, 15, "\"phase\":\"build\"");
  std::ofstream(work_ + "/devmesh.json", std::ios::trunc) << state;
  auto rebuilt = straitctl({"dev", "up"});
  ASSERT_TRUE(rebuilt.success()) << rebuilt.out << rebuilt.err;
  EXPECT_NE(rebuilt.out.find("removed the leftovers"), std::string::npos) << rebuilt.out;

  // down: nothing left; a second down has nothing to do.
  auto down = straitctl({"dev", "down"});
  ASSERT_TRUE(down.success()) << down.err;
  EXPECT_NE(down.out.find("removed the dev mesh"), std::string::npos);
  for (const auto& ns : harness::list_netns()) {
    EXPECT_NE(ns.rfind("st" + id_ + "-", 0), 0u) << "namespace left: " << ns;
  }
  EXPECT_FALSE(fs::exists(work_));
  EXPECT_FALSE(fs::exists(harness::default_state_root() + "/" + id_));
  EXPECT_EQ(processes_mentioning(work_), 0);
  EXPECT_EQ(root_links(), links_before_);
  auto twice = straitctl({"dev", "down"});
  EXPECT_TRUE(twice.success());
  EXPECT_NE(twice.out.find("no dev mesh to remove"), std::string::npos) << twice.out;
}

// Without root: dev up says so and builds the mesh on loopback addresses instead — no
// namespaces, proxies reached through their explicit port — and cross-cluster traffic still
// crosses the gateways. Run as an unprivileged user when it can reach the build (else as root
// with --loopback, which builds the same mesh).
TEST_F(DevTest, WithoutRootFallsBackToLoopbackAndStillCrossesGateways) {
  harness::SpawnOptions nobody;
  nobody.uid = kNobody;
  nobody.gid = kNobody;
  auto reachable = harness::exec_in("", {"/bin/sh", "-c", "test -x " + kStraitctl}, 10s, nobody);
  as_user_ = reachable.ok() && reachable->success();
  auto up = straitctl(as_user_ ? std::vector<std::string>{"dev", "up"}
                               : std::vector<std::string>{"dev", "up", "--loopback"});
  ASSERT_TRUE(up.success()) << up.status.to_string() << "\n" << up.out << up.err;
  if (as_user_) {
    EXPECT_NE(up.out.find("Not root"), std::string::npos) << up.out;
  }
  EXPECT_NE(up.out.find("loopback mode"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("gateway     200 hello from west-web"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("flat        echoed"), std::string::npos) << up.out;
  EXPECT_NE(up.out.find("federated   200 hello from"), std::string::npos) << up.out;
  // With --id, a namespace mesh would be named st<id>-*; other tests may make their own meanwhile.
  for (const auto& ns : harness::list_netns()) {
    EXPECT_NE(ns.rfind("st" + id_ + "-", 0), 0u) << "loopback mode made namespace " << ns;
  }

  auto mesh = devmesh::DevMesh::attach(work_);
  ASSERT_TRUE(mesh.ok()) << mesh.error().to_string();
  auto& m = **mesh;
  EXPECT_TRUE(m.loopback());
  auto east = m.cluster("east");
  ASSERT_TRUE(east.ok());
  EXPECT_EQ(east->gateway_ip.rfind("127.0.1.", 0), 0u) << east->gateway_ip;
  // Through west's client proxy (explicit port), across east's gateway.
  auto web = m.service_vip("west", "shop", "web-east");
  ASSERT_TRUE(web.ok()) << web.error().to_string();
  std::vector<std::string> curl = {"curl", "-sS", "--max-time", "5"};
  for (const auto& a : m.curl_via("west/client")) curl.push_back(a);
  curl.push_back("http://" + *web + "/");
  curl.insert(curl.begin(), {"dev", "exec", "west/client", "--"});
  auto through = straitctl(curl);
  EXPECT_TRUE(through.success()) << through.err;
  EXPECT_EQ(through.out, "hello from east-web\n");
  const std::string gw_metrics = m.metrics("east/gw");
  EXPECT_NE(gw_metrics.find("direction=\"gateway\""), std::string::npos) << gw_metrics;

  auto down = straitctl({"dev", "down"});
  ASSERT_TRUE(down.success()) << down.err;
  EXPECT_FALSE(fs::exists(work_));
  EXPECT_EQ(processes_mentioning(work_), 0);
}

}  // namespace
}  // namespace strait::cli
