// strait-init against real iptables, as root, in network namespaces this test creates
// ("stinit-<pid>-..."): idempotent install/uninstall, and that the redirects really happen.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <iostream>
#include <memory>

#include "sidecar/init/exec.h"
#include "sidecar/init/rules.h"
#include "tests/sidecar/init/netns_fixture.h"

namespace strait::init::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class InitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0) GTEST_SKIP() << "needs root (network namespaces, iptables)";
  }

  // strait-init with args; returns the exit code and fills out/err.
  int strait_init(std::vector<std::string> args, std::string* out = nullptr,
                  std::string* err = nullptr) {
    args.insert(args.begin(), strait_init_bin());
    auto r = run_command(args, "", std::chrono::seconds(30));
    if (!r) {
      ADD_FAILURE() << r.error().to_string();
      return -1;
    }
    if (out) *out = r->out;
    if (err) *err = r->err;
    if (r->exit_code != 0) std::cerr << "strait-init stderr: " << r->err;
    return r->exit_code;
  }

  std::string nat(const Netns& ns) {
    return normalize_save(ns.exec({"iptables-save", "-t", "nat"}));
  }
};

// Two namespaces joined by a veth pair: A = 198.18.200.1 (the workload), B = 198.18.200.2 and
// 198.18.201.2 (the rest of the world).
class LinkedPair {
 public:
  LinkedPair() : a_(unique_name("a")), b_(unique_name("b")) {
    if (!a_.ok() || !b_.ok()) return;
    must({"ip", "-n", a_.name(), "link", "add", "va", "type", "veth", "peer", "name", "vb", "netns",
          b_.name()});
    must({"ip", "-n", a_.name(), "addr", "add", "198.18.200.1/24", "dev", "va"});
    must({"ip", "-n", b_.name(), "addr", "add", "198.18.200.2/24", "dev", "vb"});
    must({"ip", "-n", b_.name(), "addr", "add", "198.18.201.2/24", "dev", "vb"});
    must({"ip", "-n", a_.name(), "link", "set", "va", "up"});
    must({"ip", "-n", b_.name(), "link", "set", "vb", "up"});
    must({"ip", "-n", a_.name(), "route", "add", "198.18.201.0/24", "via", "198.18.200.2"});
  }
  const Netns& a() const { return a_; }
  const Netns& b() const { return b_; }

  // A listener in `ns` that answers `reply`, or its SO_ORIGINAL_DST when reply is empty.
  void listen(const Netns& ns, const std::string& addr, int port, const std::string& reply = "") {
    std::vector<std::string> argv = {echo_bin(), "listen", "--netns", ns.name(),
                                     "--addr",   addr,     "--port",  std::to_string(port)};
    if (!reply.empty()) argv.insert(argv.end(), {"--reply", reply});
    auto p = std::make_unique<Process>(argv);
    ASSERT_TRUE(p->wait_for_line("ready"))
        << "listener " << addr << ":" << port << " in " << ns.name();
    procs_.push_back(std::move(p));
  }

  // Connects from `ns` (as `uid`, when >= 0) and returns the reply line, or "error: ...".
  std::string ask(const Netns& ns, const std::string& addr, int port, int uid = -1) {
    std::vector<std::string> argv = {echo_bin(),     "connect", "--netns", ns.name(),
                                     "--addr",       addr,      "--port",  std::to_string(port),
                                     "--timeout-ms", "3000"};
    if (uid >= 0) argv.insert(argv.end(), {"--uid", std::to_string(uid)});
    auto r = run_command(argv, "", std::chrono::seconds(15));
    if (!r) return "error: " + r.error().to_string();
    if (r->exit_code != 0) return "error: " + r->err;
    std::string s = r->out;
    if (!s.empty() && s.back() == '\n') s.pop_back();
    return s;
  }

 private:
  Netns a_, b_;
  std::vector<std::unique_ptr<Process>> procs_;  // destroyed (killed) before the namespaces
};

