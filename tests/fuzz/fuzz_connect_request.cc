// Explicit mode's CONNECT request head from the application side: never crashes; an accepted
// request names a unicast ip:port and a head no longer than the bytes given.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/proxy/connect_request.h"

using namespace strait::proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto parsed = parse_connect(in, kMaxConnectHeadBytes);
  if (const auto* req = std::get_if<ConnectRequest>(&parsed)) {
    if (req->target.port() == 0 || req->head_size > in.size()) std::abort();
    if (req->target.address().is_unspecified() || req->target.address().is_multicast()) {
      std::abort();
    }
  } else if (const auto* no = std::get_if<ConnectRefusal>(&parsed)) {
    if (no->reason.empty() || (no->status != 400 && no->status != 405 && no->status != 431)) {
      std::abort();
    }
    (void)connect_response(no->status, no->reason, no->detail);
  }
  return 0;
}
