// strait-harness: the command line of the harness.
//   up    --clusters east,west [--topology flat|gateway] [--pods east/client,east/gw:wan,...] [--id
//   ID] down  --id ID | --all | --stale list
// Common: --state-dir DIR (default /run/strait-harness or $STRAIT_HARNESS_STATE_DIR).
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "harness/harness.h"
#include "harness/netns.h"
#include "harness/state.h"

namespace {

using namespace strait::harness;

const char kUsage[] =
    "usage:\n"
    "  strait-harness up --clusters east,west [--topology flat|gateway]\n"
    "                    [--pods east/client,east/server,east/gw:wan,...] [--id ID]\n"
    "      creates the clusters and pods, prints them, waits for SIGINT/SIGTERM, tears down.\n"
    "      ':wan' gives a pod a second interface on the shared wan segment (gateways).\n"
    "  strait-harness down --id ID     removes run ID (processes, namespaces, state)\n"
    "  strait-harness down --all       removes every run that has a state file\n"
    "  strait-harness down --stale     removes the runs whose owner process is dead\n"
    "  strait-harness list             lists runs and namespaces that look like runs\n"
    "options: --state-dir DIR (default $STRAIT_HARNESS_STATE_DIR or /run/strait-harness)\n";

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

struct Args {
  std::string command;
  std::map<std::string, std::string> values;
  std::vector<std::string> flags;
  bool has(const std::string& k) const {
    return values.count(k) || std::find(flags.begin(), flags.end(), k) != flags.end();
  }
  std::string get(const std::string& k, const std::string& def = "") const {
    auto it = values.find(k);
    return it == values.end() ? def : it->second;
  }
};

bool parse(int argc, char** argv, Args& a, std::string& err) {
  if (argc < 2) {
    err = "missing command";
    return false;
  }
  a.command = argv[1];
  const std::vector<std::string> with_value = {"--clusters", "--topology", "--pods", "--id",
                                               "--state-dir"};
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    auto eq = arg.find('=');
    std::string key = arg.substr(0, eq);
    if (std::find(with_value.begin(), with_value.end(), key) != with_value.end()) {
      if (eq != std::string::npos) {
        a.values[key] = arg.substr(eq + 1);
      } else if (i + 1 < argc) {
        a.values[key] = argv[++i];
      } else {
        err = key + " needs a value";
        return false;
      }
    } else if (arg == "--all" || arg == "--stale" || arg == "-h" || arg == "--help") {
      a.flags.push_back(arg);
    } else {
      err = "unknown argument " + arg;
      return false;
    }
  }
  return true;
}

int need_root() {
  if (::geteuid() != 0) {
    std::cerr << "strait-harness needs root: it creates network namespaces\n";
    return 2;
  }
  return 0;
}

bool signal_pending(const sigset_t& set) {
  timespec zero{0, 0};
  return ::sigtimedwait(&set, nullptr, &zero) > 0;
}

