// Tests for core/config: YAML + flag overlay, typed getters and the wording of their errors.
#include "core/config/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace strait::config {
namespace {

using namespace std::chrono_literals;

constexpr const char* kYaml = R"(
cluster:
  name: west
  domain: cluster.local
identity:
  trustDomain: west.example
  certLifetime: 24h
  renewFraction: 70
  enabled: true
admin:
  port: 9990
dns:
  upstreams: [1.1.1.1, 9.9.9.9]
  nested:
    - a
    - {b: c}
empty:
)";

Config load() {
  auto c = Config::from_yaml(kYaml, "test.yaml");
  EXPECT_TRUE(c.ok()) << c.error().to_string();
  return std::move(*c);
}

std::vector<std::string> args(std::initializer_list<const char*> a) { return {a.begin(), a.end()}; }

TEST(Config, TypedGettersReadYaml) {
  Config c = load();
  EXPECT_EQ(*c.get_string("cluster.name"), "west");
  EXPECT_EQ(*c.get_int("admin.port"), 9990);
  EXPECT_EQ(*c.get_bool("identity.enabled"), true);
  EXPECT_EQ(*c.get_duration("identity.certLifetime", 1s), 24h);
  EXPECT_EQ(*c.get_string_list("dns.upstreams"), (std::vector<std::string>{"1.1.1.1", "9.9.9.9"}));
  EXPECT_EQ(*c.require_string("identity.trustDomain"), "west.example");
  EXPECT_TRUE(c.has("cluster"));
  EXPECT_FALSE(c.has("empty"));
}

TEST(Config, DefaultsForMissingPaths) {
  Config c = load();
  EXPECT_EQ(*c.get_string("cluster.zone", "z1"), "z1");
  EXPECT_EQ(*c.get_int("nope.port", 4191), 4191);
  EXPECT_EQ(*c.get_bool("empty", true), true);                // null counts as missing
  EXPECT_EQ(*c.get_duration("cluster.name.deeper", 3s), 3s);  // a path through a scalar is missing
  EXPECT_EQ(*c.get_string_list("x", {"d"}), std::vector<std::string>{"d"});
}

TEST(Config, FlagsOverlayYamlBothSyntaxes) {
  Config c = load();
  auto r = c.apply_flags(
      args({"--cluster.name=east", "pos1", "--admin.port", "4191", "--identity.enabled=false",
            "--new.deep.key", "v", "--verbose", "--", "--not-a-flag"}));
  ASSERT_TRUE(r.ok()) << r.error().to_string();
  EXPECT_EQ(*c.get_string("cluster.name"), "east");
  EXPECT_EQ(*c.get_string("cluster.domain"), "cluster.local");  // siblings survive
  EXPECT_EQ(*c.get_int("admin.port"), 4191);
  EXPECT_EQ(*c.get_bool("identity.enabled"), false);
  EXPECT_EQ(*c.get_string("new.deep.key"), "v");
  EXPECT_EQ(*c.get_bool("verbose"), true);
  EXPECT_EQ(c.positional(), args({"pos1", "--not-a-flag"}));
  EXPECT_EQ(c.flags(),
            args({"cluster.name", "admin.port", "identity.enabled", "new.deep.key", "verbose"}));
}

TEST(Config, FlagListAndDurationValues) {
  Config c = load();
  ASSERT_TRUE(
      c.apply_flags(args({"--dns.upstreams=8.8.8.8, 8.8.4.4", "--identity.certLifetime=1h30m"}))
          .ok());
  EXPECT_EQ(*c.get_string_list("dns.upstreams"), (std::vector<std::string>{"8.8.8.8", "8.8.4.4"}));
  EXPECT_EQ(*c.get_duration("identity.certLifetime", 0ms), 90min);
}

TEST(Config, ErrorsNameThePathAndExpectation) {
  Config c = load();
  ASSERT_TRUE(c.apply_flags(args({"--identity.certLifetime=abc", "--admin.port=99x"})).ok());
  auto d = c.get_duration("identity.certLifetime", 1s);
  ASSERT_FALSE(d.ok());
  EXPECT_EQ(d.error().code, "config_invalid");
  EXPECT_EQ(d.error().message,
            "identity.certLifetime: expected a duration like \"24h\", got \"abc\"");

  auto p = c.get_int("admin.port");
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.error().message, "admin.port: expected an integer, got \"99x\"");

  auto b = c.get_bool("cluster.name");
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.error().message, "cluster.name: expected true or false, got \"west\"");

  auto s = c.get_string("cluster");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().message, "cluster: expected a string, got a map");

  auto l = c.get_string_list("dns.nested");
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.error().message, "dns.nested[1]: expected a string, got a map");

  auto req = c.require_string("identity.issuer");
  ASSERT_FALSE(req.ok());
  EXPECT_EQ(req.error().code, "config_missing");
  EXPECT_EQ(req.error().message.rfind("identity.issuer: required, expected a string", 0), 0u)
      << req.error().message;
}

