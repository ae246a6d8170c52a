// Object <-> JSON. One spec encoding shared by the store and manifest dialects, so a manifest
// field and its stored form never drift apart.
#include "core/discovery/json_codec.h"

#include <array>
#include <charconv>
#include <limits>

#include <boost/json.hpp>

namespace strait::discovery {

namespace json = boost::json;

namespace {

constexpr std::array<std::string_view, 7> kKindNames = {
    "Service", "Endpoint",      "Server",       "AuthorizationPolicy",
    "Link",    "ServiceExport", "ServiceImport"};

// ---------------------------------------------------------------------------------------------
// Decoding: the first error wins; later calls are no-ops, so decoders read straight through.

std::string describe(const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      return "null";
    case json::kind::bool_:
      return v.get_bool() ? "boolean true" : "boolean false";
    case json::kind::int64:
    case json::kind::uint64:
    case json::kind::double_:
      return "number " + json::serialize(v);
    case json::kind::string:
      return "string " + json::serialize(v);
    case json::kind::array:
      return "a list";
    case json::kind::object:
      return "a mapping";
  }
  return "?";
}

std::string join(const std::string& path, std::string_view key) {
  return path.empty() ? std::string(key) : path + "." + std::string(key);
}

struct Decoder {
  std::optional<Error> error;
  void fail(const std::string& path, const std::string& message,
            const std::string& code = "invalid_field") {
    if (!error) error = Error{code, path + ": " + message};
  }
  bool ok() const { return !error; }
};

// Reads one JSON object's fields; finish() reports fields nobody asked for.
class Fields {
 public:
  // v == nullptr: the field was absent (every getter leaves defaults).
  Fields(Decoder& d, const json::value* v, std::string path) : d_(d), path_(std::move(path)) {
    if (v == nullptr || v->is_null()) return;
    if (!v->is_object()) {
      d_.fail(path_, "expected a mapping, got " + describe(*v));
      return;
    }
    obj_ = &v->get_object();
  }

  const std::string& path() const { return path_; }
  Decoder& decoder() { return d_; }
  std::string at(std::string_view key) const { return join(path_, key); }

  const json::value* get(std::string_view key) {
    if (obj_ == nullptr || !d_.ok()) return nullptr;
    seen_.emplace_back(key);
    const json::value* v = obj_->if_contains(key);
    return (v != nullptr && v->is_null()) ? nullptr : v;  // null reads as absent
  }

  bool required(std::string_view key) {
    if (!d_.ok()) return false;
    if (obj_ == nullptr || obj_->if_contains(key) == nullptr || obj_->at(key).is_null()) {
      d_.fail(at(key), "required");
      return false;
    }
    return true;
  }

  void str(std::string_view key, std::string& out) {
    const json::value* v = get(key);
    if (v == nullptr) return;
    if (!v->is_string()) return d_.fail(at(key), "expected a string, got " + describe(*v));
    out = std::string(v->get_string());
  }

  void boolean(std::string_view key, bool& out) {
    const json::value* v = get(key);
    if (v == nullptr) return;
    if (!v->is_bool()) return d_.fail(at(key), "expected true or false, got " + describe(*v));
    out = v->get_bool();
  }

