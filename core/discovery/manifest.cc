// YAML manifests: YAML is turned into JSON (resolving plain scalars as YAML 1.2's core schema
// does), decoded by the JSON codec's manifest dialect, then validated here.
#include "core/discovery/manifest.h"

#include <arpa/inet.h>

#include <charconv>
#include <set>

#include <boost/json.hpp>
#include <yaml-cpp/yaml.h>

#include "core/discovery/json_codec.h"

namespace strait::discovery {

namespace json = boost::json;

namespace {

// ---------------------------------------------------------------------------------------------
// YAML -> JSON.

bool all_of(std::string_view s, std::string_view allowed) {
  return !s.empty() && s.find_first_not_of(allowed) == std::string_view::npos;
}

// A plain (unquoted) scalar's value under the YAML 1.2 core schema.
json::value resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  std::string_view v = s;
  bool negative = false;
  std::string_view digits = v;
  if (!digits.empty() && (digits[0] == '-' || digits[0] == '+')) {
    negative = digits[0] == '-';
    digits.remove_prefix(1);
  }
  auto as_int = [&](std::string_view d, int base) -> std::optional<json::value> {
    std::uint64_t n = 0;
    auto [end, ec] = std::from_chars(d.data(), d.data() + d.size(), n, base);
    if (ec != std::errc() || end != d.data() + d.size()) return std::nullopt;
    if (!negative) return json::value(n);
    if (n > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()))
      return std::nullopt;
    return json::value(-static_cast<std::int64_t>(n));
  };
  if (all_of(digits, "0123456789")) {
    if (auto n = as_int(digits, 10)) return *n;
    return json::value(
        std::string_view(s));  // too large for an integer: leave it to the field's type check
  }
  if (!negative && digits.size() > 2 && digits.starts_with("0x") &&
      all_of(digits.substr(2), "0123456789abcdefABCDEF")) {
    if (auto n = as_int(digits.substr(2), 16)) return *n;
  }
  if (!negative && digits.size() > 2 && digits.starts_with("0o") &&
      all_of(digits.substr(2), "01234567")) {
    if (auto n = as_int(digits.substr(2), 8)) return *n;
  }
  // Floats: digits with one '.', optional exponent.
  if (all_of(digits, "0123456789.eE+-") &&
      digits.find_first_of("0123456789") != std::string_view::npos &&
      (digits[0] == '.' || (digits[0] >= '0' && digits[0] <= '9'))) {
    double d = 0;
    auto [end, ec] = std::from_chars(v.data() + (v[0] == '+' ? 1 : 0), v.data() + v.size(), d);
    if (ec == std::errc() && end == v.data() + v.size()) return d;
  }
  return json::value(std::string_view(s));
}

Result<json::value> yaml_to_json(const YAML::Node& node, const std::string& path) {
  switch (node.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return json::value(nullptr);
    case YAML::NodeType::Scalar:
      // "!" marks a quoted (non-plain) scalar: always a string. An explicit tag other than
      // !!str is treated like a plain scalar.
      if (node.Tag() == "!" || node.Tag() == "tag:yaml.org,2002:str")
        return json::value(std::string_view(node.Scalar()));
      return resolve_plain(node.Scalar());
    case YAML::NodeType::Sequence: {
      json::array a;
      std::size_t i = 0;
      for (const auto& item : node) {
        auto v = yaml_to_json(item, path + "[" + std::to_string(i++) + "]");
        if (!v) return v;
        a.push_back(std::move(v).value());
      }
      return json::value(std::move(a));
    }
    case YAML::NodeType::Map: {
      json::object o;
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          return make_error("invalid_field", (path.empty() ? "(top level)" : path) +
                                                 ": mapping keys must be plain strings");
        }
        const std::string& key = kv.first.Scalar();
        std::string sub = path.empty() ? key : path + "." + key;
        if (o.contains(key)) return make_error("invalid_field", sub + ": duplicate key");
        auto v = yaml_to_json(kv.second, sub);
        if (!v) return v;
        o[key] = std::move(v).value();
      }
      return json::value(std::move(o));
    }
  }
  return json::value(nullptr);
}

