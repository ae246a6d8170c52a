// LinkWatcher: everything strait-link runs for one Link. It obtains and renews the link
// credential, keeps the export stream open, turns its messages (and the repair timer, the probe
// worker, the Link's removal) into typed events for LinkMirrors, and retries the retryable
// failures through a RetryQueue. Two sides: this object lives on the I/O thread (every call and
// callback on `executor`, nothing here waits on the local store); the handlers, the retries and
// the LinkMirrors run on the store thread in a LinkWriter, which it only posts events to.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/object.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "controlplane/client/watch_stream.h"
#include "link/gateway_probe.h"
#include "link/link_credentials.h"
#include "link/link_metrics.h"
#include "link/link_writer.h"
#include "link/store_worker.h"
#include "strait/export.grpc.pb.h"

namespace strait::link {

struct WatcherOptions {
  std::chrono::milliseconds repair_period{60'000};
  std::chrono::milliseconds certify_timeout{5'000};
  std::chrono::milliseconds resolve_timeout{2'000};
  RetryQueue::Options retry;
  // Distinct services waiting for the store thread, per link; beyond: dropped, then a resync.
  std::size_t max_queued_services = 4096;
};

class LinkWatcher {
 public:
  // `blocking` runs what may block (certify, name resolution); results come back on `executor`.
  // `store_worker` runs the handlers (every LocalStore call); it must outlive this watcher.
  LinkWatcher(boost::asio::any_io_executor executor, boost::asio::any_io_executor blocking,
              StoreWorker& store_worker, discovery::Link link, std::string local_cluster,
              std::filesystem::path credentials_dir, LocalStore& store, FederatedSet* federated,
              LinkMetrics& metrics, WatcherOptions options);
  ~LinkWatcher();
  LinkWatcher(const LinkWatcher&) = delete;
  LinkWatcher& operator=(const LinkWatcher&) = delete;

  void start();
  // The Link changed in the store (selectors, gateways, a new token...).
  void update(const discovery::Link& link);
  // The Link was deleted: LinkRemoved (every owned object goes), then stop. A failure to
  // delete is retried until it succeeds or remove_done() holds.
  void remove();
  bool remove_done() const { return removed_ && writer_->snapshot().remove_done; }
  void stop();

  // Queues one event for its handler on the store thread.
  EventQueue::Outcome dispatch(LinkEvent event);
  // The stream adapter: export messages and stream state to typed events (public for tests).
  void on_export(exports::v1::ExportEvent event);
  void on_stream_state(bool connected, const grpc::Status& status);

  const discovery::Link& link() const { return link_; }
  // The store side's first Synced has been handled.
  bool synced() const { return writer_->snapshot().synced; }
  // For LinkService's poll, which reads the writers on the store thread.
  const std::shared_ptr<LinkWriter>& writer() const { return writer_; }
  boost::json::object status() const;

 private:
  void obtain_credentials();
  void credentials_fetched(Result<LinkCredentials::Fetched> fetched);
  void schedule_credentials(std::chrono::milliseconds after);
  void credentials_ready();
  void open_stream();
  void repair();
  void schedule_repair();
  void configure_probe();
  // After the store side dropped events: reopen the export stream, whose snapshot restores them.
  void resync();
  void unexport(const LinkMirrors::NsName& service);
  // The export stream went down (or never came up): staleAfter from now the mirrors are stale.
  void arm_stale_timer();
  // The stream is back and synced: fresh again (and the last sync is now).
  void fresh();
  void mark_synced_now();
  // What the stream's thread connects with; replaced whole on renewal.
  struct StreamEndpoint {
    std::string address;
    controlplane::ClientCredentials credentials;
  };
  std::shared_ptr<const StreamEndpoint> stream_endpoint() const;
  void refresh_endpoint();

  boost::asio::any_io_executor executor_;
  boost::asio::any_io_executor blocking_;
  StoreWorker& store_worker_;
  std::string local_cluster_;
  LinkMetrics& metrics_;
  WatcherOptions options_;
  // Before writer_: its overflow callback captures it.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // The I/O side's own copies: the store side has its own in its LinkMirrors.
  discovery::Link link_;
  std::vector<std::string> gateway_addresses_;  // what the probe probes
  // What the stream has told the store side is exported (a superset: a dropped unexport stays).
  std::set<LinkMirrors::NsName> exported_;
  std::shared_ptr<LinkWriter> writer_;
  LinkCredentials credentials_;
  GatewayProbe probe_;
  std::shared_ptr<controlplane::WatchStream<exports::v1::WatchExports, exports::v1::ExportEvent>>
      stream_;
  boost::asio::steady_timer credentials_timer_;
  boost::asio::steady_timer repair_timer_;
  boost::asio::steady_timer stale_timer_;
  std::chrono::milliseconds credentials_backoff_{500};
  mutable std::mutex endpoint_mu_;
  std::shared_ptr<const StreamEndpoint> endpoint_;
  std::set<LinkMirrors::NsName> seen_since_connect_;
  // What the probe worker saw, for status() (it reports transitions only).
  struct ProbeStats {
    std::string last_result;  // "" before the first probe
    std::optional<double> last_success_latency_ms;
    std::int64_t last_unix = 0;
    std::uint64_t successes = 0, failures = 0, failures_in_a_row = 0;
  };
  ProbeStats probe_stats_;
  std::string credentials_error_;
  bool connected_ = false;
  bool synced_since_connect_ = false;
  bool stale_ = false;
  bool stale_timer_armed_ = false;
  std::int64_t down_since_unix_ = 0;  // when the stream went down (0 while it is up)
  std::int64_t last_sync_unix_ = 0;   // the last moment the link was known current
  bool fetching_ = false;
  bool removed_ = false;
  bool stopped_ = false;
};

}  // namespace strait::link
