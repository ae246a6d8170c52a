// Shared admin-API calls of straitctl.
#include "cli/store.h"

#include <boost/json.hpp>

#include "core/discovery/json_codec.h"

namespace strait::cli {

std::unique_ptr<grpc::ClientContext> rpc_context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

Result<std::vector<discovery::Object>> list_objects(const ControllerAccess& access,
                                                    admin::v1::Admin::Stub& admin,
                                                    discovery::Kind kind, const std::string& ns) {
  admin::v1::ListRequest req;
  req.set_kind(std::string(discovery::kind_name(kind)));
  req.set_namespace_(ns);
  admin::v1::ListResponse resp;
  auto ctx = rpc_context();
  auto status = admin.List(ctx.get(), req, &resp);
  if (!status.ok()) {
    return make_error("rpc_failed",
                      controlplane::describe_status(status, access.destination_address));
  }
  std::vector<discovery::Object> out;
  for (const auto& j : resp.objects_json()) {
    boost::system::error_code ec;
    auto json = boost::json::parse(j, ec);
    auto o = ec ? Result<discovery::Object>(make_error("bad_reply", "not JSON"))
                : discovery::object_from_json(json);
    if (!o) {
      return make_error("bad_reply", "the controller sent an object this straitctl cannot read: " +
                                         o.error().message);
    }
    out.push_back(std::move(*o));
  }
  return out;
}

}  // namespace strait::cli
