// EmbeddedStore persistence: restart restores state and versions, ephemeral objects are not
// persisted, snapshot rotation, torn tails, corruption detection, write failures, and crashes
// (a child process SIGKILLed mid-write; every acknowledged write must survive).
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <boost/crc.hpp>
#include <random>

#include <gtest/gtest.h>

#include "controlplane/store/embedded_store.h"
#include "core/log/log.h"
#include "tests/controlplane/store/store_test_util.h"

namespace strait::store {
namespace {

using discovery::Kind;
using discovery::Object;
using discovery::ObjectKey;
using testing::endpoint;
using testing::service;
using testing::TempDir;

std::unique_ptr<EmbeddedStore> open_ok(const std::filesystem::path& dir,
                                       EmbeddedStoreOptions options = {}) {
  auto s = EmbeddedStore::open(dir, options);
  EXPECT_TRUE(s.ok()) << s.error().to_string();
  return s.ok() ? std::move(s).value() : nullptr;
}

std::map<ObjectKey, Object> dump(const EmbeddedStore& store) {
  std::map<ObjectKey, Object> out;
  for (Kind k :
       {Kind::kService, Kind::kEndpoint, Kind::kServer, Kind::kAuthorizationPolicy, Kind::kLink}) {
    for (auto& o : store.list(k)) out[discovery::key_of(o)] = o;
  }
  return out;
}

std::string read_bytes(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}
void write_bytes(const std::filesystem::path& p, const std::string& data) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << data;
}

// Captures log lines for the duration of a test.
class LogCapture {
 public:
  LogCapture() {
    log::set_sink([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      text_ += line;
    });
  }
  ~LogCapture() { log::set_sink({}); }
  std::string text() {
    std::lock_guard<std::mutex> lock(mu_);
    return text_;
  }

