// Forwarder against real UDP upstreams on loopback: fake resolvers (answering with ldns-built
// messages, silent, or sending garbage) on 127.0.0.1 port 0, all on the test's io_context.
#include "controlplane/dns/forwarder.h"

#include <gtest/gtest.h>
#include <stdbool.h>  // first: ldns would otherwise #define bool, true and false
#include <ldns/ldns.h>

#include <array>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/assert_ok.h"
#include "tests/support/coro_test.h"

namespace strait::controlplane::dns {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using asio::ip::udp;
using namespace std::chrono_literals;
using Outcome = Forwarder::Outcome;
using Wire = std::vector<std::uint8_t>;

// A parsed message, owned.
struct Pkt {
  ldns_pkt* p = nullptr;
  explicit Pkt(std::span<const std::uint8_t> w) {
    EXPECT_EQ(ldns_wire2pkt(&p, w.data(), w.size()), LDNS_STATUS_OK);
  }
  ~Pkt() { ldns_pkt_free(p); }
  Pkt(const Pkt&) = delete;
  Pkt& operator=(const Pkt&) = delete;
  ldns_rr* answer(std::size_t i) const { return ldns_rr_list_rr(ldns_pkt_answer(p), i); }
  std::string qname() const {
    char* s = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(p), 0)));
    std::string out(s);
    std::free(s);
    return out;
  }
};

Wire to_wire(const ldns_pkt* p) {
  std::uint8_t* buf = nullptr;
  std::size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&buf, p, &size), LDNS_STATUS_OK);
  Wire out(buf, buf + size);
  std::free(buf);
  return out;
}

Wire make_query(const char* name, std::uint16_t id, ldns_rr_type type = LDNS_RR_TYPE_A,
                bool edns = false) {
  ldns_pkt* q = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(q, id);
  if (edns) ldns_pkt_set_edns_udp_size(q, 1232);
  Wire out = to_wire(q);
  ldns_pkt_free(q);
  return out;
}

// The upstream's response to `query`: its ID and question, `rcode`, and records in zone-file
// text; with an OPT record when the query had one.
Wire make_response(std::span<const std::uint8_t> query, ldns_pkt_rcode rcode,
                   const std::vector<std::string>& answers,
                   const std::vector<std::string>& authority = {}) {
  Pkt q(query);
  ldns_pkt* r = ldns_pkt_new();
  ldns_pkt_set_id(r, ldns_pkt_id(q.p));
  ldns_pkt_set_qr(r, true);
  ldns_pkt_set_rd(r, ldns_pkt_rd(q.p));
  ldns_pkt_set_ra(r, true);
  ldns_pkt_set_rcode(r, rcode);
  ldns_pkt_push_rr(r, LDNS_SECTION_QUESTION,
                   ldns_rr_clone(ldns_rr_list_rr(ldns_pkt_question(q.p), 0)));
  auto push = [&](ldns_pkt_section section, const std::string& text) {
    ldns_rr* rr = nullptr;
    EXPECT_EQ(ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr), LDNS_STATUS_OK) << text;
    ldns_pkt_push_rr(r, section, rr);
  };
  for (const auto& a : answers) push(LDNS_SECTION_ANSWER, a);
  for (const auto& a : authority) push(LDNS_SECTION_AUTHORITY, a);
  if (ldns_pkt_edns(q.p)) ldns_pkt_set_edns_udp_size(r, 1232);
  Wire out = to_wire(r);
  ldns_pkt_free(r);
  return out;
}

std::uint16_t id_of(const Wire& w) { return static_cast<std::uint16_t>(w[0] << 8 | w[1]); }

// A resolver on 127.0.0.1: for each query, sends back what `behaviour` returns (nothing:
// silence), and counts the queries.
class FakeUpstream {
 public:
  using Behaviour = std::function<std::vector<Wire>(std::span<const std::uint8_t> query)>;

