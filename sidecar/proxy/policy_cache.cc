// PolicyCache: a WatchStream per port.
#include "sidecar/proxy/policy_cache.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace strait::proxy {
namespace asio = boost::asio;
namespace pv = policy::v1;

PolicyCache::PolicyCache(asio::io_context& io, StubFactory stubs, discovery::Labels labels,
                         std::function<void(bool)> on_stream_state)
    : io_(io),
      stubs_(std::move(stubs)),
      labels_(std::move(labels)),
      on_stream_state_(std::move(on_stream_state)) {}

PolicyCache::~PolicyCache() {
  for (auto& [port, p] : ports_) p->stream->close();
}

void PolicyCache::watch(std::uint16_t port) {
  auto& slot = ports_[port];
  if (slot) return;
  slot = std::make_unique<Port>();
  Port* p = slot.get();
  pv::InboundPolicyRequest req;
  req.set_port(port);
  req.mutable_workload_labels()->insert(labels_.begin(), labels_.end());
  p->stream = controlplane::WatchStream<pv::InboundPolicyRequest, pv::InboundPolicy>::open(
      io_.get_executor(), req,
      // Runs on the stream's thread: stubs_ must be thread-safe.
      [stubs = stubs_](grpc::ClientContext* ctx, const pv::InboundPolicyRequest& r, bool retry) {
        auto stub = stubs(retry);
        return controlplane::keeping(
            stub,
            std::unique_ptr<grpc::ClientReaderInterface<pv::InboundPolicy>>(stub->Watch(ctx, r)));
      },
      {.on_message =
           [p](pv::InboundPolicy policy) {
             p->policy = std::move(policy);
             for (auto* t : p->waiters) t->cancel();
           },
       .on_state =
           [this](bool connected, const grpc::Status&) {
             if (on_stream_state_) on_stream_state_(connected);
           }});
}

const pv::InboundPolicy* PolicyCache::current(std::uint16_t port) const {
  auto it = ports_.find(port);
  if (it == ports_.end() || !it->second->policy) return nullptr;
  return &*it->second->policy;
}

bool PolicyCache::all_known() const {
  for (const auto& [port, p] : ports_) {
    if (!p->policy) return false;
  }
  return true;
}

asio::awaitable<std::optional<pv::InboundPolicy>> PolicyCache::get(
    std::uint16_t port, std::chrono::steady_clock::time_point deadline) {
  watch(port);
  Port* p = ports_[port].get();
  while (!p->policy && std::chrono::steady_clock::now() < deadline) {
    asio::steady_timer t(io_);
    t.expires_at(deadline);
    auto it = p->waiters.insert(p->waiters.end(), &t);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    p->waiters.erase(it);
  }
  co_return p->policy;
}

}  // namespace strait::proxy
