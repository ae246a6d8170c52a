// Tests for core/log: logfmt escaping, the line layout, levels and whole-line writes.
#include "core/log/log.h"

#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace strait::log {
namespace {

// 2026-11-26T06:00:00.123Z
constexpr std::int64_t kTs = 1795672800123;

std::string value_of(std::string_view text) {
  std::string out;
  append_value(out, text);
  return out;
}

TEST(LogFormat, LineLayout) {
  EXPECT_EQ(
      format_line(kTs, Level::info, "proxy", "listening", {{"port", 4140}, {"addr", "0.0.0.0"}}),
      "ts=2026-11-26T06:00:00.123Z level=info component=proxy msg=\"listening\" port=4140 "
      "addr=0.0.0.0\n");
}

TEST(LogFormat, ComponentOmittedWhenEmpty) {
  EXPECT_EQ(format_line(kTs, Level::warn, "", "x y", {}),
            "ts=2026-11-26T06:00:00.123Z level=warn msg=\"x y\"\n");
}

TEST(LogFormat, ValueEscaping) {
  EXPECT_EQ(value_of("plain"), "plain");
  EXPECT_EQ(value_of(""), "\"\"");
  EXPECT_EQ(value_of("two words"), "\"two words\"");
  EXPECT_EQ(value_of("a=b"), "\"a=b\"");
  EXPECT_EQ(value_of("say \"hi\""), "\"say \\\"hi\\\"\"");
  EXPECT_EQ(value_of("back\\slash"), "\"back\\\\slash\"");
  EXPECT_EQ(value_of("line1\nline2\r\t"), "\"line1\\nline2\\r\\t\"");
  EXPECT_EQ(value_of(std::string_view("nul\0bell\a", 9)), "\"nul\\u0000bell\\u0007\"");
  EXPECT_EQ(value_of("spiffe://td/ns/a/sa/b"), "spiffe://td/ns/a/sa/b");
}

TEST(LogFormat, MessageAlwaysQuotedAndEscaped) {
  std::string line = format_line(kTs, Level::error, "c", "bad \"thing\"\nhappened", {});
  EXPECT_EQ(
      line,
      "ts=2026-11-26T06:00:00.123Z level=error component=c msg=\"bad \\\"thing\\\"\\nhappened\"\n");
}

TEST(LogFormat, FieldTypes) {
  std::string s = "with space";
  std::string line = format_line(kTs, Level::debug, "c", "m",
                                 {{"s", s},
                                  {"n", -42},
                                  {"u", 7u},
                                  {"big", 1ull << 40},
                                  {"f", 0.25},
                                  {"b", true},
                                  {"nan", 0.0 / 0.0},
                                  {"sv", std::string_view("k=v")}});
  EXPECT_EQ(
      line,
      "ts=2026-11-26T06:00:00.123Z level=debug component=c msg=\"m\" s=\"with space\" n=-42 u=7 "
      "big=1099511627776 f=0.25 b=true nan=NaN sv=\"k=v\"\n");
}

TEST(LogLevel, ParseAndFilter) {
  ASSERT_TRUE(parse_level("DEBUG").ok());
  EXPECT_EQ(*parse_level("debug"), Level::debug);
  EXPECT_EQ(*parse_level("Warning"), Level::warn);
  EXPECT_EQ(*parse_level("error"), Level::error);
  auto bad = parse_level("loud");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, "invalid_log_level");
  EXPECT_NE(bad.error().message.find("got loud"), std::string::npos) << bad.error().message;

  std::vector<std::string> lines;
  set_sink([&](std::string_view l) { lines.emplace_back(l); });
  set_level(Level::warn);
  Logger logger("admin");
  logger.info("dropped");
  logger.warn("kept", {{"reason", "header too large"}});
  set_level(Level::info);
  set_sink({});
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find(" level=warn component=admin msg=\"kept\" reason=\"header too large\"\n"),
            std::string::npos)
      << lines[0];
  EXPECT_EQ(lines[0].rfind("ts=", 0), 0u);
}

TEST(LogSink, DefaultComponentForFreeFunctions) {
  std::vector<std::string> lines;
  set_sink([&](std::string_view l) { lines.emplace_back(l); });
  set_component("proxy");
  info("hello", {{"k", 1}});
  set_component("");
  info("bare");
  set_sink({});
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find(" component=proxy msg=\"hello\" k=1\n"), std::string::npos) << lines[0];
  EXPECT_EQ(lines[1].find("component="), std::string::npos) << lines[1];
}

TEST(LogSink, ConcurrentWritesAreWholeLines) {
  std::vector<std::string> lines;
  set_sink([&](std::string_view l) { lines.emplace_back(l); });  // called under the log mutex
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([t] {
      Logger logger("t" + std::to_string(t));
      for (int i = 0; i < 200; ++i) logger.info("event", {{"i", i}, {"pad", std::string(50, 'x')}});
    });
  }
  for (auto& th : threads) th.join();
  set_sink({});
  ASSERT_EQ(lines.size(), 800u);
  for (const auto& l : lines) {
    ASSERT_EQ(l.back(), '\n');
    ASSERT_EQ(std::count(l.begin(), l.end(), '\n'), 1);
  }
}

// Refusals come from untrusted peers: a burst of lines per key, then as many as the refill
// allows; the next allowed line learns how many were dropped; keys do not share a budget.
TEST(LogRateLimit, ABurstPerKeyThenTheRefillRateCountingTheRest) {
  RateLimit limit(/*burst=*/3, /*per_second=*/10);
  std::uint64_t dropped = 99;
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(limit.allow("read_timeout", &dropped));
    EXPECT_EQ(dropped, 0u);
  }
  for (int i = 0; i < 5; ++i) EXPECT_FALSE(limit.allow("read_timeout", &dropped));
  EXPECT_TRUE(limit.allow("forbidden", &dropped));  // another key, its own budget
  EXPECT_EQ(dropped, 0u);
  // One token comes back every 100 ms: the refill itself is what is tested here.
  std::this_thread::sleep_for(std::chrono::milliseconds(150));
  EXPECT_TRUE(limit.allow("read_timeout", &dropped));
  EXPECT_EQ(dropped, 5u);
}

}  // namespace
}  // namespace strait::log