// ---------------------------------------------------------------------------------------------
// JSON -> YAML (the emitter quotes what would otherwise read back as another type).

void emit(YAML::Emitter& out, const json::value& v) {
  switch (v.kind()) {
    case json::kind::null:
      out << YAML::Null;
      break;
    case json::kind::bool_:
      out << (v.get_bool() ? "true" : "false");
      break;
    case json::kind::int64:
      out << v.get_int64();
      break;
    case json::kind::uint64:
      out << v.get_uint64();
      break;
    case json::kind::double_:
      out << v.get_double();
      break;
    case json::kind::string: {
      std::string s(v.get_string());
      if (s.find('\n') != std::string::npos) {
        out << YAML::Literal << s;
      } else {
        json::value plain = resolve_plain(s);
        bool ambiguous = !plain.is_string() || s == "yes" || s == "no" || s == "on" || s == "off" ||
                         s == "y" || s == "n" || s.front() == ' ' || s.back() == ' ';
        if (ambiguous) out << YAML::DoubleQuoted;
        out << s;
      }
      break;
    }
    case json::kind::array:
      if (v.get_array().empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const auto& item : v.get_array()) emit(out, item);
      out << YAML::EndSeq;
      break;
    case json::kind::object:
      if (v.get_object().empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.get_object()) {
        out << YAML::Key << std::string(k) << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
  }
}

// ---------------------------------------------------------------------------------------------
// Validation.

struct Check {
  std::optional<Error> error;
  void fail(const std::string& path, const std::string& message) {
    if (!error) error = Error{"invalid_field", path + ": " + message};
  }
  void dns_label(const std::string& path, const std::string& v, bool required = true) {
    if (v.empty()) {
      if (required) fail(path, "required");
      return;
    }
    if (!is_dns_label(v)) {
      fail(path,
           "must be a DNS label (lowercase letters, digits and '-', starting and ending with a "
           "letter or digit, at most 63 characters), got \"" +
               v + "\"");
    }
  }
  void dns_name(const std::string& path, const std::string& v) {
    if (v.empty()) return fail(path, "required");
    if (!is_dns_name(v)) fail(path, "must be a DNS name, got \"" + v + "\"");
  }
  void port(const std::string& path, std::uint16_t p) {
    if (p == 0) fail(path, "must be 1..65535, got 0");
  }
  void spiffe(const std::string& path, const std::string& v, bool allow_any) {
    if (allow_any && v == "*") return;
    if (!v.starts_with("spiffe://") || v.size() == std::string_view("spiffe://").size()) {
      fail(path, std::string("must be a SPIFFE id (spiffe://<trust-domain>/<path>)") +
                     (allow_any ? ", a pattern ending in /*, or \"*\"" : "") + ", got \"" + v +
                     "\"");
    }
  }
  void host_or_ip(const std::string& path, const std::string& v) {
    if (v.empty()) return fail(path, "required");
    if (!is_ip_address(v) && !is_dns_name(v)) {
      fail(path, "must be an IP address or a DNS name, got \"" + v + "\"");
    }
  }
  void labels(const std::string& path, const Labels& labels) {
    for (const auto& [k, v] : labels) {
      if (k.empty() || k.size() > 253) fail(path, "label keys must be 1..253 characters");
    }
  }
};

// At least one port; names unique DNS labels, required when there are several.
void check_ports(Check& c, const std::vector<ServicePort>& ports, const std::string& what) {
  if (ports.empty()) c.fail("spec.ports", "must list at least one port");
  std::set<std::string> names;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    std::string p = "spec.ports[" + std::to_string(i) + "]";
    const ServicePort& port = ports[i];
    c.port(p + ".port", port.port);
    if (ports.size() > 1 && port.name.empty())
      c.fail(p + ".name", "required when " + what + " has several ports");
    if (!port.name.empty()) {
      c.dns_label(p + ".name", port.name);
      if (!names.insert(port.name).second)
        c.fail(p + ".name", "duplicate port name \"" + port.name + "\"");
    }
  }
}

