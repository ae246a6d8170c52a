// PolicyService: binds each Watch stream to a PolicyIndex subscription.
#include "controlplane/policy/policy_service.h"

#include "controlplane/server/peer.h"

namespace strait::controlplane {
namespace pv = policy::v1;

PolicyService::PolicyService(PolicyIndex& index, std::size_t queue_capacity, StreamHooks hooks)
    : index_(index), queue_capacity_(queue_capacity), hooks_(std::move(hooks)) {}

grpc::ServerWriteReactor<pv::InboundPolicy>* PolicyService::Watch(
    grpc::CallbackServerContext* context, const pv::InboundPolicyRequest* request) {
  const std::uint64_t id = index_.reserve_id();
  auto* stream = open_bounded_stream<pv::InboundPolicy>(queue_capacity_, hooks_,
                                                        [this, id] { index_.unsubscribe(id); });

  auto who = peer_identity(*context);
  auto ns = who ? who->ns() : std::nullopt;
  if (!ns) {
    stream->finish(
        grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                     "policy requires a workload certificate (spiffe://td/ns/NS/sa/SA)"));
    return stream;
  }
  if (request->port() == 0 || request->port() > 65535) {
    stream->finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "port must be 1..65535"));
    return stream;
  }
  discovery::Labels labels(request->workload_labels().begin(), request->workload_labels().end());
  index_.subscribe(id, std::string(*ns), std::move(labels),
                   static_cast<std::uint16_t>(request->port()),
                   [stream](pv::InboundPolicy p) { return stream->push(std::move(p)); });
  return stream;
}

}  // namespace strait::controlplane
