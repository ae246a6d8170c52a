// AdminLocalStore: LocalStore over the local controller's admin API (objects as JSON).
#include <boost/json.hpp>

#include "core/discovery/json_codec.h"
#include "link/local_store.h"

namespace strait::link {
namespace av = admin::v1;

namespace {

std::string code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::StatusCode::OK:
      return "ok";
    case grpc::StatusCode::CANCELLED:
      return "cancelled";
    case grpc::StatusCode::INVALID_ARGUMENT:
      return "invalid_argument";
    case grpc::StatusCode::DEADLINE_EXCEEDED:
      return "deadline_exceeded";
    case grpc::StatusCode::NOT_FOUND:
      return "not_found";
    case grpc::StatusCode::ALREADY_EXISTS:
      return "already_exists";
    case grpc::StatusCode::PERMISSION_DENIED:
      return "permission_denied";
    case grpc::StatusCode::RESOURCE_EXHAUSTED:
      return "resource_exhausted";
    case grpc::StatusCode::FAILED_PRECONDITION:
      return "failed_precondition";
    case grpc::StatusCode::ABORTED:
      return "aborted";
    case grpc::StatusCode::UNAVAILABLE:
      return "unavailable";
    case grpc::StatusCode::UNAUTHENTICATED:
      return "unauthenticated";
    default:
      return "internal";
  }
}

Error status_error(const grpc::Status& s, const std::string& what) {
  return make_error(code_name(s.error_code()), what + ": " + s.error_message());
}

}  // namespace

bool retryable(const Error& error) {
  return error.code == "unavailable" || error.code == "deadline_exceeded" ||
         error.code == "resource_exhausted" || error.code == "aborted" || error.code == "cancelled";
}

AdminLocalStore::AdminLocalStore(std::unique_ptr<av::Admin::Stub> stub,
                                 std::chrono::milliseconds deadline)
    : stub_(std::move(stub)), deadline_(deadline) {}

Result<void> AdminLocalStore::apply(const std::vector<discovery::Object>& objects) {
  if (objects.empty()) return {};
  av::ApplyRequest req;
  for (const auto& o : objects)
    req.add_objects_json(boost::json::serialize(discovery::object_to_json(o)));
  av::ApplyResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  auto s = stub_->Apply(&ctx, req, &resp);
  if (!s.ok()) return status_error(s, "apply");
  return {};
}

Result<void> AdminLocalStore::remove(const discovery::ObjectKey& key) {
  av::DeleteRequest req;
  req.set_kind(std::string(discovery::kind_name(key.kind)));
  req.set_namespace_(key.ns);
  req.set_name(key.name);
  av::DeleteResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  auto s = stub_->Delete(&ctx, req, &resp);
  if (!s.ok() && s.error_code() != grpc::StatusCode::NOT_FOUND) return status_error(s, "delete");
  return {};
}

Result<std::vector<discovery::Object>> AdminLocalStore::list(discovery::Kind kind,
                                                             const std::string& ns) {
  av::ListRequest req;
  req.set_kind(std::string(discovery::kind_name(kind)));
  req.set_namespace_(ns);
  av::ListResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + deadline_);
  auto s = stub_->List(&ctx, req, &resp);
  if (!s.ok()) return status_error(s, "list");
  std::vector<discovery::Object> out;
  for (const auto& j : resp.objects_json()) {
    boost::system::error_code ec;
    auto json = boost::json::parse(j, ec);
    if (ec) return make_error("bad_reply", "list: the controller sent an object that is not JSON");
    auto o = discovery::object_from_json(json);
    if (!o) return make_error("bad_reply", "list: " + o.error().message);
    out.push_back(std::move(*o));
  }
  return out;
}

}  // namespace strait::link

#include "controlplane/client/controller_access.h"

namespace strait::link {

StateDirLocalStore::StateDirLocalStore(std::filesystem::path state_dir,
                                       std::chrono::milliseconds refresh)
    : state_dir_(std::move(state_dir)), refresh_(refresh) {}

Result<void> StateDirLocalStore::connect() {
  auto access = controlplane::access_from_state_dir(state_dir_);
  if (!access) return access.error();
  cluster_ = access->cluster;
  trust_domain_ = access->trust_domain;
  inner_ = std::make_unique<AdminLocalStore>(access->admin());
  made_ = std::chrono::steady_clock::now();
  stale_ = false;
  return {};
}

Result<AdminLocalStore*> StateDirLocalStore::current() {
  const auto now = std::chrono::steady_clock::now();
  const bool due =
      !inner_ || now - made_ > refresh_ || (stale_ && now - made_ > std::chrono::seconds(1));
  if (due) {
    if (auto r = connect(); !r) {
      if (!inner_) return make_error("unavailable", r.error().to_string());
    }
  }
  return inner_.get();
}

template <typename R>
R StateDirLocalStore::after(R result) {
  if (!result.ok() &&
      (result.error().code == "unavailable" || result.error().code == "unauthenticated")) {
    stale_ = true;
  }
  return result;
}

Result<void> StateDirLocalStore::apply(const std::vector<discovery::Object>& objects) {
  auto s = current();
  if (!s) return s.error();
  return after((*s)->apply(objects));
}

Result<void> StateDirLocalStore::remove(const discovery::ObjectKey& key) {
  auto s = current();
  if (!s) return s.error();
  return after((*s)->remove(key));
}

Result<std::vector<discovery::Object>> StateDirLocalStore::list(discovery::Kind kind,
                                                                const std::string& ns) {
  auto s = current();
  if (!s) return s.error();
  return after((*s)->list(kind, ns));
}

}  // namespace strait::link
