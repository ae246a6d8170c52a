// The original-protocol marker (see orig_proto.h).
#include "sidecar/proxy/http/orig_proto.h"

#include <cctype>

namespace strait::proxy::http {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string encode_orig_proto(const OrigProto& p) {
  std::string out(p.version == HttpVersion::kHttp10 ? "HTTP/1.0" : "HTTP/1.1");
  if (p.absolute_form) out += "; absolute-form";
  return out;
}

Result<OrigProto> parse_orig_proto(std::string_view value) {
  auto bad = [&] {
    return make_error("bad_orig_proto",
                      "strait-orig-proto must be HTTP/1.0 or HTTP/1.1 [; absolute-form]");
  };
  OrigProto p;
  std::string_view version = value;
  std::string_view rest;
  if (auto semi = value.find(';'); semi != std::string_view::npos) {
    version = value.substr(0, semi);
    rest = value.substr(semi + 1);
    if (!iequals(trim(rest), "absolute-form")) return bad();
    p.absolute_form = true;
  }
  version = trim(version);
  if (version == "HTTP/1.1") {
    p.version = HttpVersion::kHttp11;
  } else if (version == "HTTP/1.0") {
    p.version = HttpVersion::kHttp10;
  } else {
    return bad();
  }
  return p;
}

void mark_orig_proto(RequestHead& head, bool absolute_form) {
  remove_field(head.fields, kOrigProtoField);
  if (head.version == HttpVersion::kHttp2) return;
  head.fields.emplace_back(std::string(kOrigProtoField),
                           encode_orig_proto({head.version, absolute_form}));
}

Result<std::optional<OrigProto>> take_orig_proto(RequestHead& head) {
  std::optional<OrigProto> out;
  std::size_t seen = 0;
  for (const auto& [name, value] : head.fields) {
    if (name != kOrigProtoField) continue;
    if (++seen > 1) return make_error("bad_orig_proto", "more than one strait-orig-proto field");
    auto p = parse_orig_proto(value);
    if (!p) return p.error();
    out = *p;
  }
  remove_field(head.fields, kOrigProtoField);
  return out;
}

}  // namespace strait::proxy::http
