// Test PKI: a root (trust anchor), a cluster issuer under it, and workload credentials.
#pragma once

#include <chrono>
#include <stdexcept>
#include <string>

#include "core/base/result.h"
#include "core/identity/spiffe_id.h"
#include "core/tls/authority.h"
#include "core/tls/tls_context.h"

namespace strait::tls::testing {

using namespace std::chrono_literals;

// The value of a Result a test cannot go on without; throwing fails the current test.
template <typename T>
T must(Result<T> result) {
  if (!result.ok()) throw std::runtime_error(result.error().to_string());
  return std::move(result).value();
}

inline identity::SpiffeId spiffe(std::string_view text) {
  return must(identity::SpiffeId::parse(text));
}

inline CertificateAuthority make_root(std::string name = "strait root") {
  return must(CertificateAuthority::create_root(std::move(name), 24h * 365));
}

// Workload credentials for `id`: a fresh key, a CSR, and a leaf issued by `issuer`.
inline Credentials issue(const CertificateAuthority& issuer, const identity::SpiffeId& id,
                         std::chrono::seconds lifetime = 24h) {
  PrivateKey key = must(PrivateKey::generate_p256());
  CertificateRequest csr = must(CertificateRequest::from_pem(must(make_csr(key, id))));
  return Credentials{must(issuer.issue_leaf(csr, id, lifetime)), issuer.chain(), std::move(key)};
}

// One trust domain: its root, its cluster issuer, and a bundle trusting the root.
struct Cluster {
  explicit Cluster(std::string trust_domain)
      : trust_domain(std::move(trust_domain)),
        root(make_root(this->trust_domain + " root")),
        issuer(must(root.create_intermediate(this->trust_domain + " issuer", 24h * 30))),
        bundle(must(TrustBundle::from_pem(root.cert().to_pem()))) {}

  identity::SpiffeId workload(std::string_view ns, std::string_view sa) const {
    return identity::SpiffeId::workload(trust_domain, ns, sa);
  }
  Credentials credentials(std::string_view ns, std::string_view sa) const {
    return issue(issuer, workload(ns, sa));
  }

  std::string trust_domain;
  CertificateAuthority root;
  CertificateAuthority issuer;
  TrustBundle bundle;
};

}  // namespace strait::tls::testing
