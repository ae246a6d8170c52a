// DNS messages: strict query parsing and response building over libldns.
#include "controlplane/dns/message.h"

#include <ldns/ldns.h>

#include <cstdlib>

namespace strait::controlplane::dns {
namespace {

constexpr std::size_t kHeader = 12;

struct RrFree {
  void operator()(ldns_rr* rr) const { ldns_rr_free(rr); }
};
struct PktFree {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using PktPtr = std::unique_ptr<ldns_pkt, PktFree>;

// An owned rdf; null when the text does not parse (a record we cannot build is left out).
ldns_rr* to_rr(const Record& r) {
  std::unique_ptr<ldns_rr, RrFree> rr(ldns_rr_new());
  ldns_rdf* owner = ldns_dname_new_frm_str(r.name.c_str());
  if (!owner) return nullptr;
  ldns_rr_set_owner(rr.get(), owner);
  ldns_rr_set_type(rr.get(), static_cast<ldns_rr_type>(r.type));
  ldns_rr_set_class(rr.get(), LDNS_RR_CLASS_IN);
  ldns_rr_set_ttl(rr.get(), r.ttl);
  std::vector<ldns_rdf*> rdfs;
  switch (r.type) {
    case RrType::kA:
      rdfs.push_back(ldns_rdf_new_frm_str(LDNS_RDF_TYPE_A, r.data.c_str()));
      break;
    case RrType::kAaaa:
      rdfs.push_back(ldns_rdf_new_frm_str(LDNS_RDF_TYPE_AAAA, r.data.c_str()));
      break;
    case RrType::kPtr:
    case RrType::kNs:
      rdfs.push_back(ldns_dname_new_frm_str(r.data.c_str()));
      break;
    case RrType::kTxt:
      rdfs.push_back(ldns_rdf_new_frm_str(LDNS_RDF_TYPE_STR, r.data.c_str()));
      break;
    case RrType::kSrv:
      rdfs.push_back(ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, r.srv_priority));
      rdfs.push_back(ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, r.srv_weight));
      rdfs.push_back(ldns_native2rdf_int16(LDNS_RDF_TYPE_INT16, r.srv_port));
      rdfs.push_back(ldns_dname_new_frm_str(r.data.c_str()));
      break;
    case RrType::kSoa: {
      auto space = r.data.find(' ');
      rdfs.push_back(ldns_dname_new_frm_str(r.data.substr(0, space).c_str()));
      rdfs.push_back(ldns_dname_new_frm_str(
          space == std::string::npos ? "." : r.data.substr(space + 1).c_str()));
      rdfs.push_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_INT32, r.soa_serial));
      rdfs.push_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 60));    // refresh
      rdfs.push_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 10));    // retry
      rdfs.push_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, 3600));  // expire
      rdfs.push_back(ldns_native2rdf_int32(LDNS_RDF_TYPE_PERIOD, r.soa_minimum));
      break;
    }
    case RrType::kAny:
      return nullptr;
  }
  bool ok = true;
  for (auto* rdf : rdfs) {
    if (!rdf) {
      ok = false;
      continue;
    }
    ldns_rr_push_rdf(rr.get(), rdf);
  }
  return ok ? rr.release() : nullptr;
}

PktPtr response_header(const Query& q, Rcode rcode, bool authoritative, bool ra) {
  PktPtr p(ldns_pkt_new());
  ldns_pkt_set_id(p.get(), q.id);
  ldns_pkt_set_qr(p.get(), true);
  ldns_pkt_set_opcode(p.get(), static_cast<ldns_pkt_opcode>(q.opcode));
  ldns_pkt_set_aa(p.get(), authoritative);
  ldns_pkt_set_rd(p.get(), q.recursion_desired);
  ldns_pkt_set_ra(p.get(), ra);
  const auto code = static_cast<unsigned>(rcode);
  ldns_pkt_set_rcode(p.get(), static_cast<std::uint8_t>(code & 0xf));
  if (q.packet) {
    const ldns_rr_list* question = ldns_pkt_question(q.packet.get());
    if (question && ldns_rr_list_rr_count(question) == 1) {
      ldns_pkt_push_rr(p.get(), LDNS_SECTION_QUESTION, ldns_rr_clone(ldns_rr_list_rr(question, 0)));
    }
  }
  if (q.edns) {
    ldns_pkt_set_edns_udp_size(p.get(), static_cast<std::uint16_t>(kMaxUdpResponse));
    if (code > 0xf) ldns_pkt_set_edns_extended_rcode(p.get(), static_cast<std::uint8_t>(code >> 4));
  }
  return p;
}

std::vector<std::uint8_t> to_wire(const ldns_pkt* p) {
  std::uint8_t* buf = nullptr;
  std::size_t size = 0;
  if (ldns_pkt2wire(&buf, p, &size) != LDNS_STATUS_OK || !buf) {
    std::free(buf);
    return {};
  }
  std::vector<std::uint8_t> out(buf, buf + size);
  std::free(buf);
  return out;
}

// A header alone: for messages whose question we could not read.
std::vector<std::uint8_t> bare_header(std::span<const std::uint8_t> wire, Rcode rcode) {
  std::vector<std::uint8_t> out(kHeader, 0);
  out[0] = wire[0];
  out[1] = wire[1];
  out[2] = static_cast<std::uint8_t>(0x80 | (wire[2] & 0x78) | (wire[2] & 0x01));  // QR, opcode, RD
  out[3] = static_cast<std::uint8_t>(static_cast<unsigned>(rcode) & 0xf);
  return out;
}

}  // namespace

