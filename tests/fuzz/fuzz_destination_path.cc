// Destination lookup paths from proxies ("<svc>.<ns>.svc.<domain>:<port>", "<ip>:<port>"):
// parsing never crashes, and what parses has a port in range and a service target has both
// parts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controlplane/destination/target.h"

using strait::controlplane::Target;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto t = strait::controlplane::parse_target(in, "cluster.local");
  if (!t) return 0;
  if (t->port == 0) std::abort();
  if (t->type == Target::Type::kService && (t->name.empty() || t->ns.empty())) std::abort();
  if (t->type == Target::Type::kAddress && t->ip.empty()) std::abort();
  return 0;
}
