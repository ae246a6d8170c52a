// The transport header from a remote proxy (inbound, gateway): prefix and body decoding never
// crash, and the codec accepts exactly what it produces — whatever decodes re-encodes to bytes
// that decode to the same header.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/proxy/transport_header.h"

using strait::proxy::TransportHeader;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  if (in.size() < TransportHeader::kPrefixSize) {
    (void)TransportHeader::body_length(in, TransportHeader::kDefaultMaxSize);
    return 0;
  }
  auto len = TransportHeader::body_length(in.substr(0, TransportHeader::kPrefixSize), 0x10006);
  std::string_view body = in.substr(TransportHeader::kPrefixSize);
  if (len && *len <= body.size()) body = body.substr(0, *len);
  auto h = TransportHeader::decode_body(body);
  if (!h) return 0;
  auto bytes = h->encode();
  if (!bytes) std::abort();  // decoded, so it must encode
  std::string_view again(*bytes);
  auto again_len =
      TransportHeader::body_length(again.substr(0, TransportHeader::kPrefixSize), 0x10006);
  if (!again_len || *again_len + TransportHeader::kPrefixSize != again.size()) std::abort();
  auto back = TransportHeader::decode_body(again.substr(TransportHeader::kPrefixSize));
  if (!back || back->target_port != h->target_port || back->target_name != h->target_name ||
      back->client_identity != h->client_identity || back->session != h->session) {
    std::abort();
  }
  return 0;
}
