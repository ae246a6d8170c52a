// TransportHeader: encoding and strict decoding.
#include "sidecar/proxy/transport_header.h"

namespace strait::proxy {
namespace {

constexpr std::string_view kMagic = "strt";
constexpr std::uint8_t kVersion = 1;
enum : std::uint8_t { kTargetPort = 1, kTargetName = 2, kClientIdentity = 3, kSession = 4 };

void put16(std::string& out, std::size_t v) {
  out.push_back(static_cast<char>((v >> 8) & 0xff));
  out.push_back(static_cast<char>(v & 0xff));
}
std::uint16_t get16(std::string_view s, std::size_t at) {
  return static_cast<std::uint16_t>((static_cast<unsigned char>(s[at]) << 8) |
                                    static_cast<unsigned char>(s[at + 1]));
}
void put_tlv(std::string& out, std::uint8_t type, std::string_view value) {
  out.push_back(static_cast<char>(type));
  put16(out, value.size());
  out.append(value);
}
Error bad(std::string what) { return make_error("bad_transport_header", std::move(what)); }

}  // namespace

Result<std::string> TransportHeader::encode() const {
  // Exactly the bytes put_tlv writes below: an empty field is not written, so it costs nothing
  // (decode_body accepts exactly what this produces, and this whatever it accepts).
  constexpr std::size_t kMax = 0xffff;
  auto tlv = [](const std::string& v) { return v.empty() ? 0 : 3 + v.size(); };
  if (target_name.size() > kMax || client_identity.size() > kMax ||
      3 + 2 + tlv(target_name) + tlv(client_identity) +
              (session == SessionProtocol::kOpaque ? 0 : 4) >
          kMax) {
    return bad("a transport header longer than 65535 bytes");
  }
  std::string body;
  std::string port;
  put16(port, target_port);
  put_tlv(body, kTargetPort, port);
  if (!target_name.empty()) put_tlv(body, kTargetName, target_name);
  if (!client_identity.empty()) put_tlv(body, kClientIdentity, client_identity);
  if (session != SessionProtocol::kOpaque) {
    put_tlv(body, kSession, std::string(1, static_cast<char>(session)));
  }
  std::string out(kMagic);
  out.push_back(static_cast<char>(kVersion));
  put16(out, body.size());
  return out + body;
}

Result<std::size_t> TransportHeader::body_length(std::string_view prefix, std::size_t max_size) {
  if (prefix.size() != kPrefixSize || prefix.substr(0, 4) != kMagic) {
    return bad("not a transport header (wrong magic)");
  }
  if (static_cast<std::uint8_t>(prefix[4]) != kVersion) {
    return bad("unknown transport header version " +
               std::to_string(static_cast<unsigned char>(prefix[4])));
  }
  std::size_t len = get16(prefix, 5);
  if (len + kPrefixSize > max_size) {
    return bad("transport header of " + std::to_string(len + kPrefixSize) +
               " bytes exceeds the limit of " + std::to_string(max_size));
  }
  return len;
}

Result<TransportHeader> TransportHeader::decode_body(std::string_view body) {
  TransportHeader h;
  bool have_port = false;
  std::size_t at = 0;
  while (at < body.size()) {
    if (body.size() - at < 3) return bad("truncated field");
    auto type = static_cast<std::uint8_t>(body[at]);
    std::size_t len = get16(body, at + 1);
    at += 3;
    if (body.size() - at < len) return bad("truncated field value");
    std::string_view value = body.substr(at, len);
    at += len;
    switch (type) {
      case kTargetPort:
        if (len != 2) return bad("target port must be 2 bytes");
        h.target_port = get16(value, 0);
        have_port = true;
        break;
      case kTargetName:
        h.target_name = std::string(value);
        break;
      case kClientIdentity:
        h.client_identity = std::string(value);
        break;
      case kSession: {
        if (len != 1) return bad("session protocol must be 1 byte");
        const auto v = static_cast<std::uint8_t>(value[0]);
        if (v > static_cast<std::uint8_t>(SessionProtocol::kHttp2)) {
          return bad("unknown session protocol " + std::to_string(v));
        }
        h.session = static_cast<SessionProtocol>(v);
        break;
      }
      default:
        break;  // a newer peer's field
    }
  }
  if (!have_port || h.target_port == 0) return bad("no target port");
  return h;
}

}  // namespace strait::proxy
