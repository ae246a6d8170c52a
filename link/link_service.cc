// LinkService: the Link poller and the watchers' lifecycle.
#include "link/link_service.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <set>

#include "core/log/log.h"
#include "topologies/mirror.h"

namespace strait::link {
namespace asio = boost::asio;
using discovery::Kind;

namespace {
const log::Logger kLog("link");
}

LinkService::LinkService(boost::asio::any_io_executor executor, LocalStore& store,
                         std::string local_cluster, ServiceOptions options,
                         metrics::Registry& registry)
    : executor_(executor),
      store_(store),
      local_cluster_(std::move(local_cluster)),
      options_(std::move(options)),
      metrics_(registry),
      federated_(store, local_cluster_),
      timer_(executor) {}

LinkService::~LinkService() {
  *alive_ = false;
  stop();
  store_worker_.shutdown(std::chrono::milliseconds(0));
}

void LinkService::start() { poll(); }

void LinkService::stop() {
  stopped_ = true;
  timer_.cancel();
  for (auto& [t, w] : watchers_) w->stop();
  for (auto& w : removing_) w->stop();
}

bool LinkService::drain(std::chrono::milliseconds deadline) {
  const bool drained = store_worker_.shutdown(deadline);
  if (!drained) {
    kLog.warn("local store writes left behind at shutdown", {{"deadline_ms", deadline.count()}});
  }
  return drained;
}

void LinkService::schedule() {
  timer_.expires_after(options_.poll);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive || stopped_) return;
    poll();
  });
}

void LinkService::poll() {
  std::erase_if(removing_, [](const auto& w) { return w->remove_done(); });
  Writers writers;
  for (const auto& [t, w] : watchers_) writers.emplace(t, w->writer());
  // One poll at a time: the next is scheduled once this one is back on the I/O thread.
  store_worker_.post([this, alive = alive_, writers = std::move(writers)] {
    auto wanted = poll_store(writers);
    asio::post(executor_, [this, alive, wanted = std::move(wanted)]() mutable {
      if (!*alive || stopped_) return;
      if (wanted) {
        apply_links(std::move(*wanted));
        polled_ = true;
      }
      schedule();
    });
  });
}

std::optional<std::map<std::string, discovery::Link>> LinkService::poll_store(
    const Writers& writers) {
  auto links = store_.list(Kind::kLink, "");
  if (!links) {
    kLog.warn("cannot list Links", {{"error", links.error().to_string()}});
    return std::nullopt;
  }
  std::map<std::string, discovery::Link> wanted;
  for (auto& o : *links) {
    auto& l = std::get<discovery::Link>(o);
    if (l.target_cluster.empty() || l.target_cluster == local_cluster_) continue;
    if (wanted.contains(l.target_cluster)) {
      kLog.warn("two Links to one cluster: the second is ignored",
                {{"target_cluster", l.target_cluster}, {"link", l.meta.ns + "/" + l.meta.name}});
      continue;
    }
    wanted.emplace(l.target_cluster, std::move(l));
  }
  if (!orphans_checked_) {
    std::set<std::string> targets;
    for (const auto& [t, l] : wanted) targets.insert(t);
    remove_orphan_owners(targets);
  }
  // The local members federate with or without Links (a clusterset of one has its names too).
  if (auto r = federated_.refresh_local(); !r) {
    kLog.warn("cannot read the local federated members", {{"error", r.error().to_string()}});
  }
  // Every wanted link has a watcher and its store side has handled its first Synced.
  bool all_synced = true;
  for (const auto& [t, l] : wanted) {
    auto it = writers.find(t);
    all_synced &= it != writers.end() && it->second->mirrors().synced();
  }
  if (all_synced && !federated_gc_done_) collect_federated_garbage();
  return wanted;
}

void LinkService::apply_links(std::map<std::string, discovery::Link> wanted) {
  for (auto it = watchers_.begin(); it != watchers_.end();) {
    if (wanted.contains(it->first)) {
      ++it;
      continue;
    }
    auto w = std::move(it->second);
    it = watchers_.erase(it);
    std::error_code ec;
    std::filesystem::remove_all(options_.state_dir / "links" / w->link().meta.name, ec);
    w->remove();
    if (!w->remove_done()) removing_.push_back(std::move(w));
  }
  for (auto& [target, link] : wanted) {
    auto it = watchers_.find(target);
    if (it != watchers_.end()) {
      it->second->update(link);
      continue;
    }
    auto w =
        std::make_unique<LinkWatcher>(executor_, blocking_.get_executor(), store_worker_, link,
                                      local_cluster_, options_.state_dir / "links" / link.meta.name,
                                      store_, &federated_, metrics_, options_.watcher);
    w->start();
    watchers_.emplace(target, std::move(w));
  }
}

// Mirrors of Links deleted while strait-link was down: nobody else would remove them.
void LinkService::remove_orphan_owners(const std::set<std::string>& targets) {
  std::vector<discovery::ObjectKey> orphans;
  for (auto kind : kWrittenKinds) {
    auto objects = store_.list(kind, "");
    if (!objects) return;
    for (const auto& o : *objects) {
      const auto& owner = discovery::meta_of(o).owner;
      if (owner.rfind("link:", 0) != 0) continue;
      const std::string cluster = owner.substr(5);
      // link:<this cluster> owns the federated services: collect_federated_garbage's to judge.
      if (targets.contains(cluster) || cluster == local_cluster_) continue;
      orphans.push_back(discovery::key_of(o));
    }
  }
  for (const auto& k : orphans) {
    if (auto r = store_.remove(k); !r) return;
  }
  if (!orphans.empty())
    kLog.info("removed mirrors of links that no longer exist", {{"objects", orphans.size()}});
  orphans_checked_ = true;
}

// Federated objects of an earlier run that no member accounts for any more. Only once every
// link has told its initial state, so that no member is missing yet.
void LinkService::collect_federated_garbage() {
  const std::string owner = topologies::owner_of(local_cluster_);
  const auto keep = federated_.keys_owned_by(owner);
  std::vector<discovery::ObjectKey> orphans;
  for (auto kind : kWrittenKinds) {
    auto objects = store_.list(kind, "");
    if (!objects) return;
    for (const auto& o : *objects) {
      if (discovery::meta_of(o).owner == owner && !keep.contains(discovery::key_of(o))) {
        orphans.push_back(discovery::key_of(o));
      }
    }
  }
  for (const auto& k : orphans) {
    if (auto r = store_.remove(k); !r) return;
  }
  federated_gc_done_ = true;
}

boost::json::value LinkService::status() const {
  boost::json::object o;
  o["cluster"] = local_cluster_;
  boost::json::array links;
  for (const auto& [t, w] : watchers_) links.push_back(w->status());
  // A removed Link stays listed until the store thread has deleted what it owned.
  for (const auto& w : removing_) {
    auto s = w->status();
    s["removing"] = true;
    links.push_back(std::move(s));
  }
  o["links"] = std::move(links);
  return o;
}

}  // namespace strait::link
