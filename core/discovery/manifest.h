// YAML manifests shaped like Kubernetes objects (apiVersion, kind, metadata, spec; several
// documents per file separated by ---): what `straitctl apply -f` reads and `straitctl get -o
// yaml|json` prints. Parsing validates everything a person can get wrong and names the document
// and the field path in the error.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/base/result.h"
#include "core/discovery/model.h"

namespace strait::discovery {

// Objects in document order, metadata.cluster defaulting to default_cluster and
// metadata.namespace to "default". Error codes: invalid_manifest (YAML syntax, a document that
// is not an object, kind missing), unknown_kind, invalid_field. Messages look like
//   document 2 (Service shop/web): spec.ports[0].port: must be 1..65535, got 70000
Result<std::vector<Object>> parse_manifests(std::string_view yaml_text,
                                            const std::string& default_cluster);

// The semantic checks parse_manifests applies (names are DNS labels, ports in range, addresses
// are IPs or DNS names, CIDRs, identities). Error code invalid_field, message "<path>: <what>".
Result<void> validate_object(const Object& object);

// One document (no leading ---), re-appliable: no version, no owner.
std::string to_manifest_yaml(const Object& object);
// Several documents separated by ---.
std::string to_manifest_yaml(const std::vector<Object>& objects);
// The same in JSON (pretty-printed); several objects:
// {"apiVersion":"v1","kind":"List","items":[...]}.
std::string to_manifest_json(const Object& object);
std::string to_manifest_json(const std::vector<Object>& objects);

// Helpers shared with other validators.
bool is_dns_label(std::string_view s);   // RFC 1123 label: [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63
bool is_dns_name(std::string_view s);    // dot-separated labels, <= 253, optional trailing dot
bool is_ip_address(std::string_view s);  // IPv4 or IPv6 literal
bool is_cidr(std::string_view s);        // "10.0.0.0/8", "fd00::/8" (a bare IP is a /32 or /128)

}  // namespace strait::discovery
