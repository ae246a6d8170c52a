// The controller's gRPC listeners: addresses, limits, the issuer check, connection counts.
#include "controlplane/server/grpc_server.h"

#include <fstream>
#include <sstream>

namespace strait::controlplane {
namespace {

// Enough for every workload of a large cluster; a flood of distinct certificates only empties
// the cache, it never grows past this.
constexpr std::size_t kMaxVerdicts = 16384;

}  // namespace

IssuerCheck::IssuerCheck(tls::Certificate issuer, bool allow_anonymous, Refused refused)
    : issuer_(std::move(issuer)), allow_anonymous_(allow_anonymous), refused_(std::move(refused)) {}

bool IssuerCheck::issued_here(const std::string& leaf_pem) {
  {
    std::lock_guard lock(mu_);
    if (auto it = verdicts_.find(leaf_pem); it != verdicts_.end()) return it->second;
  }
  auto leaf = tls::Certificate::from_pem(leaf_pem);
  const bool ok = leaf && leaf->issued_by(issuer_);
  std::lock_guard lock(mu_);
  if (verdicts_.size() >= kMaxVerdicts) verdicts_.clear();
  verdicts_.emplace(leaf_pem, ok);
  return ok;
}

grpc::Status IssuerCheck::Process(const InputMetadata&, grpc::AuthContext* context, OutputMetadata*,
                                  OutputMetadata*) {
  auto pems = context != nullptr ? context->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME)
                                 : std::vector<grpc::string_ref>{};
  if (pems.empty()) {
    if (allow_anonymous_) return grpc::Status::OK;
    refused_("no_certificate", "a client certificate is required");
    return {grpc::StatusCode::UNAUTHENTICATED, "no_certificate: a client certificate is required"};
  }
  const std::string pem(pems.front().data(), pems.front().size());
  if (issued_here(pem)) return grpc::Status::OK;
  auto leaf = tls::Certificate::from_pem(pem);
  auto id = leaf ? leaf->spiffe_id() : std::nullopt;
  const std::string who = id ? id->to_string() : std::string("a client certificate");
  refused_("foreign_issuer", who + " was not issued by this cluster's issuer");
  return {grpc::StatusCode::UNAUTHENTICATED,
          "foreign_issuer: the client certificate was not issued by this cluster"};
}

Result<BuiltServer> build_server(const std::string& what, const std::vector<std::string>& addresses,
                                 const std::shared_ptr<grpc::ServerCredentials>& credentials,
                                 const GrpcLimits& limits,
                                 const std::vector<grpc::Service*>& services,
                                 const std::function<void(grpc::ServerBuilder&)>& configure) {
  grpc::ServerBuilder b;
  std::vector<int> ports(addresses.size(), 0);
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    b.AddListeningPort(addresses[i], credentials, &ports[i]);
  }
  // A TCP connection that does not finish its TLS handshake in time is closed; one without a
  // call for connection_idle gets a GOAWAY (clients reconnect when they need to).
  b.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
                       static_cast<int>(limits.handshake_timeout.count()));
  b.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS,
                       static_cast<int>(limits.connection_idle.count()));
  b.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                       static_cast<int>(limits.max_concurrent_streams));
  // A dead peer is noticed by keepalive even when no TCP reset arrives; clients may ping at most
  // every 5 s (more often is a GOAWAY).
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
  b.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  b.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 5000);
  if (configure) configure(b);
  for (auto* s : services) b.RegisterService(s);
  BuiltServer out;
  out.server = b.BuildAndStart();
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    if (!out.server || ports[i] == 0) {
      if (out.server) out.server->Shutdown();
      return make_error("bind_failed", "cannot listen for " + what + " on " + addresses[i]);
    }
    out.ports.push_back(static_cast<std::uint16_t>(ports[i]));
  }
  return out;
}

std::size_t established_connections(std::uint16_t port) {
  std::size_t n = 0;
  for (const char* table : {"/proc/self/net/tcp", "/proc/self/net/tcp6"}) {
    std::ifstream in(table);
    std::string line;
    std::getline(in, line);  // the header
    while (std::getline(in, line)) {
      // "  0: 0100007F:1F90 0100007F:C350 01 ..." — sl, local, remote, state
      std::istringstream fields(line);
      std::string sl, local, remote, state;
      fields >> sl >> local >> remote >> state;
      const auto colon = local.rfind(':');
      if (colon == std::string::npos || state != "01") continue;
      unsigned long p = std::strtoul(local.c_str() + colon + 1, nullptr, 16);
      if (p == port) ++n;
    }
  }
  return n;
}

}  // namespace strait::controlplane
