// What the proxy itself answers and how it watches the answers it relays:
//   proxy_error      the proxy's own refusal of a request (no ready endpoint, upstream failed):
//                    HTTP status + strait-proxy-error: <reason>; for a gRPC request a
//                    trailers-only response with grpc-status (UNAVAILABLE for 502/503,
//                    PERMISSION_DENIED for 403, DEADLINE_EXCEEDED for 504) —
//                    gRPC clients read the status there, not in :status
//   observe_response relays a response's body through a new pipe and calls back once at its
//                    end with what the golden metrics need: status, grpc-status (from the
//                    trailers or a trailers-only head), whether the body broke
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <functional>
#include <optional>
#include <string_view>

#include "sidecar/proxy/http/message.h"

namespace strait::proxy {

bool is_grpc(const http::RequestHead& head);  // content-type application/grpc[+...;...]

http::Response proxy_error(boost::asio::any_io_executor ex, const http::RequestHead& request,
                           unsigned status, std::string_view reason);

// The grpc-status in `fields`, if it is one (0..16 as the spec defines; other numbers kept).
std::optional<int> grpc_status_of(const http::HeaderList& fields);

struct ResponseEnd {
  unsigned status = 0;
  std::optional<int> grpc_status;
  bool broken = false;  // the body aborted or the consumer cancelled it
};

// Returns `upstream` with an observer on its body (nothing stands between the body's producer
// and its consumer): `on_end` runs exactly once, when the consumer read the body's end or an
// error, cancelled it, or dropped it unread (broken), at once for a response without a body.
http::Response observe_response(http::Response upstream,
                                std::function<void(const ResponseEnd&)> on_end);

}  // namespace strait::proxy