TEST_F(InitTest, InstallIsIdempotentAndUninstallRestores) {
  Netns ns(unique_name("idem"));
  ASSERT_TRUE(ns.ok());
  ns.exec({"iptables", "-w", "5", "-t", "nat", "-A", "OUTPUT", "-d", "198.18.9.9/32", "-p", "tcp",
           "-j", "RETURN"});
  const std::string before = nat(ns);
  ASSERT_THAT(before, HasSubstr("-A OUTPUT -d 198.18.9.9/32 -p tcp -j RETURN"));

  ASSERT_EQ(strait_init({"--netns", ns.name(), "--skip-inbound-ports", "22"}), 0);
  const std::string installed = nat(ns);
  EXPECT_THAT(installed, HasSubstr(":STRAIT_INBOUND - [0:0]\n"));
  EXPECT_THAT(installed, HasSubstr(":STRAIT_OUTBOUND - [0:0]\n"));
  EXPECT_THAT(installed,
              HasSubstr("-A PREROUTING -p tcp -m comment --comment strait -j STRAIT_INBOUND\n"));
  EXPECT_THAT(installed,
              HasSubstr("-A OUTPUT -p tcp -m comment --comment strait -j STRAIT_OUTBOUND\n"));
  EXPECT_THAT(installed, HasSubstr("-A STRAIT_OUTBOUND -m owner --uid-owner 2102 -j RETURN\n"));
  EXPECT_THAT(installed, HasSubstr("-A STRAIT_OUTBOUND -p tcp -j REDIRECT --to-ports 4140\n"));
  EXPECT_THAT(installed, HasSubstr("-A STRAIT_INBOUND -p tcp -m tcp --dport 4191 -j RETURN\n"));
  EXPECT_THAT(installed, HasSubstr("-A STRAIT_INBOUND -p tcp -m tcp --dport 22 -j RETURN\n"));
  EXPECT_THAT(installed, HasSubstr("-A STRAIT_INBOUND -p tcp -j REDIRECT --to-ports 4143\n"));
  EXPECT_THAT(installed, HasSubstr("-A OUTPUT -d 198.18.9.9/32 -p tcp -j RETURN"));

  ASSERT_EQ(strait_init({"--netns", ns.name(), "--skip-inbound-ports", "22"}), 0);
  EXPECT_EQ(nat(ns), installed);

  // A dry run prints the transaction and changes nothing.
  std::string out;
  ASSERT_EQ(strait_init({"--netns", ns.name(), "--dry-run", "--outbound-port", "5555"}, &out), 0);
  EXPECT_THAT(out, HasSubstr("iptables-restore -w 5 --noflush"));
  EXPECT_THAT(out, HasSubstr("--to-ports 5555"));
  EXPECT_EQ(nat(ns), installed);

  // Other options replace the chains' contents; the jumps stay single.
  ASSERT_EQ(strait_init(
                {"--netns", ns.name(), "--outbound-port", "5140", "--skip-outbound-ports", "443"}),
            0);
  const std::string replaced = nat(ns);
  EXPECT_THAT(replaced, HasSubstr("--to-ports 5140\n"));
  EXPECT_THAT(replaced, HasSubstr("-A STRAIT_OUTBOUND -p tcp -m tcp --dport 443 -j RETURN\n"));
  EXPECT_THAT(replaced, Not(HasSubstr("--to-ports 4140")));
  EXPECT_THAT(replaced, Not(HasSubstr("--dport 22 ")));
  auto count = [](const std::string& s, const std::string& needle) {
    size_t n = 0;
    for (size_t p = s.find(needle); p != std::string::npos; p = s.find(needle, p + 1)) ++n;
    return n;
  };
  EXPECT_EQ(count(replaced, "-j STRAIT_INBOUND"), 1u);
  EXPECT_EQ(count(replaced, "-j STRAIT_OUTBOUND"), 1u);

  ASSERT_EQ(strait_init({"--netns", ns.name(), "--uninstall"}), 0);
  EXPECT_EQ(nat(ns), before);
  ASSERT_EQ(strait_init({"--netns", ns.name(), "--uninstall"}), 0);
  EXPECT_EQ(nat(ns), before);
}

