// TrustWatch: updates to TrustSets, and the stream around them.
#include "sidecar/proxy/trust_watch.h"

#include "core/log/log.h"
#include "core/tls/certificate.h"

namespace strait::proxy {
namespace tv = trust::v1;

namespace {

// Each certificate of `pem` in canonical PEM.
Result<std::vector<std::string>> canonical(const std::string& pem) {
  auto certs = tls::Certificate::chain_from_pem(pem);
  if (!certs) return certs.error();
  std::vector<std::string> out;
  for (const auto& c : *certs) out.push_back(c.to_pem());
  return out;
}

// Hands the status of every finished call to `on_finish` (on the stream's thread): WatchStream
// reports connects and disconnects, not a call that failed before its first message.
template <typename Resp>
class FinishTap final : public grpc::ClientReaderInterface<Resp> {
 public:
  FinishTap(std::unique_ptr<grpc::ClientReaderInterface<Resp>> reader,
            std::function<void(const grpc::Status&)> on_finish)
      : reader_(std::move(reader)), on_finish_(std::move(on_finish)) {}
  bool Read(Resp* m) override { return reader_->Read(m); }
  bool NextMessageSize(std::uint32_t* sz) override { return reader_->NextMessageSize(sz); }
  void WaitForInitialMetadata() override { reader_->WaitForInitialMetadata(); }
  grpc::Status Finish() override {
    grpc::Status status = reader_->Finish();
    on_finish_(status);
    return status;
  }

 private:
  std::unique_ptr<grpc::ClientReaderInterface<Resp>> reader_;
  std::function<void(const grpc::Status&)> on_finish_;
};

}  // namespace

Result<TrustSet> make_trust_set(const std::string& local_anchors_pem,
                                const std::string& local_trust_domain,
                                const tv::TrustBundleUpdate& update) {
  TrustSet set;
  if (auto added = set.bundle.add_pem(local_anchors_pem); !added) return added.error();
  auto locals = canonical(local_anchors_pem);
  if (!locals) return locals.error();
  for (auto& pem : *locals) {
    if (set.key.emplace("", std::move(pem)).second) ++set.per_domain[local_trust_domain];
  }
  for (const auto& root : update.roots()) {
    auto pems = canonical(root.pem());
    if (!pems || pems->size() != 1) {
      set.skipped.push_back((root.trust_domain().empty() ? "local" : root.trust_domain()) +
                            ": not exactly one certificate");
      continue;
    }
    const std::string& td = root.trust_domain();
    // The local anchors are already trusted for everything: repeating one adds nothing.
    if (set.key.contains({"", pems->front()}) || set.key.contains({td, pems->front()})) continue;
    std::optional<std::string> scope;
    if (!td.empty()) scope = td;
    if (auto added = set.bundle.add_pem(pems->front(), scope); !added) {
      set.skipped.push_back((td.empty() ? "local" : td) + ": " + added.error().code);
      continue;
    }
    set.key.emplace(td, std::move(pems->front()));
    ++set.per_domain[td.empty() ? local_trust_domain : td];
  }
  return set;
}

TrustWatch::TrustWatch(boost::asio::io_context& io, StubFactory stubs,
                       std::string local_anchors_pem, std::string local_trust_domain,
                       Callbacks callbacks)
    : io_(io),
      stubs_(std::move(stubs)),
      anchors_pem_(std::move(local_anchors_pem)),
      trust_domain_(std::move(local_trust_domain)),
      callbacks_(std::move(callbacks)) {
  // The bootstrap set: the anchors file alone, which the TLS contexts already use.
  if (auto set = make_trust_set(anchors_pem_, trust_domain_, {}); set) current_ = std::move(*set);
}

TrustWatch::~TrustWatch() { close(); }

void TrustWatch::close() {
  if (stream_) stream_->close();
}

void TrustWatch::start() {
  if (stream_) return;
  stream_ = controlplane::WatchStream<tv::TrustWatchRequest, tv::TrustBundleUpdate>::open(
      io_.get_executor(), tv::TrustWatchRequest(),
      // Runs on the stream's thread: stubs_ must be thread-safe.
      [stubs = stubs_, unimplemented = unimplemented_](grpc::ClientContext* ctx,
                                                       const tv::TrustWatchRequest& r, bool retry) {
        auto stub = stubs(retry);
        auto reader = std::make_unique<FinishTap<tv::TrustBundleUpdate>>(
            std::unique_ptr<grpc::ClientReaderInterface<tv::TrustBundleUpdate>>(
                stub->Watch(ctx, r)),
            [unimplemented](const grpc::Status& status) {
              // An older controller: the anchors file is all there is. The stream keeps
              // asking (the controller may be upgraded), but readiness no longer waits.
              if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED &&
                  !unimplemented->exchange(true)) {
                log::warn(
                    "the controller does not serve trust roots; trusting the anchors "
                    "file only",
                    {{"detail", status.error_message()}});
              }
            });
        return controlplane::keeping(
            stub,
            std::unique_ptr<grpc::ClientReaderInterface<tv::TrustBundleUpdate>>(std::move(reader)));
      },
      {.on_message = [this](tv::TrustBundleUpdate u) { received(u); },
       .on_state =
           [this](bool connected, const grpc::Status&) {
             if (callbacks_.on_stream_state) callbacks_.on_stream_state(connected);
           }});
}

void TrustWatch::received(const tv::TrustBundleUpdate& update) {
  answered_ = true;
  auto set = make_trust_set(anchors_pem_, trust_domain_, update);
  if (!set) {
    // Cannot happen with anchors that served for the first certificate; keep what we have.
    log::error("trust roots not applied",
               {{"reason", set.error().code}, {"detail", set.error().message}});
    return;
  }
  for (const auto& why : set->skipped) {
    log::warn("trust root ignored", {{"detail", why}});
  }
  if (current_ && current_->key == set->key) return;
  std::optional<TrustSet> previous = std::move(current_);
  current_ = std::move(*set);
  if (callbacks_.on_change) callbacks_.on_change(*current_, previous ? &*previous : nullptr);
}

}  // namespace strait::proxy