void check_spec(Check& c, const Service& s) {
  if (!s.cluster_ip.empty() && !is_headless(s) && !is_ip_address(s.cluster_ip)) {
    c.fail("spec.clusterIP",
           "must be an IP address, None (headless) or omitted to allocate one, got \"" +
               s.cluster_ip + "\"");
  }
  check_ports(c, s.ports, "a Service");
  for (std::size_t i = 0; i < s.service_accounts.size(); ++i) {
    c.dns_label("spec.serviceAccounts[" + std::to_string(i) + "]", s.service_accounts[i]);
  }
}

void check_spec(Check& c, const ServiceImport& i) {
  if (i.type != "ClusterSetIP" && i.type != "Headless") {
    c.fail("spec.type", "must be ClusterSetIP or Headless, got \"" + i.type + "\"");
  }
  check_ports(c, i.ports, "a ServiceImport");
  for (std::size_t n = 0; n < i.ips.size(); ++n) {
    if (!is_ip_address(i.ips[n])) {
      c.fail("spec.ips[" + std::to_string(n) + "]",
             "must be an IP address, got \"" + i.ips[n] + "\"");
    }
  }
  if (i.type == "Headless" && !i.ips.empty()) c.fail("spec.ips", "must be empty for Headless");
  for (std::size_t n = 0; n < i.clusters.size(); ++n) {
    c.dns_label("status.clusters[" + std::to_string(n) + "].cluster", i.clusters[n]);
  }
}

void check_spec(Check& c, const Endpoint& e) {
  c.dns_label("spec.service", e.service);
  c.host_or_ip("spec.address", e.address);
  // One port, a list of them (as an EndpointSlice), or neither: every port of its service.
  if (e.port != 0 && !e.ports.empty())
    c.fail("spec.ports", "give spec.port or spec.ports, not both");
  std::set<std::string> names;
  std::set<std::uint16_t> numbers;
  for (std::size_t i = 0; i < e.ports.size(); ++i) {
    const std::string p = "spec.ports[" + std::to_string(i) + "]";
    c.port(p + ".port", e.ports[i].port);
    if (e.ports[i].port != 0 && !numbers.insert(e.ports[i].port).second)
      c.fail(p + ".port", "duplicate port " + std::to_string(e.ports[i].port));
    if (!e.ports[i].name.empty()) {
      c.dns_label(p + ".name", e.ports[i].name);
      if (!names.insert(e.ports[i].name).second)
        c.fail(p + ".name", "duplicate port name \"" + e.ports[i].name + "\"");
    }
  }
  if (!e.identity.empty()) c.spiffe("spec.identity", e.identity, false);
}

void check_spec(Check& c, const Server& s) {
  c.labels("spec.podSelector.matchLabels", s.pod_selector);
  c.port("spec.port", s.port);
}

void check_spec(Check& c, const AuthorizationPolicy& a) {
  c.dns_label("spec.targetRef.name", a.target_server);
  for (std::size_t i = 0; i < a.identities.size(); ++i) {
    c.spiffe("spec.requiredAuthentication.identities[" + std::to_string(i) + "]", a.identities[i],
             true);
  }
  for (std::size_t i = 0; i < a.networks.size(); ++i) {
    if (!is_cidr(a.networks[i])) {
      c.fail("spec.requiredAuthentication.networks[" + std::to_string(i) + "]",
             "must be a CIDR such as 10.0.0.0/8, got \"" + a.networks[i] + "\"");
    }
  }
  if (a.identities.empty() && a.networks.empty() && !a.unauthenticated) {
    c.fail("spec.requiredAuthentication",
           "must list identities or networks (or set spec.unauthenticated: true)");
  }
}

// Its name is the exported Service's (a DNS label, checked with every name); no spec.
void check_spec(Check&, const ServiceExport&) {}

