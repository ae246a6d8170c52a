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
  return not_before_ + (current_->expiry - not_before_) * 7 / 10;
}

Result<void> LinkCredentials::load(const discovery::Link& link) {
  auto key = controlplane::read_file(dir_ / "key.pem");
  if (!key) return key.error();
  auto chain_pem = controlplane::read_file(dir_ / "cert.pem");
  if (!chain_pem) return chain_pem.error();
  auto parsed_key = tls::PrivateKey::from_pem(*key);
  if (!parsed_key) return parsed_key.error();
  auto chain = tls::Certificate::chain_from_pem(*chain_pem);
  if (!chain) return chain.error();
  if (chain->empty()) return make_error("malformed_certificate", "no certificate in cert.pem");
  auto id = identity_for(link, local_cluster_);
  if (!id) return id.error();
  // Still signed by the Link's roots (a re-generated Link may carry new ones) and ours.
  auto bundle = tls::TrustBundle::from_pem(link.trust_bundle_pem);
  if (!bundle) return bundle.error();
  std::vector<tls::Certificate> intermediates(chain->begin() + 1, chain->end());
  auto verified = bundle->verify(chain->front(), intermediates);
  if (!verified) return verified.error();
  if (!(*verified == *id)) return make_error("identity_mismatch", "persisted certificate is for " + verified->to_string());
  controlplane::WorkloadCredentials c;
  c.identity = id->to_string();
  c.key_pem = *key;
  c.cert_pem = chain->front().to_pem();
  for (const auto& i : intermediates) c.chain_pem.push_back(i.to_pem());
  c.expiry = chain->front().not_after();
  not_before_ = chain->front().not_before();
  current_ = std::move(c);
  return {};
}

Result<void> LinkCredentials::store(const controlplane::WorkloadCredentials& creds) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec) return make_error("write_failed", "cannot create " + dir_.string() + ": " + ec.message());
  fs::permissions(dir_, fs::perms::owner_all, ec);
  if (auto r = controlplane::write_file_atomic(dir_ / "key.pem", creds.key_pem, kPrivate); !r) return r;
  return controlplane::write_file_atomic(dir_ / "cert.pem", creds.cert_chain_pem(), kPrivate);
}

Result<void> LinkCredentials::obtain(const discovery::Link& link, std::chrono::milliseconds timeout) {
  if (!current_ && fs::exists(dir_ / "cert.pem")) {
    if (auto r = load(link); !r) current_.reset();  // unusable: fall back to the token
  }
  if (valid()) return {};
  if (link.link_token.empty()) {
    return make_error("no_token", "no valid link credentials in " + dir_.string() +
                                      " and the Link carries no token: generate a new Link");
  }
  auto id = identity_for(link, local_cluster_);
  if (!id) return make_error("invalid_link", id.error().message);
  auto creds = controlplane::certify(link.identity_address, link.trust_bundle_pem, *id,
                                     link.link_token, timeout);
  if (!creds) return creds.error();
  if (auto r = store(*creds); !r) return r;
  current_ = std::move(*creds);
  not_before_ = std::chrono::system_clock::now();
  if (auto leaf = tls::Certificate::from_pem(current_->cert_pem); leaf) not_before_ = leaf->not_before();
  return {};
}

Result<void> LinkCredentials::renew(const discovery::Link& link, std::chrono::milliseconds timeout) {
  if (!valid()) return obtain(link, timeout);
  auto id = identity_for(link, local_cluster_);
  if (!id) return make_error("invalid_link", id.error().message);
  auto creds = controlplane::certify(link.identity_address, link.trust_bundle_pem, *id, "", timeout,
                                     &*current_);
  if (!creds) return creds.error();
  if (auto r = store(*creds); !r) return r;
  current_ = std::move(*creds);
  if (auto leaf = tls::Certificate::from_pem(current_->cert_pem); leaf) not_before_ = leaf->not_before();
  return {};
}

}  // namespace strait::link
