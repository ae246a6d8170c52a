// JSON codec: every kind round-trips exactly; decoding errors name the field path.
#include "core/discovery/json_codec.h"

#include <boost/json.hpp>
#include <gtest/gtest.h>

#include <limits>

namespace strait::discovery {
namespace {

namespace json = boost::json;

Meta meta(std::string name, std::string owner = "") {
  Meta m;
  m.cluster = "west";
  m.ns = "shop";
  m.name = std::move(name);
  m.labels = {{"app", "web"}, {"tier", "1"}};
  m.annotations = {{"note", "line one\nline two"}};
  m.version = 42;
  m.owner = std::move(owner);
  return m;
}

std::vector<Object> every_kind() {
  Service svc{meta("web"),
              "10.96.0.10",
              {{"http", 80, 8080, ProtocolHint::kHttp1}, {"grpc", 9090, 0, ProtocolHint::kHttp2}},
              {"web", "web-canary"}};
  Endpoint ep{meta("web-1", "lease:abc"),
              "web",
              "10.1.2.3",
              8080,
              "spiffe://west.local/ns/shop/sa/web",
              "zone-a",
              false,
              123,
              ProtocolHint::kOpaque,
              "web.shop.svc.east.local:80",
              {{"client", 6379}, {"", 16379}}};
  Server srv{meta("web-http"), {{"app", "web"}}, 8080, ProtocolHint::kHttp2};
  AuthorizationPolicy pol{meta("web-allow"),
                          "web-http",
                          {"spiffe://west.local/ns/shop/*", "*"},
                          {"10.0.0.0/8", "fd00::/8"},
                          true};
  Link link;
  link.meta = meta("east", "link:east");
  link.target_cluster = "east";
  link.target_domain = "east.local";
  link.target_trust_domain = "east.example";
  link.trust_bundle_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
  link.export_address = "gw.east.example:4191";
  link.gateway_addresses = {"192.0.2.1", "gw.east.example"};
  link.gateway_port = 4444;
  link.gateway_identity = "spiffe://east.example/ns/strait/sa/gateway";
  link.probe = ProbeSpec{"/health", 4192, std::chrono::milliseconds(1500),
                         std::chrono::milliseconds(250), 7};
  link.selector = {{"export", "true"}};
  link.remote_discovery_selector = {{"flat", "yes"}};
  link.federated_selector = {{"fed", "1"}};
  link.excluded_labels = {"internal", "debug"};
  return {svc, ep, srv, pol, link};
}

TEST(JsonCodec, EveryKindRoundTrips) {
  for (const Object& o : every_kind()) {
    json::value j = object_to_json(o);
    // Through text too: what the WAL and the admin API actually carry.
    json::value reparsed = json::parse(json::serialize(j));
    auto back = object_from_json(reparsed);
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_TRUE(*back == o) << json::serialize(j);
    EXPECT_EQ(kind_of(*back), kind_of(o));
  }
}

TEST(JsonCodec, DefaultsRoundTrip) {
  for (Object o :
       std::vector<Object>{Service{}, Endpoint{}, Server{}, AuthorizationPolicy{}, Link{}}) {
    meta_of(o).name = "x";
    auto back = object_from_json(object_to_json(o));
    ASSERT_TRUE(back.ok()) << back.error().to_string();
    EXPECT_TRUE(*back == o);
  }
}

TEST(JsonCodec, EnumsAreLowercaseNames) {
  json::value j = object_to_json(every_kind()[0]);
  EXPECT_EQ(j.at("kind").as_string(), "Service");
  EXPECT_EQ(j.at("apiVersion").as_string(), "strait.dev/v1alpha1");
  EXPECT_EQ(j.at("spec").at("ports").at(0).at("protocol").as_string(), "http1");
  EXPECT_EQ(j.at("spec").at("ports").at(1).at("protocol").as_string(), "http2");
  json::value l = object_to_json(every_kind()[4]);
  EXPECT_EQ(l.at("apiVersion").as_string(), "multicluster.strait.dev/v1alpha1");
  EXPECT_EQ(l.at("spec").at("probeSpec").at("period").as_string(), "1500ms");
  EXPECT_EQ(l.at("spec").at("probeSpec").at("timeout").as_string(), "250ms");
  EXPECT_EQ(object_to_json(every_kind()[1]).at("spec").at("protocol").as_string(), "opaque");
}

TEST(JsonCodec, ErrorsNameTheFieldPath) {
  json::value j = object_to_json(every_kind()[0]);
  j.at("spec").at("ports").at(1).as_object()["port"] = 70000;
  auto r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_field");
  EXPECT_EQ(r.error().message, "spec.ports[1].port: must be 1..65535, got 70000");

  j = object_to_json(every_kind()[0]);
  j.at("spec").at("ports").at(0).as_object()["targetPort"] = -1;
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "spec.ports[0].targetPort: must be 0..65535, got -1");

