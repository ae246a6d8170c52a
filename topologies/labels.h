// The labels and annotations of multicluster mirroring (brief, section 7), in one place.
#pragma once

#include <string_view>

namespace strait::topologies {

inline constexpr std::string_view kExported =
    "mirror.strait.dev/exported";  // "true" | "remote-discovery"
inline constexpr std::string_view kFederated = "mirror.strait.dev/federated";  // "member"
inline constexpr std::string_view kExportTo =
    "mirror.strait.dev/export-to";  // annotation: "west,north"
inline constexpr std::string_view kMirrored =
    "mirror.strait.dev/mirrored-service";  // "true" on mirrors
inline constexpr std::string_view kClusterName = "mirror.strait.dev/cluster-name";
inline constexpr std::string_view kRemoteFqName =
    "mirror.strait.dev/remote-svc-fq-name";  // annotation
// annotation on a mirror whose link's export stream has been down past staleAfter: since when
// (Unix seconds); its endpoints are not ready meanwhile.
inline constexpr std::string_view kStaleSince = "mirror.strait.dev/stale-since";
inline constexpr std::string_view kPrefix = "mirror.strait.dev/";

}  // namespace strait::topologies
