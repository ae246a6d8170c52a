// HTTP/1.x message heads as a proxy must read them (RFC 9112), from bytes: the request line or
// status line and the fields, parsed with Beast's parser under a size limit, then the checks a
// proxy owes its neighbours — no request smuggling (Content-Length together with
// Transfer-Encoding, a Transfer-Encoding whose last coding is not chunked, differing lengths:
// 400 and close), and the hop-by-hop fields (Connection and what it names, Keep-Alive, TE,
// Trailer, Transfer-Encoding, Upgrade, Proxy-Connection) taken out, their meaning kept as
// typed fields of the head. What remains are the end-to-end fields, to be forwarded. Pure
// functions of bytes, fuzzed alone (tests/fuzz/fuzz_http1_head.cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace strait::proxy::http {

using Fields = std::vector<std::pair<std::string, std::string>>;

// How the body that follows a head is delimited.
enum class BodyFraming { kNone, kLength, kChunked, kUntilClose };

struct Http1Head {
  bool is_request = true;
  // Requests.
  std::string method;  // as sent ("GET", ...)
  std::string target;  // origin-form "/p?q", absolute-form "http://h/p", authority-form, "*"
  // Responses.
  unsigned status = 0;
  std::string reason;

  unsigned version = 11;  // 10 or 11
  Fields fields;          // end-to-end fields in order, hop-by-hop ones removed
  BodyFraming framing = BodyFraming::kNone;
  std::uint64_t content_length = 0;  // kLength
  bool keep_alive = true;            // the connection may carry another message after this one
  bool upgrade = false;              // a request asking to switch protocols; a 101 response
  std::string upgrade_protocol;      // the Upgrade field's value ("websocket")
  bool expect_continue = false;      // Expect: 100-continue
  bool te_trailers = false;          // TE: trailers (the client takes trailer fields)
  std::size_t head_size = 0;         // bytes of the head in the input

  // The first value of an end-to-end field (case-insensitive name); "" when absent.
  std::string_view field(std::string_view name) const;
};

struct HeadRefusal {
  int status = 400;    // 400, 431; for responses: 502
  std::string reason;  // a refusal reason (metric label): bad_request, request_smuggling, ...
  std::string detail;
};

// monostate while the head is incomplete.
using HeadParse = std::variant<std::monostate, Http1Head, HeadRefusal>;

// A request head at the start of `bytes`. Refusals: 431 headers_too_large; 400 bad_request
// (malformed), request_smuggling (conflicting or unusable framing).
HeadParse parse_request_head(std::string_view bytes, std::size_t max_head_bytes);
// A response head to a request with `request_method` (HEAD and CONNECT responses have no body;
// 1xx, 204 and 304 neither). Refusals (502): bad_response, response_headers_too_large.
HeadParse parse_response_head(std::string_view bytes, std::size_t max_head_bytes,
                              std::string_view request_method);

// The head as bytes, with the framing fields it needs (Content-Length, or
// Transfer-Encoding: chunked, Connection: close / upgrade) written from the typed fields.
std::string serialize(const Http1Head& head);

// True for a hop-by-hop field name (case-insensitive), never forwarded.
bool is_hop_by_hop(std::string_view name);

}  // namespace strait::proxy::http
