// H2Pool (see h2_pool.h).
#include "sidecar/proxy/h2_pool.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "sidecar/proxy/dial.h"

namespace strait::proxy {
namespace asio = boost::asio;

namespace {
// Streams one connection carries before the pool opens another: the common default of
// SETTINGS_MAX_CONCURRENT_STREAMS. A peer advertising fewer makes send() wait for a slot.
constexpr std::size_t kStreamsPerConnection = 100;
}  // namespace

void H2Pool::prune(Entry& e) {
  std::erase_if(e.conns, [](Conn& c) {
    if (c.client->usable() || c.client->active_streams() > 0) return false;
    c.client->close();
    c.metrics->closed("");
    return true;
  });
}

std::shared_ptr<http::H2Client> H2Pool::free_connection(Entry& e) {
  for (auto& c : e.conns) {
    if (c.client->usable() && c.client->active_streams() < kStreamsPerConnection) return c.client;
  }
  return nullptr;
}

asio::awaitable<Result<std::shared_ptr<http::H2Client>>> H2Pool::get(
    const std::string& endpoint, const destination::v1::WeightedAddr& addr,
    const ConnLabels& labels) {
  const std::string key = endpoint + " " + addr.authority_override();
  while (true) {
    Entry& e = entries_[key];
    prune(e);
    if (auto c = free_connection(e)) co_return c;
    if (!e.connecting) break;
    // Someone is opening one: wait for it (bounded by the connect itself, which has deadlines).
    if (!e.opened) e.opened = std::make_unique<asio::steady_timer>(ctx_.io);
    e.opened->expires_at(asio::steady_timer::time_point::max());
    auto& timer = *e.opened;
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    // entries_ may have changed: look the entry up again.
  }
  entries_[key].connecting = true;
  auto done = [this, key] {
    Entry& e = entries_[key];
    e.connecting = false;
    if (e.opened) e.opened->cancel();
  };
  TransportHeader header;
  header.target_port = static_cast<std::uint16_t>(addr.addr().port());
  header.target_name = addr.authority_override();
  header.session = SessionProtocol::kHttp2;
  auto metrics = std::make_unique<ConnectionMetrics>(ctx_.metrics, labels);
  auto stream = co_await connect_upstream(ctx_, addr, header);
  if (!stream) {
    metrics->closed(stream.error().code);
    done();
    co_return stream.error();
  }
  std::unique_ptr<ConnectionSet::Member> member(new ConnectionSet::Member(ctx_.connections.join()));
  member->hold((*stream)->socket().native_handle());
  auto client =
      http::H2Client::start(ctx_.io.get_executor(), std::move(*stream), limits_,
                            [this](std::string_view reason, std::string_view detail) {
                              ctx_.refuse("outbound", std::string(reason), std::string(detail));
                            });
  entries_[key].conns.push_back({client, std::move(metrics), std::move(member)});
  done();
  co_return client;
}

void H2Pool::recycle() {
  for (auto& [key, e] : entries_) {
    for (auto& c : e.conns) c.client->drain();
  }
}

void H2Pool::drain() {
  recycle();
  // Each connection closes once its streams are done; let go of it then, so that the drain,
  // which waits for the connection set to empty, does not wait for the pool.
  asio::co_spawn(
      ctx_.io,
      [this]() -> asio::awaitable<void> {
        asio::steady_timer t(ctx_.io);
        while (connections() > 0) {
          for (auto& [key, e] : entries_) prune(e);
          if (connections() == 0) break;
          t.expires_after(std::chrono::milliseconds(20));
          co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
        }
      },
      asio::detached);
}

std::size_t H2Pool::connections() const {
  std::size_t n = 0;
  for (const auto& [key, e] : entries_) n += e.conns.size();
  return n;
}

}  // namespace strait::proxy
