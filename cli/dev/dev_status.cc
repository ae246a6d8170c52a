// Gathering and printing the status of a dev mesh.
#include "cli/dev/dev_status.h"

#include <boost/json.hpp>
#include <chrono>
#include <cstdio>
#include <sstream>
#include <thread>

#include "cli/dev/dev_plan.h"
#include "cli/dev/golden.h"
#include "cli/table.h"

namespace strait::cli::dev {
namespace json = boost::json;
using namespace std::chrono_literals;

namespace {

std::string ms_text(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1fms", ms);
  return buf;
}

std::string trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) s.pop_back();
  return s;
}

// strait-link's /links of a cluster, as {target cluster -> link status object}.
std::map<std::string, json::object> links_of(devmesh::DevMesh& mesh, const std::string& cluster) {
  std::map<std::string, json::object> out;
  boost::system::error_code ec;
  auto v = json::parse(mesh.link_status(cluster), ec);
  if (ec || !v.is_object() || !v.as_object().contains("links")) return out;
  for (const auto& l : v.at("links").as_array()) {
    if (!l.is_object() || !l.as_object().contains("target_cluster")) continue;
    out[std::string(l.at("target_cluster").as_string())] = l.as_object();
  }
  return out;
}

const json::value* find_path(const json::object& o, std::initializer_list<const char*> path) {
  const json::value* v = nullptr;
  const json::object* at = &o;
  for (const char* key : path) {
    if (!at) return nullptr;
    auto it = at->find(key);
    if (it == at->end()) return nullptr;
    v = &it->value();
    at = v->is_object() ? &v->get_object() : nullptr;
  }
  return v;
}

}  // namespace

Probe live_request(devmesh::DevMesh& mesh, const std::string& client_pod, const std::string& vip,
                   std::uint16_t port, bool http) {
  Probe p;
  const auto start = std::chrono::steady_clock::now();
  harness::ExecResult r;
  const std::string address = vip + ":" + std::to_string(port);
  if (http) {
    std::vector<std::string> argv = {"curl", "-sS", "--max-time",
                                     "5",    "-w",  "\n%{http_code} %{time_total}"};
    for (auto& a : mesh.curl_via(client_pod)) argv.push_back(std::move(a));
    argv.push_back("http://" + address + "/");
    r = mesh.exec(client_pod, argv, 10s);
  } else {
    std::vector<std::string> argv = {
        mesh.options().bin.testapp, "echo-client", "--connect", address, "--message",
        "hello-through-strait"};
    if (auto proxy = mesh.explicit_proxy(client_pod); !proxy.empty()) {
      argv.insert(argv.end(), {"--proxy", proxy});
    }
    r = mesh.exec(client_pod, argv, 10s);
  }
  p.ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (!r.success()) {
    p.result = "FAIL " + trim(r.err.empty() ? r.status.to_string() : r.err);
    return p;
  }
  if (http) {
    auto nl = r.out.rfind('\n');
    std::istringstream tailer(r.out.substr(nl + 1));
    std::string code;
    double seconds = 0;
    tailer >> code >> seconds;
    p.ok = code == "200";
    p.ms = seconds * 1000;
    p.result = code + " " + trim(r.out.substr(0, nl));
  } else {
    p.ok = true;
    p.result = "echoed";
  }
  return p;
}

