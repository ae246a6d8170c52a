// ZoneIndex: store events in, DNS answers out (see zone_index.h for the names served).
#include "controlplane/dns/zone_index.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <mutex>
#include <set>

#include "core/discovery/endpoint_ports.h"

namespace strait::controlplane::dns {
namespace {

using discovery::Endpoint;
using discovery::Event;
using discovery::Service;

constexpr std::string_view kClusterset = "clusterset.local.";
constexpr std::string_view kFederatedSuffix = "-federated";

// "web.shop.svc.cluster.local." -> labels of what precedes `zone`, or nullopt when the name is
// not in it. Both lowercase with the trailing dot.
std::optional<std::vector<std::string_view>> relative_labels(std::string_view name,
                                                             std::string_view zone) {
  if (name == zone) return std::vector<std::string_view>{};
  if (name.size() <= zone.size() || !name.ends_with(zone) ||
      name[name.size() - zone.size() - 1] != '.') {
    return std::nullopt;
  }
  std::string_view rest = name.substr(0, name.size() - zone.size() - 1);
  std::vector<std::string_view> labels;
  while (!rest.empty()) {
    auto dot = rest.find('.');
    labels.push_back(rest.substr(0, dot));
    if (dot == std::string_view::npos) break;
    rest.remove_prefix(dot + 1);
  }
  return labels;
}

bool is_v6(const std::string& ip) { return ip.find(':') != std::string::npos; }

bool is_address(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(is_v6(s) ? AF_INET6 : AF_INET, s.c_str(), buf) == 1;
}

bool wants_address(RrType type, const std::string& ip) {
  if (type == RrType::kAny) return true;
  return is_v6(ip) ? type == RrType::kAaaa : type == RrType::kA;
}

Record address_record(const std::string& owner, const std::string& ip, std::uint32_t ttl) {
  return Record{
      .name = owner, .type = is_v6(ip) ? RrType::kAaaa : RrType::kA, .ttl = ttl, .data = ip};
}

std::vector<const Endpoint*> ready_addresses(const std::map<std::string, Endpoint>& endpoints) {
  std::vector<const Endpoint*> out;
  std::set<std::string> seen;
  for (const auto& [_, e] : endpoints) {
    if (e.ready && is_address(e.address) && seen.insert(e.address).second) out.push_back(&e);
  }
  return out;
}

}  // namespace

std::string lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string reverse_name(const std::string& ip) {
  unsigned char b[16];
  if (!is_v6(ip)) {
    if (inet_pton(AF_INET, ip.c_str(), b) != 1) return {};
    return std::to_string(b[3]) + "." + std::to_string(b[2]) + "." + std::to_string(b[1]) + "." +
           std::to_string(b[0]) + ".in-addr.arpa.";
  }
  if (inet_pton(AF_INET6, ip.c_str(), b) != 1) return {};
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) {
    out += kHex[b[i] & 0xf];
    out += '.';
    out += kHex[b[i] >> 4];
    out += '.';
  }
  return out + "ip6.arpa.";
}

std::string dashed(const std::string& ip) {
  std::string out = ip;
  std::replace(out.begin(), out.end(), '.', '-');
  std::replace(out.begin(), out.end(), ':', '-');
  return out;
}

ZoneIndex::ZoneIndex(Settings settings)
    : settings_(std::move(settings)), zone_(lowercase(settings_.domain) + ".") {}

std::uint64_t ZoneIndex::version() const {
  std::shared_lock lock(mu_);
  return version_;
}

std::size_t ZoneIndex::services() const {
  std::shared_lock lock(mu_);
  return services_.size();
}

void ZoneIndex::unlink_endpoint(const std::string& ns, const std::string& name) {
  auto it = endpoint_service_.find({ns, name});
  if (it == endpoint_service_.end()) return;
  const ServiceKey key{ns, it->second};
  endpoint_service_.erase(it);
  if (auto s = services_.find(key); s != services_.end()) s->second.endpoints.erase(name);
  if (auto o = orphans_.find(key); o != orphans_.end()) {
    o->second.erase(name);
    if (o->second.empty()) orphans_.erase(o);
  }
}