int cmd_up(const Args& a, const std::string& root) {
  auto clusters = split(a.get("--clusters"), ',');
  if (clusters.empty()) {
    std::cerr << "up: --clusters is required (e.g. --clusters east,west)\n";
    return 2;
  }
  auto topology = parse_topology(a.get("--topology", "flat"));
  if (!topology) {
    std::cerr << "up: " << topology.error().message << "\n";
    return 2;
  }
  struct PodSpec {
    std::string cluster, name;
    bool on_wan;
  };
  std::vector<PodSpec> pods;
  for (const auto& spec : split(a.get("--pods"), ',')) {
    std::string s = spec;
    bool on_wan = false;
    if (s.size() > 4 && s.compare(s.size() - 4, 4, ":wan") == 0) {
      on_wan = true;
      s.resize(s.size() - 4);
    }
    auto slash = s.find('/');
    if (slash == std::string::npos) {
      std::cerr << "up: a pod is CLUSTER/NAME[:wan], not " << spec << "\n";
      return 2;
    }
    pods.push_back({s.substr(0, slash), s.substr(slash + 1), on_wan});
  }

  // SIGINT/SIGTERM/SIGHUP are taken synchronously: blocked here, and waited for between steps
  // and once the run is up, so an interrupt at any point ends in a teardown.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  ::sigprocmask(SIG_BLOCK, &set, nullptr);

  HarnessOptions options;
  options.id = a.get("--id");
  options.state_root = root;
  options.topology = *topology;
  auto h = Harness::create(options);
  if (!h) {
    std::cerr << "up: " << h.error().message << "\n";
    return 1;
  }
  Harness& run = **h;
  auto fail = [&](const strait::Error& e) {
    std::cerr << "up: " << e.message << "\n";
    if (auto t = run.teardown(); !t) std::cerr << "teardown: " << t.error().message << "\n";
    return 1;
  };
  auto interrupted = [&] {
    std::cerr << "interrupted; tearing down run " << run.id() << "\n";
    if (auto t = run.teardown(); !t) {
      std::cerr << "teardown: " << t.error().message << "\n";
      return 1;
    }
    return 130;
  };
  for (const auto& c : clusters) {
    if (auto r = run.add_cluster(c); !r) return fail(r.error());
    if (signal_pending(set)) return interrupted();
  }
  for (const auto& p : pods) {
    if (auto r = run.add_pod(p.cluster, p.name, PodOptions{p.on_wan}); !r) return fail(r.error());
    if (signal_pending(set)) return interrupted();
  }
  if (auto r = run.mark_ready(); !r) return fail(r.error());
  std::cout << run.describe() << "\nrun " << run.id()
            << " is up; Ctrl-C (or SIGTERM) tears it down.\n"
            << std::flush;
  int sig = 0;
  ::sigwait(&set, &sig);
  std::cerr << "signal " << sig << "; tearing down run " << run.id() << "\n";
  if (auto t = run.teardown(); !t) {
    std::cerr << "teardown: " << t.error().message << "\n";
    return 1;
  }
  std::cerr << "run " << run.id() << " removed\n";
  return 0;
}

int cmd_down(const Args& a, const std::string& root) {
  if (a.has("--id")) {
    std::string id = a.get("--id");
    if (auto r = down_run(root, id, &std::cout); !r) {
      std::cerr << "down: " << r.error().message << "\n";
      return 1;
    }
    std::cout << "run " << id << " removed\n";
    return 0;
  }
  if (a.has("--all") || a.has("--stale")) {
    auto r = down_runs(root, a.has("--stale"), &std::cout);
    if (!r) {
      std::cerr << "down: " << r.error().message << "\n";
      return 1;
    }
    std::cout << *r << " run(s) removed\n";
    return 0;
  }
  std::cerr << "down: give --id ID, --all or --stale\n";
  return 2;
}

int cmd_list(const std::string& root) {
  auto runs = list_runs(root);
  if (runs.empty()) {
    std::cout << "no runs\n";
    return 0;
  }
  for (const auto& r : runs) {
    std::cout << "run " << r.id;
    if (!r.has_state) {
      std::cout
          << "  (no state file: not made by this harness or state lost; not removed by --all)";
    } else {
      std::cout << "  owner " << r.state.owner_pid << (r.owner_alive ? " (alive)" : " (dead)")
                << "  phase " << r.state.phase << "  topology " << r.state.topology
                << "  processes " << r.state.processes.size();
    }
    std::cout << "\n";
    for (const auto& c : r.state.clusters) {
      std::cout << "  cluster " << c.name << "  " << c.pod_cidr << "  wan " << c.wan_ip
                << "  services " << c.service_cidr << "\n";
    }
    for (const auto& p : r.state.pods) {
      std::cout << "  pod " << p.ref() << "  " << p.ip
                << (p.wan_ip.empty() ? "" : "  wan " + p.wan_ip) << "\n";
    }
    std::cout << "  namespaces:";
    for (const auto& ns : r.live_namespaces) std::cout << " " << ns;
    std::cout << "\n";
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  std::string err;
  if (!parse(argc, argv, a, err)) {
    std::cerr << "strait-harness: " << err << "\n" << kUsage;
    return 2;
  }
  if (a.command == "help" || a.has("--help") || a.has("-h")) {
    std::cout << kUsage;
    return 0;
  }
  const std::string root = a.get("--state-dir", default_state_root());
  if (a.command == "up") {
    if (int rc = need_root()) return rc;
    return cmd_up(a, root);
  }
  if (a.command == "down") {
    if (int rc = need_root()) return rc;
    return cmd_down(a, root);
  }
  if (a.command == "list") return cmd_list(root);
  std::cerr << "strait-harness: unknown command " << a.command << "\n" << kUsage;
  return 2;
}