bool print_status(devmesh::DevMesh& mesh, std::ostream& out) {
  bool healthy = true;
  const auto clusters = mesh.clusters();
  out << "Strait dev mesh: " << clusters.size() << " clusters, topology "
      << devmesh::topology_name(mesh.options().topology) << ", trust "
      << (mesh.options().trust == devmesh::Trust::shared ? "shared anchor" : "separate domains")
      << (mesh.loopback() ? ", loopback mode (no namespaces)" : "")
      << (mesh.ready() ? "" : "  (NOT COMPLETE: `straitctl dev up` did not finish)") << "\n\n";

  Table ct({"CLUSTER", "TRUST-DOMAIN", "CONTROLLER", "GATEWAY", "LINK", "GATEWAY-ADDRESS"});
  for (const auto& c : clusters) {
    std::vector<std::string> row = {c.name, c.trust_domain};
    for (const char* comp : {"controller", "gateway", "link"}) {
      const bool up = mesh.running(c.name, comp);
      healthy = healthy && up;
      row.push_back(up ? "running" : "DOWN");
    }
    row.push_back(c.gateway_wan_ip + ":4143");
    ct.add(row);
  }
  ct.print(out);

  out << "\n";
  Table lt({"FROM", "TO", "STREAM", "GATEWAY-ALIVE", "PROBE-LATENCY", "MIRRORS"});
  for (const auto& c : clusters) {
    for (const auto& [target, l] : links_of(mesh, c.name)) {
      const auto* connected = find_path(l, {"stream_connected"});
      const auto* alive = find_path(l, {"gateway", "alive"});
      const auto* latency = find_path(l, {"gateway", "probe", "last_success_latency_ms"});
      const auto* mirrors = find_path(l, {"mirrors"});
      const bool is_alive = alive && alive->is_bool() && alive->get_bool();
      healthy = healthy && is_alive;
      lt.add({c.name, target,
              connected && connected->is_bool() && connected->get_bool() ? "connected" : "DOWN",
              is_alive ? "yes" : "NO",
              latency && latency->is_number() ? ms_text(latency->to_number<double>()) : "-",
              mirrors && mirrors->is_array() ? std::to_string(mirrors->get_array().size()) : "0"});
    }
  }
  lt.print(out);

  out << "\n";
  Table st({"CLUSTER", "SERVICE", "MODE", "NAME", "VIRTUAL-IP", "READY/ENDPOINTS"});
  const auto plan = samples(mesh.options().topology);
  struct Target {
    std::string client, service, vip, mode;
    std::uint16_t port;
    bool http;
  };
  std::vector<Target> targets;
  for (const auto& c : clusters) {
    std::vector<std::string> seen;
    for (const auto& s : plan) {
      for (const auto& other : clusters) {
        if (other.name == c.name) continue;
        const std::string name = mirror_of(s, other.name);
        if (std::find(seen.begin(), seen.end(), name) != seen.end()) continue;
        seen.push_back(name);
        auto v = mesh.service(c.name, "shop", name);
        if (!v) {
          healthy = false;
          st.add({c.name, "shop/" + name, s.mode, dns_name_of(s, other.name), "-", "MISSING"});
          continue;
        }
        const int expect = s.mode == "federated" ? static_cast<int>(clusters.size()) : 1;
        healthy = healthy && v->ready() >= expect;
        st.add({c.name, "shop/" + name, s.mode, dns_name_of(s, other.name), v->service.cluster_ip,
                std::to_string(v->ready()) + "/" + std::to_string(v->endpoints.size())});
        if (targets.size() < plan.size() && c.name == clusters.front().name &&
            std::none_of(targets.begin(), targets.end(),
                         [&](const Target& t) { return t.mode == s.mode; })) {
          targets.push_back({c.name + "/client", name, v->service.cluster_ip, s.mode, s.port,
                             s.app == devmesh::App::http});
        }
      }
    }
  }
  st.print(out);

  // Workloads of the user's own (dev run).
  Table wt({"POD", "IP", "SERVICE", "PORTS", "PROCESSES", "COMMAND"});
  for (const auto& w : mesh.workloads()) {
    if (w.spec.app != devmesh::App::command) continue;
    std::string ports, command;
    for (auto p : w.spec.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
    for (const auto& a : w.spec.command) command += (command.empty() ? "" : " ") + a;
    if (command.size() > 40) command = command.substr(0, 37) + "...";
    const auto n = mesh.pids(w.spec.cluster + "/" + w.spec.pod).size();
    wt.add({w.spec.cluster + "/" + w.spec.pod, w.pod.ip,
            w.spec.service.empty() ? "-" : w.spec.ns + "/" + w.spec.service,
            ports.empty() ? "-" : ports, n == 0 ? "NONE" : std::to_string(n), command});
  }
  if (wt.size() > 0) {
    out << "\n";
    wt.print(out);
  }

  out << "\n";
  Table rt({"FROM", "TO", "TOPOLOGY", "RESULT", "LATENCY"});
  for (const auto& t : targets) {
    auto p = live_request(mesh, t.client, t.vip, t.port, t.http);
    healthy = healthy && p.ok;
    rt.add({t.client, t.service + " (" + t.vip + ":" + std::to_string(t.port) + ")", t.mode,
            p.result, ms_text(p.ms)});
  }
  rt.print(out);

  // The golden metrics, as each cluster's client proxy sees its outbound traffic: the rate
  // between two scrapes, success and p99 since the proxy started.
  out << "\n";
  constexpr auto kRateWindow = 2s;
  std::map<std::string, std::map<std::string, ServiceTraffic>> before, after;
  for (const auto& c : clusters)
    before[c.name] = outbound_traffic(mesh.metrics(c.name + "/client"));
  std::this_thread::sleep_for(kRateWindow);
  for (const auto& c : clusters) after[c.name] = outbound_traffic(mesh.metrics(c.name + "/client"));
  Table gt({"FROM", "TO", "RPS", "SUCCESS", "P99"});
  for (const auto& c : clusters) {
    for (const auto& [service, t] : after[c.name]) {
      const double earlier =
          before[c.name].contains(service) ? before[c.name][service].responses : 0;
      const double rps =
          (t.responses - earlier) / std::chrono::duration<double>(kRateWindow).count();
      const double p99 = histogram_quantile(t.buckets, 0.99);
      char rate[32], success[32];
      std::snprintf(rate, sizeof rate, "%.1f", rps);
      std::snprintf(success, sizeof success, "%.1f%%",
                    t.responses > 0 ? 100.0 * t.successes / t.responses : 0.0);
      gt.add({c.name + "/client", "shop/" + service, rate, t.responses > 0 ? success : "-",
              p99 < 0 ? "-" : ms_text(p99)});
    }
  }
  gt.print(out);
  return healthy;
}

}  // namespace strait::cli::dev
