// strait-link: the link service of one cluster. Finds the local controller through its state
// directory, then runs LinkService on one I/O thread with the admin server (/live /ready
// /metrics /links); LinkService's store thread makes every local-store call. Signals are taken by
// the main thread with sigwait.
#include <pthread.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/json.hpp>
#include <csignal>
#include <iostream>
#include <thread>

#include "controlplane/server/state_files.h"
#include "core/admin/admin_server.h"
#include "core/config/config.h"
#include "core/log/log.h"
#include "link/link_service.h"

namespace {

int usage(const std::string& why) {
  std::cerr
      << "strait-link: " << why << "\n"
      << "usage: strait-link --state-dir DIR [--admin.listen 0.0.0.0:9999] [--repair.period 60s]\n"
      << "                   [--links.poll 2s] [--log.level info]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace strait;
  namespace fs = std::filesystem;
  auto cfg = config::Config::from_argv(argc, argv);
  if (!cfg) return usage(cfg.error().message);
  if (auto known = cfg->check_known({"state-dir", "admin", "repair", "links", "log"}); !known) {
    return usage(known.error().message);
  }
  auto dir = cfg->require_string("state-dir");
  if (!dir) return usage("--state-dir is required (the local controller's state directory)");
  auto listen = cfg->get_string("admin.listen", "0.0.0.0:9999");
  auto repair = cfg->get_duration("repair.period", std::chrono::seconds(60));
  auto poll = cfg->get_duration("links.poll", std::chrono::seconds(2));
  auto level = cfg->get_string("log.level", "info");
  if (!listen) return usage(listen.error().message);
  if (!repair) return usage(repair.error().message);
  if (!poll) return usage(poll.error().message);
  if (!level) return usage(level.error().message);
  if (auto l = log::parse_level(*level)) log::set_level(*l);
  log::set_component("link");
  const auto colon = listen->rfind(':');
  if (colon == std::string::npos) return usage("--admin.listen: expected host:port");
  admin::AdminOptions admin_options;
  admin_options.address = listen->substr(0, colon);
  try {
    admin_options.port = static_cast<std::uint16_t>(std::stoul(listen->substr(colon + 1)));
  } catch (...) {
    return usage("--admin.listen: bad port");
  }

  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  // The controller may start after us: wait for it.
  link::StateDirLocalStore store(*dir);
  for (int attempt = 0;; ++attempt) {
    auto r = store.connect();
    if (r) break;
    if (attempt % 10 == 0)
      log::warn("waiting for the local controller", {{"error", r.error().to_string()}});
    timespec ts{0, 0};
    sigset_t pending;
    sigpending(&pending);
    if (sigismember(&pending, SIGTERM) || sigismember(&pending, SIGINT)) return 0;
    ts.tv_nsec = 500'000'000;
    nanosleep(&ts, nullptr);
  }
  log::info("local controller found", {{"cluster", store.cluster()}});

  boost::asio::io_context io;
  metrics::Registry registry;
  admin::AdminServer admin_server(io, registry, admin_options);
  if (auto r = admin_server.start(); !r) {
    log::error("admin server failed to start", {{"error", r.error().to_string()}});
    return 1;
  }
  link::ServiceOptions options;
  options.state_dir = *dir;
  options.poll = *poll;
  options.watcher.repair_period = *repair;
  link::LinkService service(io.get_executor(), store, store.cluster(), options, registry);
  admin_server.set_readiness([&service]() -> Result<void> {
    if (service.ready()) return {};
    return make_error("starting", "the Links have not been read yet");
  });
  admin_server.add_handler(
      boost::beast::http::verb::get, "/links", [&service](const admin::Request&) {
        return admin::Response(200, boost::json::serialize(service.status()) + "\n",
                               "application/json");
      });
  boost::json::object run;
  run["admin"] = admin_options.address + ":" + std::to_string(admin_server.port());
  run["pid"] = static_cast<std::int64_t>(::getpid());
  std::error_code ec;
  fs::create_directories(fs::path(*dir) / "run", ec);
  if (auto r = controlplane::write_file_atomic(fs::path(*dir) / "run" / "strait-link.json",
                                               boost::json::serialize(run) + "\n");
      !r) {
    log::warn("cannot write run/strait-link.json", {{"error", r.error().to_string()}});
  }
  log::info("strait-link listening",
            {{"admin", admin_options.address + ":" + std::to_string(admin_server.port())}});

  boost::asio::post(io, [&service] { service.start(); });
  auto guard = boost::asio::make_work_guard(io);
  std::thread io_thread([&io] { io.run(); });
  int sig = 0;
  sigwait(&set, &sig);
  log::info("signal received, stopping", {{"signal", static_cast<std::int64_t>(sig)}});
  boost::asio::post(io, [&] {
    service.stop();
    admin_server.stop();
    guard.reset();
    io.stop();
  });
  io_thread.join();
  // Writes already queued for the local store get a few seconds; then the store thread stops.
  service.drain(std::chrono::seconds(5));
  return 0;
}
