// Reading strait-link's /links: one HTTP/1.1 GET (Beast) under one deadline.
#include "cli/link_status.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>
#include <charconv>
#include <filesystem>
#include <optional>

#include "cli/access.h"
#include "controlplane/server/state_files.h"
#include "link/resolver.h"

namespace strait::cli {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

constexpr auto kAwait = asio::as_tuple(asio::use_awaitable);
constexpr const char* kDefault = "127.0.0.1:9999";

struct HostPort {
  std::string host;
  std::string port;
};

// "h:p", "[v6]:p", or a bare "v6:p" as strait-link writes it.
std::optional<HostPort> split(const std::string& address) {
  const auto colon = address.rfind(':');
  if (colon == std::string::npos || colon + 1 >= address.size()) return std::nullopt;
  HostPort hp{address.substr(0, colon), address.substr(colon + 1)};
  if (hp.host.size() >= 2 && hp.host.front() == '[' && hp.host.back() == ']') {
    hp.host = hp.host.substr(1, hp.host.size() - 2);
  }
  return hp;
}

asio::awaitable<void> get_into(std::vector<asio::ip::tcp::endpoint> endpoints, std::string name,
                               std::string target, std::chrono::milliseconds timeout,
                               std::optional<Result<std::string>>* out) {
  auto ex = co_await asio::this_coro::executor;
  auto fail = [&](const std::string& what, const boost::system::error_code& ec) {
    out->emplace(make_error("link_service_unreachable",
                            "strait-link at " + name + ": " + what + ": " +
                                (ec == beast::error::timeout
                                     ? "no answer within " + std::to_string(timeout.count()) + "ms"
                                     : ec.message())));
  };
  beast::tcp_stream stream(ex);
  stream.expires_after(timeout);  // one deadline for connect, write and read together
  auto [cec, ep] = co_await stream.async_connect(endpoints, kAwait);
  if (cec) co_return fail("connect", cec);
  http::request<http::empty_body> req{http::verb::get, target, 11};
  req.set(http::field::host, name);
  req.set(http::field::user_agent, "straitctl");
  auto [wec, wn] = co_await http::async_write(stream, req, kAwait);
  if (wec) co_return fail("write", wec);
  beast::flat_buffer buffer;
  http::response<http::string_body> resp;
  auto [rdec, rn] = co_await http::async_read(stream, buffer, resp, kAwait);
  if (rdec) co_return fail("read", rdec);
  boost::system::error_code ignored;
  stream.socket().shutdown(asio::ip::tcp::socket::shutdown_both, ignored);
  if (resp.result_int() != 200) {
    out->emplace(make_error("link_service_unreachable", "strait-link at " + name + " answered " +
                                                            std::to_string(resp.result_int()) +
                                                            " to GET " + target));
    co_return;
  }
  out->emplace(std::move(resp.body()));
}

}  // namespace

Result<std::string> link_admin_address(const Args& args) {
  if (auto a = args.get("link-admin")) return *a;
  const std::string dir = state_dir_of(args);
  if (dir.empty()) return std::string(kDefault);
  const auto file = std::filesystem::path(dir) / "run" / "strait-link.json";
  auto text = controlplane::read_file(file);
  if (!text) {
    return make_error("no_link_service", "no " + file.string() +
                                             ": strait-link has not run with this state "
                                             "directory (or give --link-admin HOST:PORT)");
  }
  boost::system::error_code ec;
  auto json = boost::json::parse(*text, ec);
  const auto* admin = ec || !json.is_object() ? nullptr : json.as_object().if_contains("admin");
  auto hp = admin && admin->is_string() ? split(std::string(admin->as_string())) : std::nullopt;
  if (!hp) return make_error("invalid_state", file.string() + ": no \"admin\" HOST:PORT");
  // Listening on every address: reach it on loopback.
  if (hp->host.empty() || hp->host == "0.0.0.0") hp->host = "127.0.0.1";
  if (hp->host == "::") hp->host = "::1";
  const bool v6 = hp->host.find(':') != std::string::npos;
  return (v6 ? "[" + hp->host + "]" : hp->host) + ":" + hp->port;
}

Result<boost::json::object> fetch_link_status(const std::string& address,
                                              std::chrono::milliseconds timeout) {
  auto hp = split(address);
  unsigned long port = 0;
  if (hp) {
    const char* last = hp->port.data() + hp->port.size();
    auto [end, ec] = std::from_chars(hp->port.data(), last, port);
    if (ec != std::errc() || end != last) port = 0;
  }
  if (!hp || hp->host.empty() || port == 0 || port > 65535) {
    return make_error("invalid_address", "--link-admin: expected HOST:PORT, got " + address);
  }
  // A name through c-ares, with a deadline (as strait-link resolves gateways).
  auto ips = link::resolve_all(hp->host, timeout);
  if (!ips) {
    return make_error("link_service_unreachable",
                      "strait-link at " + address + ": " + ips.error().message);
  }
  std::vector<asio::ip::tcp::endpoint> endpoints;
  for (const auto& ip : *ips) {
    boost::system::error_code aec;
    auto a = asio::ip::make_address(ip, aec);
    if (!aec) endpoints.emplace_back(a, static_cast<std::uint16_t>(port));
  }
  asio::io_context io;
  std::optional<Result<std::string>> body;
  asio::co_spawn(io, get_into(std::move(endpoints), address, "/links", timeout, &body),
                 asio::detached);
  io.run();
  if (!body)
    return make_error("link_service_unreachable", "strait-link at " + address + ": no answer");
  if (!*body) return body->error();
  boost::system::error_code ec;
  auto json = boost::json::parse(body->value(), ec);
  if (ec || !json.is_object() || !json.as_object().contains("links") ||
      !json.at("links").is_array()) {
    return make_error("bad_reply", "strait-link at " + address + ": /links is not the status JSON");
  }
  return std::move(json.as_object());
}

}  // namespace strait::cli
