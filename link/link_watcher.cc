// LinkWatcher: credentials, the export stream, repair and probe timers; events go to LinkWriter.
#include "link/link_watcher.h"

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "core/discovery/json_codec.h"
#include "core/log/log.h"
#include "core/tls/trust_bundle.h"
#include "link/resolver.h"

namespace strait::link {
namespace asio = boost::asio;
namespace ev = exports::v1;
using Stream = controlplane::WatchStream<ev::WatchExports, ev::ExportEvent>;

namespace {

const log::Logger kLog("link");

std::int64_t unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

template <typename T>
Result<T> decode(const std::string& json) {
  boost::system::error_code ec;
  auto v = boost::json::parse(json, ec);
  if (ec) return make_error("bad_export", "not JSON: " + ec.message());
  auto o = discovery::object_from_json(v);
  if (!o) return make_error("bad_export", o.error().message);
  if (!std::holds_alternative<T>(*o)) return make_error("bad_export", "unexpected kind");
  return std::get<T>(std::move(*o));
}

google::protobuf::Map<std::string, std::string> to_map(const discovery::Labels& labels) {
  google::protobuf::Map<std::string, std::string> m;
  for (const auto& [k, v] : labels) m[k] = v;
  return m;
}

}  // namespace

LinkWatcher::LinkWatcher(asio::any_io_executor executor, asio::any_io_executor blocking,
                         StoreWorker& store_worker, discovery::Link link, std::string local_cluster,
                         std::filesystem::path credentials_dir, LocalStore& store,
                         FederatedSet* federated, LinkMetrics& metrics, WatcherOptions options)
    : executor_(executor),
      blocking_(blocking),
      store_worker_(store_worker),
      local_cluster_(local_cluster),
      metrics_(metrics),
      options_(options),
      link_(link),
      gateway_addresses_(link.gateway_addresses),
      writer_(LinkWriter::make(
          store_worker, std::move(link), local_cluster, store, federated, metrics,
          {.retry = options.retry, .max_queued_services = options.max_queued_services},
          // On the store thread: only a post back to this watcher's thread.
          [this, ex = executor, alive = alive_] {
            asio::post(ex, [this, alive] {
              if (*alive) resync();
            });
          })),
      credentials_(std::move(credentials_dir), local_cluster),
      probe_(executor, {.on_transition =
                            [this](bool alive) {
                              const auto& target = link_.target_cluster;
                              metrics_.gateway_alive.with({target}).set(alive ? 1 : 0);
                              if (alive) {
                                kLog.info("gateway alive again", {{"target_cluster", target}});
                              } else {
                                kLog.warn("gateway not alive: probes failed past the threshold",
                                          {{"target_cluster", target},
                                           {"failure_threshold", link_.probe.failure_threshold}});
                              }
                              dispatch(GatewayHealthChanged{alive});
                            },
                        .on_probe =
                            [this](const std::string& result, double latency_ms) {
                              const auto& target = link_.target_cluster;
                              metrics_.probes.with({target, result}).inc();
                              auto& st = probe_stats_;
                              st.last_result = result;
                              st.last_unix = unix_seconds(std::chrono::system_clock::now());
                              if (result == "success") {
                                metrics_.probe_latency.with({target}).observe(latency_ms);
                                st.last_success_latency_ms = latency_ms;
                                ++st.successes;
                                st.failures_in_a_row = 0;
                              } else {
                                ++st.failures;
                                ++st.failures_in_a_row;
                              }
                            }}),
      credentials_timer_(executor),
      repair_timer_(executor),
      stale_timer_(executor) {}

LinkWatcher::~LinkWatcher() {
  *alive_ = false;
  stop();
  // The writer's retry timer belongs to the store thread: the last reference is dropped there.
  store_worker_.post([w = std::move(writer_)]() mutable { w.reset(); });
}

void LinkWatcher::start() {
  const auto& link = link_;
  kLog.info("link watcher starting",
            {{"target_cluster", link.target_cluster}, {"export_address", link.export_address}});
  metrics_.gateway_alive.with({link.target_cluster}).set(1);
  metrics_.stream_connected.with({link.target_cluster}).set(0);
  metrics_.last_sync.with({link.target_cluster}).set(0);
  // Not connected yet: what an earlier run mirrored is served as last seen for staleAfter.
  down_since_unix_ = unix_seconds(std::chrono::system_clock::now());
  arm_stale_timer();
  obtain_credentials();
  repair();  // resolves the gateway names now, then every repair period
}

void LinkWatcher::stop() {
  stopped_ = true;
  if (stream_) {
    stream_->close();
    stream_.reset();
  }
  probe_.stop();
  credentials_timer_.cancel();
  repair_timer_.cancel();
  stale_timer_.cancel();
  stale_timer_armed_ = false;
  if (!removed_) writer_->clear_retries();
}

void LinkWatcher::remove() {
  kLog.info("link removed", {{"target_cluster", link_.target_cluster}});
  stop();
  removed_ = true;
  exported_.clear();
  dispatch(LinkRemoved{});
  const std::string& target = link_.target_cluster;
  metrics_.gateway_alive.remove({target});
  metrics_.stream_connected.remove({target});
  metrics_.last_sync.remove({target});
  metrics_.credential_expiry.remove({target});
}

EventQueue::Outcome LinkWatcher::dispatch(LinkEvent event) {
  return writer_->post(std::move(event));
}

void LinkWatcher::update(const discovery::Link& link) {
  const discovery::Link old = link_;
  if (old == link) return;
  const bool trust_changed = old.trust_bundle_pem != link.trust_bundle_pem ||
                             old.identity_address != link.identity_address ||
                             old.target_trust_domain != link.target_trust_domain ||
                             old.link_token != link.link_token;
  const bool stream_changed = old.export_address != link.export_address ||
                              old.selector != link.selector ||
                              old.remote_discovery_selector != link.remote_discovery_selector ||
                              old.federated_selector != link.federated_selector;
  kLog.info("link updated", {{"target_cluster", link.target_cluster}});
  link_ = link;
  if (link.gateway_addresses != old.gateway_addresses) gateway_addresses_ = link.gateway_addresses;
  writer_->post(LinkUpdated{link});
  if (credentials_.valid()) refresh_endpoint();
  if (trust_changed && !credentials_.valid()) {
    credentials_backoff_ = std::chrono::milliseconds(500);
    obtain_credentials();
  } else if (stream_changed && stream_) {
    stream_->close();
    stream_.reset();
    open_stream();
  }
  configure_probe();
}

void LinkWatcher::obtain_credentials() {
  if (stopped_ || fetching_) return;
  fetching_ = true;
  asio::post(blocking_,
             [this, alive = alive_, ex = executor_, dir = credentials_.dir(), link = link_,
              local = local_cluster_, current = credentials_.current_if_valid(),
              timeout = options_.certify_timeout]() mutable {
               // A worker thread: only copies here; `this` is used back on the executor, if still
               // alive.
               auto fetched = LinkCredentials::fetch(dir, link, local, current, timeout);
               asio::post(ex, [this, alive, fetched = std::move(fetched)]() mutable {
                 if (!*alive) return;
                 fetching_ = false;
                 credentials_fetched(std::move(fetched));
               });
             });
}

void LinkWatcher::credentials_fetched(Result<LinkCredentials::Fetched> fetched) {
  if (stopped_) return;
  const auto& link = link_;
  if (!fetched) {
    credentials_error_ = fetched.error().to_string();
    metrics_.credentials.with({link.target_cluster, fetched.error().code}).inc();
    kLog.warn("link credentials not obtained",
              {{"target_cluster", link.target_cluster}, {"error", credentials_error_}});
    schedule_credentials(credentials_backoff_);
    credentials_backoff_ = std::min(credentials_backoff_ * 2, std::chrono::milliseconds(30'000));
    return;
  }
  credentials_.adopt(std::move(*fetched));
  credentials_error_.clear();
  credentials_backoff_ = std::chrono::milliseconds(500);
  metrics_.credentials.with({link.target_cluster, "success"}).inc();
  kLog.info("link credentials ready",
            {{"target_cluster", link.target_cluster},
             {"expires_unix", unix_seconds(credentials_.current().expiry)}});
  credentials_ready();
}

void LinkWatcher::schedule_credentials(std::chrono::milliseconds after) {
  credentials_timer_.expires_after(after);
  credentials_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    obtain_credentials();
  });
}

std::shared_ptr<const LinkWatcher::StreamEndpoint> LinkWatcher::stream_endpoint() const {
  std::lock_guard lock(endpoint_mu_);
  return endpoint_;
}

void LinkWatcher::refresh_endpoint() {
  const auto& l = link_;
  const auto& c = credentials_.current();
  auto e = std::make_shared<StreamEndpoint>(
      StreamEndpoint{l.export_address, {l.trust_bundle_pem, c.cert_chain_pem(), c.key_pem}});
  std::lock_guard lock(endpoint_mu_);
  endpoint_ = std::move(e);
}

void LinkWatcher::credentials_ready() {
  refresh_endpoint();
  metrics_.credential_expiry.with({link_.target_cluster})
      .set(static_cast<double>(unix_seconds(credentials_.current().expiry)));
  configure_probe();
  probe_.start();
  if (!stream_) open_stream();
  auto until = credentials_.renew_at() - std::chrono::system_clock::now();
  schedule_credentials(std::max(std::chrono::duration_cast<std::chrono::milliseconds>(until),
                                std::chrono::milliseconds(1000)));
}

void LinkWatcher::configure_probe() {
  if (!credentials_.valid()) return;
  const auto& link = link_;
  const auto& c = credentials_.current();
  auto leaf = tls::Certificate::from_pem(c.cert_pem);
  auto key = tls::PrivateKey::from_pem(c.key_pem);
  auto chain = tls::Certificate::chain_from_pem(c.cert_chain_pem());
  tls::TrustBundle bundle;
  auto added = bundle.add_pem(link.trust_bundle_pem, link.target_trust_domain);
  if (!leaf || !key || !chain || !added) {
    kLog.warn("cannot build the probe's TLS context", {{"target_cluster", link.target_cluster}});
    return;
  }
  tls::Credentials creds{*leaf, std::vector<tls::Certificate>(chain->begin() + 1, chain->end()),
                         *key};
  auto ctx = tls::make_client_context(&creds, bundle);
  if (!ctx) {
    kLog.warn("cannot build the probe's TLS context",
              {{"target_cluster", link.target_cluster}, {"error", ctx.error().to_string()}});
    return;
  }
  probe_.configure(gateway_addresses_, link.probe, link.gateway_identity, *ctx);
}

void LinkWatcher::open_stream() {
  if (stopped_) return;
  const auto& link = link_;
  ev::WatchExports req;
  *req.mutable_selector() = to_map(link.selector);
  *req.mutable_remote_discovery_selector() = to_map(link.remote_discovery_selector);
  *req.mutable_federated_selector() = to_map(link.federated_selector);
  stream_ = Stream::open(
      executor_, req,
      [this](grpc::ClientContext* ctx, const ev::WatchExports& r,
             bool /*retry: a new channel anyway*/)
          -> std::unique_ptr<grpc::ClientReaderInterface<ev::ExportEvent>> {
        // Runs on the stream's own thread, once per attempt: credentials may have been renewed
        // since the last one.
        auto endpoint = stream_endpoint();
        auto channel = controlplane::make_channel(endpoint->address, endpoint->credentials);
        std::shared_ptr<ev::Export::Stub> stub = ev::Export::NewStub(channel);
        auto reader = stub->Watch(ctx, r);
        return controlplane::keeping<ev::ExportEvent>(
            stub, std::unique_ptr<grpc::ClientReaderInterface<ev::ExportEvent>>(std::move(reader)));
      },
      {.on_message = [this](ev::ExportEvent e) { on_export(std::move(e)); },
       .on_state = [this](bool connected,
                          const grpc::Status& status) { on_stream_state(connected, status); }});
}

void LinkWatcher::on_stream_state(bool connected, const grpc::Status& status) {
  const auto& target = link_.target_cluster;
  const bool was_current = connected_ && synced_since_connect_;
  connected_ = connected;
  synced_since_connect_ = false;
  metrics_.stream_connected.with({target}).set(connected ? 1 : 0);
  if (connected) {
    seen_since_connect_.clear();
    kLog.info("export stream open", {{"target_cluster", target}});
  } else {
    writer_->set_last_error("export stream: " + status.error_message());
    kLog.warn("export stream closed",
              {{"target_cluster", target}, {"status", status.error_message()}});
    if (was_current) {
      mark_synced_now();  // current until this moment
      down_since_unix_ = last_sync_unix_;
    }
    if (down_since_unix_ == 0) down_since_unix_ = unix_seconds(std::chrono::system_clock::now());
    arm_stale_timer();
  }
}

void LinkWatcher::arm_stale_timer() {
  if (stale_ || stale_timer_armed_ || stopped_) return;
  stale_timer_armed_ = true;
  stale_timer_.expires_after(link_.stale_after);
  stale_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive || stopped_) return;
    stale_timer_armed_ = false;
    if (connected_ && synced_since_connect_) return;  // back in time
    stale_ = true;
    kLog.warn("link stale: its mirrors' endpoints are not ready until the export stream is back",
              {{"target_cluster", link_.target_cluster},
               {"down_since_unix", down_since_unix_},
               {"stale_after_ms", link_.stale_after.count()}});
    dispatch(StaleChanged{true, down_since_unix_});
  });
}

