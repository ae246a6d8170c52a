// RegistrationService: leases as streams, plus a reaper for leases whose heartbeats stop.
#include "controlplane/registration/registration_service.h"

#include <algorithm>
#include <atomic>
#include <cctype>

#include <boost/asio/ip/address.hpp>

#include "controlplane/server/peer.h"
#include "core/log/log.h"

namespace strait::controlplane {
namespace rv = registration::v1;
using Clock = std::chrono::steady_clock;

namespace {

// The stored name of a registered endpoint, derived from what the cluster checked: the service
// and the address:port, DNS-label-safe ("<service>-<address>-<port>"). The caller never names
// the object it writes.
std::string endpoint_name(const std::string& service, const std::string& address,
                          std::uint32_t port) {
  std::string raw = service + "-" + address + "-" + std::to_string(port);
  std::string out;
  for (char c : raw) {
    out += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::tolower(c)) : '-';
  }
  if (out.size() > 63) out.resize(63);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

// The address as the store keeps it: a normalized IP literal, or "" when it is not one.
std::string normalized_ip(const std::string& text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(text, ec);
  if (ec) return {};
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()).to_string();
  }
  return a.to_string();
}

std::atomic<std::uint64_t> next_lease{1};

}  // namespace

class RegistrationService::Lease final
    : public grpc::ServerBidiReactor<rv::RegisterRequest, rv::RegisterResponse> {
 public:
  Lease(RegistrationService& owner, grpc::CallbackServerContext* context)
      : owner_(owner), owner_tag_("lease:" + std::to_string(next_lease.fetch_add(1))) {
    identity_ = peer_identity(*context);
    peer_ip_ = peer_ip(*context);
    if (!identity_ || !identity_->ns()) {
      refuse("no_identity", grpc::StatusCode::UNAUTHENTICATED,
             "registration requires a workload certificate");
      return;
    }
    owner_.track(this);
    StartRead(&request_);
  }

  // Called by the reaper with the service's lock held.
  void expire() {
    log::warn("registration lease expired: no heartbeat", {{"endpoint", key_.name}});
    end(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "lease expired: no heartbeat"));
  }

  void end(grpc::Status status) {
    std::lock_guard lock(mu_);
    if (finished_) return;
    finished_ = true;
    Finish(std::move(status));
  }

 private:
  void OnReadDone(bool ok) override {
    if (!ok) {  // the client closed its side or went away
      end(grpc::Status::OK);
      return;
    }
    if (request_.has_workload()) {
      if (registered_) {
        refuse("already_registered", grpc::StatusCode::FAILED_PRECONDITION,
               "a stream registers one workload");
        return;
      }
      if (!register_workload(request_.workload())) return;
    } else if (!registered_) {
      refuse("heartbeat_first", grpc::StatusCode::FAILED_PRECONDITION,
             "the first message must be a Workload");
      return;
    }
    owner_.track(this);  // renews the deadline
    StartRead(&request_);
  }

  bool register_workload(const rv::Workload& w) {
    auto valid = [](std::uint32_t p) { return p != 0 && p <= 65535; };
    const bool one = w.ports().empty() && valid(w.port());
    const bool several = w.port() == 0 && !w.ports().empty() && w.ports().size() <= 64 &&
                         std::all_of(w.ports().begin(), w.ports().end(), valid);
    if (w.service().empty() || (!one && !several)) {
      refuse("invalid_workload", grpc::StatusCode::INVALID_ARGUMENT,
             "workload needs a service and a port 1..65535 (or up to 64 ports)");
      return false;
    }
    discovery::Endpoint e;
    e.meta.cluster = owner_.settings_.cluster;
    e.meta.ns = std::string(*identity_->ns());
    e.service = w.service();
    e.port = static_cast<std::uint16_t>(w.port());
    for (auto p : w.ports()) {
      if (std::none_of(e.ports.begin(), e.ports.end(),
                       [&](const discovery::EndpointPort& x) { return x.port == p; })) {
        e.ports.push_back({"", static_cast<std::uint16_t>(p)});
      }
    }
    if (!admitted_by_service(e.meta.ns, e.service)) return false;
    if (!address_allowed(w.address(), e.address)) return false;
    e.meta.name = endpoint_name(e.service, e.address, one ? e.port : e.ports.front().port);
    e.meta.labels.insert(w.labels().begin(), w.labels().end());
    e.meta.owner = owner_tag_;
    e.identity = identity_->to_string();
    e.zone = w.zone();
    e.protocol = static_cast<discovery::ProtocolHint>(w.protocol());

    // Create, or replace only this identity's own earlier lease (a re-registration after a
    // broken stream); the version check makes the decision and the write one step.
    discovery::ObjectKey key{discovery::Kind::kEndpoint, e.meta.ns, e.meta.name};
    std::uint64_t expected = 0;
    if (auto cur = owner_.store_.get(key)) {
      const auto& existing = std::get<discovery::Endpoint>(*cur);
      if (!existing.meta.ephemeral() || existing.identity != e.identity) {
        refuse("name_taken", grpc::StatusCode::ALREADY_EXISTS,
               "endpoint " + e.meta.ns + "/" + e.meta.name + " exists and is not " + e.identity +
                   "'s registration");
        return false;
      }
      expected = existing.meta.version;
    }
    auto stored = owner_.store_.put(discovery::Object(e), expected);
    if (!stored) {
      refuse(stored.error().code == "conflict" ? "name_taken" : "store_error",
             grpc::StatusCode::UNAVAILABLE, stored.error().message);
      return false;
    }
    key_ = discovery::key_of(*stored);
    registered_ = true;
    if (owner_.hooks_.leases_delta) owner_.hooks_.leases_delta(+1);
    log::info("workload registered",
              {{"endpoint", e.meta.name}, {"identity", e.identity}, {"address", e.address}});
    response_.set_endpoint_name(e.meta.name);
    response_.set_lease_seconds(static_cast<std::uint32_t>(owner_.settings_.lease.count()));
    StartWrite(&response_);
    return true;
  }

  // The Service must exist, be this cluster's own (not a mirror), and admit the caller's
  // service account.
  bool admitted_by_service(const std::string& ns, const std::string& name) {
    auto svc = owner_.store_.get({discovery::Kind::kService, ns, name});
    if (!svc) {
      refuse("unknown_service", grpc::StatusCode::FAILED_PRECONDITION,
             "no Service " + ns + "/" + name + " to register into");
      return false;
    }
    const auto& s = std::get<discovery::Service>(*svc);
    if (!s.meta.owner.empty()) {
      refuse(
          "not_registrable", grpc::StatusCode::PERMISSION_DENIED,
          "Service " + ns + "/" + name + " is written by " + s.meta.owner + ", not by workloads");
      return false;
    }
    const std::string sa(*identity_->service_account());
    const bool admitted = s.service_accounts.empty()
                              ? sa == s.meta.name
                              : std::find(s.service_accounts.begin(), s.service_accounts.end(),
                                          sa) != s.service_accounts.end();
    if (!admitted) {
      std::string accounts;
      for (const auto& a : s.service_accounts) accounts += (accounts.empty() ? "" : ",") + a;
      if (accounts.empty()) accounts = s.meta.name + " (the default)";
      refuse("identity_not_admitted", grpc::StatusCode::PERMISSION_DENIED,
             identity_->to_string() + " may not back Service " + ns + "/" + name +
                 "; spec.serviceAccounts admits " + accounts);
      return false;
    }
    return true;
  }

  // The stream's source, unless the identity may name another address.
  bool address_allowed(const std::string& asked, std::string& out) {
    const std::string source = normalized_ip(peer_ip_);
    if (asked.empty()) {
      if (source.empty()) {
        refuse("no_address", grpc::StatusCode::INVALID_ARGUMENT,
               "the stream's source address is unknown; name the address");
        return false;
      }
      out = source;
      return true;
    }
    const std::string wanted = normalized_ip(asked);
    if (wanted.empty()) {
      refuse("invalid_workload", grpc::StatusCode::INVALID_ARGUMENT,
             "address \"" + asked + "\" is not an IP address");
      return false;
    }
    if (wanted != source) {
      const auto& allowed = owner_.settings_.any_address;
      if (std::none_of(allowed.begin(), allowed.end(),
                       [&](const auto& p) { return p.matches(*identity_); })) {
        refuse("address_not_source", grpc::StatusCode::PERMISSION_DENIED,
               "address " + wanted + " is not this stream's source " + source + " (" +
                   identity_->to_string() + " is not in registration.anyAddress)");
        return false;
      }
    }
    out = wanted;
    return true;
  }

  void refuse(const std::string& reason, grpc::StatusCode code, const std::string& message) {
    log::warn("registration refused", {{"reason", reason}, {"detail", message}});
    if (owner_.hooks_.refused) owner_.hooks_.refused(reason);
    end(grpc::Status(code, reason + ": " + message));
  }

  void release() {
    if (!registered_) return;
    if (owner_.shutting_down_) return;  // the controller goes, not the workload
    // Only remove what is still ours: a re-registration may have replaced it already.
    if (auto cur = owner_.store_.get(key_); cur && discovery::meta_of(*cur).owner == owner_tag_) {
      (void)owner_.store_.remove(key_);
    }
    if (owner_.hooks_.leases_delta) owner_.hooks_.leases_delta(-1);
    log::info("workload lease released", {{"endpoint", key_.name}});
  }

  void OnDone() override {
    owner_.untrack(this);
    release();
    delete this;
  }

  RegistrationService& owner_;
  const std::string owner_tag_;
  std::optional<identity::SpiffeId> identity_;
  std::string peer_ip_;
  rv::RegisterRequest request_;
  rv::RegisterResponse response_;
  discovery::ObjectKey key_;
  bool registered_ = false;
  std::mutex mu_;
  bool finished_ = false;
};

