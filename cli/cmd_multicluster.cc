// straitctl multicluster: link-gen (run against the target cluster) and unlink (run in the
// cluster that applied the Link).
#include <boost/json.hpp>
#include <iostream>

#include "cli/access.h"
#include "cli/commands.h"
#include "core/config/config.h"
#include "core/discovery/json_codec.h"
#include "core/discovery/manifest.h"
#include "topologies/mirror.h"

namespace strait::cli {
namespace av = admin::v1;

namespace {

std::unique_ptr<grpc::ClientContext> context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

int link_gen(const Args& args) {
  auto name = args.get("cluster-name");
  if (!name) return fail("link-gen needs --cluster-name (the cluster this runs against)");
  auto ttl = config::parse_duration(args.get_or("ttl", "15m"));
  if (!ttl) return fail("--ttl: " + ttl.error().message);
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  av::LinkGenRequest req;
  req.set_source_cluster(args.get_or("source-cluster", "remote"));
  req.set_ttl_seconds(std::chrono::duration_cast<std::chrono::seconds>(*ttl).count());
  av::LinkGenResponse resp;
  auto ctx = context();
  auto status = access->admin()->LinkGen(ctx.get(), req, &resp);
  if (!status.ok()) return fail(controlplane::describe_status(status, access->destination_address));
  boost::system::error_code ec;
  auto json = boost::json::parse(resp.link_json(), ec);
  auto link = ec ? Result<discovery::Object>(make_error("bad_reply", "not JSON"))
                 : discovery::object_from_json(json);
  if (!link)
    return fail("the controller sent a Link this straitctl cannot read: " + link.error().message);
  const auto& l = std::get<discovery::Link>(*link);
  if (l.target_cluster != *name) {
    return fail("--cluster-name " + *name + " but this controller is cluster " + l.target_cluster);
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
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  auto stub = access->admin();
  const std::string owner = topologies::owner_of(*name);
  int removed = 0;
  // Mirrors first, the Link last: strait-link would otherwise repair what we remove.
  for (auto kind :
       {discovery::Kind::kEndpoint, discovery::Kind::kService, discovery::Kind::kLink}) {
    av::ListRequest lr;
    lr.set_kind(std::string(discovery::kind_name(kind)));
    av::ListResponse list;
    auto ctx = context();
    auto status = stub->List(ctx.get(), lr, &list);
    if (!status.ok())
      return fail(controlplane::describe_status(status, access->destination_address));
    for (const auto& j : list.objects_json()) {
      auto o = discovery::object_from_json(boost::json::parse(j));
      if (!o) continue;
      const auto& m = discovery::meta_of(*o);
      bool ours = m.owner == owner;
      if (kind == discovery::Kind::kLink) {
        ours = std::get<discovery::Link>(*o).target_cluster == *name;
      }
      if (!ours) continue;
      av::DeleteRequest dr;
      dr.set_kind(lr.kind());
      dr.set_namespace_(m.ns);
      dr.set_name(m.name);
      av::DeleteResponse dresp;
      auto dctx = context();
      auto ds = stub->Delete(dctx.get(), dr, &dresp);
      if (!ds.ok() && ds.error_code() != grpc::StatusCode::NOT_FOUND) {
        return fail(controlplane::describe_status(ds, access->destination_address));
      }
      ++removed;
    }
  }
  std::cout << "unlinked cluster " << *name << ": removed " << removed << " objects\n";
  return 0;
}

}  // namespace

int cmd_multicluster(const Args& args) {
  const auto& p = args.positional();
  const std::string sub = p.size() >= 2 ? p[1] : "";
  if (sub == "link-gen") return link_gen(args);
  if (sub == "unlink") return unlink(args);
  return fail("multicluster needs a command: link-gen, unlink");
}

}  // namespace strait::cli
