// Controller: loading the state directory and wiring the services together.
#include "controlplane/server/controller.h"

#include <grpcpp/grpcpp.h>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>
#include <fstream>
#include <sstream>
#include <thread>

#include "controlplane/api/admin_service.h"
#include "controlplane/dns/dns_server.h"
#include "controlplane/dns/zone_index.h"
#include "core/net/address.h"
#include "controlplane/destination/destination_service.h"
#include "controlplane/export/export_service.h"
#include "controlplane/identity/identity_service.h"
#include "controlplane/policy/policy_service.h"
#include "controlplane/registration/registration_service.h"
#include "controlplane/server/controller_metrics.h"
#include "controlplane/server/grpc_server.h"
#include "controlplane/server/state_files.h"
#include "controlplane/store/embedded_store.h"
#include "controlplane/trust/trust_service.h"
#include "core/discovery/json_codec.h"
#include "core/admin/admin_server.h"
#include "core/log/log.h"
#include "core/tls/csr.h"
#include "core/tls/key.h"

namespace strait::controlplane {
namespace {

using namespace std::chrono_literals;

double unix_seconds(std::chrono::system_clock::time_point t) {
  return static_cast<double>(
      std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count());
}

class ControllerImpl final : public Controller {
 public:
  explicit ControllerImpl(ControllerConfig config)
      : config_(std::move(config)), metrics_(registry_) {}

  ~ControllerImpl() override { shutdown(2s); }

  Result<void> init() {
    auto creds = load_state(config_);
    if (!creds) return creds.error();
    state_ = std::make_unique<StateFiles>(std::move(*creds));

    auto store = store::EmbeddedStore::open(config_.state_dir);
    if (!store) return store.error();
    store_ = std::move(*store);

    auto ledger = TokenLedger::open(config_.state_dir / "ca" / "spent-link-tokens.json");
    if (!ledger) return ledger.error();
    ledger_ = std::move(*ledger);
    certifier_ =
        std::make_unique<Certifier>(state_->issuer, std::move(state_->verifier),
                                    Certifier::Settings{.trust_domain = config_.trust_domain,
                                                        .lifetime = config_.cert_lifetime},
                                    ledger_.get());
    watch_ca_expiry();

    dest_index_ = std::make_unique<DestinationIndex>(
        DestinationIndex::Settings{config_.cluster, config_.domain, config_.inbound_proxy_port});
    policy_index_ = std::make_unique<PolicyIndex>(config_.default_policy);
    export_index_ = std::make_unique<ExportIndex>();
    trust_index_ = std::make_unique<TrustIndex>(state_->anchor_pem);
    zones_ = std::make_unique<dns::ZoneIndex>(
        dns::ZoneIndex::Settings{.domain = config_.domain, .ttl = config_.dns.ttl});
    if (auto r = feed_indexes(); !r) return r;

    if (auto r = start_grpc(); !r) return r;
    if (auto r = start_dns(); !r) return r;
    if (auto r = start_admin(); !r) return r;
    if (auto r = write_endpoints(); !r) return r;
    log::info("controller serving",
              {{"cluster", config_.cluster},
               {"identity_port", static_cast<std::int64_t>(ports_.identity)},
               {"destination_port", static_cast<std::int64_t>(ports_.destination)},
               {"admin_port", static_cast<std::int64_t>(ports_.admin)},
               {"dns_port", static_cast<std::int64_t>(ports_.dns)}});
    return {};
  }

  BoundPorts ports() const override { return ports_; }

  void shutdown(std::chrono::milliseconds deadline) override {
    std::lock_guard lock(shutdown_mu_);
    if (stopped_) return;
    stopped_ = true;
    log::info("controller shutting down");
    if (registration_) registration_->close_all();
    auto until = std::chrono::system_clock::now() + deadline;
    if (mesh_server_) mesh_server_->Shutdown(until);
    if (identity_server_) identity_server_->Shutdown(until);
    if (export_server_) export_server_->Shutdown(until);
    watch_.reset();
    if (dns_) dns_->stop();
    if (admin_) admin_->stop();
    io_.stop();
    if (io_thread_.joinable()) io_thread_.join();
  }

