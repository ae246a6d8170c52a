// LinkMirrors: the handlers of one link's events and the diff-and-write of its mirrors.
#include "link/link_mirrors.h"

#include <algorithm>
#include <optional>

#include "topologies/labels.h"

namespace strait::link {
using discovery::Kind;
using discovery::Object;
using discovery::ObjectKey;

namespace {

bool owned_by_a_link(const discovery::Meta& m) { return m.owner.rfind("link:", 0) == 0; }

// Endpoints before Services, so that nothing is left pointing at a missing service.
void endpoints_first(std::vector<ObjectKey>& keys) {
  std::stable_partition(keys.begin(), keys.end(),
                        [](const ObjectKey& k) { return k.kind == Kind::kEndpoint; });
}

}  // namespace

LinkMirrors::LinkMirrors(discovery::Link link, std::string local_cluster, LocalStore& store,
                         FederatedSet* federated)
    : link_(std::move(link)),
      local_cluster_(std::move(local_cluster)),
      owner_(topologies::owner_of(link_.target_cluster)),
      store_(store),
      federated_(federated) {
  gateway_.addresses = link_.gateway_addresses;
  gateway_.port = link_.gateway_port;
  gateway_.identity = link_.gateway_identity;
}

Result<void> LinkMirrors::on(const LinkEvent& event) {
  return std::visit(
      [this](const auto& e) -> Result<void> {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, ServiceExported>)
          return on_exported(e);
        else if constexpr (std::is_same_v<E, ServiceUnexported>)
          return on_unexported(e);
        else if constexpr (std::is_same_v<E, Synced>)
          return on_synced(e);
        else if constexpr (std::is_same_v<E, LinkRemoved>)
          return on_link_removed(e);
        else if constexpr (std::is_same_v<E, RepairEndpoints>)
          return on_repair(e);
        else if constexpr (std::is_same_v<E, GatewayHealthChanged>)
          return on_gateway_health(e);
        else
          return on_stale(e);
      },
      event);
}

RetryWork LinkMirrors::retry_for(const LinkEvent& event) {
  return std::visit(
      [this](const auto& e) -> RetryWork {
        using E = std::decay_t<decltype(e)>;
        if constexpr (std::is_same_v<E, ServiceExported>) {
          NsName k{e.remote.service.meta.ns, e.remote.service.meta.name};
          return {"service/" + k.first + "/" + k.second, [this, k] { return reconcile(k, false); }};
        } else if constexpr (std::is_same_v<E, ServiceUnexported>) {
          NsName k{e.ns, e.name};
          return {"service/" + k.first + "/" + k.second, [this, k] { return reconcile(k, false); }};
        } else if constexpr (std::is_same_v<E, Synced>) {
          return {"gc", [this] { return collect_garbage(); }};
        } else if constexpr (std::is_same_v<E, LinkRemoved>) {
          return {"remove", [this] { return remove_all(); }};
        } else if constexpr (std::is_same_v<E, RepairEndpoints>) {
          return {"repair", [this] { return reconcile_all(true); }};
        } else if constexpr (std::is_same_v<E, GatewayHealthChanged>) {
          return {"gateway", [this] { return reconcile_all(false, true); }};
        } else {
          return {"stale", [this] { return stale_ ? mark_stale() : reconcile_all(true); }};
        }
      },
      event);
}

Result<void> LinkMirrors::on_exported(const ServiceExported& e) {
  NsName k{e.remote.service.meta.ns, e.remote.service.meta.name};
  remotes_[k] = e.remote;
  return reconcile(k, false);
}

Result<void> LinkMirrors::on_unexported(const ServiceUnexported& e) {
  NsName k{e.ns, e.name};
  remotes_.erase(k);
  return reconcile(k, false);
}

Result<void> LinkMirrors::on_synced(const Synced&) {
  synced_ = true;
  return collect_garbage();
}

Result<void> LinkMirrors::on_link_removed(const LinkRemoved&) { return remove_all(); }

Result<void> LinkMirrors::on_repair(const RepairEndpoints& e) {
  // A name that resolves to nothing right now keeps the addresses it had.
  if (!e.gateway_addresses.empty()) gateway_.addresses = e.gateway_addresses;
  return reconcile_all(true);
}

Result<void> LinkMirrors::on_gateway_health(const GatewayHealthChanged& e) {
  gateway_.alive = e.alive;
  return reconcile_all(false, true);
}

Result<void> LinkMirrors::on_stale(const StaleChanged& e) {
  if (e.stale == stale_) return {};
  stale_ = e.stale;
  stale_since_unix_ = e.stale ? e.since_unix : 0;
  // Fresh again: a repair pass rewrites whatever the stale marking changed.
  return stale_ ? mark_stale() : reconcile_all(true);
}

