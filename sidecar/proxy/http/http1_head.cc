// HTTP/1.x heads: Beast's parser for the syntax, then framing, smuggling and hop-by-hop rules.
#include "sidecar/proxy/http/http1_head.h"

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>

#include <algorithm>
#include <optional>
#include <set>

namespace strait::proxy::http {
namespace beast = boost::beast;
namespace bh = boost::beast::http;

namespace {

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A comma-separated list's items, trimmed and lowercased; empty items dropped.
std::vector<std::string> tokens(std::string_view v) {
  std::vector<std::string> out;
  std::size_t at = 0;
  while (at <= v.size()) {
    std::size_t comma = v.find(',', at);
    if (comma == std::string_view::npos) comma = v.size();
    std::string_view t = v.substr(at, comma - at);
    while (!t.empty() && (t.front() == ' ' || t.front() == '\t')) t.remove_prefix(1);
    while (!t.empty() && (t.back() == ' ' || t.back() == '\t')) t.remove_suffix(1);
    if (!t.empty()) out.push_back(lower(t));
    at = comma + 1;
  }
  return out;
}

HeadRefusal refusal(int status, std::string reason, std::string detail) {
  return HeadRefusal{status, std::move(reason), std::move(detail)};
}

// What the fields say beyond Beast's syntax checks; shared by requests and responses.
struct Seen {
  int content_lengths = 0;
  int transfer_encodings = 0;
  int hosts = 0;
  std::vector<std::string> codings;  // every Transfer-Encoding coding, in order
  std::set<std::string> connection;  // tokens of Connection (and Proxy-Connection)
  std::string upgrade;
  bool expect_continue = false;
  bool expect_other = false;
  bool te_trailers = false;
};

template <bool isRequest>
Seen inspect(const bh::header<isRequest, bh::fields>& h) {
  Seen s;
  for (const auto& f : h) {
    const std::string_view name = f.name_string();
    const std::string_view value = f.value();
    if (iequals(name, "content-length")) ++s.content_lengths;
    if (iequals(name, "host")) ++s.hosts;
    if (iequals(name, "transfer-encoding")) {
      ++s.transfer_encodings;
      for (auto& t : tokens(value)) s.codings.push_back(std::move(t));
    }
    if (iequals(name, "connection") || iequals(name, "proxy-connection")) {
      for (auto& t : tokens(value)) s.connection.insert(std::move(t));
    }
    if (iequals(name, "upgrade")) s.upgrade = std::string(value);
    if (iequals(name, "te")) {
      for (const auto& t : tokens(value)) s.te_trailers = s.te_trailers || t == "trailers";
    }
    if (iequals(name, "expect")) {
      (iequals(value, "100-continue") ? s.expect_continue : s.expect_other) = true;
    }
  }
  return s;
}

// The end-to-end fields: everything but hop-by-hop fields, what Connection names, and the
// framing fields this head's typed members carry (Content-Length when it frames the body).
template <bool isRequest>
Fields end_to_end(const bh::header<isRequest, bh::fields>& h, const Seen& seen,
                  bool content_length_frames) {
  Fields out;
  for (const auto& f : h) {
    const std::string_view name = f.name_string();
    if (is_hop_by_hop(name)) continue;
    // What Connection names goes too — but never Host: "Connection: host" must not strip the
    // field the request is routed by.
    if (seen.connection.contains(lower(name)) && !iequals(name, "host")) continue;
    if (iequals(name, "expect") && seen.expect_continue) continue;
    if (content_length_frames && iequals(name, "content-length")) continue;
    out.emplace_back(std::string(name), std::string(f.value()));
  }
  return out;
}

// Feeds `bytes` to a parser; the header once complete, a refusal, or nothing yet.
template <class Parser>
std::optional<HeadRefusal> feed(Parser& p, std::string_view bytes, std::size_t max,
                                std::size_t& used, bool& incomplete, bool request) {
  boost::system::error_code ec;
  p.header_limit(static_cast<std::uint32_t>(std::min<std::size_t>(max, 0xffffffffu)));
  p.eager(false);
  p.body_limit(boost::none);  // the body is not parsed here: Beast's 1 MB/8 MB default must not
                              // refuse a head whose Content-Length is larger
  used = p.put(boost::asio::buffer(bytes.data(), bytes.size()), ec);
  incomplete = false;
  const int status = request ? 431 : 502;
  const char* too_large = request ? "headers_too_large" : "response_headers_too_large";
  if (ec == bh::error::need_more) {
    if (bytes.size() > max) {
      return refusal(status, too_large, "the head exceeds " + std::to_string(max) + " bytes");
    }
    incomplete = true;
    return std::nullopt;
  }
  if (ec == bh::error::header_limit || (!ec && used > max)) {
    return refusal(status, too_large, "the head exceeds " + std::to_string(max) + " bytes");
  }
  if (ec == bh::error::bad_transfer_encoding || ec == bh::error::bad_content_length ||
      ec == bh::error::multiple_content_length) {
    return refusal(request ? 400 : 502, request ? "request_smuggling" : "bad_response",
                   "conflicting message framing (" + ec.message() + ")");
  }
  if (ec) {
    return refusal(request ? 400 : 502, request ? "bad_request" : "bad_response", ec.message());
  }
  if (!p.is_header_done()) {
    incomplete = true;
    return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

std::string_view Http1Head::field(std::string_view name) const {
  for (const auto& [n, v] : fields) {
    if (iequals(n, name)) return v;
  }
  return {};
}

bool is_hop_by_hop(std::string_view name) {
  for (std::string_view h : {"connection", "keep-alive", "proxy-connection", "te", "trailer",
                             "transfer-encoding", "upgrade"}) {
    if (iequals(name, h)) return true;
  }
  return false;
}

HeadParse parse_request_head(std::string_view bytes, std::size_t max_head_bytes) {
  if (bytes.empty()) return std::monostate{};
  bh::request_parser<bh::empty_body> p;
  std::size_t used = 0;
  bool incomplete = false;
  if (auto no = feed(p, bytes, max_head_bytes, used, incomplete, true)) return *no;
  if (incomplete) return std::monostate{};
  const auto& m = p.get();
  const Seen seen = inspect(m.base());
  if (m.version() != 10 && m.version() != 11) {
    return refusal(400, "bad_request",
                   "HTTP/" + std::to_string(m.version() / 10) + "." +
                       std::to_string(m.version() % 10) + " is not HTTP/1.x");
  }
  if (seen.transfer_encodings > 0) {
    // RFC 9112 6.1, 6.3: with Transfer-Encoding, chunked must be the last coding and appear
    // once, and Content-Length must not be there (smuggling); HTTP/1.0 knows no chunking.
    const auto chunked = std::count(seen.codings.begin(), seen.codings.end(), "chunked");
    if (seen.content_lengths > 0 || m.version() == 10 || seen.codings.empty() ||
        seen.codings.back() != "chunked" || chunked != 1) {
      return refusal(400, "request_smuggling",
                     "Transfer-Encoding must end in one chunked coding, without Content-Length, "
                     "in HTTP/1.1");
    }
  }
  if (m.version() == 11 && seen.hosts != 1) {
    return refusal(400, "bad_request",
                   seen.hosts == 0 ? "HTTP/1.1 without Host" : "several Host fields");
  }
  if (seen.hosts > 1) return refusal(400, "bad_request", "several Host fields");
  if (seen.expect_other) return refusal(417, "expectation_failed", "only Expect: 100-continue");

  Http1Head h;
  h.is_request = true;
  h.method = std::string(m.method_string());
  h.target = std::string(m.target());
  h.version = m.version();
  const bool length_frames = p.content_length().has_value() && !p.chunked();
  h.fields = end_to_end(m.base(), seen, length_frames);
  if (p.chunked()) {
    h.framing = BodyFraming::kChunked;
  } else if (length_frames && *p.content_length() > 0) {
    h.framing = BodyFraming::kLength;
    h.content_length = *p.content_length();
  }
  h.keep_alive = p.keep_alive();
  h.upgrade = p.upgrade() && !seen.upgrade.empty();
  h.upgrade_protocol = h.upgrade ? seen.upgrade : "";
  h.expect_continue = seen.expect_continue && h.framing != BodyFraming::kNone;
  h.te_trailers = seen.te_trailers;
  h.head_size = used;
  return h;
}

HeadParse parse_response_head(std::string_view bytes, std::size_t max_head_bytes,
                              std::string_view request_method) {
  if (bytes.empty()) return std::monostate{};
  bh::response_parser<bh::empty_body> p;
  if (iequals(request_method, "HEAD")) p.skip(true);
  std::size_t used = 0;
  bool incomplete = false;
  if (auto no = feed(p, bytes, max_head_bytes, used, incomplete, false)) return *no;
  if (incomplete) return std::monostate{};
  const auto& m = p.get();
  const Seen seen = inspect(m.base());
  if (m.version() != 10 && m.version() != 11) {
    return refusal(502, "bad_response", "the response is not HTTP/1.x");
  }
  const unsigned status = m.result_int();
  if (status < 100 || status > 599) {
    return refusal(502, "bad_response", "status " + std::to_string(status) + " is not 100..599");
  }
  const bool no_body = status < 200 || status == 204 || status == 304 ||
                       iequals(request_method, "HEAD") ||
                       (iequals(request_method, "CONNECT") && status / 100 == 2);
  Http1Head h;
  h.is_request = false;
  h.status = status;
  h.reason = std::string(m.reason());
  h.version = m.version();
  const bool length_frames = !no_body && p.content_length().has_value() && !p.chunked();
  h.fields = end_to_end(m.base(), seen, length_frames);
  h.keep_alive = p.keep_alive();
  if (no_body) {
    h.framing = BodyFraming::kNone;
  } else if (p.chunked()) {
    h.framing = BodyFraming::kChunked;
  } else if (length_frames) {
    // Even a length of 0: unlike a request, a response without one runs until the close.
    h.framing = BodyFraming::kLength;
    h.content_length = *p.content_length();
  } else {
    h.framing = BodyFraming::kUntilClose;
    h.keep_alive = false;
  }
  h.upgrade = status == 101;
  h.upgrade_protocol = h.upgrade ? seen.upgrade : "";
  h.head_size = used;
  return h;
}

std::string serialize(const Http1Head& head) {
  std::string out;
  const std::string version = head.version == 10 ? "HTTP/1.0" : "HTTP/1.1";
  if (head.is_request) {
    out = head.method + " " + head.target + " " + version + "\r\n";
  } else {
    out = version + " " + std::to_string(head.status) + " " + head.reason + "\r\n";
  }
  for (const auto& [n, v] : head.fields) out += n + ": " + v + "\r\n";
  if (head.framing == BodyFraming::kLength) {
    out += "Content-Length: " + std::to_string(head.content_length) + "\r\n";
  } else if (head.framing == BodyFraming::kChunked) {
    out += "Transfer-Encoding: chunked\r\n";
  }
  std::string connection;
  if (head.upgrade) connection = "upgrade";
  if (!head.keep_alive && head.version == 11)
    connection += connection.empty() ? "close" : ", close";
  if (head.keep_alive && head.version == 10) {
    connection += connection.empty() ? "keep-alive" : ", keep-alive";
  }
  if (!connection.empty()) out += "Connection: " + connection + "\r\n";
  if (head.upgrade) out += "Upgrade: " + head.upgrade_protocol + "\r\n";
  if (head.is_request && head.expect_continue) out += "Expect: 100-continue\r\n";
  if (head.is_request && head.te_trailers) out += "TE: trailers\r\n";
  return out + "\r\n";
}

}  // namespace strait::proxy::http
