// strait-admin-demo: a test-only process that declares metrics of every type with awkward label
// values, serves admin on 127.0.0.1:0 and prints the bound port on stdout. Tests scrape it and feed
// the exposition to promtool. It exits on SIGTERM/SIGINT or POST /shutdown (loopback only).
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "core/admin/admin_server.h"
#include "core/log/log.h"
#include "core/metrics/metrics.h"

int main() {
  using namespace strait;
  log::set_component("admin-demo");
  boost::asio::io_context ioc;
  metrics::Registry registry;

  auto& requests = registry.counter("demo_requests_total",
                                    "Requests served.\nBy \\ route and code.", {"route", "code"});
  requests.with({"/metrics", "200"}).inc(3);
  requests.with({"quote\"d \\back\\slash\nnew line", "500"}).inc();
  requests.with({"", "0"});
  requests.with({"h\xC3\xA9llo w\xC3\xB6rld \xE2\x9C\x93", "200"}).inc(1ull << 40);
  requests.with({"bad utf8 \xFF\xFE", "418"}).inc();

  auto& conns = registry.gauge("demo_open_connections", "Open connections by peer.", {"peer"});
  conns.with({"spiffe://west.example/ns/a b/sa/{c}=d"}).set(2);
  conns.with({"nan"}).set(std::numeric_limits<double>::quiet_NaN());
  conns.with({"plus-inf"}).set(std::numeric_limits<double>::infinity());
  conns.with({"minus-inf"}).set(-std::numeric_limits<double>::infinity());
  conns.with({"tiny"}).set(1e-300);
  conns.with({"gone"}).set(1);
  conns.remove({"gone"});
  registry.gauge("demo_uptime_seconds", "Seconds since start (computed at scrape).")
      .with_callback({}, [start = std::chrono::steady_clock::now()] {
        return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      });

  auto& latency = registry.histogram("demo_request_duration_seconds", "Request latency.",
                                     {"direction"}, {0.001, 0.01, 0.1, 1, 10});
  for (double v : {0.0005, 0.002, 0.05, 0.3, 2.0, 50.0}) latency.with({"outbound"}).observe(v);
  latency.with({"in\"bound\n"}).observe(0.01);

  admin::AdminServer server(ioc, registry, {.address = "127.0.0.1", .port = 0});
  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  // The one way out: the server and the signal wait are the only work, so run() returns after this.
  // The io_context runs on this thread only, so touching `signals` from a handler is safe.
  auto shutdown = [&] {
    server.stop();
    signals.cancel();
  };
  server.set_readiness([]() -> Result<void> { return {}; });
  server.add_handler(
      boost::beast::http::verb::post, "/shutdown",
      [&](const admin::Request&) {
        shutdown();
        return admin::Response{200, "shutting down\n"};
      },
      /*loopback_only=*/true);
  if (auto r = server.start(); !r) {
    log::error("admin failed to start", {{"error", r.error().to_string()}});
    return 1;
  }

  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (!ec) shutdown();
  });

  std::printf("%u\n", static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  ioc.run();
  log::info("admin demo stopped");
  return 0;
}
