// Tests for core/metrics: exact exposition text for every family type with awkward label values,
// escaping, float formatting, removal, and declaration checks.
#include "core/metrics/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <thread>

namespace strait::metrics {
namespace {

TEST(Exposition, GoldenTextForEveryType) {
  Registry r;
  // Declared out of order on purpose: families come out sorted by name.
  auto& lat = r.histogram("proxy_request_duration_seconds", "Request latency.\nIn seconds.",
                          {"direction"}, {0.005, 0.1, 1});
  auto& conns = r.gauge("proxy_open_connections", "Open connections, by peer.", {"peer", "tls"});
  auto& refused =
      r.counter("admin_requests_refused_total", "Requests refused, by C:\\reason.", {"reason"});
  r.gauge("proxy_cert_expiry_seconds", "Seconds until the certificate expires.")
      .with_callback({}, [] { return 3600.5; });

  refused.with({"header_too_large"}).inc(2);
  refused.with({"quote\" back\\slash\nnewline"}).inc();
  refused.with({""}).inc(0);
  conns.with({"spiffe://west/ns/a/sa/b", "true"}).set(3);
  conns.with({"h\xC3\xA9llo", "false"}).set(-1.5);
  conns
      .with({"bad\xFF"
             "utf8",
             "nan"})
      .set(std::numeric_limits<double>::quiet_NaN());
  conns.with({"inf", "x"}).set(std::numeric_limits<double>::infinity());
  auto out = lat.with({"outbound"});
  out.observe(0.001);
  out.observe(0.1);  // bounds are inclusive
  out.observe(0.5);
  out.observe(7);
  out.observe(std::numeric_limits<double>::quiet_NaN());  // ignored
  lat.with({"inbound"});

  EXPECT_EQ(r.expose(),
            "# HELP admin_requests_refused_total Requests refused, by C:\\\\reason.\n"
            "# TYPE admin_requests_refused_total counter\n"
            "admin_requests_refused_total{reason=\"\"} 0\n"
            "admin_requests_refused_total{reason=\"header_too_large\"} 2\n"
            "admin_requests_refused_total{reason=\"quote\\\" back\\\\slash\\nnewline\"} 1\n"
            "# HELP proxy_cert_expiry_seconds Seconds until the certificate expires.\n"
            "# TYPE proxy_cert_expiry_seconds gauge\n"
            "proxy_cert_expiry_seconds 3600.5\n"
            "# HELP proxy_open_connections Open connections, by peer.\n"
            "# TYPE proxy_open_connections gauge\n"
            "proxy_open_connections{peer=\"bad\xEF\xBF\xBDutf8\",tls=\"nan\"} NaN\n"
            "proxy_open_connections{peer=\"h\xC3\xA9llo\",tls=\"false\"} -1.5\n"
            "proxy_open_connections{peer=\"inf\",tls=\"x\"} +Inf\n"
            "proxy_open_connections{peer=\"spiffe://west/ns/a/sa/b\",tls=\"true\"} 3\n"
            "# HELP proxy_request_duration_seconds Request latency.\\nIn seconds.\n"
            "# TYPE proxy_request_duration_seconds histogram\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"0.005\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"0.1\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"1\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"+Inf\"} 0\n"
            "proxy_request_duration_seconds_sum{direction=\"inbound\"} 0\n"
            "proxy_request_duration_seconds_count{direction=\"inbound\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"0.005\"} 1\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"0.1\"} 2\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"1\"} 3\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"+Inf\"} 4\n"
            "proxy_request_duration_seconds_sum{direction=\"outbound\"} 7.601\n"
            "proxy_request_duration_seconds_count{direction=\"outbound\"} 4\n");
}

TEST(Exposition, UnlabelledFamiliesExistFromDeclarationAndEmptyOnesAreOmitted) {
  Registry r;
  r.counter("a_total", "A.");
  r.gauge("b", "B.");
  r.gauge("c_by_peer", "C.", {"peer"});  // no label set yet: left out
  r.histogram("d_seconds", "D.", {}, {1});
  EXPECT_EQ(r.expose(),
            "# HELP a_total A.\n# TYPE a_total counter\na_total 0\n"
            "# HELP b B.\n# TYPE b gauge\nb 0\n"
            "# HELP d_seconds D.\n# TYPE d_seconds histogram\n"
            "d_seconds_bucket{le=\"1\"} 0\nd_seconds_bucket{le=\"+Inf\"} 0\nd_seconds_sum "
            "0\nd_seconds_count 0\n");
}

TEST(Exposition, FormatValue) {
  EXPECT_EQ(format_value(0), "0");
  EXPECT_EQ(format_value(-0.25), "-0.25");
  EXPECT_EQ(format_value(1e21), "1e+21");
  EXPECT_EQ(format_value(0.1 + 0.2), "0.30000000000000004");
  EXPECT_EQ(format_value(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(format_value(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(format_value(std::nan("")), "NaN");
}

TEST(Exposition, Escaping) {
  EXPECT_EQ(escape_label_value("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
  EXPECT_EQ(escape_help("a\"b\\c\nd"), "a\"b\\\\c\\nd");
  EXPECT_EQ(escape_label_value("\xE2\x82\xAC ok"), "\xE2\x82\xAC ok");    // valid 3-byte
  EXPECT_EQ(escape_label_value("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // overlong
  EXPECT_EQ(escape_label_value("\xED\xA0\x80"),
            "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(escape_label_value("cut\xE2\x82"), "cut\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST(Families, RemoveForgetsLabelSetButHandlesStayUsable) {
  Registry r;
  auto& alive = r.gauge("gateway_alive", "Gateway health.", {"target_cluster"});
  Gauge east = alive.with({"east"});
  alive.with({"north"}).set(1);
  east.set(1);
  EXPECT_TRUE(alive.remove({"east"}));
  EXPECT_FALSE(alive.remove({"east"}));
  east.inc();  // must not crash; just not exported
  EXPECT_EQ(r.expose(),
            "# HELP gateway_alive Gateway health.\n# TYPE gateway_alive gauge\n"
            "gateway_alive{target_cluster=\"north\"} 1\n");
  EXPECT_TRUE(alive.remove({"north"}));
  EXPECT_EQ(r.expose(), "");
}

TEST(Families, HandlesShareCellsAndGaugeMath) {
  Registry r;
  auto& c = r.counter("x_total", "X.", {"k"});
  c.with({"a"}).inc();
  c.with({"a"}).inc(4);
  EXPECT_EQ(c.with({"a"}).value(), 5u);
  Gauge g = r.gauge("g", "G.").with({});
  g.inc(2);
  g.dec(0.5);
  EXPECT_DOUBLE_EQ(g.value(), 1.5);
  Histogram h = r.histogram("h_seconds", "H.", {}, {1, 2}).with({});
  h.observe(1.5);
  h.observe(3);
  EXPECT_EQ(h.count(), 2u);
  EXPECT_DOUBLE_EQ(h.sum(), 4.5);
}

TEST(Families, CallbackGaugeEvaluatedAtScrape) {
  Registry r;
  int open = 1;
  r.gauge("conns", "C.", {"listener"}).with_callback({"admin"}, [&] { return open; });
  EXPECT_NE(r.expose().find("conns{listener=\"admin\"} 1\n"), std::string::npos);
  open = 7;
  EXPECT_NE(r.expose().find("conns{listener=\"admin\"} 7\n"), std::string::npos);
}

TEST(Families, ConcurrentUpdatesAreNotLost) {
  Registry r;
  Counter c = r.counter("n_total", "N.").with({});
  Histogram h = r.histogram("h_seconds", "H.", {}, {1}).with({});
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        c.inc();
        h.observe(0.5);
        if (i % 1000 == 0) (void)r.expose();
      }
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(c.value(), 40000u);
  EXPECT_EQ(h.count(), 40000u);
  EXPECT_DOUBLE_EQ(h.sum(), 20000);
}

TEST(Declaration, ChecksAndIdempotence) {
  Registry r;
  auto& a = r.counter("req_total", "R.", {"code"});
  EXPECT_EQ(&a, &r.counter("req_total", "R.", {"code"}));  // same declaration twice: same family
  EXPECT_THROW(r.counter("req_total", "R.", {"other"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("req_total", "R."), std::invalid_argument);
  EXPECT_THROW(r.counter("requests", "no _total"), std::invalid_argument);
  EXPECT_THROW(r.gauge("open_total", "gauge ending in _total"), std::invalid_argument);
  EXPECT_THROW(r.gauge("9lives", "bad name"), std::invalid_argument);
  EXPECT_THROW(r.gauge("g", "G.", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("g2", "G.", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {}, {2, 1}), std::invalid_argument);
  r.histogram("lat", "L.", {}, {1});
  EXPECT_THROW(r.histogram("lat", "L.", {}, {2}), std::invalid_argument);
  EXPECT_THROW(r.gauge("lat_count", "clashes with the histogram"), std::invalid_argument);
  r.gauge("q_sum", "Q.");
  EXPECT_THROW(r.histogram("q", "Q.", {}, {1}), std::invalid_argument);
}

TEST(DeclarationDeathTest, WrongNumberOfLabelValuesAborts) {
  Registry r;
  auto& f = r.counter("c_total", "C.", {"a", "b"});
  EXPECT_DEATH(f.with({"only-one"}), "2 label values expected, got 1");
}

}  // namespace
}  // namespace strait::metrics
