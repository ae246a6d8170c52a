#!/usr/bin/env python3
"""bench/dns.py: strait-controller's DNS server against NSD, Knot and dnsmasq serving the same zone.

    python3 bench/dns.py [--quick | --smoke] [--out DIR] [--build DIR] [--sizes 1000,10000]
                         [--servers strait,nsd,knot,dnsmasq] [--rounds N] [--duration S]
    sudo bench/run --quick --only dns         (the same, merged into bench/run's results)

For each zone size N (services svc-<i>.ns-<i%20>.svc.cluster.local, A records in 198.19.0.0/16,
one named port "http" each, so an SRV record _http._tcp.<service>) every server is started on
its own loopback address (127.0.60.1..4, port 5300) with the same data, pinned to one core
(taskset -c 1); dnsperf runs on the other (taskset -c 0). Every server's answers are checked
with dig before anything is measured, and every thread of the server is pinned to its core
again (Knot moves its UDP worker to a CPU of its own choosing). Then, in alternation (the order rotates every round):

  max      dnsperf without a rate limit: the queries per second answered (and the CPU time
           per 1,000 queries from the server's /proc/<pid>/stat, every process of its session:
           NSD forks its workers; and from its threads' schedstat). One dnsperf core sends
           ~130-160k q/s: a faster server is client-bound, and "q/s per core" (answers per
           second of server CPU time) is the comparable figure
  @R       dnsperf at a fixed R queries/s with -v (one line per answer with its latency):
           latency percentiles, and CPU per 1,000 queries at the same offered load

The query file is the same for every server: mostly A for existing services, some SRV, some
NXDOMAIN (the search-suffix misses of a pod's ndots:5 resolver). Strait runs without its
per-source response rate limit (dns.rateLimit: 0); the baselines have none either (NSD's RRL
is set to 0). Only loopback addresses are used; everything started is stopped at the end,
also on failure or Ctrl-C. Writes results.json and results.md into --out.
"""
import argparse
import datetime
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOMAIN = "cluster.local"
PORT = 5300
ADDRS = {"strait": "127.0.60.1", "nsd": "127.0.60.2", "knot": "127.0.60.3",
         "dnsmasq": "127.0.60.4"}
SERVERS = ["strait", "nsd", "knot", "dnsmasq"]
NAMESPACES = 20
TTL = 5
# The query mix (fractions of the query file): identical for every server.
MIX = {"A": 0.75, "SRV": 0.10, "NXDOMAIN": 0.15}
QUERY_LINES = 50_000

PROFILES = {
    "smoke": dict(sizes=[100], rounds=1, warmup=0.3, duration=0.5, rates=[1000],
                  clients=4, outstanding=200),
    "quick": dict(sizes=[1000, 10000], rounds=1, warmup=1, duration=3, rates=[10000],
                  clients=4, outstanding=200),
    "full": dict(sizes=[1000, 10000], rounds=3, warmup=2, duration=10, rates=[10000, 40000],
                 clients=4, outstanding=200),
}