  FakeUpstream(asio::io_context& io, Behaviour b)
      : socket_(io, udp::endpoint(asio::ip::address_v4::loopback(), 0)), behaviour_(std::move(b)) {
    receive();
  }

  std::string address() const {
    return "127.0.0.1:" + std::to_string(socket_.local_endpoint().port());
  }
  int queries() const { return queries_; }

 private:
  void receive() {
    socket_.async_receive_from(asio::buffer(buf_), from_,
                               [this](boost::system::error_code ec, std::size_t n) {
                                 if (ec) return;  // closed: this may be gone
                                 ++queries_;
                                 for (const auto& d : behaviour_({buf_.data(), n})) {
                                   boost::system::error_code sec;
                                   socket_.send_to(asio::buffer(d), from_, 0, sec);
                                 }
                                 receive();
                               });
  }

  udp::socket socket_;
  Behaviour behaviour_;
  std::array<std::uint8_t, 65536> buf_{};
  udp::endpoint from_;
  int queries_ = 0;
};

// A resolver that answers over UDP with an empty truncated message (TC: ask again over TCP)
// and over TCP, on the same port, as `tcp` says.
class TruncatingUpstream {
 public:
  enum class Tcp { kAnswer, kTruncated, kSilent };
  TruncatingUpstream(asio::io_context& io, Tcp tcp)
      : udp_(io,
             [this](std::span<const std::uint8_t> q) {
               Wire tc = make_response(q, LDNS_RCODE_NOERROR, {});
               tc[2] |= 0x02;
               return std::vector<Wire>{tc};
             }),
        acceptor_(io),
        tcp_(tcp) {
    const auto port = static_cast<std::uint16_t>(std::stoi(udp_.address().substr(10)));
    acceptor_.open(tcp::v4());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(tcp::endpoint(asio::ip::address_v4::loopback(), port));
    acceptor_.listen();
    asio::co_spawn(io, accept(), asio::detached);
  }

  std::string address() const { return udp_.address(); }
  int udp_queries() const { return udp_.queries(); }
  int tcp_queries() const { return tcp_queries_; }

 private:
  asio::awaitable<void> accept() {
    for (;;) {
      auto [ec, s] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(acceptor_.get_executor(), serve(std::move(s)), asio::detached);
    }
  }

  asio::awaitable<void> serve(tcp::socket s) {
    constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
    for (;;) {
      std::array<std::uint8_t, 2> len{};
      if (auto [ec, n] = co_await asio::async_read(s, asio::buffer(len), kTuple); ec) co_return;
      Wire q(static_cast<std::size_t>(len[0] << 8 | len[1]));
      if (auto [ec, n] = co_await asio::async_read(s, asio::buffer(q), kTuple); ec) co_return;
      ++tcp_queries_;
      if (tcp_ == Tcp::kSilent) continue;
      Pkt query(q);
      Wire r = make_response(q, LDNS_RCODE_NOERROR, {query.qname() + " 300 IN A 192.0.2.7"});
      if (tcp_ == Tcp::kTruncated) r[2] |= 0x02;
      const std::array<std::uint8_t, 2> out_len{static_cast<std::uint8_t>(r.size() >> 8),
                                                static_cast<std::uint8_t>(r.size() & 0xff)};
      std::array<asio::const_buffer, 2> bufs{asio::buffer(out_len), asio::buffer(r)};
      if (auto [ec, n] = co_await asio::async_write(s, bufs, kTuple); ec) co_return;
    }
  }

  FakeUpstream udp_;
  tcp::acceptor acceptor_;
  Tcp tcp_;
  int tcp_queries_ = 0;
};

std::size_t open_fds() {
  return static_cast<std::size_t>(std::distance(
      std::filesystem::directory_iterator("/proc/self/fd"), std::filesystem::directory_iterator()));
}

