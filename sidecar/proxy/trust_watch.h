// TrustWatch: the proxy's subscription to the controller's Trust.Watch. Every update is the
// complete set of roots (the cluster's anchors, and linked clusters' roots scoped to their
// trust domains); together with the local anchors file (the bootstrap trust, always kept) it
// becomes one TrustBundle, handed on when — and only when — the trusted set changed. Lives on
// the proxy's I/O thread; the stream reconnects by itself (WatchStream).
#pragma once

#include <boost/asio/io_context.hpp>
#include <atomic>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/client/watch_stream.h"
#include "core/base/result.h"
#include "core/tls/trust_bundle.h"
#include "strait/trust.grpc.pb.h"

namespace strait::proxy {

// What one update means to this proxy: the bundle to verify peers with, and a description.
struct TrustSet {
  tls::TrustBundle bundle;
  // (scope, canonical PEM) of every root; scope "" = unscoped. Equal keys: equal trust.
  std::set<std::pair<std::string, std::string>> key;
  // Roots by the trust domain they vouch for; unscoped roots under `local_trust_domain`.
  std::map<std::string, int> per_domain;
  // Roots of the update that were left out, with why (the rest still applies).
  std::vector<std::string> skipped;
};

// The local anchors (unscoped, always) plus every valid root of `update`. Errors only when
// the local anchors themselves are unusable (codes of TrustBundle::add_pem).
Result<TrustSet> make_trust_set(const std::string& local_anchors_pem,
                                const std::string& local_trust_domain,
                                const trust::v1::TrustBundleUpdate& update);

class TrustWatch {
 public:
  // A stub on the current channel; `fresh`: after a broken stream.
  using StubFactory = std::function<std::shared_ptr<trust::v1::Trust::Stub>(bool fresh)>;
  struct Callbacks {
    // A new trusted set (not called for an update that changes nothing); `previous` is null
    // only if the anchors file could not be read as a set.
    std::function<void(const TrustSet& set, const TrustSet* previous)> on_change;
    std::function<void(bool connected)> on_stream_state;  // optional
  };

  TrustWatch(boost::asio::io_context& io, StubFactory stubs, std::string local_anchors_pem,
             std::string local_trust_domain, Callbacks callbacks);
  ~TrustWatch();

  // Opens the stream (idempotent). Needs a channel with a client certificate.
  void start();
  void close();
  // An update arrived, or the controller does not serve Trust at all (an older controller):
  // nothing more to wait for.
  bool answered() const { return answered_ || *unimplemented_; }
  // The set in force: the anchors file alone until the first update.
  const TrustSet* current() const { return current_ ? &*current_ : nullptr; }

 private:
  void received(const trust::v1::TrustBundleUpdate& update);

  boost::asio::io_context& io_;
  StubFactory stubs_;
  std::string anchors_pem_;
  std::string trust_domain_;
  Callbacks callbacks_;
  std::optional<TrustSet> current_;
  bool answered_ = false;
  // Set on the stream's thread when the controller answers UNIMPLEMENTED.
  std::shared_ptr<std::atomic<bool>> unimplemented_ = std::make_shared<std::atomic<bool>>(false);
  std::shared_ptr<
      controlplane::WatchStream<trust::v1::TrustWatchRequest, trust::v1::TrustBundleUpdate>>
      stream_;
};

}  // namespace strait::proxy