 private:
  std::mutex mu_;
  std::string text_;
};

TEST(Persistence, ReopenRestoresStateAndVersionsContinue) {
  TempDir dir;
  std::map<ObjectKey, Object> before;
  {
    auto store = open_ok(dir.path());
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->put(service("shop", "web")).ok());
    ASSERT_TRUE(store->put(endpoint("shop", "web-1")).ok());
    discovery::Link link;
    link.meta = {"west", "strait", "east", {{"a", "b"}}, {{"n", "x"}}, 0, "link:east"};
    link.target_cluster = "east";
    link.gateway_addresses = {"192.0.2.1"};
    ASSERT_TRUE(store->put(link).ok());
    discovery::AuthorizationPolicy pol;
    pol.meta.ns = "shop";
    pol.meta.name = "allow";
    pol.identities = {"*"};
    ASSERT_TRUE(store->put(pol).ok());
    ASSERT_TRUE(store
                    ->put(discovery::Server{{"west", "shop", "srv", {}, {}, 0, ""},
                                            {{"app", "web"}},
                                            8080,
                                            discovery::ProtocolHint::kHttp2})
                    .ok());
    ASSERT_TRUE(store->put(service("shop", "web", 81)).ok());
    ASSERT_TRUE(store->put(service("shop", "gone")).ok());
    ASSERT_TRUE(store->remove(ObjectKey{Kind::kService, "shop", "gone"}).ok());
    EXPECT_EQ(store->version(), 8u);
    before = dump(*store);
  }
  auto store = open_ok(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->version(), 8u);
  auto after = dump(*store);
  EXPECT_TRUE(after == before);
  EXPECT_EQ(after.size(), 5u);
  EXPECT_EQ(discovery::meta_of(after.at(ObjectKey{Kind::kService, "shop", "web"})).version, 6u);
  auto next = store->put(service("shop", "new"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(discovery::meta_of(*next).version, 9u);
  // Watching from the pre-restart version cannot be served (the log is in memory): re-list.
  auto w = store->watch(discovery::WatchRequest{{}, 5}, [](const discovery::Event&) {});
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.error().code, "version_expired");
}

TEST(Persistence, EphemeralObjectsAreNotRestoredAndTheirVersionsNotReused) {
  TempDir dir;
  std::uint64_t last = 0;
  {
    auto store = open_ok(dir.path());
    ASSERT_TRUE(store->put(endpoint("shop", "persisted")).ok());
    ASSERT_TRUE(store->put(endpoint("shop", "leased", "lease:1")).ok());
    ASSERT_TRUE(store->put(endpoint("shop", "taken-over")).ok());
    // A lease takes over a persisted name: the persisted one must not come back after restart.
    ASSERT_TRUE(store->put(endpoint("shop", "taken-over", "lease:2")).ok());
    for (int i = 0; i < 10; ++i)
      ASSERT_TRUE(store->put(endpoint("shop", "leased", "lease:1")).ok());
    last = store->version();
    EXPECT_EQ(store->list(Kind::kEndpoint).size(), 3u);
  }
  auto store = open_ok(dir.path());
  auto objects = dump(*store);
  ASSERT_EQ(objects.size(), 1u);
  EXPECT_TRUE(objects.count(ObjectKey{Kind::kEndpoint, "shop", "persisted"}));
  EXPECT_GE(store->version(), last);
  auto next = store->put(endpoint("shop", "later"));
  ASSERT_TRUE(next.ok());
  EXPECT_GT(discovery::meta_of(*next).version, last);
}

TEST(Persistence, SnapshotRotationAtTheDefaultLimits) {
  TempDir dir;
  std::map<ObjectKey, Object> before;
  {
    auto store = open_ok(dir.path());
    EXPECT_EQ(store->wal_generation(), 1u);
    for (int i = 0; i < 10050; ++i) {
      auto r = (i % 10 == 9) ? store->remove(ObjectKey{Kind::kService, "shop",
                                                       "s" + std::to_string((i - 1) % 500)})
                             : store->put(service("shop", "s" + std::to_string(i % 500),
                                                  static_cast<std::uint16_t>(1 + i % 60000)));
      ASSERT_TRUE(r.ok() || r.error().code == "not_found") << r.error().to_string();
    }
    EXPECT_EQ(store->wal_generation(), 2u);  // one rotation after 10000 records
    EXPECT_TRUE(std::filesystem::exists(store->store_dir() / "snapshot"));
    EXPECT_FALSE(std::filesystem::exists(store->store_dir() / "wal-0000000000000001.log"));
    EXPECT_TRUE(std::filesystem::exists(store->wal_path()));
    before = dump(*store);
  }
  auto store = open_ok(dir.path());
  EXPECT_TRUE(dump(*store) == before);
  EXPECT_EQ(store->wal_generation(), 2u);
}

TEST(Persistence, ManyRotationsBySizeAndCount) {
  TempDir dir;
  EmbeddedStoreOptions options;
  options.wal_max_records = 37;
  options.wal_max_bytes = 8 * 1024;
  std::map<ObjectKey, Object> before;
  std::uint64_t version = 0;
  {
    auto store = open_ok(dir.path(), options);
    for (int i = 0; i < 1000; ++i) {
      discovery::Service s = service("ns" + std::to_string(i % 3), "s" + std::to_string(i % 41));
      s.meta.annotations["blob"] = std::string(static_cast<std::size_t>(i % 400), 'x');
      ASSERT_TRUE(store->put(s).ok());
      if (i % 17 == 0) {
        ASSERT_TRUE(store->put(endpoint("shop", "lease-" + std::to_string(i), "lease:x")).ok());
      }
    }
    EXPECT_GT(store->wal_generation(), 20u);
    before = dump(*store);
    for (auto it = before.begin(); it != before.end();) {
      it = discovery::meta_of(it->second).ephemeral() ? before.erase(it) : std::next(it);
    }
    version = store->version();
  }
  auto store = open_ok(dir.path(), options);
  EXPECT_TRUE(dump(*store) == before);
  EXPECT_GE(store->version(), version);
}

// Writes n services and returns the WAL path (no rotation).
std::filesystem::path write_services(const std::filesystem::path& dir, int n) {
  auto store = open_ok(dir);
  for (int i = 1; i <= n; ++i)
    EXPECT_TRUE(store->put(service("shop", "s" + std::to_string(i))).ok());
  return store->wal_path();
}

TEST(Persistence, TornTailIsDiscardedWithAWarning) {
  for (std::size_t cut : {1u, 3u, 20u}) {
    TempDir dir;
    std::filesystem::path wal = write_services(dir.path(), 5);
    std::uintmax_t size = std::filesystem::file_size(wal);
    std::filesystem::resize_file(wal, size - cut);
    LogCapture logs;
    {
      auto store = open_ok(dir.path());
      ASSERT_TRUE(store);
      EXPECT_EQ(store->version(), 4u);
      EXPECT_EQ(store->list(Kind::kService).size(), 4u);
      EXPECT_FALSE(store->get(ObjectKey{Kind::kService, "shop", "s5"}).has_value());
      EXPECT_NE(logs.text().find("level=warn"), std::string::npos) << logs.text();
      EXPECT_NE(logs.text().find("incomplete record"), std::string::npos) << logs.text();
      EXPECT_LT(std::filesystem::file_size(wal), size - cut);  // truncated to the last good record
      // Writing continues after the good records, and a second reopen is clean.
      auto r = store->put(service("shop", "s6"));
      ASSERT_TRUE(r.ok());
      EXPECT_EQ(discovery::meta_of(*r).version, 5u);
    }
    auto store = open_ok(dir.path());
    EXPECT_EQ(store->list(Kind::kService).size(), 5u);
    EXPECT_TRUE(store->get(ObjectKey{Kind::kService, "shop", "s6"}).has_value());
  }
}

TEST(Persistence, TornHeaderIsDiscardedToo) {
  TempDir dir;
  std::filesystem::path wal = write_services(dir.path(), 3);
  std::string data = read_bytes(wal);
  data += std::string("\x10\x00\x00", 3);  // 3 bytes of a next header
  write_bytes(wal, data);
  auto store = open_ok(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->version(), 3u);
}

TEST(Persistence, FlippedByteInACompleteRecordRefusesToOpen) {
  TempDir dir;
  std::filesystem::path wal = write_services(dir.path(), 5);
  std::string data = read_bytes(wal);
  // Inside the payload of the second record.
  std::uint32_t len0 = static_cast<unsigned char>(data[0]) | static_cast<unsigned char>(data[1])
                                                                 << 8;
  std::size_t second = 8 + len0;
  data[second + 8 + 20] ^= 0x01;
  write_bytes(wal, data);
  auto store = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "corrupt_state");
  EXPECT_NE(store.error().message.find(wal.string()), std::string::npos) << store.error().message;
  EXPECT_NE(store.error().message.find("offset " + std::to_string(second)), std::string::npos)
      << store.error().message;
  EXPECT_EQ(read_bytes(wal), data);  // nothing was "repaired"
}

