// Protocol detection's classifier: a small state machine over the HTTP/1 request line and a
// comparison with the HTTP/2 preface; pure, so that it is fuzzed alone.
#include <algorithm>

#include "sidecar/proxy/detect.h"

namespace strait::proxy {

namespace {

// Method characters. RFC 9110 allows any token, but every method in use is upper case letters
// with '-' or '_' (GET, M-SEARCH, VERSION_CONTROL...), at most kMaxMethod long; holding to
// that decides a client-first protocol whose first word is a lower-case token ("hello",
// "ehlo", "{json") at once instead of after the detection timeout.
constexpr std::size_t kMaxMethod = 24;
bool method_char(unsigned char c) { return (c >= 'A' && c <= 'Z') || c == '-' || c == '_'; }

// "METHOD SP request-target SP HTTP/1.<digit> CRLF" at the start of `in`: true when complete,
// false when it cannot be one, nullopt when `in` ends inside a possible one.
std::optional<bool> request_line(std::string_view in) {
  std::size_t i = 0;
  const std::size_t n = in.size();
  std::size_t start = i;
  while (i < n && i < kMaxMethod && method_char(static_cast<unsigned char>(in[i]))) ++i;
  if (i == n) return std::nullopt;
  if (i == start || in[i] != ' ') return false;
  ++i;
  start = i;
  while (i<n&& static_cast<unsigned char>(in[i])> 0x20 && static_cast<unsigned char>(in[i]) < 0x7f)
    ++i;
  if (i == n) return std::nullopt;
  if (i == start || in[i] != ' ') return false;
  ++i;
  constexpr std::string_view kVersion = "HTTP/1.";
  for (char c : kVersion) {
    if (i == n) return std::nullopt;
    if (in[i++] != c) return false;
  }
  if (i == n) return std::nullopt;
  if (in[i] < '0' || in[i] > '9') return false;
  ++i;
  if (i == n) return std::nullopt;
  if (in[i++] != '\r') return false;
  if (i == n) return std::nullopt;
  return in[i] == '\n';
}

}  // namespace

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kHttp1:
      return "http/1";
    case Protocol::kHttp2:
      return "http/2";
    case Protocol::kOpaque:
      break;
  }
  return "opaque";
}

std::optional<Protocol> classify(std::string_view first) {
  if (first.empty()) return std::nullopt;
  const std::size_t common = std::min(first.size(), kHttp2Preface.size());
  if (first.substr(0, common) == kHttp2Preface.substr(0, common)) {
    if (first.size() >= kHttp2Preface.size()) return Protocol::kHttp2;
    return std::nullopt;
  }
  auto line = request_line(first);
  if (!line) return first.size() >= kDetectBytes ? std::optional(Protocol::kOpaque) : std::nullopt;
  return *line ? Protocol::kHttp1 : Protocol::kOpaque;
}

std::set<std::uint16_t> default_opaque_ports() {
  return {25, 587, 3306, 4444, 5432, 6379, 9300, 11211};
}

}  // namespace strait::proxy