void ZoneIndex::apply(const Event& event) {
  std::unique_lock lock(mu_);
  const auto& meta = discovery::meta_of(event.object);
  version_ = std::max(version_, meta.version);
  const bool deleted = event.type == Event::Type::kDeleted;
  if (const auto* svc = std::get_if<Service>(&event.object)) {
    const ServiceKey key{lowercase(meta.ns), lowercase(meta.name)};
    auto it = services_.find(key);
    if (it != services_.end()) ptr_.erase(reverse_name(it->second.service.cluster_ip));
    if (deleted) {
      if (it == services_.end()) return;
      if (!it->second.endpoints.empty()) orphans_[key] = std::move(it->second.endpoints);
      services_.erase(it);
      if (--namespaces_[key.first] == 0) namespaces_.erase(key.first);
      return;
    }
    if (it == services_.end()) {
      it = services_.emplace(key, ServiceEntry{}).first;
      ++namespaces_[key.first];
      if (auto o = orphans_.find(key); o != orphans_.end()) {
        it->second.endpoints = std::move(o->second);
        orphans_.erase(o);
      }
    }
    it->second.service = *svc;
    if (!is_headless(*svc) && is_address(svc->cluster_ip)) {
      ptr_[reverse_name(svc->cluster_ip)] = key.second + "." + key.first + ".svc." + zone_;
    }
    return;
  }
  if (const auto* ep = std::get_if<Endpoint>(&event.object)) {
    const std::string ns = lowercase(meta.ns);
    unlink_endpoint(ns, meta.name);
    if (deleted) return;
    const ServiceKey key{ns, lowercase(ep->service)};
    endpoint_service_[{ns, meta.name}] = key.second;
    if (auto s = services_.find(key); s != services_.end()) {
      s->second.endpoints[meta.name] = *ep;
    } else {
      orphans_[key][meta.name] = *ep;
    }
  }
}

const ZoneIndex::ServiceEntry* ZoneIndex::find(const std::string& ns,
                                               const std::string& name) const {
  auto it = services_.find({ns, name});
  return it == services_.end() ? nullptr : &it->second;
}

Record ZoneIndex::soa(const std::string& zone) const {
  return Record{.name = zone,
                .type = RrType::kSoa,
                .ttl = settings_.ttl,
                .data = "ns.dns." + zone + " hostmaster." + zone,
                .soa_serial = static_cast<std::uint32_t>(version_),
                .soa_minimum = settings_.ttl};
}

Answer ZoneIndex::negative(Answer::Status status, const std::string& zone) const {
  Answer a;
  a.status = status;
  a.authority.push_back(soa(zone));
  return a;
}

Answer ZoneIndex::lookup(std::string_view qname, RrType type) const {
  std::string name = lowercase(qname);
  if (name.empty() || name.back() != '.') name += '.';
  std::shared_lock lock(mu_);
  if (auto labels = relative_labels(name, zone_)) return lookup_cluster(*labels, type);
  if (auto labels = relative_labels(name, kClusterset)) return lookup_clusterset(*labels, type);
  if (name.ends_with(".in-addr.arpa.") || name.ends_with(".ip6.arpa.")) {
    return lookup_reverse(name, type);
  }
  return Answer{};
}

// The apex of a zone: its SOA and NS; anything else there is NODATA.
static Answer apex(const Record& soa, RrType type) {
  Answer a;
  a.status = Answer::Status::kOk;
  if (type == RrType::kSoa || type == RrType::kAny) a.answers.push_back(soa);
  if (type == RrType::kNs) {
    a.answers.push_back(Record{
        .name = soa.name, .type = RrType::kNs, .ttl = soa.ttl, .data = "ns.dns." + soa.name});
  }
  if (a.answers.empty()) a.authority.push_back(soa);
  return a;
}

