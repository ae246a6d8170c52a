// LinkCredentials: token exchange, renewal and the files that let a restart skip the token.
#include "link/link_credentials.h"

#include "controlplane/server/state_files.h"
#include "core/tls/certificate.h"
#include "core/tls/key.h"
#include "core/tls/trust_bundle.h"

namespace strait::link {
namespace fs = std::filesystem;

namespace {
constexpr auto kPrivate = fs::perms::owner_read | fs::perms::owner_write;
}

LinkCredentials::LinkCredentials(fs::path dir, std::string local_cluster)
    : dir_(std::move(dir)), local_cluster_(std::move(local_cluster)) {}

Result<identity::SpiffeId> LinkCredentials::identity_for(const discovery::Link& link,
                                                         const std::string& local_cluster) {
  return identity::SpiffeId::parse("spiffe://" + link.target_trust_domain +
                                   "/ns/strait-multicluster/sa/link-" + local_cluster);
}

bool LinkCredentials::valid(std::chrono::system_clock::time_point now) const {
  return current_ && current_->expiry > now;
}

std::chrono::system_clock::time_point LinkCredentials::renew_at() const {
  if (!current_) return std::chrono::system_clock::now();
  return received_ + (current_->expiry - received_) * 7 / 10;
}

Result<LinkCredentials::Fetched> LinkCredentials::load(const fs::path& dir,
                                                       const discovery::Link& link,
                                                       const std::string& local_cluster) {
  auto key = controlplane::read_file(dir / "key.pem");
  if (!key) return key.error();
  auto chain_pem = controlplane::read_file(dir / "cert.pem");
  if (!chain_pem) return chain_pem.error();
  auto parsed_key = tls::PrivateKey::from_pem(*key);
  if (!parsed_key) return parsed_key.error();
  auto chain = tls::Certificate::chain_from_pem(*chain_pem);
  if (!chain) return chain.error();
  if (chain->empty()) return make_error("malformed_certificate", "no certificate in cert.pem");
  auto id = identity_for(link, local_cluster);
  if (!id) return id.error();
  // Still signed by the Link's roots (a re-generated Link may carry new ones), and ours.
  auto bundle = tls::TrustBundle::from_pem(link.trust_bundle_pem);
  if (!bundle) return bundle.error();
  std::vector<tls::Certificate> intermediates(chain->begin() + 1, chain->end());
  auto verified = bundle->verify(chain->front(), intermediates);
  if (!verified) return verified.error();
  if (!(*verified == *id)) {
    return make_error("identity_mismatch", "persisted certificate is for " + verified->to_string());
  }
  Fetched f;
  f.credentials.identity = id->to_string();
  f.credentials.key_pem = *key;
  f.credentials.cert_pem = chain->front().to_pem();
  for (const auto& i : intermediates) f.credentials.chain_pem.push_back(i.to_pem());
  f.credentials.expiry = chain->front().not_after();
  f.received = std::chrono::system_clock::now();
  return f;
}

Result<void> LinkCredentials::store(const fs::path& dir,
                                    const controlplane::WorkloadCredentials& creds) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return make_error("write_failed", "cannot create " + dir.string() + ": " + ec.message());
  fs::permissions(dir, fs::perms::owner_all, ec);
  if (auto r = controlplane::write_file_atomic(dir / "key.pem", creds.key_pem, kPrivate); !r)
    return r;
  return controlplane::write_file_atomic(dir / "cert.pem", creds.cert_chain_pem(), kPrivate);
}

Result<LinkCredentials::Fetched> LinkCredentials::fetch(
    const fs::path& dir, const discovery::Link& link, const std::string& local_cluster,
    const std::optional<controlplane::WorkloadCredentials>& current,
    std::chrono::milliseconds timeout) {
  auto id = identity_for(link, local_cluster);
  if (!id) return make_error("invalid_link", id.error().message);
  if (!current) {
    if (fs::exists(dir / "cert.pem")) {
      // Unusable (expired, other roots): fall back to the token.
      if (auto loaded = load(dir, link, local_cluster);
          loaded && loaded->credentials.expiry > std::chrono::system_clock::now()) {
        return loaded;
      }
    }
    if (link.link_token.empty()) {
      return make_error("no_token", "no valid link credentials in " + dir.string() +
                                        " and the Link carries no token: generate a new Link");
    }
  }
  auto creds = current ? controlplane::certify(link.identity_address, link.trust_bundle_pem, *id,
                                               "", timeout, &*current)
                       : controlplane::certify(link.identity_address, link.trust_bundle_pem, *id,
                                               link.link_token, timeout);
  if (!creds) return creds.error();
  if (auto r = store(dir, *creds); !r) return r.error();
  return Fetched{std::move(*creds), std::chrono::system_clock::now()};
}

void LinkCredentials::adopt(Fetched fetched) {
  current_ = std::move(fetched.credentials);
  received_ = fetched.received;
}

Result<void> LinkCredentials::obtain(const discovery::Link& link,
                                     std::chrono::milliseconds timeout) {
  auto f = fetch(dir_, link, local_cluster_, current_if_valid(), timeout);
  if (!f) return f.error();
  adopt(std::move(*f));
  return {};
}

Result<void> LinkCredentials::renew(const discovery::Link& link,
                                    std::chrono::milliseconds timeout) {
  return obtain(link, timeout);
}

}  // namespace strait::link