TEST_F(InitTest, OutboundIsRedirectedExceptProxyUidLoopbackAndSkips) {
  LinkedPair net;
  ASSERT_TRUE(net.a().ok() && net.b().ok());
  ASSERT_NO_FATAL_FAILURE(
      net.listen(net.a(), "0.0.0.0", 4140));  // the "proxy": reports SO_ORIGINAL_DST
  ASSERT_NO_FATAL_FAILURE(net.listen(net.a(), "127.0.0.1", 7000, "local"));
  ASSERT_NO_FATAL_FAILURE(net.listen(net.b(), "0.0.0.0", 80, "B"));
  ASSERT_NO_FATAL_FAILURE(net.listen(net.b(), "0.0.0.0", 443, "B443"));

  EXPECT_EQ(net.ask(net.a(), "198.18.200.2", 80), "B");  // before: straight through

  ASSERT_EQ(strait_init({"--netns", net.a().name(), "--skip-outbound-cidrs", "198.18.201.0/24",
                         "--skip-outbound-ports", "443"}),
            0);
  EXPECT_EQ(net.ask(net.a(), "198.18.200.2", 80), "198.18.200.2:80");
  EXPECT_EQ(net.ask(net.a(), "198.18.200.2", 80, 2102), "B");                // the proxy's own user
  EXPECT_EQ(net.ask(net.a(), "198.18.200.2", 80, 2103), "198.18.200.2:80");  // any other user
  EXPECT_EQ(net.ask(net.a(), "198.18.201.2", 80), "B");                      // skip CIDR
  EXPECT_EQ(net.ask(net.a(), "198.18.200.2", 443), "B443");                  // skip port
  EXPECT_EQ(net.ask(net.a(), "127.0.0.1", 7000), "local");                   // loopback

  ASSERT_EQ(strait_init({"--netns", net.a().name(), "--uninstall"}), 0);
  EXPECT_EQ(net.ask(net.a(), "198.18.200.2", 80), "B");
}

TEST_F(InitTest, InboundIsRedirectedExceptAdminAndSkipPorts) {
  LinkedPair net;
  ASSERT_TRUE(net.a().ok() && net.b().ok());
  ASSERT_NO_FATAL_FAILURE(net.listen(net.a(), "0.0.0.0", 4143));  // the "proxy" inbound
  ASSERT_NO_FATAL_FAILURE(net.listen(net.a(), "0.0.0.0", 4191, "admin"));
  ASSERT_NO_FATAL_FAILURE(net.listen(net.a(), "0.0.0.0", 9990, "skip"));
  ASSERT_NO_FATAL_FAILURE(net.listen(net.a(), "0.0.0.0", 8080, "app"));

  EXPECT_EQ(net.ask(net.b(), "198.18.200.1", 8080), "app");  // before: straight to the app

  ASSERT_EQ(strait_init({"--netns", net.a().name(), "--skip-inbound-ports", "22,9990"}), 0);
  EXPECT_EQ(net.ask(net.b(), "198.18.200.1", 8080), "198.18.200.1:8080");
  EXPECT_EQ(net.ask(net.b(), "198.18.200.1", 4143), "198.18.200.1:4143");  // to itself: fine
  EXPECT_EQ(net.ask(net.b(), "198.18.200.1", 4191), "admin");
  EXPECT_EQ(net.ask(net.b(), "198.18.200.1", 9990), "skip");

  ASSERT_EQ(strait_init({"--netns", net.a().name(), "--uninstall"}), 0);
  EXPECT_EQ(net.ask(net.b(), "198.18.200.1", 8080), "app");
}

TEST_F(InitTest, BadArgumentsFailNamingTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string flag;
  };
  for (const auto& c : std::vector<Case>{
           {{"--skip-outbound-cidrs", "198.18.0.0/40"}, "--skip-outbound-cidrs"},
           {{"--skip-outbound-cidrs", "not-a-cidr"}, "--skip-outbound-cidrs"},
           {{"--outbound-port", "70000"}, "--outbound-port"},
           {{"--skip-inbound-ports", "22,70000"}, "--skip-inbound-ports"},
           {{"--bogus"}, "--bogus"},
       }) {
    std::string err;
    EXPECT_EQ(strait_init(c.args, nullptr, &err), 2) << c.args[0];
    EXPECT_THAT(err, HasSubstr(c.flag));
  }
  std::string err;
  EXPECT_EQ(strait_init({"--netns", unique_name("missing")}, nullptr, &err), 1);
  EXPECT_THAT(err, HasSubstr("--netns"));
}

}  // namespace
}  // namespace strait::init::testing
