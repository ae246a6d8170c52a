// ZoneIndex: the DNS view of the discovery store. Follows Service and Endpoint events and answers
// questions for the cluster's zone (`<domain>`), the MCS zone `clusterset.local` and the reverse
// zones of the virtual IPs and headless endpoints, following the Kubernetes DNS specification:
//
//   <svc>.<ns>.svc.<domain>                 A/AAAA: the virtual IP; headless: every ready endpoint
//   _<port>._tcp.<svc>.<ns>.svc.<domain>    SRV per named port
//   <a-b-c-d>.<svc>.<ns>.svc.<domain>       A of one endpoint of a headless service
//   d.c.b.a.in-addr.arpa (and ip6.arpa)     PTR to the service (or headless endpoint) name
//   <svc>.<ns>.svc.clusterset.local         the federated service <svc>-federated of this cluster
//   dns-version.clusterset.local            TXT "1.0.0"
//
// Names in a zone that do not exist are NXDOMAIN (with the zone's SOA), names outside every
// zone come back as kOutside for the server to forward or refuse. Thread-safe: apply() from the
// store's watch thread, lookup() from the server's threads.
#pragma once

#include <cstdint>
#include <map>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "core/discovery/model.h"
#include "core/discovery/store.h"

namespace strait::controlplane::dns {

// Record types by their IANA numbers (the wire's).
enum class RrType : std::uint16_t {
  kA = 1,
  kNs = 2,
  kSoa = 6,
  kPtr = 12,
  kTxt = 16,
  kAaaa = 28,
  kSrv = 33,
  kAny = 255,
};

struct Record {
  std::string name;  // absolute, lowercase, with the trailing dot
  RrType type = RrType::kA;
  std::uint32_t ttl = 0;
  // A/AAAA: the address; PTR/NS: the target name; TXT: the text; SOA: "mname rname" (the
  // numbers are in soa_serial / soa_minimum); SRV: the target name.
  std::string data;
  std::uint16_t srv_priority = 0, srv_weight = 0, srv_port = 0;
  std::uint32_t soa_serial = 0, soa_minimum = 0;

  bool operator==(const Record&) const = default;
};

struct Answer {
  enum class Status {
    kOk,        // NOERROR: answers (maybe none: NODATA, with the SOA in authority)
    kNxDomain,  // the name does not exist in one of our zones (SOA in authority)
    kOutside,   // not ours: forward or refuse
  };
  Status status = Status::kOutside;
  std::vector<Record> answers;
  std::vector<Record> authority;   // the SOA of negative answers
  std::vector<Record> additional;  // addresses of SRV targets
};

class ZoneIndex {
 public:
  struct Settings {
    std::string domain = "cluster.local";  // the cluster's zone
    std::uint32_t ttl = 5;                 // every record's TTL, and the negative TTL
  };
  explicit ZoneIndex(Settings settings);

  void apply(const discovery::Event& event);
  // qname in any case, with or without the trailing dot.
  Answer lookup(std::string_view qname, RrType type) const;

  std::uint64_t version() const;  // the last applied store version
  std::size_t services() const;

 private:
  struct ServiceEntry {
    discovery::Service service;
    std::map<std::string, discovery::Endpoint> endpoints;  // by endpoint name
  };
  using ServiceKey = std::pair<std::string, std::string>;  // namespace, name

  Answer lookup_cluster(const std::vector<std::string_view>& labels, RrType type) const;
  Answer lookup_clusterset(const std::vector<std::string_view>& labels, RrType type) const;
  Answer lookup_reverse(const std::string& qname, RrType type) const;
  // base: the service's name in the zone answering ("web.shop.svc.<zone>"), owner of the
  // address records and target of the SRV records.
  Answer answer_service(const ServiceEntry& e, const std::string& base, const std::string& zone,
                        RrType type) const;
  Answer answer_srv(const ServiceEntry& e, std::string_view port_label, std::string_view proto,
                    const std::string& base, const std::string& zone, RrType type) const;
  Answer answer_host(const ServiceEntry& e, std::string_view host, const std::string& base,
                     const std::string& zone, RrType type) const;
  void unlink_endpoint(const std::string& ns, const std::string& name);
  Answer negative(Answer::Status status, const std::string& zone) const;
  Record soa(const std::string& zone) const;
  const ServiceEntry* find(const std::string& ns, const std::string& name) const;

  const Settings settings_;
  const std::string zone_;  // "<domain>." lowercase
  mutable std::shared_mutex mu_;
  std::map<ServiceKey, ServiceEntry> services_;
  // Endpoints that arrived before their service (or outlive it), so that order never matters.
  std::map<ServiceKey, std::map<std::string, discovery::Endpoint>> orphans_;
  std::map<ServiceKey, std::string> endpoint_service_;  // (ns, endpoint) -> its service
  std::map<std::string, std::size_t> namespaces_;       // ns -> services in it
  std::map<std::string, std::string> ptr_;              // reverse name -> service name
  std::uint64_t version_ = 0;
};

// "None": a headless service (no virtual IP), as Kubernetes spells it (core/discovery/model.h).
using discovery::is_headless;
using discovery::kHeadless;

// Helpers shared with the tests and the server.
std::string lowercase(std::string_view s);
// "d.c.b.a.in-addr.arpa." / the nibble form under ip6.arpa; "" for a non-address.
std::string reverse_name(const std::string& ip);
// "198.18.1.10" -> "198-18-1-10"; IPv6 with ':' -> '-'.
std::string dashed(const std::string& ip);

}  // namespace strait::controlplane::dns
