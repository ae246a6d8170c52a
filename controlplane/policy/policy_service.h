// PolicyService: the gRPC face of PolicyIndex; the workload's namespace is its identity's.
#pragma once

#include "controlplane/server/bounded_stream.h"
#include "controlplane/policy/policy_index.h"
#include "strait/policy.grpc.pb.h"

namespace strait::controlplane {

class PolicyService final : public policy::v1::InboundPolicies::CallbackService {
 public:
  PolicyService(PolicyIndex& index, std::size_t queue_capacity, StreamHooks hooks);

  grpc::ServerWriteReactor<policy::v1::InboundPolicy>* Watch(
      grpc::CallbackServerContext* context,
      const policy::v1::InboundPolicyRequest* request) override;

 private:
  PolicyIndex& index_;
  const std::size_t queue_capacity_;
  StreamHooks hooks_;
};

}  // namespace strait::controlplane
