// ExportIndex: exported services in, per-cluster events out.
#include "controlplane/export/export_index.h"

#include <boost/json.hpp>

#include "core/discovery/json_codec.h"
#include "topologies/mirror.h"

namespace strait::controlplane {
namespace ev = exports::v1;

namespace {

bool exported(const discovery::Service& s) {
  return topologies::export_mode(s.meta.labels) != topologies::ExportMode::kNone ||
         topologies::is_federated_member(s.meta.labels);
}

// The JSON another cluster gets: without this store's version or owner, which mean nothing there.
template <typename T>
std::string wire_json(T object) {
  object.meta.version = 0;
  object.meta.owner.clear();
  return boost::json::serialize(discovery::object_to_json(object));
}

}  // namespace

void ExportIndex::reexport_locked(const NsName& key) {
  auto it = local_.find(key);
  if (it == local_.end()) {
    services_.erase(key);
  } else if (service_exports_.contains(key)) {
    services_[key] = topologies::as_service_export(it->second);
  } else if (exported(it->second)) {
    services_[key] = it->second;
  } else {
    services_.erase(key);
  }
}

void ExportIndex::refresh_locked(std::uint64_t id, Subscription& sub, const NsName& key) {
  ev::ExportEvent out;
  auto svc = services_.find(key);
  const bool visible = svc != services_.end() &&
                       topologies::exported_to(svc->second, sub.cluster) &&
                       topologies::link_selects(sub.selectors, svc->second);
  auto was = sub.sent.find(key);
  if (!visible) {
    if (was == sub.sent.end()) return;
    sub.sent.erase(was);
    out.mutable_unexported()->set_namespace_(key.first);
    out.mutable_unexported()->set_name(key.second);
  } else {
    auto* e = out.mutable_exported();
    e->set_service_json(wire_json(svc->second));
    if (auto eps = endpoints_.find(key); eps != endpoints_.end()) {
      for (const auto& [name, ep] : eps->second) {
        if (ep.ready) e->add_endpoints_json(wire_json(ep));
      }
    }
    // Versions change on every write; what the other side sees is the payload without them.
    std::string payload = e->SerializeAsString();
    if (was != sub.sent.end() && was->second == payload) return;
    sub.sent[key] = std::move(payload);
  }
  if (!sub.sink(std::move(out))) subs_.erase(id);
}

void ExportIndex::subscribe(std::uint64_t id, std::string cluster, const ev::WatchExports& request,
                            Sink sink) {
  std::lock_guard lock(mu_);
  auto& sub = subs_[id];
  sub.cluster = std::move(cluster);
  sub.selectors.selector.insert(request.selector().begin(), request.selector().end());
  sub.selectors.remote_discovery_selector.insert(request.remote_discovery_selector().begin(),
                                                 request.remote_discovery_selector().end());
  sub.selectors.federated_selector.insert(request.federated_selector().begin(),
                                          request.federated_selector().end());
  sub.sink = std::move(sink);
  for (const auto& [key, svc] : services_) {
    refresh_locked(id, sub, key);
    if (!subs_.contains(id)) return;
  }
  ev::ExportEvent synced;
  synced.mutable_synced();
  if (!sub.sink(std::move(synced))) subs_.erase(id);
}

void ExportIndex::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

void ExportIndex::apply(const discovery::Event& event) {
  const bool deleted = event.type == discovery::Event::Type::kDeleted;
  std::set<NsName> touched;
  std::lock_guard lock(mu_);
  if (const auto* s = std::get_if<discovery::Service>(&event.object)) {
    NsName key{s->meta.ns, s->meta.name};
    if (deleted || !s->meta.owner.empty()) {
      // Mirrors (owned by a link) are never re-exported: no loops between clusters.
      local_.erase(key);
    } else {
      local_[key] = *s;
    }
    reexport_locked(key);
    touched.insert(key);
  } else if (const auto* x = std::get_if<discovery::ServiceExport>(&event.object)) {
    NsName key{x->meta.ns, x->meta.name};
    if (deleted) {
      service_exports_.erase(key);
    } else {
      service_exports_.insert(key);
    }
    reexport_locked(key);
    touched.insert(key);
  } else if (const auto* e = std::get_if<discovery::Endpoint>(&event.object)) {
    NsName self{e->meta.ns, e->meta.name};
    if (auto was = service_of_endpoint_.find(self); was != service_of_endpoint_.end()) {
      endpoints_[was->second].erase(e->meta.name);
      touched.insert(was->second);
      service_of_endpoint_.erase(was);
    }
    if (!deleted) {
      NsName key{e->meta.ns, e->service};
      endpoints_[key][e->meta.name] = *e;
      service_of_endpoint_[self] = key;
      touched.insert(key);
    }
  } else {
    return;
  }
  for (const auto& key : touched) {
    for (auto it = subs_.begin(); it != subs_.end();) {
      auto next = std::next(it);
      refresh_locked(it->first, it->second, key);
      it = next;
    }
  }
}

}  // namespace strait::controlplane
