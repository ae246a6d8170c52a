// Flag parsing and validation for strait-init.
#include "sidecar/init/options.h"

#include <charconv>

namespace strait::init {
namespace {

Result<std::uint64_t> parse_uint(std::string_view text, std::uint64_t max) {
  std::uint64_t v = 0;
  if (text.empty()) return make_error("bad_number", "empty number");
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec == std::errc::result_out_of_range) {
    return make_error("bad_number", "\"" + std::string(text) + "\" is out of range (max " +
                                        std::to_string(max) + ")");
  }
  if (ec != std::errc() || p != text.data() + text.size()) {
    return make_error("bad_number", "\"" + std::string(text) + "\" is not a number");
  }
  if (v > max) {
    return make_error("bad_number", "\"" + std::string(text) + "\" is out of range (max " +
                                        std::to_string(max) + ")");
  }
  return v;
}

std::vector<std::string_view> split_commas(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.push_back(item);
    start = comma + 1;
  }
  return out;
}

Error flag_error(std::string_view flag, const Error& e) {
  return make_error("bad_argument", "--" + std::string(flag) + ": " + e.message);
}

}  // namespace

std::string Cidr::to_string() const {
  return std::to_string(addr >> 24) + "." + std::to_string((addr >> 16) & 0xff) + "." +
         std::to_string((addr >> 8) & 0xff) + "." + std::to_string(addr & 0xff) + "/" +
         std::to_string(prefix);
}

std::string PortRange::to_iptables() const {
  if (first == last) return std::to_string(first);
  return std::to_string(first) + ":" + std::to_string(last);
}

Result<Cidr> parse_cidr(std::string_view text) {
  auto bad = [&](const std::string& why) {
    return make_error("bad_cidr", "\"" + std::string(text) +
                                      "\" is not an IPv4 CIDR like 10.0.0.0/8 (" + why + ")");
  };
  std::string_view ip = text;
  int prefix = 32;
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    ip = text.substr(0, slash);
    auto p = parse_uint(text.substr(slash + 1), 32);
    if (!p) return bad("prefix length must be 0..32");
    prefix = static_cast<int>(*p);
  }
  std::uint32_t addr = 0;
  int parts = 0;
  size_t start = 0;
  while (true) {
    size_t dot = ip.find('.', start);
    std::string_view part =
        ip.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (part.empty() || part.size() > 3)
      return bad("expected four numbers 0..255 separated by dots");
    auto v = parse_uint(part, 255);
    if (!v) return bad("expected four numbers 0..255 separated by dots");
    addr = (addr << 8) | static_cast<std::uint32_t>(*v);
    ++parts;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts != 4) return bad("expected four numbers 0..255 separated by dots");
  std::uint32_t mask = prefix == 0 ? 0 : ~std::uint32_t{0} << (32 - prefix);
  return Cidr{addr & mask, prefix};
}

Result<std::uint16_t> parse_port(std::string_view text) {
  auto v = parse_uint(text, 65535);
  if (!v || *v == 0) {
    return make_error("bad_port", "\"" + std::string(text) + "\" is not a port (1..65535)");
  }
  return static_cast<std::uint16_t>(*v);
}

Result<PortRange> parse_port_range(std::string_view text) {
  size_t sep = text.find_first_of("-:");
  if (sep == std::string_view::npos) {
    auto p = parse_port(text);
    if (!p) return p.error();
    return PortRange{*p, *p};
  }
  auto a = parse_port(text.substr(0, sep));
  if (!a) return a.error();
  auto b = parse_port(text.substr(sep + 1));
  if (!b) return b.error();
  if (*a > *b) {
    return make_error("bad_port", "\"" + std::string(text) + "\" is an empty range (first > last)");
  }
  return PortRange{*a, *b};
}

