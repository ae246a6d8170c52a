// MulticlusterView: what `straitctl multicluster check` and `gateways` know about the links of
// this cluster (the one that applied the Links): each Link from the local store, the mirrors it
// owns there (services owned by topologies::owner_of(target), endpoints counted per mirror), the
// ServiceImports its cluster exports into, and strait-link's status entry for it (GET /links).
#pragma once

#include <boost/json/object.hpp>
#include <optional>
#include <string>
#include <vector>

#include "cli/access.h"
#include "core/base/result.h"
#include "core/discovery/model.h"

namespace strait::cli {

struct MirrorCount {
  std::string ns;
  std::string name;
  int endpoints = 0;
  int ready = 0;
};

struct LinkView {
  discovery::Link link;
  std::vector<MirrorCount> mirrors;  // by namespace and name
  // strait-link's entry for this Link; absent when strait-link did not answer or does not
  // watch it (yet).
  std::optional<boost::json::object> status;
  // The ServiceImports that count this link's cluster among the exporting ones.
  std::vector<discovery::ServiceImport> imports;
  bool flat_only() const { return link.gateway_addresses.empty(); }
};

struct MulticlusterView {
  std::vector<LinkView> links;              // by target cluster
  std::string link_admin;                   // where strait-link's status was asked
  std::optional<Error> link_service_error;  // strait-link not found or did not answer
};

// Reads the local store (errors: the admin API's) and strait-link's status (a failure there
// is in link_service_error, not an error). `only_cluster`: that link alone ("" = every link).
Result<MulticlusterView> gather_view(const ControllerAccess& access,
                                     const Result<std::string>& link_admin,
                                     const std::string& only_cluster);

// Small readers of a status object: the member at a dotted path ("gateway.probe.port"), if
// present with that type.
std::optional<bool> json_bool(const boost::json::object& o, std::string_view path);
std::optional<double> json_number(const boost::json::object& o, std::string_view path);
std::optional<std::string> json_string(const boost::json::object& o, std::string_view path);

}  // namespace strait::cli