 private:
  // Indexes start from a full listing and then follow the store from that version; applying
  // an event twice is harmless, so the overlap between list and watch needs no care.
  Result<void> feed_indexes() {
    const std::uint64_t from = store_->version();
    for (auto kind : discovery::kAllKinds) {
      for (auto& o : store_->list(kind)) dispatch({discovery::Event::Type::kAdded, std::move(o)});
    }
    auto watch = store_->watch({.kinds = {}, .from_version = from},
                               [this](const discovery::Event& e) { dispatch(e); });
    if (!watch) return watch.error();
    watch_ = std::move(*watch);
    return {};
  }

  void dispatch(const discovery::Event& e) {
    dest_index_->apply(e);
    policy_index_->apply(e);
    export_index_->apply(e);
    trust_index_->apply(e);
    zones_->apply(e);
  }

  Result<void> start_dns() {
    if (config_.dns.listen.empty()) return {};
    auto server = dns::DnsServer::start(config_.dns, *zones_, registry_);
    if (!server) return server.error();
    dns_ = std::move(*server);
    ports_.dns = dns_->ports().front();
    return {};
  }

  StreamHooks hooks_for(const std::string& api) {
    auto open = metrics_.streams_open.with({api});
    auto overflow = metrics_.stream_overflows.with({api});
    return {.streams_delta = [open](int d) { open.inc(d); },
            .overflow =
                [overflow, api] {
                  overflow.inc();
                  log::warn("subscriber cut off: send queue full", {{"api", api}});
                }};
  }

