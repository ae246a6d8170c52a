// resolve_all over c-ares' getaddrinfo, driven with poll(2) until it answers or the deadline.
#include "link/resolver.h"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>

#include <algorithm>
#include <mutex>

namespace strait::link {

namespace {

bool is_ip_literal(const std::string& s) {
  in_addr a4;
  in6_addr a6;
  return inet_pton(AF_INET, s.c_str(), &a4) == 1 || inet_pton(AF_INET6, s.c_str(), &a6) == 1;
}

struct Answer {
  bool done = false;
  int status = ARES_SUCCESS;
  std::vector<std::string> addresses;
};

void on_addrinfo(void* arg, int status, int /*timeouts*/, ares_addrinfo* result) {
  auto* a = static_cast<Answer*>(arg);
  a->done = true;
  a->status = status;
  if (status == ARES_SUCCESS && result) {
    for (auto* n = result->nodes; n; n = n->ai_next) {
      char buf[INET6_ADDRSTRLEN] = {};
      if (n->ai_family == AF_INET) {
        inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(n->ai_addr)->sin_addr, buf, sizeof buf);
      } else if (n->ai_family == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(n->ai_addr)->sin6_addr, buf,
                  sizeof buf);
      } else {
        continue;
      }
      std::string s(buf);
      if (std::find(a->addresses.begin(), a->addresses.end(), s) == a->addresses.end()) {
        a->addresses.push_back(s);
      }
    }
  }
  if (result) ares_freeaddrinfo(result);
}

}  // namespace

Result<std::vector<std::string>> resolve_all(const std::string& name,
                                             std::chrono::milliseconds timeout) {
  if (is_ip_literal(name)) return std::vector<std::string>{name};
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
  ares_channel channel = nullptr;
  ares_options opts{};
  opts.timeout = static_cast<int>(std::max<std::int64_t>(timeout.count() / 2, 100));
  opts.tries = 2;
  if (int rc = ares_init_options(&channel, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
      rc != ARES_SUCCESS) {
    return make_error("resolve_failed", "cannot resolve " + name + ": " + ares_strerror(rc));
  }
  Answer answer;
  ares_addrinfo_hints hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_flags = ARES_AI_NOSORT;
  ares_getaddrinfo(channel, name.c_str(), nullptr, &hints, on_addrinfo, &answer);
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!answer.done) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    ares_socket_t socks[ARES_GETSOCK_MAXNUM];
    int bits = ares_getsock(channel, socks, ARES_GETSOCK_MAXNUM);
    std::vector<pollfd> fds;
    for (int i = 0; i < ARES_GETSOCK_MAXNUM; ++i) {
      short ev = 0;
      if (ARES_GETSOCK_READABLE(bits, i)) ev |= POLLIN;
      if (ARES_GETSOCK_WRITABLE(bits, i)) ev |= POLLOUT;
      if (ev) fds.push_back({socks[i], ev, 0});
    }
    if (fds.empty()) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // timeouts, cached answers
      if (answer.done) break;
      ::poll(nullptr, 0, static_cast<int>(std::min<std::int64_t>(left.count(), 10)));
      continue;
    }
    int n =
        ::poll(fds.data(), fds.size(), static_cast<int>(std::min<std::int64_t>(left.count(), 100)));
    if (n <= 0) {
      ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      continue;
    }
    for (const auto& p : fds) {
      ares_process_fd(channel, (p.revents & (POLLIN | POLLERR | POLLHUP)) ? p.fd : ARES_SOCKET_BAD,
                      (p.revents & POLLOUT) ? p.fd : ARES_SOCKET_BAD);
    }
  }
  const bool done = answer.done;
  ares_destroy(channel);  // completes a pending query with ARES_EDESTRUCTION
  if (!done)
    return make_error("resolve_timeout", "no answer for " + name + " within " +
                                             std::to_string(timeout.count()) + "ms");
  if (answer.status != ARES_SUCCESS) {
    return make_error("resolve_failed",
                      "cannot resolve " + name + ": " + ares_strerror(answer.status));
  }
  return answer.addresses;
}

std::vector<std::string> resolve_gateways(const std::vector<std::string>& names,
                                          std::chrono::milliseconds timeout,
                                          std::vector<Error>* errors) {
  std::vector<std::string> out;
  for (const auto& name : names) {
    auto r = resolve_all(name, timeout);
    if (!r) {
      if (errors) errors->push_back(r.error());
      continue;
    }
    for (auto& a : *r) {
      if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
    }
  }
  return out;
}

}  // namespace strait::link
