// Forwarder: the c-ares channel driven by Asio (a stream_descriptor wait per c-ares socket, one
// timer for c-ares' retries), a deadline timer per query, and the LRU answer cache.
#include "controlplane/dns/forwarder.h"

#include <ares.h>
#include <arpa/inet.h>
#include <stdbool.h>  // first: ldns would otherwise #define bool, true and false
#include <ldns/ldns.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <list>
#include <mutex>
#include <optional>
#include <unordered_map>

#include "core/log/log.h"
#include "core/net/address.h"

namespace strait::controlplane::dns {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kHeader = 12;

struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

PktPtr parse(std::span<const std::uint8_t> wire) {
  ldns_pkt* p = nullptr;
  if (ldns_wire2pkt(&p, wire.data(), wire.size()) != LDNS_STATUS_OK) return nullptr;
  return PktPtr(p);
}

std::optional<std::vector<std::uint8_t>> to_wire(const ldns_pkt* p) {
  std::uint8_t* buf = nullptr;
  std::size_t n = 0;
  if (ldns_pkt2wire(&buf, p, &n) != LDNS_STATUS_OK || !buf) {
    std::free(buf);
    return std::nullopt;
  }
  std::vector<std::uint8_t> out(buf, buf + n);
  std::free(buf);
  return out;
}

void set_id(std::vector<std::uint8_t>& wire, std::uint16_t id) {
  wire[0] = static_cast<std::uint8_t>(id >> 8);
  wire[1] = static_cast<std::uint8_t>(id & 0xff);
}

// Moves the callback out and leaves an empty one (a moved-from std::function is unspecified).
Forwarder::Done take(Forwarder::Done& d) {
  Forwarder::Done out = std::move(d);
  d = nullptr;
  return out;
}

// The cache key of a query: its question, and what of EDNS changes the answer's shape (an OPT
// record only for clients that sent one; DNSSEC records only for DO).
std::optional<std::string> cache_key(const ldns_pkt* q) {
  if (ldns_pkt_qdcount(q) != 1 || ldns_rr_list_rr_count(ldns_pkt_question(q)) != 1) {
    return std::nullopt;
  }
  const ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_question(q), 0);
  char* name = ldns_rdf2str(ldns_rr_owner(rr));
  if (!name) return std::nullopt;
  std::string key(name);
  std::free(name);
  for (char& c : key) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  key += ' ' + std::to_string(ldns_rr_get_type(rr)) + ' ' + std::to_string(ldns_rr_get_class(rr));
  if (ldns_pkt_edns(q)) key += ldns_pkt_edns_do(q) ? " do" : " edns";
  return key;
}

// Every record of the answer, authority and additional sections (OPT is not among them: ldns
// keeps it apart).
template <typename F>
void for_each_rr(ldns_pkt* p, F f) {
  for (ldns_rr_list* list : {ldns_pkt_answer(p), ldns_pkt_authority(p), ldns_pkt_additional(p)}) {
    for (std::size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
      f(ldns_rr_list_rr(list, i));
    }
  }
}

// How long an upstream answer may be served from the cache; zero: not at all.
std::chrono::seconds cache_lifetime(ldns_pkt* p, const Forwarder::Settings& s) {
  if (ldns_pkt_tc(p)) return std::chrono::seconds(0);
  const ldns_pkt_rcode rcode = ldns_pkt_get_rcode(p);
  if (rcode != LDNS_RCODE_NOERROR && rcode != LDNS_RCODE_NXDOMAIN) return std::chrono::seconds(0);
  const auto cap = static_cast<std::uint32_t>(
      std::min<std::int64_t>(s.max_cache_ttl.count(), std::numeric_limits<std::uint32_t>::max()));
  if (rcode == LDNS_RCODE_NOERROR && ldns_pkt_ancount(p) > 0) {
    std::uint32_t ttl = cap;
    for_each_rr(p, [&](const ldns_rr* rr) { ttl = std::min(ttl, ldns_rr_ttl(rr)); });
    return std::chrono::seconds(ttl);
  }
  // NXDOMAIN or NODATA (RFC 2308): the SOA's TTL, at most its minimum field.
  const ldns_rr_list* auth = ldns_pkt_authority(p);
  for (std::size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(auth, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) < 7) continue;
    const std::uint32_t minimum = ldns_rdf2native_int32(ldns_rr_rdf(rr, 6));
    return std::chrono::seconds(std::min({ldns_rr_ttl(rr), minimum, cap}));
  }
  return std::max(s.negative_ttl, std::chrono::seconds(0));
}