RegistrationService::RegistrationService(discovery::Store& store, Settings settings, Hooks hooks)
    : store_(store), settings_(std::move(settings)), hooks_(std::move(hooks)) {
  reaper_ = std::thread([this] { reap_loop(); });
}

RegistrationService::~RegistrationService() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  reaper_.join();
}

grpc::ServerBidiReactor<rv::RegisterRequest, rv::RegisterResponse>* RegistrationService::Register(
    grpc::CallbackServerContext* context) {
  return new Lease(*this, context);
}

void RegistrationService::track(Lease* lease) {
  std::lock_guard lock(mu_);
  deadlines_[lease] = Clock::now() + settings_.lease;
}

void RegistrationService::untrack(Lease* lease) {
  std::lock_guard lock(mu_);
  deadlines_.erase(lease);
}

void RegistrationService::close_all() {
  shutting_down_ = true;
  std::lock_guard lock(mu_);
  for (auto& [lease, deadline] : deadlines_) {
    lease->end(grpc::Status(grpc::StatusCode::UNAVAILABLE, "controller shutting down"));
  }
}

void RegistrationService::reap_loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    cv_.wait_for(lock, std::chrono::milliseconds(500));
    auto now = Clock::now();
    for (auto& [lease, deadline] : deadlines_) {
      if (deadline <= now) {
        deadline = Clock::time_point::max();  // expire once
        lease->expire();
      }
    }
  }
}

}  // namespace strait::controlplane
