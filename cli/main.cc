// straitctl: the command line of Strait.
#include <iostream>

#include "cli/commands.h"
#include "cli/dev/dev.h"

namespace {

constexpr const char* kUsage = R"(straitctl: the Strait command line

  straitctl install --cluster-name NAME --trust-domain TD --state-dir DIR
                    [--domain cluster.local] [--service-cidr 198.19.0.0/20]
                    [--trust-anchor PEM --issuer-cert PEM --issuer-key PEM]
                    [--identity-listen H:P --destination-listen H:P --admin-listen H:P]
                    [--dns-listen H:P (default 127.0.0.1:53; "" for none)]
                    [--dns-upstreams IP[:P],... --dns-recursion-networks CIDR,...]
  straitctl token --namespace NS --service-account SA [--ttl 1h]
  straitctl apply -f FILE|-
  straitctl get services|endpoints|servers|policies|links [NAME] [-n NS] [-o yaml|json]
  straitctl delete KIND NAME [-n NS]  |  straitctl delete -f FILE
  straitctl status [-o json]
  straitctl register --service S --port P --namespace NS --service-account SA --token T
  straitctl multicluster link-gen --cluster-name THIS [--source-cluster OTHER] [--ttl 15m] [-o json]
  straitctl multicluster unlink --cluster-name LINKED [-o json]
  straitctl multicluster check [--cluster-name LINKED] [--link-admin H:P] [-o json]
  straitctl multicluster gateways [--cluster-name LINKED] [--link-admin H:P] [-o json]

  straitctl dev up [--clusters east,west[,north]] [--topology gateway|flat|mixed]
                   [--trust shared|separate] [--loopback]
  straitctl dev status | down
  straitctl dev exec CLUSTER/POD -- COMMAND [ARGS...]
  straitctl dev run CLUSTER/POD [--namespace NS] [--service NAME --port N[,N...]]
                    [--export gateway|flat|federated] -- COMMAND [ARGS...]
  straitctl dev rm CLUSTER/POD
  straitctl dev logs CLUSTER/COMPONENT    (controller, gateway, link, or a pod)
  straitctl dev stop|start CLUSTER/{controller,gateway,link}
  (dev: --work-dir DIR, default $STRAIT_DEV_DIR or /run/strait-dev; --id RUN, default dev)

Which controller: --state-dir DIR (or STRAIT_STATE_DIR), or --controller HOST:PORT
with --ca FILE --cert FILE --key FILE. strait-link's status (check, gateways): --link-admin
HOST:PORT, else <state-dir>/run/strait-link.json, else 127.0.0.1:9999.
)";

}  // namespace

int main(int argc, char** argv) {
  using namespace strait::cli;
  std::vector<std::string> words(argv + 1, argv + argc);
  auto args = Args::parse(words,
                          {"cluster-name",
                           "trust-domain",
                           "state-dir",
                           "domain",
                           "service-cidr",
                           "trust-anchor",
                           "issuer-cert",
                           "issuer-key",
                           "identity-listen",
                           "destination-listen",
                           "admin-listen",
                           "namespace",
                           "service-account",
                           "ttl",
                           "filename",
                           "output",
                           "controller",
                           "ca",
                           "cert",
                           "key",
                           "identity-address",
                           "service",
                           "port",
                           "token",
                           "address",
                           "name",
                           "zone",
                           "export-listen",
                           "export-address",
                           "gateway-addresses",
                           "dns-listen",
                           "dns-upstreams",
                           "dns-recursion-networks",
                           "source-cluster",
                           "link-admin",
                           "clusters",
                           "topology",
                           "trust",
                           "work-dir",
                           "export",
                           "id"},
                          {"help", "loopback"},
                          {{"n", "namespace"}, {"f", "filename"}, {"o", "output"}, {"h", "help"}});
  if (!args) return fail(args.error().message + "\n" + kUsage);
  if (args->has("help") || args->positional().empty()) {
    std::cout << kUsage;
    return args->has("help") ? 0 : 2;
  }
  const std::string& verb = args->positional()[0];
  if (verb == "install") return cmd_install(*args);
  if (verb == "token") return cmd_token(*args);
  if (verb == "apply") return cmd_apply(*args);
  if (verb == "get") return cmd_get(*args);
  if (verb == "delete") return cmd_delete(*args);
  if (verb == "status") return cmd_status(*args);
  if (verb == "register") return cmd_register(*args);
  if (verb == "multicluster") return cmd_multicluster(*args);
  if (verb == "dev") return cmd_dev(*args);
  return fail("unknown command \"" + verb + "\"\n" + kUsage);
}