  j = object_to_json(every_kind()[0]);
  j.at("spec").as_object()["colour"] = "blue";
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "spec.colour: unknown field");

  j = object_to_json(every_kind()[1]);
  j.at("spec").as_object()["protocol"] = "http3";
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("spec.protocol: must be one of opaque, http1, http2, unknown"),
            std::string::npos)
      << r.error().message;

  j = object_to_json(every_kind()[4]);
  j.at("spec").at("probeSpec").as_object()["period"] = "soon";
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("spec.probeSpec.period:"), std::string::npos)
      << r.error().message;

  j = object_to_json(every_kind()[0]);
  j.at("metadata").at("labels").as_object()["n"] = 3;
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("metadata.labels.n: expected a string"), std::string::npos)
      << r.error().message;

  j = object_to_json(every_kind()[0]);
  j.as_object()["kind"] = "Foo";
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "unknown_kind");

  j = object_to_json(every_kind()[0]);
  j.at("metadata").as_object().erase("name");
  r = object_from_json(j);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().message, "metadata.name: required");
}

// Numbers from another cluster's export stream or an Apply: beyond 64 bits the JSON parser makes
// a double of them, which must be refused as a number, never cast (UBSan: float-cast-overflow).
TEST(JsonCodec, NumbersAreIntegersRangeCheckedNeverDoubles) {
  const char* huge = R"({"apiVersion":"strait.dev/v1alpha1","kind":"Service",
      "metadata":{"name":"web","namespace":"shop","version":18446744073709551616},
      "spec":{"ports":[{"port":80}]}})";
  auto r = object_from_json(json::parse(huge));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "invalid_field");
  EXPECT_NE(r.error().message.find("metadata.version: must be an integer 0..18446744073709551615"),
            std::string::npos)
      << r.error().message;

  for (const char* port : {"80.0", "8e1", "1e300", "-0.0", "65535.5"}) {
    json::value j = object_to_json(every_kind()[0]);
    j.at("spec").at("ports").at(0).as_object()["port"] = json::parse(port);
    auto bad = object_from_json(j);
    ASSERT_FALSE(bad.ok()) << port;
    EXPECT_NE(bad.error().message.find("spec.ports[0].port: must be an integer 1..65535"),
              std::string::npos)
        << port << ": " << bad.error().message;
  }
  // The largest 64-bit version is still fine.
  json::value j = object_to_json(every_kind()[0]);
  j.at("metadata").as_object()["version"] = std::numeric_limits<std::uint64_t>::max();
  auto ok = object_from_json(j);
  ASSERT_TRUE(ok.ok()) << ok.error().to_string();
  EXPECT_EQ(meta_of(*ok).version, std::numeric_limits<std::uint64_t>::max());
}

TEST(JsonCodec, Durations) {
  using std::chrono::milliseconds;
  EXPECT_EQ(format_duration(milliseconds(3000)), "3s");
  EXPECT_EQ(format_duration(milliseconds(120000)), "2m");
  EXPECT_EQ(format_duration(milliseconds(1500)), "1500ms");
  EXPECT_EQ(parse_duration("1m30s"), milliseconds(90000));
  EXPECT_EQ(parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(parse_duration("2h"), milliseconds(7200000));
  EXPECT_FALSE(parse_duration("3"));
  EXPECT_FALSE(parse_duration(""));
  EXPECT_FALSE(parse_duration("-1s"));
}

TEST(JsonCodec, KeysAndEvents) {
  ObjectKey k{Kind::kServer, "shop", "web"};
  auto back = key_from_json(key_to_json(k));
  ASSERT_TRUE(back.ok());
  EXPECT_TRUE(*back == k);
  Event e{Event::Type::kDeleted, every_kind()[3]};
  auto eb = event_from_json(json::parse(json::serialize(event_to_json(e))));
  ASSERT_TRUE(eb.ok()) << eb.error().to_string();
  EXPECT_EQ(eb->type, Event::Type::kDeleted);
  EXPECT_TRUE(eb->object == e.object);
}

}  // namespace
}  // namespace strait::discovery
