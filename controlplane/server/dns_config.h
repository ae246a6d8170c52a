// The dns.* and listen.dns parts of controller.yaml, read and validated into DnsSettings.
#pragma once

#include "controlplane/dns/dns_settings.h"
#include "core/base/result.h"
#include "core/config/config.h"

namespace strait::controlplane {

// listen.dns: a list (or "a:p,b:p"); "" or [] turns the DNS server off. dns.upstreams: "ip",
// "ip:port" or "[v6]:port" (checked when the forwarder starts). dns.recursionNetworks: CIDRs.
Result<dns::DnsSettings> read_dns_settings(const config::Config& c);

}  // namespace strait::controlplane
