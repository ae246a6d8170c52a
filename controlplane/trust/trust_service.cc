// TrustService: binds each Watch stream to a TrustIndex subscription. The mesh port already
// requires a client certificate from this cluster's anchors; roots are public, so no further
// check of the caller.
#include "controlplane/trust/trust_service.h"

namespace strait::controlplane {
namespace tv = trust::v1;

TrustService::TrustService(TrustIndex& index, std::size_t queue_capacity, StreamHooks hooks)
    : index_(index), queue_capacity_(queue_capacity), hooks_(std::move(hooks)) {}

grpc::ServerWriteReactor<tv::TrustBundleUpdate>* TrustService::Watch(
    grpc::CallbackServerContext* /*context*/, const tv::TrustWatchRequest* /*request*/) {
  // The id is reserved first: on_done may run as soon as the first push has happened.
  const std::uint64_t id = index_.reserve_id();
  auto* stream = open_bounded_stream<tv::TrustBundleUpdate>(queue_capacity_, hooks_,
                                                            [this, id] { index_.unsubscribe(id); });
  index_.subscribe(id, [stream](tv::TrustBundleUpdate u) { return stream->push(std::move(u)); });
  return stream;
}

}  // namespace strait::controlplane
