// straitctl token / status / register: join tokens, the controller's status, and holding a
// workload registration by hand.
#include <csignal>
#include <google/protobuf/util/json_util.h>

#include <iostream>

#include "cli/access.h"
#include "cli/commands.h"
#include "cli/format.h"
#include "cli/table.h"
#include "controlplane/client/certify.h"
#include "controlplane/client/registration_lease.h"
#include "core/config/config.h"
#include "core/tls/certificate.h"
#include "core/discovery/json_codec.h"

namespace strait::cli {
namespace av = admin::v1;

int fail(const std::string& message) {
  std::cerr << "straitctl: " << message << "\n";
  return 1;
}

int cmd_token(const Args& args) {
  auto ns = args.get("namespace");
  auto sa = args.get("service-account");
  if (!ns || !sa) return fail("token needs --namespace NS --service-account SA [--ttl 1h]");
  auto ttl = config::parse_duration(args.get_or("ttl", "1h"));
  if (!ttl) return fail("--ttl: " + ttl.error().message);
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  av::IssueTokenRequest req;
  req.set_namespace_(*ns);
  req.set_service_account(*sa);
  req.set_ttl_seconds(std::chrono::duration_cast<std::chrono::seconds>(*ttl).count());
  av::IssueTokenResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto status = access->admin()->IssueToken(&ctx, req, &resp);
  if (!status.ok()) return fail(controlplane::describe_status(status, access->destination_address));
  std::cout << resp.token() << "\n";
  return 0;
}

int cmd_status(const Args& args) {
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  av::StatusResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  auto status = access->admin()->Status(&ctx, av::StatusRequest(), &resp);
  if (!status.ok()) return fail(controlplane::describe_status(status, access->destination_address));
  if (args.get_or("output", "") == "json") {
    std::string json;
    google::protobuf::util::MessageToJsonString(resp, &json);
    std::cout << json << "\n";
    return 0;
  }
  Table t({"FIELD", "VALUE"});
  t.add({"cluster", resp.cluster()});
  t.add({"trust domain", resp.trust_domain()});
  t.add({"controller", access->destination_address});
  t.add({"store version", std::to_string(resp.store_version())});
  for (const auto& [kind, n] : resp.objects()) t.add({"objects " + kind, std::to_string(n)});
  t.add({"certificates issued", std::to_string(resp.certificates_issued())});
  t.add({"destination streams", std::to_string(resp.streams_open())});
  t.add({"issuer expires", format_time(resp.issuer_expiry_unix())});
  t.add({"trust anchor expires", format_time(resp.anchor_expiry_unix())});
  t.print(std::cout);
  return 0;
}

// Certifies with a join token and holds the workload's registration until interrupted: a
// workload without a proxy, for trying the control plane by hand.
int cmd_register(const Args& args) {
  auto service = args.get("service");
  auto port = args.get("port");
  auto ns = args.get("namespace");
  auto sa = args.get("service-account");
  auto token = args.get("token");
  if (!service || !port || !ns || !sa || !token) {
    return fail(
        "register needs --service S --port P --namespace NS --service-account SA --token T");
  }
  auto access = resolve_access(args);
  if (!access) return fail(access.error().message);
  auto td = args.get("trust-domain");
  // The trust domain is the one of the admin certificate straitctl holds.
  std::string trust_domain;
  if (td) {
    trust_domain = *td;
  } else {
    auto chain = tls::Certificate::from_pem(access->credentials.cert_chain_pem);
    if (chain && chain->spiffe_id()) trust_domain = std::string(chain->spiffe_id()->trust_domain());
  }
  auto id = identity::SpiffeId::parse("spiffe://" + trust_domain + "/ns/" + *ns + "/sa/" + *sa);
  if (!id) return fail(id.error().message);
  auto creds = controlplane::certify(access->identity_address, access->credentials.anchor_pem, *id,
                                     *token, std::chrono::seconds(10));
  if (!creds) return fail("certify: " + creds.error().message);
  std::cout << "certified " << creds->identity << " until " << format_time(creds->expiry) << "\n"
            << std::flush;

  registration::v1::Workload w;
  w.set_service(*service);
  w.set_port(static_cast<std::uint32_t>(std::stoul(*port)));
  w.set_address(args.get_or("address", ""));
  w.set_name(args.get_or("name", ""));
  w.set_zone(args.get_or("zone", ""));
  auto channel = controlplane::make_channel(
      access->destination_address,
      {access->credentials.anchor_pem, creds->cert_chain_pem(), creds->key_pem});

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  controlplane::RegistrationLease lease(
      [channel](bool) { return channel; }, w,
      [](controlplane::RegistrationLease::State s, const std::string& detail) {
        if (s == controlplane::RegistrationLease::State::kRegistered) {
          std::cout << "registered endpoint " << detail
                    << " (holding the lease; Ctrl-C releases it)\n"
                    << std::flush;
        } else if (s == controlplane::RegistrationLease::State::kBroken && detail != "stopped" &&
                   detail.rfind("stopped:", 0) != 0) {
          std::cerr << "straitctl: registration stream ended: " << detail << "; retrying\n";
        }
      });
  int sig = 0;
  sigwait(&set, &sig);
  lease.stop();
  std::cout << "released\n";
  return 0;
}

}  // namespace strait::cli
