// DestinationIndex: store events in, per-subscription diffs out.
#include "controlplane/destination/destination_index.h"

#include <google/protobuf/util/message_differencer.h>

#include <optional>
#include <vector>

#include "core/discovery/endpoint_ports.h"

namespace strait::controlplane {
namespace dst = destination::v1;
using discovery::Endpoint;
using discovery::Service;

namespace {

std::string addr_key(const dst::TcpAddress& a) {
  return (a.ip().find(':') != std::string::npos ? "[" + a.ip() + "]" : a.ip()) + ":" +
         std::to_string(a.port());
}

// The service port a connection's port names; none when the service does not declare it.
const discovery::ServicePort* service_port_of(const Service& svc, std::uint16_t port) {
  for (const auto& p : svc.ports) {
    if (p.port == port) return &p;
  }
  return nullptr;
}

// Not by serialization: protobuf maps (metric labels) serialize in no fixed order.
bool same_addr(const dst::WeightedAddr& a, const dst::WeightedAddr& b) {
  return google::protobuf::util::MessageDifferencer::Equals(a, b);
}

}  // namespace

DestinationIndex::DestinationIndex(Settings settings) : settings_(std::move(settings)) {}

dst::WeightedAddr DestinationIndex::to_addr(const Endpoint& e, std::uint16_t port) const {
  dst::WeightedAddr a;
  a.mutable_addr()->set_ip(e.address);
  a.mutable_addr()->set_port(port);
  a.set_weight(e.weight);
  for (const auto& [k, v] : e.meta.labels) (*a.mutable_metric_labels())[k] = v;
  (*a.mutable_metric_labels())["endpoint"] = e.meta.name;
  a.set_tls_identity(e.identity);
  a.set_protocol_hint(static_cast<common::v1::ProtocolHint>(e.protocol));
  a.set_zone(e.zone);
  a.set_cluster(e.meta.cluster);
  a.set_authority_override(e.authority_override);
  if (!e.identity.empty()) {
    // Gateway endpoints carry the gateway's own mTLS port; pods take the cluster's.
    a.set_proxy_port(e.authority_override.empty() ? settings_.inbound_proxy_port : e.port);
  }
  return a;
}

DestinationIndex::Resolution DestinationIndex::resolve_locked(const Target& target) const {
  Resolution r;
  NsName key;
  if (target.type == Target::Type::kService) {
    key = {target.ns, target.name};
  } else if (target.type == Target::Type::kAddress) {
    if (auto it = service_by_ip_.find(target.ip); it != service_by_ip_.end()) {
      key = it->second;
    } else {
      // Not a virtual IP: perhaps one endpoint addressed directly. Never a gateway mirror's
      // endpoint: a gateway's address is shared by every service behind it, so an address
      // alone does not say which one (the connection goes to the gateway as it is, unmeshed).
      for (const auto& [svc, eps] : endpoints_) {
        for (const auto& [name, e] : eps) {
          if (e.address == target.ip && e.ready && e.authority_override.empty() &&
              discovery::endpoint_port_for(e, nullptr, target.port)) {
            auto a = to_addr(e, target.port);
            r.addrs.emplace(addr_key(a.addr()), std::move(a));
            r.labels = {
                {"namespace", e.meta.ns}, {"service", e.service}, {"cluster", e.meta.cluster}};
            return r;
          }
        }
      }
      return r;
    }
  } else {
    return r;
  }

  r.key = key;
  auto svc = services_.find(key);
  if (svc != services_.end()) {
    r.service = &svc->second;
    r.labels = {
        {"namespace", key.first}, {"service", key.second}, {"cluster", svc->second.meta.cluster}};
  }
  std::uint16_t want = target.port;
  const discovery::ServicePort* service_port = nullptr;
  if (r.service) {
    service_port = service_port_of(*r.service, target.port);
    if (!service_port) {
      r.undeclared_port = true;
      return r;
    }
    want = service_port->target_port != 0 ? service_port->target_port : service_port->port;
  }
  auto eps = endpoints_.find(key);
  if (eps == endpoints_.end()) return r;
  for (const auto& [name, e] : eps->second) {
    if (!e.ready) continue;
    // Gateway mirrors' endpoints serve every port of the service through the gateway.
    std::optional<std::uint16_t> port = e.port;
    if (e.authority_override.empty()) port = discovery::endpoint_port_for(e, service_port, want);
    if (!port) continue;
    auto a = to_addr(e, *port);
    if (!e.authority_override.empty() && e.authority_override.find(':') == std::string::npos) {
      a.set_authority_override(e.authority_override + ":" + std::to_string(target.port));
    }
    r.addrs.emplace(addr_key(a.addr()), std::move(a));
  }
  return r;
}

void DestinationIndex::refresh_locked(std::uint64_t id, Subscription& sub) {
  Resolution now = resolve_locked(sub.target);
  std::vector<dst::Update> out;

  dst::Update removes;
  for (const auto& [k, a] : sub.sent) {
    auto it = now.addrs.find(k);
    if (it == now.addrs.end() || !same_addr(it->second, a)) {
      *removes.mutable_remove()->add_addrs() = a.addr();
    }
  }
  dst::Update adds;
  for (const auto& [k, a] : now.addrs) {
    auto it = sub.sent.find(k);
    if (it == sub.sent.end() || !same_addr(it->second, a)) *adds.mutable_add()->add_addrs() = a;
  }
  if (adds.has_add()) {
    for (const auto& [k, v] : now.labels) (*adds.mutable_add()->mutable_metric_labels())[k] = v;
  }

  // A subscription that ends up empty is told so explicitly (the proxy fails fast on it), and
  // told again when, still empty, the service appears or goes away.
  const bool exists = now.service != nullptr;
  bool emptied =
      now.addrs.empty() && (!sub.announced || !sub.sent.empty() || sub.exists_sent != exists ||
                            sub.undeclared_sent != now.undeclared_port);
  if (sub.announced && removes.has_remove() && !emptied) out.push_back(std::move(removes));
  if (adds.has_add()) out.push_back(std::move(adds));
  if (emptied) {
    dst::Update none;
    none.mutable_no_endpoints()->set_exists(exists);
    none.mutable_no_endpoints()->set_undeclared_port(now.undeclared_port);
    out.push_back(std::move(none));
  }
  sub.exists_sent = exists;
  sub.undeclared_sent = now.undeclared_port;
  sub.sent = std::move(now.addrs);
  sub.resolved = std::move(now.key);
  sub.announced = true;
  for (auto& u : out) {
    if (!sub.sink(std::move(u))) {
      subs_.erase(id);
      return;
    }
  }
}

Result<void> DestinationIndex::subscribe(std::uint64_t id, std::string_view path, Sink sink) {
  auto target = parse_target(path, settings_.domain);
  if (!target) return target.error();
  std::lock_guard lock(mu_);
  auto& sub = subs_[id];
  sub.target = std::move(*target);
  sub.sink = std::move(sink);
  refresh_locked(id, sub);
  return {};
}

void DestinationIndex::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

std::size_t DestinationIndex::subscriptions() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

void DestinationIndex::refresh_all_locked() {
  for (auto it = subs_.begin(); it != subs_.end();) {
    auto next = std::next(it);  // refresh may erase it
    refresh_locked(it->first, it->second);
    it = next;
  }
}

void DestinationIndex::apply(const discovery::Event& event) {
  using Type = discovery::Event::Type;
  std::lock_guard lock(mu_);
  const bool deleted = event.type == Type::kDeleted;

  if (const auto* svc = std::get_if<Service>(&event.object)) {
    NsName key{svc->meta.ns, svc->meta.name};
    if (auto old = services_.find(key); old != services_.end()) {
      service_by_ip_.erase(old->second.cluster_ip);
    }
    if (deleted) {
      services_.erase(key);
    } else {
      services_[key] = *svc;
      if (!svc->cluster_ip.empty() && !discovery::is_headless(*svc)) {
        service_by_ip_[svc->cluster_ip] = key;
      }
    }
    refresh_all_locked();  // services change rarely; address lookups may re-resolve
    return;
  }
  const auto* ep = std::get_if<Endpoint>(&event.object);
  if (ep == nullptr) return;
  NsName key{ep->meta.ns, ep->service};
  NsName self{ep->meta.ns, ep->meta.name};
  // An endpoint may move between services: forget it where it was.
  NsName old_key;
  if (auto was = service_of_endpoint_.find(self); was != service_of_endpoint_.end()) {
    old_key = was->second;
    auto eps = endpoints_.find(old_key);
    eps->second.erase(ep->meta.name);
    if (eps->second.empty()) endpoints_.erase(eps);
    service_of_endpoint_.erase(was);
  }
  if (!deleted) {
    endpoints_[key][ep->meta.name] = *ep;
    service_of_endpoint_[self] = key;
  }

  for (auto it = subs_.begin(); it != subs_.end();) {
    auto next = std::next(it);
    const Subscription& sub = it->second;
    bool affected = sub.resolved == key || sub.resolved == old_key ||
                    (sub.target.type == Target::Type::kService &&
                     NsName{sub.target.ns, sub.target.name} == key) ||
                    (sub.target.type == Target::Type::kAddress && sub.resolved.first.empty());
    if (affected) refresh_locked(it->first, it->second);
    it = next;
  }
}

}  // namespace strait::controlplane
