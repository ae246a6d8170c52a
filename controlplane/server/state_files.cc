// StateFiles: reading and creating the state directory.
#include "controlplane/server/state_files.h"

#include <fcntl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace strait::controlplane {
namespace fs = std::filesystem;

Result<void> write_file_atomic(const fs::path& path, std::string_view content, fs::perms perms) {
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec)
    return make_error("io_error",
                      "cannot create " + path.parent_path().string() + ": " + ec.message());
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0)
    return make_error("io_error", "cannot write " + tmp.string() + ": " + std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      return make_error("io_error", "cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    return make_error("io_error", "cannot sync " + tmp.string() + ": " + std::strerror(errno));
  }
  fs::permissions(tmp, perms, ec);
  fs::rename(tmp, path, ec);
  if (ec) return make_error("io_error", "cannot rename to " + path.string() + ": " + ec.message());
  int dir = ::open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
  return {};
}

Result<StateFiles> load_state(const ControllerConfig& config) {
  auto anchor_pem = read_file(config.anchor_cert());
  if (!anchor_pem) return anchor_pem.error();
  auto anchors = tls::Certificate::chain_from_pem(*anchor_pem);
  if (!anchors || anchors->empty()) {
    return make_error("invalid_state", config.anchor_cert().string() + ": no certificate");
  }
  auto issuer_pem = read_file(config.issuer_cert());
  if (!issuer_pem) return issuer_pem.error();
  auto issuer_key = read_file(config.issuer_key());
  if (!issuer_key) return issuer_key.error();
  auto issuer = tls::CertificateAuthority::from_pem(*issuer_pem, *issuer_key, "");
  if (!issuer) {
    return make_error("invalid_state",
                      config.issuer_cert().string() + ": " + issuer.error().message);
  }
  auto token_key = read_file(config.token_key());
  if (!token_key) return token_key.error();
  auto signer = token::TokenSigner::from_pem(*token_key);
  if (!signer)
    return make_error("invalid_state", config.token_key().string() + ": " + signer.error().message);
  auto verifier = token::TokenVerifier::from_public_pem(signer->public_key_pem());
  if (!verifier) return verifier.error();
  return StateFiles{anchors->front(), *anchor_pem, std::move(*issuer), std::move(*signer),
                    std::move(*verifier)};
}

namespace {

std::string controller_yaml(const InstallOptions& o) {
  std::ostringstream y;
  y << "# strait-controller configuration, written by straitctl install.\n"
    << "cluster:\n"
    << "  name: " << o.cluster << "\n"
    << "  domain: " << o.domain << "\n"
    << "  trustDomain: " << o.trust_domain << "\n"
    << "  serviceCIDR: " << o.service_cidr << "\n"
    << "  inboundProxyPort: 4143\n"
    << "stateDir: " << fs::absolute(o.state_dir).string() << "\n"
    << "listen:\n"
    << "  identity: \"" << o.identity_listen << "\"\n"
    << "  destination: \"" << o.destination_listen << "\"\n"
    << "  admin: \"" << o.admin_listen << "\"\n"
    << "  export: \"" << o.export_listen << "\"\n"
    << "  dns: \"" << o.dns_listen << "\"\n"
    << "identity:\n"
    << "  certLifetime: 24h\n"
    << "policy:\n"
    << "  default: all-authenticated\n"
    << "registration:\n"
    << "  lease: 5s\n"
    << "multicluster:\n"
    << "  exportAddress: \"" << o.export_address << "\"\n"
    << "  identityAddress: \"" << o.identity_address << "\"\n";
  auto list = [&y](const char* key, const std::vector<std::string>& items) {
    y << "  " << key << ": [";
    for (std::size_t i = 0; i < items.size(); ++i) y << (i ? ", " : "") << "\"" << items[i] << "\"";
    y << "]\n";
  };
  list("gatewayAddresses", o.gateway_addresses);
  y << "dns:\n";
  list("upstreams", o.dns_upstreams);
  if (!o.dns_recursion_networks.empty()) list("recursionNetworks", o.dns_recursion_networks);
  return y.str();
}

constexpr auto kSecret = fs::perms::owner_read | fs::perms::owner_write;

// A given issuer must be signed by one of the given anchors: otherwise the controller would
// issue certificates that no peer trusts, and say so only at its first handshake.
Result<void> check_signed_by_anchor(const tls::Certificate& issuer, const std::string& anchor_pem) {
  auto anchors = tls::Certificate::chain_from_pem(anchor_pem);
  if (!anchors || anchors->empty()) {
    return make_error("invalid_field", "--trust-anchor: no certificate in the file");
  }
  for (const auto& a : *anchors) {
    if (X509_check_issued(a.get(), issuer.get()) == X509_V_OK &&
        X509_verify(issuer.get(), X509_get0_pubkey(a.get())) == 1) {
      return {};
    }
  }
  return make_error("invalid_field",
                    "--issuer-cert: not signed by any certificate of --trust-anchor");
}

}  // namespace

Result<void> install_state(const InstallOptions& o) {
  fs::path yaml = o.state_dir / "controller.yaml";
  if (fs::exists(yaml)) {
    return make_error("already_installed", yaml.string() +
                                               " exists: this state directory is "
                                               "already installed");
  }
  std::string anchor_pem, issuer_pem, issuer_key_pem;
  const bool given = o.anchor_cert || o.issuer_cert || o.issuer_key;
  if (given) {
    if (!o.anchor_cert || !o.issuer_cert || !o.issuer_key) {
      return make_error("invalid_field",
                        "give all of --trust-anchor, --issuer-cert and "
                        "--issuer-key, or none");
    }
    auto a = read_file(*o.anchor_cert);
    auto c = read_file(*o.issuer_cert);
    auto k = read_file(*o.issuer_key);
    for (auto* r : {&a, &c, &k}) {
      if (!*r) return r->error();
    }
    anchor_pem = *a;
    issuer_pem = *c;
    issuer_key_pem = *k;
    auto issuer = tls::CertificateAuthority::from_pem(issuer_pem, issuer_key_pem, "");
    if (!issuer) return issuer.error();
    if (auto r = check_signed_by_anchor(issuer->cert(), anchor_pem); !r) return r;
  } else {
    auto root = tls::CertificateAuthority::create_root("strait trust anchor " + o.trust_domain,
                                                       o.anchor_lifetime);
    if (!root) return root.error();
    auto issuer = root->create_intermediate("strait issuer " + o.cluster, o.issuer_lifetime);
    if (!issuer) return issuer.error();
    anchor_pem = root->cert().to_pem();
    issuer_pem = issuer->cert().to_pem();
    issuer_key_pem = issuer->key().to_pem();
    // The anchor's key signs other clusters' issuers that share this anchor.
    if (auto r =
            write_file_atomic(o.state_dir / "ca" / "anchor.key", root->key().to_pem(), kSecret);
        !r) {
      return r;
    }
  }
  auto token_key = token::generate_signing_key_pem();
  if (!token_key) return token_key.error();
  for (auto [name, content, perms] :
       {std::tuple{"ca/anchor.crt", anchor_pem,
                   fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                       fs::perms::others_read},
        std::tuple{"ca/issuer.crt", issuer_pem,
                   fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read |
                       fs::perms::others_read},
        std::tuple{"ca/issuer.key", issuer_key_pem, kSecret},
        std::tuple{"ca/token-signing.key", *token_key, kSecret}}) {
    if (auto r = write_file_atomic(o.state_dir / name, content, perms); !r) return r;
  }
  return write_file_atomic(yaml, controller_yaml(o));
}

}  // namespace strait::controlplane
