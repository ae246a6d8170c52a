// Reads the nat table, computes one iptables-restore transaction and runs it (or prints it).
#include "sidecar/init/init.h"

#include <fcntl.h>
#include <sched.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ostream>

#include "core/log/log.h"
#include "sidecar/init/exec.h"
#include "sidecar/init/rules.h"

namespace strait::init {
namespace {

const std::vector<std::string> kSaveCmd = {"iptables-save", "-t", "nat"};
const std::vector<std::string> kRestoreCmd = {"iptables-restore", "-w", "5", "--noflush"};

}  // namespace

Result<void> enter_netns(const std::string& name) {
  std::string path = "/var/run/netns/" + name;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    return make_error("netns_failed", "--netns: cannot open " + path + ": " + std::strerror(errno));
  }
  int rc = ::setns(fd, CLONE_NEWNET);
  int e = errno;
  ::close(fd);
  if (rc != 0) {
    return make_error("netns_failed", "--netns: setns(" + path + "): " + std::strerror(e) +
                                          (e == EPERM ? " (needs CAP_SYS_ADMIN)" : ""));
  }
  return {};
}

Result<std::string> save_nat() {
  auto r = run_checked(kSaveCmd);
  if (!r) return r.error();
  return std::move(r->out);
}

Result<void> apply(const Options& o, std::ostream& dry_run_out) {
  NatState state;
  auto saved = save_nat();
  if (saved) {
    state = parse_nat_state(*saved);
  } else if (o.dry_run) {
    // A dry run is also for people without the privileges to read the table: assume it is empty.
    log::warn("cannot read the nat table; dry run assumes nothing is installed",
              {{"error", saved.error().to_string()}});
  } else {
    return saved.error();
  }

  std::string script = o.uninstall ? uninstall_script(state) : install_script(o, state);
  const char* action = o.uninstall ? "uninstall" : "install";
  if (script.empty()) {
    log::info("nothing to uninstall", {{"netns", o.netns.empty() ? "current" : o.netns}});
    if (o.dry_run) dry_run_out << "# nothing to do: strait rules are not installed\n";
    return {};
  }
  if (o.dry_run) {
    dry_run_out << "# " << format_command(kSaveCmd) << "  (read-only, run to compute the change)\n"
                << format_command(kRestoreCmd) << " <<'EOF'\n"
                << script << "EOF\n";
    return {};
  }
  log::debug("iptables-restore input", {{"script", script}});
  auto r = run_checked(kRestoreCmd, script);
  if (!r) {
    return make_error("iptables_failed", std::string(action) + " failed: " + r.error().message);
  }
  log::info(o.uninstall ? "rules removed" : "rules installed",
            {{"netns", o.netns.empty() ? "current" : o.netns},
             {"outbound_port", o.outbound_port},
             {"inbound_port", o.inbound_port},
             {"admin_port", o.admin_port},
             {"proxy_uid", o.proxy_uid}});
  return {};
}

}  // namespace strait::init
