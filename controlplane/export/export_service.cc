// ExportService: authorizes link identities and binds their streams to the ExportIndex.
#include "controlplane/export/export_service.h"

#include "controlplane/identity/certifier.h"
#include "controlplane/server/peer.h"
#include "core/log/log.h"

namespace strait::controlplane {
namespace ev = exports::v1;

ExportService::ExportService(ExportIndex& index, std::string trust_domain,
                             std::size_t queue_capacity, StreamHooks hooks,
                             std::function<void(const std::string&)> refused)
    : index_(index),
      trust_domain_(std::move(trust_domain)),
      queue_capacity_(queue_capacity),
      hooks_(std::move(hooks)),
      refused_(std::move(refused)) {}

std::optional<std::string> ExportService::linked_cluster(const identity::SpiffeId& id,
                                                         std::string_view trust_domain) {
  if (id.trust_domain() != trust_domain || id.ns() != Certifier::kLinkNamespace)
    return std::nullopt;
  auto sa = id.service_account();
  if (!sa || sa->rfind("link-", 0) != 0 || sa->size() <= 5) return std::nullopt;
  return std::string(sa->substr(5));
}

grpc::ServerWriteReactor<ev::ExportEvent>* ExportService::Watch(
    grpc::CallbackServerContext* context, const ev::WatchExports* request) {
  const std::uint64_t id = index_.reserve_id();
  auto* stream = open_bounded_stream<ev::ExportEvent>(queue_capacity_, hooks_,
                                                      [this, id] { index_.unsubscribe(id); });
  auto who = peer_identity(*context);
  auto cluster = who ? linked_cluster(*who, trust_domain_) : std::nullopt;
  if (!cluster) {
    const std::string name = who ? who->to_string() : "an anonymous caller";
    log::warn("export watch refused: not a link identity", {{"peer", name}});
    if (refused_) refused_("not_a_link_identity");
    stream->finish(grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                                "the export API is for link identities (spiffe://" + trust_domain_ +
                                    "/ns/strait-multicluster/sa/link-<cluster>), not " + name));
    return stream;
  }
  log::info("linked cluster watching exports", {{"cluster", *cluster}});
  index_.subscribe(id, *cluster, *request,
                   [stream](ev::ExportEvent e) { return stream->push(std::move(e)); });
  return stream;
}

}  // namespace strait::controlplane