FakeUpstream::Behaviour answering(std::uint32_t ttl = 300) {
  return [ttl](std::span<const std::uint8_t> q) {
    Pkt query(q);
    const std::string rr = query.qname() + " " + std::to_string(ttl) + " IN A 192.0.2.1";
    return std::vector<Wire>{make_response(q, LDNS_RCODE_NOERROR, {rr})};
  };
}

FakeUpstream::Behaviour silent() {
  return [](std::span<const std::uint8_t>) { return std::vector<Wire>{}; };
}

// What one Done received.
struct Got {
  int calls = 0;
  Outcome outcome = Outcome::kFailed;
  Wire response;
  Forwarder::Done done() {
    return [this](Outcome o, Wire r) {
      ++calls;
      outcome = o;
      response = std::move(r);
    };
  }
};

class DnsForwarder : public ::testing::Test {
 protected:
  Forwarder::Settings settings(std::vector<std::string> upstreams) {
    Forwarder::Settings s;
    s.upstreams = std::move(upstreams);
    return s;
  }

  // Forwards `query` and runs the io_context until its Done ran; checks it ran exactly once
  // and never inside forward().
  Got ask(Forwarder& f, const Wire& query) {
    Got g;
    f.forward(query, g.done());
    EXPECT_EQ(g.calls, 0) << "Done ran inside forward()";
    testing::run_until(io_, [&] { return g.calls > 0; });
    io_.poll();
    EXPECT_EQ(g.calls, 1);
    return g;
  }

  asio::io_context io_;
};

TEST_F(DnsForwarder, AnswersWithTheClientsId) {
  FakeUpstream up(io_, answering());
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  Got g = ask(**f, make_query("www.example.com.", 0x1234));
  ASSERT_EQ(g.outcome, Outcome::kAnswered);
  ASSERT_GE(g.response.size(), 12u);
  EXPECT_EQ(id_of(g.response), 0x1234);
  Pkt r(g.response);
  EXPECT_EQ(ldns_pkt_get_rcode(r.p), LDNS_RCODE_NOERROR);
  ASSERT_EQ(ldns_pkt_ancount(r.p), 1);
  EXPECT_EQ(ldns_rr_ttl(r.answer(0)), 300u);
  EXPECT_EQ(up.queries(), 1);
  EXPECT_EQ((*f)->outstanding(), 0u);
}

TEST_F(DnsForwarder, RepeatedQueryIsServedFromTheCacheWithTheClientsIdAndSpelling) {
  FakeUpstream up(io_, answering());
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  Got first = ask(**f, make_query("www.example.com.", 0x1111));
  ASSERT_EQ(first.outcome, Outcome::kAnswered);
  EXPECT_EQ((*f)->cached(), 1u);

  Got second = ask(**f, make_query("WWW.Example.com.", 0x2222));
  ASSERT_EQ(second.outcome, Outcome::kCached);
  EXPECT_EQ(up.queries(), 1) << "the cached answer went upstream again";
  EXPECT_EQ(id_of(second.response), 0x2222);
  Pkt r(second.response);
  EXPECT_EQ(r.qname(), "WWW.Example.com.");
  ASSERT_EQ(ldns_pkt_ancount(r.p), 1);
  EXPECT_LE(ldns_rr_ttl(r.answer(0)), 300u);
  char* a = ldns_rdf2str(ldns_rr_rdf(r.answer(0), 0));
  EXPECT_STREQ(a, "192.0.2.1");
  std::free(a);
}

TEST_F(DnsForwarder, CachedTtlsCountDown) {
  FakeUpstream up(io_, answering(300));
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  ASSERT_EQ(ask(**f, make_query("www.example.com.", 1)).outcome, Outcome::kAnswered);
  std::this_thread::sleep_for(1100ms);  // at least one whole second in the cache
  Got g = ask(**f, make_query("www.example.com.", 2));
  ASSERT_EQ(g.outcome, Outcome::kCached);
  Pkt r(g.response);
  ASSERT_EQ(ldns_pkt_ancount(r.p), 1);
  EXPECT_LE(ldns_rr_ttl(r.answer(0)), 299u);
  EXPECT_GT(ldns_rr_ttl(r.answer(0)), 200u);
}

