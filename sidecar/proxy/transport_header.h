// TransportHeader: the small length-prefixed header a client proxy sends first on every mTLS
// connection, naming what it wants on the other side (brief, section 6).
//
//   "strt" | version u8 (=1) | body length u16 BE | body
//   body: TLVs, each type u8 | length u16 BE | value
//     1 TARGET_PORT      u16 BE, the workload port to reach
//     2 TARGET_NAME      authority "<svc>.<ns>.svc.<domain>:<port>" (gateways route on it)
//     3 CLIENT_IDENTITY  the original client's SPIFFE id (set by gateways, later)
//     4 SESSION_PROTOCOL u8, what follows the header: 0 opaque bytes (also when absent), 1 an
//                        HTTP/2 session between proxies carrying many requests (HTTP/1 ones
//                        marked with their original protocol)
//   Unknown types are skipped, so later versions can add fields.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.h"

namespace strait::proxy {

enum class SessionProtocol : std::uint8_t { kOpaque = 0, kHttp2 = 1 };

struct TransportHeader {
  static constexpr std::size_t kPrefixSize = 7;
  static constexpr std::size_t kDefaultMaxSize = 1024;  // prefix + body

  std::uint16_t target_port = 0;
  std::string target_name;
  std::string client_identity;
  SessionProtocol session = SessionProtocol::kOpaque;

  // Each field and the whole body must fit the 16-bit lengths: error bad_transport_header.
  Result<std::string> encode() const;
  // From the 7-byte prefix: the body length that follows. Errors (code bad_transport_header):
  // wrong magic, unknown version, body larger than max_size allows.
  static Result<std::size_t> body_length(std::string_view prefix, std::size_t max_size);
  // Errors (bad_transport_header): truncated TLV, target port missing or 0, a session protocol
  // this version does not speak.
  static Result<TransportHeader> decode_body(std::string_view body);
};

}  // namespace strait::proxy
