// EmbeddedStore: memory + snapshot + write-ahead log (format described in the header).
#include "controlplane/store/embedded_store.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <boost/crc.hpp>
#include <boost/json.hpp>

#include "core/discovery/json_codec.h"
#include "core/log/log.h"

namespace strait::store {

namespace json = boost::json;
using discovery::Event;
using discovery::Object;
using discovery::ObjectKey;

namespace {

constexpr std::size_t kHeaderSize = 8;
constexpr std::uint64_t kReserveBlock = 1000;
constexpr std::uint32_t kMaxRecord = 256u << 20;

const log::Logger& logger() {
  static const log::Logger l("store");
  return l;
}

std::uint32_t crc32c(std::string_view data) {
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(data.data(), data.size());
  return crc.checksum();
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint32_t get_u32(const char* p) {
  std::uint32_t v = 0;
  for (int i = 0; i < 4; ++i)
    v |= static_cast<std::uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

std::string frame(std::string_view payload) {
  std::string out;
  out.reserve(kHeaderSize + payload.size());
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u32(out, crc32c(payload));
  out.append(payload);
  return out;
}

Error io_error(const std::string& what, const std::filesystem::path& path, int err) {
  return make_error("io_error", what + " " + path.string() + ": " + std::strerror(err));
}

Error corrupt(const std::filesystem::path& path, std::uint64_t offset, const std::string& what) {
  return make_error("corrupt_state", path.string() + ": record at offset " +
                                         std::to_string(offset) + ": " + what +
                                         " (the store refuses to open rather than lose data; "
                                         "restore the state directory from a backup)");
}

Result<void> write_all(int fd, std::string_view data, off_t offset,
                       const std::filesystem::path& path) {
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n =
        ::pwrite(fd, data.data() + done, data.size() - done, offset + static_cast<off_t>(done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return io_error("write", path, errno);
    }
    if (n == 0) return io_error("write", path, ENOSPC);
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<void> fsync_dir(const std::filesystem::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return io_error("open", dir, errno);
  int rc = ::fsync(fd);
  int err = errno;
  ::close(fd);
  if (rc != 0) return io_error("fsync", dir, err);
  return {};
}

Result<std::string> read_file(const std::filesystem::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return io_error("open", path, errno);
  std::string data;
  char buf[1 << 16];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      return io_error("read", path, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return data;
}

std::string wal_name(std::uint64_t generation) {
  char name[64];
  std::snprintf(name, sizeof name, "wal-%016llx.log", static_cast<unsigned long long>(generation));
  return name;
}

std::optional<std::uint64_t> wal_generation_of(const std::string& name) {
  if (name.size() != 24 || !name.starts_with("wal-") || !name.ends_with(".log"))
    return std::nullopt;
  std::uint64_t g = 0;
  for (char c : name.substr(4, 16)) {
    int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
    if (d < 0) return std::nullopt;
    g = g * 16 + static_cast<std::uint64_t>(d);
  }
  return g;
}

// One framed record read from a buffer.
struct RawRecord {
  enum class Status { kOk, kTruncated, kBadChecksum } status;
  std::string_view payload;
  std::size_t next = 0;
  std::uint32_t stored_crc = 0, computed_crc = 0;
};

RawRecord read_record(std::string_view data, std::size_t offset) {
  RawRecord r{RawRecord::Status::kTruncated, {}, offset, 0, 0};
  if (data.size() - offset < kHeaderSize) return r;
  std::uint32_t len = get_u32(data.data() + offset);
  if (len > data.size() - offset - kHeaderSize) return r;
  r.stored_crc = get_u32(data.data() + offset + 4);
  r.payload = data.substr(offset + kHeaderSize, len);
  r.computed_crc = crc32c(r.payload);
  r.next = offset + kHeaderSize + len;
  r.status =
      r.stored_crc == r.computed_crc ? RawRecord::Status::kOk : RawRecord::Status::kBadChecksum;
  return r;
}

// After a suspected torn tail at `from`: is there a complete, checksummed record further on?
// If so the damage is not a torn write (only the last record can be in flight) and dropping
// the rest would lose acknowledged writes.
std::optional<std::size_t> valid_record_after(std::string_view data, std::size_t from) {
  for (std::size_t at = from + 1; at + kHeaderSize < data.size(); ++at) {
    std::uint32_t len = get_u32(data.data() + at);
    if (len < 2 || len > data.size() - at - kHeaderSize) continue;
    if (data[at + kHeaderSize] != '{' || data[at + kHeaderSize + len - 1] != '}') continue;
    if (crc32c(data.substr(at + kHeaderSize, len)) == get_u32(data.data() + at + 4)) return at;
  }
  return std::nullopt;
}

Result<json::value> parse_payload(std::string_view payload, const std::filesystem::path& path,
                                  std::size_t offset) {
  boost::system::error_code ec;
  json::value v = json::parse(payload, ec);
  if (ec || !v.is_object())
    return corrupt(path, offset, "checksum matches but the payload is not a JSON object");
  return v;
}

std::uint64_t u64_field(const json::object& o, std::string_view key, bool& ok) {
  const json::value* v = o.if_contains(key);
  if (v == nullptr) {
    ok = false;
    return 0;
  }
  if (v->is_uint64()) return v->get_uint64();
  if (v->is_int64() && v->get_int64() >= 0) return static_cast<std::uint64_t>(v->get_int64());
  ok = false;
  return 0;
}

}  // namespace

EmbeddedStore::EmbeddedStore(std::filesystem::path dir, EmbeddedStoreOptions options)
    : dir_(std::move(dir)), options_(options) {}

EmbeddedStore::~EmbeddedStore() {
  hub_.reset();
  if (wal_fd_ >= 0) ::close(wal_fd_);
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<EmbeddedStore>> EmbeddedStore::open(std::filesystem::path state_dir,
                                                           EmbeddedStoreOptions options) {
  std::filesystem::path dir = state_dir.empty() ? std::filesystem::path() : state_dir / "store";
  std::unique_ptr<EmbeddedStore> store(new EmbeddedStore(dir, options));
  if (!dir.empty()) {
    if (auto r = store->recover(); !r) return r.error();
  }
  store->hub_ = std::make_unique<discovery::WatchHub>(
      store->version_,
      discovery::WatchHubOptions{options.watch_log_capacity, options.watch_workers});
  return store;
}

Result<void> EmbeddedStore::recover() {
  std::error_code ec;
  bool existed = std::filesystem::exists(dir_, ec);
  std::filesystem::create_directories(dir_, ec);
  if (ec) return make_error("io_error", "create " + dir_.string() + ": " + ec.message());
  if (!existed) {
    if (auto r = fsync_dir(dir_.parent_path()); !r) return r;
  }

  std::filesystem::path lock_path = dir_ / "LOCK";
  lock_fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0) return io_error("open", lock_path, errno);
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return make_error("state_locked", dir_.string() + " is in use by another process (" +
                                          std::strerror(errno) + ")");
  }

  std::filesystem::remove(dir_ / "snapshot.tmp",
                          ec);  // an interrupted snapshot: the old one stands
  if (auto r = load_snapshot(); !r) return r;

  // WALs up to the snapshot's generation are covered by it (left over from a crash between
  // the snapshot's rename and the old WAL's unlink); the next one is replayed; anything
  // newer means files went missing.
  std::vector<std::uint64_t> stale;
  std::optional<std::uint64_t> next;
  for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
    std::optional<std::uint64_t> g = wal_generation_of(entry.path().filename().string());
    if (!g) continue;
    if (*g <= snapshot_generation_) {
      stale.push_back(*g);
    } else if (*g == snapshot_generation_ + 1) {
      next = *g;
    } else {
      return make_error("corrupt_state",
                        entry.path().string() + ": WAL generation " + std::to_string(*g) +
                            " is newer than the snapshot allows (covers " +
                            std::to_string(snapshot_generation_) + "); files are missing");
    }
  }
  if (ec) return make_error("io_error", "list " + dir_.string() + ": " + ec.message());
  for (std::uint64_t g : stale) {
    std::filesystem::remove(dir_ / wal_name(g), ec);
    logger().info("removed a WAL covered by the snapshot",
                  {{"file", (dir_ / wal_name(g)).string()}});
  }
  wal_generation_ = snapshot_generation_ + 1;
  if (next) {
    if (auto r = replay_wal(dir_ / wal_name(*next)); !r) return r;
  }
  version_ = std::max(version_, reserved_);
  reserved_ = version_;
  return open_wal(!next.has_value());
}

Result<void> EmbeddedStore::load_snapshot() {
  std::filesystem::path path = dir_ / "snapshot";
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return {};
  auto data = read_file(path);
  if (!data) return data.error();
  std::string_view buf = *data;

  RawRecord header = read_record(buf, 0);
  if (header.status == RawRecord::Status::kTruncated)
    return corrupt(path, 0, "header is truncated");
  if (header.status == RawRecord::Status::kBadChecksum)
    return corrupt(path, 0, "header checksum mismatch");
  auto hv = parse_payload(header.payload, path, 0);
  if (!hv) return hv.error();
  const json::object& h = hv->get_object();
  bool ok = true;
  std::uint64_t format = u64_field(h, "format", ok);
  std::uint64_t generation = u64_field(h, "walGeneration", ok);
  std::uint64_t version = u64_field(h, "version", ok);
  std::uint64_t count = u64_field(h, "objects", ok);
  bool has_reserved = true;
  std::uint64_t reserved = u64_field(h, "reserved", has_reserved);
  if (!ok || format != 1)
    return corrupt(path, 0, "unrecognised snapshot header " + json::serialize(*hv));

  std::size_t offset = header.next;
  for (std::uint64_t i = 0; i < count; ++i) {
    RawRecord r = read_record(buf, offset);
    if (r.status == RawRecord::Status::kTruncated) {
      return corrupt(
          path, offset,
          "truncated (" + std::to_string(i) + " of " + std::to_string(count) + " objects read)");
    }
    if (r.status == RawRecord::Status::kBadChecksum)
      return corrupt(path, offset, "checksum mismatch");
    auto v = parse_payload(r.payload, path, offset);
    if (!v) return v.error();
    auto object = discovery::object_from_json(*v);
    if (!object) return corrupt(path, offset, "bad object: " + object.error().message);
    objects_[discovery::key_of(*object)] = std::move(object).value();
    offset = r.next;
  }
  if (offset != buf.size()) return corrupt(path, offset, "unexpected bytes after the last object");
  snapshot_generation_ = generation;
  version_ = version;
  reserved_ = has_reserved ? std::max(reserved, version) : version;
  return {};
}

Result<void> EmbeddedStore::replay_wal(const std::filesystem::path& path) {
  auto data = read_file(path);
  if (!data) return data.error();
  std::string_view buf = *data;
  std::size_t offset = 0;
  std::uint64_t records = 0;
  // Data records carry strictly increasing versions; reserve records only raise the floor the
  // store restarts from (see reserve_version).
  std::uint64_t last = version_;
  std::uint64_t floor = reserved_;
  while (offset < buf.size()) {
    RawRecord r = read_record(buf, offset);
    if (r.status == RawRecord::Status::kTruncated) {
      if (auto later = valid_record_after(buf, offset)) {
        return corrupt(
            path, offset,
            "length runs past the end of the file, but a valid record follows at offset " +
                std::to_string(*later));
      }
      break;  // a torn tail; handled below
    }
    if (r.status == RawRecord::Status::kBadChecksum) {
      return corrupt(path, offset,
                     "checksum mismatch (stored " + std::to_string(r.stored_crc) + ", computed " +
                         std::to_string(r.computed_crc) + ")");
    }
    auto v = parse_payload(r.payload, path, offset);
    if (!v) return v.error();
    const json::object& o = v->get_object();
    const json::value* op = o.if_contains("op");
    std::string_view op_name =
        (op != nullptr && op->is_string()) ? std::string_view(op->get_string()) : "";
    std::uint64_t record_version = 0;
    if (op_name == "put") {
      const json::value* obj = o.if_contains("object");
      if (obj == nullptr) return corrupt(path, offset, "put without an object");
      auto object = discovery::object_from_json(*obj);
      if (!object) return corrupt(path, offset, "bad object: " + object.error().message);
      record_version = discovery::meta_of(*object).version;
      if (record_version <= last) {
        return corrupt(
            path, offset,
            "version " + std::to_string(record_version) + " is not after " + std::to_string(last));
      }
      last = record_version;
      objects_[discovery::key_of(*object)] = std::move(object).value();
    } else if (op_name == "remove") {
      const json::value* key = o.if_contains("key");
      auto k = key != nullptr ? discovery::key_from_json(*key)
                              : Result<ObjectKey>(make_error("x", "missing"));
      bool ok = true;
      record_version = u64_field(o, "version", ok);
      if (!k || !ok) return corrupt(path, offset, "bad remove record " + json::serialize(*v));
      if (record_version <= last) {
        return corrupt(
            path, offset,
            "version " + std::to_string(record_version) + " is not after " + std::to_string(last));
      }
      last = record_version;
      objects_.erase(*k);
    } else if (op_name == "reserve") {
      bool ok = true;
      record_version = u64_field(o, "version", ok);
      if (!ok) return corrupt(path, offset, "bad reserve record " + json::serialize(*v));
      floor = std::max(floor, record_version);
    } else {
      return corrupt(path, offset, "unknown operation in " + json::serialize(*v));
    }
    offset = r.next;
    ++records;
  }
  // Restart above every version handed out before, ephemeral ones included.
  version_ = std::max(last, floor);
  reserved_ = version_;

  if (offset < buf.size()) {
    logger().warn(
        "discarding an incomplete record at the end of the WAL (a write interrupted by a crash, "
        "never "
        "acknowledged)",
        {{"file", path.string()},
         {"offset", static_cast<std::uint64_t>(offset)},
         {"bytes", static_cast<std::uint64_t>(buf.size() - offset)}});
    int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
    if (fd < 0) return io_error("open", path, errno);
    if (::ftruncate(fd, static_cast<off_t>(offset)) != 0 || ::fdatasync(fd) != 0) {
      int err = errno;
      ::close(fd);
      return io_error("truncate", path, err);
    }
    ::close(fd);
  }
  wal_bytes_ = offset;
  wal_records_ = records;
  return {};
}

Result<void> EmbeddedStore::open_wal(bool create) {
  std::filesystem::path path = dir_ / wal_name(wal_generation_);
  int flags = O_WRONLY | O_CLOEXEC | (create ? O_CREAT | O_TRUNC : 0);
  int fd = ::open(path.c_str(), flags, 0600);
  if (fd < 0) return io_error("open", path, errno);
  if (create) {
    if (auto r = fsync_dir(dir_); !r) {
      ::close(fd);
      return r;
    }
    wal_bytes_ = 0;
    wal_records_ = 0;
  }
  wal_fd_ = fd;
  return {};
}

std::filesystem::path EmbeddedStore::wal_path() const {
  if (dir_.empty()) return {};
  std::lock_guard<std::mutex> lock(write_mu_);
  return dir_ / wal_name(wal_generation_);
}

std::uint64_t EmbeddedStore::wal_generation() const {
  std::lock_guard<std::mutex> lock(write_mu_);
  return wal_generation_;
}

Result<void> EmbeddedStore::append(const std::string& payload) {
  if (dir_.empty()) return {};
  if (broken_)
    return make_error("io_error", "the store's WAL is unusable until restart: " + broken_reason_);
  if (wal_fd_ < 0) {
    if (auto r = open_wal(true); !r) return r;
  }
  std::filesystem::path path = dir_ / wal_name(wal_generation_);
  std::string record = frame(payload);
  Result<void> written = write_all(wal_fd_, record, static_cast<off_t>(wal_bytes_), path);
  if (written && ::fdatasync(wal_fd_) != 0) written = io_error("fdatasync", path, errno);
  if (!written) {
    // Roll back so the next record does not land after a partial one.
    if (::ftruncate(wal_fd_, static_cast<off_t>(wal_bytes_)) != 0 || ::fdatasync(wal_fd_) != 0) {
      broken_ = true;
      broken_reason_ = written.error().message + "; rollback failed: " + std::strerror(errno);
      logger().error("WAL rollback failed; refusing further writes",
                     {{"file", path.string()}, {"reason", broken_reason_}});
    }
    return written;
  }
  wal_bytes_ += record.size();
  wal_records_ += 1;
  return {};
}

Result<void> EmbeddedStore::reserve_version(std::uint64_t v) {
  if (dir_.empty() || v <= reserved_) return {};
  std::uint64_t upto = v + kReserveBlock;
  if (auto r = append(json::serialize(json::object{{"op", "reserve"}, {"version", upto}})); !r)
    return r;
  reserved_ = upto;
  return {};
}

void EmbeddedStore::commit(Event event) {
  std::unique_lock<std::shared_mutex> lock(data_mu_);
  const Object& o = event.object;
  std::uint64_t v = discovery::meta_of(o).version;
  if (event.type == Event::Type::kDeleted) {
    objects_.erase(discovery::key_of(o));
  } else {
    objects_[discovery::key_of(o)] = o;
  }
  version_ = v;
  hub_->publish(std::move(event));
}

Result<Object> EmbeddedStore::put(Object object, std::optional<std::uint64_t> expected_version) {
  std::lock_guard<std::mutex> wlock(write_mu_);
  ObjectKey key = discovery::key_of(object);
  // Only writers mutate objects_, and they hold write_mu_: reading without data_mu_ is safe.
  auto it = objects_.find(key);
  const Object* old = it == objects_.end() ? nullptr : &it->second;
  if (expected_version) {
    std::uint64_t have = old ? discovery::meta_of(*old).version : 0;
    if (have != *expected_version) {
      return make_error("conflict", std::string(discovery::kind_name(key.kind)) + " " + key.ns +
                                        "/" + key.name + " is at version " + std::to_string(have) +
                                        ", expected " + std::to_string(*expected_version));
    }
  }
  std::uint64_t v = version_ + 1;
  discovery::meta_of(object).version = v;
  bool ephemeral = discovery::meta_of(object).ephemeral();
  if (!ephemeral) {
    json::object rec{{"op", "put"}, {"object", discovery::object_to_json(object)}};
    if (auto r = append(json::serialize(rec)); !r) return r.error();
  } else if (old && !discovery::meta_of(*old).ephemeral()) {
    // The persisted object goes away (on disk) while its ephemeral replacement lives in memory.
    json::object rec{{"op", "remove"}, {"key", discovery::key_to_json(key)}, {"version", v}};
    if (auto r = append(json::serialize(rec)); !r) return r.error();
  } else if (auto r = reserve_version(v); !r) {
    return r.error();
  }
  commit(Event{old ? Event::Type::kModified : Event::Type::kAdded, object});
  maybe_rotate();
  return object;
}

Result<Object> EmbeddedStore::remove(const ObjectKey& key) {
  std::lock_guard<std::mutex> wlock(write_mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) {
    return make_error("not_found", std::string(discovery::kind_name(key.kind)) + " " + key.ns +
                                       "/" + key.name + " does not exist");
  }
  Object last = it->second;
  std::uint64_t v = version_ + 1;
  if (!discovery::meta_of(last).ephemeral()) {
    json::object rec{{"op", "remove"}, {"key", discovery::key_to_json(key)}, {"version", v}};
    if (auto r = append(json::serialize(rec)); !r) return r.error();
  } else if (auto r = reserve_version(v); !r) {
    return r.error();
  }
  Object removed = last;
  discovery::meta_of(last).version = v;
  commit(Event{Event::Type::kDeleted, std::move(last)});
  maybe_rotate();
  return removed;
}

void EmbeddedStore::maybe_rotate() {
  if (dir_.empty() || broken_) return;
  if (wal_records_ < options_.wal_max_records && wal_bytes_ < options_.wal_max_bytes) return;
  if (wal_records_ < rotate_after_records_) return;
  if (auto r = rotate(); !r) {
    // The write itself is durable in the WAL; try again a little later.
    rotate_after_records_ = wal_records_ + 1000;
    logger().warn("snapshot failed; continuing with the current WAL",
                  {{"error", r.error().to_string()}});
  }
}

Result<void> EmbeddedStore::compact() {
  if (dir_.empty()) return {};
  std::lock_guard<std::mutex> wlock(write_mu_);
  if (broken_) return make_error("io_error", broken_reason_);
  return rotate();
}

// Caller holds write_mu_.
Result<void> EmbeddedStore::rotate() {
  if (wal_fd_ < 0) {
    // A previous rotation wrote its snapshot but could not start the new WAL: do that only.
    return open_wal(true);
  }
  const std::uint64_t generation = wal_generation_;
  std::filesystem::path tmp = dir_ / "snapshot.tmp";
  std::filesystem::path final_path = dir_ / "snapshot";

  std::string data;
  std::uint64_t count = 0;
  for (const auto& [k, o] : objects_) count += discovery::meta_of(o).ephemeral() ? 0 : 1;
  data += frame(json::serialize(json::object{{"format", 1},
                                             {"walGeneration", generation},
                                             {"version", version_},
                                             {"reserved", reserved_},
                                             {"objects", count}}));
  for (const auto& [k, o] : objects_) {
    if (!discovery::meta_of(o).ephemeral())
      data += frame(json::serialize(discovery::object_to_json(o)));
  }

  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return io_error("open", tmp, errno);
  Result<void> r = write_all(fd, data, 0, tmp);
  if (r && ::fsync(fd) != 0) r = io_error("fsync", tmp, errno);
  ::close(fd);
  if (r && ::rename(tmp.c_str(), final_path.c_str()) != 0) r = io_error("rename", tmp, errno);
  if (!r) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    return r;
  }
  // From here the snapshot covers `generation`: nothing may be appended to that WAL again.
  ::close(wal_fd_);
  wal_fd_ = -1;
  snapshot_generation_ = generation;
  wal_generation_ = generation + 1;
  if (auto d = fsync_dir(dir_); !d) return d;
  if (auto w = open_wal(true); !w) return w;
  std::error_code ec;
  std::filesystem::remove(dir_ / wal_name(generation), ec);
  rotate_after_records_ = 0;
  return {};
}

std::optional<Object> EmbeddedStore::get(const ObjectKey& key) const {
  std::shared_lock<std::shared_mutex> lock(data_mu_);
  auto it = objects_.find(key);
  if (it == objects_.end()) return std::nullopt;
  return it->second;
}

std::vector<Object> EmbeddedStore::list(discovery::Kind kind, const std::string& ns) const {
  std::shared_lock<std::shared_mutex> lock(data_mu_);
  std::vector<Object> out;
  for (auto it = objects_.lower_bound(ObjectKey{kind, ns, ""}); it != objects_.end(); ++it) {
    if (it->first.kind != kind || (!ns.empty() && it->first.ns != ns)) break;
    out.push_back(it->second);
  }
  return out;
}

std::uint64_t EmbeddedStore::version() const {
  std::shared_lock<std::shared_mutex> lock(data_mu_);
  return version_;
}

Result<discovery::WatchPtr> EmbeddedStore::watch(const discovery::WatchRequest& request,
                                                 std::function<void(const Event&)> on_event) {
  std::shared_lock<std::shared_mutex> lock(data_mu_);
  std::vector<Event> initial;
  if (request.from_version == 0) {
    for (const auto& [k, o] : objects_) {
      if (request.kinds.empty() || request.kinds.count(k.kind) > 0)
        initial.push_back(Event{Event::Type::kAdded, o});
    }
  }
  return hub_->subscribe(request, std::move(on_event), std::move(initial), version_);
}

}  // namespace strait::store
