// GatewayProbe: the probe worker of one link. Every probe.period (±10 % jitter) it GETs
// probe.path on each gateway address at probe.port over mTLS (the link credential as client
// certificate, the target's roots and the gateway identity checked), within probe.timeout. A
// round succeeds when at least one address answers 2xx (every address is probed and counted). After
// probe.failure_threshold failed rounds the gateway is dead; the next good round makes it alive.
// Only transitions are reported.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/base/result.h"
#include "core/discovery/model.h"
#include "core/tls/tls_context.h"

namespace strait::link {

struct ProbeRequest {
  std::string address;  // IP literal
  std::uint16_t port = 0;
  std::string path = "/ready";
  std::string expected_identity;  // "" = any identity the roots vouch for
  tls::ContextPtr context;
  std::chrono::milliseconds timeout{1000};
};

// One probe; the latency on a 2xx. Errors: bad_address, connect_failed, tls_failed, timeout,
// read_failed, bad_status (the message has the status line).
boost::asio::awaitable<Result<std::chrono::microseconds>> probe_once(ProbeRequest request);

class GatewayProbe {
 public:
  struct Callbacks {
    std::function<void(bool alive)> on_transition;
    // After each probe: "success" or the error code, and the latency of a success.
    std::function<void(const std::string& result, double latency_ms)> on_probe;
  };

  GatewayProbe(boost::asio::any_io_executor executor, Callbacks callbacks);
  ~GatewayProbe();  // stop()
  GatewayProbe(const GatewayProbe&) = delete;
  GatewayProbe& operator=(const GatewayProbe&) = delete;

  // What to probe; takes effect from the next round (addresses re-resolved, credentials renewed).
  void configure(std::vector<std::string> addresses, discovery::ProbeSpec spec,
                 std::string expected_identity, tls::ContextPtr context);
  void start();
  void stop();
  bool alive() const;

  struct State;  // shared with the probe coroutine, which may outlive this object

 private:
  std::shared_ptr<State> state_;
  boost::asio::any_io_executor executor_;
};

}  // namespace strait::link
