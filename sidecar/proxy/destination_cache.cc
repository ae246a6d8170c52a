// DestinationCache: streams opened on demand, answers cached, idle streams closed.
#include "sidecar/proxy/destination_cache.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace strait::proxy {
namespace asio = boost::asio;
namespace dst = destination::v1;
using Clock = std::chrono::steady_clock;

namespace {

std::string key_of(const dst::TcpAddress& a) {
  return (a.ip().find(':') != std::string::npos ? "[" + a.ip() + "]" : a.ip()) + ":" +
         std::to_string(a.port());
}

}  // namespace

DestinationCache::Lease::Lease(std::shared_ptr<Entry> e) : entry_(std::move(e)) {
  ++entry_->holders_;
}

DestinationCache::Lease::~Lease() {
  if (!entry_) return;
  --entry_->holders_;
  entry_->last_used_ = Clock::now();
}

DestinationCache::DestinationCache(asio::io_context& io, StubFactory stubs, Settings settings)
    : io_(io), stubs_(std::move(stubs)), settings_(std::move(settings)), sweeper_(io) {
  sweep();
}

DestinationCache::~DestinationCache() {
  sweeper_.cancel();
  for (auto& [path, e] : entries_) e->stream_->close();
}

void DestinationCache::sweep() {
  auto now = Clock::now();
  for (auto it = entries_.begin(); it != entries_.end();) {
    auto& e = *it->second;
    if (e.holders_ == 0 && now - e.last_used_ > settings_.idle_timeout) {
      if (e.stream_->connected() && settings_.on_stream_state) settings_.on_stream_state(false);
      e.stream_->close();
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  sweeper_.expires_after(
      std::min<std::chrono::milliseconds>(settings_.idle_timeout, std::chrono::seconds(10)));
  sweeper_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

void DestinationCache::Entry::wake() {
  for (auto* t : waiters_) t->cancel();
}

void DestinationCache::Entry::apply(const dst::Update& u) {
  answered_ = true;
  if (u.has_no_endpoints()) {
    exists_ = u.no_endpoints().exists();
    undeclared_port_ = u.no_endpoints().undeclared_port();
    endpoints_.clear();
  } else if (u.has_add()) {
    exists_ = true;
    undeclared_port_ = false;
    for (const auto& a : u.add().addrs()) endpoints_[key_of(a.addr())] = a;
    if (!u.add().metric_labels().empty()) {
      labels_.clear();
      labels_.insert(u.add().metric_labels().begin(), u.add().metric_labels().end());
    }
  } else if (u.has_remove()) {
    for (const auto& a : u.remove().addrs()) endpoints_.erase(key_of(a));
  }
  balancer_.update(endpoints_);
  wake();
}

asio::awaitable<bool> DestinationCache::Entry::wait_change(Clock::time_point deadline) {
  asio::steady_timer t(io_);
  t.expires_at(deadline);
  auto it = waiters_.insert(waiters_.end(), &t);
  auto [ec] = co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
  waiters_.erase(it);
  co_return ec == asio::error::operation_aborted;  // woken by a change, not the deadline
}

bool DestinationCache::Entry::opaque() const {
  for (const auto& [key, e] : endpoints_) {
    if (e.protocol_hint() == common::v1::PROTOCOL_OPAQUE) return true;
  }
  return false;
}

asio::awaitable<DestinationCache::Entry::Wait> DestinationCache::Entry::wait_for_endpoints(
    Clock::time_point deadline) {
  if (!endpoints_.empty()) co_return Wait::kReady;
  if (waiters_.size() >= max_waiters_) co_return Wait::kQueueFull;
  // In the gauge while waiting (also when the frame is destroyed unfinished).
  struct Counted {
    const std::function<void(int)>& f;
    explicit Counted(const std::function<void(int)>& g) : f(g) {
      if (f) f(+1);
    }
    ~Counted() {
      if (f) f(-1);
    }
  } counted(on_waiting_);
  // No co_await inside || or &&: GCC 12 miscompiles a suspension in a short-circuit operand
  // within a loop (the resumed coroutine hits a trap, SIGILL).
  while (endpoints_.empty() && Clock::now() < deadline) {
    const bool woken = co_await wait_change(deadline);
    if (!woken) break;
  }
  co_return endpoints_.empty() ? Wait::kTimeout : Wait::kReady;
}

asio::awaitable<Result<DestinationCache::Lease>> DestinationCache::resolve(
    std::string path, Clock::time_point deadline) {
  auto& slot = entries_[path];
  if (!slot) {
    slot = std::shared_ptr<Entry>(
        new Entry(io_, settings_.balancer, settings_.max_waiters, settings_.on_waiting));
    slot->path_ = path;
    slot->last_used_ = Clock::now();
    dst::GetDestination req;
    req.set_path(path);
    std::weak_ptr<Entry> weak = slot;
    slot->stream_ = controlplane::WatchStream<dst::GetDestination, dst::Update>::open(
        io_.get_executor(), req,
        // Runs on the stream's thread: stubs_ must be thread-safe.
        [stubs = stubs_](grpc::ClientContext* ctx, const dst::GetDestination& r, bool retry) {
          auto stub = stubs(retry);
          return controlplane::keeping(
              stub, std::unique_ptr<grpc::ClientReaderInterface<dst::Update>>(stub->Get(ctx, r)));
        },
        {.on_message =
             [weak](dst::Update u) {
               if (auto e = weak.lock()) e->apply(u);
             },
         .on_state =
             [this](bool connected, const grpc::Status&) {
               if (settings_.on_stream_state) settings_.on_stream_state(connected);
             }});
  }
  std::shared_ptr<Entry> entry = slot;  // the map may drop it while we wait
  Lease lease(entry);
  while (!entry->answered_ && Clock::now() < deadline) {
    const bool woken = co_await entry->wait_change(deadline);  // not inside ||: see above
    if (!woken) break;
  }
  if (!entry->answered_) {
    co_return make_error("destination_unavailable",
                         "no answer from the destination service for " + path);
  }
  co_return std::move(lease);
}

}  // namespace strait::proxy
