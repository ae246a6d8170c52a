// RegistrationLease: keeps a workload registered — a Register stream with heartbeats,
// reopened with backoff when it breaks, until stop().
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "strait/registration.grpc.pb.h"

namespace strait::controlplane {

class RegistrationLease {
 public:
  enum class State { kConnecting, kRegistered, kBroken };
  using OnState = std::function<void(State, const std::string& detail)>;

  // Channels must carry the workload's client certificate; `fresh` is true after a broken
  // stream (a new channel reconnects at once).
  using ChannelFactory = std::function<std::shared_ptr<grpc::Channel>(bool fresh)>;
  RegistrationLease(ChannelFactory channels, registration::v1::Workload workload,
                    OnState on_state = {});
  ~RegistrationLease();  // stop()

  void stop();

 private:
  void run();
  // One stream's life; returns the reason it ended.
  std::string run_once();
  bool wait_for(std::chrono::milliseconds d);  // false when stopping

  ChannelFactory channels_;
  bool retry_ = false;
  registration::v1::Workload workload_;
  OnState on_state_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  grpc::ClientContext* active_ = nullptr;
  std::thread thread_;
};

}  // namespace strait::controlplane
