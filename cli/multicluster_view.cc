// MulticlusterView: the local store and strait-link's status, joined per Link.
#include "cli/multicluster_view.h"

#include <boost/json.hpp>
#include <map>

#include "cli/link_status.h"
#include "cli/store.h"
#include "topologies/mirror.h"

namespace strait::cli {
using discovery::Kind;

namespace {

constexpr auto kLinkServiceTimeout = std::chrono::seconds(5);

const boost::json::value* at_path(const boost::json::object& o, std::string_view path) {
  const boost::json::object* cur = &o;
  while (true) {
    const auto dot = path.find('.');
    const auto* v = cur->if_contains(path.substr(0, dot));
    if (v == nullptr || dot == std::string_view::npos) return v;
    cur = v->if_object();
    if (cur == nullptr) return nullptr;
    path.remove_prefix(dot + 1);
  }
}

}  // namespace

std::optional<bool> json_bool(const boost::json::object& o, std::string_view path) {
  const auto* v = at_path(o, path);
  if (v == nullptr || !v->is_bool()) return std::nullopt;
  return v->as_bool();
}

std::optional<double> json_number(const boost::json::object& o, std::string_view path) {
  const auto* v = at_path(o, path);
  if (v == nullptr || !v->is_number()) return std::nullopt;
  return v->to_number<double>();
}

std::optional<std::string> json_string(const boost::json::object& o, std::string_view path) {
  const auto* v = at_path(o, path);
  if (v == nullptr || !v->is_string()) return std::nullopt;
  return std::string(v->as_string());
}

Result<MulticlusterView> gather_view(const ControllerAccess& access,
                                     const Result<std::string>& link_admin,
                                     const std::string& only_cluster) {
  auto stub = access.admin();
  auto links = list_objects(access, *stub, Kind::kLink);
  if (!links) return links.error();
  auto services = list_objects(access, *stub, Kind::kService);
  if (!services) return services.error();
  auto endpoints = list_objects(access, *stub, Kind::kEndpoint);
  if (!endpoints) return endpoints.error();
  auto imports = list_objects(access, *stub, Kind::kServiceImport);
  if (!imports) return imports.error();

  MulticlusterView view;
  std::map<std::string, LinkView> by_target;
  for (auto& o : *links) {
    auto& l = std::get<discovery::Link>(o);
    if (!only_cluster.empty() && l.target_cluster != only_cluster) continue;
    // Two Links to one cluster: strait-link uses one of them; so does this view.
    const std::string target = l.target_cluster;  // not a reference into what is moved
    by_target.try_emplace(target, LinkView{std::move(l), {}, std::nullopt, {}});
  }
  // Mirrors per owning link, then their endpoints by (namespace, service).
  std::map<std::pair<std::string, std::string>, MirrorCount*> mirror_of;
  for (auto& [target, lv] : by_target) {
    const std::string owner = topologies::owner_of(target);
    for (const auto& o : *services) {
      const auto& m = discovery::meta_of(o);
      if (m.owner == owner) lv.mirrors.push_back({m.ns, m.name});
    }
    for (auto& mc : lv.mirrors) mirror_of[{mc.ns, mc.name}] = &mc;
  }
  for (const auto& o : *imports) {
    const auto& i = std::get<discovery::ServiceImport>(o);
    for (const auto& cluster : i.clusters) {
      if (auto it = by_target.find(cluster); it != by_target.end()) it->second.imports.push_back(i);
    }
  }
  for (const auto& o : *endpoints) {
    const auto& e = std::get<discovery::Endpoint>(o);
    auto it = mirror_of.find({e.meta.ns, e.service});
    if (it == mirror_of.end()) continue;
    ++it->second->endpoints;
    if (e.ready) ++it->second->ready;
  }

  if (!link_admin) {
    view.link_service_error = link_admin.error();
  } else {
    view.link_admin = *link_admin;
    auto status = fetch_link_status(*link_admin, kLinkServiceTimeout);
    if (!status) {
      view.link_service_error = status.error();
    } else {
      for (const auto& entry : status->at("links").as_array()) {
        const auto* o = entry.if_object();
        if (o == nullptr) continue;
        auto target = json_string(*o, "target_cluster");
        if (!target) continue;
        if (auto it = by_target.find(*target); it != by_target.end()) it->second.status = *o;
      }
    }
  }
  for (auto& [t, lv] : by_target) view.links.push_back(std::move(lv));
  return view;
}

}  // namespace strait::cli
