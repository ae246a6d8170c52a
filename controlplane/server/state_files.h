// StateFiles: the controller's state directory on disk — trust anchor, issuer, token signing
// key, controller.yaml — created by `straitctl install` and loaded by strait-controller.
#pragma once

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/server/controller_config.h"
#include "core/base/files.h"
#include "core/base/result.h"
#include "core/tls/authority.h"
#include "core/token/token.h"

namespace strait::controlplane {

struct StateFiles {
  tls::Certificate anchor;
  std::string anchor_pem;  // the trust bundle: every root in ca/anchor.crt
  tls::CertificateAuthority issuer;
  token::TokenSigner signer;
  token::TokenVerifier verifier;
};

Result<StateFiles> load_state(const ControllerConfig& config);

struct InstallOptions {
  std::string cluster;
  std::string trust_domain;
  std::string domain = "cluster.local";
  std::string service_cidr = "198.19.0.0/20";
  std::filesystem::path state_dir;
  // Given PEM files (all three, or none: then a new anchor and issuer are made).
  std::optional<std::filesystem::path> anchor_cert, issuer_cert, issuer_key;
  std::chrono::seconds anchor_lifetime{10LL * 365 * 24 * 3600};
  std::chrono::seconds issuer_lifetime{365LL * 24 * 3600};
  // listen addresses written into controller.yaml
  std::string identity_listen = "127.0.0.1:8080";
  std::string destination_listen = "127.0.0.1:8086";
  std::string admin_listen = "127.0.0.1:9990";
  std::string export_listen = "127.0.0.1:8443";
  std::string dns_listen = "127.0.0.1:53";  // "" writes no DNS server
  std::vector<std::string> dns_upstreams;   // dns.upstreams (none: names outside are refused)
  std::vector<std::string> dns_recursion_networks;  // dns.recursionNetworks (none: loopback)
  // Multicluster: where other clusters reach this one (written to multicluster.* when given).
  std::string export_address;
  std::string identity_address;
  std::vector<std::string> gateway_addresses;
};

// Creates the state directory (refuses to overwrite an existing install).
Result<void> install_state(const InstallOptions& options);

// Writes via a temporary file, fsync and rename: readers see the old or the new content.
Result<void> write_file_atomic(const std::filesystem::path& path, std::string_view content,
                               std::filesystem::perms perms = std::filesystem::perms::owner_read |
                                                              std::filesystem::perms::owner_write |
                                                              std::filesystem::perms::group_read |
                                                              std::filesystem::perms::others_read);
using files::read_file;  // core/base/files.h

}  // namespace strait::controlplane