  // An unsigned integer in [min, max]; the error spells the range and the value seen.
  // `shown_min` is the range the message states (a port says 1..65535 even where the store
  // tolerates 0 as "unset").
  std::optional<std::uint64_t> integer(std::string_view key, std::uint64_t min, std::uint64_t max,
                                       std::optional<std::uint64_t> shown_min = std::nullopt) {
    const json::value* v = get(key);
    if (v == nullptr) return std::nullopt;
    std::string range = std::to_string(shown_min.value_or(min)) + ".." + std::to_string(max);
    if (v->is_uint64()) {
      std::uint64_t n = v->get_uint64();
      if (n < min || n > max) {
        d_.fail(at(key), "must be " + range + ", got " + std::to_string(n));
        return std::nullopt;
      }
      return n;
    }
    if (v->is_int64()) {
      std::int64_t n = v->get_int64();
      if (n < 0 || static_cast<std::uint64_t>(n) < min || static_cast<std::uint64_t>(n) > max) {
        d_.fail(at(key), "must be " + range + ", got " + std::to_string(n));
        return std::nullopt;
      }
      return static_cast<std::uint64_t>(n);
    }
    // A double is never read as an integer: the parser makes one of any number beyond 64 bits
    // (18446744073709551616 is 2^64 as a double), and a cast of it would be undefined.
    if (v->is_double()) {
      d_.fail(at(key), "must be an integer " + range + ", got " + json::serialize(*v));
      return std::nullopt;
    }
    d_.fail(at(key), "expected an integer, got " + describe(*v));
    return std::nullopt;
  }

  // zero_is_unset: 0 is accepted (semantic validation decides) but the message says 1..65535.
  void port(std::string_view key, std::uint16_t& out, bool zero_is_unset) {
    if (auto n = integer(key, 0, 65535, zero_is_unset ? 1 : 0))
      out = static_cast<std::uint16_t>(*n);
  }
  void u32(std::string_view key, std::uint32_t& out) {
    if (auto n = integer(key, 0, std::numeric_limits<std::uint32_t>::max())) {
      out = static_cast<std::uint32_t>(*n);
    }
  }
  void u64(std::string_view key, std::uint64_t& out) {
    if (auto n = integer(key, 0, std::numeric_limits<std::uint64_t>::max())) out = *n;
  }

  void protocol(std::string_view key, ProtocolHint& out) {
    const json::value* v = get(key);
    if (v == nullptr) return;
    std::optional<ProtocolHint> p;
    if (v->is_string()) p = protocol_from_name(v->get_string());
    if (!p) {
      return d_.fail(at(key), "must be one of opaque, http1, http2, unknown, got " + describe(*v));
    }
    out = *p;
  }

  void duration(std::string_view key, std::chrono::milliseconds& out) {
    const json::value* v = get(key);
    if (v == nullptr) return;
    std::optional<std::chrono::milliseconds> d;
    if (v->is_string()) d = parse_duration(v->get_string());
    if (!d) {
      return d_.fail(at(key),
                     "expected a duration such as \"3s\" or \"500ms\", got " + describe(*v));
    }
    out = *d;
  }

  void labels(std::string_view key, Labels& out) {
    const json::value* v = get(key);
    if (v == nullptr) return;
    if (!v->is_object()) return d_.fail(at(key), "expected a mapping, got " + describe(*v));
    for (const auto& [k, val] : v->get_object()) {
      if (!val.is_string()) {
        return d_.fail(at(key) + "." + std::string(k),
                       "expected a string, got " + describe(val) + " (quote it)");
      }
      out[std::string(k)] = std::string(val.get_string());
    }
  }

  void strings(std::string_view key, std::vector<std::string>& out) {
    const json::value* v = get(key);
    if (v == nullptr) return;
    if (!v->is_array()) return d_.fail(at(key), "expected a list, got " + describe(*v));
    const auto& arr = v->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
      if (!arr[i].is_string()) {
        return d_.fail(at(key) + "[" + std::to_string(i) + "]",
                       "expected a string, got " + describe(arr[i]));
      }
      out.emplace_back(arr[i].get_string());
    }
  }

  // A nested mapping; absent reads as empty.
  Fields sub(std::string_view key) { return Fields(d_, get(key), at(key)); }

  const json::array* array(std::string_view key) {
    const json::value* v = get(key);
    if (v == nullptr) return nullptr;
    if (!v->is_array()) {
      d_.fail(at(key), "expected a list, got " + describe(*v));
      return nullptr;
    }
    return &v->get_array();
  }

