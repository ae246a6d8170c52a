// State file codec (Boost.JSON) and clean-up of runs left behind.
#include "harness/state.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <boost/json.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "harness/netns.h"
#include "harness/process.h"

namespace strait::harness {

namespace fs = std::filesystem;
namespace json = boost::json;

namespace {

using namespace std::chrono_literals;

json::array strings(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

std::string str(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_string() ? std::string(v->get_string()) : std::string();
}

long long num(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  if (!v) return 0;
  if (v->is_int64()) return v->get_int64();
  if (v->is_uint64()) return static_cast<long long>(v->get_uint64());
  return 0;
}

std::vector<std::string> str_list(const json::object& o, const char* key) {
  std::vector<std::string> out;
  auto* v = o.if_contains(key);
  if (v && v->is_array()) {
    for (const auto& e : v->get_array()) {
      if (e.is_string()) out.emplace_back(e.get_string());
    }
  }
  return out;
}

const json::array* arr(const json::object& o, const char* key) {
  auto* v = o.if_contains(key);
  return v && v->is_array() ? &v->get_array() : nullptr;
}

json::value encode(const RunState& s) {
  json::array clusters;
  for (const auto& c : s.clusters) {
    clusters.push_back(json::object{{"name", c.name},
                                    {"index", c.index},
                                    {"router_ns", c.router_ns},
                                    {"pod_cidr", c.pod_cidr},
                                    {"router_ip", c.router_ip},
                                    {"wan_ip", c.wan_ip},
                                    {"service_cidr", c.service_cidr}});
  }
  json::array pods;
  for (const auto& p : s.pods) {
    pods.push_back(json::object{{"cluster", p.cluster},
                                {"name", p.name},
                                {"ns", p.ns},
                                {"ip", p.ip},
                                {"wan_ip", p.wan_ip}});
  }
  json::array procs;
  for (const auto& p : s.processes) {
    procs.push_back(json::object{
        {"pid", p.pid}, {"start_time", p.start_time}, {"netns", p.netns}, {"command", p.command}});
  }
  return json::object{{"id", s.id},
                      {"owner_pid", s.owner_pid},
                      {"owner_start_time", s.owner_start_time},
                      {"phase", s.phase},
                      {"detached", s.detached},
                      {"topology", s.topology},
                      {"wan_ns", s.wan_ns},
                      {"namespaces", strings(s.namespaces)},
                      {"resolv_dirs", strings(s.resolv_dirs)},
                      {"clusters", clusters},
                      {"pods", pods},
                      {"processes", procs}};
}

RunState decode(const json::object& o) {
  RunState s;
  s.id = str(o, "id");
  s.owner_pid = static_cast<pid_t>(num(o, "owner_pid"));
  s.owner_start_time = static_cast<unsigned long long>(num(o, "owner_start_time"));
  s.phase = str(o, "phase");
  if (auto it = o.find("detached"); it != o.end() && it->value().is_bool()) {
    s.detached = it->value().get_bool();
  }
  s.topology = str(o, "topology");
  s.wan_ns = str(o, "wan_ns");
  s.namespaces = str_list(o, "namespaces");
  s.resolv_dirs = str_list(o, "resolv_dirs");
  if (auto* a = arr(o, "clusters")) {
    for (const auto& e : *a) {
      if (!e.is_object()) continue;
      const auto& c = e.get_object();
      s.clusters.push_back(ClusterInfo{str(c, "name"), static_cast<int>(num(c, "index")),
                                       str(c, "router_ns"), str(c, "pod_cidr"), str(c, "router_ip"),
                                       str(c, "wan_ip"), str(c, "service_cidr")});
    }
  }
  if (auto* a = arr(o, "pods")) {
    for (const auto& e : *a) {
      if (!e.is_object()) continue;
      const auto& p = e.get_object();
      s.pods.push_back(
          PodInfo{str(p, "cluster"), str(p, "name"), str(p, "ns"), str(p, "ip"), str(p, "wan_ip")});
    }
  }
  if (auto* a = arr(o, "processes")) {
    for (const auto& e : *a) {
      if (!e.is_object()) continue;
      const auto& p = e.get_object();
      s.processes.push_back(ProcessRecord{static_cast<pid_t>(num(p, "pid")),
                                          static_cast<unsigned long long>(num(p, "start_time")),
                                          str(p, "netns"), str(p, "command")});
    }
  }
  return s;
}

// "st<id>-..." -> id, or empty.
std::string run_id_of(const std::string& netns) {
  if (netns.size() < 4 || netns.rfind("st", 0) != 0) return {};
  auto dash = netns.find('-');
  if (dash == std::string::npos) return {};
  std::string id = netns.substr(2, dash - 2);
  return valid_run_id(id) ? id : std::string();
}

bool is_harness_cli(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(f, comm);
  return comm == "strait-harness";
}

}  // namespace

bool valid_run_id(const std::string& id) {
  if (id.empty() || id.size() > 8) return false;
  return std::all_of(id.begin(), id.end(),
                     [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); });
}

std::string default_state_root() {
  const char* env = std::getenv("STRAIT_HARNESS_STATE_DIR");
  return env && *env ? env : "/run/strait-harness";
}

std::string state_dir(const std::string& root, const std::string& id) { return root + "/" + id; }
std::string state_file(const std::string& root, const std::string& id) {
  return state_dir(root, id) + "/state.json";
}

Result<void> save_state(const std::string& root, const RunState& state) {
  std::error_code ec;
  fs::create_directories(state_dir(root, state.id), ec);
  if (ec)
    return make_error("state_write_failed",
                      "cannot create " + state_dir(root, state.id) + ": " + ec.message());
  const std::string path = state_file(root, state.id);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << json::serialize(encode(state)) << "\n";
    out.flush();
    if (!out) return make_error("state_write_failed", "cannot write " + tmp);
  }
  fs::rename(tmp, path, ec);
  if (ec) return make_error("state_write_failed", "cannot rename " + tmp + ": " + ec.message());
  return {};
}

