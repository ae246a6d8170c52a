// AdminService: manifests in (as model JSON), objects out.
#include "controlplane/api/admin_service.h"

#include <boost/json.hpp>
#include <set>

#include "controlplane/server/peer.h"
#include "core/discovery/json_codec.h"
#include "core/discovery/manifest.h"
#include "core/log/log.h"

namespace strait::controlplane {
namespace av = admin::v1;
using grpc::StatusCode;

AdminService::AdminService(discovery::Store& store, const token::TokenSigner& signer,
                           VipAllocator vips, Settings settings, Hooks hooks)
    : store_(store),
      signer_(signer),
      vips_(std::move(vips)),
      settings_(std::move(settings)),
      hooks_(std::move(hooks)) {}

grpc::ServerUnaryReactor* AdminService::refuse(grpc::ServerUnaryReactor* reactor, StatusCode code,
                                               const Error& error) {
  log::warn("admin request refused", {{"reason", error.code}, {"detail", error.message}});
  if (hooks_.refused) hooks_.refused(error.code);
  reactor->Finish(grpc::Status(code, error.message));
  return reactor;
}

bool AdminService::authorized(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor) {
  auto who = peer_identity(*ctx);
  if (who && who->to_string() == settings_.admin_identity) return true;
  refuse(
      reactor, StatusCode::PERMISSION_DENIED,
      make_error("not_admin", "the admin API is for " + settings_.admin_identity + ", not " +
                                  (who ? who->to_string() : std::string("an anonymous caller"))));
  return false;
}

Result<discovery::Object> AdminService::prepare(discovery::Object object) {
  auto* svc = std::get_if<discovery::Service>(&object);
  if (svc == nullptr) return object;
  svc->meta.cluster = svc->meta.cluster.empty() ? settings_.cluster : svc->meta.cluster;
  std::set<std::string> in_use;
  for (const auto& o : store_.list(discovery::Kind::kService)) {
    const auto& s = std::get<discovery::Service>(o);
    if (s.meta.ns == svc->meta.ns && s.meta.name == svc->meta.name) {
      if (svc->cluster_ip.empty()) svc->cluster_ip = s.cluster_ip;  // keep its VIP
      continue;
    }
    in_use.insert(s.cluster_ip);
  }
  if (discovery::is_headless(*svc)) return object;  // no virtual IP to allocate
  if (svc->cluster_ip.empty()) {
    auto ip = vips_.allocate(in_use);
    if (!ip) return ip.error();
    svc->cluster_ip = *ip;
  } else if (in_use.contains(svc->cluster_ip)) {
    return make_error("invalid_field",
                      "spec.clusterIP: " + svc->cluster_ip + " is already used by another service");
  }
  return object;
}

grpc::ServerUnaryReactor* AdminService::Apply(grpc::CallbackServerContext* ctx,
                                              const av::ApplyRequest* req,
                                              av::ApplyResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (!authorized(ctx, reactor)) return reactor;
  // Validate everything first, so that a bad document changes nothing.
  std::vector<discovery::Object> objects;
  for (int i = 0; i < req->objects_json_size(); ++i) {
    boost::system::error_code ec;
    auto json = boost::json::parse(req->objects_json(i), ec);
    if (ec) {
      return refuse(reactor, StatusCode::INVALID_ARGUMENT,
                    make_error("invalid_manifest",
                               "object " + std::to_string(i + 1) + ": not JSON: " + ec.message()));
    }
    auto obj = discovery::object_from_json(json);
    if (!obj) return refuse(reactor, StatusCode::INVALID_ARGUMENT, obj.error());
    if (auto v = discovery::validate_object(*obj); !v) {
      return refuse(reactor, StatusCode::INVALID_ARGUMENT, v.error());
    }
    // Applied objects belong to users, or to the strait-link that mirrored them ("link:<cluster>",
    // so that unlink and garbage collection find them); leases are the registration's alone.
    auto& owner = discovery::meta_of(*obj).owner;
    if (owner.rfind("link:", 0) != 0) owner.clear();
    if (discovery::meta_of(*obj).cluster.empty())
      discovery::meta_of(*obj).cluster = settings_.cluster;
    objects.push_back(std::move(*obj));
  }
  std::lock_guard lock(apply_mu_);
  for (auto& obj : objects) {
    auto ready = prepare(std::move(obj));
    if (!ready) return refuse(reactor, StatusCode::INVALID_ARGUMENT, ready.error());
    auto stored = store_.put(std::move(*ready));
    if (!stored) return refuse(reactor, StatusCode::UNAVAILABLE, stored.error());
    resp->add_objects_json(boost::json::serialize(discovery::object_to_json(*stored)));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::List(grpc::CallbackServerContext* ctx,
                                             const av::ListRequest* req, av::ListResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (!authorized(ctx, reactor)) return reactor;
  auto kind = discovery::kind_from_name(req->kind());
  if (!kind) {
    return refuse(reactor, StatusCode::INVALID_ARGUMENT,
                  make_error("unknown_kind", "unknown kind \"" + req->kind() + "\""));
  }
  for (const auto& o : store_.list(*kind, req->namespace_())) {
    resp->add_objects_json(boost::json::serialize(discovery::object_to_json(o)));
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Delete(grpc::CallbackServerContext* ctx,
                                               const av::DeleteRequest* req, av::DeleteResponse*) {
  auto* reactor = ctx->DefaultReactor();
  if (!authorized(ctx, reactor)) return reactor;
  auto kind = discovery::kind_from_name(req->kind());
  if (!kind) {
    return refuse(reactor, StatusCode::INVALID_ARGUMENT,
                  make_error("unknown_kind", "unknown kind \"" + req->kind() + "\""));
  }
  auto removed = store_.remove({*kind, req->namespace_(), req->name()});
  if (!removed) {
    return refuse(
        reactor,
        removed.error().code == "not_found" ? StatusCode::NOT_FOUND : StatusCode::UNAVAILABLE,
        removed.error());
  }
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::IssueToken(grpc::CallbackServerContext* ctx,
                                                   const av::IssueTokenRequest* req,
                                                   av::IssueTokenResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (!authorized(ctx, reactor)) return reactor;
  if (req->ttl_seconds() <= 0 || req->ttl_seconds() > 366 * 24 * 3600) {
    return refuse(reactor, StatusCode::INVALID_ARGUMENT,
                  make_error("invalid_field", "ttl must be between 1s and 366 days"));
  }
  token::Claims claims;
  claims.issuer = "strait-controller/" + settings_.cluster;
  claims.audience = "strait-identity";
  claims.ns = req->namespace_();
  claims.service_account = req->service_account();
  claims.kind = req->kind().empty() ? std::string(token::kKindJoin) : req->kind();
  claims.issued_at = std::chrono::system_clock::now();
  claims.expires_at = claims.issued_at + std::chrono::seconds(req->ttl_seconds());
  auto signed_token = signer_.sign(claims);
  if (!signed_token) return refuse(reactor, StatusCode::INVALID_ARGUMENT, signed_token.error());
  resp->set_token(*signed_token);
  resp->set_expires_unix(
      std::chrono::duration_cast<std::chrono::seconds>(claims.expires_at.time_since_epoch())
          .count());
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::LinkGen(grpc::CallbackServerContext* ctx,
                                                const av::LinkGenRequest* req,
                                                av::LinkGenResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (!authorized(ctx, reactor)) return reactor;
  const std::string& source = req->source_cluster();
  if (!discovery::is_dns_label(source) || source.size() > 40) {
    return refuse(reactor, StatusCode::INVALID_ARGUMENT,
                  make_error("invalid_field",
                             "source cluster must be a DNS label of at most 40 "
                             "characters, got \"" +
                                 source + "\""));
  }
  if (settings_.export_address.empty() || settings_.identity_address.empty()) {
    return refuse(reactor, StatusCode::FAILED_PRECONDITION,
                  make_error("not_configured",
                             "set multicluster.exportAddress and "
                             "multicluster.identityAddress in controller.yaml: "
                             "other clusters must know where to reach this one"));
  }
  const auto ttl = std::chrono::seconds(req->ttl_seconds() > 0 ? req->ttl_seconds() : 15 * 60);
  token::Claims claims;
  claims.issuer = "strait-controller/" + settings_.cluster;
  claims.audience = "strait-identity";
  claims.ns = "strait-multicluster";
  claims.service_account = "link-" + source;
  claims.kind = std::string(token::kKindLink);
  claims.issued_at = std::chrono::system_clock::now();
  claims.expires_at = claims.issued_at + ttl;
  auto signed_token = signer_.sign(claims);
  if (!signed_token) return refuse(reactor, StatusCode::INVALID_ARGUMENT, signed_token.error());

  discovery::Link link;
  link.meta.ns = "strait-multicluster";
  link.meta.name = settings_.cluster;
  link.target_cluster = settings_.cluster;
  link.target_domain = settings_.domain;
  link.target_trust_domain = settings_.trust_domain;
  link.trust_bundle_pem = settings_.anchor_pem;
  link.export_address = settings_.export_address;
  link.identity_address = settings_.identity_address;
  link.gateway_addresses = settings_.gateway_addresses;
  link.gateway_port = settings_.gateway_port;
  link.gateway_identity = settings_.gateway_identity;
  link.selector = {{"mirror.strait.dev/exported", "true"}};
  link.remote_discovery_selector = {{"mirror.strait.dev/exported", "remote-discovery"}};
  link.federated_selector = {{"mirror.strait.dev/federated", "member"}};
  link.link_token = *signed_token;
  resp->set_link_json(boost::json::serialize(discovery::object_to_json(discovery::Object(link))));
  resp->set_token_expires_unix(
      std::chrono::duration_cast<std::chrono::seconds>(claims.expires_at.time_since_epoch())
          .count());
  log::info("link generated", {{"for_cluster", source}});
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AdminService::Status(grpc::CallbackServerContext* ctx,
                                               const av::StatusRequest*, av::StatusResponse* resp) {
  auto* reactor = ctx->DefaultReactor();
  if (!authorized(ctx, reactor)) return reactor;
  resp->set_cluster(settings_.cluster);
  resp->set_trust_domain(settings_.trust_domain);
  resp->set_store_version(store_.version());
  for (auto kind : discovery::kAllKinds) {
    (*resp->mutable_objects())[std::string(discovery::kind_name(kind))] = store_.list(kind).size();
  }
  if (hooks_.status) hooks_.status(*resp);
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace strait::controlplane
