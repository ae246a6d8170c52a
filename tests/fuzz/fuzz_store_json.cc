// The store's JSON dialect, as another cluster's export stream and the admin Apply deliver it:
// decoding never crashes (UBSan included: numbers beyond 64 bits are not cast), and the codec
// accepts exactly what it produces — a decoded object re-encodes to JSON that decodes to the
// same object.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <boost/json.hpp>

#include "core/discovery/json_codec.h"

namespace discovery = strait::discovery;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(in, ec);
  if (ec) return 0;
  if (auto e = discovery::event_from_json(v)) {
    auto back = discovery::event_from_json(discovery::event_to_json(*e));
    if (!back || back->type != e->type || back->object != e->object) std::abort();
  }
  auto o = discovery::object_from_json(v);
  if (!o) return 0;
  auto back = discovery::object_from_json(discovery::object_to_json(*o));
  if (!back || *back != *o) std::abort();
  return 0;
}