void LinkWatcher::fresh() {
  synced_since_connect_ = true;
  down_since_unix_ = 0;
  mark_synced_now();
  if (stale_timer_armed_) {
    stale_timer_.cancel();
    stale_timer_armed_ = false;
  }
  if (stale_) {
    stale_ = false;
    kLog.info("link current again", {{"target_cluster", link_.target_cluster}});
    dispatch(StaleChanged{false, 0});
  }
}

void LinkWatcher::mark_synced_now() {
  last_sync_unix_ = unix_seconds(std::chrono::system_clock::now());
  metrics_.last_sync.with({link_.target_cluster}).set(static_cast<double>(last_sync_unix_));
}

void LinkWatcher::on_export(ev::ExportEvent e) {
  const auto& target = link_.target_cluster;
  if (e.has_exported()) {
    auto svc = decode<discovery::Service>(e.exported().service_json());
    if (!svc) {
      kLog.warn("bad export from target",
                {{"target_cluster", target}, {"error", svc.error().message}});
      return;
    }
    ServiceExported ex;
    ex.remote.service = std::move(*svc);
    for (const auto& j : e.exported().endpoints_json()) {
      auto ep = decode<discovery::Endpoint>(j);
      if (!ep) {
        kLog.warn("bad export from target",
                  {{"target_cluster", target}, {"error", ep.error().message}});
        continue;
      }
      ex.remote.endpoints.push_back(std::move(*ep));
    }
    LinkMirrors::NsName k{ex.remote.service.meta.ns, ex.remote.service.meta.name};
    seen_since_connect_.insert(k);
    exported_.insert(k);
    dispatch(std::move(ex));
  } else if (e.has_unexported()) {
    LinkMirrors::NsName k{e.unexported().namespace_(), e.unexported().name()};
    seen_since_connect_.erase(k);
    unexport(k);
  } else if (e.has_synced()) {
    // After a reconnect the snapshot is the truth: what it lacks was unexported meanwhile.
    std::vector<LinkMirrors::NsName> gone;
    for (const auto& k : exported_) {
      if (!seen_since_connect_.contains(k)) gone.push_back(k);
    }
    for (const auto& k : gone) unexport(k);
    dispatch(Synced{});
    fresh();
  }
  if (synced_since_connect_ && !e.has_synced()) mark_synced_now();
}