TEST_F(DnsForwarder, CachedAnswerExpiresAtMaxCacheTtl) {
  FakeUpstream up(io_, answering(300));
  auto s = settings({up.address()});
  s.max_cache_ttl = 1s;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  ASSERT_EQ(ask(**f, make_query("www.example.com.", 1)).outcome, Outcome::kAnswered);
  ASSERT_EQ(ask(**f, make_query("www.example.com.", 2)).outcome, Outcome::kCached);
  std::this_thread::sleep_for(1100ms);
  EXPECT_EQ(ask(**f, make_query("www.example.com.", 3)).outcome, Outcome::kAnswered);
  EXPECT_EQ(up.queries(), 2);
}

TEST_F(DnsForwarder, NxDomainPassesThroughAndIsCached) {
  FakeUpstream up(io_, [](std::span<const std::uint8_t> q) {
    return std::vector<Wire>{
        make_response(q, LDNS_RCODE_NXDOMAIN, {},
                      {"example.com. 300 IN SOA ns.example.com. host.example.com. 1 3600 600 "
                       "86400 60"})};
  });
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  Got first = ask(**f, make_query("missing.example.com.", 7));
  ASSERT_EQ(first.outcome, Outcome::kAnswered);
  EXPECT_EQ(id_of(first.response), 7);
  {
    Pkt r(first.response);
    EXPECT_EQ(ldns_pkt_get_rcode(r.p), LDNS_RCODE_NXDOMAIN);
    EXPECT_EQ(ldns_pkt_nscount(r.p), 1);
  }
  Got second = ask(**f, make_query("missing.example.com.", 8));
  ASSERT_EQ(second.outcome, Outcome::kCached);
  EXPECT_EQ(id_of(second.response), 8);
  Pkt r(second.response);
  EXPECT_EQ(ldns_pkt_get_rcode(r.p), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(up.queries(), 1);
}

TEST_F(DnsForwarder, ServFailPassesThroughAndIsNotCached) {
  FakeUpstream up(io_, [](std::span<const std::uint8_t> q) {
    return std::vector<Wire>{make_response(q, LDNS_RCODE_SERVFAIL, {})};
  });
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  for (std::uint16_t id : {1, 2}) {
    Got g = ask(**f, make_query("broken.example.com.", id));
    ASSERT_EQ(g.outcome, Outcome::kAnswered);
    EXPECT_EQ(id_of(g.response), id);
    Pkt r(g.response);
    EXPECT_EQ(ldns_pkt_get_rcode(r.p), LDNS_RCODE_SERVFAIL);
  }
  EXPECT_EQ(up.queries(), 2);
  EXPECT_EQ((*f)->cached(), 0u);
}

TEST_F(DnsForwarder, EdnsAndPlainQueriesAreCachedApart) {
  FakeUpstream up(io_, answering());
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  Got with = ask(**f, make_query("www.example.com.", 1, LDNS_RR_TYPE_A, /*edns=*/true));
  ASSERT_EQ(with.outcome, Outcome::kAnswered);
  EXPECT_TRUE(ldns_pkt_edns(Pkt(with.response).p));
  // A client without EDNS must not get the OPT record of the other's answer.
  Got plain = ask(**f, make_query("www.example.com.", 2));
  ASSERT_EQ(plain.outcome, Outcome::kAnswered);
  EXPECT_FALSE(ldns_pkt_edns(Pkt(plain.response).p));
  EXPECT_EQ(ask(**f, make_query("www.example.com.", 3)).outcome, Outcome::kCached);
  EXPECT_EQ(up.queries(), 2);
}

TEST_F(DnsForwarder, CacheHoldsAtMostCacheEntries) {
  FakeUpstream up(io_, answering());
  auto s = settings({up.address()});
  s.cache_entries = 1;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  EXPECT_EQ(ask(**f, make_query("a.example.com.", 1)).outcome, Outcome::kAnswered);
  EXPECT_EQ(ask(**f, make_query("b.example.com.", 2)).outcome, Outcome::kAnswered);
  EXPECT_EQ((*f)->cached(), 1u);
  EXPECT_EQ(ask(**f, make_query("b.example.com.", 3)).outcome, Outcome::kCached);
  EXPECT_EQ(ask(**f, make_query("a.example.com.", 4)).outcome, Outcome::kAnswered);
  EXPECT_EQ(up.queries(), 3);
}

TEST_F(DnsForwarder, NoCacheWithZeroEntries) {
  FakeUpstream up(io_, answering());
  auto s = settings({up.address()});
  s.cache_entries = 0;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  EXPECT_EQ(ask(**f, make_query("www.example.com.", 1)).outcome, Outcome::kAnswered);
  EXPECT_EQ(ask(**f, make_query("www.example.com.", 2)).outcome, Outcome::kAnswered);
  EXPECT_EQ(up.queries(), 2);
  EXPECT_EQ((*f)->cached(), 0u);
}

TEST_F(DnsForwarder, SilentUpstreamTimesOut) {
  FakeUpstream up(io_, silent());
  auto s = settings({up.address()});
  s.timeout = 300ms;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  const auto start = std::chrono::steady_clock::now();
  Got g = ask(**f, make_query("www.example.com.", 1));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(g.outcome, Outcome::kTimeout);
  EXPECT_TRUE(g.response.empty());
  EXPECT_GE(up.queries(), 1);
  EXPECT_GE(took, 150ms) << "gave up long before the deadline";
  // c-ares gives up about then too: the slot is free again.
  testing::run_until(io_, [&] { return (*f)->outstanding() == 0; });
}

TEST_F(DnsForwarder, BeyondMaxOutstandingIsOverloadedAtOnce) {
  FakeUpstream up(io_, silent());
  auto s = settings({up.address()});
  s.timeout = 30s;  // the first two stay in flight for the whole test
  s.max_outstanding = 2;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  Got a, b, c;
  (*f)->forward(make_query("a.example.com.", 1), a.done());
  (*f)->forward(make_query("b.example.com.", 2), b.done());
  EXPECT_EQ((*f)->outstanding(), 2u);
  (*f)->forward(make_query("c.example.com.", 3), c.done());
  EXPECT_EQ(c.calls, 0) << "Done ran inside forward()";
  testing::run_until(
      io_, [&] { return c.calls > 0 && up.queries() == 2; }, 5s);
  EXPECT_EQ(c.calls, 1);
  EXPECT_EQ(c.outcome, Outcome::kOverloaded);
  EXPECT_TRUE(c.response.empty());
  EXPECT_EQ(a.calls + b.calls, 0);
  EXPECT_EQ((*f)->outstanding(), 2u);
  EXPECT_EQ(up.queries(), 2) << "the overloaded query went upstream";
}

TEST_F(DnsForwarder, FailsOverToTheNextUpstream) {
  FakeUpstream dead(io_, silent());
  FakeUpstream live(io_, answering());
  auto f = Forwarder::create(io_.get_executor(), settings({dead.address(), live.address()}));
  ASSERT_OK(f);
  Got g = ask(**f, make_query("www.example.com.", 9));
  ASSERT_EQ(g.outcome, Outcome::kAnswered);
  EXPECT_EQ(id_of(g.response), 9);
  EXPECT_EQ(dead.queries(), 1);
  EXPECT_EQ(live.queries(), 1);
}

TEST_F(DnsForwarder, MalformedUpstreamAnswerFails) {
  // Noise first (c-ares drops what does not match its query), then a "response" with the
  // query's ID and question that claims an answer record it does not carry.
  FakeUpstream up(io_, [](std::span<const std::uint8_t> q) {
    const std::string noise = testing::pattern(300, 42);
    Wire lying(q.begin(), q.end());
    lying[2] |= 0x80;  // QR
    lying[7] = 1;      // ANCOUNT 1, and nothing after the question
    return std::vector<Wire>{Wire{0xde, 0xad, 0xbe}, Wire(noise.begin(), noise.end()), lying};
  });
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  Got g = ask(**f, make_query("www.example.com.", 5));
  EXPECT_EQ(g.outcome, Outcome::kFailed);
  EXPECT_TRUE(g.response.empty());
  EXPECT_EQ((*f)->cached(), 0u);
  EXPECT_EQ((*f)->outstanding(), 0u);
}

TEST_F(DnsForwarder, GarbageOnlyUpstreamTimesOut) {
  FakeUpstream up(io_, [](std::span<const std::uint8_t> q) {
    Wire w(q.begin(), q.end());
    w[0] ^= 0xff;  // not its ID
    w[2] |= 0x80;
    const std::string noise = testing::pattern(512, 7);
    return std::vector<Wire>{w, Wire(noise.begin(), noise.end()), Wire{}};
  });
  auto s = settings({up.address()});
  s.timeout = 300ms;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  Got g = ask(**f, make_query("www.example.com.", 5));
  EXPECT_EQ(g.outcome, Outcome::kTimeout);
  EXPECT_TRUE(g.response.empty());
}

TEST_F(DnsForwarder, ClosedUpstreamPortFails) {
  std::string address;
  {
    udp::socket s(io_, udp::endpoint(asio::ip::address_v4::loopback(), 0));
    address = "127.0.0.1:" + std::to_string(s.local_endpoint().port());
  }
  auto s = settings({address});
  s.timeout = 30s;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  Got g;
  (*f)->forward(make_query("www.example.com.", 5), g.done());
  testing::run_until(
      io_, [&] { return g.calls > 0; }, 10s);
  EXPECT_EQ(g.outcome, Outcome::kFailed) << "a refused port is a failure, not a timeout";
}

TEST_F(DnsForwarder, TruncatedUdpAnswerIsAskedAgainOverTcp) {
  TruncatingUpstream up(io_, TruncatingUpstream::Tcp::kAnswer);
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  Got g = ask(**f, make_query("big.example.com.", 0x0a0b));
  ASSERT_EQ(g.outcome, Outcome::kAnswered);
  EXPECT_EQ(id_of(g.response), 0x0a0b);
  Pkt r(g.response);
  EXPECT_FALSE(ldns_pkt_tc(r.p));
  EXPECT_EQ(ldns_pkt_ancount(r.p), 1);
  EXPECT_EQ(up.udp_queries(), 1);
  EXPECT_EQ(up.tcp_queries(), 1);
  EXPECT_EQ(ask(**f, make_query("big.example.com.", 2)).outcome, Outcome::kCached);
}

TEST_F(DnsForwarder, TruncatedAnswerPassesThroughAndIsNotCached) {
  TruncatingUpstream up(io_, TruncatingUpstream::Tcp::kTruncated);
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  for (std::uint16_t id : {1, 2}) {
    Got g = ask(**f, make_query("big.example.com.", id));
    ASSERT_EQ(g.outcome, Outcome::kAnswered);
    EXPECT_TRUE(ldns_pkt_tc(Pkt(g.response).p));
  }
  EXPECT_EQ(up.tcp_queries(), 2);
  EXPECT_EQ((*f)->cached(), 0u);
}

TEST_F(DnsForwarder, DestroyingReleasesEverySocket) {
  TruncatingUpstream up(io_, TruncatingUpstream::Tcp::kSilent);
  const std::size_t before = open_fds();
  auto s = settings({up.address()});
  s.timeout = 30s;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  // In flight at destruction: c-ares' UDP socket and its TCP connection (the retry after TC).
  Got pending;
  (*f)->forward(make_query("big.example.com.", 1), pending.done());
  testing::run_until(io_, [&] { return up.tcp_queries() == 1; });
  EXPECT_GT(open_fds(), before);
  f->reset();
  // c-ares closed its sockets (Asio only let go of them); the upstream's end sees EOF.
  testing::run_until(
      io_, [&] { return open_fds() == before; }, 5s);
  EXPECT_EQ(open_fds(), before);
  EXPECT_EQ(pending.calls, 0);
}

TEST_F(DnsForwarder, MalformedQueryFails) {
  FakeUpstream up(io_, answering());
  auto f = Forwarder::create(io_.get_executor(), settings({up.address()}));
  ASSERT_OK(f);
  EXPECT_EQ(ask(**f, Wire{1, 2, 3}).outcome, Outcome::kFailed);
  Wire two_questions = make_query("www.example.com.", 1);
  two_questions[5] = 2;  // QDCOUNT 2, one present
  EXPECT_EQ(ask(**f, two_questions).outcome, Outcome::kFailed);
  EXPECT_EQ(up.queries(), 0);
}

TEST_F(DnsForwarder, DestroyingWithQueriesPendingCallsNoDone) {
  FakeUpstream up(io_, silent());
  auto s = settings({up.address()});
  s.timeout = 300ms;
  s.max_outstanding = 2;
  auto f = Forwarder::create(io_.get_executor(), s);
  ASSERT_OK(f);
  Got a, b, overloaded, failed;
  (*f)->forward(make_query("a.example.com.", 1), a.done());
  (*f)->forward(make_query("b.example.com.", 2), b.done());
  testing::run_until(io_, [&] { return up.queries() == 2; });
  // Two more whose Done is posted but has not run yet.
  (*f)->forward(make_query("c.example.com.", 3), overloaded.done());
  (*f)->forward(Wire{0}, failed.done());
  f->reset();
  // Past the deadline of the pending queries: nothing may call back.
  const auto until = std::chrono::steady_clock::now() + 600ms;
  while (std::chrono::steady_clock::now() < until) {
    io_.run_for(50ms);
    if (io_.stopped()) io_.restart();
  }
  EXPECT_EQ(a.calls + b.calls + overloaded.calls + failed.calls, 0);
}

TEST_F(DnsForwarder, BadSettingsAreRejected) {
  for (const char* bad :
       {"", "example.com", "example.com:53", "1.2.3.4:0", "1.2.3.4:65536", "1.2.3.4:", "1.2.3.4:x",
        "1.2.3.4:053", "[::1", "[1.2.3.4]:53", "::1:53:zz", "1.2.3"}) {
    auto f = Forwarder::create(io_.get_executor(), settings({"127.0.0.1", bad}));
    ASSERT_FALSE(f.ok()) << bad;
    EXPECT_EQ(f.error().code, "invalid_field");
    EXPECT_NE(f.error().message.find('"' + std::string(bad) + '"'), std::string::npos)
        << f.error().message;
  }
  auto none = Forwarder::create(io_.get_executor(), settings({}));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message.find("upstreams"), std::string::npos);
  auto s = settings({"127.0.0.1"});
  s.timeout = 0ms;
  EXPECT_FALSE(Forwarder::create(io_.get_executor(), s).ok());
  s = settings({"127.0.0.1"});
  s.max_outstanding = 0;
  EXPECT_FALSE(Forwarder::create(io_.get_executor(), s).ok());

  ASSERT_OK(Forwarder::create(io_.get_executor(), settings({"198.18.1.5", "198.18.1.5:5353",
                                                            "[::1]:53", "::1", "[2001:db8::1]"})));
}

}  // namespace
}  // namespace strait::controlplane::dns