TEST(Persistence, FlippedByteInTheLastRecordRefusesToOpen) {
  TempDir dir;
  std::filesystem::path wal = write_services(dir.path(), 3);
  std::string data = read_bytes(wal);
  data[data.size() - 5] ^= 0x40;
  write_bytes(wal, data);
  auto store = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "corrupt_state");
}

TEST(Persistence, CorruptLengthInTheMiddleIsNotMistakenForATornTail) {
  TempDir dir;
  std::filesystem::path wal = write_services(dir.path(), 5);
  std::string data = read_bytes(wal);
  std::uint32_t len0 = static_cast<unsigned char>(data[0]) | static_cast<unsigned char>(data[1])
                                                                 << 8;
  data[8 + len0 + 3] = 0x7f;  // the second record's length now runs far past EOF
  write_bytes(wal, data);
  auto store = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "corrupt_state");
  EXPECT_NE(store.error().message.find("a valid record follows"), std::string::npos)
      << store.error().message;
}

TEST(Persistence, ValidChecksumButBadJsonRefusesToOpen) {
  TempDir dir;
  std::filesystem::path wal = write_services(dir.path(), 2);
  std::string payload = "{not json";
  std::string rec;
  auto put32 = [&](std::uint32_t v) {
    for (int i = 0; i < 4; ++i) rec.push_back(static_cast<char>(v >> (8 * i)));
  };
  boost::crc_optimal<32, 0x1EDC6F41, 0xFFFFFFFF, 0xFFFFFFFF, true, true> crc;
  crc.process_bytes(payload.data(), payload.size());
  put32(static_cast<std::uint32_t>(payload.size()));
  put32(crc.checksum());
  write_bytes(wal, read_bytes(wal) + rec + payload);
  auto store = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(store.ok());
  EXPECT_EQ(store.error().code, "corrupt_state");
}

