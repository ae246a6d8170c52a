// The proxy's own answers and the response observer (see http_answer.h).
#include "sidecar/proxy/http_answer.h"

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

http::Response observe_response(http::Response upstream,
                                std::function<void(const ResponseEnd&)> on_end) {
  ResponseEnd end;
  end.status = upstream.head.status;
  end.grpc_status = grpc_status_of(upstream.head.fields);
  if (!upstream.body) {
    on_end(end);
    return upstream;
  }
  upstream.body->observe_end(
      [end, on_end = std::move(on_end)](const http::HeaderList* trailers) mutable {
        if (trailers == nullptr) {
          end.broken = true;
        } else if (auto g = grpc_status_of(*trailers)) {
          end.grpc_status = g;
        }
        on_end(end);
      });
  return upstream;
}

}  // namespace strait::proxy