std::string rcode_name(Rcode r) {
  switch (r) {
    case Rcode::kNoError:
      return "NOERROR";
    case Rcode::kFormErr:
      return "FORMERR";
    case Rcode::kServFail:
      return "SERVFAIL";
    case Rcode::kNxDomain:
      return "NXDOMAIN";
    case Rcode::kNotImp:
      return "NOTIMP";
    case Rcode::kRefused:
      return "REFUSED";
    case Rcode::kBadVers:
      return "BADVERS";
  }
  return "OTHER";
}

Parsed parse_query(std::span<const std::uint8_t> wire) {
  Parsed p;
  if (wire.size() < kHeader) {
    p.reason = "short";
    return p;  // not even a header: nothing to answer to
  }
  if (wire[2] & 0x80) {
    p.reason = "not_a_query";  // a response: answering would let two servers ping-pong
    return p;
  }
  p.query.id = static_cast<std::uint16_t>(wire[0] << 8 | wire[1]);
  p.query.opcode = static_cast<std::uint8_t>((wire[2] >> 3) & 0xf);
  p.query.recursion_desired = wire[2] & 0x01;
  p.kind = Parsed::Kind::kError;
  if (p.query.opcode != 0) {
    p.rcode = Rcode::kNotImp;
    p.reason = "opcode";
    return p;
  }
  if (wire.size() > kMaxQuerySize) {
    p.rcode = Rcode::kFormErr;
    p.reason = "oversized";
    return p;
  }
  ldns_pkt* raw = nullptr;
  if (ldns_wire2pkt(&raw, wire.data(), wire.size()) != LDNS_STATUS_OK || !raw) {
    p.rcode = Rcode::kFormErr;
    p.reason = "malformed";
    return p;
  }
  std::shared_ptr<ldns_pkt> pkt(raw, PktFree{});
  if (ldns_pkt_qdcount(raw) != 1 || ldns_pkt_ancount(raw) != 0 || ldns_pkt_nscount(raw) != 0) {
    p.rcode = Rcode::kFormErr;
    p.reason = "sections";
    return p;
  }
  p.query.packet = pkt;
  const ldns_rr* q = ldns_rr_list_rr(ldns_pkt_question(raw), 0);
  p.query.type = static_cast<std::uint16_t>(ldns_rr_get_type(q));
  p.query.qclass = static_cast<std::uint16_t>(ldns_rr_get_class(q));
  p.query.edns = ldns_pkt_edns(raw);
  if (p.query.edns) p.query.udp_size = std::max<std::uint16_t>(512, ldns_pkt_edns_udp_size(raw));
  if (char* text = ldns_rdf2str(ldns_rr_owner(q))) {
    p.query.name = lowercase(text);
    std::free(text);
  }
  if (p.query.edns && ldns_pkt_edns_version(raw) != 0) {
    p.rcode = Rcode::kBadVers;
    p.reason = "edns_version";
    return p;
  }
  if (p.query.qclass != LDNS_RR_CLASS_IN) {
    p.rcode = Rcode::kRefused;
    p.reason = "class";
    return p;
  }
  switch (p.query.type) {
    case LDNS_RR_TYPE_AXFR:
    case LDNS_RR_TYPE_IXFR:
      p.rcode = Rcode::kRefused;
      p.reason = "zone_transfer";
      return p;
    case LDNS_RR_TYPE_OPT:
    case 0:
      p.rcode = Rcode::kFormErr;
      p.reason = "qtype";
      return p;
    default:
      break;
  }
  p.kind = Parsed::Kind::kQuery;
  p.reason.clear();
  return p;
}

std::size_t udp_limit(const Query& q) {
  return q.edns ? std::min<std::size_t>(q.udp_size, kMaxUdpResponse) : 512;
}

std::vector<std::uint8_t> build_answer(const Query& q, const Answer& a, ResponseOptions o) {
  const Rcode rcode = a.status == Answer::Status::kNxDomain ? Rcode::kNxDomain : Rcode::kNoError;
  auto fill = [&](bool with_additional) {
    PktPtr p = response_header(q, rcode, true, o.recursion_available);
    auto push = [&](ldns_pkt_section section, const std::vector<Record>& records) {
      for (const auto& r : records) {
        if (ldns_rr* rr = to_rr(r)) ldns_pkt_push_rr(p.get(), section, rr);
      }
    };
    push(LDNS_SECTION_ANSWER, a.answers);
    push(LDNS_SECTION_AUTHORITY, a.authority);
    if (with_additional) push(LDNS_SECTION_ADDITIONAL, a.additional);
    return to_wire(p.get());
  };
  auto wire = fill(true);
  if (wire.size() <= o.max_size) return wire;
  // The additional section may go without telling (RFC 2181 9); the rest needs TC.
  if (!a.additional.empty()) {
    wire = fill(false);
    if (wire.size() <= o.max_size) return wire;
  }
  return build_truncated(q);
}

std::vector<std::uint8_t> build_truncated(const Query& q) {
  PktPtr p = response_header(q, Rcode::kNoError, true, false);
  ldns_pkt_set_tc(p.get(), true);
  return to_wire(p.get());
}

std::vector<std::uint8_t> build_error(const Parsed& p, Rcode rcode) {
  if (!p.query.packet) {
    // Rebuild the header from what parse_query read of it.
    std::uint8_t head[kHeader] = {
        static_cast<std::uint8_t>(p.query.id >> 8), static_cast<std::uint8_t>(p.query.id & 0xff),
        static_cast<std::uint8_t>((p.query.opcode << 3) | (p.query.recursion_desired ? 1 : 0))};
    return bare_header(head, rcode);
  }
  return to_wire(response_header(p.query, rcode, false, false).get());
}

}  // namespace strait::controlplane::dns
