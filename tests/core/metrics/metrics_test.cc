// Tests for core/metrics: exact exposition text (prometheus-cpp's TextSerializer) for every family
// type with awkward label values, label sanitizing, help escaping, removal, declaration checks, a
// hot path that does not allocate, promtool's verdict on the exposition, and that the tests'
// exposition reader (tests/support/metric_text.h) reads it back.
#include "core/metrics/metrics.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <new>
#include <stdexcept>
#include <thread>

#include "tests/support/metric_text.h"

// Counts every allocation of the process, so that the hot path can be shown not to allocate
// (prometheus-cpp's allocations go through these too: replacement is program-wide). Backed by
// malloc/free in all the forms a test might pair, which keeps sanitizer builds consistent.
namespace {
std::atomic<long> g_allocations{0};
void* counted_alloc(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  return std::malloc(n ? n : 1);
}
}  // namespace
void* operator new(std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
  if (void* p = counted_alloc(n)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept { return counted_alloc(n); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, const std::nothrow_t&) noexcept { std::free(p); }
void operator delete[](void* p, const std::nothrow_t&) noexcept { std::free(p); }

namespace strait::metrics {
namespace {

using strait::testing::metric_sum;

// Every family type, labels with quotes, backslashes, newlines and invalid UTF-8, help texts with
// a backslash and a newline, NaN and +Inf values, a callback gauge. Declared out of order on
// purpose: families come out sorted by name.
void fill_awkward(Registry& r) {
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
}

// prometheus-cpp's format: NaN is "Nan"; a histogram writes _count and _sum before its buckets;
// numbers have at most 16 significant digits. Label values are escaped by prometheus-cpp; help is
// escaped by us at declaration, since prometheus-cpp prints it verbatim.
TEST(Exposition, GoldenTextForEveryType) {
  Registry r;
  fill_awkward(r);
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
            "proxy_open_connections{peer=\"bad\xEF\xBF\xBDutf8\",tls=\"nan\"} Nan\n"
            "proxy_open_connections{peer=\"h\xC3\xA9llo\",tls=\"false\"} -1.5\n"
            "proxy_open_connections{peer=\"inf\",tls=\"x\"} +Inf\n"
            "proxy_open_connections{peer=\"spiffe://west/ns/a/sa/b\",tls=\"true\"} 3\n"
            "# HELP proxy_request_duration_seconds Request latency.\\nIn seconds.\n"
            "# TYPE proxy_request_duration_seconds histogram\n"
            "proxy_request_duration_seconds_count{direction=\"inbound\"} 0\n"
            "proxy_request_duration_seconds_sum{direction=\"inbound\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"0.005\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"0.1\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"1\"} 0\n"
            "proxy_request_duration_seconds_bucket{direction=\"inbound\",le=\"+Inf\"} 0\n"
            "proxy_request_duration_seconds_count{direction=\"outbound\"} 4\n"
            "proxy_request_duration_seconds_sum{direction=\"outbound\"} 7.601\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"0.005\"} 1\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"0.1\"} 2\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"1\"} 3\n"
            "proxy_request_duration_seconds_bucket{direction=\"outbound\",le=\"+Inf\"} 4\n");
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
            "d_seconds_count 0\nd_seconds_sum 0\n"
            "d_seconds_bucket{le=\"1\"} 0\nd_seconds_bucket{le=\"+Inf\"} 0\n");
}

// How values come out (prometheus-cpp: %g-like with 16 significant digits, so not always the
// shortest round-trip form) — and that bucket bounds are written the same way.
TEST(Exposition, ValueFormatting) {
  Registry r;
  auto& g = r.gauge("v", "V.", {"k"});
  g.with({"a_zero"}).set(0);
  g.with({"b_negative"}).set(-0.25);
  g.with({"c_big"}).set(1e21);
  g.with({"d_sum"}).set(0.1 + 0.2);
  g.with({"e_plus_inf"}).set(std::numeric_limits<double>::infinity());
  g.with({"f_minus_inf"}).set(-std::numeric_limits<double>::infinity());
  g.with({"g_nan"}).set(std::nan(""));
  g.with({"h_tiny"}).set(1e-300);
  r.counter("w_total", "W.").with({}).inc(1ull << 40);
  r.histogram("x_seconds", "X.", {}, {1e-5, 0.0025, 100});
  EXPECT_EQ(r.expose(),
            "# HELP v V.\n# TYPE v gauge\n"
            "v{k=\"a_zero\"} 0\n"
            "v{k=\"b_negative\"} -0.25\n"
            "v{k=\"c_big\"} 1e+21\n"
            "v{k=\"d_sum\"} 0.3\n"
            "v{k=\"e_plus_inf\"} +Inf\n"
            "v{k=\"f_minus_inf\"} -Inf\n"
            "v{k=\"g_nan\"} Nan\n"
            "v{k=\"h_tiny\"} 1e-300\n"
            "# HELP w_total W.\n# TYPE w_total counter\nw_total 1099511627776\n"
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n"
            "x_seconds_count 0\nx_seconds_sum 0\n"
            "x_seconds_bucket{le=\"1e-05\"} 0\nx_seconds_bucket{le=\"0.0025\"} 0\n"
            "x_seconds_bucket{le=\"100\"} 0\nx_seconds_bucket{le=\"+Inf\"} 0\n");
}

TEST(Sanitizing, InvalidUtf8BecomesReplacementCharacters) {
  EXPECT_EQ(sanitize_utf8("a\"b\\c\nd"), "a\"b\\c\nd");  // no escaping: that is the serializer's
  EXPECT_EQ(sanitize_utf8("\xE2\x82\xAC ok"), "\xE2\x82\xAC ok");                    // valid 3-byte
  EXPECT_EQ(sanitize_utf8("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");                  // valid 4-byte
  EXPECT_EQ(sanitize_utf8("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");                  // overlong
  EXPECT_EQ(sanitize_utf8("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(sanitize_utf8("cut\xE2\x82"), "cut\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8("\xFF"), "\xEF\xBF\xBD");
  EXPECT_EQ(sanitize_utf8(""), "");
}

TEST(Sanitizing, LabelSetsAreKeyedBySanitizedValues) {
  Registry r;
  auto& c = r.counter("s_total", "S.", {"peer"});
  c.with({"bad\xFF"}).inc();
  c.with({"bad\xFE"}).inc();  // the same label set once sanitized
  EXPECT_EQ(c.with({"bad\xEF\xBF\xBD"}).value(), 2u);
  EXPECT_EQ(r.expose(),
            "# HELP s_total S.\n# TYPE s_total counter\ns_total{peer=\"bad\xEF\xBF\xBD\"} 2\n");
  EXPECT_TRUE(c.remove({"bad\xFF"}));
  EXPECT_EQ(r.expose(), "");
}

TEST(Families, RemoveForgetsLabelSetButHandlesStayUsable) {
  Registry r;
  auto& alive = r.gauge("gateway_alive", "Gateway health.", {"target_cluster"});
  Gauge east = alive.with({"east"});
  alive.with({"north"}).set(1);
  east.set(1);
  Counter gone = r.counter("gone_total", "G.", {"k"}).with({"x"});
  Histogram h = r.histogram("gone_seconds", "G.", {"k"}, {1}).with({"x"});
  EXPECT_TRUE(alive.remove({"east"}));
  EXPECT_FALSE(alive.remove({"east"}));
  EXPECT_TRUE(r.counter("gone_total", "G.", {"k"}).remove({"x"}));
  EXPECT_TRUE(r.histogram("gone_seconds", "G.", {"k"}, {1}).remove({"x"}));
  east.inc();  // must not crash; just not exported
  gone.inc();
  h.observe(0.5);
  EXPECT_DOUBLE_EQ(east.value(), 2);
  EXPECT_EQ(gone.value(), 1u);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(r.expose(),
            "# HELP gateway_alive Gateway health.\n# TYPE gateway_alive gauge\n"
            "gateway_alive{target_cluster=\"north\"} 1\n");
  EXPECT_TRUE(alive.remove({"north"}));
  EXPECT_EQ(r.expose(), "");
  // The label set again: a fresh cell, the removed handle's updates stay out.
  alive.with({"east"});
  EXPECT_NE(r.expose().find("gateway_alive{target_cluster=\"east\"} 0\n"), std::string::npos);
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
  auto& f = r.gauge("conns", "C.", {"listener"});
  f.with_callback({"admin"}, [&] { return open; });
  EXPECT_NE(r.expose().find("conns{listener=\"admin\"} 1\n"), std::string::npos);
  open = 7;
  EXPECT_NE(r.expose().find("conns{listener=\"admin\"} 7\n"), std::string::npos);
  f.with({"admin"}).set(2);  // a plain value replaces the callback
  EXPECT_NE(r.expose().find("conns{listener=\"admin\"} 2\n"), std::string::npos);
  // An unlabelled gauge declared again keeps its callback.
  r.gauge("up", "U.").with_callback({}, [] { return 1.0; });
  r.gauge("up", "U.");
  EXPECT_NE(r.expose().find("\nup 1\n"), std::string::npos);
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
  // Buckets, +Inf and _count agree.
  auto text = r.expose();
  EXPECT_NE(text.find("h_seconds_count 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_bucket{le=\"1\"} 40000\n"), std::string::npos) << text;
  EXPECT_NE(text.find("h_seconds_bucket{le=\"+Inf\"} 40000\n"), std::string::npos) << text;
}

TEST(HotPath, UpdatesThroughHandlesDoNotAllocate) {
  Registry r;
  Counter c = r.counter("p_total", "P.", {"k"}).with({"a"});
  Gauge g = r.gauge("p", "P.", {"k"}).with({"a"});
  Histogram h = r.histogram("p_seconds", "P.", {"k"}).with({"a"});
  long before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    c.inc();
    c.inc(3);
    g.set(i);
    g.inc();
    g.dec(0.5);
    h.observe(i * 0.001);
  }
  long after = g_allocations.load();
  EXPECT_EQ(after - before, 0);
  EXPECT_EQ(c.value(), 4000u);
  // The counting is live: a new label set does allocate.
  r.counter("p_total", "P.", {"k"}).with({"b"});
  EXPECT_GT(g_allocations.load(), after);
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
  EXPECT_THROW(r.gauge("bad-name", "bad name"), std::invalid_argument);
  EXPECT_THROW(r.gauge("", "no name"), std::invalid_argument);
  EXPECT_THROW(r.gauge("g", "G.", {"__reserved"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("g", "G.", {"a:b"}), std::invalid_argument);
  EXPECT_THROW(r.gauge("g2", "G.", {"a", "a"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {"le"}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {}, {2, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {}, {1, 1}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {}, {}), std::invalid_argument);
  EXPECT_THROW(r.histogram("h", "H.", {}, {1, std::numeric_limits<double>::infinity()}),
               std::invalid_argument);
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

// The parser the other tests use reads prometheus-cpp's output: escapes, "Nan", "+Inf", large
// integers, histogram series.
TEST(MetricText, ReadsTheExposition) {
  Registry r;
  fill_awkward(r);
  r.counter("big_total", "B.").with({}).inc(1ull << 40);
  const std::string text = r.expose();
  EXPECT_EQ(metric_sum(text, "admin_requests_refused_total"), 3);
  EXPECT_EQ(metric_sum(text, "admin_requests_refused_total",
                       {{"reason", "quote\" back\\slash\nnewline"}}),
            1);
  EXPECT_EQ(metric_sum(text, "proxy_open_connections", {{"peer", "h\xC3\xA9llo"}}), -1.5);
  EXPECT_TRUE(
      std::isnan(metric_sum(text, "proxy_open_connections", {{"peer", "bad\xEF\xBF\xBDutf8"}})));
  EXPECT_TRUE(std::isnan(metric_sum(text, "proxy_open_connections", {{"tls", "nan"}})));
  EXPECT_EQ(metric_sum(text, "proxy_open_connections", {{"peer", "inf"}}),
            std::numeric_limits<double>::infinity());
  EXPECT_EQ(metric_sum(text, "proxy_cert_expiry_seconds"), 3600.5);
  EXPECT_EQ(metric_sum(text, "proxy_request_duration_seconds_bucket",
                       {{"direction", "outbound"}, {"le", "+Inf"}}),
            4);
  EXPECT_EQ(metric_sum(text, "proxy_request_duration_seconds_bucket",
                       {{"direction", "outbound"}, {"le", "0.1"}}),
            2);
  EXPECT_EQ(metric_sum(text, "proxy_request_duration_seconds_count"), 4);
  EXPECT_DOUBLE_EQ(metric_sum(text, "proxy_request_duration_seconds_sum"), 7.601);
  EXPECT_EQ(metric_sum(text, "big_total"), 1099511627776.0);
  EXPECT_EQ(metric_sum(text, "proxy_request_duration_seconds"), -1);  // no such series
  EXPECT_EQ(metric_sum(text, "admin_requests_refused_total", {{"reason", "nope"}}), -1);
}

// Runs `promtool check metrics` on `exposition` (stdin, from a file); returns its exit code and
// appends what it said to `report`.
int promtool_check(const std::string& exposition, std::string& report) {
  const std::string promtool = STRAIT_PROMTOOL;
  const std::string file =
      ::testing::TempDir() + "strait_metrics_test_" + std::to_string(::getpid()) + ".txt";
  std::ofstream(file, std::ios::binary) << exposition;
  const std::string cmd = "\"" + promtool + "\" check metrics < \"" + file + "\" 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) report.append(buf, n);
  int status = ::pclose(p);
  std::remove(file.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(Promtool, AcceptsTheExpositionOfEveryFamilyType) {
  const std::string promtool = STRAIT_PROMTOOL;
  ASSERT_FALSE(promtool.empty() || promtool.ends_with("NOTFOUND"))
      << "promtool not found (Debian package prometheus, see scripts/install-deps.sh)";

  Registry r;
  fill_awkward(r);
  auto& more = r.gauge("test_values", "Odd values: \xFF invalid UTF-8 in help, \\ and \"quotes\".",
                       {"what"});
  more.with({"minus-inf"}).set(-std::numeric_limits<double>::infinity());
  more.with({"tiny"}).set(1e-300);
  more.with({"{braces}=,comma \"q\" \\\\ \n\n"}).set(1);
  more.with({"cut\xE2\x82"}).set(2);
  more.with({"gone"}).set(3);
  more.remove({"gone"});
  r.counter("test_big_total", "Large counts.").with({}).inc(1ull << 52);
  const std::string text = r.expose();
  ASSERT_NE(text.find("\n# TYPE proxy_request_duration_seconds histogram\n"), std::string::npos);

  std::string report;
  EXPECT_EQ(promtool_check(text, report), 0) << "promtool check metrics failed:\n"
                                             << report << "\n--- exposition:\n"
                                             << text;

  // promtool is a real judge: a broken exposition fails, and so does invalid UTF-8 in a label.
  report.clear();
  EXPECT_NE(promtool_check("# TYPE x counter\nx{a=\"unterminated} 1\n", report), 0) << report;
  report.clear();
  EXPECT_NE(
      promtool_check("# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"\xFF\"} 1\n", report),
      0)
      << report;
}

}  // namespace
}  // namespace strait::metrics
