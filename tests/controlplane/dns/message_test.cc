// DNS messages: queries read strictly, responses that real parsers (ldns) read back.
#include "controlplane/dns/message.h"

#include <gtest/gtest.h>
#include <ldns/ldns.h>

#include <cstdlib>

namespace strait::controlplane::dns {
namespace {

std::vector<std::uint8_t> query(const char* name, ldns_rr_type type, bool edns = false,
                                ldns_rr_class cls = LDNS_RR_CLASS_IN) {
  ldns_pkt* q = nullptr;
  EXPECT_EQ(ldns_pkt_query_new_frm_str(&q, name, type, cls, LDNS_RD), LDNS_STATUS_OK);
  ldns_pkt_set_id(q, 0x1234);
  if (edns) ldns_pkt_set_edns_udp_size(q, 1232);
  std::uint8_t* buf = nullptr;
  std::size_t size = 0;
  EXPECT_EQ(ldns_pkt2wire(&buf, q, &size), LDNS_STATUS_OK);
  std::vector<std::uint8_t> out(buf, buf + size);
  std::free(buf);
  ldns_pkt_free(q);
  return out;
}

struct Read {
  ldns_pkt* p = nullptr;
  explicit Read(const std::vector<std::uint8_t>& w) {
    EXPECT_EQ(ldns_wire2pkt(&p, w.data(), w.size()), LDNS_STATUS_OK);
  }
  ~Read() { ldns_pkt_free(p); }
};

TEST(DnsMessage, AQueryIsReadAndAnsweredWithItsQuestionAndId) {
  auto p = parse_query(query("Web.Shop.svc.cluster.local.", LDNS_RR_TYPE_A));
  ASSERT_EQ(p.kind, Parsed::Kind::kQuery);
  EXPECT_EQ(p.query.id, 0x1234);
  EXPECT_EQ(p.query.name, "web.shop.svc.cluster.local.");
  EXPECT_EQ(p.query.type, LDNS_RR_TYPE_A);
  EXPECT_TRUE(p.query.recursion_desired);
  EXPECT_FALSE(p.query.edns);

  Answer a;
  a.status = Answer::Status::kOk;
  a.answers.push_back(
      {.name = "web.shop.svc.cluster.local.", .type = RrType::kA, .ttl = 5, .data = "198.19.0.10"});
  Read r(build_answer(p.query, a, {.max_size = 512}));
  ASSERT_TRUE(r.p);
  EXPECT_EQ(ldns_pkt_id(r.p), 0x1234);
  EXPECT_TRUE(ldns_pkt_qr(r.p));
  EXPECT_TRUE(ldns_pkt_aa(r.p));
  EXPECT_EQ(ldns_pkt_get_rcode(r.p), LDNS_RCODE_NOERROR);
  ASSERT_EQ(ldns_pkt_qdcount(r.p), 1);
  // The question as the client spelled it (resolvers using 0x20 compare it).
  char* qname = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(r.p), 0)));
  EXPECT_STREQ(qname, "Web.Shop.svc.cluster.local.");
  std::free(qname);
  ASSERT_EQ(ldns_pkt_ancount(r.p), 1);
  ldns_rr* rr = ldns_rr_list_rr(ldns_pkt_answer(r.p), 0);
  EXPECT_EQ(ldns_rr_ttl(rr), 5u);
  char* addr = ldns_rdf2str(ldns_rr_rdf(rr, 0));
  EXPECT_STREQ(addr, "198.19.0.10");
  std::free(addr);
}

TEST(DnsMessage, EveryRecordTypeIsWrittenAsParsersReadIt) {
  auto p = parse_query(query("x.cluster.local.", LDNS_RR_TYPE_ANY, /*edns=*/true));
  ASSERT_EQ(p.kind, Parsed::Kind::kQuery);
  EXPECT_TRUE(p.query.edns);
  Answer a;
  a.status = Answer::Status::kNxDomain;
  a.answers = {{.name = "a.", .type = RrType::kAaaa, .ttl = 5, .data = "fd00::1"},
               {.name = "b.",
                .type = RrType::kSrv,
                .ttl = 5,
                .data = "t.",
                .srv_priority = 1,
                .srv_weight = 2,
                .srv_port = 3},
               {.name = "c.", .type = RrType::kPtr, .ttl = 5, .data = "d."},
               {.name = "e.", .type = RrType::kTxt, .ttl = 5, .data = "1.0.0"}};
  a.authority = {{.name = "cluster.local.",
                  .type = RrType::kSoa,
                  .ttl = 5,
                  .data = "ns.dns.cluster.local. hostmaster.cluster.local.",
                  .soa_serial = 7,
                  .soa_minimum = 5}};
  Read r(build_answer(p.query, a, {.max_size = 1232}));
  ASSERT_TRUE(r.p);
  EXPECT_EQ(ldns_pkt_get_rcode(r.p), LDNS_RCODE_NXDOMAIN);
  EXPECT_EQ(ldns_pkt_ancount(r.p), 4);
  EXPECT_EQ(ldns_pkt_nscount(r.p), 1);
  EXPECT_TRUE(ldns_pkt_edns(r.p));  // an OPT back for an OPT
  char* text = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(r.p), 1));
  EXPECT_NE(std::string(text).find("1 2 3 t."), std::string::npos) << text;
  std::free(text);
  text = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_authority(r.p), 0));
  EXPECT_NE(std::string(text).find("hostmaster.cluster.local. 7"), std::string::npos) << text;
  std::free(text);
}

