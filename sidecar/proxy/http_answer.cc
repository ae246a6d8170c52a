// The proxy's own answers and the response observer (see http_answer.h).
#include "sidecar/proxy/http_answer.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <charconv>

namespace strait::proxy {
namespace asio = boost::asio;
using http::BodyPipe;

bool is_grpc(const http::RequestHead& head) {
  auto ct = http::find_field(head.fields, "content-type");
  return ct && ct->starts_with("application/grpc");
}

std::optional<int> grpc_status_of(const http::HeaderList& fields) {
  auto v = http::find_field(fields, "grpc-status");
  if (!v) return std::nullopt;
  int n = 0;
  auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || n < 0) return std::nullopt;
  return n;
}

http::Response proxy_error(asio::any_io_executor ex, const http::RequestHead& request,
                           unsigned status, std::string_view reason) {
  if (!is_grpc(request)) {
    return http::local_response(ex, status, reason, std::string(reason) + "\n");
  }
  // Trailers-only: UNAVAILABLE (14) for what the mesh could not reach, which clients retry
  // where it is safe; PERMISSION_DENIED (7) for a policy's refusal, DEADLINE_EXCEEDED (4) for
  // a deadline the proxy hit, INVALID_ARGUMENT (3) for a request it could not take.
  http::Response r;
  r.head.status = 200;
  r.head.fields = {{"content-type", "application/grpc"},
                   {"grpc-status", status == 504   ? "4"
                                   : status == 403 ? "7"
                                   : status == 400 ? "3"
                                                   : "14"},
                   {"grpc-message", std::string(reason)},
                   {std::string(http::kProxyErrorField), std::string(reason)}};
  return r;
}

http::Response observe_response(asio::any_io_executor ex, http::Response upstream,
                                std::function<void(const ResponseEnd&)> on_end) {
  ResponseEnd end;
  end.status = upstream.head.status;
  end.grpc_status = grpc_status_of(upstream.head.fields);
  if (!upstream.body) {
    on_end(end);
    return upstream;
  }
  auto from = std::move(upstream.body);
  auto to = std::make_shared<BodyPipe>(ex);
  upstream.body = to;
  // Cancelling the downstream pipe (the client went away) cancels the upstream (an HTTP/2
  // client resets its stream); the pump then sees the upstream end as an error and stops.
  std::weak_ptr<BodyPipe> weak_from = from;
  to->on_cancel([weak_from, to_raw = to.get()] {
    if (auto f = weak_from.lock()) f->cancel(to_raw->cancel_reason());
  });
  asio::co_spawn(
      ex,
      [from, to, end, on_end = std::move(on_end)]() mutable -> asio::awaitable<void> {
        while (true) {
          if (!co_await to->wait_writable()) {
            from->cancel(to->cancel_reason());
            end.broken = true;
            break;
          }
          auto c = co_await from->read(BodyPipe::kDefaultWindow);
          if (c.kind == BodyPipe::Chunk::Kind::kData) {
            to->push(std::move(c.data));
            continue;
          }
          if (c.kind == BodyPipe::Chunk::Kind::kEnd) {
            if (auto g = grpc_status_of(c.trailers)) end.grpc_status = g;
            to->finish(std::move(c.trailers));
          } else {
            end.broken = true;
            to->abort(c.error);
          }
          break;
        }
        to->on_cancel(nullptr);
        on_end(end);
      },
      asio::detached);
  return upstream;
}

}  // namespace strait::proxy