  void finish() {
    if (obj_ == nullptr || !d_.ok()) return;
    for (const auto& [k, v] : *obj_) {
      bool known = false;
      for (const auto& s : seen_) known = known || s == k;
      if (!known) return d_.fail(at(k), "unknown field");
    }
  }

 private:
  Decoder& d_;
  std::string path_;
  const json::object* obj_ = nullptr;
  std::vector<std::string> seen_;
};

// {matchLabels: {...}}: the Kubernetes label-selector shape (only matchLabels is supported).
void selector(Fields& parent, std::string_view key, Labels& out) {
  Fields s = parent.sub(key);
  s.labels("matchLabels", out);
  s.finish();
}

void service_ports(Fields& f, std::vector<ServicePort>& out) {
  if (const json::array* ports = f.array("ports")) {
    for (std::size_t i = 0; i < ports->size(); ++i) {
      Fields p(f.decoder(), &(*ports)[i], f.at("ports") + "[" + std::to_string(i) + "]");
      ServicePort port;
      p.str("name", port.name);
      p.port("port", port.port, /*zero_is_unset=*/true);
      p.port("targetPort", port.target_port, /*zero_is_unset=*/false);
      p.protocol("protocol", port.protocol);
      p.finish();
      out.push_back(std::move(port));
    }
  }
}

void decode_spec(Fields& f, Service& s) {
  f.str("clusterIP", s.cluster_ip);
  service_ports(f, s.ports);
  f.strings("serviceAccounts", s.service_accounts);
}

void decode_spec(Fields& f, ServiceImport& i) {
  f.str("type", i.type);
  service_ports(f, i.ports);
  f.strings("ips", i.ips);
}

// status: only a ServiceImport has one: {clusters: [{cluster}], conditions: [{type:
// ServiceExportConflict, status: "True", reason, message}]}.
template <typename T>
void decode_status(Fields&, T&) {}

void decode_status(Fields& f, ServiceImport& i) {
  if (const json::array* clusters = f.array("clusters")) {
    for (std::size_t n = 0; n < clusters->size(); ++n) {
      Fields c(f.decoder(), &(*clusters)[n], f.at("clusters") + "[" + std::to_string(n) + "]");
      c.required("cluster");
      c.str("cluster", i.clusters.emplace_back());
      c.finish();
    }
  }
  if (const json::array* conditions = f.array("conditions")) {
    for (std::size_t n = 0; n < conditions->size(); ++n) {
      Fields c(f.decoder(), &(*conditions)[n], f.at("conditions") + "[" + std::to_string(n) + "]");
      // Read (so that finish() accepts them) but not kept: every condition is a conflict.
      std::string type, status, reason;
      c.str("type", type);
      c.str("status", status);
      c.str("reason", reason);
      c.str("message", i.conflicts.emplace_back());
      c.finish();
    }
  }
}

void decode_spec(Fields& f, Endpoint& e) {
  f.str("service", e.service);
  f.str("address", e.address);
  f.port("port", e.port, true);
  f.str("identity", e.identity);
  f.str("zone", e.zone);
  f.boolean("ready", e.ready);
  f.u32("weight", e.weight);
  f.protocol("protocol", e.protocol);
  f.str("authorityOverride", e.authority_override);
  if (const json::array* ports = f.array("ports")) {
    for (std::size_t i = 0; i < ports->size(); ++i) {
      Fields p(f.decoder(), &(*ports)[i], f.at("ports") + "[" + std::to_string(i) + "]");
      EndpointPort port;
      p.str("name", port.name);
      p.port("port", port.port, /*zero_is_unset=*/true);
      p.finish();
      e.ports.push_back(std::move(port));
    }
  }
}

void decode_spec(Fields& f, Server& s) {
  selector(f, "podSelector", s.pod_selector);
  f.port("port", s.port, true);
  f.protocol("proxyProtocol", s.proxy_protocol);
}

