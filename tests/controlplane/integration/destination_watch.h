// DestinationWatch: a Destination.Get stream read in the background, plus the address set its
// updates add up to, so tests can wait until the stream has told a given state.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>

#include "strait/destination.grpc.pb.h"
#include "tests/controlplane/integration/controller_process.h"
#include "tests/controlplane/integration/stream_reader.h"

namespace strait::controlplane::testing {

inline std::string addr_text(const destination::v1::TcpAddress& a) {
  return a.ip() + ":" + std::to_string(a.port());
}

// Short descriptions of updates, for failure messages.
inline std::string describe(const destination::v1::Update& u) {
  std::string out;
  if (u.has_add()) {
    out = "add[";
    for (const auto& a : u.add().addrs()) out += addr_text(a.addr()) + " ";
    out += "]";
  } else if (u.has_remove()) {
    out = "remove[";
    for (const auto& a : u.remove().addrs()) out += addr_text(a) + " ";
    out += "]";
  } else if (u.has_no_endpoints()) {
    out =
        std::string("no_endpoints{exists=") + (u.no_endpoints().exists() ? "true" : "false") + "}";
  } else {
    out = "empty update";
  }
  return out;
}

class DestinationWatch {
 public:
  DestinationWatch(std::shared_ptr<grpc::Channel> channel, const std::string& path)
      : stub_(destination::v1::Destination::NewStub(std::move(channel))) {
    destination::v1::GetDestination req;
    req.set_path(path);
    reader_ = std::make_unique<StreamReader<destination::v1::Update>>(
        [this, req](grpc::ClientContext* ctx) { return stub_->Get(ctx, req); });
  }

  StreamReader<destination::v1::Update>& reader() { return *reader_; }

  // Takes updates (applying each to addrs()) until `done` holds, within the deadline.
  bool wait_until(const std::function<bool(const DestinationWatch&)>& done,
                  std::chrono::milliseconds deadline) {
    auto until = std::chrono::steady_clock::now() + deadline;
    while (!done(*this)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return false;
      auto u = reader_->next(left);
      if (!u) return false;
      take(*u);
    }
    return true;
  }
  // Until the addresses are exactly `want`.
  bool wait_for_addrs(const std::set<std::string>& want, std::chrono::milliseconds deadline) {
    return wait_until(
        [&](const DestinationWatch& w) { return w.announced() && w.addrs_set() == want; },
        deadline);
  }

  void take(const destination::v1::Update& u) {
    history_.push_back(describe(u));
    ++updates_;
    if (u.has_add()) {
      for (const auto& a : u.add().addrs()) addrs_[addr_text(a.addr())] = a;
      for (const auto& [k, v] : u.add().metric_labels()) set_labels_[k] = v;
    } else if (u.has_remove()) {
      for (const auto& a : u.remove().addrs()) addrs_.erase(addr_text(a));
    } else if (u.has_no_endpoints()) {
      addrs_.clear();
      no_endpoints_ = u.no_endpoints();
    }
  }

  bool announced() const { return updates_ > 0; }
  std::size_t updates() const { return updates_; }
  const std::map<std::string, destination::v1::WeightedAddr>& addrs() const { return addrs_; }
  std::set<std::string> addrs_set() const {
    std::set<std::string> out;
    for (const auto& [k, v] : addrs_) out.insert(k);
    return out;
  }
  const std::map<std::string, std::string>& set_labels() const { return set_labels_; }
  const std::optional<destination::v1::NoEndpoints>& last_no_endpoints() const {
    return no_endpoints_;
  }
  std::string history() const {
    std::string out;
    for (const auto& h : history_) out += h + "\n";
    return out;
  }

 private:
  std::unique_ptr<destination::v1::Destination::Stub> stub_;
  std::unique_ptr<StreamReader<destination::v1::Update>> reader_;
  std::map<std::string, destination::v1::WeightedAddr> addrs_;
  std::map<std::string, std::string> set_labels_;
  std::optional<destination::v1::NoEndpoints> no_endpoints_;
  std::vector<std::string> history_;
  std::size_t updates_ = 0;
};

}  // namespace strait::controlplane::testing