// One upstream as c-ares takes it: "ip", "ip:port", "[ipv6]", "[ipv6]:port" (or a bare IPv6).
Result<ares_addr_port_node> parse_upstream(const std::string& text) {
  auto bad = [&](const std::string& why) {
    return make_error("invalid_field", "dns upstream \"" + text + "\": " + why);
  };
  if (text.empty()) return bad("empty");
  std::string host = text;
  std::uint16_t port = 53;
  const bool bare_v6 = std::count(text.begin(), text.end(), ':') > 1 && text.front() != '[';
  if (!bare_v6) {
    const auto colon = text.rfind(':');
    const auto bracket = text.rfind(']');
    if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
      auto p = net::parse_wire_port(std::string_view(text).substr(colon + 1));
      if (!p) return bad("the port must be 1..65535");
      port = *p;
      host = text.substr(0, colon);
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);
      if (host.find(':') == std::string::npos) return bad("brackets are for IPv6 addresses");
    }
  }
  ares_addr_port_node node{};
  node.udp_port = node.tcp_port = port;
  if (inet_pton(AF_INET, host.c_str(), &node.addr.addr4) == 1) {
    node.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &node.addr.addr6) == 1) {
    node.family = AF_INET6;
  } else {
    return bad("not an IP address (names are not resolved here)");
  }
  return node;
}

}  // namespace

struct Forwarder::State {
  // One socket c-ares opened: watched for what c-ares asked last. Shared with the waits in
  // flight, which may complete after c-ares closed it (closed is set then).
  struct Watch {
    explicit Watch(const asio::any_io_executor& ex) : sd(ex) {}
    asio::posix::stream_descriptor sd;
    ares_socket_t fd = ARES_SOCKET_BAD;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool closed = false;
  };

  // One query sent upstream, from ares_send to its callback (which c-ares always makes, with
  // ARES_EDESTRUCTION at the latest). done is empty once the client was told (the deadline).
  struct Pending {
    Pending(State* o, std::uint64_t s, const asio::any_io_executor& ex)
        : owner(o), serial(s), deadline(ex) {}
    State* owner;
    std::uint64_t serial;
    std::uint16_t id = 0;
    std::string key;  // the cache key: where its answer is stored, and the log's question
    Done done;
    asio::steady_timer deadline;
  };

  struct Entry {
    std::string key;
    std::vector<std::uint8_t> wire;  // the upstream's message (ID as it came)
    Clock::time_point stored;
    Clock::time_point expires;
  };

  State(asio::any_io_executor ex, Settings s)
      : ex_(std::move(ex)), settings_(std::move(s)), timer_(ex_) {}

  ~State() {
    alive_.reset();  // posted Done callbacks and waits in flight now do nothing
    shutting_down_ = true;
    // Ends every query (ARES_EDESTRUCTION: dropped) and reports each socket closed, which
    // releases it from Asio before c-ares closes it.
    if (channel_) ares_destroy(channel_);
    for (auto& [fd, w] : watches_) {
      w->closed = true;
      w->sd.release();
    }
    watches_.clear();
    pending_.clear();
  }

