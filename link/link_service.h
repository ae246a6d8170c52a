// LinkService: strait-link's top level. It polls the local store's Links (the admin API has no
// watch), runs one LinkWatcher per target cluster, stops and cleans up after removed Links
// (also those removed while strait-link was down), and reports every link's status. Its own
// store calls (the Link list, orphan and federated GC, the local federated members) run on the
// StoreWorker it owns, like the watchers' handlers; the rest runs on `executor` (the I/O thread).
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <atomic>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "core/metrics/metrics.h"
#include "link/federated_set.h"
#include "link/link_metrics.h"
#include "link/link_watcher.h"
#include "link/local_store.h"
#include "link/store_worker.h"

namespace strait::link {

struct ServiceOptions {
  std::filesystem::path state_dir;  // link credentials go under <state_dir>/links/<link>/
  std::chrono::milliseconds poll{2000};
  WatcherOptions watcher;
};

class LinkService {
 public:
  LinkService(boost::asio::any_io_executor executor, LocalStore& store, std::string local_cluster,
              ServiceOptions options, metrics::Registry& registry);
  ~LinkService();
  LinkService(const LinkService&) = delete;
  LinkService& operator=(const LinkService&) = delete;

  void start();  // polls now, then every options.poll
  // On the I/O thread: no more polls, every watcher stopped (its queued writes are kept).
  void stop();
  // After stop(), from another thread (the I/O thread may be gone): waits up to `deadline` for
  // the store thread to write what is queued, then stops it. True when nothing was left behind.
  bool drain(std::chrono::milliseconds deadline);

  // {"cluster": ..., "links": [LinkWatcher::status(), ...]}; a removed Link is listed, with
  // "removing": true, until the store thread has deleted what it owned.
  boost::json::value status() const;
  // The first poll of the Links succeeded.
  bool ready() const { return polled_.load(); }

 private:
  using Writers = std::map<std::string, std::shared_ptr<LinkWriter>>;  // by target cluster
  void poll();
  void schedule();
  // Store thread: the Links wanted now (nullopt: not read), after the store-side chores.
  std::optional<std::map<std::string, discovery::Link>> poll_store(const Writers& writers);
  // I/O thread: watchers started, updated, removed.
  void apply_links(std::map<std::string, discovery::Link> wanted);
  void remove_orphan_owners(const std::set<std::string>& targets);
  void collect_federated_garbage();

  boost::asio::any_io_executor executor_;
  LocalStore& store_;
  const std::string local_cluster_;
  ServiceOptions options_;
  LinkMetrics metrics_;
  FederatedSet federated_;  // store thread only
  // Blocking work of the watchers (certify, name resolution); joined after they are gone.
  boost::asio::thread_pool blocking_{2};
  // Every LocalStore call; declared before the watchers, which post to it until destroyed.
  StoreWorker store_worker_;
  boost::asio::steady_timer timer_;
  std::map<std::string, std::unique_ptr<LinkWatcher>> watchers_;  // by target cluster
  std::vector<std::unique_ptr<LinkWatcher>> removing_;            // until their cleanup is done
  std::atomic<bool> polled_{false};
  bool stopped_ = false;            // I/O thread
  bool orphans_checked_ = false;    // store thread
  bool federated_gc_done_ = false;  // store thread
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace strait::link