Result<RunState> load_state(const std::string& root, const std::string& id) {
  const std::string path = state_file(root, id);
  std::ifstream in(path);
  if (!in) return make_error("no_state", "no state file " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  boost::system::error_code ec;
  json::value v = json::parse(ss.str(), ec);
  if (ec || !v.is_object()) return make_error("bad_state", "cannot parse " + path);
  return decode(v.get_object());
}

std::vector<RunSummary> list_runs(const std::string& root) {
  std::vector<RunSummary> runs;
  std::set<std::string> seen;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {
    std::string id = e.path().filename().string();
    if (!e.is_directory() || !valid_run_id(id)) continue;
    RunSummary r;
    r.id = id;
    r.has_state = true;
    if (auto s = load_state(root, id)) r.state = std::move(*s);
    r.owner_alive = same_process_alive(r.state.owner_pid, r.state.owner_start_time);
    if (r.state.detached) {
      // Its owner has gone by design; the run lives while its processes do.
      for (const auto& p : r.state.processes) {
        r.owner_alive = r.owner_alive || same_process_alive(p.pid, p.start_time);
      }
    }
    runs.push_back(std::move(r));
    seen.insert(id);
  }
  for (const auto& ns : list_netns()) {
    std::string id = run_id_of(ns);
    if (id.empty()) continue;
    if (!seen.count(id)) {
      RunSummary r;
      r.id = id;
      runs.push_back(std::move(r));
      seen.insert(id);
    }
    for (auto& r : runs) {
      if (r.id == id) r.live_namespaces.push_back(ns);
    }
  }
  std::sort(runs.begin(), runs.end(),
            [](const RunSummary& a, const RunSummary& b) { return a.id < b.id; });
  return runs;
}

Result<void> down_run(const std::string& root, const std::string& id, std::ostream* log) {
  if (!valid_run_id(id)) return make_error("bad_id", "not a run id: " + id);
  RunState state;
  if (auto s = load_state(root, id)) state = std::move(*s);

  // Recorded processes first, politely: each leads its own process group.
  std::vector<ProcessRecord> alive;
  for (const auto& p : state.processes) {
    if (same_process_alive(p.pid, p.start_time)) alive.push_back(p);
  }
  for (const auto& p : alive) ::kill(-p.pid, SIGTERM);
  auto deadline = Clock::now() + 2s;
  while (Clock::now() < deadline &&
         std::any_of(alive.begin(), alive.end(), [](const ProcessRecord& p) {
           return same_process_alive(p.pid, p.start_time);
         })) {
    std::this_thread::sleep_for(20ms);
  }
  for (const auto& p : alive) {
    if (same_process_alive(p.pid, p.start_time)) {
      ::kill(-p.pid, SIGKILL);
      if (log) *log << "killed pid " << p.pid << " (" << p.command << ")\n";
    }
  }

  // Every namespace of the run, recorded or not, pods before routers before the wan segment.
  std::vector<std::string> names(state.namespaces.rbegin(), state.namespaces.rend());
  const std::string prefix = "st" + id + "-";
  for (const auto& ns : list_netns()) {
    if (ns.rfind(prefix, 0) == 0 && std::find(names.begin(), names.end(), ns) == names.end()) {
      names.insert(names.begin(), ns);
    }
  }
  std::string failures;
  for (const auto& ns : names) {
    if (!netns_exists(ns)) continue;
    if (auto r = delete_netns(ns); !r) {
      failures += r.error().message + "; ";
    } else if (log) {
      *log << "deleted namespace " << ns << "\n";
    }
  }
  std::error_code ec;
  for (const auto& dir : state.resolv_dirs) fs::remove_all(dir, ec);
  if (!failures.empty()) return make_error("teardown_incomplete", failures);
  fs::remove_all(state_dir(root, id), ec);
  return {};
}

Result<int> down_runs(const std::string& root, bool stale_only, std::ostream* log) {
  int removed = 0;
  std::string failures;
  for (const auto& r : list_runs(root)) {
    if (!r.has_state) continue;
    if (stale_only && r.owner_alive) continue;
    if (r.owner_alive && r.state.owner_pid != ::getpid() && is_harness_cli(r.state.owner_pid)) {
      // A running `strait-harness up` is asked to tear down itself (and exit), then we finish
      // the job. Other owners (test binaries) are left running; their run is removed under them.
      ::kill(r.state.owner_pid, SIGTERM);
      auto deadline = Clock::now() + 5s;
      while (Clock::now() < deadline &&
             same_process_alive(r.state.owner_pid, r.state.owner_start_time)) {
        std::this_thread::sleep_for(50ms);
      }
    }
    if (log) *log << "removing run " << r.id << "\n";
    if (auto d = down_run(root, r.id, log); !d) {
      failures += r.id + ": " + d.error().message + "; ";
    } else {
      ++removed;
    }
  }
  if (!failures.empty()) return make_error("teardown_incomplete", failures);
  return removed;
}

}  // namespace strait::harness
