// RegistrationLease: the client side of the registration stream.
#include "controlplane/client/registration_lease.h"

#include <algorithm>

namespace strait::controlplane {
namespace rv = registration::v1;
using namespace std::chrono_literals;

RegistrationLease::RegistrationLease(ChannelFactory channels, rv::Workload workload,
                                     OnState on_state)
    : channels_(std::move(channels)),
      workload_(std::move(workload)),
      on_state_(std::move(on_state)) {
  thread_ = std::thread([this] { run(); });
}

RegistrationLease::~RegistrationLease() { stop(); }

void RegistrationLease::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
    if (active_ != nullptr) active_->TryCancel();
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

bool RegistrationLease::wait_for(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  cv_.wait_for(lock, d, [this] { return stopping_; });
  return !stopping_;
}

void RegistrationLease::run() {
  auto backoff = 200ms;
  while (true) {
    {
      std::lock_guard lock(mu_);
      if (stopping_) return;
    }
    if (on_state_) on_state_(State::kConnecting, "");
    auto started = std::chrono::steady_clock::now();
    std::string why = run_once();
    if (on_state_) on_state_(State::kBroken, why);
    // A stream that lived a while earns a fresh backoff.
    if (std::chrono::steady_clock::now() - started > 10s) backoff = 200ms;
    if (!wait_for(backoff)) return;
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, 5s);
  }
}

std::string RegistrationLease::run_once() {
  auto stub = rv::Registration::NewStub(channels_(retry_));
  retry_ = true;
  grpc::ClientContext ctx;
  {
    std::lock_guard lock(mu_);
    if (stopping_) return "stopping";
    active_ = &ctx;
  }
  auto stream = stub->Register(&ctx);
  rv::RegisterRequest first;
  *first.mutable_workload() = workload_;
  rv::RegisterResponse resp;
  std::string why;
  if (!stream->Write(first) || !stream->Read(&resp)) {
    why = "registration stream failed";
  } else {
    if (on_state_) on_state_(State::kRegistered, resp.endpoint_name());
    auto beat =
        std::chrono::milliseconds(std::max<std::uint32_t>(resp.lease_seconds(), 1) * 1000 / 3);
    rv::RegisterRequest hb;
    hb.mutable_heartbeat();
    while (wait_for(beat)) {
      if (!stream->Write(hb)) {
        why = "heartbeat failed";
        break;
      }
    }
  }
  {
    std::lock_guard lock(mu_);
    active_ = nullptr;
    if (stopping_) ctx.TryCancel();
  }
  stream->WritesDone();
  auto status = stream->Finish();
  if (why.empty()) why = "stopped";
  if (!status.ok()) why += ": " + status.error_message();
  return why;
}

}  // namespace strait::controlplane