void decode_spec(Fields& f, AuthorizationPolicy& a) {
  Fields target = f.sub("targetRef");
  std::string kind;
  target.str("kind", kind);
  if (target.decoder().ok() && !kind.empty() && kind != "Server") {
    target.decoder().fail(target.at("kind"), "must be Server, got \"" + kind + "\"");
  }
  target.str("name", a.target_server);
  target.finish();
  Fields auth = f.sub("requiredAuthentication");
  auth.strings("identities", a.identities);
  auth.strings("networks", a.networks);
  auth.finish();
  f.boolean("unauthenticated", a.unauthenticated);
}

void decode_spec(Fields& f, Link& l) {
  f.str("targetClusterName", l.target_cluster);
  f.str("targetClusterDomain", l.target_domain);
  f.str("targetTrustDomain", l.target_trust_domain);
  f.str("trustBundle", l.trust_bundle_pem);
  f.str("exportAddress", l.export_address);
  f.str("identityAddress", l.identity_address);
  f.strings("gatewayAddresses", l.gateway_addresses);
  f.port("gatewayPort", l.gateway_port, true);
  f.str("gatewayIdentity", l.gateway_identity);
  Fields probe = f.sub("probeSpec");
  probe.str("path", l.probe.path);
  probe.port("port", l.probe.port, true);
  probe.duration("period", l.probe.period);
  probe.duration("timeout", l.probe.timeout);
  probe.u32("failureThreshold", l.probe.failure_threshold);
  probe.finish();
  selector(f, "selector", l.selector);
  selector(f, "remoteDiscoverySelector", l.remote_discovery_selector);
  selector(f, "federatedServiceSelector", l.federated_selector);
  f.strings("excludedLabels", l.excluded_labels);
  f.str("linkToken", l.link_token);
  f.duration("staleAfter", l.stale_after);
}

void decode_spec(Fields&, ServiceExport&) {}  // no spec: any field in it is unknown

Object empty_object(Kind kind) {
  switch (kind) {
    case Kind::kService:
      return Service{};
    case Kind::kEndpoint:
      return Endpoint{};
    case Kind::kServer:
      return Server{};
    case Kind::kAuthorizationPolicy:
      return AuthorizationPolicy{};
    case Kind::kLink:
      return Link{};
    case Kind::kServiceExport:
      return ServiceExport{};
    case Kind::kServiceImport:
      return ServiceImport{};
  }
  return Service{};
}

// ---------------------------------------------------------------------------------------------
// Encoding.

json::object labels_json(const Labels& labels) {
  json::object o;
  for (const auto& [k, v] : labels) o[k] = v;
  return o;
}
json::array strings_json(const std::vector<std::string>& v) {
  json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}
json::object selector_json(const Labels& labels) {
  json::object o;
  o["matchLabels"] = labels_json(labels);
  return o;
}

json::array ports_json(const std::vector<ServicePort>& ports) {
  json::array out;
  for (const auto& p : ports) {
    json::object j;
    j["name"] = p.name;
    j["port"] = p.port;
    j["targetPort"] = p.target_port;
    j["protocol"] = protocol_name(p.protocol);
    out.emplace_back(std::move(j));
  }
  return out;
}

json::object spec_json(const Service& s) {
  json::object o;
  o["clusterIP"] = s.cluster_ip;
  o["ports"] = ports_json(s.ports);
  if (!s.service_accounts.empty()) o["serviceAccounts"] = strings_json(s.service_accounts);
  return o;
}
json::object spec_json(const ServiceImport& i) {
  json::object o;
  o["type"] = i.type;
  o["ports"] = ports_json(i.ports);
  o["ips"] = strings_json(i.ips);
  return o;
}

