// ZoneIndex: the names of the Kubernetes DNS specification and of MCS, from store events.
#include "controlplane/dns/zone_index.h"

#include <gtest/gtest.h>

#include <map>

namespace strait::controlplane::dns {
namespace {

using discovery::Endpoint;
using discovery::Event;
using discovery::Service;
using Status = Answer::Status;

Service service(const std::string& ns, const std::string& name, const std::string& ip,
                std::vector<discovery::ServicePort> ports = {{"http", 80, 8080}}) {
  Service s;
  s.meta.ns = ns;
  s.meta.name = name;
  s.cluster_ip = ip;
  s.ports = std::move(ports);
  return s;
}

Endpoint endpoint(const std::string& ns, const std::string& svc, const std::string& name,
                  const std::string& ip, bool ready = true) {
  Endpoint e;
  e.meta.ns = ns;
  e.meta.name = name;
  e.service = svc;
  e.address = ip;
  e.port = 8080;
  e.ready = ready;
  return e;
}

class ZoneIndexTest : public ::testing::Test {
 protected:
  void put(discovery::Object o) { zones.apply({Event::Type::kAdded, std::move(o)}); }
  void remove(discovery::Object o) { zones.apply({Event::Type::kDeleted, std::move(o)}); }
  std::vector<std::string> data(const Answer& a) {
    std::vector<std::string> out;
    for (const auto& r : a.answers) out.push_back(r.data);
    std::sort(out.begin(), out.end());
    return out;
  }
  ZoneIndex zones{{.domain = "cluster.local", .ttl = 5}};
};

TEST_F(ZoneIndexTest, AServiceNameIsItsVirtualIpWithTheShortTtl) {
  put(service("shop", "web", "198.19.0.10"));
  for (const char* name : {"web.shop.svc.cluster.local", "web.shop.svc.cluster.local.",
                           "WEB.Shop.SVC.cluster.LOCAL."}) {
    auto a = zones.lookup(name, RrType::kA);
    ASSERT_EQ(a.status, Status::kOk) << name;
    ASSERT_EQ(a.answers.size(), 1u) << name;
    EXPECT_EQ(a.answers[0].data, "198.19.0.10");
    EXPECT_EQ(a.answers[0].ttl, 5u);
    EXPECT_EQ(a.answers[0].name, "web.shop.svc.cluster.local.");
  }
  // No AAAA for an IPv4 service: NODATA (the name exists), with the SOA for negative caching.
  auto six = zones.lookup("web.shop.svc.cluster.local", RrType::kAaaa);
  EXPECT_EQ(six.status, Status::kOk);
  EXPECT_TRUE(six.answers.empty());
  ASSERT_EQ(six.authority.size(), 1u);
  EXPECT_EQ(six.authority[0].type, RrType::kSoa);
  EXPECT_EQ(six.authority[0].soa_minimum, 5u);
}

TEST_F(ZoneIndexTest, SearchListMissesAreNxDomainAndNamespacesAreEmptyNonTerminals) {
  put(service("shop", "web", "198.19.0.10"));
  // What ndots:5 makes a client try for "web.shop" before the right suffix.
  for (const char* miss :
       {"web.shop.shop.svc.cluster.local", "web.shop.svc.cluster.local.shop.svc.cluster.local",
        "web.shop.cluster.local", "web.other.svc.cluster.local", "nope.shop.svc.cluster.local",
        "a.b.c.web.shop.svc.cluster.local", "other.svc.cluster.local"}) {
    auto a = zones.lookup(miss, RrType::kA);
    EXPECT_EQ(a.status, Status::kNxDomain) << miss;
    ASSERT_EQ(a.authority.size(), 1u) << miss;
    EXPECT_EQ(a.authority[0].name, "cluster.local.");
  }
  EXPECT_EQ(zones.lookup("shop.svc.cluster.local", RrType::kA).status, Status::kOk);
  EXPECT_EQ(zones.lookup("svc.cluster.local", RrType::kA).status, Status::kOk);
  auto soa = zones.lookup("cluster.local", RrType::kSoa);
  ASSERT_EQ(soa.answers.size(), 1u);
  EXPECT_EQ(soa.answers[0].type, RrType::kSoa);
  // Outside every zone: for the server to forward or refuse.
  EXPECT_EQ(zones.lookup("example.org", RrType::kA).status, Status::kOutside);
  EXPECT_EQ(zones.lookup("cluster.local.example.org", RrType::kA).status, Status::kOutside);
  EXPECT_EQ(zones.lookup("xcluster.local", RrType::kA).status, Status::kOutside);
}

TEST_F(ZoneIndexTest, ANameFollowsItsServiceAndGoesWithIt) {
  auto s = service("shop", "web", "198.19.0.10");
  put(s);
  s.cluster_ip = "198.19.0.11";
  zones.apply({Event::Type::kModified, s});
  EXPECT_EQ(data(zones.lookup("web.shop.svc.cluster.local", RrType::kA)),
            std::vector<std::string>{"198.19.0.11"});
  remove(s);
  EXPECT_EQ(zones.lookup("web.shop.svc.cluster.local", RrType::kA).status, Status::kNxDomain);
  EXPECT_EQ(zones.lookup("shop.svc.cluster.local", RrType::kA).status, Status::kNxDomain);
  EXPECT_EQ(zones.lookup("11.0.19.198.in-addr.arpa", RrType::kPtr).status, Status::kOutside);
}

TEST_F(ZoneIndexTest, HeadlessServicesAnswerWithTheirReadyEndpoints) {
  put(endpoint("shop", "db", "db-1", "198.18.1.11"));  // before its service: kept
  put(service("shop", "db", std::string(kHeadless)));
  put(endpoint("shop", "db", "db-2", "198.18.1.12"));
  put(endpoint("shop", "db", "db-3", "198.18.1.13", /*ready=*/false));
  EXPECT_EQ(data(zones.lookup("db.shop.svc.cluster.local", RrType::kA)),
            (std::vector<std::string>{"198.18.1.11", "198.18.1.12"}));
  // Each endpoint by its dashed address, as the SRV targets name them.
  EXPECT_EQ(data(zones.lookup("198-18-1-12.db.shop.svc.cluster.local", RrType::kA)),
            std::vector<std::string>{"198.18.1.12"});
  EXPECT_EQ(zones.lookup("198-18-1-13.db.shop.svc.cluster.local", RrType::kA).status,
            Status::kNxDomain);
  auto srv = zones.lookup("_http._tcp.db.shop.svc.cluster.local", RrType::kSrv);
  ASSERT_EQ(srv.answers.size(), 2u);
  EXPECT_EQ(srv.answers[0].srv_port, 8080);
  EXPECT_EQ(srv.additional.size(), 2u);
  auto ptr = zones.lookup("11.1.18.198.in-addr.arpa.", RrType::kPtr);
  ASSERT_EQ(ptr.answers.size(), 1u);
  EXPECT_EQ(ptr.answers[0].data, "198-18-1-11.db.shop.svc.cluster.local.");
  // None ready: NXDOMAIN.
  remove(endpoint("shop", "db", "db-1", ""));
  put(endpoint("shop", "db", "db-2", "198.18.1.12", /*ready=*/false));
  EXPECT_EQ(zones.lookup("db.shop.svc.cluster.local", RrType::kA).status, Status::kNxDomain);
}

// A headless service's SRV lists the endpoints that serve that port, each with its own port.
TEST_F(ZoneIndexTest, HeadlessSrvNamesTheEndpointsServingThePort) {
  put(service("shop", "db", std::string(kHeadless), {{"client", 6379, 0}, {"bus", 16379, 0}}));
  auto both = endpoint("shop", "db", "db-1", "198.18.1.11");
  both.port = 0;
  both.ports = {{"client", 7000}, {"bus", 16379}};  // client by name, on 7000
  put(both);
  put(endpoint("shop", "db", "db-2", "198.18.1.12"));  // port 8080: neither
  auto every = endpoint("shop", "db", "db-3", "198.18.1.13");
  every.port = 0;  // no port: every port of the service
  put(every);
  auto client = zones.lookup("_client._tcp.db.shop.svc.cluster.local", RrType::kSrv);
  ASSERT_EQ(client.answers.size(), 2u);
  std::map<std::string, std::uint16_t> ports;
  for (const auto& r : client.answers) ports[r.data] = r.srv_port;
  EXPECT_EQ(ports, (std::map<std::string, std::uint16_t>{
                       {"198-18-1-11.db.shop.svc.cluster.local.", 7000},
                       {"198-18-1-13.db.shop.svc.cluster.local.", 6379}}));
  auto bus = zones.lookup("_bus._tcp.db.shop.svc.cluster.local", RrType::kSrv);
  ASSERT_EQ(bus.answers.size(), 2u);
  for (const auto& r : bus.answers) EXPECT_EQ(r.srv_port, 16379);
}

TEST_F(ZoneIndexTest, SrvPerNamedPortAndPtrForVirtualIps) {
  put(service("shop", "web", "198.19.0.10",
              {{"http", 80, 8080}, {"metrics", 9090, 0}, {"", 7000, 0}}));
  auto srv = zones.lookup("_metrics._tcp.web.shop.svc.cluster.local", RrType::kSrv);
  ASSERT_EQ(srv.status, Status::kOk);
  ASSERT_EQ(srv.answers.size(), 1u);
  EXPECT_EQ(srv.answers[0].srv_port, 9090);
  EXPECT_EQ(srv.answers[0].data, "web.shop.svc.cluster.local.");
  ASSERT_EQ(srv.additional.size(), 1u);
  EXPECT_EQ(srv.additional[0].data, "198.19.0.10");
  EXPECT_EQ(zones.lookup("_grpc._tcp.web.shop.svc.cluster.local", RrType::kSrv).status,
            Status::kNxDomain);
  EXPECT_EQ(zones.lookup("_http._udp.web.shop.svc.cluster.local", RrType::kSrv).status,
            Status::kNxDomain);
  EXPECT_EQ(zones.lookup("_tcp.web.shop.svc.cluster.local", RrType::kSrv).status, Status::kOk);
  // An A query at the SRV name: it exists, with no address.
  auto a = zones.lookup("_http._tcp.web.shop.svc.cluster.local", RrType::kA);
  EXPECT_EQ(a.status, Status::kOk);
  EXPECT_TRUE(a.answers.empty());

  auto ptr = zones.lookup("10.0.19.198.in-addr.arpa", RrType::kPtr);
  ASSERT_EQ(ptr.answers.size(), 1u);
  EXPECT_EQ(ptr.answers[0].data, "web.shop.svc.cluster.local.");
  EXPECT_EQ(zones.lookup("99.0.19.198.in-addr.arpa", RrType::kPtr).status, Status::kOutside);
}

TEST_F(ZoneIndexTest, IPv6ServicesAnswerAaaaAndNibblePtr) {
  put(service("shop", "v6", "fd00::10"));
  EXPECT_EQ(data(zones.lookup("v6.shop.svc.cluster.local", RrType::kAaaa)),
            std::vector<std::string>{"fd00::10"});
  EXPECT_TRUE(zones.lookup("v6.shop.svc.cluster.local", RrType::kA).answers.empty());
  auto ptr = zones.lookup(reverse_name("fd00::10"), RrType::kPtr);
  ASSERT_EQ(ptr.answers.size(), 1u);
  EXPECT_EQ(ptr.answers[0].data, "v6.shop.svc.cluster.local.");
  EXPECT_EQ(reverse_name("fd00::10").substr(0, 4), "0.1.");
}

TEST_F(ZoneIndexTest, MirrorsAndFederatedServicesHaveTheirNamesAndClustersetTheFederatedOne) {
  put(service("shop", "web-east", "198.19.0.20"));
  put(service("shop", "api-federated", "198.19.0.30"));
  EXPECT_EQ(data(zones.lookup("web-east.shop.svc.cluster.local", RrType::kA)),
            std::vector<std::string>{"198.19.0.20"});
  EXPECT_EQ(data(zones.lookup("api-federated.shop.svc.cluster.local", RrType::kA)),
            std::vector<std::string>{"198.19.0.30"});
  auto cs = zones.lookup("api.shop.svc.clusterset.local", RrType::kA);
  ASSERT_EQ(cs.status, Status::kOk);
  ASSERT_EQ(cs.answers.size(), 1u);
  EXPECT_EQ(cs.answers[0].data, "198.19.0.30");
  EXPECT_EQ(cs.answers[0].name, "api.shop.svc.clusterset.local.");
  auto srv = zones.lookup("_http._tcp.api.shop.svc.clusterset.local", RrType::kSrv);
  ASSERT_EQ(srv.answers.size(), 1u);
  EXPECT_EQ(srv.answers[0].data, "api.shop.svc.clusterset.local.");
  // Only federated services are clusterset imports.
  auto miss = zones.lookup("web.shop.svc.clusterset.local", RrType::kA);
  EXPECT_EQ(miss.status, Status::kNxDomain);
  ASSERT_EQ(miss.authority.size(), 1u);
  EXPECT_EQ(miss.authority[0].name, "clusterset.local.");
  auto version = zones.lookup("dns-version.clusterset.local", RrType::kTxt);
  ASSERT_EQ(version.answers.size(), 1u);
  EXPECT_EQ(version.answers[0].data, "1.0.0");
}

TEST_F(ZoneIndexTest, AnyIsAnsweredMinimally) {
  put(service("shop", "web", "198.19.0.10"));
  auto any = zones.lookup("web.shop.svc.cluster.local", RrType::kAny);
  ASSERT_EQ(any.answers.size(), 1u);
  EXPECT_EQ(any.answers[0].type, RrType::kA);
}

TEST_F(ZoneIndexTest, ADifferentClusterDomainIsItsOwnZone) {
  ZoneIndex east({.domain = "East.Local", .ttl = 7});
  east.apply({Event::Type::kAdded, service("shop", "web", "198.19.16.10")});
  auto a = east.lookup("web.shop.svc.east.local", RrType::kA);
  ASSERT_EQ(a.answers.size(), 1u);
  EXPECT_EQ(a.answers[0].ttl, 7u);
  EXPECT_EQ(east.lookup("web.shop.svc.cluster.local", RrType::kA).status, Status::kOutside);
}

}  // namespace
}  // namespace strait::controlplane::dns
