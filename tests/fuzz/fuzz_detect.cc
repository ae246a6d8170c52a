// Protocol detection's classifier on a connection's first bytes: never crashes, and a decision
// is final — once a prefix decides, every longer input decides the same.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "sidecar/proxy/detect.h"

using namespace strait::proxy;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::optional<Protocol> first;
  for (std::size_t n = 1; n <= in.size() && n <= kDetectBytes + 8; ++n) {
    auto p = classify(in.substr(0, n));
    if (first && p != first) std::abort();
    if (!first && p) first = p;
  }
  return 0;
}
