// The discovery model as JSON: the store's persistence format, the admin API's wire format and
// (in the manifest dialect) `straitctl get -o json`. Decoding is strict about structure (types,
// ranges, unknown fields, enum names) and names the field path in every error; semantic checks
// (DNS names, IPs, identities) belong to manifest validation, so anything a store accepted can
// always be read back.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

#include "core/base/result.h"
#include "core/discovery/model.h"
#include "core/discovery/store.h"

namespace strait::discovery {

// kStore: metadata carries everything (cluster, version, owner); apiVersion optional on input.
// kManifest: what a person writes or reads: apiVersion required, metadata is name, namespace
// (default "default"), cluster (optional), labels, annotations; no version or owner.
enum class JsonDialect { kStore, kManifest };

// "Service" | "Endpoint" | "Server" | "AuthorizationPolicy" | "Link" | "ServiceExport" |
// "ServiceImport".
std::string_view kind_name(Kind kind);
std::optional<Kind> kind_from_name(std::string_view name);
// "strait.dev/v1alpha1"; "multicluster.strait.dev/v1alpha1" for Link;
// "multicluster.x-k8s.io/v1alpha1" for ServiceExport and ServiceImport.
std::string_view api_version_of(Kind kind);
// "opaque" | "http1" | "http2" | "unknown".
std::string_view protocol_name(ProtocolHint protocol);
std::optional<ProtocolHint> protocol_from_name(std::string_view name);
// A service port as tables and messages show it: "80/http1".
std::string port_text(const ServicePort& port);
// Go-style durations: "3s", "1500ms", "1m30s", "1h". Formatting picks the shortest exact unit.
std::string format_duration(std::chrono::milliseconds d);
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// {"apiVersion", "kind", "metadata": {...}, "spec": {...camelCase, as in manifests...}}.
boost::json::value object_to_json(const Object& object, JsonDialect dialect = JsonDialect::kStore);
// Error codes: unknown_kind, invalid_field (message starts with the field path), invalid_manifest
// (not an object / kind missing).
Result<Object> object_from_json(const boost::json::value& json,
                                JsonDialect dialect = JsonDialect::kStore);

// {"kind", "namespace", "name"}.
boost::json::value key_to_json(const ObjectKey& key);
Result<ObjectKey> key_from_json(const boost::json::value& json);

// {"type": "added|modified|deleted", "object": {...}} (store dialect): watch streams on the wire.
std::string_view event_type_name(Event::Type type);
boost::json::value event_to_json(const Event& event);
Result<Event> event_from_json(const boost::json::value& json);

}  // namespace strait::discovery
