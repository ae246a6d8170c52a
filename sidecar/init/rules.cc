// Rule generation and iptables-save parsing for strait-init.
#include "sidecar/init/rules.h"

#include <algorithm>

namespace strait::init {
namespace {

std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    std::string_view line = text.substr(start, nl - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    out.push_back(line);
    start = nl + 1;
  }
  return out;
}

bool is_our_chain(std::string_view name) { return name == kInboundChain || name == kOutboundChain; }

std::string jump(std::string_view from, std::string_view to) {
  return "-A " + std::string(from) + " -p tcp -m comment --comment " + std::string(kComment) +
         " -j " + std::string(to);
}

std::string deletion_of(const std::string& append_line) {
  // "-A CHAIN rest" -> "-D CHAIN rest": delete by rule specification, as iptables-save printed it.
  return "-D" + append_line.substr(2);
}

}  // namespace

bool NatState::has_chain(std::string_view name) const {
  return std::find(chains.begin(), chains.end(), name) != chains.end();
}

std::vector<std::string> split_rule(std::string_view line) {
  std::vector<std::string> words;
  std::string cur;
  bool in_word = false, quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted) {
      if (c == '\\' && i + 1 < line.size() && (line[i + 1] == '"' || line[i + 1] == '\\')) {
        cur += line[++i];
      } else if (c == '"') {
        quoted = false;
      } else {
        cur += c;
      }
    } else if (c == '"') {
      quoted = true;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(cur));
      cur.clear();
      in_word = false;
    } else {
      cur += c;
      in_word = true;
    }
  }
  if (in_word) words.push_back(std::move(cur));
  return words;
}

NatState parse_nat_state(std::string_view save_output) {
  NatState st;
  bool in_nat = false;
  for (auto line : lines_of(save_output)) {
    if (line.empty() || line.front() == '#') continue;
    if (line.front() == '*') {
      in_nat = line == "*nat";
      continue;
    }
    if (!in_nat) continue;
    if (line == "COMMIT") {
      in_nat = false;
      continue;
    }
    if (line.front() == ':') {
      auto name = line.substr(1, line.find(' ') == std::string_view::npos ? std::string_view::npos
                                                                          : line.find(' ') - 1);
      st.chains.emplace_back(name);
      continue;
    }
    if (line.substr(0, 3) != "-A ") continue;
    auto words = split_rule(line);
    for (size_t i = 0; i + 1 < words.size(); ++i) {
      if ((words[i] == "-j" || words[i] == "--jump" || words[i] == "-g" || words[i] == "--goto") &&
          is_our_chain(words[i + 1])) {
        st.jump_rules.emplace_back(line);
        break;
      }
    }
  }
  return st;
}

std::string inbound_jump() { return jump("PREROUTING", kInboundChain); }
std::string outbound_jump() { return jump("OUTPUT", kOutboundChain); }

std::vector<std::string> outbound_rules(const Options& o) {
  const std::string c = "-A " + std::string(kOutboundChain);
  std::vector<std::string> r;
  // The proxy's own connections (to peers, to the control plane) must leave as they are, or they
  // would loop back into the proxy.
  r.push_back(c + " -m owner --uid-owner " + std::to_string(o.proxy_uid) + " -j RETURN");
  // Loopback traffic (the proxy forwarding inbound to the app, the app talking to itself) stays
  // local.
  r.push_back(c + " -o lo -j RETURN");
  for (const auto& cidr : o.skip_outbound_cidrs)
    r.push_back(c + " -d " + cidr.to_string() + " -j RETURN");
  for (const auto& p : o.skip_outbound_ports)
    r.push_back(c + " -p tcp -m tcp --dport " + p.to_iptables() + " -j RETURN");
  r.push_back(c + " -p tcp -j REDIRECT --to-ports " + std::to_string(o.outbound_port));
  return r;
}

std::vector<std::string> inbound_rules(const Options& o) {
  const std::string c = "-A " + std::string(kInboundChain);
  std::vector<std::string> r;
  // Probes and scrapes reach the proxy's admin server directly.
  r.push_back(c + " -p tcp -m tcp --dport " + std::to_string(o.admin_port) + " -j RETURN");
  for (const auto& p : o.skip_inbound_ports)
    r.push_back(c + " -p tcp -m tcp --dport " + p.to_iptables() + " -j RETURN");
  // Connections already aimed at the inbound port are redirected to themselves: harmless.
  r.push_back(c + " -p tcp -j REDIRECT --to-ports " + std::to_string(o.inbound_port));
  return r;
}

std::string install_script(const Options& o, const NatState& current) {
  std::string s = "*nat\n";
  s += ":" + std::string(kInboundChain) + " - [0:0]\n";
  s += ":" + std::string(kOutboundChain) + " - [0:0]\n";
  // Keep one canonical jump per chain; drop stale or duplicate ones (say, from an older version).
  const std::string want_in = inbound_jump(), want_out = outbound_jump();
  bool have_in = false, have_out = false;
  for (const auto& j : current.jump_rules) {
    if (j == want_in && !have_in) {
      have_in = true;
    } else if (j == want_out && !have_out) {
      have_out = true;
    } else {
      s += deletion_of(j) + "\n";
    }
  }
  for (const auto& r : inbound_rules(o)) s += r + "\n";
  for (const auto& r : outbound_rules(o)) s += r + "\n";
  if (!have_in) s += want_in + "\n";
  if (!have_out) s += want_out + "\n";
  s += "COMMIT\n";
  return s;
}

std::string uninstall_script(const NatState& current) {
  std::string body;
  for (const auto& j : current.jump_rules) body += deletion_of(j) + "\n";
  for (auto chain : {kInboundChain, kOutboundChain}) {
    if (!current.has_chain(chain)) continue;
    // A chain must be empty and unreferenced before -X; the jumps went first.
    body += "-F " + std::string(chain) + "\n";
    body += "-X " + std::string(chain) + "\n";
  }
  if (body.empty()) return "";
  return "*nat\n" + body + "COMMIT\n";
}

std::string normalize_save(std::string_view save_output) {
  std::string out;
  for (auto line : lines_of(save_output)) {
    if (!line.empty() && line.front() == '#') continue;
    std::string l(line);
    if (!l.empty() && (l.front() == ':' || l.front() == '[')) {
      // ":CHAIN POLICY [p:b]" and "[p:b] -A ..." (iptables-save -c): zero the counters.
      size_t open = l.find('[');
      size_t close = open == std::string::npos ? std::string::npos : l.find(']', open);
      if (close != std::string::npos) l.replace(open, close - open + 1, "[0:0]");
    }
    out += l;
    out += '\n';
  }
  return out;
}

}  // namespace strait::init
