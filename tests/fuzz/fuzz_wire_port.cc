// Ports from the wire (gateway names, CONNECT targets, destination paths): one spelling per
// port — whatever parses prints back as the same text.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/net/address.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto port = strait::net::parse_wire_port(in);
  if (port && (*port == 0 || std::to_string(*port) != in)) std::abort();
  (void)strait::net::split_host_port(std::string(in));
  return 0;
}
