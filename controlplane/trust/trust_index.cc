// TrustIndex: Links in, the deduplicated set of (scope, root) out.
#include "controlplane/trust/trust_index.h"

#include "core/identity/spiffe_id.h"
#include "core/log/log.h"
#include "core/tls/certificate.h"

namespace strait::controlplane {
namespace tv = trust::v1;

namespace {

// Each certificate of a bundle on its own, in canonical PEM (so that the same root written
// with other line breaks or comments is recognised). Errors: malformed_certificate,
// empty_bundle, not_a_ca.
Result<std::vector<std::string>> split_roots(const std::string& pem) {
  auto certs = tls::Certificate::chain_from_pem(pem);
  if (!certs) return certs.error();
  if (certs->empty()) return make_error("empty_bundle", "no certificate in the trust bundle");
  std::vector<std::string> out;
  for (const auto& c : *certs) {
    if (!c.is_ca()) return make_error("not_a_ca", c.subject() + " is not a CA certificate");
    out.push_back(c.to_pem());
  }
  return out;
}

}  // namespace

TrustIndex::TrustIndex(const std::string& anchors_pem) {
  auto certs = tls::Certificate::chain_from_pem(anchors_pem);
  if (certs) {
    for (const auto& c : *certs) anchors_.insert(c.to_pem());
  }
  std::lock_guard lock(mu_);
  rebuild_locked();
}

void TrustIndex::subscribe(std::uint64_t id, Sink sink) {
  std::lock_guard lock(mu_);
  if (!sink(current_)) return;
  subs_[id] = std::move(sink);
}

void TrustIndex::unsubscribe(std::uint64_t id) {
  std::lock_guard lock(mu_);
  subs_.erase(id);
}

std::size_t TrustIndex::subscriptions() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

tv::TrustBundleUpdate TrustIndex::current() const {
  std::lock_guard lock(mu_);
  return current_;
}

std::map<std::string, std::string> TrustIndex::rejected() const {
  std::lock_guard lock(mu_);
  std::map<std::string, std::string> out;
  for (const auto& [key, why] : rejected_) out[key.first + "/" + key.second] = why;
  return out;
}

void TrustIndex::apply(const discovery::Event& event) {
  const auto* link = std::get_if<discovery::Link>(&event.object);
  if (link == nullptr) return;
  const NsName key{link->meta.ns, link->meta.name};
  std::lock_guard lock(mu_);
  links_.erase(key);
  rejected_.erase(key);
  if (event.type != discovery::Event::Type::kDeleted) {
    Result<std::vector<std::string>> roots = make_error("no_trust_bundle", "");
    if (!link->trust_bundle_pem.empty()) roots = split_roots(link->trust_bundle_pem);
    const std::string& td = link->target_trust_domain;
    if (roots && !identity::SpiffeId::is_valid_trust_domain(td)) {
      roots = make_error("invalid_trust_domain", "'" + td + "' is not a trust domain name");
    }
    if (!roots) {
      // A Link without a bundle is the shared-anchor case: nothing to add, nothing to warn of.
      if (roots.error().code != "no_trust_bundle") {
        log::warn("link trust bundle ignored", {{"link", key.first + "/" + key.second},
                                                {"reason", roots.error().code},
                                                {"detail", roots.error().message}});
      }
      rejected_[key] = roots.error().code;
    } else {
      std::vector<Root> scoped;
      for (auto& pem : *roots) {
        // A root the cluster already trusts for everything (a shared anchor) adds nothing.
        if (!anchors_.contains(pem)) scoped.emplace_back(td, std::move(pem));
      }
      links_[key] = std::move(scoped);
    }
  }
  if (rebuild_locked()) publish_locked();
}

bool TrustIndex::rebuild_locked() {
  std::set<Root> all;
  for (const auto& pem : anchors_) all.emplace("", pem);
  for (const auto& [key, roots] : links_) all.insert(roots.begin(), roots.end());
  tv::TrustBundleUpdate next;
  for (const auto& [td, pem] : all) {
    auto* r = next.add_roots();
    r->set_trust_domain(td);
    r->set_pem(pem);
  }
  // Deterministic: the roots are sorted, so equal sets serialize equally.
  std::string wire = next.SerializeAsString();
  if (wire == current_wire_) return false;
  current_ = std::move(next);
  current_wire_ = std::move(wire);
  return true;
}

void TrustIndex::publish_locked() {
  std::map<std::string, int> per_domain;
  for (const auto& r : current_.roots()) ++per_domain[r.trust_domain()];
  std::string summary;
  for (const auto& [td, n] : per_domain) {
    summary += (summary.empty() ? "" : ",") + (td.empty() ? std::string("local") : td) + "=" +
               std::to_string(n);
  }
  log::info("trust roots changed", {{"roots", static_cast<std::int64_t>(current_.roots_size())},
                                    {"by_trust_domain", summary},
                                    {"subscribers", static_cast<std::int64_t>(subs_.size())}});
  for (auto it = subs_.begin(); it != subs_.end();) {
    auto next = std::next(it);
    if (!it->second(current_)) subs_.erase(it);
    it = next;
  }
}

}  // namespace strait::controlplane