  Result<void> init() {
    static std::once_flag once;
    std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
    std::vector<ares_addr_port_node> nodes;
    for (const auto& u : settings_.upstreams) {
      auto n = parse_upstream(u);
      if (!n) return n.error();
      nodes.push_back(*n);
    }
    for (std::size_t i = 0; i + 1 < nodes.size(); ++i) nodes[i].next = &nodes[i + 1];

    // c-ares tries each server in turn, `tries` rounds, and doubles the wait every round:
    // N servers, per-try wait t, T rounds take N * t * (2^T - 1) in all. Two rounds when each
    // try still gets a useful wait, else one; either way it gives up at about the deadline.
    const auto n = static_cast<std::int64_t>(nodes.size());
    const std::int64_t total = settings_.timeout.count();
    int tries = 2;
    std::int64_t per_try = total / (n * 3);
    if (per_try < 200) {
      tries = 1;
      per_try = total / n;
    }
    ares_options o{};
    o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOCHECKRESP;  // SERVFAIL/REFUSED reach the client
    o.timeout = static_cast<int>(std::clamp<std::int64_t>(per_try, 1, 1 << 30));
    o.tries = tries;
    o.sock_state_cb = &State::on_sock_state;
    o.sock_state_cb_data = this;
    char lookups[] = "b";  // DNS only, never /etc/hosts (c-ares copies it)
    o.lookups = lookups;
    o.servers = nullptr;  // none from /etc/resolv.conf; ours are set below
    o.nservers = 0;
    o.domains = nullptr;  // no search list
    o.ndomains = 0;
    const int mask = ARES_OPT_FLAGS | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB |
                     ARES_OPT_LOOKUPS | ARES_OPT_SERVERS | ARES_OPT_DOMAINS | ARES_OPT_NOROTATE;
    if (int rc = ares_init_options(&channel_, &o, mask); rc != ARES_SUCCESS) {
      channel_ = nullptr;
      return make_error("dns_failed", std::string("c-ares: ") + ares_strerror(rc));
    }
    if (int rc = ares_set_servers_ports(channel_, nodes.data()); rc != ARES_SUCCESS) {
      return make_error("dns_failed", std::string("c-ares upstreams: ") + ares_strerror(rc));
    }
    return {};
  }

  void forward(std::span<const std::uint8_t> query, Done done) {
    if (!done) return;
    PktPtr q = query.size() >= kHeader && query.size() <= 65535 ? parse(query) : nullptr;
    std::optional<std::string> key = q && !ldns_pkt_qr(q.get()) ? cache_key(q.get()) : std::nullopt;
    if (!key) {
      finish(std::move(done), Outcome::kFailed, {});
      return;
    }
    if (auto hit = from_cache(*key, q.get())) {
      finish(std::move(done), Outcome::kCached, std::move(*hit));
      return;
    }
    if (pending_.size() >= settings_.max_outstanding) {
      finish(std::move(done), Outcome::kOverloaded, {});
      return;
    }
    const std::uint64_t serial = next_serial_++;
    auto owned = std::make_unique<Pending>(this, serial, ex_);
    Pending* p = owned.get();
    p->id = ldns_pkt_id(q.get());
    p->key = std::move(*key);
    p->done = std::move(done);
    pending_.emplace(serial, std::move(owned));
    p->deadline.expires_after(settings_.timeout);
    p->deadline.async_wait(
        [this, alive = std::weak_ptr<char>(alive_), serial](boost::system::error_code ec) {
          if (alive.expired() || ec) return;
          auto it = pending_.find(serial);
          if (it == pending_.end() || !it->second->done) return;
          // c-ares may still be retrying (a TCP retry after a truncated answer takes longer):
          // the query stays counted until it ends, and a late answer still fills the cache.
          finish(take(it->second->done), Outcome::kTimeout, {});
        });
    // c-ares replaces the ID with its own and checks the answer's ID and question against it.
    // The callback may run inside ares_send (no socket could be opened): p may be gone after.
    ares_send(channel_, query.data(), static_cast<int>(query.size()), &State::on_answer, p);
    arm_timer();
  }

  static void on_answer(void* arg, int status, int /*timeouts*/, unsigned char* abuf, int alen) {
    auto* p = static_cast<Pending*>(arg);
    p->owner->answered(p->serial, status, abuf, alen);
  }

  void answered(std::uint64_t serial, int status, const unsigned char* abuf, int alen) {
    auto node = pending_.extract(serial);
    if (node.empty() || shutting_down_) return;
    std::unique_ptr<Pending> p = std::move(node.mapped());
    p->deadline.cancel();
    if (status != ARES_SUCCESS) {
      if (p->done) {
        finish(take(p->done), status == ARES_ETIMEOUT ? Outcome::kTimeout : Outcome::kFailed, {});
      }
      if (status != ARES_ETIMEOUT) warn("upstream query failed", p->key, ares_strerror(status));
      return;
    }
    const std::span<const std::uint8_t> wire(abuf, alen > 0 ? static_cast<std::size_t>(alen) : 0);
    PktPtr a = wire.size() >= kHeader ? parse(wire) : nullptr;
    if (!a || !ldns_pkt_qr(a.get())) {
      if (p->done) finish(take(p->done), Outcome::kFailed, {});
      warn("malformed upstream answer", p->key, std::to_string(wire.size()) + " bytes");
      return;
    }
    std::vector<std::uint8_t> out(wire.begin(), wire.end());
    store(p->key, out, cache_lifetime(a.get(), settings_));
    if (p->done) {
      set_id(out, p->id);
      finish(take(p->done), Outcome::kAnswered, std::move(out));
    }
  }

