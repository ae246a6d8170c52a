// The original-protocol marker from another proxy: parsing never crashes, and whatever parses
// re-encodes to a value that parses to the same marker.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/proxy/http/orig_proto.h"

using namespace strait::proxy::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto p = parse_orig_proto(in);
  if (!p) return 0;
  auto again = parse_orig_proto(encode_orig_proto(*p));
  if (!again || again->version != p->version || again->absolute_form != p->absolute_form) {
    std::abort();
  }
  return 0;
}