TEST(DnsMessage, AnAnswerTooBigForUdpIsTruncatedAndTcpGetsItWhole) {
  auto p = parse_query(query("db.shop.svc.cluster.local.", LDNS_RR_TYPE_A));
  Answer a;
  a.status = Answer::Status::kOk;
  for (int i = 0; i < 100; ++i) {
    a.answers.push_back({.name = "db.shop.svc.cluster.local.",
                         .type = RrType::kA,
                         .ttl = 5,
                         .data = "198.18.1." + std::to_string(i)});
  }
  auto udp = build_answer(p.query, a, {.max_size = udp_limit(p.query)});
  ASSERT_LE(udp.size(), 512u);
  Read r(udp);
  EXPECT_TRUE(ldns_pkt_tc(r.p));
  EXPECT_EQ(ldns_pkt_ancount(r.p), 0);
  Read t(build_answer(p.query, a, {.max_size = kTcpMaxMessage}));
  EXPECT_FALSE(ldns_pkt_tc(t.p));
  EXPECT_EQ(ldns_pkt_ancount(t.p), 100);
}

TEST(DnsMessage, BadMessagesGetTheRightCodeAndNoCrash) {
  // Not even a header, or a response: dropped.
  EXPECT_EQ(parse_query(std::vector<std::uint8_t>{1, 2, 3}).kind, Parsed::Kind::kDrop);
  auto response = query("a.", LDNS_RR_TYPE_A);
  response[2] |= 0x80;
  EXPECT_EQ(parse_query(response).kind, Parsed::Kind::kDrop);

  auto expect_error = [](std::vector<std::uint8_t> wire, Rcode rcode, const char* reason) {
    auto p = parse_query(wire);
    ASSERT_EQ(p.kind, Parsed::Kind::kError) << reason;
    EXPECT_EQ(p.rcode, rcode) << reason;
    EXPECT_EQ(p.reason, reason);
    auto out = build_error(p, rcode);
    ASSERT_GE(out.size(), 12u);
    EXPECT_EQ(out[0], wire[0]);
    EXPECT_EQ(out[1], wire[1]);
    EXPECT_TRUE(out[2] & 0x80);
    EXPECT_EQ(out[3] & 0xf, static_cast<int>(rcode) & 0xf);
  };
  auto notify = query("a.", LDNS_RR_TYPE_SOA);
  notify[2] = static_cast<std::uint8_t>((notify[2] & 0x87) | (4 << 3));  // opcode NOTIFY
  expect_error(notify, Rcode::kNotImp, "opcode");
  // A name whose compression pointer points at itself.
  std::vector<std::uint8_t> loop = {0x12, 0x34, 0x01, 0,    0,  1, 0, 0, 0,
                                    0,    0,    0,    0xc0, 12, 0, 1, 0, 1};
  expect_error(loop, Rcode::kFormErr, "malformed");
  auto cut = query("web.shop.svc.cluster.local.", LDNS_RR_TYPE_A);
  cut.resize(cut.size() - 6);
  expect_error(cut, Rcode::kFormErr, "malformed");
  auto two = query("a.", LDNS_RR_TYPE_A);
  two[5] = 2;  // QDCOUNT 2, one present
  expect_error(two, Rcode::kFormErr, "malformed");
  expect_error(query("version.bind.", LDNS_RR_TYPE_TXT, false, LDNS_RR_CLASS_CH), Rcode::kRefused,
               "class");
  expect_error(query("cluster.local.", LDNS_RR_TYPE_AXFR), Rcode::kRefused, "zone_transfer");
  std::vector<std::uint8_t> big = query("a.", LDNS_RR_TYPE_A);
  big.resize(kMaxQuerySize + 1, 0);
  expect_error(big, Rcode::kFormErr, "oversized");
}

}  // namespace
}  // namespace strait::controlplane::dns
