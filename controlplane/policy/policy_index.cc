// PolicyIndex: which Server selects a workload port, and who its authorizations admit.
#include "controlplane/policy/policy_index.h"

namespace strait::controlplane {
namespace pv = policy::v1;

namespace {

bool selects(const discovery::Labels& selector, const discovery::Labels& labels) {
  for (const auto& [k, v] : selector) {
    auto it = labels.find(k);
    if (it == labels.end() || it->second != v) return false;
  }
  return true;
}

}  // namespace

PolicyIndex::PolicyIndex(pv::DefaultPolicy cluster_default) : cluster_default_(cluster_default) {}

pv::InboundPolicy PolicyIndex::compute(const std::string& ns, const discovery::Labels& labels,
                                       std::uint16_t port) const {
  std::lock_guard lock(mu_);
  return compute_locked(ns, labels, port);
}

pv::InboundPolicy PolicyIndex::compute_locked(const std::string& ns,
                                              const discovery::Labels& labels,
                                              std::uint16_t port) const {
  pv::InboundPolicy p;
  p.set_port(port);
  // Several Servers selecting one port is a configuration error; the first by name wins, so
  // the choice is at least stable.
  const discovery::Server* server = nullptr;
  for (auto it = servers_.lower_bound({ns, ""}); it != servers_.end() && it->first.first == ns;
       ++it) {
    if (it->second.port == port && selects(it->second.pod_selector, labels)) {
      server = &it->second;
      break;
    }
  }
  if (server == nullptr) {
    p.set_default_policy(cluster_default_);
    return p;
  }
  p.set_server(server->meta.name);
  p.set_protocol(static_cast<common::v1::ProtocolHint>(server->proxy_protocol));
  p.set_default_policy(pv::DENY);
  for (auto it = authorizations_.lower_bound({ns, ""});
       it != authorizations_.end() && it->first.first == ns; ++it) {
    const auto& a = it->second;
    if (a.target_server != server->meta.name) continue;
    auto* out = p.add_authorizations();
    out->set_name(a.meta.name);
    for (const auto& id : a.identities) out->add_identities(id);
    for (const auto& n : a.networks) out->add_networks(n);
    out->set_unauthenticated(a.unauthenticated);
  }
  return p;
}

void PolicyIndex::refresh_locked(std::uint64_t id, Subscription& sub) {
  pv::InboundPolicy p = compute_locked(sub.ns, sub.labels, sub.port);
  std::string wire = p.SerializeAsString();
  if (wire == sub.last) return;
  sub.last = std::move(wire);
  if (!sub.sink(std::move(p))) subs_.erase(id);
}

void PolicyIndex::subscribe(std::uint64_t id, std::string ns, discovery::Labels workload_labels,
                            std::uint16_t port, Sink sink) {
  std::lock_guard lock(mu_);
  auto& sub = subs_[id];
  sub.ns = std::move(ns);
  sub.labels = std::move(workload_labels);
  sub.port = port;
  sub.sink = std::move(sink);
  sub.last = "\x01";  // differs from any serialization: the first policy always goes out
  refresh_locked(id, sub);
}

void PolicyIndex::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

void PolicyIndex::apply(const discovery::Event& event) {
  const bool deleted = event.type == discovery::Event::Type::kDeleted;
  std::string ns;
  std::lock_guard lock(mu_);
  if (const auto* s = std::get_if<discovery::Server>(&event.object)) {
    ns = s->meta.ns;
    if (deleted) {
      servers_.erase({ns, s->meta.name});
    } else {
      servers_[{ns, s->meta.name}] = *s;
    }
  } else if (const auto* a = std::get_if<discovery::AuthorizationPolicy>(&event.object)) {
    ns = a->meta.ns;
    if (deleted) {
      authorizations_.erase({ns, a->meta.name});
    } else {
      authorizations_[{ns, a->meta.name}] = *a;
    }
  } else {
    return;
  }
  for (auto it = subs_.begin(); it != subs_.end();) {
    auto next = std::next(it);
    if (it->second.ns == ns) refresh_locked(it->first, it->second);
    it = next;
  }
}

}  // namespace strait::controlplane