  Result<void> start_grpc() {
    // The controller's own certificate, for both gRPC listeners.
    auto key = tls::PrivateKey::generate_p256();
    if (!key) return key.error();
    auto id = identity::SpiffeId::parse(controller_identity(config_.trust_domain));
    auto csr_pem = tls::make_csr(*key, *id);
    if (!csr_pem) return csr_pem.error();
    auto csr = tls::CertificateRequest::from_pem(*csr_pem);
    if (!csr) return csr.error();
    // It lives as long as the issuer (issue_leaf clamps to it), not as a workload certificate:
    // gRPC cannot swap a server's credentials in place, and a controller with an expired
    // certificate would cut every proxy off.
    auto own = certifier_->issue(
        *id, *csr,
        {kControllerServerName,
         std::string(kControllerServerName) + ".strait-system.svc." + config_.domain, "localhost"},
        std::chrono::hours(24 * 366 * 10));
    if (!own) return own.error();
    std::string chain = own->leaf_pem;
    for (const auto& c : own->intermediates_pem) chain += c;
    grpc::SslServerCredentialsOptions::PemKeyCertPair pair{key->to_pem(), chain};

    identity_service_ = std::make_unique<IdentityService>(
        *certifier_,
        IdentityService::Hooks{
            .issued =
                [this](const std::string& who) {
                  metrics_.certs_issued.with({}).inc();
                  log::info("certificate issued", {{"identity", who}});
                },
            .refused =
                [this](const std::string& reason, const std::string& message) {
                  metrics_.certs_refused.with({reason}).inc();
                  log::warn("certificate refused", {{"reason", reason}, {"detail", message}});
                }});
    // Client certificates are optional here: workloads certify with a token, and renew with
    // the certificate they hold (which must be one of ours).
    grpc::SslServerCredentialsOptions server_tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
    server_tls.pem_root_certs = state_->anchor_pem;
    server_tls.pem_key_cert_pairs.push_back(pair);
    auto identity = build_server("identity", config_.identity_listen,
                                 guarded(grpc::SslServerCredentials(server_tls), "identity", true),
                                 limits(), {identity_service_.get()});
    if (!identity) return identity.error();
    identity_server_ = std::move(identity->server);
    ports_.identity = identity->ports.front();
    watch_connections("identity", identity->ports);

    destination_service_ = std::make_unique<DestinationService>(*dest_index_, config_.stream_queue,
                                                                hooks_for("destination"));
    policy_service_ =
        std::make_unique<PolicyService>(*policy_index_, config_.stream_queue, hooks_for("policy"));
    trust_service_ =
        std::make_unique<TrustService>(*trust_index_, config_.stream_queue, hooks_for("trust"));
    std::vector<identity::IdentityPattern> any_address;
    for (const auto& p : config_.registration_any_address) {
      any_address.push_back(*identity::IdentityPattern::parse(p));  // validated with the config
    }
    registration_ = std::make_unique<RegistrationService>(
        *store_, RegistrationService::Settings{config_.cluster, config_.lease, any_address},
        RegistrationService::Hooks{
            .leases_delta = [this](int d) { metrics_.leases.with({}).inc(d); },
            .refused =
                [this](const std::string& r) { metrics_.registrations_refused.with({r}).inc(); }});
    auto vips = VipAllocator::parse(config_.service_cidr);
    if (!vips) return vips.error();
    admin_api_ = std::make_unique<AdminService>(
        *store_, state_->signer, std::move(*vips),
        AdminService::Settings{.cluster = config_.cluster,
                               .trust_domain = config_.trust_domain,
                               .admin_identity = admin_identity(config_.trust_domain),
                               .domain = config_.domain,
                               .anchor_pem = state_->anchor_pem,
                               .export_address = config_.export_address,
                               .identity_address = config_.identity_address,
                               .gateway_addresses = config_.gateway_addresses,
                               .gateway_port = config_.gateway_port,
                               .gateway_identity = config_.gateway_identity},
        AdminService::Hooks{
            .refused = [this](const std::string& r) { metrics_.admin_refused.with({r}).inc(); },
            .status =
                [this](admin::v1::StatusResponse& s) {
                  s.set_certificates_issued(metrics_.certs_issued.with({}).value());
                  s.set_issuer_expiry_unix(
                      static_cast<std::int64_t>(unix_seconds(state_->issuer.cert().not_after())));
                  s.set_anchor_expiry_unix(
                      static_cast<std::int64_t>(unix_seconds(state_->anchor.not_after())));
                  s.set_streams_open(dest_index_->subscriptions());
                }});

    grpc::SslServerCredentialsOptions mesh_tls(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    mesh_tls.pem_root_certs = state_->anchor_pem;
    mesh_tls.pem_key_cert_pairs.push_back(pair);
    auto mesh = build_server("destination", config_.destination_listen,
                             guarded(grpc::SslServerCredentials(mesh_tls), "mesh", false), limits(),
                             {destination_service_.get(), policy_service_.get(),
                              trust_service_.get(), registration_.get(), admin_api_.get()});
    if (!mesh) return mesh.error();
    mesh_server_ = std::move(mesh->server);
    ports_.destination = mesh->ports.front();
    watch_connections("mesh", mesh->ports);

    // The export API: link identities of this trust domain only.
    export_service_ = std::make_unique<ExportService>(
        *export_index_, config_.trust_domain, config_.stream_queue, hooks_for("export"),
        [this](const std::string& reason) { metrics_.exports_refused.with({reason}).inc(); });
    auto exports = build_server("exports", config_.export_listen,
                                guarded(grpc::SslServerCredentials(mesh_tls), "export", false),
                                limits(), {export_service_.get()});
    if (!exports) return exports.error();
    export_server_ = std::move(exports->server);
    ports_.exports = exports->ports.front();
    watch_connections("export", exports->ports);
    return {};
  }

  GrpcLimits limits() const {
    return {.handshake_timeout = config_.handshake_timeout,
            .connection_idle = config_.connection_idle,
            .max_concurrent_streams = config_.max_concurrent_streams};
  }

  // The issuer check in front of every call of a listener, its refusals logged and counted.
  std::shared_ptr<grpc::ServerCredentials> guarded(std::shared_ptr<grpc::ServerCredentials> creds,
                                                   const std::string& listener,
                                                   bool allow_anonymous) {
    creds->SetAuthMetadataProcessor(std::make_shared<IssuerCheck>(
        state_->issuer.cert(), allow_anonymous,
        [this, listener](const std::string& reason, const std::string& detail) {
          metrics_.calls_refused.with({listener, reason}).inc();
          log::warn("call refused",
                    {{"listener", listener}, {"reason", reason}, {"detail", detail}});
        }));
    return creds;
  }

  void watch_connections(const std::string& listener, std::vector<std::uint16_t> ports) {
    metrics_.listener_connections.with_callback({listener}, [ports] {
      std::size_t n = 0;
      for (auto p : ports) n += established_connections(p);
      return static_cast<double>(n);
    });
  }

  Result<void> start_admin() {
    auto hp = net::split_host_port(config_.admin_listen);
    if (!hp) return hp.error();
    for (auto kind : discovery::kAllKinds) {
      metrics_.store_objects.with_callback({std::string(discovery::kind_name(kind))}, [this, kind] {
        return static_cast<double>(store_->list(kind).size());
      });
    }
    metrics_.store_version.with_callback({},
                                         [this] { return static_cast<double>(store_->version()); });
    admin::AdminOptions options;
    options.address = hp->first;
    options.port = hp->second;
    admin_ = std::make_unique<admin::AdminServer>(io_, registry_, options);
    // Ready once serving: every listener is bound before the admin server starts.
    admin_->set_readiness([] { return Result<void>(); });
    if (auto bound = admin_->start(); !bound) return bound.error();
    ports_.admin = admin_->port();
    watch_connections("admin", {ports_.admin});
    io_thread_ = std::thread([this] { io_.run(); });
    return {};
  }

  void watch_ca_expiry() {
    auto warn_if_near = [](const char* which, std::chrono::system_clock::time_point t) {
      auto left = t - std::chrono::system_clock::now();
      if (left < std::chrono::hours(24 * 30)) {
        log::warn("certificate authority expires within 30 days: rotate it",
                  {{"ca", which},
                   {"days_left",
                    static_cast<std::int64_t>(
                        std::chrono::duration_cast<std::chrono::hours>(left).count() / 24)}});
      }
    };
    metrics_.cert_expiry.with({"anchor"}).set(unix_seconds(state_->anchor.not_after()));
    metrics_.cert_expiry.with({"issuer"}).set(unix_seconds(state_->issuer.cert().not_after()));
    warn_if_near("anchor", state_->anchor.not_after());
    warn_if_near("issuer", state_->issuer.cert().not_after());
  }

  // Tells clients (straitctl, tests) where the listeners are, atomically.
  Result<void> write_endpoints() {
    boost::json::object o;
    // The first address of each listener: where local clients (straitctl, tests) reach it.
    auto host_of = [](const std::string& listen) {
      auto hp = net::split_host_port(listen);
      std::string h = hp ? hp->first : "127.0.0.1";
      return (h == "0.0.0.0" || h == "::" || h.empty()) ? std::string("127.0.0.1") : h;
    };
    o["identity"] =
        host_of(config_.identity_listen.front()) + ":" + std::to_string(ports_.identity);
    o["destination"] =
        host_of(config_.destination_listen.front()) + ":" + std::to_string(ports_.destination);
    o["admin"] = host_of(config_.admin_listen) + ":" + std::to_string(ports_.admin);
    o["export"] = host_of(config_.export_listen.front()) + ":" + std::to_string(ports_.exports);
    if (dns_) o["dns"] = host_of(config_.dns.listen.front()) + ":" + std::to_string(ports_.dns);
    o["pid"] = static_cast<std::int64_t>(::getpid());
    return write_file_atomic(config_.endpoints_file(), boost::json::serialize(o) + "\n");
  }

  ControllerConfig config_;
  metrics::Registry registry_;
  ControllerMetrics metrics_;
  std::unique_ptr<StateFiles> state_;
  discovery::StorePtr store_;
  discovery::WatchPtr watch_;
  std::unique_ptr<TokenLedger> ledger_;
  std::unique_ptr<Certifier> certifier_;
  std::unique_ptr<DestinationIndex> dest_index_;
  std::unique_ptr<PolicyIndex> policy_index_;
  std::unique_ptr<ExportIndex> export_index_;
  std::unique_ptr<TrustIndex> trust_index_;
  std::unique_ptr<dns::ZoneIndex> zones_;
  std::unique_ptr<dns::DnsServer> dns_;
  std::unique_ptr<TrustService> trust_service_;
  std::unique_ptr<ExportService> export_service_;
  std::unique_ptr<grpc::Server> export_server_;
  std::unique_ptr<IdentityService> identity_service_;
  std::unique_ptr<DestinationService> destination_service_;
  std::unique_ptr<PolicyService> policy_service_;
  std::unique_ptr<RegistrationService> registration_;
  std::unique_ptr<AdminService> admin_api_;
  std::unique_ptr<grpc::Server> identity_server_;
  std::unique_ptr<grpc::Server> mesh_server_;
  boost::asio::io_context io_;
  std::unique_ptr<admin::AdminServer> admin_;
  std::thread io_thread_;
  BoundPorts ports_;
  std::mutex shutdown_mu_;
  bool stopped_ = false;
};

}  // namespace

Result<std::unique_ptr<Controller>> Controller::start(ControllerConfig config) {
  auto c = std::make_unique<ControllerImpl>(std::move(config));
  if (auto r = c->init(); !r) return r.error();
  return std::unique_ptr<Controller>(std::move(c));
}

}  // namespace strait::controlplane
