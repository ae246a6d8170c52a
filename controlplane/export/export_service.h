// ExportService: the export API (8443). The caller's certificate must be a link identity of
// this trust domain; its service account names the cluster it links from.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "controlplane/export/export_index.h"
#include "controlplane/server/bounded_stream.h"
#include "core/identity/spiffe_id.h"
#include "strait/export.grpc.pb.h"

namespace strait::controlplane {

class ExportService final : public exports::v1::Export::CallbackService {
 public:
  ExportService(ExportIndex& index, std::string trust_domain, std::size_t queue_capacity,
                StreamHooks hooks, std::function<void(const std::string&)> refused);

  grpc::ServerWriteReactor<exports::v1::ExportEvent>* Watch(
      grpc::CallbackServerContext* context, const exports::v1::WatchExports* request) override;

  // "west" for spiffe://<td>/ns/strait-multicluster/sa/link-west; nullopt otherwise.
  static std::optional<std::string> linked_cluster(const identity::SpiffeId& id,
                                                   std::string_view trust_domain);

 private:
  ExportIndex& index_;
  const std::string trust_domain_;
  const std::size_t queue_capacity_;
  StreamHooks hooks_;
  std::function<void(const std::string&)> refused_;
};

}  // namespace strait::controlplane
