// EmbeddedStore: the default discovery store backend. Objects live in memory; every acknowledged
// write is durable under <state_dir>/store/ before put/remove return:
//
//   snapshot          records: a header {"format":1,"walGeneration":G,"version":V,"reserved":R,
//                     "objects":N} then N objects; written to snapshot.tmp, fsynced, renamed,
//                     dir fsynced.
//   wal-<G+1>.log     the write-ahead log after the snapshot (generation in 16 hex digits).
//   LOCK              flock'ed while open: one process per state directory.
//
// A record (snapshot and WAL alike) is [u32 length][u32 crc32c(payload)][JSON payload], little
// endian. WAL payloads: {"op":"put","object":{...}}, {"op":"remove","key":{...},"version":V},
// {"op":"reserve","version":V}. Ephemeral objects (owner "lease:...") are never written: the
// versions they use are covered by "reserve" records handed out in blocks, so no version is reused
// after a restart, and replacing a persisted object by an ephemeral one writes a "remove".
//
// Recovery refuses (error corrupt_state, naming the file and offset) any damage it cannot prove
// harmless. The one thing it repairs is a torn tail: an incomplete last WAL record, which was
// never acknowledged, is dropped with a warning and the WAL truncated — unless a complete,
// checksummed record follows it, in which case the "tail" is really corruption and open fails.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>

#include "core/base/result.h"
#include "core/discovery/store.h"
#include "core/discovery/watch_hub.h"

namespace strait::store {

struct EmbeddedStoreOptions {
  std::size_t wal_max_bytes = 4u << 20;  // snapshot and start a new WAL past this size...
  std::size_t wal_max_records = 10000;   // ...or this many records
  std::size_t watch_log_capacity = 10000;
  std::size_t watch_workers = 2;
};

class EmbeddedStore : public discovery::Store {
 public:
  // Empty state_dir: memory only (tests). Error codes: corrupt_state, io_error, state_locked.
  static Result<std::unique_ptr<EmbeddedStore>> open(std::filesystem::path state_dir,
                                                     EmbeddedStoreOptions options = {});
  ~EmbeddedStore() override;

  // Error codes: conflict, io_error (nothing changed; the store keeps working if it could roll
  // the WAL back, otherwise every later write fails with io_error until reopened).
  Result<discovery::Object> put(discovery::Object object,
                                std::optional<std::uint64_t> expected_version = {}) override;
  Result<discovery::Object> remove(const discovery::ObjectKey& key) override;
  std::optional<discovery::Object> get(const discovery::ObjectKey& key) const override;
  std::vector<discovery::Object> list(discovery::Kind kind,
                                      const std::string& ns = {}) const override;
  std::uint64_t version() const override;
  Result<discovery::WatchPtr> watch(const discovery::WatchRequest& request,
                                    std::function<void(const discovery::Event&)> on_event) override;

  // Writes a snapshot and starts a new WAL now (normally automatic). No-op in memory mode.
  Result<void> compact();
  // Where the files are (empty in memory mode); for tests and diagnostics.
  std::filesystem::path store_dir() const { return dir_; }
  std::filesystem::path wal_path() const;
  std::uint64_t wal_generation() const;

 private:
  EmbeddedStore(std::filesystem::path dir, EmbeddedStoreOptions options);

  Result<void> recover();
  Result<void> load_snapshot();
  Result<void> replay_wal(const std::filesystem::path& path);
  Result<void> open_wal(bool create);
  // Appends one record and fdatasyncs it; on failure rolls the file back to its previous size.
  Result<void> append(const std::string& payload);
  Result<void> reserve_version(std::uint64_t v);
  Result<void> rotate();
  void maybe_rotate();
  void commit(discovery::Event event);  // applies to memory and publishes; takes the data lock

  const std::filesystem::path dir_;  // <state_dir>/store, empty in memory mode
  const EmbeddedStoreOptions options_;

  // write_mu_ serializes writers and all file I/O; data_mu_ guards objects_/version_ and is held
  // only to apply a change, so a slow fdatasync never blocks readers.
  mutable std::mutex write_mu_;
  mutable std::shared_mutex data_mu_;
  std::map<discovery::ObjectKey, discovery::Object> objects_;
  std::uint64_t version_ = 0;

  // Guarded by write_mu_.
  std::uint64_t reserved_ = 0;  // versions up to here are durably reserved
  std::uint64_t snapshot_generation_ = 0;
  std::uint64_t wal_generation_ = 1;
  int wal_fd_ = -1;  // -1 with a state dir: a new WAL must be created first
  int lock_fd_ = -1;
  std::uint64_t wal_bytes_ = 0;
  std::uint64_t wal_records_ = 0;
  std::uint64_t rotate_after_records_ = 0;  // backoff after a failed rotation
  bool broken_ = false;
  std::string broken_reason_;

  std::unique_ptr<discovery::WatchHub> hub_;  // last: destroyed (workers joined) first
};

}  // namespace strait::store