TEST(Persistence, CorruptSnapshotRefusesToOpen) {
  TempDir dir;
  std::filesystem::path snapshot;
  {
    auto store = open_ok(dir.path());
    for (int i = 0; i < 20; ++i)
      ASSERT_TRUE(store->put(service("shop", "s" + std::to_string(i))).ok());
    ASSERT_TRUE(store->compact().ok());
    snapshot = store->store_dir() / "snapshot";
  }
  std::string good = read_bytes(snapshot);
  {
    auto store = open_ok(dir.path());  // the snapshot alone restores everything
    EXPECT_EQ(store->list(Kind::kService).size(), 20u);
    EXPECT_EQ(store->version(), 20u);
  }
  std::string bad = good;
  bad[bad.size() / 2] ^= 0x08;
  write_bytes(snapshot, bad);
  auto r = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "corrupt_state");
  EXPECT_NE(r.error().message.find(snapshot.string()), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("offset"), std::string::npos);

  write_bytes(snapshot, good.substr(0, good.size() - 10));  // truncated: not a torn tail, corrupt
  r = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, "corrupt_state");

  write_bytes(snapshot, good);
  EXPECT_TRUE(open_ok(dir.path()));
}

TEST(Persistence, LeftoversFromAnInterruptedRotationAreHandled) {
  TempDir dir;
  std::filesystem::path old_wal;
  std::string old_wal_bytes;
  {
    auto store = open_ok(dir.path());
    for (int i = 0; i < 5; ++i)
      ASSERT_TRUE(store->put(service("shop", "s" + std::to_string(i))).ok());
    old_wal = store->wal_path();
    old_wal_bytes = read_bytes(old_wal);
    ASSERT_TRUE(store->compact().ok());
    ASSERT_TRUE(store->put(service("shop", "after")).ok());
  }
  // Crash between rename and unlink: the covered WAL is still there; a temp snapshot too.
  write_bytes(old_wal, old_wal_bytes);
  write_bytes(old_wal.parent_path() / "snapshot.tmp", "garbage");
  auto store = open_ok(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(store->list(Kind::kService).size(), 6u);
  EXPECT_EQ(store->version(), 6u);
  EXPECT_FALSE(std::filesystem::exists(old_wal));
  EXPECT_FALSE(std::filesystem::exists(old_wal.parent_path() / "snapshot.tmp"));
}

TEST(Persistence, OneProcessPerStateDirectory) {
  TempDir dir;
  auto first = open_ok(dir.path());
  auto second = EmbeddedStore::open(dir.path());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error().code, "state_locked");
}

TEST(Persistence, FailedWriteLeavesMemoryAndDiskUnchanged) {
  TempDir dir;
  {
    auto store = open_ok(dir.path());
    ASSERT_TRUE(store->put(service("shop", "web")).ok());
    std::uintmax_t size = std::filesystem::file_size(store->wal_path());

    // "Disk full": a file size limit just past the current WAL; the big record only half fits.
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    struct sigaction previous {};
    sigaction(SIGXFSZ, &ignore, &previous);
    rlimit old_limit{};
    getrlimit(RLIMIT_FSIZE, &old_limit);
    rlimit limit = old_limit;
    limit.rlim_cur = size + 100;
    setrlimit(RLIMIT_FSIZE, &limit);
    discovery::Service big = service("shop", "web", 99);
    big.meta.annotations["blob"] = std::string(5000, 'x');
    auto r = store->put(big);
    auto r2 = store->put(service("shop", "other"));
    setrlimit(RLIMIT_FSIZE, &old_limit);
    sigaction(SIGXFSZ, &previous, nullptr);

    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, "io_error");
    EXPECT_EQ(store->version(), 1u);
    EXPECT_EQ(std::get<discovery::Service>(*store->get(ObjectKey{Kind::kService, "shop", "web"}))
                  .ports[0]
                  .port,
              80);
    EXPECT_EQ(std::filesystem::file_size(store->wal_path()), size);  // rolled back
    // The small write fit under the limit (or failed cleanly); either way the store works on.
    if (!r2.ok()) {
      EXPECT_EQ(r2.error().code, "io_error");
    }
    auto r3 = store->put(big);
    ASSERT_TRUE(r3.ok()) << r3.error().to_string();
  }
  auto store = open_ok(dir.path());
  ASSERT_TRUE(store);
  EXPECT_EQ(std::get<discovery::Service>(*store->get(ObjectKey{Kind::kService, "shop", "web"}))
                .ports[0]
                .port,
            99);
}

