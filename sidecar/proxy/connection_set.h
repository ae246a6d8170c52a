// ConnectionSet: every open proxied connection, by the sockets it holds. It enforces the
// connection cap, and on shutdown lets connections finish (drain) before cutting the rest
// (shutdown(2) on their sockets wakes every pending operation).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <map>
#include <vector>

namespace strait::proxy {

class ConnectionSet {
 public:
  class Member {
   public:
    Member(ConnectionSet& set, std::uint64_t id) : set_(&set), id_(id) {}
    Member(const Member&) = delete;
    Member& operator=(const Member&) = delete;
    ~Member() { set_->members_.erase(id_); }
    // Sockets cut when the set is closed.
    void hold(int fd) { set_->members_[id_].push_back(fd); }

   private:
    ConnectionSet* set_;
    std::uint64_t id_;
  };

  std::size_t size() const { return members_.size(); }
  Member join() {
    std::uint64_t id = next_++;
    members_[id];
    return Member(*this, id);
  }
  void cut_all() {
    for (auto& [id, fds] : members_) {
      for (int fd : fds) ::shutdown(fd, SHUT_RDWR);
    }
  }

 private:
  std::map<std::uint64_t, std::vector<int>> members_;
  std::uint64_t next_ = 1;
};

}  // namespace strait::proxy
