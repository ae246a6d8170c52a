// straitctl install: a new state directory (trust anchor, issuer, token key, controller.yaml).
#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "controlplane/server/state_files.h"

namespace strait::cli {

int cmd_install(const Args& args) {
  controlplane::InstallOptions o;
  auto name = args.get("cluster-name");
  auto td = args.get("trust-domain");
  auto dir = args.get("state-dir");
  if (!name || !td || !dir) {
    return fail("install needs --cluster-name NAME --trust-domain TD --state-dir DIR");
  }
  o.cluster = *name;
  o.trust_domain = *td;
  o.state_dir = *dir;
  o.domain = args.get_or("domain", o.domain);
  o.service_cidr = args.get_or("service-cidr", o.service_cidr);
  o.identity_listen = args.get_or("identity-listen", o.identity_listen);
  o.destination_listen = args.get_or("destination-listen", o.destination_listen);
  o.admin_listen = args.get_or("admin-listen", o.admin_listen);
  o.export_listen = args.get_or("export-listen", o.export_listen);
  o.export_address = args.get_or("export-address", "");
  o.identity_address = args.get_or("identity-address", "");
  o.dns_listen = args.get_or("dns-listen", o.dns_listen);
  auto comma_list = [&args](const char* flag, std::vector<std::string>& out) {
    if (auto g = args.get(flag)) {
      std::stringstream ss(*g);
      for (std::string a; std::getline(ss, a, ',');) {
        if (!a.empty()) out.push_back(a);
      }
    }
  };
  comma_list("gateway-addresses", o.gateway_addresses);
  comma_list("dns-upstreams", o.dns_upstreams);
  comma_list("dns-recursion-networks", o.dns_recursion_networks);
  if (auto a = args.get("trust-anchor")) o.anchor_cert = *a;
  if (auto c = args.get("issuer-cert")) o.issuer_cert = *c;
  if (auto k = args.get("issuer-key")) o.issuer_key = *k;
  if (auto r = controlplane::install_state(o); !r) return fail(r.error().message);
  std::cout << "installed cluster " << o.cluster << " (trust domain " << o.trust_domain << ") in "
            << o.state_dir.string() << "\n"
            << "run it with: strait-controller --config "
            << (o.state_dir / "controller.yaml").string() << "\n";
  return 0;
}

}  // namespace strait::cli