Answer ZoneIndex::lookup_cluster(const std::vector<std::string_view>& l, RrType type) const {
  const std::size_t n = l.size();
  if (n == 0) return apex(soa(zone_), type);
  if (l[n - 1] != "svc") return negative(Answer::Status::kNxDomain, zone_);
  if (n == 1) return negative(Answer::Status::kOk, zone_);  // an empty non-terminal
  const std::string ns(l[n - 2]);
  if (n == 2) {
    return negative(namespaces_.contains(ns) ? Answer::Status::kOk : Answer::Status::kNxDomain,
                    zone_);
  }
  const std::string svc(l[n - 3]);
  const ServiceEntry* e = find(ns, svc);
  if (!e || n > 5) return negative(Answer::Status::kNxDomain, zone_);
  const std::string base = svc + "." + ns + ".svc." + zone_;
  if (n == 3) return answer_service(*e, base, zone_, type);
  if (n == 5) return answer_srv(*e, l[0], l[1], base, zone_, type);
  return answer_host(*e, l[0], base, zone_, type);
}

Answer ZoneIndex::lookup_clusterset(const std::vector<std::string_view>& l, RrType type) const {
  const std::string zone(kClusterset);
  const std::size_t n = l.size();
  if (n == 0) return apex(soa(zone), type);
  if (n == 1 && l[0] == "dns-version") {
    Answer a = negative(Answer::Status::kOk, zone);
    if (type == RrType::kTxt || type == RrType::kAny) {
      a.authority.clear();
      a.answers.push_back(Record{.name = "dns-version." + zone,
                                 .type = RrType::kTxt,
                                 .ttl = settings_.ttl,
                                 .data = "1.0.0"});
    }
    return a;
  }
  if (l[n - 1] != "svc") return negative(Answer::Status::kNxDomain, zone);
  if (n == 1) return negative(Answer::Status::kOk, zone);
  const std::string ns(l[n - 2]);
  if (n == 2) {
    return negative(namespaces_.contains(ns) ? Answer::Status::kOk : Answer::Status::kNxDomain,
                    zone);
  }
  const std::string svc(l[n - 3]);
  const ServiceEntry* e = find(ns, svc + std::string(kFederatedSuffix));
  if (!e || n > 5) return negative(Answer::Status::kNxDomain, zone);
  const std::string base = svc + "." + ns + ".svc." + zone;
  if (n == 3) return answer_service(*e, base, zone, type);
  if (n == 5) return answer_srv(*e, l[0], l[1], base, zone, type);
  return answer_host(*e, l[0], base, zone, type);
}

Answer ZoneIndex::lookup_reverse(const std::string& qname, RrType type) const {
  auto it = ptr_.find(qname);
  std::string target;
  if (it != ptr_.end()) {
    target = it->second;
  } else {
    // Headless endpoints: few, and looked up by address rarely.
    for (const auto& [key, e] : services_) {
      if (!is_headless(e.service)) continue;
      for (const auto* ep : ready_addresses(e.endpoints)) {
        if (reverse_name(ep->address) == qname) {
          target = dashed(ep->address) + "." + key.second + "." + key.first + ".svc." + zone_;
          break;
        }
      }
      if (!target.empty()) break;
    }
  }
  if (target.empty()) return Answer{};  // not one of ours: the server forwards or refuses
  Answer a;
  a.status = Answer::Status::kOk;
  if (type == RrType::kPtr || type == RrType::kAny) {
    a.answers.push_back(
        Record{.name = qname, .type = RrType::kPtr, .ttl = settings_.ttl, .data = target});
  }
  return a;
}

