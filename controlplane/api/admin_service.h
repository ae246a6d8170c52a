// AdminService: what straitctl calls (apply, list, delete, tokens, status). Only the admin
// identity (spiffe://<td>/ns/strait-system/sa/straitctl) may call it.
#pragma once

#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "controlplane/server/vip_allocator.h"
#include "core/discovery/store.h"
#include "core/token/token.h"
#include "strait/admin.grpc.pb.h"

namespace strait::controlplane {

class AdminService final : public admin::v1::Admin::CallbackService {
 public:
  struct Settings {
    std::string cluster;
    std::string trust_domain;
    std::string admin_identity;
    // What LinkGen tells other clusters about this one.
    std::string domain;
    std::string anchor_pem;
    std::string export_address;
    std::string identity_address;
    std::vector<std::string> gateway_addresses;
    std::uint16_t gateway_port = 4143;
    std::string gateway_identity;
  };
  struct Hooks {
    std::function<void(const std::string& reason)> refused;
    std::function<void(admin::v1::StatusResponse&)> status;  // fills in the controller's figures
  };

  AdminService(discovery::Store& store, const token::TokenSigner& signer, VipAllocator vips,
               Settings settings, Hooks hooks);

  grpc::ServerUnaryReactor* Apply(grpc::CallbackServerContext* ctx,
                                  const admin::v1::ApplyRequest* req,
                                  admin::v1::ApplyResponse* resp) override;
  grpc::ServerUnaryReactor* List(grpc::CallbackServerContext* ctx,
                                 const admin::v1::ListRequest* req,
                                 admin::v1::ListResponse* resp) override;
  grpc::ServerUnaryReactor* Delete(grpc::CallbackServerContext* ctx,
                                   const admin::v1::DeleteRequest* req,
                                   admin::v1::DeleteResponse* resp) override;
  grpc::ServerUnaryReactor* IssueToken(grpc::CallbackServerContext* ctx,
                                       const admin::v1::IssueTokenRequest* req,
                                       admin::v1::IssueTokenResponse* resp) override;
  grpc::ServerUnaryReactor* Status(grpc::CallbackServerContext* ctx,
                                   const admin::v1::StatusRequest* req,
                                   admin::v1::StatusResponse* resp) override;
  grpc::ServerUnaryReactor* LinkGen(grpc::CallbackServerContext* ctx,
                                    const admin::v1::LinkGenRequest* req,
                                    admin::v1::LinkGenResponse* resp) override;

 private:
  // Finishes the reactor with the refusal and returns false unless the caller is the admin.
  bool authorized(grpc::CallbackServerContext* ctx, grpc::ServerUnaryReactor* reactor);
  grpc::ServerUnaryReactor* refuse(grpc::ServerUnaryReactor* reactor, grpc::StatusCode code,
                                   const Error& error);
  Result<discovery::Object> prepare(discovery::Object object);  // VIP allocation

  discovery::Store& store_;
  const token::TokenSigner& signer_;
  const VipAllocator vips_;
  const Settings settings_;
  Hooks hooks_;
  std::mutex apply_mu_;  // serializes VIP allocation
};

}  // namespace strait::controlplane
