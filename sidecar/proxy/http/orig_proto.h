// The original-protocol marker: between proxies every request travels as HTTP/2, and one that
// the application sent as HTTP/1.x carries `strait-orig-proto: HTTP/1.1` (or HTTP/1.0), with
// `; absolute-form` when its target was absolute-form, so that the inbound proxy gives the
// application HTTP/1 again, as it was sent. The field arrives from another proxy, so it is
// parsed strictly: anything else is refused (400), never guessed at. Fuzzed alone
// (tests/fuzz/fuzz_orig_proto.cc).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "core/base/result.h"
#include "sidecar/proxy/http/message.h"

namespace strait::proxy::http {

inline constexpr std::string_view kOrigProtoField = "strait-orig-proto";

struct OrigProto {
  HttpVersion version = HttpVersion::kHttp11;  // kHttp10 or kHttp11
  bool absolute_form = false;
};

std::string encode_orig_proto(const OrigProto& p);
// Error bad_orig_proto: not exactly "HTTP/1.0" / "HTTP/1.1", optionally followed by
// "; absolute-form" (optional whitespace around ';', case-insensitive token).
Result<OrigProto> parse_orig_proto(std::string_view value);

// Marks a request from an HTTP/1 client for the trip between proxies (replacing any marker the
// application sent: the field is ours); HTTP/2 requests lose any marker.
void mark_orig_proto(RequestHead& head, bool absolute_form);
// On the inbound side: takes the marker out of the request. nullopt: no marker (an HTTP/2
// request); error: a marker that does not parse.
Result<std::optional<OrigProto>> take_orig_proto(RequestHead& head);

}  // namespace strait::proxy::http