Answer ZoneIndex::answer_service(const ServiceEntry& e, const std::string& base,
                                 const std::string& zone, RrType type) const {
  Answer a;
  a.status = Answer::Status::kOk;
  if (is_headless(e.service)) {
    auto ready = ready_addresses(e.endpoints);
    if (ready.empty()) return negative(Answer::Status::kNxDomain, zone);
    for (const auto* ep : ready) {
      if (wants_address(type, ep->address)) {
        a.answers.push_back(address_record(base, ep->address, settings_.ttl));
      }
    }
  } else if (is_address(e.service.cluster_ip) && wants_address(type, e.service.cluster_ip)) {
    a.answers.push_back(address_record(base, e.service.cluster_ip, settings_.ttl));
  }
  if (a.answers.empty()) a.authority.push_back(soa(zone));
  return a;
}

Answer ZoneIndex::answer_srv(const ServiceEntry& e, std::string_view port_label,
                             std::string_view proto, const std::string& base,
                             const std::string& zone, RrType type) const {
  const discovery::ServicePort* port = nullptr;
  if (port_label.size() > 1 && port_label[0] == '_') {
    for (const auto& p : e.service.ports) {
      if (!p.name.empty() && lowercase(p.name) == port_label.substr(1)) port = &p;
    }
  }
  // Every port of ours is TCP.
  if (!port || proto != "_tcp") return negative(Answer::Status::kNxDomain, zone);
  const std::string owner = std::string(port_label) + "." + std::string(proto) + "." + base;
  Answer a;
  a.status = Answer::Status::kOk;
  if (type == RrType::kSrv || type == RrType::kAny) {
    if (is_headless(e.service)) {
      // The ready endpoints that serve this port, each with the workload port it serves.
      const std::uint16_t want = port->target_port != 0 ? port->target_port : port->port;
      std::vector<std::pair<const Endpoint*, std::uint16_t>> ready;
      for (const auto* ep : ready_addresses(e.endpoints)) {
        if (auto served = discovery::endpoint_port_for(*ep, port, want))
          ready.emplace_back(ep, *served);
      }
      const auto weight = static_cast<std::uint16_t>(
          std::max<std::size_t>(1, 100 / std::max<std::size_t>(1, ready.size())));
      for (const auto& [ep, served] : ready) {
        const std::string target = dashed(ep->address) + "." + base;
        a.answers.push_back(Record{.name = owner,
                                   .type = RrType::kSrv,
                                   .ttl = settings_.ttl,
                                   .data = target,
                                   .srv_priority = 0,
                                   .srv_weight = weight,
                                   .srv_port = served});
        a.additional.push_back(address_record(target, ep->address, settings_.ttl));
      }
    } else if (is_address(e.service.cluster_ip)) {
      a.answers.push_back(Record{.name = owner,
                                 .type = RrType::kSrv,
                                 .ttl = settings_.ttl,
                                 .data = base,
                                 .srv_priority = 0,
                                 .srv_weight = 100,
                                 .srv_port = port->port});
      a.additional.push_back(address_record(base, e.service.cluster_ip, settings_.ttl));
    }
  }
  if (a.answers.empty()) a.authority.push_back(soa(zone));
  return a;
}

Answer ZoneIndex::answer_host(const ServiceEntry& e, std::string_view host, const std::string& base,
                              const std::string& zone, RrType type) const {
  // "_tcp.web.shop.svc": the empty non-terminal above the SRV names of a named port.
  if (host == "_tcp") {
    const bool named = std::any_of(e.service.ports.begin(), e.service.ports.end(),
                                   [](const auto& p) { return !p.name.empty(); });
    return negative(named ? Answer::Status::kOk : Answer::Status::kNxDomain, zone);
  }
  if (is_headless(e.service)) {
    for (const auto* ep : ready_addresses(e.endpoints)) {
      if (dashed(ep->address) != host) continue;
      Answer a;
      a.status = Answer::Status::kOk;
      const std::string owner = std::string(host) + "." + base;
      if (wants_address(type, ep->address)) {
        a.answers.push_back(address_record(owner, ep->address, settings_.ttl));
      } else {
        a.authority.push_back(soa(zone));
      }
      return a;
    }
  }
  return negative(Answer::Status::kNxDomain, zone);
}

}  // namespace strait::controlplane::dns
