// Chunked bodies from applications and peers: never crash; decoding in two pieces, split
// anywhere, gives what decoding at once gives; what decodes re-encodes to a body that decodes
// to the same data and trailers.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "sidecar/proxy/http/chunked.h"

using namespace strait::proxy::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t split_at = data[0];
  std::string_view in(reinterpret_cast<const char*>(data) + 1, size - 1);
  ChunkedDecoder whole;
  std::string a;
  auto n = whole.feed(in, a);

  ChunkedDecoder parts;
  std::string b;
  const std::size_t split = std::min(split_at, in.size());
  auto first = parts.feed(in.substr(0, split), b);
  bool ok2 = static_cast<bool>(first);
  if (ok2 && !parts.done()) {
    auto second = parts.feed(in.substr(split), b);
    ok2 = static_cast<bool>(second);
  }
  if (static_cast<bool>(n) != ok2) std::abort();
  if (!n) return 0;
  if (whole.done() != parts.done() || a != b || whole.trailers() != parts.trailers()) std::abort();
  if (!whole.done()) return 0;

  const std::string wire = encode_chunk(a) + encode_last_chunk(whole.trailers());
  ChunkedDecoder again;
  std::string c;
  auto m = again.feed(wire, c);
  if (!m || !again.done() || *m != wire.size() || c != a || again.trailers() != whole.trailers()) {
    std::abort();
  }
  return 0;
}
