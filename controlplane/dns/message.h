// DNS messages on the wire, through libldns: a query read strictly (what it asks, or why it is
// refused: FORMERR, NOTIMP, REFUSED, or dropped when it is no query at all), and responses built
// from a ZoneIndex answer or an error code, sized for the transport (512 bytes without EDNS,
// the client's EDNS size capped at 1232 on UDP, 65535 on TCP; truncated with TC set beyond).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "controlplane/dns/zone_index.h"

struct ldns_struct_pkt;

namespace strait::controlplane::dns {

enum class Rcode : std::uint8_t {
  kNoError = 0,
  kFormErr = 1,
  kServFail = 2,
  kNxDomain = 3,
  kNotImp = 4,
  kRefused = 5,
  kBadVers = 16,  // extended (EDNS)
};
std::string rcode_name(Rcode r);

inline constexpr std::size_t kMaxQuerySize = 4096;  // anything longer: FORMERR
inline constexpr std::size_t kMaxUdpResponse = 1232;
inline constexpr std::size_t kTcpMaxMessage = 65535;

struct Query {
  std::uint16_t id = 0;
  std::uint8_t opcode = 0;
  std::string name;  // lowercase, with the trailing dot
  std::uint16_t type = 0;
  std::uint16_t qclass = 0;
  bool recursion_desired = false;
  bool edns = false;
  std::uint16_t udp_size = 512;             // what the client accepts over UDP (512 without EDNS)
  std::shared_ptr<ldns_struct_pkt> packet;  // the parsed message (its question is echoed)
};

struct Parsed {
  enum class Kind {
    kQuery,  // answer it
    kError,  // answer with rcode (query.packet set when the question was readable)
    kDrop,   // not a query (a response, or shorter than a header): say nothing
  };
  Kind kind = Kind::kDrop;
  Query query;
  Rcode rcode = Rcode::kNoError;
  std::string reason;  // for the log and the refusal metric: "malformed", "opcode", ...
};

Parsed parse_query(std::span<const std::uint8_t> wire);

struct ResponseOptions {
  std::size_t max_size = 512;
  bool recursion_available = false;
};

// The answer from the zones (authoritative).
std::vector<std::uint8_t> build_answer(const Query& q, const Answer& a, ResponseOptions o);
// An error (with the question when it was readable, and an OPT record when the query had one).
std::vector<std::uint8_t> build_error(const Parsed& p, Rcode rcode);
// An empty response with TC set: "ask again over TCP" (rate limiting's slip).
std::vector<std::uint8_t> build_truncated(const Query& q);
// The UDP size limit for a query's response.
std::size_t udp_limit(const Query& q);

}  // namespace strait::controlplane::dns