Result<Options> parse_args(std::span<const std::string> args) {
  Options o;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      return make_error("bad_argument",
                        "unexpected argument \"" + std::string(arg) + "\" (see --help)");
    }
    std::string_view flag = arg.substr(2);
    std::optional<std::string_view> inline_value;
    if (auto eq = flag.find('='); eq != std::string_view::npos) {
      inline_value = flag.substr(eq + 1);
      flag = flag.substr(0, eq);
    }
    auto boolean = [&](bool& target) -> Result<void> {
      if (!inline_value || *inline_value == "true") {
        target = true;
        return {};
      }
      if (*inline_value == "false") {
        target = false;
        return {};
      }
      return make_error("bad_argument", "--" + std::string(flag) +
                                            ": expected true or false, got \"" +
                                            std::string(*inline_value) + "\"");
    };
    auto value = [&]() -> Result<std::string_view> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size())
        return make_error("bad_argument", "--" + std::string(flag) + ": missing value");
      return std::string_view(args[++i]);
    };
    auto port_flag = [&](std::uint16_t& target) -> Result<void> {
      auto v = value();
      if (!v) return v.error();
      auto p = parse_port(*v);
      if (!p) return flag_error(flag, p.error());
      target = *p;
      return {};
    };
    auto ports_flag = [&](std::vector<PortRange>& target) -> Result<void> {
      auto v = value();
      if (!v) return v.error();
      for (auto item : split_commas(*v)) {
        auto p = parse_port_range(item);
        if (!p) return flag_error(flag, p.error());
        target.push_back(*p);
      }
      return {};
    };

    Result<void> r;
    if (flag == "help") {
      r = boolean(o.help);
    } else if (flag == "uninstall") {
      r = boolean(o.uninstall);
    } else if (flag == "dry-run") {
      r = boolean(o.dry_run);
    } else if (flag == "outbound-port") {
      r = port_flag(o.outbound_port);
    } else if (flag == "inbound-port") {
      r = port_flag(o.inbound_port);
    } else if (flag == "admin-port") {
      r = port_flag(o.admin_port);
    } else if (flag == "proxy-uid") {
      auto v = value();
      if (!v) return v.error();
      auto uid = parse_uint(*v, 0xfffffffeu);
      if (!uid) return flag_error(flag, uid.error());
      o.proxy_uid = static_cast<std::uint32_t>(*uid);
    } else if (flag == "skip-outbound-cidrs") {
      auto v = value();
      if (!v) return v.error();
      for (auto item : split_commas(*v)) {
        auto c = parse_cidr(item);
        if (!c) return flag_error(flag, c.error());
        o.skip_outbound_cidrs.push_back(*c);
      }
    } else if (flag == "skip-outbound-ports") {
      r = ports_flag(o.skip_outbound_ports);
    } else if (flag == "skip-inbound-ports") {
      r = ports_flag(o.skip_inbound_ports);
    } else if (flag == "netns") {
      auto v = value();
      if (!v) return v.error();
      if (v->empty() || v->find('/') != std::string_view::npos || *v == "." || *v == "..") {
        return make_error("bad_argument",
                          "--netns: \"" + std::string(*v) +
                              "\" is not a namespace name (a file name in /var/run/netns)");
      }
      o.netns = std::string(*v);
    } else if (flag == "log-level") {
      auto v = value();
      if (!v) return v.error();
      o.log_level = std::string(*v);
    } else {
      return make_error("bad_argument", "unknown flag --" + std::string(flag) + " (see --help)");
    }
    if (!r) return r.error();
  }
  if (o.inbound_port == o.admin_port) {
    return make_error("bad_argument", "--admin-port: must differ from --inbound-port (" +
                                          std::to_string(o.inbound_port) + ")");
  }
  return o;
}

std::string usage() {
  return R"(usage: strait-init [flags]

Installs (or with --uninstall removes) the iptables nat rules that send a workload's TCP through
the strait proxy. IPv4 only. Needs CAP_NET_ADMIN (and CAP_SYS_ADMIN for --netns).

  --outbound-port PORT         proxy outbound listener (default 4140)
  --inbound-port PORT          proxy inbound listener (default 4143)
  --admin-port PORT            proxy admin port, never redirected inbound (default 4191)
  --proxy-uid UID              the proxy's user; its own traffic is not redirected (default 2102)
  --skip-outbound-cidrs LIST   comma-separated IPv4 CIDRs reached directly, e.g. 10.0.0.0/8,198.19.0.1
  --skip-outbound-ports LIST   comma-separated destination ports (or ranges a-b) reached directly
  --skip-inbound-ports LIST    comma-separated local ports (or ranges a-b) not redirected inbound
  --netns NAME                 act in /var/run/netns/NAME instead of the current namespace
  --uninstall                  remove strait's chains and jumps (a no-op when absent)
  --dry-run                    print what would run, change nothing
  --log-level LEVEL            debug|info|warn|error (default info)
  --help                       this text
)";
}

}  // namespace strait::init