def log(msg):
    print(f"[dns {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Failed(Exception):
    pass


class Skipped(Exception):
    pass


def sh(argv, timeout=60, check=True, **kw):
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=timeout, **kw)
    if check and r.returncode != 0:
        raise Failed(f"{' '.join(argv)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


# ---------------------------------------------------------------------------------------------
# The zone: names, addresses, queries
# ---------------------------------------------------------------------------------------------

def service(i):
    """(name, namespace, fqdn, cluster IP) of service i: 198.19.<1 + i/250>.<1 + i%250>."""
    ns = f"ns-{i % NAMESPACES}"
    name = f"svc-{i}"
    return name, ns, f"{name}.{ns}.svc.{DOMAIN}", f"198.19.{1 + i // 250}.{1 + i % 250}"


def srv_name(fqdn):
    return f"_http._tcp.{fqdn}"


def nx_name(i, rng):
    """A name that does not exist: a service's FQDN (written without the final dot, so fewer
    than 5 dots) with one of the search suffixes of a pod in some namespace appended."""
    fqdn = service(i)[2]
    suffix = rng.choice([f"ns-{rng.randrange(NAMESPACES)}.svc.{DOMAIN}", f"svc.{DOMAIN}", DOMAIN])
    return f"{fqdn}.{suffix}"


def query_file(path, n, seed=1):
    """QUERY_LINES dnsperf lines ("name type") in the MIX, for a zone of n services."""
    rng = random.Random(seed)
    counts = {"A": 0, "SRV": 0, "NXDOMAIN": 0}
    with open(path, "w") as f:
        for _ in range(QUERY_LINES):
            x = rng.random()
            i = rng.randrange(n)
            if x < MIX["A"]:
                f.write(f"{service(i)[2]} A\n")
                counts["A"] += 1
            elif x < MIX["A"] + MIX["SRV"]:
                f.write(f"{srv_name(service(i)[2])} SRV\n")
                counts["SRV"] += 1
            else:
                f.write(f"{nx_name(i, rng)} A\n")
                counts["NXDOMAIN"] += 1
    return counts


def checks(n):
    """(name, type, expected rcode, expected answer lines) for dig before measuring."""
    rng = random.Random(7)
    picks = sorted({0, n - 1, n // 2, *(rng.randrange(n) for _ in range(5))})
    out = []
    for i in picks:
        _, _, fqdn, ip = service(i)
        out.append((fqdn, "A", "NOERROR", [f"{fqdn}. {TTL} IN A {ip}"]))
        out.append((srv_name(fqdn), "SRV", "NOERROR",
                    [f"{srv_name(fqdn)}. {TTL} IN SRV 0 100 80 {fqdn}."]))
        out.append((nx_name(i, rng), "A", "NXDOMAIN", []))
    out.append((f"svc-{n}.ns-{n % NAMESPACES}.svc.{DOMAIN}", "A", "NXDOMAIN", []))  # one past
    return out


def zone_text(n):
    lines = [f"$ORIGIN {DOMAIN}.", f"$TTL {TTL}",
             f"@ IN SOA ns.dns.{DOMAIN}. hostmaster.{DOMAIN}. 1 3600 600 86400 {TTL}",
             f"@ IN NS ns.dns.{DOMAIN}.",
             "ns.dns IN A 198.19.255.254"]
    for i in range(n):
        _, _, fqdn, ip = service(i)
        rel = fqdn[:-len(DOMAIN) - 1]
        lines.append(f"{rel} IN A {ip}")
        lines.append(f"_http._tcp.{rel} IN SRV 0 100 80 {fqdn}.")
    return "\n".join(lines) + "\n"


def manifests(n, first=0):
    docs = []
    for i in range(first, n):
        name, ns, _, ip = service(i)
        docs.append("apiVersion: strait.dev/v1alpha1\nkind: Service\n"
                    f"metadata: {{name: {name}, namespace: {ns}}}\n"
                    f"spec:\n  clusterIP: {ip}\n"
                    "  ports: [{name: http, port: 80, targetPort: 8080, protocol: http1}]\n")
    return "---\n".join(docs)


# ---------------------------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------------------------

def session_stat(sid):
    """Summed over every live process of session sid (the server and the processes it forked:
    each server is started as the leader of a new session): cpu, utime+stime seconds from
    /proc/<pid>/stat (10 ms ticks); sched, the on-CPU time of every thread from
    /proc/<pid>/task/*/schedstat (ns); rss and pss, kB (pss divides shared pages among the
    processes: NSD's forks share most of theirs). None when the session is gone."""
    tck = os.sysconf("SC_CLK_TCK")
    out = dict(cpu=0.0, sched=0.0, rss=0, pss=0)
    found = False
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            # fields[0] is the state (field 3): the session is field 6, utime/stime 14/15
            if int(fields[3]) != sid:
                continue
            out["cpu"] += (int(fields[11]) + int(fields[12])) / tck
            out["rss"] += int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
            found = True
            for t in os.listdir(f"/proc/{d}/task"):
                with open(f"/proc/{d}/task/{t}/schedstat") as f:
                    out["sched"] += int(f.read().split()[0]) / 1e9
            with open(f"/proc/{d}/smaps_rollup") as f:
                out["pss"] += next(int(l.split()[1]) for l in f if l.startswith("Pss:"))
        except (OSError, IndexError, ValueError, StopIteration):
            continue
    return out if found else None


class Server:
    """One DNS server process (a session of its own), started by a subclass's start()."""

    def __init__(self, name, work, cpu):
        self.name, self.cpu = name, cpu
        self.work = os.path.join(work, name)
        os.makedirs(self.work, exist_ok=True)
        self.addr, self.port = ADDRS[name], PORT
        self.proc = None
        self.version = ""
        self.notes = []

    def spawn(self, argv):
        logf = open(os.path.join(self.work, "server.log"), "ab")
        pin = ["taskset", "-c", str(self.cpu)] if self.cpu is not None else []
        self.proc = subprocess.Popen(pin + argv, stdout=logf, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        logf.close()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines=20):
        try:
            with open(os.path.join(self.work, "server.log"), errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    def stat(self):
        return session_stat(self.proc.pid) if self.alive() else None

    def threads(self):
        """Every thread id of every process of the server's session."""
        tids = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    if int(f.read().rsplit(")", 1)[1].split()[3]) != self.proc.pid:
                        continue
                tids += [int(t) for t in os.listdir(f"/proc/{d}/task")]
            except (OSError, IndexError, ValueError):
                continue
        return tids

    def pin(self):
        """Pin every thread to self.cpu again: Knot moves its UDP worker i to CPU i itself (the
        worker ran on the client's core), whatever taskset gave the process. Returns how many
        threads had been elsewhere."""
        if self.cpu is None:
            return 0
        moved = 0
        for tid in self.threads():
            try:
                if os.sched_getaffinity(tid) != {self.cpu}:
                    moved += 1
                    os.sched_setaffinity(tid, {self.cpu})
            except OSError:
                continue
        return moved

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            for sig, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
                try:
                    os.killpg(self.proc.pid, sig)  # the session we started: the server's own
                except ProcessLookupError:
                    break
                try:
                    self.proc.wait(wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        # NSD's workers may outlive the leader for a moment: their session is ours alone.
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc = None


class Nsd(Server):
    def start(self, n):
        self.version = sh(["nsd", "-v"], check=False).stderr.splitlines()[0].strip()
        zone = os.path.join(self.work, "cluster.local.zone")
        with open(zone, "w") as f:
            f.write(zone_text(n))
        w = self.work
        conf = os.path.join(w, "nsd.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
  ip-address: {self.addr}@{self.port}
  port: {self.port}
  do-ip6: no
  server-count: 1
  username: ""
  chroot: ""
  zonesdir: "{w}"
  database: ""
  zonelistfile: "{w}/zone.list"
  xfrdfile: "{w}/xfrd.state"
  xfrdir: "{w}"
  pidfile: "{w}/nsd.pid"
  logfile: "{w}/nsd.log"
  verbosity: 0
  hide-version: yes
  minimal-responses: yes
  rrl-ratelimit: 0
  rrl-whitelist-ratelimit: 0
remote-control:
  control-enable: no
zone:
  name: {DOMAIN}
  zonefile: "{zone}"
""")
        sh(["nsd-checkconf", conf])
        sh(["nsd-checkzone", DOMAIN, zone], timeout=120)
        self.spawn(["nsd", "-d", "-c", conf])


class Knot(Server):
    def start(self, n):
        self.version = sh(["knotd", "-V"], check=False).stdout.strip()
        w = self.work
        with open(os.path.join(w, "cluster.local.zone"), "w") as f:
            f.write(zone_text(n))
        os.makedirs(os.path.join(w, "db"), exist_ok=True)
        conf = os.path.join(w, "knot.conf")
        with open(conf, "w") as f:
            f.write(f"""server:
    rundir: "{w}"
    listen: {self.addr}@{self.port}
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
database:
    storage: "{w}/db"
control:
    listen: "{w}/knot.sock"
log:
  - target: stderr
    any: warning
template:
  - id: default
    storage: "{w}"
    journal-content: none
    zonefile-sync: -1
    semantic-checks: off
zone:
  - domain: {DOMAIN}
    file: "cluster.local.zone"
""")
        sh(["knotc", "-c", conf, "conf-check"])
        self.spawn(["knotd", "-c", conf])


class Dnsmasq(Server):
    def start(self, n):
        self.version = sh(["dnsmasq", "-v"], check=False).stdout.splitlines()[0].strip()
        conf = os.path.join(self.work, "dnsmasq.conf")
        with open(conf, "w") as f:
            f.write(f"port={self.port}\nlisten-address={self.addr}\nbind-interfaces\n"
                    f"no-resolv\nno-hosts\nno-poll\nlocal=/{DOMAIN}/\nlocal-ttl={TTL}\n"
                    f"neg-ttl={TTL}\nuser=root\n")
            for i in range(n):
                _, _, fqdn, ip = service(i)
                f.write(f"host-record={fqdn},{ip}\n")
                f.write(f"srv-host={srv_name(fqdn)},{fqdn},80,0,100\n")
        self.spawn(["dnsmasq", "-k", "-C", conf, "--pid-file=", "--log-facility=-"])
        self.notes.append("no SOA with NXDOMAIN (--local, not an authoritative zone)")


class Strait(Server):
    """strait-controller with its DNS listener on 127.0.60.1:5300, the services applied through
    straitctl. Skips (Skipped) when the controller has no DNS server yet."""

    def __init__(self, name, work, cpu, build):
        super().__init__(name, work, cpu)
        self.build = build
        self.controller = os.path.join(build, "controlplane", "strait-controller")
        self.ctl = os.path.join(build, "cli", "straitctl")
        self.state = os.path.join(self.work, "state")

    def straitctl(self, *args, timeout=120):
        return sh([self.ctl, *args, "--state-dir", self.state], timeout=timeout)

    def start(self, n):
        for b in (self.controller, self.ctl):
            if not os.access(b, os.X_OK):
                raise Skipped(f"{b} not built")
        with open(self.controller, "rb") as f:
            if b"dns-version" not in f.read():
                raise Skipped("this strait-controller has no DNS server yet (no dns-version "
                              "in the binary)")
        self.version = "strait-controller " + (sh(["git", "-C", ROOT, "rev-parse", "--short",
                                                   "HEAD"], check=False).stdout.strip() or "?")
        shutil.rmtree(self.state, ignore_errors=True)
        listen = f"{self.addr}:{self.port}"
        base = ["install", "--cluster-name", "bench", "--trust-domain", "bench.strait",
                "--domain", DOMAIN, "--identity-listen", "127.0.0.1:0",
                "--destination-listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0",
                "--export-listen", "127.0.0.1:0", "--service-cidr", "198.19.0.0/16"]
        r = sh([self.ctl, *base, "--dns-listen", listen, "--state-dir", self.state],
               check=False)
        if r.returncode != 0:
            if "dns-listen" not in r.stdout + r.stderr:
                raise Failed(f"straitctl install failed:\n{r.stdout}{r.stderr}")
            self.notes.append("straitctl install has no --dns-listen: listen.dns written into "
                              "controller.yaml by the benchmark")
            shutil.rmtree(self.state, ignore_errors=True)
            self.straitctl(*base)
        self.edit_config(listen)
        self.spawn([self.controller, "--config", os.path.join(self.state, "controller.yaml")])
        ep = self.endpoints()
        if "dns" not in ep:
            raise Skipped("strait-controller started but its run/endpoints.json has no \"dns\" "
                          f"(keys: {', '.join(sorted(ep))}): no DNS listener")
        dns = ep["dns"][0] if isinstance(ep["dns"], list) else ep["dns"]
        host, _, port = str(dns).rpartition(":")
        if host.strip("[]") != self.addr or int(port) != self.port:
            self.notes.append(f"endpoints.json dns is {dns}, asked for {listen}")
            self.addr, self.port = host.strip("[]"), int(port)
        self.admin = ep.get("admin")
        self.apply(n)

    def edit_config(self, listen):
        """listen.dns (unless straitctl install wrote it) and dns.rateLimit: 0."""
        import yaml  # python3-yaml; only the Strait leg needs it
        path = os.path.join(self.state, "controller.yaml")
        with open(path) as f:
            text = f.read()
        cfg = yaml.safe_load(text) or {}
        if "dns" not in (cfg.get("listen") or {}):
            text = re.sub(r"(?m)^listen:\n", f'listen:\n  dns: "{listen}"\n', text, count=1)
        if "dns" in cfg and isinstance(cfg["dns"], dict):
            cfg_dns = cfg["dns"]
            if "rateLimit" in cfg_dns:
                text = re.sub(r"(?m)^(  rateLimit:).*$", r"\1 0", text, count=1)
            else:
                text = re.sub(r"(?m)^dns:\n", "dns:\n  rateLimit: 0\n", text, count=1)
        else:
            text += "dns:\n  rateLimit: 0   # the benchmark: no per-source response rate limit\n"
        with open(path, "w") as f:
            f.write(text)
        try:
            check = yaml.safe_load(text) or {}
        except yaml.YAMLError:
            check = {}
        if (check.get("listen") or {}).get("dns") is None or \
                (check.get("dns") or {}).get("rateLimit") != 0:
            # the text edits missed (another layout): write the parsed configuration back
            cfg.setdefault("listen", {}).setdefault("dns", listen)
            cfg["dns"] = dict(cfg.get("dns") or {}, rateLimit=0)
            with open(path, "w") as f:
                yaml.safe_dump(cfg, f, sort_keys=False)

    def endpoints(self, deadline=30):
        path = os.path.join(self.state, "run", "endpoints.json")
        until = time.time() + deadline
        while time.time() < until:
            if not self.alive():
                raise Failed("strait-controller exited:\n" + self.log_tail())
            try:
                with open(path) as f:
                    ep = json.load(f)
                if ep.get("pid") == self.proc.pid and "admin" in ep:
                    time.sleep(0.3)  # the DNS listener may be written a moment later
                    with open(path) as f:
                        return json.load(f)
            except (OSError, ValueError):
                pass
            time.sleep(0.1)
        raise Failed(f"strait-controller wrote no {path} within {deadline} s:\n" + self.log_tail())

    def service_count(self):
        """store_objects{kind="Service"} from the admin port's /metrics, None if unreadable."""
        if not self.admin:
            return None
        try:
            with urllib.request.urlopen(f"http://{self.admin}/metrics", timeout=5) as r:
                text = r.read().decode()
        except (OSError, ValueError):
            return None
        m = re.search(r'^store_objects\{kind="Service"\}\s+(\S+)', text, re.M)
        return int(float(m.group(1))) if m else None

    def apply(self, n, batch=1000):
        t0 = time.time()
        self.apply_batches_s = []
        for first in range(0, n, batch):
            path = os.path.join(self.work, f"services-{first}.yaml")
            with open(path, "w") as f:
                f.write(manifests(min(n, first + batch), first))
            t = time.time()
            self.straitctl("apply", "-f", path, timeout=600)
            self.apply_batches_s.append(round(time.time() - t, 2))
        self.apply_s = round(time.time() - t0, 2)
        count = self.service_count()
        log(f"strait: {n} services applied in {self.apply_s} s (store_objects Service: "
            f"{count if count is not None else 'unread'})")
        if count is not None and count < n:
            raise Failed(f"strait: the store has {count} services, {n} applied")


# ---------------------------------------------------------------------------------------------
# dig and dnsperf
# ---------------------------------------------------------------------------------------------

def dig(addr, port, name, qtype):
    """(rcode, answer lines normalised, additional count, authority count, response bytes)."""
    r = sh(["dig", "+norec", "+noedns", "+tries=1", "+time=2", f"@{addr}", "-p", str(port),
            name, qtype], check=False, timeout=10)
    out = r.stdout
    m = re.search(r"status: (\w+)", out)
    rcode = m.group(1) if m else ("TIMEOUT" if r.returncode else "?")
    counts = re.search(r"ANSWER: (\d+), AUTHORITY: (\d+), ADDITIONAL: (\d+)", out)
    size = re.search(r"MSG SIZE\s+rcvd: (\d+)", out)
    answers, section = [], None
    for line in out.splitlines():
        if line.startswith(";; ANSWER SECTION"):
            section = "answer"
        elif line.startswith(";") or not line.strip():
            section = None
        elif section == "answer":
            answers.append(" ".join(line.split()).lower())
    return (rcode, sorted(answers), int(counts.group(2)) if counts else None,
            int(counts.group(3)) if counts else None, int(size.group(1)) if size else None)


def verify(server, n, deadline=60):
    """Every check answered as expected (polls until the zone is loaded). Returns response sizes
    and section counts by query kind, for the report."""
    cks = checks(n)
    until = time.time() + deadline
    last = None
    while True:
        if not server.alive():
            raise Failed(f"{server.name} exited:\n" + server.log_tail())
        bad, info = [], {}
        for name, qtype, rcode, answers in cks:
            got = dig(server.addr, server.port, name, qtype)
            kind = "NXDOMAIN" if rcode == "NXDOMAIN" else qtype
            info.setdefault(kind, dict(bytes=got[4], authority=got[2], additional=got[3]))
            if got[0] != rcode or got[1] != [x.lower() for x in answers]:
                bad.append(f"{name} {qtype}: got {got[0]} {got[1]}, want {rcode} {answers}")
        if not bad:
            return info
        last = bad
        if time.time() > until:
            raise Failed(f"{server.name} answers wrong ({len(bad)} of {len(cks)}):\n  " +
                         "\n  ".join(bad[:8]))
        time.sleep(0.5)


def dnsperf(server, qfile, seconds, client_cpu, p, rate=None, verbose=False):
    """One dnsperf run against server: its summary, latency percentiles (verbose), the server's
    CPU seconds and the client's own CPU share of the run."""
    argv = (["taskset", "-c", str(client_cpu)] if client_cpu is not None else []) + [
        "dnsperf", "-s", server.addr, "-p", str(server.port), "-d", qfile, "-l", str(seconds),
        "-c", str(p["clients"]), "-q", str(p["outstanding"] if rate is None else 2000),
        "-t", "2"]
    if rate:
        argv += ["-Q", str(rate)]
    if verbose:
        argv += ["-v"]
    st0 = server.stat()
    c0 = client_usage()
    k0 = core_times()
    t0 = time.time()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=seconds + 30)
    except BaseException as e:  # a timeout, or Ctrl-C / SIGTERM: dnsperf goes too
        proc.kill()
        proc.communicate()
        if isinstance(e, subprocess.TimeoutExpired):
            raise Failed(f"dnsperf against {server.name} did not stop") from e
        raise
    wall = time.time() - t0
    st1 = server.stat()
    client = client_usage() - c0
    k1 = core_times()
    if proc.returncode != 0:
        raise Failed(f"dnsperf against {server.name} exited {proc.returncode}:\n{err[-2000:]}")
    res = parse_dnsperf(out)
    res["wall_s"] = round(wall, 3)
    busy = core_busy(k0, k1, res.get("run_time_s") or wall)
    if st0 is None or st1 is None:
        raise Failed(f"{server.name} exited during the run:\n" + server.log_tail())
    cpu, sched = st1["cpu"] - st0["cpu"], st1["sched"] - st0["sched"]
    res.update(server_cpu_s=round(cpu, 3), server_sched_s=round(sched, 4),
               server_rss_kb=st1["rss"], server_pss_kb=st1["pss"],
               client_cpu_s=round(client, 3), client_cpu_util=round(client / wall, 3),
               core_busy=busy,
               server_core_busy=busy.get(server.cpu), client_core_busy=busy.get(client_cpu))
    done = res.get("completed") or 0
    # from /proc/<pid>/stat (the figure asked for), and the same from schedstat (ns, precise)
    res["cpu_ms_per_1k"] = round(cpu * 1e6 / done, 3) if done else None
    res["sched_ms_per_1k"] = round(sched * 1e6 / done, 4) if done else None
    # answers per second of server CPU: what one saturated core would answer
    res["qps_per_core"] = round(done / sched) if done and sched > 0 else None
    rt = res.get("run_time_s")
    res["server_cpu_util"] = round(sched / rt, 3) if rt else None
    return res


def dnsperf_version():
    r = sh(["dnsperf", "-h"], check=False)
    m = re.search(r"Version (\S+)", r.stdout + r.stderr)
    return "dnsperf " + (m.group(1) if m else "?")


def core_times():
    """{cpu: (busy, all)} jiffies from /proc/stat: busy counts irq and softirq, which the
    loopback's packet processing is partly charged to instead of the processes."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *v = line.split()
                v = [int(x) for x in v]
                idle = v[3] + v[4]  # idle + iowait
                out[int(name[3:])] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def core_busy(t0, t1, seconds):
    """Each core's busy share of `seconds` (dnsperf's run time: after it, dnsperf only waits
    out the timeout of lost queries, an idle tail that would dilute the share)."""
    ticks = max(1.0, seconds * os.sysconf("SC_CLK_TCK"))
    return {c: round(min(1.0, (t1[c][0] - t0[c][0]) / ticks), 3) for c in t1 if c in t0}


def client_usage():
    """Children's CPU seconds so far (dnsperf's own CPU, reaped)."""
    r = os.times()
    return r.children_user + r.children_system


def parse_dnsperf(out):
    def num(pattern, cast=float):
        m = re.search(pattern, out)
        return cast(m.group(1)) if m else None
    res = dict(sent=num(r"Queries sent:\s+(\d+)", int),
               completed=num(r"Queries completed:\s+(\d+)", int),
               lost=num(r"Queries lost:\s+(\d+)", int),
               run_time_s=num(r"Run time \(s\):\s+([\d.]+)"),
               qps=num(r"Queries per second:\s+([\d.]+)"),
               avg_latency_ms=None, min_latency_ms=None, max_latency_ms=None,
               stddev_latency_ms=None,
               response_bytes=num(r"Average packet size:.*response (\d+)", int))
    m = re.search(r"Average Latency \(s\):\s+([\d.]+) \(min ([\d.]+), max ([\d.]+)\)", out)
    if m:
        res["avg_latency_ms"], res["min_latency_ms"], res["max_latency_ms"] = (
            round(float(x) * 1000, 4) for x in m.groups())
    sd = num(r"Latency StdDev \(s\):\s+([\d.]+)")
    res["stddev_latency_ms"] = round(sd * 1000, 4) if sd is not None else None
    m = re.search(r"Response codes:\s+(.*)", out)
    res["rcodes"] = {k: int(v) for k, v in re.findall(r"(\w+) (\d+) \(", m.group(1))} if m else {}
    lat = sorted(float(x) for x in re.findall(r"^> \w+ \S+ \S+ ([\d.]+)$", out, re.M))
    if lat:
        def at(q):
            return round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 4)
        res["latency_ms"] = dict(p50=at(0.50), p90=at(0.90), p99=at(0.99), p999=at(0.999),
                                 max=round(lat[-1] * 1000, 4), count=len(lat))
    return res


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------

def wait_idle(server, deadline=30, window=0.5, share=0.05):
    """Seconds until the server uses under `share` of a core over `window` s (Knot loads its
    zone in the background, the controller indexes what was applied), at most `deadline`."""
    t0 = time.time()
    last = server.stat()
    while time.time() - t0 < deadline:
        time.sleep(window)
        now = server.stat()
        if now is None or last is None:
            raise Failed(f"{server.name} exited:\n" + server.log_tail())
        if now["sched"] - last["sched"] < share * window:
            return round(time.time() - t0, 2)
        last = now
    log(f"{server.name}: still busy after {deadline} s, measuring anyway")
    return None


def make_server(name, work, cpu, build):
    cls = {"nsd": Nsd, "knot": Knot, "dnsmasq": Dnsmasq}.get(name)
    return Strait(name, work, cpu, build) if name == "strait" else cls(name, work, cpu)


def measure_size(n, names, p, work, build, cpus):
    server_cpu, client_cpu = cpus
    qfile = os.path.join(work, f"queries-{n}.txt")
    counts = query_file(qfile, n)
    out = dict(services=n, query_file=dict(lines=QUERY_LINES, **counts), servers={},
               skipped={}, notes={})
    servers = {}
    try:
        for name in names:
            s = make_server(name, os.path.join(work, f"n{n}"), server_cpu, build)
            t0 = time.time()
            try:
                s.start(n)
                info = verify(s, n)
            except Skipped as e:
                log(f"{name}: SKIPPED: {e}")
                out["skipped"][name] = str(e)
                s.stop()
                continue
            except Failed:
                s.stop()
                raise
            servers[name] = s
            out["servers"][name] = dict(version=s.version, address=f"{s.addr}:{s.port}",
                                        ready_s=round(time.time() - t0, 2), responses=info,
                                        idle_pss_kb=(s.stat() or {}).get("pss"),
                                        max=[], fixed={})
            if name == "strait":
                out["servers"][name].update(apply_s=getattr(s, "apply_s", None),
                                            apply_batches_s=getattr(s, "apply_batches_s", None))
            out["servers"][name]["settle_s"] = wait_idle(s)
            moved = s.pin()
            if moved:
                s.notes.append(f"{moved} thread(s) had set their own CPU affinity: pinned back "
                               f"to CPU {s.cpu}")
            if s.notes:
                out["notes"][name] = s.notes
            log(f"{name}: {s.version}, {n} services, answers checked "
                f"({out['servers'][name]['ready_s']} s)")
        order = list(servers)
        for rnd in range(p["rounds"]):
            rot = order[rnd % len(order):] + order[:rnd % len(order)] if order else []
            for name in rot:
                s, rec = servers[name], out["servers"][name]
                dnsperf(s, qfile, p["warmup"], client_cpu, p)  # warm-up, not kept
                r = dnsperf(s, qfile, p["duration"], client_cpu, p)
                rec["max"].append(r)
                log(f"n={n} round {rnd + 1} {name}: max {r['qps']:,.0f} q/s, "
                    f"{r['sched_ms_per_1k']} ms CPU/1k, server CPU {r['server_cpu_util']}, "
                    f"cores busy {r['core_busy']}, lost {r['lost']}")
                for rate in p["rates"]:
                    r = dnsperf(s, qfile, p["duration"], client_cpu, p, rate=rate, verbose=True)
                    rec["fixed"].setdefault(str(rate), []).append(r)
                    lat = r.get("latency_ms", {})
                    log(f"n={n} round {rnd + 1} {name}: @{rate}/s {r['qps']:,.0f} q/s, p50 "
                        f"{lat.get('p50')} p99 {lat.get('p99')} ms, "
                        f"{r['sched_ms_per_1k']} ms CPU/1k, "
                        f"lost {r['lost']}")
        for name, s in servers.items():
            if s.pin():  # a thread started during the run with an affinity of its own
                out["notes"].setdefault(name, []).append("a thread left CPU "
                                                         f"{s.cpu} during the run")
            st = s.stat() or {}
            out["servers"][name].update(rss_kb_end=st.get("rss"), pss_kb_end=st.get("pss"))
    finally:
        for s in servers.values():
            s.stop()
    out["aggregate"] = aggregate(out)
    return out


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def aggregate(size):
    agg = {}
    for name, rec in size["servers"].items():
        a = dict(qps_max=med([r["qps"] for r in rec["max"]]),
                 cpu_ms_per_1k_max=med([r["cpu_ms_per_1k"] for r in rec["max"]]),
                 avg_latency_ms_max=med([r["avg_latency_ms"] for r in rec["max"]]),
                 client_cpu_util_max=med([r.get("client_cpu_util") for r in rec["max"]]),
                 server_cpu_util_max=med([r.get("server_cpu_util") for r in rec["max"]]),
                 server_core_busy_max=med([r.get("server_core_busy") for r in rec["max"]]),
                 client_core_busy_max=med([r.get("client_core_busy") for r in rec["max"]]),
                 lost_max=sum(r["lost"] or 0 for r in rec["max"]),
                 sched_ms_per_1k_max=med([r["sched_ms_per_1k"] for r in rec["max"]]),
                 qps_per_core=med([r["qps_per_core"] for r in rec["max"]]),
                 rss_kb=rec.get("rss_kb_end"), pss_kb=rec.get("pss_kb_end"), fixed={})
        for rate, runs in rec["fixed"].items():
            lat = [r.get("latency_ms", {}) for r in runs]
            a["fixed"][rate] = dict(
                qps=med([r["qps"] for r in runs]),
                cpu_ms_per_1k=med([r["cpu_ms_per_1k"] for r in runs]),
                sched_ms_per_1k=med([r["sched_ms_per_1k"] for r in runs]),
                lost=sum(r["lost"] or 0 for r in runs),
                avg_ms=med([r["avg_latency_ms"] for r in runs]),
                stddev_ms=med([r["stddev_latency_ms"] for r in runs]),
                **{k: med([x.get(k) for x in lat]) for k in ("p50", "p90", "p99", "p999", "max")})
        rc = {}
        for r in rec["max"]:
            for k, v in r["rcodes"].items():
                rc[k] = rc.get(k, 0) + v
        total = sum(rc.values()) or 1
        a["rcode_share"] = {k: round(v / total, 4) for k, v in rc.items()}
        agg[name] = a
    for base in ("nsd", "dnsmasq"):
        for name, a in agg.items():
            b = agg.get(base)
            a[f"qps_vs_{base}"] = (round(a["qps_max"] / b["qps_max"], 3)
                                   if b and a["qps_max"] and b["qps_max"] else None)
            a[f"core_vs_{base}"] = (round(a["qps_per_core"] / b["qps_per_core"], 3)
                                    if b and a["qps_per_core"] and b["qps_per_core"] else None)
            a[f"cpu_vs_{base}"] = {}
            for rate in a["fixed"]:
                x = a["fixed"][rate]["sched_ms_per_1k"]
                y = b and b["fixed"].get(rate, {}).get("sched_ms_per_1k")
                a[f"cpu_vs_{base}"][rate] = round(x / y, 3) if x and y else None
    return agg


def run(profile="quick", build=None, work=None, names=None, sizes=None, rounds=None,
        duration=None, cpus=None):
    """The DNS benchmark: the "dns" section of bench/run's results (a JSON-able dict)."""
    p = dict(PROFILES[profile])
    if sizes:
        p["sizes"] = sizes
    if rounds:
        p["rounds"] = rounds
    if duration:
        p["duration"] = duration
    build = os.path.abspath(build or os.path.join(ROOT, "build", "release"))
    names = names or SERVERS
    for tool in ["dnsperf", "dig", "taskset"] + [{"nsd": "nsd", "knot": "knotd",
                                                    "dnsmasq": "dnsmasq"}[n]
                                                   for n in names if n != "strait"]:
        if not shutil.which(tool):
            raise Failed(f"{tool} not found: run scripts/install-deps.sh")
    if cpus is None:
        cpus = (1, 0) if (os.cpu_count() or 1) >= 2 else (None, None)
    res = dict(settings=dict(profile=profile, **p, mix=MIX, query_lines=QUERY_LINES,
                             domain=DOMAIN, ttl=TTL, port=PORT, server_cpu=cpus[0],
                             client_cpu=cpus[1], strait_rate_limit=0,
                             dnsperf=dnsperf_version()),
               sizes={})
    own_work = work is None
    work = work or tempfile.mkdtemp(prefix="strait-bench-dns-")
    os.makedirs(work, exist_ok=True)
    os.chmod(work, 0o755)
    try:
        for n in p["sizes"]:
            log(f"{n} services: {', '.join(names)}")
            res["sizes"][str(n)] = measure_size(n, names, p, work, build, cpus)
    finally:
        if own_work:
            shutil.rmtree(work, ignore_errors=True)
    return res


# ---------------------------------------------------------------------------------------------
# Markdown
# ---------------------------------------------------------------------------------------------

def fmt(v, digits=0):
    if v is None:
        return "–"
    return f"{v:,.{digits}f}"


def rat(v):
    return "–" if v is None else f"{v:.2f}x"


def markdown(res):
    """The "## DNS" section (a list of lines)."""
    p = res["settings"]
    mix = ", ".join(f"{k} {v:.0%}" for k, v in p["mix"].items())
    out = ["## DNS", "",
           f"{p['rounds']} round(s); {p['duration']} s per dnsperf run after a {p['warmup']} s "
           f"warm-up; server on CPU {p['server_cpu']}, dnsperf on CPU {p['client_cpu']} "
           f"({p['dnsperf']}, {p['clients']} sockets, {p['outstanding']} queries outstanding at "
           f"max). Query mix: {mix}. Strait with dns.rateLimit 0. CPU per 1,000 queries in ms: "
           "*stat* from utime+stime of the server's processes (/proc/<pid>/stat, 10 ms ticks), "
           "*sched* from their threads' schedstat (ns); the ratios use *sched*. *q/s per core*: "
           "answers per second of server CPU time (what a saturated core would answer when the "
           "one-core client, not the server, is the limit). Medians over rounds.", ""]
    for n, size in res["sizes"].items():
        agg = size["aggregate"]
        out += [f"### {int(n):,} services", "",
                "| server | max q/s | vs NSD | vs dnsmasq | server CPU / client core | "
                "q/s per core | vs NSD | vs dnsmasq | CPU ms/1k stat / sched | "
                "avg latency ms | lost | PSS MB |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for name, a in agg.items():
            out.append(f"| {name} | {fmt(a['qps_max'])} | {rat(a['qps_vs_nsd'])} | "
                       f"{rat(a['qps_vs_dnsmasq'])} | {fmt(a['server_cpu_util_max'], 2)} / "
                       f"{fmt(a['client_core_busy_max'], 2)} | {fmt(a['qps_per_core'])} | "
                       f"{rat(a['core_vs_nsd'])} | {rat(a['core_vs_dnsmasq'])} | "
                       f"{fmt(a['cpu_ms_per_1k_max'], 3)} / {fmt(a['sched_ms_per_1k_max'], 4)} | "
                       f"{fmt(a['avg_latency_ms_max'], 3)} | {a['lost_max']} | "
                       f"{fmt((a['pss_kb'] or 0) / 1024, 1)} |")
        out.append("")
        for rate in p["rates"]:
            out += [f"At a fixed {rate:,} queries/s (dnsperf -Q {rate} -v: every answer's "
                    "latency):", "",
                    "| server | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | avg ± sd ms | "
                    "CPU ms/1k stat / sched | vs NSD | vs dnsmasq | lost |",
                    "|---|---|---|---|---|---|---|---|---|---|---|"]
            for name, a in agg.items():
                f = a["fixed"].get(str(rate))
                if not f:
                    continue
                out.append(f"| {name} | {fmt(f['p50'], 3)} | {fmt(f['p90'], 3)} | "
                           f"{fmt(f['p99'], 3)} | {fmt(f['p999'], 3)} | {fmt(f['max'], 3)} | "
                           f"{fmt(f['avg_ms'], 3)} ± {fmt(f['stddev_ms'], 3)} | "
                           f"{fmt(f['cpu_ms_per_1k'], 3)} / {fmt(f['sched_ms_per_1k'], 4)} | "
                           f"{rat(a['cpu_vs_nsd'].get(str(rate)))} | "
                           f"{rat(a['cpu_vs_dnsmasq'].get(str(rate)))} | {f['lost']} |")
            out.append("")
        sizes = []
        for name, rec in size["servers"].items():
            r = rec["responses"]
            sizes.append(f"{name} " + "/".join(str(r.get(k, {}).get("bytes")) for k in
                                                ("A", "SRV", "NXDOMAIN")))
        out.append("- response bytes A/SRV/NXDOMAIN: " + ", ".join(sizes))
        for name, why in size["skipped"].items():
            out.append(f"- {name}: skipped: {why}")
        for name, notes in size["notes"].items():
            out.append(f"- {name}: " + "; ".join(notes))
        out.append("")
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="3 s runs, one round")
    g.add_argument("--smoke", action="store_true", help="tiny bounded run (100 services)")
    ap.add_argument("--out", help="output directory (default bench/out/dns-<timestamp>)")
    ap.add_argument("--build", default=os.path.join(ROOT, "build", "release"))
    ap.add_argument("--sizes", help="comma-separated zone sizes (default 1000,10000)")
    ap.add_argument("--servers", help="comma-separated subset of " + ",".join(SERVERS))
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--duration", type=float)
    a = ap.parse_args()
    profile = "smoke" if a.smoke else "quick" if a.quick else "full"
    names = a.servers.split(",") if a.servers else None
    if names and any(n not in SERVERS for n in names):
        ap.error(f"--servers: known: {','.join(SERVERS)}")
    out_dir = os.path.abspath(a.out or os.path.join(
        ROOT, "bench", "out", "dns-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S")))
    os.makedirs(out_dir, exist_ok=True)

    def on_signal(sig, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)  # also when started with SIGINT ignored (a & job)
    t0 = time.time()
    try:
        res = run(profile, a.build, names=names,
                  sizes=[int(x) for x in a.sizes.split(",")] if a.sizes else None,
                  rounds=a.rounds, duration=a.duration)
    except (Failed, subprocess.TimeoutExpired, KeyboardInterrupt) as e:
        log("interrupted" if isinstance(e, KeyboardInterrupt) else f"FAILED: {e}")
        return 1
    cmd = "python3 bench/dns.py" + "".join(f" {x}" for x in sys.argv[1:])
    results = {"meta": dict(date=datetime.datetime.now().isoformat(timespec="seconds"),
                            command=cmd, elapsed_s=round(time.time() - t0, 1),
                            load=" ".join(f"{x:.2f}" for x in os.getloadavg())),
               "dns": res}
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    md = "\n".join([f"# Strait DNS benchmark ({profile})", "",
                    f"- date: {results['meta']['date']}, command: `{cmd}`, load average after: "
                    f"{results['meta']['load']}", ""] + markdown(res))
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(md)
    log(f"done in {results['meta']['elapsed_s']} s: {out_dir}/results.json, results.md")
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
