// libFuzzer target: the fuzz input is the byte stream of a client connection, fed in pieces to
// the server side of an HTTP/2 connection core (h2_core.h: nghttp2 plus our callbacks, flow
// control, limits and stream bookkeeping), with no sockets. Handlers read the request body and
// answer (with trailers, or a body that aborts); the output is taken as a peer would read it.
// Finds crashes, leaks and undefined behaviour in the session logic the proxy exposes to every
// inbound HTTP/2 client.
#include <boost/asio/io_context.hpp>
#include <cstddef>
#include <cstdint>
#include <string>

#include "sidecar/proxy/http/h2_core.h"

namespace {

namespace asio = boost::asio;
using namespace strait::proxy::http;

asio::awaitable<Response> handle(asio::any_io_executor ex, Request req) {
  auto body = co_await collect(req.body, 64 * 1024);
  if (req.head.path == "/abort") {
    auto pipe = std::make_shared<BodyPipe>(ex);
    pipe->push("partial");
    pipe->abort("upstream_reset");
    Response r;
    r.head.status = 200;
    r.body = pipe;
    co_return r;
  }
  HeaderList trailers;
  if (req.head.te_trailers) trailers = {{"grpc-status", "0"}, {"grpc-message", body.error}};
  Response r;
  r.head.status = body.error.empty() ? 200 : 400;
  r.head.fields.emplace_back("x-method", req.head.method);
  r.body = complete_body(ex, req.head.path + body.data, std::move(trailers));
  co_return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  asio::io_context io;
  auto ex = io.get_executor();
  H2Limits limits;
  limits.max_concurrent_streams = 8;
  limits.max_header_list_bytes = 4096;
  limits.initial_stream_window = 16 * 1024;
  limits.connection_window = 64 * 1024;
  limits.max_resets_per_window = 16;
  std::size_t refusals = 0;
  auto core = strait::proxy::http::h2::make_server_core(
      ex, limits, [ex](Request req) { return handle(ex, std::move(req)); },
      [&refusals](std::string_view, std::string_view) { ++refusals; });
  if (!core) return 0;
  std::size_t out_bytes = 0;
  auto drain_output = [&] {
    for (int i = 0; i < 1000; ++i) {
      std::string out = core->take_output();
      if (out.empty()) break;
      out_bytes += out.size();
    }
  };
  drain_output();  // our SETTINGS
  // Pieces of varying sizes, so that frames split across reads.
  std::size_t off = 0, piece = 1;
  while (off < size && !core->dead()) {
    const std::size_t n = std::min(size - off, piece);
    core->feed(data + off, n);
    off += n;
    piece = piece * 3 % 1021 + 1;
    io.poll();
    drain_output();
    if (core->finished()) break;
  }
  core->on_tick(strait::proxy::http::h2::Clock::now());
  core->connection_lost("eof");
  io.poll();
  drain_output();
  core.reset();
  io.poll();
  return 0;
}