Result<void> LinkMirrors::mark_stale() {
  if (auto r = reconcile_all(false); !r) return r;
  // Mirrors of an earlier run that this process has not been told about (the stream never
  // came up since it started) are stale too: their endpoints, found by owner.
  auto endpoints = store_.list(Kind::kEndpoint, "");
  if (!endpoints) return endpoints.error();
  std::vector<Object> not_ready;
  for (const auto& o : *endpoints) {
    auto e = std::get<discovery::Endpoint>(o);
    if (e.meta.owner != owner_ || !e.ready) continue;
    e.ready = false;
    e.meta.version = 0;
    not_ready.emplace_back(std::move(e));
  }
  return store_.apply(not_ready);
}

Result<void> LinkMirrors::update_link(const discovery::Link& link) {
  discovery::Link a = link_, b = link;
  a.link_token.clear();
  b.link_token.clear();
  a.meta.version = b.meta.version = 0;
  link_ = link;
  if (a == b) return {};
  gateway_.port = link_.gateway_port;
  gateway_.identity = link_.gateway_identity;
  if (link_.gateway_addresses != a.gateway_addresses) gateway_.addresses = link_.gateway_addresses;
  return reconcile_all(false);
}

Result<void> LinkMirrors::reconcile_all(bool repair, bool gateway_only) {
  std::set<NsName> keys;
  for (const auto& [k, r] : remotes_) {
    if (!gateway_only ||
        topologies::export_mode(r.service.meta.labels) == topologies::ExportMode::kGateway) {
      keys.insert(k);
    }
  }
  if (!gateway_only) {
    for (const auto& [k, w] : written_) keys.insert(k);
  }
  // One listing of the local Services serves the whole pass (conflict checks), instead of a
  // List per service.
  auto listed = store_.list(Kind::kService, "");
  if (!listed) return listed.error();
  services_by_ns_.emplace();
  for (auto& o : *listed) (*services_by_ns_)[discovery::meta_of(o).ns].push_back(std::move(o));
  struct EndPass {
    std::optional<std::map<std::string, std::vector<Object>>>& cache;
    ~EndPass() { cache.reset(); }
  } end_pass{services_by_ns_};

  Result<void> result;
  if (repair) {
    if (auto r = forget_drifted(); !r) return r;
  }
  for (const auto& k : keys) {
    if (auto r = reconcile(k, false); !r && result) result = r;
  }
  if (!gateway_only && federated_) {
    if (auto r = federated_->refresh_local(); !r && result) result = r;
    if (repair) {
      if (auto r = federated_->reapply_all(); !r && result) result = r;
    }
  }
  return result;
}

Result<void> LinkMirrors::forget_drifted() {
  std::map<ObjectKey, Object> stored;
  for (const auto& [ns, objs] : *services_by_ns_) {
    for (const auto& o : objs) stored.emplace(discovery::key_of(o), o);
  }
  auto endpoints = store_.list(Kind::kEndpoint, "");
  if (!endpoints) return endpoints.error();
  for (auto& o : *endpoints) stored.emplace(discovery::key_of(o), std::move(o));
  for (auto& [svc, objs] : written_) {
    for (auto it = objs.begin(); it != objs.end();) {
      auto st = stored.find(it->first);
      bool same = false;
      if (st != stored.end()) {
        Object a = st->second;
        discovery::meta_of(a).version = 0;
        // The store fills in what we leave empty (a Service's virtual IP).
        if (auto* s = std::get_if<discovery::Service>(&a)) {
          if (std::get<discovery::Service>(it->second).cluster_ip.empty()) s->cluster_ip.clear();
        }
        Object b = it->second;
        discovery::meta_of(b).version = 0;
        same = a == b;
      }
      it = same ? std::next(it) : objs.erase(it);  // rewritten by the reconcile that follows
    }
  }
  return {};
}

Result<std::vector<Object>> LinkMirrors::local_services(const std::string& ns) {
  if (services_by_ns_) {
    auto it = services_by_ns_->find(ns);
    return it == services_by_ns_->end() ? std::vector<Object>{} : it->second;
  }
  return store_.list(Kind::kService, ns);
}

