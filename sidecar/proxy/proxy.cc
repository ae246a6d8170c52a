// Proxy: the sidecar — the Runtime plus the outbound, inbound and (optional) explicit
// listeners and the workload's registration.
#include "sidecar/proxy/proxy.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "controlplane/client/registration_lease.h"
#include "sidecar/proxy/explicit.h"
#include "sidecar/proxy/inbound.h"
#include "sidecar/proxy/outbound.h"
#include "sidecar/proxy/runtime.h"

namespace strait::proxy {
namespace asio = boost::asio;
using asio::ip::tcp;

namespace {

class ProxyImpl final : public Proxy {
 public:
  explicit ProxyImpl(std::unique_ptr<Runtime> rt) : rt_(std::move(rt)) {}
  ~ProxyImpl() override {
    if (lease_) lease_->stop();
  }

  Result<void> init() {
    auto& ctx = rt_->context();
    auto out = rt_->listen(rt_->config().outbound_listen, "outbound", [this, &ctx](tcp::socket s) {
      auto orig = original_dst(s);
      if (!orig) {
        ctx.refuse("outbound", "no_original_dst", "connection was not redirected to the proxy");
        return;
      }
      // Owned by the ConnectionSet, which drains and cuts it.
      asio::co_spawn(rt_->io(), serve_outbound(ctx, std::move(s), *orig), asio::detached);
    });
    if (!out) return out.error();
    auto in = rt_->listen(rt_->config().inbound_listen, "inbound", [this, &ctx](tcp::socket s) {
      asio::co_spawn(rt_->io(), serve_inbound(ctx, std::move(s)), asio::detached);
    });
    if (!in) return in.error();
    ports_ = {*out, *in, rt_->admin_port()};
    if (!rt_->config().explicit_listen.empty()) {
      auto ex = rt_->listen(rt_->config().explicit_listen, "outbound", [this, &ctx](tcp::socket s) {
        asio::co_spawn(rt_->io(), serve_explicit(ctx, std::move(s)), asio::detached);
      });
      if (!ex) return ex.error();
      ports_.explicit_port = *ex;
    }
    rt_->on_first_identity([this] { start_registration(); });
    rt_->on_stop([this] {
      if (lease_) lease_->stop();
    });
    return {};
  }

  ProxyPorts ports() const override { return ports_; }

  void run() override {
    log::info("proxy serving",
              {{"outbound_port", static_cast<std::int64_t>(ports_.outbound)},
               {"inbound_port", static_cast<std::int64_t>(ports_.inbound)},
               {"admin_port", static_cast<std::int64_t>(ports_.admin)},
               {"explicit_port", static_cast<std::int64_t>(ports_.explicit_port)}});
    rt_->run();
  }

  void drain() override { rt_->drain(); }

 private:
  void start_registration() {
    const auto& c = rt_->config();
    if (!c.register_service) return;
    registration::v1::Workload w;
    w.set_service(*c.register_service);
    w.set_port(c.register_port);
    for (auto port : c.register_ports) w.add_ports(port);
    w.set_name(c.register_name);
    w.set_address(c.register_address);
    w.set_zone(c.zone);
    w.mutable_labels()->insert(c.labels.begin(), c.labels.end());
    auto g = rt_->metrics().control_streams.with({"registration"});
    lease_ = std::make_unique<controlplane::RegistrationLease>(
        [this](bool fresh) { return rt_->channel(fresh); }, w,
        [g](controlplane::RegistrationLease::State s, const std::string& detail) {
          if (s == controlplane::RegistrationLease::State::kRegistered) {
            g.set(1);
            log::info("workload registered", {{"endpoint", detail}});
          } else if (s == controlplane::RegistrationLease::State::kBroken) {
            g.set(0);
          }
        });
  }

  std::unique_ptr<Runtime> rt_;
  std::unique_ptr<controlplane::RegistrationLease> lease_;
  ProxyPorts ports_;
};

}  // namespace

Result<std::unique_ptr<Proxy>> Proxy::create(ProxyConfig config) {
  auto rt = Runtime::create(std::move(config));
  if (!rt) return rt.error();
  auto p = std::make_unique<ProxyImpl>(std::move(*rt));
  if (auto r = p->init(); !r) return r.error();
  return std::unique_ptr<Proxy>(std::move(p));
}

}  // namespace strait::proxy