// ---- Crash simulation --------------------------------------------------------------------------

// The deterministic operation number i (1-based): a put, or every 5th a remove (which may find
// nothing, and then uses no version).
struct Op {
  bool remove;
  ObjectKey key;
  discovery::Service object;
};
Op op(std::uint64_t i) {
  std::string name = "s" + std::to_string(i % 13);
  if (i % 5 == 0) return Op{true, ObjectKey{Kind::kService, "shop", name}, {}};
  discovery::Service s = service("shop", name, static_cast<std::uint16_t>(1 + i % 60000));
  s.meta.labels["op"] = std::to_string(i);
  if (i % 3 == 0) s.meta.annotations["pad"] = std::string(i % 300, 'p');
  return Op{false, ObjectKey{Kind::kService, "shop", name}, s};
}

// The state after operations 1..n, starting from a store at version 0.
std::pair<std::map<ObjectKey, Object>, std::uint64_t> model(std::uint64_t n) {
  std::map<ObjectKey, Object> state;
  std::uint64_t version = 0;
  for (std::uint64_t i = 1; i <= n; ++i) {
    Op o = op(i);
    if (o.remove) {
      if (state.erase(o.key) > 0) ++version;
    } else {
      o.object.meta.version = ++version;
      state[o.key] = o.object;
    }
  }
  return {state, version};
}

[[noreturn]] void child_writer(const std::filesystem::path& dir, std::uint64_t start, int ack_fd) {
  EmbeddedStoreOptions options;
  options.wal_max_records = 40;  // rotate often, so kills land inside rotations too
  auto store = EmbeddedStore::open(dir, options);
  if (!store.ok()) {
    (void)!::write(ack_fd, "E\n", 2);
    ::_exit(1);
  }
  for (std::uint64_t i = start;; ++i) {
    Op o = op(i);
    bool ok = o.remove ? ((*store)->remove(o.key).ok() || true) : (*store)->put(o.object).ok();
    if (!ok) {
      (void)!::write(ack_fd, "E\n", 2);
      ::_exit(1);
    }
    std::string ack = std::to_string(i) + "\n";
    if (::write(ack_fd, ack.data(), ack.size()) != static_cast<ssize_t>(ack.size())) ::_exit(1);
  }
}

TEST(Persistence, CrashAtARandomMomentKeepsEveryAcknowledgedWrite) {
  TempDir dir;
  std::random_device rd;
  std::uint32_t seed = rd();
  std::mt19937 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::uint64_t applied = 0;  // operations durably in the store so far
  for (int round = 0; round < 8; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      child_writer(dir.path(), applied + 1, fds[1]);
    }
    ::close(fds[1]);
    // Let it acknowledge a random number of writes, then kill it wherever it is.
    std::uint64_t want = std::uniform_int_distribution<std::uint64_t>(20, 300)(rng);
    std::uint64_t last_ack = applied;
    std::string buf;
    bool killed = false;
    char chunk[4096];
    while (true) {
      ssize_t n = ::read(fds[0], chunk, sizeof chunk);
      if (n <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = buf.find('\n')) != std::string::npos) {
        std::string line = buf.substr(0, nl);
        buf.erase(0, nl + 1);
        ASSERT_NE(line, "E") << "child failed a write";
        last_ack = std::stoull(line);
      }
      if (!killed && last_ack >= applied + want) {
        ::kill(pid, SIGKILL);
        killed = true;  // keep reading: acks written before the kill are still in the pipe
      }
    }
    ::close(fds[0]);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;

    auto store = open_ok(dir.path());
    ASSERT_TRUE(store);
    auto state = dump(*store);
    // Every acknowledged op is there; the one in flight may or may not be; nothing else.
    bool matched = false;
    for (std::uint64_t n : {last_ack, last_ack + 1}) {
      auto [expected, version] = model(n);
      if (state == expected && store->version() == version) {
        matched = true;
        applied = n;
        break;
      }
    }
    ASSERT_TRUE(matched) << "round " << round
                         << ": state after restart is not the result of ops 1.." << last_ack
                         << " (or one more); store version " << store->version()
                         << ", model version " << model(last_ack).second;
  }
  EXPECT_GT(applied, 80u);
}

}  // namespace
}  // namespace strait::store