Result<void> LinkMirrors::reconcile(const NsName& key, bool force) {
  std::map<ObjectKey, Object> desired;
  std::optional<MirrorStatus> status;
  bool federated_member = false;
  auto rit = remotes_.find(key);
  if (rit != remotes_.end()) {
    const auto& remote = rit->second;
    const auto& svc = remote.service;
    if (topologies::link_selects(link_, svc) && topologies::exported_to(svc, local_cluster_)) {
      std::optional<topologies::Mirror> mirror;
      std::string mode;
      switch (topologies::export_mode(svc.meta.labels)) {
        case topologies::ExportMode::kGateway:
          mirror = topologies::gateway_mirror(remote, link_, gateway_, local_cluster_);
          mode = "gateway";
          break;
        case topologies::ExportMode::kFlat:
          mirror = topologies::flat_mirror(remote, link_, local_cluster_);
          mode = "flat";
          break;
        case topologies::ExportMode::kNone:
          break;
      }
      federated_member = federated_ && topologies::is_federated_member(svc.meta.labels);
      if (mirror && stale_) {
        // Served as last seen no longer: kept, not ready, saying since when.
        mirror->service.meta.annotations[std::string(topologies::kStaleSince)] =
            std::to_string(stale_since_unix_);
        for (auto& e : mirror->endpoints) e.ready = false;
      }
      if (mirror) {
        // A local object of the mirror's name that is not ours is never overwritten.
        auto existing = local_services(key.first);
        if (!existing) return existing.error();
        bool conflict = false, namespace_exists = false;
        for (const auto& o : *existing) {
          const auto& m = discovery::meta_of(o);
          if (m.name == mirror->service.meta.name && m.owner != owner_) conflict = true;
          if (!owned_by_a_link(m)) namespace_exists = true;
        }
        status = MirrorStatus{key.first,
                              mirror->service.meta.name,
                              key.second,
                              mode,
                              conflict            ? "conflict"
                              : !namespace_exists ? "missing_namespace"
                              : stale_            ? "stale"
                                                  : "ok",
                              0,
                              0};
        if (!conflict) {
          desired.emplace(discovery::key_of(mirror->service), mirror->service);
          for (auto& e : mirror->endpoints) {
            ++status->endpoints;
            if (e.ready) ++status->ready_endpoints;
            desired.emplace(discovery::key_of(e), std::move(e));
          }
        }
      }
    }
  }

  if (federated_) {
    Result<void> r;
    if (!federated_member) {
      r = federated_->remove_member(key, link_.target_cluster);
    } else if (stale_) {
      // A stale member contributes no ready endpoint: the union fails over to the others.
      auto remote = rit->second;
      for (auto& e : remote.endpoints) e.ready = false;
      r = federated_->set_member(key, link_.target_cluster, remote, link_);
    } else {
      r = federated_->set_member(key, link_.target_cluster, rit->second, link_);
    }
    if (!r) return r;
  }

  if (status) {
    status_[key] = *status;
  } else {
    status_.erase(key);
  }
  auto& written = written_[key];
  std::vector<Object> to_apply;
  for (const auto& [k, o] : desired) {
    auto w = written.find(k);
    if (force || w == written.end() || !(w->second == o)) to_apply.push_back(o);
  }
  if (status && !to_apply.empty()) status_[key].condition = "pending";
  if (auto r = store_.apply(to_apply); !r) return r;
  for (const auto& o : to_apply) written[discovery::key_of(o)] = o;
  if (status) status_[key].condition = status->condition;
  std::vector<ObjectKey> to_delete;
  for (const auto& [k, o] : written) {
    if (!desired.contains(k)) to_delete.push_back(k);
  }
  endpoints_first(to_delete);
  for (const auto& k : to_delete) {
    if (auto r = store_.remove(k); !r) return r;
    written.erase(k);
  }
  if (written.empty()) written_.erase(key);
  return {};
}

Result<void> LinkMirrors::collect_garbage() {
  std::set<ObjectKey> keep;
  for (const auto& [svc, objs] : written_) {
    for (const auto& [k, o] : objs) keep.insert(k);
  }
  if (federated_) keep.merge(federated_->keys_owned_by(owner_));
  std::vector<ObjectKey> orphans;
  for (auto kind : kWrittenKinds) {
    auto objects = store_.list(kind);
    if (!objects) return objects.error();
    for (const auto& o : *objects) {
      if (discovery::meta_of(o).owner != owner_) continue;
      auto k = discovery::key_of(o);
      if (!keep.contains(k)) orphans.push_back(k);
    }
  }
  for (const auto& k : orphans) {
    if (auto r = store_.remove(k); !r) return r;
  }
  return {};
}

Result<void> LinkMirrors::remove_all() {
  remotes_.clear();
  written_.clear();
  status_.clear();
  if (federated_) {
    if (auto r = federated_->remove_cluster(link_.target_cluster); !r) return r;
  }
  // From the store, not from memory: objects of an earlier run go too.
  std::vector<ObjectKey> owned;
  for (auto kind : kWrittenKinds) {
    auto objects = store_.list(kind);
    if (!objects) return objects.error();
    for (const auto& o : *objects) {
      if (discovery::meta_of(o).owner == owner_) owned.push_back(discovery::key_of(o));
    }
  }
  for (const auto& k : owned) {
    if (auto r = store_.remove(k); !r) return r;
  }
  return {};
}

std::size_t LinkMirrors::mirror_count() const {
  std::size_t n = 0;
  for (const auto& [k, objs] : written_) {
    for (const auto& [key, o] : objs) n += key.kind == Kind::kService ? 1 : 0;
  }
  return n;
}

std::vector<LinkMirrors::NsName> LinkMirrors::exported() const {
  std::vector<NsName> out;
  for (const auto& [k, r] : remotes_) out.push_back(k);
  return out;
}

std::vector<MirrorStatus> LinkMirrors::status() const {
  std::vector<MirrorStatus> out;
  for (const auto& [k, s] : status_) out.push_back(s);
  return out;
}

}  // namespace strait::link
