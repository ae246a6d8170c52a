// Addresses as text. split_host_port: "host:port" as configuration spells listen and peer
// addresses (host a name, an IPv4 literal or a bracketed IPv6 literal; port 0..65535).
// parse_wire_port: a port that arrived from the wire (gateway target names, CONNECT targets,
// destination paths), read strictly.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "core/base/result.h"

namespace strait::net {

// A port from untrusted bytes: 1..65535 in decimal digits, nothing else — no sign, no spaces,
// no leading zero ("080" and "000080" would otherwise name port 80 under another spelling).
inline std::optional<std::uint16_t> parse_wire_port(std::string_view s) {
  if (s.empty() || s.size() > 5 || s.front() == '0') return std::nullopt;
  unsigned port = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    port = port * 10 + static_cast<unsigned>(c - '0');
  }
  if (port > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(port);
}

// Error code invalid_field, with the text in the message.
inline Result<std::pair<std::string, std::uint16_t>> split_host_port(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon + 1 == s.size()) {
    return make_error("invalid_field", "expected host:port, got \"" + s + "\"");
  }
  unsigned long port = 0;
  for (std::size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9' || port > 65535) {
      return make_error("invalid_field", "bad port in \"" + s + "\"");
    }
    port = port * 10 + static_cast<unsigned long>(s[i] - '0');
  }
  if (port > 65535) return make_error("invalid_field", "bad port in \"" + s + "\"");
  std::string host = s.substr(0, colon);
  if (host.size() > 1 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

}  // namespace strait::net