void LinkWatcher::unexport(const LinkMirrors::NsName& k) {
  // A dropped unexport keeps the service in exported_: the resync's Synced unexports it again.
  if (dispatch(ServiceUnexported{k.first, k.second}) != EventQueue::Outcome::kDropped) {
    exported_.erase(k);
  }
}

void LinkWatcher::resync() {
  if (stopped_ || !stream_) return;
  kLog.info("reopening the export stream to resync", {{"target_cluster", link_.target_cluster}});
  stream_->close();
  stream_.reset();
  open_stream();
}

void LinkWatcher::schedule_repair() {
  repair_timer_.expires_after(options_.repair_period);
  repair_timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive || stopped_) return;
    repair();
  });
}

void LinkWatcher::repair() {
  asio::post(blocking_, [this, alive = alive_, ex = executor_, names = link_.gateway_addresses,
                         timeout = options_.resolve_timeout]() {
    auto errors = std::make_shared<std::vector<Error>>();
    auto addresses = resolve_gateways(names, timeout, errors.get());
    asio::post(ex, [this, alive, errors, addresses = std::move(addresses)]() mutable {
      if (!*alive || stopped_) return;
      for (const auto& e : *errors) {
        kLog.warn("gateway name not resolved",
                  {{"target_cluster", link_.target_cluster}, {"error", e.to_string()}});
      }
      // A name that resolves to nothing right now keeps the addresses it had.
      if (!addresses.empty()) gateway_addresses_ = addresses;
      dispatch(RepairEndpoints{std::move(addresses)});
      configure_probe();
    });
  });
  schedule_repair();
}

