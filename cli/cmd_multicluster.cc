// straitctl multicluster: link-gen (run against the target cluster); unlink, check and
// gateways (run in the cluster that applied the Link).
#include <boost/json.hpp>
#include <iostream>

#include "cli/access.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/link_status.h"
#include "cli/multicluster_check.h"
#include "cli/multicluster_view.h"
#include "cli/store.h"
#include "cli/table.h"
#include "core/config/config.h"
#include "core/discovery/json_codec.h"
#include "core/discovery/manifest.h"
#include "topologies/mirror.h"

namespace strait::cli {
namespace av = admin::v1;

namespace {

// -o: "" (for people) or "json".
Result<bool> json_output(const Args& args) {
  const std::string o = args.get_or("output", "");
  if (o.empty() || o == "table") return false;
  if (o == "json") return true;
  return make_error("bad_output", "unknown output format \"" + o + "\" (json)");
}

int link_gen(const Args& args) {
  auto name = args.get("cluster-name");
  if (!name) return fail("link-gen needs --cluster-name (the cluster this runs against)");
  auto json = json_output(args);
  if (!json) return fail(json.error().message);
  auto ttl = config::parse_duration(args.get_or("ttl", "15m"));
  if (!ttl) return fail("--ttl: " + ttl.error().message);
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  av::LinkGenRequest req;
  req.set_source_cluster(args.get_or("source-cluster", "remote"));
  req.set_ttl_seconds(std::chrono::duration_cast<std::chrono::seconds>(*ttl).count());
  av::LinkGenResponse resp;
  auto ctx = rpc_context();
  auto status = access->admin()->LinkGen(ctx.get(), req, &resp);
  if (!status.ok()) return fail(controlplane::describe_status(status, access->destination_address));
  boost::system::error_code ec;
  auto parsed = boost::json::parse(resp.link_json(), ec);
  auto link = ec ? Result<discovery::Object>(make_error("bad_reply", "not JSON"))
                 : discovery::object_from_json(parsed);
  if (!link)
    return fail("the controller sent a Link this straitctl cannot read: " + link.error().message);
  const auto& l = std::get<discovery::Link>(*link);
  if (l.target_cluster != *name) {
    return fail("--cluster-name " + *name + " but this controller is cluster " + l.target_cluster);
  }
  if (*json) {
    // The same manifest, re-appliable as it is (JSON has no comments for the token's expiry).
    std::cout << discovery::to_manifest_json(*link) << "\n";
    return 0;
  }
  std::cout << "# Link to cluster " << l.target_cluster << ", for cluster " << req.source_cluster()
            << ". Apply it there: straitctl apply -f <this file>\n"
            << "# The link token in it works once and expires in "
            << std::chrono::duration_cast<std::chrono::minutes>(*ttl).count() << " minutes.\n"
            << discovery::to_manifest_yaml(*link);
  return 0;
}

int unlink(const Args& args) {
  auto name = args.get("cluster-name");
  if (!name) return fail("unlink needs --cluster-name (the linked cluster to forget)");
  auto json = json_output(args);
  if (!json) return fail(json.error().message);
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  auto stub = access->admin();
  const std::string owner = topologies::owner_of(*name);
  boost::json::array removed;
  // Mirrors first, the Link last: strait-link would otherwise repair what we remove.
  for (auto kind :
       {discovery::Kind::kEndpoint, discovery::Kind::kService, discovery::Kind::kLink}) {
    auto objects = list_objects(*access, *stub, kind);
    if (!objects) return fail(objects.error().message);
    for (const auto& o : *objects) {
      const auto& m = discovery::meta_of(o);
      const bool ours = kind == discovery::Kind::kLink
                            ? std::get<discovery::Link>(o).target_cluster == *name
                            : m.owner == owner;
      if (!ours) continue;
      av::DeleteRequest dr;
      dr.set_kind(std::string(discovery::kind_name(kind)));
      dr.set_namespace_(m.ns);
      dr.set_name(m.name);
      av::DeleteResponse dresp;
      auto dctx = rpc_context();
      auto ds = stub->Delete(dctx.get(), dr, &dresp);
      if (!ds.ok() && ds.error_code() != grpc::StatusCode::NOT_FOUND) {
        return fail(controlplane::describe_status(ds, access->destination_address));
      }
      removed.push_back(discovery::key_to_json(discovery::key_of(o)));
    }
  }
  if (*json) {
    boost::json::object out;
    out["cluster"] = *name;
    out["removed"] = std::move(removed);
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }
  std::cout << "unlinked cluster " << *name << ": removed " << removed.size() << " objects\n";
  return 0;
}

// The Links (one, with --cluster-name) joined with the local store and strait-link's status.
Result<MulticlusterView> view_for(const Args& args) {
  auto access = resolve_access(args);
  if (!access) return access.error();
  const std::string only = args.get_or("cluster-name", "");
  auto view = gather_view(*access, link_admin_address(args), only);
  if (view && !only.empty() && view->links.empty()) {
    return make_error("not_found", "no Link to cluster " + only + " in this cluster");
  }
  return view;
}

int check(const Args& args) {
  auto json = json_output(args);
  if (!json) return fail(json.error().message);
  auto view = view_for(args);
  if (!view) return fail(view.error().message);
  const auto now = std::chrono::system_clock::now();
  std::vector<CheckResult> results;
  for (const auto& lv : view->links) {
    auto r = check_link(lv, *view, probe_gateway, now);
    results.insert(results.end(), r.begin(), r.end());
  }
  std::size_t counts[3] = {0, 0, 0};
  for (const auto& r : results) ++counts[static_cast<int>(r.outcome)];
  const bool passed = counts[static_cast<int>(Outcome::kFail)] == 0;
  if (*json) {
    boost::json::array checks;
    for (const auto& r : results) {
      checks.push_back({{"cluster", r.cluster},
                        {"check", r.check},
                        {"result", outcome_name(r.outcome)},
                        {"detail", r.detail}});
    }
    boost::json::object out;
    out["ok"] = passed;
    out["checks"] = std::move(checks);
    std::cout << boost::json::serialize(out) << "\n";
    return passed ? 0 : 1;
  }
  if (results.empty()) {
    std::cout << "no Links in this cluster: nothing to check\n";
    return 0;
  }
  Table t({"CLUSTER", "CHECK", "RESULT"});
  for (const auto& r : results) {
    std::string result =
        r.outcome == Outcome::kFail ? "FAIL" : std::string(outcome_name(r.outcome));
    if (!r.detail.empty()) result += ": " + r.detail;
    t.add({r.cluster, r.check, result});
  }
  t.print(std::cout);
  std::cout << results.size() << " checks: " << counts[static_cast<int>(Outcome::kOk)] << " ok, "
            << counts[static_cast<int>(Outcome::kFail)] << " failed, "
            << counts[static_cast<int>(Outcome::kSkip)] << " skipped\n";
  return passed ? 0 : 1;
}

int gateways(const Args& args) {
  auto json = json_output(args);
  if (!json) return fail(json.error().message);
  auto view = view_for(args);
  if (!view) return fail(view.error().message);
  Table t({"CLUSTER", "ALIVE", "NUM_SVC", "LATENCY", "EXPORT"});
  const auto now = std::chrono::system_clock::now();
  boost::json::array rows;
  for (const auto& lv : view->links) {
    const auto& st = lv.status;
    std::optional<bool> alive;
    std::optional<double> latency;
    std::optional<std::string> last;
    if (st && !lv.flat_only()) {
      alive = json_bool(*st, "gateway.alive");
      last = json_string(*st, "gateway.probe.last_result");
      // The latency of the last probe, when it succeeded.
      if (last == "success") latency = json_number(*st, "gateway.probe.last_success_latency_ms");
    }
    boost::json::object row;
    row["cluster"] = lv.link.target_cluster;
    row["flat_only"] = lv.flat_only();
    row["alive"] = alive ? boost::json::value(*alive) : nullptr;
    row["num_services"] = lv.mirrors.size();
    row["latency_ms"] = latency ? boost::json::value(*latency) : nullptr;
    row["last_probe"] = last ? boost::json::value(*last) : nullptr;
    // The export stream: current, down (mirrors served as last seen) or stale (not ready).
    const ExportState export_state = export_state_of(st ? &*st : nullptr, now);
    row["export"] = export_state.name;
    row["down_since_unix"] =
        export_state.down_since_unix ? boost::json::value(*export_state.down_since_unix) : nullptr;
    boost::json::array addresses;
    for (const auto& a : lv.link.gateway_addresses) addresses.emplace_back(a);
    row["gateway_addresses"] = std::move(addresses);
    rows.push_back(std::move(row));
    const std::string alive_text =
        lv.flat_only() ? "-" : (!alive ? "unknown" : (*alive ? "yes" : "no"));
    t.add({lv.link.target_cluster, alive_text, std::to_string(lv.mirrors.size()),
           latency ? format_ms(*latency) : "-", export_state.text});
  }
  if (*json) {
    boost::json::object out;
    out["gateways"] = std::move(rows);
    if (view->link_service_error) out["link_service_error"] = view->link_service_error->message;
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    t.print(std::cout);
  }
  // Without strait-link's status the table cannot say what it is for.
  if (view->link_service_error && !view->links.empty()) {
    return fail("no gateway status: " + view->link_service_error->message);
  }
  return 0;
}

}  // namespace

int cmd_multicluster(const Args& args) {
  const auto& p = args.positional();
  const std::string sub = p.size() >= 2 ? p[1] : "";
  if (sub == "link-gen") return link_gen(args);
  if (sub == "unlink") return unlink(args);
  if (sub == "check") return check(args);
  if (sub == "gateways") return gateways(args);
  return fail("multicluster needs a command: link-gen, unlink, check, gateways");
}

}  // namespace strait::cli