template <typename T>
std::optional<json::object> status_json(const T&) {
  return std::nullopt;
}
std::optional<json::object> status_json(const ServiceImport& i) {
  json::array clusters;
  for (const auto& c : i.clusters) clusters.emplace_back(json::object{{"cluster", c}});
  json::array conditions;
  for (const auto& m : i.conflicts) {
    conditions.emplace_back(json::object{{"type", "ServiceExportConflict"},
                                         {"status", "True"},
                                         {"reason", "PortConflict"},
                                         {"message", m}});
  }
  json::object o;
  o["clusters"] = std::move(clusters);
  if (!conditions.empty()) o["conditions"] = std::move(conditions);
  return o;
}
json::object spec_json(const Endpoint& e) {
  json::object o;
  o["service"] = e.service;
  o["address"] = e.address;
  o["port"] = e.port;
  o["identity"] = e.identity;
  o["zone"] = e.zone;
  o["ready"] = e.ready;
  o["weight"] = e.weight;
  o["protocol"] = protocol_name(e.protocol);
  o["authorityOverride"] = e.authority_override;
  if (!e.ports.empty()) {
    json::array ports;
    for (const auto& p : e.ports)
      ports.emplace_back(json::object{{"name", p.name}, {"port", p.port}});
    o["ports"] = std::move(ports);
  }
  return o;
}
json::object spec_json(const Server& s) {
  json::object o;
  o["podSelector"] = selector_json(s.pod_selector);
  o["port"] = s.port;
  o["proxyProtocol"] = protocol_name(s.proxy_protocol);
  return o;
}
json::object spec_json(const AuthorizationPolicy& a) {
  json::object o;
  o["targetRef"] = json::object{{"kind", "Server"}, {"name", a.target_server}};
  o["requiredAuthentication"] = json::object{{"identities", strings_json(a.identities)},
                                             {"networks", strings_json(a.networks)}};
  o["unauthenticated"] = a.unauthenticated;
  return o;
}
json::object spec_json(const ServiceExport&) { return {}; }
json::object spec_json(const Link& l) {
  json::object o;
  o["targetClusterName"] = l.target_cluster;
  o["targetClusterDomain"] = l.target_domain;
  o["targetTrustDomain"] = l.target_trust_domain;
  o["trustBundle"] = l.trust_bundle_pem;
  o["exportAddress"] = l.export_address;
  o["identityAddress"] = l.identity_address;
  o["gatewayAddresses"] = strings_json(l.gateway_addresses);
  o["gatewayPort"] = l.gateway_port;
  o["gatewayIdentity"] = l.gateway_identity;
  o["probeSpec"] = json::object{{"path", l.probe.path},
                                {"port", l.probe.port},
                                {"period", format_duration(l.probe.period)},
                                {"timeout", format_duration(l.probe.timeout)},
                                {"failureThreshold", l.probe.failure_threshold}};
  o["selector"] = selector_json(l.selector);
  o["remoteDiscoverySelector"] = selector_json(l.remote_discovery_selector);
  o["federatedServiceSelector"] = selector_json(l.federated_selector);
  o["excludedLabels"] = strings_json(l.excluded_labels);
  if (!l.link_token.empty()) o["linkToken"] = l.link_token;
  o["staleAfter"] = format_duration(l.stale_after);
  return o;
}

}  // namespace

std::string_view kind_name(Kind kind) { return kKindNames[static_cast<std::size_t>(kind)]; }

std::optional<Kind> kind_from_name(std::string_view name) {
  for (std::size_t i = 0; i < kKindNames.size(); ++i) {
    if (kKindNames[i] == name) return static_cast<Kind>(i);
  }
  return std::nullopt;
}

std::string_view api_version_of(Kind kind) {
  switch (kind) {
    case Kind::kLink:
      return "multicluster.strait.dev/v1alpha1";
    case Kind::kServiceExport:
    case Kind::kServiceImport:
      return "multicluster.x-k8s.io/v1alpha1";  // the Kubernetes MCS API's own group
    default:
      return "strait.dev/v1alpha1";
  }
}