boost::json::object LinkWatcher::status() const {
  const auto& link = link_;
  const LinkSnapshot snap = writer_->snapshot();
  boost::json::object o;
  o["name"] = link.meta.name;
  o["namespace"] = link.meta.ns;
  o["target_cluster"] = link.target_cluster;
  o["export_address"] = link.export_address;
  o["stream_connected"] = connected_;
  o["synced"] = snap.synced;
  o["stale"] = stale_;
  o["stale_after_ms"] = link_.stale_after.count();
  if (down_since_unix_ != 0) o["down_since_unix"] = down_since_unix_;
  if (last_sync_unix_ != 0) o["last_sync_unix"] = last_sync_unix_;
  boost::json::object creds;
  creds["valid"] = credentials_.valid();
  if (credentials_.valid()) {
    const auto& c = credentials_.current();
    creds["identity"] = c.identity;
    creds["expires_unix"] = unix_seconds(c.expiry);
    // For "near expiry" (a share of the lifetime) the reader needs where the lifetime began.
    if (auto leaf = tls::Certificate::from_pem(c.cert_pem)) {
      creds["not_before_unix"] = unix_seconds(leaf->not_before());
    }
    creds["renew_at_unix"] = unix_seconds(credentials_.renew_at());
  }
  creds["error"] = credentials_error_;
  o["credentials"] = std::move(creds);
  boost::json::object gw;
  boost::json::array addrs;
  for (const auto& a : gateway_addresses_) addrs.emplace_back(a);
  gw["addresses"] = std::move(addrs);
  gw["port"] = link.gateway_port;
  gw["identity"] = link.gateway_identity;
  // The probe's view, on time; the mirrors follow it once the store thread has applied it.
  gw["alive"] = probe_.alive();
  gw["mirrors_alive"] = snap.gateway_alive;
  boost::json::object probe;
  const auto& st = probe_stats_;
  probe["port"] = link.probe.port;
  probe["path"] = link.probe.path;
  probe["period_ms"] = link.probe.period.count();
  probe["failure_threshold"] = link.probe.failure_threshold;
  probe["last_result"] = st.last_result;
  if (st.last_unix != 0) probe["last_unix"] = st.last_unix;
  if (st.last_success_latency_ms) probe["last_success_latency_ms"] = *st.last_success_latency_ms;
  probe["successes"] = st.successes;
  probe["failures"] = st.failures;
  probe["failures_in_a_row"] = st.failures_in_a_row;
  gw["probe"] = std::move(probe);
  o["gateway"] = std::move(gw);
  boost::json::array mirrors;
  for (const auto& m : snap.mirrors) {
    boost::json::object j;
    j["namespace"] = m.ns;
    j["name"] = m.name;
    j["service"] = m.service;
    j["mode"] = m.mode;
    j["condition"] = m.condition;
    j["endpoints"] = m.endpoints;
    j["ready_endpoints"] = m.ready_endpoints;
    mirrors.push_back(std::move(j));
  }
  o["mirrors"] = std::move(mirrors);
  o["retries_pending"] = snap.retries_pending;
  o["queued_events"] = snap.queued;
  o["last_error"] = snap.last_error;
  return o;
}

}  // namespace strait::link
