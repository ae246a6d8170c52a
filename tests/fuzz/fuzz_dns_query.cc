// The DNS server's query path on untrusted bytes: parse_query, the zones' lookup of the parsed
// name, and the response built for it. Never a crash (ASan, UBSan); every response that is sent
// parses again, carries the query's ID, says it is a response, and fits the size it was built for.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>

#include <stdbool.h>  // first: ldns would otherwise #define bool, true and false
#include <ldns/ldns.h>

#include "controlplane/dns/message.h"
#include "controlplane/dns/zone_index.h"

namespace dns = strait::controlplane::dns;
namespace discovery = strait::discovery;

namespace {

// A zone with a ClusterIP service, a headless one with endpoints, and the MCS name of a
// federated service: every kind of answer the lookup gives.
const dns::ZoneIndex& zones() {
  static dns::ZoneIndex* z = [] {
    auto* out = new dns::ZoneIndex({.domain = "cluster.local", .ttl = 5});
    auto put = [out](discovery::Object o) {
      out->apply({discovery::Event::Type::kAdded, std::move(o)});
    };
    for (auto [name, ip] : {std::pair{"web", "198.19.0.10"},
                            {"db", "None"},
                            {"api-federated", "198.19.0.12"},
                            {"v6", "fd00::10"}}) {
      discovery::Service s;
      s.meta.ns = "shop";
      s.meta.name = name;
      s.cluster_ip = ip;
      s.ports = {{"http", 80, 8080}, {"grpc", 9090, 0}};
      put(s);
    }
    for (int i = 0; i < 3; ++i) {
      discovery::Endpoint e;
      e.meta.ns = "shop";
      e.meta.name = "db-" + std::to_string(i);
      e.service = "db";
      e.address = "198.18.1." + std::to_string(10 + i);
      e.port = 5432;
      e.ready = i != 2;
      put(e);
    }
    return out;
  }();
  return *z;
}

void check(const std::vector<std::uint8_t>& out, std::uint16_t id, std::size_t limit) {
  if (out.size() < 12 || out.size() > limit) std::abort();
  if ((out[0] << 8 | out[1]) != id || (out[2] & 0x80) == 0) std::abort();
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, out.data(), out.size()) != LDNS_STATUS_OK) std::abort();
  ldns_pkt_free(p);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto& z = zones();
  dns::Parsed p = dns::parse_query({data, size});
  const std::uint16_t id = size >= 2 ? static_cast<std::uint16_t>(data[0] << 8 | data[1]) : 0;
  switch (p.kind) {
    case dns::Parsed::Kind::kDrop:
      return 0;
    case dns::Parsed::Kind::kError:
      check(dns::build_error(p, p.rcode), id, dns::kTcpMaxMessage);
      return 0;
    case dns::Parsed::Kind::kQuery:
      break;
  }
  dns::Answer a = z.lookup(p.query.name, static_cast<dns::RrType>(p.query.type));
  if (a.status == dns::Answer::Status::kOutside) {
    check(dns::build_error(p, dns::Rcode::kRefused), id, dns::kTcpMaxMessage);
    return 0;
  }
  for (std::size_t limit : {dns::udp_limit(p.query), dns::kTcpMaxMessage}) {
    check(dns::build_answer(p.query, a, {.max_size = limit, .recursion_available = false}), id,
          limit);
  }
  check(dns::build_truncated(p.query), id, 512);
  return 0;
}
