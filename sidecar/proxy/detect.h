// Protocol detection: what a connection speaks, from its first bytes (brief, section 6). One
// read of up to 1 KiB, within a timeout: the HTTP/2 connection preface means HTTP/2, an HTTP/1.x
// request line (with a method as methods are written: upper case, '-', '_', at most 24) means
// HTTP/1, anything else is opaque, and so is silence (a server-first
// protocol) once the timeout passes. The bytes read are handed back, to be replayed to whatever
// comes next. Ports known to be opaque skip this (config: the opaque-ports list, a Service
// port's opaque hint, a Server's proxyProtocol).
#pragma once

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

#include "sidecar/proxy/stream.h"

namespace strait::proxy {

enum class Protocol { kOpaque, kHttp1, kHttp2 };
std::string_view protocol_name(Protocol p);  // "opaque", "http/1", "http/2"

inline constexpr std::size_t kDetectBytes = 1024;
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// What `first` (the start of a connection) says; nullopt while more bytes could still decide
// (a prefix of the preface, or of a request line shorter than kDetectBytes).
std::optional<Protocol> classify(std::string_view first);

struct Detected {
  Protocol protocol = Protocol::kOpaque;
  std::string prefix;      // the bytes read: replay them
  bool timed_out = false;  // nothing conclusive within the timeout
  bool closed = false;     // the peer ended (or failed) before deciding
};

// Reads from `stream` until classify() decides, kDetectBytes arrived, the peer closed, or the
// timeout passed (then opaque).
boost::asio::awaitable<Detected> detect(AnyStream& stream, std::chrono::milliseconds timeout);

// The reference proxy's default opaque ports: server-first protocols and ones that look like
// nothing HTTP (SMTP, submission, MySQL, 4444, PostgreSQL, Redis, Elasticsearch transport,
// memcached).
std::set<std::uint16_t> default_opaque_ports();

}  // namespace strait::proxy