std::string port_text(const ServicePort& port) {
  return std::to_string(port.port) + "/" + std::string(protocol_name(port.protocol));
}

std::string_view protocol_name(ProtocolHint protocol) {
  switch (protocol) {
    case ProtocolHint::kUnknown:
      return "unknown";
    case ProtocolHint::kOpaque:
      return "opaque";
    case ProtocolHint::kHttp1:
      return "http1";
    case ProtocolHint::kHttp2:
      return "http2";
  }
  return "unknown";
}

std::optional<ProtocolHint> protocol_from_name(std::string_view name) {
  if (name == "unknown") return ProtocolHint::kUnknown;
  if (name == "opaque") return ProtocolHint::kOpaque;
  if (name == "http1") return ProtocolHint::kHttp1;
  if (name == "http2") return ProtocolHint::kHttp2;
  return std::nullopt;
}

std::string format_duration(std::chrono::milliseconds d) {
  std::int64_t ms = d.count();
  if (ms != 0 && ms % 3'600'000 == 0) return std::to_string(ms / 3'600'000) + "h";
  if (ms != 0 && ms % 60'000 == 0) return std::to_string(ms / 60'000) + "m";
  if (ms % 1000 == 0) return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::int64_t n = 0;
    auto [end, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc() || n < 0) return std::nullopt;
    i = static_cast<std::size_t>(end - text.data());
    std::int64_t unit = 0;
    std::string_view rest = text.substr(i);
    if (rest.starts_with("ms")) {
      unit = 1;
      i += 2;
    } else if (rest.starts_with("s")) {
      unit = 1000;
      i += 1;
    } else if (rest.starts_with("m")) {
      unit = 60'000;
      i += 1;
    } else if (rest.starts_with("h")) {
      unit = 3'600'000;
      i += 1;
    } else {
      return std::nullopt;
    }
    if (n > std::numeric_limits<std::int64_t>::max() / unit / 2) return std::nullopt;
    total += n * unit;
    if (total > std::numeric_limits<std::int64_t>::max() / 2) return std::nullopt;
  }
  return std::chrono::milliseconds(total);
}

json::value object_to_json(const Object& object, JsonDialect dialect) {
  const Meta& m = meta_of(object);
  Kind kind = kind_of(object);
  json::object meta;
  meta["name"] = m.name;
  meta["namespace"] = m.ns;
  if (dialect == JsonDialect::kStore || !m.cluster.empty()) meta["cluster"] = m.cluster;
  if (dialect == JsonDialect::kStore || !m.labels.empty()) meta["labels"] = labels_json(m.labels);
  if (dialect == JsonDialect::kStore || !m.annotations.empty()) {
    meta["annotations"] = labels_json(m.annotations);
  }
  if (dialect == JsonDialect::kStore) {
    meta["version"] = m.version;
    meta["owner"] = m.owner;
  }
  json::object out;
  out["apiVersion"] = api_version_of(kind);
  out["kind"] = kind_name(kind);
  out["metadata"] = std::move(meta);
  out["spec"] = std::visit([](const auto& v) { return spec_json(v); }, object);
  if (auto status = std::visit([](const auto& v) { return status_json(v); }, object)) {
    out["status"] = std::move(*status);
  }
  return out;
}

