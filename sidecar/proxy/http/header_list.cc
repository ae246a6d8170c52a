// The message model's field helpers and version names (message.h), apart from BodyPipe so that
// code without coroutines (the fuzz targets) can link them alone.
#include "sidecar/proxy/http/message.h"

namespace strait::proxy::http {

std::optional<std::string_view> find_field(const HeaderList& fields, std::string_view name) {
  for (const auto& [n, v] : fields) {
    if (n == name) return std::string_view(v);
  }
  return std::nullopt;
}

std::size_t remove_field(HeaderList& fields, std::string_view name) {
  return std::erase_if(fields, [&](const auto& f) { return f.first == name; });
}

std::string_view version_name(HttpVersion v) {
  switch (v) {
    case HttpVersion::kHttp10:
      return "HTTP/1.0";
    case HttpVersion::kHttp11:
      return "HTTP/1.1";
    case HttpVersion::kHttp2:
      return "HTTP/2";
  }
  return "HTTP/2";
}

}  // namespace strait::proxy::http
