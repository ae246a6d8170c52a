// H1Pool (see h1_session.h): idle HTTP/1.1 connections per destination, LIFO, expired lazily
// (on every acquire and release of that destination).
#include <algorithm>

#include "sidecar/proxy/http/h1_session.h"

namespace strait::proxy::http {
namespace asio = boost::asio;

namespace {
bool idempotent(std::string_view m) {
  for (std::string_view ok : {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"}) {
    if (m == ok) return true;
  }
  return false;
}
}  // namespace

H1Pool::H1Pool(Connect connect, H1Limits limits, std::size_t max_idle,
               std::chrono::milliseconds idle_for)
    : connect_(std::move(connect)), limits_(limits), max_idle_(max_idle), idle_for_(idle_for) {}

void H1Pool::expire(std::vector<Idle>& list) {
  const auto now = std::chrono::steady_clock::now();
  std::erase_if(list, [&](Idle& i) {
    // A busy one (its response body still being read) is left alone, its idle time counted
    // from now; closed ones and those idle too long go (destroying an H1Client closes it).
    if (i.client->busy()) {
      i.since = now;
      return false;
    }
    return !i.client->reusable() || now - i.since >= idle_for_;
  });
}

asio::awaitable<Result<std::unique_ptr<H1Client>>> H1Pool::acquire(const std::string& destination) {
  auto it = idle_.find(destination);
  if (it != idle_.end()) {
    auto& list = it->second;
    expire(list);
    for (auto i = list.rbegin(); i != list.rend(); ++i) {  // the freshest first
      if (i->client->reusable()) {
        auto client = std::move(i->client);
        list.erase(std::next(i).base());
        co_return client;
      }
    }
  }
  auto stream = co_await connect_(destination);
  if (!stream) co_return stream.error();
  co_return std::make_unique<H1Client>(std::move(*stream), limits_);
}

void H1Pool::release(const std::string& destination, std::unique_ptr<H1Client> client) {
  if (!client || !(client->reusable() || client->busy())) return;
  auto& list = idle_[destination];
  expire(list);
  if (max_idle_ == 0) return;
  while (list.size() >= max_idle_) list.erase(list.begin());  // the oldest goes
  list.push_back(Idle{std::move(client), std::chrono::steady_clock::now()});
}

asio::awaitable<Result<Response>> H1Pool::send(const std::string& destination, Request request) {
  const bool retryable = !request.body && idempotent(request.head.method);
  std::optional<RequestHead> copy;
  if (retryable) copy = request.head;
  bool reused = false;
  {
    auto it = idle_.find(destination);
    if (it != idle_.end()) {
      expire(it->second);
      reused = std::any_of(it->second.begin(), it->second.end(),
                           [](const Idle& i) { return i.client->reusable(); });
    }
  }
  auto client = co_await acquire(destination);
  if (!client) co_return client.error();
  auto r = co_await (*client)->send(std::move(request));
  release(destination, std::move(*client));
  if (r || !reused || !retryable || r.error().code != "connection_error") co_return r;
  // A reused connection the server had closed while it was idle: once more, on a new one.
  auto stream = co_await connect_(destination);
  if (!stream) co_return stream.error();
  auto fresh = std::make_unique<H1Client>(std::move(*stream), limits_);
  // A named request, not a braced temporary in the co_await: GCC 12 destroys that one twice.
  Request retry;
  retry.head = std::move(*copy);
  auto again = co_await fresh->send(std::move(retry));
  release(destination, std::move(fresh));
  co_return again;
}

std::size_t H1Pool::idle_count(const std::string& destination) const {
  auto it = idle_.find(destination);
  if (it == idle_.end()) return 0;
  return static_cast<std::size_t>(std::count_if(
      it->second.begin(), it->second.end(), [](const Idle& i) { return i.client->reusable(); }));
}

}  // namespace strait::proxy::http