void check_spec(Check& c, const Link& l) {
  c.dns_label("spec.targetClusterName", l.target_cluster);
  c.dns_name("spec.targetClusterDomain", l.target_domain);
  c.dns_name("spec.targetTrustDomain", l.target_trust_domain);
  if (!l.trust_bundle_pem.empty() &&
      l.trust_bundle_pem.find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
    c.fail("spec.trustBundle", "must be PEM certificates (-----BEGIN CERTIFICATE-----)");
  }
  {
    const std::string& a = l.export_address;
    std::size_t colon = a.rfind(':');
    std::string host = colon == std::string::npos ? "" : a.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']')
      host = host.substr(1, host.size() - 2);
    std::string port = colon == std::string::npos ? "" : a.substr(colon + 1);
    unsigned long n = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    bool port_ok = !port.empty() && ec == std::errc() && end == port.data() + port.size() &&
                   n >= 1 && n <= 65535;
    if (a.empty()) {
      c.fail("spec.exportAddress", "required");
    } else if (!port_ok || (!is_ip_address(host) && !is_dns_name(host))) {
      c.fail("spec.exportAddress", "must be host:port, got \"" + a + "\"");
    }
  }
  for (std::size_t i = 0; i < l.gateway_addresses.size(); ++i) {
    c.host_or_ip("spec.gatewayAddresses[" + std::to_string(i) + "]", l.gateway_addresses[i]);
  }
  c.port("spec.gatewayPort", l.gateway_port);
  if (!l.gateway_identity.empty()) c.spiffe("spec.gatewayIdentity", l.gateway_identity, false);
  if (!l.probe.path.starts_with("/"))
    c.fail("spec.probeSpec.path", "must start with /, got \"" + l.probe.path + "\"");
  c.port("spec.probeSpec.port", l.probe.port);
  if (l.probe.period.count() <= 0) c.fail("spec.probeSpec.period", "must be positive");
  if (l.probe.timeout.count() <= 0) c.fail("spec.probeSpec.timeout", "must be positive");
  if (l.probe.failure_threshold == 0)
    c.fail("spec.probeSpec.failureThreshold", "must be at least 1");
  if (l.stale_after < std::chrono::seconds(1))
    c.fail("spec.staleAfter", "must be at least 1s (mirrors served as last seen that long)");
  c.labels("spec.selector.matchLabels", l.selector);
  c.labels("spec.remoteDiscoverySelector.matchLabels", l.remote_discovery_selector);
  c.labels("spec.federatedServiceSelector.matchLabels", l.federated_selector);
  for (std::size_t i = 0; i < l.excluded_labels.size(); ++i) {
    if (l.excluded_labels[i].empty())
      c.fail("spec.excludedLabels[" + std::to_string(i) + "]", "must not be empty");
  }
}

std::string describe_doc(std::size_t index, const json::value& doc) {
  std::string out = "document " + std::to_string(index);
  const json::object* o = doc.if_object();
  if (o == nullptr) return out;
  std::string kind, ns = "default", name;
  if (const json::value* k = o->if_contains("kind"); k && k->is_string()) kind = k->get_string();
  if (const json::value* m = o->if_contains("metadata"); m && m->is_object()) {
    const json::object& mo = m->get_object();
    if (const json::value* n = mo.if_contains("name"); n && n->is_string()) name = n->get_string();
    if (const json::value* n = mo.if_contains("namespace"); n && n->is_string())
      ns = n->get_string();
  }
  if (kind.empty()) return out;
  out += " (" + kind;
  if (!name.empty()) out += " " + ns + "/" + name;
  return out + ")";
}

}  // namespace

bool is_dns_label(std::string_view s) {
  if (s.empty() || s.size() > 63) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  for (char c : s) {
    if (!alnum(c) && c != '-') return false;
  }
  return alnum(s.front()) && alnum(s.back());
}

bool is_dns_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return false;
  while (true) {
    std::size_t dot = s.find('.');
    std::string_view label = s.substr(0, dot);
    // Hostnames may use upper case; compare in lower case.
    std::string lower(label);
    for (char& c : lower) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (!is_dns_label(lower)) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

bool is_ip_address(std::string_view s) {
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

bool is_cidr(std::string_view s) {
  std::size_t slash = s.find('/');
  std::string addr(s.substr(0, slash));
  unsigned char buf[16];
  int max = 0;
  if (inet_pton(AF_INET, addr.c_str(), buf) == 1) {
    max = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), buf) == 1) {
    max = 128;
  } else {
    return false;
  }
  if (slash == std::string_view::npos) return true;
  std::string_view prefix = s.substr(slash + 1);
  int n = -1;
  auto [end, ec] = std::from_chars(prefix.data(), prefix.data() + prefix.size(), n);
  return !prefix.empty() && ec == std::errc() && end == prefix.data() + prefix.size() && n >= 0 &&
         n <= max;
}

