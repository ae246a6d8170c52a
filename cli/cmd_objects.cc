// straitctl apply / get / delete: discovery objects through the admin API.
#include <boost/json.hpp>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "cli/access.h"
#include "cli/commands.h"
#include "cli/store.h"
#include "cli/table.h"
#include "core/discovery/endpoint_ports.h"
#include "core/discovery/json_codec.h"
#include "core/discovery/manifest.h"

namespace strait::cli {
namespace av = admin::v1;
using discovery::Kind;

namespace {

int rpc_failed(const grpc::Status& s, const ControllerAccess& access) {
  return fail(controlplane::describe_status(s, access.destination_address));
}

Result<std::string> read_input(const std::string& file) {
  if (file == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(file);
  if (!in) return make_error("io_error", "cannot read " + file);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "services", "svc", "Service" -> Kind.
std::optional<Kind> kind_from_word(const std::string& w) {
  static const std::map<std::string, Kind> words = {
      {"service", Kind::kService},
      {"services", Kind::kService},
      {"svc", Kind::kService},
      {"endpoint", Kind::kEndpoint},
      {"endpoints", Kind::kEndpoint},
      {"ep", Kind::kEndpoint},
      {"server", Kind::kServer},
      {"servers", Kind::kServer},
      {"policy", Kind::kAuthorizationPolicy},
      {"policies", Kind::kAuthorizationPolicy},
      {"authorizationpolicy", Kind::kAuthorizationPolicy},
      {"authorizationpolicies", Kind::kAuthorizationPolicy},
      {"link", Kind::kLink},
      {"links", Kind::kLink},
      {"serviceexport", Kind::kServiceExport},
      {"serviceexports", Kind::kServiceExport},
      {"svcex", Kind::kServiceExport},
      {"serviceimport", Kind::kServiceImport},
      {"serviceimports", Kind::kServiceImport},
      {"svcim", Kind::kServiceImport}};
  std::string lower;
  for (char c : w) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (auto it = words.find(lower); it != words.end()) return it->second;
  return discovery::kind_from_name(w);
}

std::string join(const std::vector<std::string>& v, const char* sep = ",") {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out.empty() ? "-" : out;
}

std::string labels_text(const discovery::Labels& l) {
  std::vector<std::string> parts;
  for (const auto& [k, v] : l) parts.push_back(k + "=" + v);
  return join(parts);
}

std::string ports_text(const std::vector<discovery::ServicePort>& ports) {
  std::vector<std::string> parts;
  for (const auto& p : ports) parts.push_back(discovery::port_text(p));
  return join(parts);
}

void print_table(Kind kind, const std::vector<discovery::Object>& objects) {
  switch (kind) {
    case Kind::kService: {
      Table t({"NAMESPACE", "NAME", "CLUSTER-IP", "PORTS", "CLUSTER"});
      for (const auto& o : objects) {
        const auto& s = std::get<discovery::Service>(o);
        t.add({s.meta.ns, s.meta.name, s.cluster_ip, ports_text(s.ports), s.meta.cluster});
      }
      t.print(std::cout);
      break;
    }
    case Kind::kEndpoint: {
      Table t({"NAMESPACE", "NAME", "SERVICE", "ADDRESS", "IDENTITY", "READY", "CLUSTER"});
      for (const auto& o : objects) {
        const auto& e = std::get<discovery::Endpoint>(o);
        t.add({e.meta.ns, e.meta.name, e.service,
               e.address + ":" + discovery::endpoint_ports_text(e),
               e.identity.empty() ? "-" : e.identity, e.ready ? "true" : "false", e.meta.cluster});
      }
      t.print(std::cout);
      break;
    }
    case Kind::kServer: {
      Table t({"NAMESPACE", "NAME", "PORT", "SELECTOR"});
      for (const auto& o : objects) {
        const auto& s = std::get<discovery::Server>(o);
        t.add({s.meta.ns, s.meta.name, std::to_string(s.port), labels_text(s.pod_selector)});
      }
      t.print(std::cout);
      break;
    }
    case Kind::kAuthorizationPolicy: {
      Table t({"NAMESPACE", "NAME", "SERVER", "IDENTITIES", "NETWORKS", "UNAUTHENTICATED"});
      for (const auto& o : objects) {
        const auto& a = std::get<discovery::AuthorizationPolicy>(o);
        t.add({a.meta.ns, a.meta.name, a.target_server, join(a.identities), join(a.networks),
               a.unauthenticated ? "true" : "false"});
      }
      t.print(std::cout);
      break;
    }
    case Kind::kLink: {
      Table t({"NAMESPACE", "NAME", "TARGET", "GATEWAYS"});
      for (const auto& o : objects) {
        const auto& l = std::get<discovery::Link>(o);
        t.add({l.meta.ns, l.meta.name, l.target_cluster, join(l.gateway_addresses)});
      }
      t.print(std::cout);
      break;
    }
    case Kind::kServiceExport: {
      Table t({"NAMESPACE", "NAME"});
      for (const auto& o : objects) {
        const auto& x = std::get<discovery::ServiceExport>(o);
        t.add({x.meta.ns, x.meta.name});
      }
      t.print(std::cout);
      break;
    }
    case Kind::kServiceImport: {
      Table t({"NAMESPACE", "NAME", "TYPE", "IP", "PORTS", "CLUSTERS", "CONFLICTS"});
      for (const auto& o : objects) {
        const auto& i = std::get<discovery::ServiceImport>(o);
        t.add({i.meta.ns, i.meta.name, i.type, join(i.ips), ports_text(i.ports), join(i.clusters),
               std::to_string(i.conflicts.size())});
      }
      t.print(std::cout);
      for (const auto& o : objects) {
        const auto& i = std::get<discovery::ServiceImport>(o);
        for (const auto& c : i.conflicts) {
          std::cout << "conflict " << i.meta.ns << "/" << i.meta.name << ": " << c << "\n";
        }
      }
      break;
    }
  }
}

}  // namespace

int cmd_apply(const Args& args) {
  auto file = args.get("filename");
  if (!file) return fail("apply needs -f FILE (or -f - for standard input)");
  auto text = read_input(*file);
  if (!text) return fail(text.error().message);
  // Parse and validate everything locally first: the error names the document and field.
  auto objects = discovery::parse_manifests(*text, "");
  if (!objects) return fail(*file + ": " + objects.error().message);
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  av::ApplyRequest req;
  for (const auto& o : *objects)
    req.add_objects_json(boost::json::serialize(discovery::object_to_json(o)));
  av::ApplyResponse resp;
  auto ctx = rpc_context();
  auto status = access->admin()->Apply(ctx.get(), req, &resp);
  if (!status.ok()) return rpc_failed(status, *access);
  for (const auto& j : resp.objects_json()) {
    auto o = discovery::object_from_json(boost::json::parse(j));
    if (!o) continue;
    const auto& m = discovery::meta_of(*o);
    std::cout << discovery::kind_name(discovery::kind_of(*o)) << " " << m.ns << "/" << m.name
              << " applied (version " << m.version << ")\n";
  }
  return 0;
}

int cmd_get(const Args& args) {
  if (args.positional().size() < 2) {
    return fail("get needs a kind: services, endpoints, servers, policies or links");
  }
  auto kind = kind_from_word(args.positional()[1]);
  if (!kind) {
    return fail("unknown kind \"" + args.positional()[1] +
                "\" (known: services, endpoints, servers, policies, links)");
  }
  std::string output = args.get_or("output", "table");
  if (output != "table" && output != "yaml" && output != "json" && output != "wide") {
    return fail("unknown output format \"" + output + "\" (yaml, json)");
  }
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  auto all = list_objects(*access, *access->admin(), *kind, args.get_or("namespace", ""));
  if (!all) return fail(all.error().message);
  std::vector<discovery::Object> objects;
  for (auto& o : *all) {
    // A single name narrows the list.
    if (args.positional().size() >= 3 && discovery::meta_of(o).name != args.positional()[2])
      continue;
    objects.push_back(std::move(o));
  }
  if (output == "yaml") {
    std::cout << discovery::to_manifest_yaml(objects);
  } else if (output == "json") {
    std::cout << discovery::to_manifest_json(objects) << "\n";
  } else {
    print_table(*kind, objects);
  }
  return 0;
}

int cmd_delete(const Args& args) {
  std::vector<std::tuple<Kind, std::string, std::string>> targets;
  if (auto file = args.get("filename")) {
    auto text = read_input(*file);
    if (!text) return fail(text.error().message);
    auto objects = discovery::parse_manifests(*text, "");
    if (!objects) return fail(*file + ": " + objects.error().message);
    for (const auto& o : *objects) {
      targets.emplace_back(discovery::kind_of(o), discovery::meta_of(o).ns,
                           discovery::meta_of(o).name);
    }
  } else {
    if (args.positional().size() < 3)
      return fail("delete needs KIND NAME [-n NAMESPACE], or -f FILE");
    auto kind = kind_from_word(args.positional()[1]);
    if (!kind) return fail("unknown kind \"" + args.positional()[1] + "\"");
    targets.emplace_back(*kind, args.get_or("namespace", "default"), args.positional()[2]);
  }
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  auto stub = access->admin();
  int rc = 0;
  for (const auto& [kind, ns, name] : targets) {
    av::DeleteRequest req;
    req.set_kind(std::string(discovery::kind_name(kind)));
    req.set_namespace_(ns);
    req.set_name(name);
    av::DeleteResponse resp;
    auto ctx = rpc_context();
    auto status = stub->Delete(ctx.get(), req, &resp);
    if (!status.ok()) {
      rc = rpc_failed(status, *access);
      continue;
    }
    std::cout << discovery::kind_name(kind) << " " << ns << "/" << name << " deleted\n";
  }
  return rc;
}

}  // namespace strait::cli