  // The cached answer for `key`, with the client's ID and question (its spelling of the name)
  // and every TTL reduced by the whole seconds spent in the cache.
  std::optional<std::vector<std::uint8_t>> from_cache(const std::string& key, const ldns_pkt* q) {
    auto it = index_.find(key);
    if (it == index_.end()) return std::nullopt;
    const auto now = Clock::now();
    auto entry = it->second;
    if (now >= entry->expires) {
      index_.erase(it);
      lru_.erase(entry);
      return std::nullopt;
    }
    PktPtr a = parse(entry->wire);
    ldns_rr_list* question = ldns_rr_list_clone(ldns_pkt_question(q));
    if (!a || !question) {
      ldns_rr_list_deep_free(question);
      return std::nullopt;
    }
    const auto age = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(now - entry->stored).count());
    for_each_rr(a.get(), [&](ldns_rr* rr) {
      const std::uint32_t ttl = ldns_rr_ttl(rr);
      ldns_rr_set_ttl(rr, ttl > age ? ttl - age : 0);
    });
    ldns_rr_list_deep_free(ldns_pkt_question(a.get()));
    ldns_pkt_set_question(a.get(), question);
    ldns_pkt_set_id(a.get(), ldns_pkt_id(q));
    auto out = to_wire(a.get());
    if (!out) return std::nullopt;
    lru_.splice(lru_.begin(), lru_, entry);
    return out;
  }

  void store(const std::string& key, const std::vector<std::uint8_t>& wire,
             std::chrono::seconds lifetime) {
    if (settings_.cache_entries == 0 || lifetime.count() <= 0) return;
    const auto now = Clock::now();
    if (auto it = index_.find(key); it != index_.end()) {
      lru_.erase(it->second);
      index_.erase(it);
    }
    while (lru_.size() >= settings_.cache_entries) {
      index_.erase(lru_.back().key);
      lru_.pop_back();
    }
    lru_.push_front({key, wire, now, now + lifetime});
    index_.emplace(key, lru_.begin());
  }

  // Every outcome reaches the client from the executor, never from inside forward() or c-ares.
  void finish(Done done, Outcome outcome, std::vector<std::uint8_t> response) {
    asio::post(ex_, [alive = std::weak_ptr<char>(alive_), done = std::move(done), outcome,
                     response = std::move(response)]() mutable {
      if (alive.expired()) return;
      done(outcome, std::move(response));
    });
  }

  // Upstream trouble is the environment's: logged, at most once a second.
  void warn(std::string_view msg, const std::string& key, const std::string& detail) {
    const auto now = Clock::now();
    if (now - last_warned_ < std::chrono::seconds(1)) return;
    last_warned_ = now;
    log::warn(std::string("dns forwarder: ") + std::string(msg),
              {{"question", key}, {"detail", detail}});
  }

  // c-ares opens, watches and closes its sockets through this (readable == writable == 0:
  // about to close it).
  static void on_sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    static_cast<State*>(data)->sock_state(fd, readable != 0, writable != 0);
  }

  void sock_state(ares_socket_t fd, bool readable, bool writable) {
    auto it = watches_.find(fd);
    if (!readable && !writable) {
      if (it == watches_.end()) return;
      it->second->closed = true;
      it->second->sd.release();  // c-ares owns the descriptor and closes it
      watches_.erase(it);
      return;
    }
    if (it == watches_.end()) {
      auto w = std::make_shared<Watch>(ex_);
      w->fd = fd;
      boost::system::error_code ec;
      w->sd.assign(fd, ec);
      if (ec) {
        // Unwatched: its queries end by their deadline.
        warn("cannot watch a c-ares socket", "", ec.message());
        return;
      }
      it = watches_.emplace(fd, std::move(w)).first;
    }
    it->second->want_read = readable;
    it->second->want_write = writable;
    if (!shutting_down_) watch(it->second);
  }

  void watch(const std::shared_ptr<Watch>& w) {
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->sd.async_wait(
          asio::posix::descriptor_base::wait_read,
          [this, alive = std::weak_ptr<char>(alive_), w](boost::system::error_code ec) {
            w->reading = false;
            if (alive.expired() || w->closed || ec == asio::error::operation_aborted) {
              return;
            }
            ares_process_fd(channel_, w->fd, ARES_SOCKET_BAD);
            after_io(w, ec);
          });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->sd.async_wait(
          asio::posix::descriptor_base::wait_write,
          [this, alive = std::weak_ptr<char>(alive_), w](boost::system::error_code ec) {
            w->writing = false;
            if (alive.expired() || w->closed || ec == asio::error::operation_aborted) {
              return;
            }
            ares_process_fd(channel_, ARES_SOCKET_BAD, w->fd);
            after_io(w, ec);
          });
    }
  }

  void after_io(const std::shared_ptr<Watch>& w, boost::system::error_code ec) {
    if (ec) {
      // Not waited on again (it would fail the same way): c-ares' timeouts end its queries
      // and close the socket.
      warn("c-ares socket wait failed", "", ec.message());
    } else if (!w->closed) {
      watch(w);
    }
    arm_timer();
  }

  // c-ares' own retries and timeouts: processed when the earliest of them is due.
  void arm_timer() {
    if (shutting_down_) return;
    timeval tv{};
    const timeval* t = ares_timeout(channel_, nullptr, &tv);
    if (!t) {
      if (timer_armed_) timer_.cancel();
      timer_armed_ = false;
      return;
    }
    const auto at =
        Clock::now() + std::chrono::seconds(t->tv_sec) + std::chrono::microseconds(t->tv_usec);
    if (timer_armed_ && timer_at_ <= at) return;  // an earlier wake-up just looks again
    timer_armed_ = true;
    timer_at_ = at;
    timer_.expires_at(at);
    timer_.async_wait([this, alive = std::weak_ptr<char>(alive_)](boost::system::error_code ec) {
      if (alive.expired() || ec == asio::error::operation_aborted) return;
      timer_armed_ = false;
      ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      arm_timer();
    });
  }

  asio::any_io_executor ex_;
  const Settings settings_;
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  bool shutting_down_ = false;
  ares_channel channel_ = nullptr;
  asio::steady_timer timer_;
  bool timer_armed_ = false;
  Clock::time_point timer_at_;
  std::unordered_map<ares_socket_t, std::shared_ptr<Watch>> watches_;
  std::unordered_map<std::uint64_t, std::unique_ptr<Pending>> pending_;
  std::uint64_t next_serial_ = 1;
  std::list<Entry> lru_;  // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index_;
  Clock::time_point last_warned_{};
};

Result<std::unique_ptr<Forwarder>> Forwarder::create(boost::asio::any_io_executor ex, Settings s) {
  if (s.upstreams.empty()) return make_error("invalid_field", "dns upstreams: none given");
  if (s.timeout.count() <= 0) {
    return make_error("invalid_field", "dns forward timeout: must be > 0");
  }
  if (s.max_outstanding == 0) {
    return make_error("invalid_field", "dns max outstanding queries: must be at least 1");
  }
  auto state = std::make_unique<State>(std::move(ex), std::move(s));
  if (auto r = state->init(); !r) return r.error();
  return std::unique_ptr<Forwarder>(new Forwarder(std::move(state)));
}

Forwarder::Forwarder(std::unique_ptr<State> state) : state_(std::move(state)) {}
Forwarder::~Forwarder() = default;

void Forwarder::forward(std::span<const std::uint8_t> query, Done done) {
  state_->forward(query, std::move(done));
}

std::size_t Forwarder::outstanding() const { return state_->pending_.size(); }
std::size_t Forwarder::cached() const { return state_->index_.size(); }

}  // namespace strait::controlplane::dns
