// dev run's command line, the Service it applies and the names it prints (the end-to-end run is
// in dev_test.cc).
#include "cli/dev/dev_run.h"

#include <gtest/gtest.h>

#include "core/discovery/manifest.h"

namespace strait::cli::dev {
namespace {

Result<RunRequest> parse(std::vector<std::string> words) {
  auto args =
      Args::parse(words, {"namespace", "service", "port", "export"}, {}, {{"n", "namespace"}});
  if (!args) return args.error();
  return parse_run(*args);
}

std::string error_of(std::vector<std::string> words) {
  auto r = parse(std::move(words));
  return r ? "(parsed)" : r.error().message;
}

TEST(DevRun, ParsesTheCommandAfterTheDashes) {
  auto r = parse({"dev", "run", "east/db", "-n", "data", "--service", "db", "--port", "6379,16379",
                  "--export", "federated", "--", "redis-server", "--port", "6379"});
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(r->cluster, "east");
  EXPECT_EQ(r->pod, "db");
  EXPECT_EQ(r->ns, "data");
  EXPECT_EQ(r->service, "db");
  EXPECT_EQ(r->ports, (std::vector<std::uint16_t>{6379, 16379}));
  EXPECT_EQ(r->exported, "federated");
  EXPECT_EQ(r->command, (std::vector<std::string>{"redis-server", "--port", "6379"}));
  auto plain = parse({"dev", "run", "west/job", "--", "sleep", "60"});
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->ns, "default");
  EXPECT_TRUE(plain->service.empty());
}

TEST(DevRun, EachMistakeHasItsOwnError) {
  EXPECT_NE(error_of({"dev", "run", "east/db"}).find("usage: straitctl dev run"),
            std::string::npos);
  EXPECT_NE(error_of({"dev", "run", "db", "--", "x"}).find("usage"), std::string::npos);
  EXPECT_NE(error_of({"dev", "run", "east/Db", "--", "x"}).find("pod name \"Db\""),
            std::string::npos);
  EXPECT_NE(error_of({"dev", "run", "east/ctrl", "--", "x"}).find("not ctrl or gw"),
            std::string::npos);
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--service", "a", "--", "x"}),
            "--service needs --port: the ports the command serves");
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--service", "a", "--port", "80,x", "--", "x"}),
            "--port: \"x\" is not a port (1..65535)");
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--service", "a", "--port", "80,,81", "--", "x"}),
            "--port: \"\" is not a port (1..65535)");
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--service", "a", "--port", "80,80", "--", "x"}),
            "--port: 80 given twice");
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--service", "a", "--port", "0", "--", "x"}),
            "--port: \"0\" is not a port (1..65535)");
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--port", "80", "--export", "flat", "--", "x"}),
            "--export needs --service: a service is what is exported");
  EXPECT_EQ(error_of({"dev", "run", "east/a", "--service", "a", "--port", "80", "--export", "mesh",
                      "--", "x"}),
            "--export must be gateway, flat or federated");
}

TEST(DevRun, TheManifestIsAValidServiceWithItsExport) {
  auto r = parse({"dev", "run", "east/db", "--service", "db", "--port", "6379,16379", "--export",
                  "gateway", "--", "x"});
  ASSERT_TRUE(r.ok());
  auto objects = discovery::parse_manifests(run_manifest(*r), "east");
  ASSERT_TRUE(objects.ok()) << objects.error().to_string() << "\n" << run_manifest(*r);
  ASSERT_EQ(objects->size(), 1u);
  const auto& s = std::get<discovery::Service>((*objects)[0]);
  EXPECT_EQ(s.meta.name, "db");
  EXPECT_EQ(s.meta.ns, "default");
  EXPECT_EQ(s.meta.labels.at("mirror.strait.dev/exported"), "true");
  ASSERT_EQ(s.ports.size(), 2u);
  EXPECT_EQ(s.ports[1].name, "tcp-16379");
  EXPECT_EQ(s.ports[1].port, 16379);

  r->exported = "flat";
  objects = discovery::parse_manifests(run_manifest(*r), "east");
  ASSERT_TRUE(objects.ok());
  EXPECT_EQ(
      std::get<discovery::Service>((*objects)[0]).meta.labels.at("mirror.strait.dev/exported"),
      "remote-discovery");

  r->exported = "federated";  // MCS: a ServiceExport beside it, no label
  objects = discovery::parse_manifests(run_manifest(*r), "east");
  ASSERT_TRUE(objects.ok()) << objects.error().to_string();
  ASSERT_EQ(objects->size(), 2u);
  EXPECT_FALSE(std::get<discovery::Service>((*objects)[0])
                   .meta.labels.contains("mirror.strait.dev/exported"));
  EXPECT_EQ(std::get<discovery::ServiceExport>((*objects)[1]).meta.name, "db");
}

TEST(DevRun, NamesInEveryCluster) {
  auto r = parse({"dev", "run", "east/db", "--service", "db", "--port", "6379", "--export",
                  "gateway", "--", "x"});
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(run_names(*r, {"east", "west", "north"}),
            (std::vector<std::string>{"in east: db.default (db.default.svc.cluster.local)",
                                      "in west: db-east.default (gateway)",
                                      "in north: db-east.default (gateway)"}));
  r->exported = "federated";
  auto names = run_names(*r, {"east", "west"});
  ASSERT_EQ(names.size(), 2u);
  EXPECT_NE(names[1].find("db.default.svc.clusterset.local"), std::string::npos);
  r->exported.clear();
  EXPECT_EQ(run_names(*r, {"east", "west"}).size(), 1u);
}

}  // namespace
}  // namespace strait::cli::dev
