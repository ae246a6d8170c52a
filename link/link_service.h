// LinkService: strait-link's top level. It polls the local store's Links (the admin API has no
// watch), runs one LinkWatcher per target cluster, stops and cleans up after removed Links
// (also those removed while strait-link was down), and reports every link's status.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/json/value.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "core/metrics/metrics.h"
#include "link/federated_set.h"
#include "link/link_metrics.h"
#include "link/link_watcher.h"
#include "link/local_store.h"

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
  void stop();

  // {"cluster": ..., "links": [LinkWatcher::status(), ...]}
  boost::json::value status() const;
  // The first poll of the Links succeeded.
  bool ready() const { return polled_; }

 private:
  void poll();
  void schedule();
  void remove_orphan_owners(const std::set<std::string>& targets);
  void collect_federated_garbage();

  boost::asio::any_io_executor executor_;
  LocalStore& store_;
  const std::string local_cluster_;
  ServiceOptions options_;
  LinkMetrics metrics_;
  FederatedSet federated_;
  // Blocking work of the watchers (certify, name resolution); joined after they are gone.
  boost::asio::thread_pool blocking_{2};
  boost::asio::steady_timer timer_;
  std::map<std::string, std::unique_ptr<LinkWatcher>> watchers_;  // by target cluster
  std::vector<std::unique_ptr<LinkWatcher>> removing_;            // until their cleanup is done
  bool polled_ = false;
  bool orphans_checked_ = false;
  bool federated_gc_done_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace strait::link