Result<Object> object_from_json(const json::value& value, JsonDialect dialect) {
  if (!value.is_object()) {
    return make_error("invalid_manifest",
                      "expected a mapping with kind, metadata and spec, got " + describe(value));
  }
  const json::object& o = value.get_object();
  const json::value* kind_v = o.if_contains("kind");
  if (kind_v == nullptr || kind_v->is_null())
    return make_error("invalid_manifest", "kind: required");
  if (!kind_v->is_string()) {
    return make_error("invalid_manifest", "kind: expected a string, got " + describe(*kind_v));
  }
  std::optional<Kind> kind = kind_from_name(kind_v->get_string());
  if (!kind) {
    std::string known;
    for (const auto& k : kKindNames) known += (known.empty() ? "" : ", ") + std::string(k);
    return make_error("unknown_kind", "unknown kind \"" + std::string(kind_v->get_string()) +
                                          "\" (known: " + known + ")");
  }

  Decoder d;
  Fields top(d, &value, "");
  top.get("kind");
  std::string api_version;
  if (dialect == JsonDialect::kManifest) top.required("apiVersion");
  top.str("apiVersion", api_version);
  if (d.ok() && !api_version.empty() && api_version != api_version_of(*kind)) {
    d.fail("apiVersion", "must be " + std::string(api_version_of(*kind)) + " for " +
                             std::string(kind_name(*kind)) + ", got \"" + api_version + "\"");
  }

  Object object = empty_object(*kind);
  Meta& m = meta_of(object);
  top.required("metadata");
  Fields meta = top.sub("metadata");
  meta.required("name");
  meta.str("name", m.name);
  meta.str("namespace", m.ns);
  meta.str("cluster", m.cluster);
  meta.labels("labels", m.labels);
  meta.labels("annotations", m.annotations);
  if (dialect == JsonDialect::kStore) {
    meta.u64("version", m.version);
    meta.str("owner", m.owner);
  } else if (m.ns.empty()) {
    m.ns = "default";
  }
  meta.finish();

  Fields spec = top.sub("spec");
  std::visit([&](auto& v) { decode_spec(spec, v); }, object);
  spec.finish();
  Fields status = top.sub("status");
  std::visit([&](auto& v) { decode_status(status, v); }, object);
  status.finish();
  top.finish();
  if (d.error) return *d.error;
  return object;
}

json::value key_to_json(const ObjectKey& key) {
  return json::object{{"kind", kind_name(key.kind)}, {"namespace", key.ns}, {"name", key.name}};
}

Result<ObjectKey> key_from_json(const json::value& value) {
  Decoder d;
  Fields f(d, &value, "");
  std::string kind;
  ObjectKey key;
  f.required("kind");
  f.str("kind", kind);
  f.str("namespace", key.ns);
  f.required("name");
  f.str("name", key.name);
  f.finish();
  if (d.error) return *d.error;
  std::optional<Kind> k = kind_from_name(kind);
  if (!k) return make_error("unknown_kind", "unknown kind \"" + kind + "\"");
  key.kind = *k;
  return key;
}

std::string_view event_type_name(Event::Type type) {
  switch (type) {
    case Event::Type::kAdded:
      return "added";
    case Event::Type::kModified:
      return "modified";
    case Event::Type::kDeleted:
      return "deleted";
  }
  return "added";
}

json::value event_to_json(const Event& event) {
  return json::object{{"type", event_type_name(event.type)},
                      {"object", object_to_json(event.object)}};
}

Result<Event> event_from_json(const json::value& value) {
  if (!value.is_object())
    return make_error("invalid_field", "expected a mapping, got " + describe(value));
  const json::object& o = value.get_object();
  const json::value* type = o.if_contains("type");
  const json::value* object = o.if_contains("object");
  Event event;
  if (type == nullptr || !type->is_string())
    return make_error("invalid_field", "type: required string");
  if (type->get_string() == "added") {
    event.type = Event::Type::kAdded;
  } else if (type->get_string() == "modified") {
    event.type = Event::Type::kModified;
  } else if (type->get_string() == "deleted") {
    event.type = Event::Type::kDeleted;
  } else {
    return make_error("invalid_field",
                      "type: must be added, modified or deleted, got " + describe(*type));
  }
  if (object == nullptr) return make_error("invalid_field", "object: required");
  Result<Object> decoded = object_from_json(*object);
  if (!decoded) return make_error(decoded.error().code, "object." + decoded.error().message);
  event.object = std::move(decoded).value();
  return event;
}

}  // namespace strait::discovery