TEST(Config, Durations) {
  EXPECT_EQ(*parse_duration("500ms"), 500ms);
  EXPECT_EQ(*parse_duration("3s"), 3s);
  EXPECT_EQ(*parse_duration("1m"), 1min);
  EXPECT_EQ(*parse_duration("24h"), 24h);
  EXPECT_EQ(*parse_duration("1.5s"), 1500ms);
  EXPECT_EQ(*parse_duration("0"), 0ms);
  for (const char* bad : {"", "30", "3x", "s", "-1s", "1h-", "ms5", "1e3s", "99999999999999999h"}) {
    EXPECT_FALSE(parse_duration(bad).ok()) << bad;
  }
}

TEST(Config, UnknownFlagsOnlyWhenAsked) {
  Config c = load();
  ASSERT_TRUE(c.apply_flags(args({"--admin.port=1", "--cluster.nmae=typo"})).ok());
  EXPECT_TRUE(c.check_known({"admin", "cluster.name"}).ok() == false);
  auto r = c.check_known({"admin", "cluster.name"});
  EXPECT_EQ(r.error().code, "config_unknown_flag");
  EXPECT_EQ(r.error().message, "unknown flag --cluster.nmae (known: --admin, --cluster.name)");
  EXPECT_TRUE(c.check_known({"admin", "cluster"}).ok());
  // A prefix must end at a dot: "admin" does not admit "adminx".
  ASSERT_TRUE(c.apply_flags(args({"--adminx=1"})).ok());
  EXPECT_FALSE(c.check_known({"admin", "cluster"}).ok());
}

TEST(Config, BadFlagsAndYaml) {
  Config c = load();
  auto r = c.apply_flags(args({"--a..b=1"}));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "config_flag");
  auto r2 = c.apply_flags(args({"--cluster.name.sub=1"}));  // cluster.name is a scalar
  ASSERT_FALSE(r2.ok());
  EXPECT_NE(r2.error().message.find("cluster.name to be a map"), std::string::npos)
      << r2.error().message;

  auto y = Config::from_yaml("a: [1, 2\nb: c", "broken.yaml");
  ASSERT_FALSE(y.ok());
  EXPECT_EQ(y.error().code, "config_parse");
  EXPECT_EQ(y.error().message.rfind("broken.yaml:", 0), 0u) << y.error().message;
  EXPECT_FALSE(Config::from_yaml("- a\n- b\n").ok());
  EXPECT_TRUE(Config::from_yaml("").ok());
}

TEST(Config, FromArgsLoadsConfigFileThenFlags) {
  char path[] = "/tmp/strait-config-test-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  ::close(fd);
  { std::ofstream(path) << kYaml; }
  auto c = Config::from_args(args({"serve", "--admin.port=1234", "--config", path}));
  std::remove(path);
  ASSERT_TRUE(c.ok()) << c.error().to_string();
  EXPECT_EQ(*c->get_int("admin.port"), 1234);  // flags win regardless of order
  EXPECT_EQ(*c->get_string("cluster.name"), "west");
  EXPECT_EQ(c->positional(), args({"serve"}));
  EXPECT_TRUE(c->check_known({"admin.port"}).ok());  // --config is always known

  auto missing = Config::from_args(args({"--config=/nonexistent/strait.yaml"}));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, "config_file");
  EXPECT_NE(missing.error().message.find("/nonexistent/strait.yaml"), std::string::npos);
}

TEST(Config, CopiesAreIndependent) {
  Config a = load();
  Config b = a;
  ASSERT_TRUE(b.apply_flags(args({"--cluster.name=copy"})).ok());
  EXPECT_EQ(*a.get_string("cluster.name"), "west");
  EXPECT_EQ(*b.get_string("cluster.name"), "copy");
  Config c;
  c = b;
  ASSERT_TRUE(c.apply_flags(args({"--cluster.name=third"})).ok());
  EXPECT_EQ(*b.get_string("cluster.name"), "copy");
  YAML::Node sub = a.subtree("cluster");
  sub["name"] = "mutated";
  EXPECT_EQ(*a.get_string("cluster.name"), "west");
}

}  // namespace
}  // namespace strait::config
