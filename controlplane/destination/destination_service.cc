// DestinationService: binds each Get stream to a DestinationIndex subscription.
#include "controlplane/destination/destination_service.h"

namespace strait::controlplane {
namespace dst = destination::v1;

DestinationService::DestinationService(DestinationIndex& index, std::size_t queue_capacity,
                                       StreamHooks hooks)
    : index_(index), queue_capacity_(queue_capacity), hooks_(std::move(hooks)) {}

grpc::ServerWriteReactor<dst::Update>* DestinationService::Get(
    grpc::CallbackServerContext* /*context*/, const dst::GetDestination* request) {
  // The id is reserved first: on_done may run as soon as the first push has happened.
  const std::uint64_t id = index_.reserve_id();
  auto* stream = open_bounded_stream<dst::Update>(queue_capacity_, hooks_,
                                                  [this, id] { index_.unsubscribe(id); });
  auto sub = index_.subscribe(id, request->path(),
                              [stream](dst::Update u) { return stream->push(std::move(u)); });
  if (!sub) stream->finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, sub.error().message));
  return stream;
}

}  // namespace strait::controlplane
