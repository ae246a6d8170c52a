// TrustService: the gRPC face of TrustIndex (strait.trust.v1.Trust), served on the mesh port
// next to destination and policy. One BoundedStream per Watch.
#pragma once

#include "controlplane/server/bounded_stream.h"
#include "controlplane/trust/trust_index.h"
#include "strait/trust.grpc.pb.h"

namespace strait::controlplane {

class TrustService final : public trust::v1::Trust::CallbackService {
 public:
  TrustService(TrustIndex& index, std::size_t queue_capacity, StreamHooks hooks);

  grpc::ServerWriteReactor<trust::v1::TrustBundleUpdate>* Watch(
      grpc::CallbackServerContext* context, const trust::v1::TrustWatchRequest* request) override;

 private:
  TrustIndex& index_;
  const std::size_t queue_capacity_;
  StreamHooks hooks_;
};

}  // namespace strait::controlplane
