// ExportIndex: what a linked cluster's subscription is sent as local Services, Endpoints and
// ServiceExports change (no gRPC: the sink is a vector).
#include "controlplane/export/export_index.h"

#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "core/discovery/json_codec.h"

namespace strait::controlplane {
namespace {
namespace ev = exports::v1;
using discovery::Event;

discovery::Service service(const std::string& name, discovery::Labels labels = {}) {
  discovery::Service s;
  s.meta.ns = "shop";
  s.meta.name = name;
  s.meta.labels = std::move(labels);
  s.cluster_ip = "198.19.0.9";
  s.ports.push_back({.name = "http", .port = 80});
  return s;
}

discovery::ServiceExport service_export(const std::string& name) {
  discovery::ServiceExport x;
  x.meta.ns = "shop";
  x.meta.name = name;
  return x;
}

discovery::Endpoint endpoint(const std::string& service, const std::string& ip) {
  discovery::Endpoint e;
  e.meta.ns = "shop";
  e.meta.name = service + "-" + ip;
  e.service = service;
  e.address = ip;
  e.port = 8080;
  return e;
}

class ExportIndexTest : public ::testing::Test {
 protected:
  void subscribe() {
    ev::WatchExports w;
    (*w.mutable_federated_selector())["mirror.strait.dev/federated"] = "member";
    (*w.mutable_selector())["mirror.strait.dev/exported"] = "true";
    index.subscribe(index.reserve_id(), "west", w, [this](ev::ExportEvent e) {
      sent.push_back(std::move(e));
      return true;
    });
  }
  void add(discovery::Object o) { index.apply({Event::Type::kAdded, std::move(o)}); }
  void remove(discovery::Object o) { index.apply({Event::Type::kDeleted, std::move(o)}); }
  // "exported <name> [label]" / "unexported <name>" / "synced" for each event sent.
  std::vector<std::string> drain() {
    std::vector<std::string> out;
    for (const auto& e : sent) {
      if (e.has_synced()) {
        out.push_back("synced");
      } else if (e.has_unexported()) {
        out.push_back("unexported " + e.unexported().name());
      } else {
        auto s = discovery::object_from_json(boost::json::parse(e.exported().service_json()));
        EXPECT_TRUE(s.ok());
        const auto& svc = std::get<discovery::Service>(*s);
        auto label = svc.meta.labels.find("mirror.strait.dev/federated");
        out.push_back("exported " + svc.meta.name +
                      (label == svc.meta.labels.end() ? "" : " " + label->second) + " " +
                      std::to_string(e.exported().endpoints_json_size()));
      }
    }
    sent.clear();
    return out;
  }

  ExportIndex index;
  std::vector<ev::ExportEvent> sent;
};

TEST_F(ExportIndexTest, AServiceExportExportsItsServiceAsAFederatedMember) {
  add(service("db"));
  add(endpoint("db", "10.0.0.1"));
  subscribe();
  EXPECT_EQ(drain(), (std::vector<std::string>{"synced"}));  // no label, no ServiceExport
  add(service_export("db"));
  EXPECT_EQ(drain(), (std::vector<std::string>{"exported db member 1"}));
  add(endpoint("db", "10.0.0.2"));
  EXPECT_EQ(drain(), (std::vector<std::string>{"exported db member 2"}));
  // A ServiceExport before its Service: exported once the Service comes.
  add(service_export("cache"));
  EXPECT_EQ(drain(), (std::vector<std::string>{}));
  add(service("cache"));
  EXPECT_EQ(drain(), (std::vector<std::string>{"exported cache member 0"}));
  // Deleting the ServiceExport unexports; a label still exports without it.
  remove(service_export("db"));
  EXPECT_EQ(drain(), (std::vector<std::string>{"unexported db"}));
  add(service("db", {{"mirror.strait.dev/exported", "true"}}));
  EXPECT_EQ(drain(), (std::vector<std::string>{"exported db 2"}));
  remove(service("cache"));
  EXPECT_EQ(drain(), (std::vector<std::string>{"unexported cache"}));
}

TEST_F(ExportIndexTest, MirrorsAreNeverExportedEvenWithAServiceExport) {
  auto mirror = service("web-east");
  mirror.meta.owner = "link:east";
  add(mirror);
  add(service_export("web-east"));
  subscribe();
  EXPECT_EQ(drain(), (std::vector<std::string>{"synced"}));
}

}  // namespace
}  // namespace strait::controlplane
