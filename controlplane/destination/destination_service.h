// DestinationService: the gRPC face of DestinationIndex. One BoundedStream per Get.
#pragma once

#include "controlplane/server/bounded_stream.h"
#include "controlplane/destination/destination_index.h"
#include "strait/destination.grpc.pb.h"

namespace strait::controlplane {

class DestinationService final : public destination::v1::Destination::CallbackService {
 public:
  DestinationService(DestinationIndex& index, std::size_t queue_capacity, StreamHooks hooks);

  grpc::ServerWriteReactor<destination::v1::Update>* Get(
      grpc::CallbackServerContext* context,
      const destination::v1::GetDestination* request) override;

 private:
  DestinationIndex& index_;
  const std::size_t queue_capacity_;
  StreamHooks hooks_;
};

}  // namespace strait::controlplane
