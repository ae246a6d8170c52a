// HTTP/1 heads from applications and peers: never crash, and the codec accepts what it
// produces — a parsed head, serialized, parses back to the same head (so what the proxy
// forwards means to the next parser what it meant to this one). The first input byte picks
// request or response.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/proxy/http/http1_head.h"

using namespace strait::proxy::http;

namespace {

bool same(const Http1Head& a, const Http1Head& b) {
  return a.method == b.method && a.target == b.target && a.status == b.status &&
         a.fields == b.fields && a.framing == b.framing && a.content_length == b.content_length &&
         a.keep_alive == b.keep_alive && a.upgrade == b.upgrade &&
         a.upgrade_protocol == b.upgrade_protocol && a.expect_continue == b.expect_continue;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool request = data[0] & 1;
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  constexpr std::size_t kLimit = 8192;
  auto parsed = request ? parse_request_head(in, kLimit) : parse_response_head(in, kLimit, "GET");
  const auto* h = std::get_if<Http1Head>(&parsed);
  if (h == nullptr) return 0;
  if (h->head_size == 0 || h->head_size > in.size()) std::abort();
  const std::string again = serialize(*h);
  auto back = request ? parse_request_head(again, again.size() + 256)
                      : parse_response_head(again, again.size() + 256, "GET");
  const auto* b = std::get_if<Http1Head>(&back);
  if (b == nullptr || !same(*h, *b)) std::abort();
  return 0;
}