Result<void> validate_object(const Object& object) {
  Check c;
  const Meta& m = meta_of(object);
  c.dns_label("metadata.name", m.name);
  c.dns_label("metadata.namespace", m.ns);
  c.dns_label("metadata.cluster", m.cluster, /*required=*/false);
  c.labels("metadata.labels", m.labels);
  c.labels("metadata.annotations", m.annotations);
  std::visit([&](const auto& v) { check_spec(c, v); }, object);
  if (c.error) return *c.error;
  return {};
}

Result<std::vector<Object>> parse_manifests(std::string_view yaml_text,
                                            const std::string& default_cluster) {
  std::vector<YAML::Node> docs;
  try {
    docs = YAML::LoadAll(std::string(yaml_text));
  } catch (const YAML::Exception& e) {
    return make_error("invalid_manifest", "YAML syntax error at line " +
                                              std::to_string(e.mark.line + 1) + ", column " +
                                              std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
  std::vector<Object> objects;
  for (std::size_t i = 0; i < docs.size(); ++i) {
    std::size_t index = i + 1;
    if (docs[i].IsNull()) continue;  // an empty document (e.g. a trailing ---)
    auto json_doc = yaml_to_json(docs[i], "");
    if (!json_doc) {
      return make_error(json_doc.error().code,
                        "document " + std::to_string(index) + ": " + json_doc.error().message);
    }
    std::string where = describe_doc(index, *json_doc);
    if (!json_doc->is_object()) {
      return make_error("invalid_manifest",
                        where + ": expected a mapping with apiVersion, kind, metadata and spec");
    }
    auto object = object_from_json(*json_doc, JsonDialect::kManifest);
    if (!object) return make_error(object.error().code, where + ": " + object.error().message);
    Meta& m = meta_of(*object);
    if (m.cluster.empty()) m.cluster = default_cluster;
    if (auto valid = validate_object(*object); !valid) {
      return make_error(valid.error().code, where + ": " + valid.error().message);
    }
    objects.push_back(std::move(object).value());
  }
  return objects;
}

std::string to_manifest_yaml(const Object& object) {
  YAML::Emitter out;
  emit(out, object_to_json(object, JsonDialect::kManifest));
  return std::string(out.c_str()) + "\n";
}

std::string to_manifest_yaml(const std::vector<Object>& objects) {
  std::string text;
  for (std::size_t i = 0; i < objects.size(); ++i) {
    if (i > 0) text += "---\n";
    text += to_manifest_yaml(objects[i]);
  }
  return text;
}

namespace {
void pretty(std::string& out, const json::value& v, int indent) {
  std::string pad(static_cast<std::size_t>(indent + 2), ' ');
  std::string close(static_cast<std::size_t>(indent), ' ');
  if (v.is_object() && !v.get_object().empty()) {
    out += "{\n";
    bool first = true;
    for (const auto& [k, item] : v.get_object()) {
      if (!first) out += ",\n";
      first = false;
      out += pad + json::serialize(json::string(k)) + ": ";
      pretty(out, item, indent + 2);
    }
    out += "\n" + close + "}";
  } else if (v.is_array() && !v.get_array().empty()) {
    out += "[\n";
    bool first = true;
    for (const auto& item : v.get_array()) {
      if (!first) out += ",\n";
      first = false;
      out += pad;
      pretty(out, item, indent + 2);
    }
    out += "\n" + close + "]";
  } else {
    out += json::serialize(v);
  }
}
}  // namespace

std::string to_manifest_json(const Object& object) {
  std::string out;
  pretty(out, object_to_json(object, JsonDialect::kManifest), 0);
  return out + "\n";
}

std::string to_manifest_json(const std::vector<Object>& objects) {
  json::array items;
  for (const auto& o : objects) items.push_back(object_to_json(o, JsonDialect::kManifest));
  json::object list{{"apiVersion", "v1"}, {"kind", "List"}, {"items", std::move(items)}};
  std::string out;
  pretty(out, list, 0);
  return out + "\n";
}

}  // namespace strait::discovery
