#!/usr/bin/env python3
"""Drives SIPp against switchboard and Kamailio and reports side by side.

Measures, for each proxy on 127.0.0.1 (see README "Performance"):
  max CPS      highest step rate with no failed call and retransmissions at
               most 1% of calls
  CPU per call the proxy's user+sys CPU time (/proc) over calls completed, at
               one fixed rate both sustain
  latency      INVITE->100/180/200 p50 and p99 of every call of the fixed-rate
               run, from kernel timestamps in a capture on lo
               (bench/pcap_latency.py; SIPp's response times have a 4 ms
               granularity here: too coarse)
  CPU curve    CPU per call at every rate step, for both proxies
  reg/s        registrations per second with no failure
  memory       PSS (proportional: shared pages counted once) with N users
               registered and with C calls held open
and switchboard's max CPS with 1, 2 and 4 workers.
The proxy is pinned to the last CPU and SIPp to the others when there are at
least two (taskset); that split is printed with the results.
"""
import argparse
import contextlib
import csv
import hashlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
IP = "127.0.0.1"
PORT = 25060
TLS_PORT = 25061
STUNNEL_PORT = 25160
WS_PORT = 25066         # the ws study: the proxy's ws: listener
WS_TUNNEL_PORT = 25166  # ...and bench/ws_tunnel.py, where SIPp connects
UAS_PORT = 25070
ADMIN_PORT = 25090
REDIS_PORT = 26379
# SIPp's sockets as big as the proxies' (4 MiB, net.core.rmem_max here):
# with the default 208 KiB, datagrams arriving while SIPp's vCPU is not
# running overflow them (6000 cps: 42 000 dropped in 5 s, none with these),
# and the calls they belong to are retransmitted: SIPp, not the proxy, set
# the max clean rate
SIPP_BUFFERS = ["-buff_size", str(4 << 20)]
NG_PORT = 25223  # the media study's rtpengine
TICK = os.sysconf("SC_CLK_TCK")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


class Run:
    def __init__(self, quick):
        self.quick = quick
        stamp = time.strftime("%Y%m%dT%H%M%S")
        self.stamp = stamp
        self.tmp = os.path.join(BENCH, "results", "tmp", stamp)
        os.makedirs(self.tmp, exist_ok=True)
        cpus = os.cpu_count() or 1
        if cpus >= 2 and shutil.which("taskset"):
            self.proxy_cpus = str(cpus - 1)
            self.sipp_cpus = "0" if cpus == 2 else f"0-{cpus - 2}"
        else:
            self.proxy_cpus = self.sipp_cpus = None
        self.children = []

    def pin(self, cmd, cpus):
        return (["taskset", "-c", cpus] + cmd) if cpus else cmd

    def spawn(self, cmd, name, cpus=None):
        out = open(os.path.join(self.tmp, name + ".log"), "w")
        p = subprocess.Popen(self.pin(cmd, cpus), stdout=out, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, cwd=self.tmp, start_new_session=True)
        self.children.append(p)
        return p

    def stop(self, p, sig=signal.SIGTERM, wait=10):
        if p.poll() is None:
            os.killpg(p.pid, sig)
            try:
                p.wait(wait)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()

    def cleanup(self):
        for p in self.children:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


# --- proxies --------------------------------------------------------------

def descendants(pid):
    """pid and every live process below it."""
    out = [pid]
    try:
        kids = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    except OSError:
        kids = ""
    for k in kids.split():
        out += descendants(int(k))
    return out


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime + stime
        except (OSError, IndexError):
            pass
    return total / TICK


def pss_kib(pids):
    total = 0
    for pid in pids:
        try:
            for line in open(f"/proc/{pid}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total


# Bench users for digest authentication, the same for both proxies.
AUTH_REALM = IP
AUTH_USERS = {"caller": "bench", "bench": "bench"}


def make_certificate(run):
    """A self-signed certificate for 127.0.0.1 in the run's folder (TLS study)."""
    cert, key = os.path.join(run.tmp, "cert.pem"), os.path.join(run.tmp, "key.pem")
    if not os.path.exists(cert):
        # ECDSA P-256, as a phone vendor's or a LAN's would likely be: with RSA
        # 2048 the handshake's signature alone costs milliseconds on each side
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key,
                        "-out", cert, "-days", "2", "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True)
    return cert, key


class Proxy:
    """One proxy under test. @variant: None (in-memory registrar, no
    authentication), "sqlite" (registrations written to SQLite: switchboard's
    store, Kamailio's usrloc db_mode 2), "auth" (digest authentication of
    REGISTER and every INVITE), "tcp" (UDP and TCP listening) or "tls" (UDP,
    TCP and TLS), "redis" (switchboard's store on the study's redis-server)."""

    def __init__(self, run, kind, workers, variant=None):
        self.run, self.kind, self.workers, self.variant = run, kind, workers, variant
        self.name = f"{kind}-w{workers}" + (f"-{variant}" if variant else "")

    def switchboard_cmd(self):
        cmd = [os.path.join(ROOT, "build-release", "switchboard"), "-l", f"udp:{IP}:{PORT}",
               "--workers", str(self.workers), "--listeners", "1", "--log-level", "warn"]
        if self.variant == "sqlite":
            db = os.path.join(self.run.tmp, f"{self.name}.db")
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(db + suffix):
                    os.unlink(db + suffix)
            cmd += ["--store", db]
        elif self.variant == "auth":
            users = os.path.join(self.run.tmp, "users")
            with open(users, "w") as f:
                for user, password in AUTH_USERS.items():
                    ha1 = hashlib.md5(f"{user}:{AUTH_REALM}:{password}".encode()).hexdigest()
                    f.write(f"{user}:{AUTH_REALM}:{ha1}\n")
            conf = os.path.join(self.run.tmp, "auth.conf")
            with open(conf, "w") as f:
                f.write(f"[auth]\nrequire = all\nrealm = {AUTH_REALM}\nusers = {users}\n")
            cmd += ["-c", conf]
        elif self.variant in ("office-empty", "office-1000", "office-pickup"):
            conf = os.path.join(self.run.tmp, f"{self.variant}.conf")
            with open(conf, "w") as f:
                if self.variant == "office-1000":
                    # a big office: 1000 extensions, 50 groups, 200 users with forwards;
                    # the bench's calls go to a user none of it names
                    f.write("[extensions]\n")
                    for i in range(1000):
                        f.write(f"{1000 + i} = user{i}\n")
                    f.write("[groups]\n")
                    for g in range(50):
                        f.write(f"group{g} = all: " + ", ".join(f"user{g * 20 + m}" for m in range(10)) + "\n")
                    f.write("[forward]\n")
                    for i in range(200):
                        f.write(f"user{i} = busy: user{i + 500}; noanswer 20: group{i % 50}\n")
                    f.write("[users]\nring_timeout = 25\n")
                if self.variant == "office-pickup":
                    # call pickup on: every call is kept pickable, and on the
                    # board while it rings
                    f.write("[features]\npickup = *8\n")
            cmd += ["-c", conf]
        elif self.variant == "admin-off":
            cmd += ["--admin", "none"]
        elif self.variant == "media":
            conf = os.path.join(self.run.tmp, "media.conf")
            with open(conf, "w") as f:
                f.write(f"[media]\nrtpengine = udp:{IP}:{NG_PORT}\nrelay = always\n")
            cmd += ["-c", conf]
        elif self.variant == "redis":
            cmd += ["--store", f"redis://{IP}:{REDIS_PORT}", "--node", self.name]
        elif self.variant in ("admin", "admin-scraped"):
            cmd += ["--admin", f"{IP}:{ADMIN_PORT}"]
        elif self.variant in ("tcp", "tls", "ws"):
            cmd += ["-l", f"tcp:{IP}:{PORT}"]
            if self.variant == "ws":
                cmd += ["-l", f"ws:{IP}:{WS_PORT}"]
            conf = os.path.join(self.run.tmp, "stream.conf")
            with open(conf, "w") as f:
                f.write("[tcp]\nmax_per_ip = 20000\nmax_connections = 15000\n")
                if self.variant == "tls":
                    cert, key = make_certificate(self.run)
                    f.write(f"[tls]\ncertificate = {cert}\nkey = {key}\n")
            cmd += ["-c", conf, "--store", "none"]
            if self.variant == "tls":
                cmd += ["-l", f"tls:{IP}:{TLS_PORT}"]
        return cmd

    def kamailio_cmd(self):
        rundir = os.path.join(self.run.tmp, "kamailio-run")
        os.makedirs(rundir, exist_ok=True)
        cmd = ["kamailio", "-f", os.path.join(BENCH, "kamailio", "kamailio.cfg"), "-DD", "-E",
               "-A", f"CHILDREN={self.workers}", "-Y", rundir, "-w", rundir,
               "-m", "512", "-M", "16"]
        if self.variant == "sqlite":
            db = os.path.join(self.run.tmp, f"{self.name}.db")
            if os.path.exists(db):
                os.unlink(db)
            schema = "/usr/share/kamailio/db_sqlite"
            for sql in ("standard-create.sql", "usrloc-create.sql"):
                subprocess.run(["sqlite3", db], stdin=open(os.path.join(schema, sql)), check=True)
            cmd += ["-A", "WITH_SQLITE", "-A", f'DBURL="sqlite:///{db}"']  # db_sqlite drops one slash
        elif self.variant == "auth":
            cmd += ["-A", "WITH_AUTH"]
        elif self.variant == "media":
            cmd += ["-A", "WITH_RTPENGINE", "-A", f'RTPENGINE_SOCK="udp:{IP}:{NG_PORT}"']
        elif self.variant in ("tcp", "tls", "ws"):
            cmd += ["-A", "WITH_TCP"]
            if self.variant == "ws":
                cmd += ["-A", "WITH_WS"]
            if self.variant == "tls":
                cert, key = make_certificate(self.run)
                tlscfg = os.path.join(self.run.tmp, "kamailio-tls.cfg")
                with open(tlscfg, "w") as f:
                    f.write(f"[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\n"
                            f"require_certificate = no\ncertificate = {cert}\nprivate_key = {key}\n"
                            f"[client:default]\nverify_certificate = no\nrequire_certificate = no\n")
                cmd += ["-A", "WITH_TLS", "-A", f'TLSCFG="{tlscfg}"']
        return cmd

    def relay_cmd(self):
        """bench/relay_floor.c: the least a proxy could do for these calls."""
        exe = os.path.join(self.run.tmp, "relay_floor")
        if not os.path.exists(exe):
            subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe,
                            os.path.join(BENCH, "relay_floor.c")], check=True)
        return [exe, IP, str(PORT), str(UAS_PORT)]

    def start(self):
        # another process answering on the port would be measured instead
        # (its CPU and memory read as this one's zero): refuse to go on
        if self.options_ok():
            raise RuntimeError(f"something already answers SIP on {IP}:{PORT}: stop it first")
        cmd = {"switchboard": self.switchboard_cmd, "kamailio": self.kamailio_cmd,
               "relay": self.relay_cmd}[self.kind]()
        self.proc = self.run.spawn(cmd, self.name, self.run.proxy_cpus)
        deadline = time.time() + 10
        while time.time() < deadline and self.proc.poll() is None:
            if self.options_ok():
                time.sleep(0.2)
                return
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not start (see {self.run.tmp}/{self.name}.log)")

    def options_ok(self):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.settimeout(0.2)
        s.bind((IP, 0))
        port = s.getsockname()[1]
        msg = (f"OPTIONS sip:{IP}:{PORT} SIP/2.0\r\nVia: SIP/2.0/UDP {IP}:{port};branch=z9hG4bK-bench{time.time_ns()}\r\n"
               f"From: <sip:probe@{IP}>;tag=1\r\nTo: <sip:{IP}:{PORT}>\r\nCall-ID: probe{time.time_ns()}\r\n"
               f"CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n")
        try:
            s.sendto(msg.encode(), (IP, PORT))
            s.recvfrom(4096)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def pids(self):
        return descendants(self.proc.pid)

    def stop(self):
        self.run.stop(self.proc)


# --- SIPp -----------------------------------------------------------------

def sipp(run, name, scenario, args, timeout):
    """Runs SIPp to the end; returns (exit code, final stats dict, None)."""
    stat = os.path.join(run.tmp, name + ".csv")
    cmd = ["sipp", f"{IP}:{PORT}", "-sf", scenario, "-i", IP, "-nostdin"] + SIPP_BUFFERS + ["-trace_stat",
           "-stf", stat, "-fd", "1"] + args
    p = run.spawn(cmd, name, run.sipp_cpus)
    try:
        rc = p.wait(timeout)
    except subprocess.TimeoutExpired:
        run.stop(p, signal.SIGKILL)
        rc = -1
    stats = {}
    try:
        with open(stat, newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        if len(rows) >= 2:
            stats = dict(zip(rows[0], rows[-1]))
    except OSError:
        pass
    return rc, stats, None


def stat_int(stats, key):
    try:
        return int(stats.get(key, "0") or 0)
    except ValueError:
        return 0


def percentile(values, q):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, int(round(q / 100 * (len(values) - 1)))))
    return values[k]


class Bench:
    def __init__(self, run):
        self.run = run
        self.uac = os.path.join(BENCH, "sipp", "uac_call.xml")
        self.uas = os.path.join(BENCH, "sipp", "uas_call.xml")
        self.reg = os.path.join(BENCH, "sipp", "register_many.xml")
        self.step_seconds = 2 if run.quick else 5

    def with_callee(self, proxy):
        scenario, auth = "register.xml", []
        if proxy.variant == "auth":
            scenario, auth = "register_auth.xml", ["-au", "bench", "-ap", AUTH_USERS["bench"]]
        # over TCP and TLS the callee is a TCP phone: the proxy connects to it
        tp = ["-t", "t1", "-max_socket", "1000"] if proxy.variant in ("tcp", "tls") else []
        rc, _, _ = sipp(self.run, f"{proxy.name}-register", os.path.join(ROOT, "tests", "sipp", scenario),
                        ["-p", str(UAS_PORT), "-s", "bench", "-m", "1", "-timeout", "10"] + auth + tp, 20)
        if rc != 0:
            raise RuntimeError(f"{proxy.name}: callee registration failed")
        return self.run.spawn(["sipp", f"{IP}:{PORT}", "-sf", self.uas, "-i", IP, "-p", str(UAS_PORT)] + SIPP_BUFFERS + [
                               "-nostdin", "-mp", "26000", "-max_recv_loops", "10000"] + tp,
                              f"{proxy.name}-callee", self.run.sipp_cpus)

    def call_step(self, proxy, rate, seconds, hold_ms=0, tag="step", probe=False, over=None):
        calls = rate * seconds
        # one socket (or connection) per call; over TLS through stunnel (Debian's
        # SIPp has no TLS): headers name the proxy's TLS port, bytes go to stunnel;
        # over WebSocket likewise through bench/ws_tunnel.py
        transport = {"tcp": ["-t", "tn"], "tls": ["-t", "tn", "-rsa", f"{IP}:{STUNNEL_PORT}"],
                     "ws": ["-t", "tn", "-rsa", f"{IP}:{WS_TUNNEL_PORT}"]}
        args = ["-p", "25080", "-s", "bench", "-r", str(rate), "-m", str(calls), "-l", str(max(2 * rate, 100) + rate * hold_ms // 1000),
                "-d", str(hold_ms), "-max_socket", "20000", "-mp", "27000",
                "-timeout", str(seconds + hold_ms // 1000 + 20), "-max_recv_loops", "10000"]
        args += transport.get(over or proxy.variant, ["-t", "un"])
        capture = None
        if probe:
            # latency from the kernel's own timestamps on lo (dumpcap): no
            # prober sharing a CPU, no interpreter's jitter
            pcap = os.path.join(self.run.tmp, f"{proxy.name}-{tag}-{rate}.pcap")
            capture = self.run.spawn(["dumpcap", "-q", "-i", "lo", "-f", f"udp port {PORT}", "-s", "2048",
                                      "-P", "-w", pcap], f"{proxy.name}-{tag}-{rate}-dumpcap",
                                     self.run.sipp_cpus)
            time.sleep(1)
        before = cpu_seconds(proxy.pids())
        t0 = time.time()
        uac = self.uac
        if proxy.variant == "auth":
            uac = os.path.join(BENCH, "sipp", "uac_call_auth.xml")
            args += ["-au", "caller", "-ap", AUTH_USERS["caller"]]
        rc, stats, _ = sipp(self.run, f"{proxy.name}-{tag}-{rate}", uac, args,
                            seconds + hold_ms / 1000 + 40)
        elapsed = time.time() - t0
        cpu = cpu_seconds(proxy.pids()) - before
        latency = None
        if capture:
            time.sleep(0.5)
            self.run.stop(capture, signal.SIGINT)
            out = subprocess.run([sys.executable, os.path.join(BENCH, "pcap_latency.py"), pcap, str(PORT),
                                  str(UAS_PORT)], capture_output=True, text=True)
            try:
                latency = json.loads(out.stdout)
            except ValueError:
                log(f"  latency analysis failed: {out.stderr.strip()[:200]}")
            if os.path.exists(pcap):
                os.unlink(pcap)
        ok = stat_int(stats, "SuccessfulCall(C)")
        failed = stat_int(stats, "FailedCall(C)")
        retrans = stat_int(stats, "Retransmissions(C)")
        # clean: every call completed, and retransmissions at most 1 % of calls
        clean = rc == 0 and failed == 0 and ok == calls and retrans <= 0.01 * calls
        return {"rate": rate, "calls": calls, "successful": ok, "failed": failed,
                "retransmissions": retrans, "clean": clean, "cpu_s": cpu, "elapsed_s": elapsed,
                "cpu_ms_per_call": round(1000 * cpu / ok, 4) if ok else None, "latency": latency}

    def max_cps(self, proxy, rates, over=None):
        best, steps = 0, []
        for rate in rates:
            r = self.call_step(proxy, rate, self.step_seconds, tag=f"step-{over or ''}", over=over)
            steps.append(r)
            log(f"  {proxy.name}: {rate:>5} cps -> {'clean' if r['clean'] else 'NOT clean'}"
                f" ({r['successful']}/{r['calls']} ok, {r['failed']} failed, {r['retransmissions']} retrans,"
                f" {r['cpu_ms_per_call']} ms CPU per call)")
            if not r["clean"]:
                break
            best = rate
            time.sleep(1)
        return best, steps

    def registrations(self, proxy, count):
        before = pss_kib(proxy.pids())
        t0 = time.time()
        rc, stats, _ = sipp(self.run, f"{proxy.name}-registrations", self.reg,
                            ["-p", "25090", "-s", "user", "-r", str(10000 if not self.run.quick else 5000),
                             "-m", str(count), "-l", "2000", "-timeout", "120"], 180)
        elapsed = time.time() - t0
        ok = stat_int(stats, "SuccessfulCall(C)")
        after = pss_kib(proxy.pids())
        res = {"count": count, "successful": ok, "failed": stat_int(stats, "FailedCall(C)"),
               "per_second": round(ok / elapsed) if rc == 0 and ok == count else 0,
               "pss_before_kib": before, "pss_after_kib": after,
               "bytes_per_registration": round((after - before) * 1024 / count) if count else None}
        if not self.run.quick:
            # switchboard keeps each REGISTER's server transaction for Timer J
            # (32 s) to absorb retransmissions; Kamailio answers statelessly.
            # Settled: what the bindings alone cost once those are gone.
            time.sleep(35)
            settled = pss_kib(proxy.pids())
            res["pss_settled_kib"] = settled
            res["bytes_per_registration_settled"] = round((settled - before) * 1024 / count)
        return res

    def held_calls(self, proxy, count):
        before = pss_kib(proxy.pids())
        rate = 1000
        args = ["-p", "25085", "-s", "bench", "-r", str(rate), "-m", str(count), "-l", str(count),
                "-d", "120000", "-t", "un", "-max_socket", str(count + 100), "-mp", "28000",
                "-timeout", "200", "-max_recv_loops", "10000"]
        stat = os.path.join(self.run.tmp, f"{proxy.name}-held.csv")
        args += ["-trace_stat", "-stf", stat, "-fd", "1"]
        p = self.run.spawn(["sipp", f"{IP}:{PORT}", "-sf", self.uac, "-i", IP, "-nostdin"] + SIPP_BUFFERS + args,
                           f"{proxy.name}-held",
                           self.run.sipp_cpus)
        time.sleep(count / rate + 4)
        after = pss_kib(proxy.pids())
        up = 0
        try:
            with open(stat, newline="") as f:
                rows = list(csv.reader(f, delimiter=";"))
            up = stat_int(dict(zip(rows[0], rows[-1])), "CurrentCall")
        except (OSError, IndexError):
            pass
        self.run.stop(p, signal.SIGKILL)
        return {"count": count, "up": up, "pss_before_kib": before, "pss_after_kib": after,
                "bytes_per_call": round((after - before) * 1024 / up) if up else None}


def measure(run, bench, kind, workers, rates, fixed_rate=None, memory=False):
    res = {"proxy": kind, "workers": workers}
    with proxy_with_callee(run, bench, kind, None, workers) as proxy:
        res["max_cps"], res["steps"] = bench.max_cps(proxy, rates)
        if fixed_rate:
            time.sleep(1)
            r = bench.call_step(proxy, fixed_rate, 4 if run.quick else 10, tag="fixed", probe=True)
            res["fixed"] = r
            res["cpu_ms_per_call"] = r["cpu_ms_per_call"]
            log(f"  {proxy.name}: fixed {fixed_rate} cps: {r['successful']} calls, "
                f"{res['cpu_ms_per_call']} ms CPU per call")
    if memory:
        res.update(memory_figures(run, bench, kind, workers))
    return res


def paired_rounds(run, bench, results, extra):
    """Runs the rates where Kamailio was clean @extra times more, both
    proxies one after the other in each round, and keeps each step's median
    round (every round's figures with it). One 5-second step on this kind
    of machine can be 1.5x the next on the same binary; the ratio is taken
    between steps measured minutes apart, not a whole run apart."""
    rates = [st["rate"] for st in results["kamailio"]["steps"] if st["clean"]]
    tries = {kind: {st["rate"]: [st] for st in results[kind]["steps"] if st["rate"] in rates}
             for kind in ("kamailio", "switchboard")}
    for r in range(extra):
        for kind in ("kamailio", "switchboard"):
            with proxy_with_callee(run, bench, kind, None) as proxy:
                for rate in rates:
                    st = bench.call_step(proxy, rate, bench.step_seconds, tag=f"round{r + 2}")
                    tries[kind][rate].append(st)
                    log(f"  round {r + 2}: {kind} {rate} cps -> {st['cpu_ms_per_call']} ms CPU per call"
                        f"{'' if st['clean'] else ' (NOT clean)'}")
                    time.sleep(1)
    for kind, by_rate in tries.items():
        for i, st in enumerate(results[kind]["steps"]):
            got = by_rate.get(st["rate"])
            if not got or any(t["cpu_ms_per_call"] is None for t in got):
                continue
            results[kind]["steps"][i] = median_step(got)


def median_step(tries):
    """Of one step's rounds @tries, the one with the median CPU per call,
    with every round's figure and cleanliness beside it."""
    median = dict(sorted(tries, key=lambda st: st["cpu_ms_per_call"] or 0)[len(tries) // 2])
    median["rounds_cpu_ms_per_call"] = [st["cpu_ms_per_call"] for st in tries]
    median["rounds_clean"] = [st["clean"] for st in tries]
    return median


def memory_figures(run, bench, kind, workers):
    """Registrations and held calls, each on a fresh proxy: memory a
    previous run touched would hide growth."""
    proxy = Proxy(run, kind, workers)
    res = {}
    try:
        proxy.start()
        res["registrations"] = bench.registrations(proxy, 10000 if run.quick else 100000)
        log(f"  {proxy.name}: registrations {res['registrations']}")
        proxy.stop()
        proxy.start()
        with_callee = bench.with_callee(proxy)
        res["held_calls"] = bench.held_calls(proxy, 1000 if run.quick else 10000)
        run.stop(with_callee, signal.SIGKILL)
        log(f"  {proxy.name}: held calls {res['held_calls']}")
        return res
    finally:
        proxy.stop()
        time.sleep(1)


def register_step(run, proxy, total_rate, seconds, prefix):
    """Two SIPp processes registering fresh users (@prefix) at @total_rate
    together for @seconds: one SIPp alone tops out near 10 000/s here, so
    the figure would be SIPp's, not the proxy's."""
    each = total_rate // 2
    before = cpu_seconds(proxy.pids())
    t0 = time.time()
    procs = []
    for i, port in enumerate((25090, 25091)):
        stat = os.path.join(run.tmp, f"{proxy.name}-{prefix}{i}.csv")
        args = ["sipp", f"{IP}:{PORT}", "-sf", os.path.join(BENCH, "sipp", "register_many.xml")] + SIPP_BUFFERS + [
                "-i", IP, "-p", str(port), "-s", f"{prefix}{i}u", "-r", str(each),
                "-m", str(each * seconds), "-l", str(max(2 * each, 100)), "-timeout",
                str(seconds + 30), "-nostdin", "-trace_stat", "-stf", stat, "-fd", "1"]
        procs.append((run.spawn(args, f"{proxy.name}-{prefix}{i}", run.sipp_cpus), stat))
    ok = failed = retrans = 0
    for p, stat in procs:
        try:
            p.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            run.stop(p, signal.SIGKILL)
        try:
            with open(stat, newline="") as f:
                rows = list(csv.reader(f, delimiter=";"))
            stats = dict(zip(rows[0], rows[-1]))
        except (OSError, IndexError):
            stats = {}
        ok += stat_int(stats, "SuccessfulCall(C)")
        failed += stat_int(stats, "FailedCall(C)")
        retrans += stat_int(stats, "Retransmissions(C)")
    elapsed = time.time() - t0
    cpu = cpu_seconds(proxy.pids()) - before
    want = each * 2 * seconds
    clean = ok == want and failed == 0 and retrans <= 0.01 * want
    return {"rate": total_rate, "registrations": want, "successful": ok, "failed": failed,
            "retransmissions": retrans, "clean": clean, "elapsed_s": round(elapsed, 2),
            "cpu_s": cpu, "cpu_us_per_registration": round(1e6 * cpu / ok, 1) if ok else None}


def registration_study(run, quick):
    """Registrations per second, CPU per registration at each offered rate,
    and memory per registration, for switchboard without and with its SQLite
    store and Kamailio without and with usrloc db_mode 2 on db_sqlite."""
    rates = [4000, 8000] if quick else [5000, 10000, 15000, 20000, 25000, 30000]
    seconds = 2 if quick else 5
    users = 10000 if quick else 100000
    out = {}
    for kind, variant in (("switchboard", None), ("switchboard", "sqlite"),
                          ("kamailio", None), ("kamailio", "sqlite")):
        proxy = Proxy(run, kind, 1, variant)
        proxy.start()
        steps, best = [], 0
        try:
            for n, rate in enumerate(rates):
                r = register_step(run, proxy, rate, seconds, f"s{n}")
                steps.append(r)
                log(f"  {proxy.name}: {rate:>6} REGISTER/s -> {'clean' if r['clean'] else 'NOT clean'}"
                    f" ({r['successful']}/{r['registrations']} ok, {r['retransmissions']} retrans,"
                    f" {r['cpu_us_per_registration']} us CPU each)")
                if not r["clean"]:
                    break
                best = rate
                time.sleep(1)
        finally:
            proxy.stop()
        proxy.start()
        try:
            before = pss_kib(proxy.pids())
            mem = register_step(run, proxy, 8000, users // 8000, "m")
            time.sleep(2)
            after = pss_kib(proxy.pids())
        finally:
            proxy.stop()
        out[proxy.name] = {"max_clean_per_second": best, "steps": steps,
                           "memory": {"users": mem["successful"], "pss_before_kib": before,
                                      "pss_after_kib": after,
                                      "bytes_per_registration": round((after - before) * 1024 / mem["successful"])
                                      if mem["successful"] else None}}
        log(f"  {proxy.name}: max clean {best}/s, {out[proxy.name]['memory']}")
        time.sleep(1)
    return out


@contextlib.contextmanager
def proxy_with_callee(run, bench, kind, variant, workers=1):
    """@workers of @kind/@variant, started with the benchmark's callee
    registered; both stopped (and a second to settle) after."""
    proxy = Proxy(run, kind, workers, variant)
    proxy.start()
    callee = None
    try:
        callee = bench.with_callee(proxy)
        time.sleep(0.3)
        yield proxy
    finally:
        if callee:
            run.stop(callee, signal.SIGKILL)
        proxy.stop()
        time.sleep(1)


def auth_study(run, bench, quick):
    """Calls per second and CPU per call at every rate step, without and with
    digest authentication of every INVITE (and the callee's REGISTER), for
    both proxies."""
    rates = [200, 600] if quick else [250, 500, 1000, 1500, 2000, 3000, 4000, 5000]
    out = {}
    for kind, variant in (("switchboard", None), ("switchboard", "auth"),
                          ("kamailio", None), ("kamailio", "auth")):
        with proxy_with_callee(run, bench, kind, variant) as proxy:
            best, steps = bench.max_cps(proxy, rates)
            out[proxy.name] = {"max_clean_cps": best, "steps": steps}
    return out


class Scraper:
    """Fetches /metrics once a second, as Prometheus would, while it runs."""

    def __init__(self):
        self.stop_flag = threading.Event()
        self.count, self.failures, self.bytes = 0, 0, 0
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.stop_flag.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://{IP}:{ADMIN_PORT}/metrics", timeout=2) as r:
                    self.bytes = len(r.read())
                    self.count += 1
            except OSError:
                self.failures += 1

    def stop(self):
        self.stop_flag.set()
        self.thread.join()
        return {"scrapes": self.count, "failures": self.failures, "bytes": self.bytes}


def fixed_rate_study(run, bench, quick, order, scraped=None):
    """CPU per call at fixed rates for each (kind, variant) of @order, each
    run twice in alternating order against noise; /metrics is scraped every
    second during the @scraped variant's runs."""
    rates = [200, 500] if quick else [250, 500, 1000, 1500]
    out = {}
    for rep in range(1 if quick else 2):
        for kind, variant in (order if rep % 2 == 0 else list(reversed(order))):
            proxy = Proxy(run, kind, 1, variant)
            proxy.start()
            callee = scraper = None
            try:
                callee = bench.with_callee(proxy)
                time.sleep(0.3)
                if variant is not None and variant == scraped:
                    scraper = Scraper()
                steps = [bench.call_step(proxy, rate, bench.step_seconds) for rate in rates]
                entry = out.setdefault(proxy.name, {"steps": [], "scrapes": None})
                entry["steps"] += steps
                if scraper:
                    entry["scrapes"] = scraper.stop()
                    scraper = None
                log(f"  {proxy.name} run {rep + 1}: " + ", ".join(
                    f"{st['rate']}: {st['cpu_ms_per_call']}{'' if st['clean'] else '*'}" for st in steps))
            finally:
                if scraper:
                    scraper.stop()
                if callee:
                    run.stop(callee, signal.SIGKILL)
                proxy.stop()
                time.sleep(1)
    # the mean of the runs at each rate
    for entry in out.values():
        by_rate = {}
        for st in entry["steps"]:
            by_rate.setdefault(st["rate"], []).append(st)
        entry["mean_cpu_ms_per_call"] = {
            str(rate): round(sum(st["cpu_ms_per_call"] or 0 for st in sts) / len(sts), 4)
            for rate, sts in sorted(by_rate.items())}
        entry["all_clean"] = all(st["clean"] for st in entry["steps"])
    return out


def admin_study(run, bench, quick):
    """The admin plane off, on and idle, and on with /metrics scraped every
    second; Kamailio at the same rates for the ratio."""
    return fixed_rate_study(run, bench, quick,
                            [("switchboard", "admin-off"), ("switchboard", "admin"),
                             ("switchboard", "admin-scraped"), ("kamailio", None)],
                            scraped="admin-scraped")

class RedisServer:
    """A redis-server of the study's own on loopback, without persistence,
    pinned beside SIPp (in a deployment it has a machine of its own): its
    CPU is reported apart from the proxy's."""

    def __init__(self, run):
        self.run = run
        self.proc = run.spawn(["redis-server", "--bind", IP, "--port", str(REDIS_PORT), "--save", "",
                               "--appendonly", "no"], "redis-server", run.sipp_cpus)
        for _ in range(100):
            if self.cli("ping") == "PONG":
                return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def cli(self, *args):
        out = subprocess.run(["redis-cli", "-h", IP, "-p", str(REDIS_PORT)] + list(args),
                             capture_output=True, text=True, timeout=30)
        return out.stdout.strip()

    def cpu(self):
        return cpu_seconds(descendants(self.proc.pid))

    def stop(self):
        self.run.stop(self.proc)


def sip_exchange(sock, addr, text, want=b"SIP/2.0 200", wait=1.0):
    """Sends @text to @addr and returns the first answer starting with @want."""
    sock.sendto(text.encode(), addr)
    end = time.perf_counter() + wait
    while time.perf_counter() < end:
        sock.settimeout(max(0.001, end - time.perf_counter()))
        try:
            data = sock.recv(65535)
        except OSError:
            break
        if data.startswith(want):
            return data
    return None


def reg_text(node, me, user, seq, contact=True, expires=600):
    c = (f"Contact: <sip:{user}@{IP}:5099>;expires={expires}\r\n" if contact else "")
    return (f"REGISTER sip:{node[0]}:{node[1]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {IP}:{me};branch=z9hG4bK-p{seq}-{user}-{time.time_ns()};rport\r\n"
            f"From: <sip:{user}@{node[0]}>;tag=p{seq}\r\nTo: <sip:{user}@{node[0]}>\r\n"
            f"Call-ID: {'prop' if contact else 'fetch'}-{user}-{seq}\r\nCSeq: {seq} REGISTER\r\n"
            f"{c}Content-Length: 0\r\n\r\n")


def propagation(run, samples):
    """Two switchboards (127.0.0.2, 127.0.0.3) on the study's Redis: a user
    registers at A; from A's 200 on, B is asked (a REGISTER fetch every
    ~0.2 ms) until it lists the binding; then the same for the user
    leaving at A. Delays in ms."""
    binary = os.path.join(ROOT, "build-release", "switchboard")
    nodes, procs = [("127.0.0.2", PORT), ("127.0.0.3", PORT)], []
    for i, node in enumerate(nodes):
        procs.append(run.spawn([binary, "-l", f"udp:{node[0]}:{PORT}", "--workers", "1", "--listeners", "1",
                                "--log-level", "warn", "--admin", "none", "--store",
                                f"redis://{IP}:{REDIS_PORT}", "--node", f"node{i}"], f"node{i}",
                               run.proxy_cpus))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((IP, 0))
    me = sock.getsockname()[1]
    try:
        time.sleep(1)
        found = {"register": [], "unregister": []}
        for n in range(samples):
            user = f"prop{n}"
            for phase, expires in (("register", 600), ("unregister", 0)):
                if not sip_exchange(sock, nodes[0], reg_text(nodes[0], me, user, 1 if expires else 2,
                                                             expires=expires)):
                    continue
                t0 = time.perf_counter()
                while time.perf_counter() - t0 < 2:
                    reply = sip_exchange(sock, nodes[1], reg_text(nodes[1], me, user, 1, contact=False))
                    if reply is not None and (b"\r\nContact:" in reply) == (expires > 0):
                        found[phase].append((time.perf_counter() - t0) * 1000)
                        break
    finally:
        sock.close()
        for p in procs:
            run.stop(p)

    def pct(v, q):
        v = sorted(v)
        return round(v[min(len(v) - 1, int(q * len(v)))], 3) if v else None
    return {phase: {"samples": len(v), "p50_ms": pct(v, 0.5), "p99_ms": pct(v, 0.99),
                    "max_ms": round(max(v), 3) if v else None}
            for phase, v in found.items()}


def setup_latency(run, bench, redis, rate):
    """Call setup latency (INVITE -> 100, 180, 200 at the proxy's port, from
    a packet capture) at @rate for each store and Kamailio."""
    out = {}
    for kind, variant in (("switchboard", None), ("switchboard", "sqlite"), ("switchboard", "redis"),
                          ("kamailio", None)):
        redis.cli("flushall")
        with proxy_with_callee(run, bench, kind, variant) as proxy:
            r = bench.call_step(proxy, rate, bench.step_seconds, tag="probe", probe=True)
            out[proxy.name] = {"rate": rate, "clean": r["clean"], "latency": r["latency"]}
            log(f"  {proxy.name} at {rate} cps: {r['latency']}")
    return out


def redis_study(run, bench, quick):
    """The shared store's cost: registrations per second and CPU per
    registration (the proxy's, and Redis's beside it) for switchboard in
    memory only, on SQLite and on Redis; CPU per call at fixed rates and
    call setup latency for the three and Kamailio; and how long a change
    at one node takes to reach another (p50/p99)."""
    redis = RedisServer(run)
    out = {"registrations": {}, "calls": {}, "propagation": {}}
    try:
        rates = [4000, 8000] if quick else [5000, 10000, 15000, 20000]
        seconds = 2 if quick else 5
        for variant in (None, "sqlite", "redis"):
            redis.cli("flushall")
            proxy = Proxy(run, "switchboard", 1, variant)
            proxy.start()
            steps, best = [], 0
            try:
                for n, rate in enumerate(rates):
                    rcpu = redis.cpu()
                    r = register_step(run, proxy, rate, seconds, f"r{n}")
                    time.sleep(0.5)  # the write-behind catches up
                    r["redis_cpu_us_per_registration"] = (round(1e6 * (redis.cpu() - rcpu) / r["successful"], 1)
                                                          if variant == "redis" and r["successful"] else None)
                    steps.append(r)
                    log(f"  {proxy.name}: {rate:>6} REGISTER/s -> {'clean' if r['clean'] else 'NOT clean'}"
                        f" ({r['cpu_us_per_registration']} us CPU each"
                        f"{', Redis ' + str(r['redis_cpu_us_per_registration']) + ' us' if variant == 'redis' else ''})")
                    if not r["clean"]:
                        break
                    best = rate
                    time.sleep(1)
            finally:
                proxy.stop()
            out["registrations"][proxy.name] = {"max_clean_per_second": best, "steps": steps}
        redis.cli("flushall")
        out["calls"] = fixed_rate_study(run, bench, quick,
                                        [("switchboard", None), ("switchboard", "sqlite"),
                                         ("switchboard", "redis"), ("kamailio", None)])
        out["setup_latency"] = setup_latency(run, bench, redis, 200 if quick else 500)
        redis.cli("flushall")
        out["propagation"] = propagation(run, 50 if quick else 300)
        log(f"  propagation A->B: {out['propagation']}")
    finally:
        redis.stop()
    return out


def office_study(run, bench, quick):
    """No dial plan vs a 1000-extension one (the calls use none of it) vs
    call pickup on; Kamailio at the same rates for the ratio."""
    return fixed_rate_study(run, bench, quick,
                            [("switchboard", "office-empty"), ("switchboard", "office-1000"),
                             ("switchboard", "office-pickup"), ("kamailio", None)])


def stunnel(run):
    """A TLS client tunnel: SIPp's TCP connections to STUNNEL_PORT leave as TLS
    connections to the proxy's TLS_PORT, one each."""
    conf = os.path.join(run.tmp, "stunnel.conf")
    with open(conf, "w") as f:
        f.write(f"foreground = yes\npid =\nsocket = l:TCP_NODELAY=1\nsocket = r:TCP_NODELAY=1\n"
                f"[sip]\nclient = yes\naccept = {IP}:{STUNNEL_PORT}\nconnect = {IP}:{TLS_PORT}\n"
                f"verifyChain = no\n")
    p = run.spawn([shutil.which("stunnel4") or "stunnel", conf], "stunnel", run.sipp_cpus)
    time.sleep(0.5)
    return p


def idle_connections(proxy, count):
    """PSS of the proxy with @count idle TCP connections (each sent one CRLF
    keep-alive, so it is a live flow): bytes per connection."""
    before = pss_kib(proxy.pids())
    socks = []
    try:
        for _ in range(count):
            s = socket.create_connection((IP, PORT), timeout=5)
            s.sendall(b"\r\n\r\n")
            socks.append(s)
        time.sleep(2)
        after = pss_kib(proxy.pids())
    finally:
        for s in socks:
            s.close()
    return {"count": len(socks), "pss_before_kib": before, "pss_after_kib": after,
            "bytes_per_connection": round((after - before) * 1024 / count)}


def stream_study(run, bench, kind, quick):
    """Calls per second and CPU per call at every rate step with one TCP
    connection per call (SIPp -t tn; over TLS through stunnel), and memory
    per idle connection, for both proxies."""
    rates = [200, 600] if quick else [250, 500, 1000, 1500, 2000, 3000, 4000]
    out = {}
    for proxy_kind in ("switchboard", "kamailio"):
        proxy = Proxy(run, proxy_kind, 1, kind)
        proxy.start()
        callee = tunnel = None
        try:
            callee = bench.with_callee(proxy)
            if kind == "tls":
                tunnel = stunnel(run)
            time.sleep(0.3)
            best, steps = bench.max_cps(proxy, rates)
            out[proxy.name] = {"max_clean_cps": best, "steps": steps}
        finally:
            if tunnel:
                run.stop(tunnel, signal.SIGKILL)
            if callee:
                run.stop(callee, signal.SIGKILL)
            proxy.stop()
            time.sleep(1)
        if kind == "tcp":
            proxy.start()
            try:
                out[proxy.name]["idle"] = idle_connections(proxy, 1000 if quick else 5000)
                log(f"  {proxy.name}: idle connections {out[proxy.name]['idle']}")
            finally:
                proxy.stop()
                time.sleep(1)
    return out


def ws_study(run, bench, quick):
    """Calls per second and CPU per call at every rate step, the caller
    over a WebSocket (RFC 7118; SIPp through bench/ws_tunnel.py, one
    WebSocket per call) and, for comparison, over TCP (one connection per
    call), the callee on UDP; switchboard and Kamailio's websocket module."""
    rates = [200, 400] if quick else [250, 500, 1000, 1500, 2000, 3000]
    out = {}
    for proxy_kind in ("switchboard", "kamailio"):
        for over in ("tcp", "ws"):
            proxy = Proxy(run, proxy_kind, 1, "ws")
            proxy.start()
            callee = tunnel = None
            try:
                callee = bench.with_callee(proxy)
                if over == "ws":
                    tunnel = run.spawn([sys.executable, os.path.join(BENCH, "ws_tunnel.py"), IP,
                                        str(WS_TUNNEL_PORT), str(WS_PORT)], "ws-tunnel", run.sipp_cpus)
                time.sleep(0.5)
                best, steps = bench.max_cps(proxy, rates, over=over)
                out[f"{proxy_kind} over {over}"] = {"max_clean_cps": best, "steps": steps}
            finally:
                if tunnel:
                    run.stop(tunnel, signal.SIGKILL)
                if callee:
                    run.stop(callee, signal.SIGKILL)
                proxy.stop()
                time.sleep(1)
    return out


def echo_floor(run, gap, mode, seconds, loop="closed"):
    """bench/floor.c: the round trip of an echo server pinned where the
    proxy runs (@mode "sleep" or "spin"), datagrams @gap us apart: each
    after the last one's answer (@loop "closed"), or on a schedule as
    SIPp's calls are ("open": a stall of the vCPU delays every datagram
    sent during it, as it delays every INVITE)."""
    exe = os.path.join(run.tmp, "floor")
    if not os.path.exists(exe):
        subprocess.run(["cc", "-O2", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe,
                        os.path.join(BENCH, "floor.c")], check=True)
    server_cpu, client_cpu = (run.proxy_cpus or "0"), (run.sipp_cpus or "0").split("-")[0]
    count = int(seconds * 1e6 / (gap + 30))
    out = subprocess.run([exe, server_cpu, client_cpu, str(gap), str(count), mode]
                         + (["open"] if loop == "open" else []),
                         capture_output=True, text=True, timeout=120, check=True)
    res = json.loads(out.stdout)
    res.update({"gap_us": gap, "mode": mode, "loop": loop})
    return res


def floor_study(run, bench, quick):
    """The machine's floor: a server that only echoes (bench/floor.c),
    sleeping in poll() or spinning, at a few gaps between requests; then
    switchboard's INVITE->100 at a fixed rate in the same run."""
    seconds = 0.5 if quick else 3
    echo = []
    for gap in (50, 200, 1000):
        for mode, loop in (("sleep", "closed"), ("sleep", "open"), ("spin", "closed")):
            echo.append(echo_floor(run, gap, mode, seconds, loop))
            log(f"  echo server ({mode}, {loop} loop), {gap} us apart: {echo[-1]}")
    rate = 500 if quick else 1500
    out = {"echo": echo}
    for kind in ("relay", "switchboard"):
        log(f"{kind} at {rate} cps")
        out[kind if kind == "switchboard" else "relay_latency"] = \
            measure(run, bench, kind, 1, [], fixed_rate=rate)["fixed"]
    rates = [200] if quick else [250, 500, 1000]
    out["cpu"] = floor_cpu(run, bench, rates, 1 if quick else FLOOR_ROUNDS)
    return out


FLOOR_ROUNDS = 3  # the floor study's rounds of CPU per call


def floor_cpu(run, bench, rates, rounds):
    """CPU per call at each of @rates of the relay floor
    (bench/relay_floor.c: what the machine charges any proxy for a call's
    datagrams), switchboard and Kamailio, one after the other, @rounds
    times over; each step's median round, every round's figure beside
    it."""
    tries = {}
    for r in range(rounds):
        log(f" CPU per call, round {r + 1}")
        for kind in ("relay", "switchboard", "kamailio"):
            with proxy_with_callee(run, bench, kind, None) as proxy:
                for rate in rates:
                    st = bench.call_step(proxy, rate, bench.step_seconds, tag=f"floor{r + 1}")
                    tries.setdefault(kind, {}).setdefault(rate, []).append(st)
                    log(f"  {kind} {rate} cps -> {st['cpu_ms_per_call']} ms CPU per call"
                        f"{'' if st['clean'] else ' (NOT clean)'}")
                    time.sleep(1)
    return {kind: [median_step(by_rate[rate]) for rate in rates] for kind, by_rate in tries.items()}


def invite_100_summary(latency):
    """INVITE->100 percentiles and how many slow ones waited through a
    stretch in which the proxy sent nothing (pcap_latency.py)."""
    lat, slow = latency.get("invite_100") or {}, latency.get("slow_100") or {}
    text = (f"INVITE->100 p50 {lat.get('p50_ms')} ms, p90 {lat.get('p90_ms')} ms, "
            f"p99 {lat.get('p99_ms')} ms")
    if slow:
        text += (f" ({slow['n']} over {slow['over_ms']} ms, {slow['with_proxy_silent']} of them "
                 f"through {slow['proxy_silent_ms']} ms or more with nothing sent by the proxy)")
    return text


class RtpEngine:
    """A userspace rtpengine for the media study, on the load generator's
    CPUs (its own CPU is measured apart from the proxy's)."""

    def __init__(self, run):
        self.run = run
        self.proc = run.spawn(["rtpengine", "-f", "-E", "-t", "-1", "-i", IP, "-n", f"{IP}:{NG_PORT}",
                               "-m", "30000", "-M", "60000", "--delete-delay=0",
                               "--config-file=none", "-L", "3"], "rtpengine", run.sipp_cpus)
        time.sleep(1)

    def cpu(self):
        return cpu_seconds(descendants(self.proc.pid))

    def stop(self):
        self.run.stop(self.proc)


MEDIA_ROUNDS = 5  # the media study's rounds; each step's median is reported


def media_round(run, bench, rates):
    """One round of the media study: each configuration at every rate."""
    out = {}
    for kind, variant in (("switchboard", None), ("switchboard", "media"),
                          ("kamailio", None), ("kamailio", "media")):
        engine = RtpEngine(run) if variant else None
        try:
            with proxy_with_callee(run, bench, kind, variant) as proxy:
                steps = []
                for rate in rates:
                    e0 = engine.cpu() if engine else 0
                    st = bench.call_step(proxy, rate, bench.step_seconds, probe=rate == rates[0])
                    if engine and st["successful"]:
                        st["engine_cpu_ms_per_call"] = round(1000 * (engine.cpu() - e0) / st["successful"], 4)
                    steps.append(st)
                    log(f"  {proxy.name}: {rate} cps -> {'clean' if st['clean'] else 'NOT clean'},"
                        f" {st['cpu_ms_per_call']} ms CPU per call"
                        + (f", engine {st.get('engine_cpu_ms_per_call')}" if engine else ""))
                    time.sleep(1)
                out[proxy.name] = steps
        finally:
            if engine:
                engine.stop()
    return out


def media_study(run, bench, quick):
    """CPU per call at each rate without and with every call's media
    relayed by the same rtpengine (switchboard's [media] relay = always,
    Kamailio's rtpengine module), the engine's own CPU per call, and
    INVITE->180 latency from a capture at the first rate. The four
    configurations run one after another, MEDIA_ROUNDS times over, so
    that a slow spell of this machine falls on each in turn; a step
    reports the round with the median CPU per call (all rounds' figures
    kept beside it)."""
    rates = [200] if quick else [250, 500, 1000]
    rounds = []
    for r in range(1 if quick else MEDIA_ROUNDS):
        log(f" round {r + 1}")
        rounds.append(media_round(run, bench, rates))
    out = {}
    for name in rounds[0]:
        steps = []
        for i in range(len(rates)):
            steps.append(median_step([rnd[name][i] for rnd in rounds]))
        out[name] = {"steps": steps}
    return out


def media_table(results):
    lines = [f"{'configuration':28} ms CPU per call at each rate [engine's]; INVITE->180 p50/p99 ms"]
    for name, r in results.items():
        per = ", ".join(f"{s['rate']}: {s['cpu_ms_per_call']}{'' if s['clean'] else '*'}"
                        + (f" [{s['engine_cpu_ms_per_call']}]" if s.get("engine_cpu_ms_per_call") else "")
                        for s in r["steps"])
        lat = (r["steps"][0].get("latency") or {}).get("invite_180") or {}
        lines.append(f"{name:28} {per}; {lat.get('p50_ms')}/{lat.get('p99_ms')}")
    sb, k = results.get("switchboard-w1-media"), results.get("kamailio-w1-media")
    if sb and k:
        kr = {st["rate"]: st for st in k["steps"]}
        lines.append("ratio sb/k of proxy CPU per call, relayed: " + ", ".join(
            f"{st['rate']}: {ratio(st['cpu_ms_per_call'], kr[st['rate']]['cpu_ms_per_call'])}"
            for st in sb["steps"] if st["rate"] in kr))
        rounds = len(sb["steps"][0].get("rounds_cpu_ms_per_call") or [])
        for r in range(rounds if rounds > 1 else 0):
            lines.append(f"  round {r + 1}: " + ", ".join(
                f"{st['rate']}: {ratio(st['rounds_cpu_ms_per_call'][r], kr[st['rate']]['rounds_cpu_ms_per_call'][r])}"
                + ("" if st["rounds_clean"][r] and kr[st["rate"]]["rounds_clean"][r] else "*")
                for st in sb["steps"] if st["rate"] in kr))
    return lines


def floor_cpu_table(cpu):
    """The floor study's CPU per call: each proxy, its ratio to Kamailio,
    and the relay floor's."""
    if not cpu:
        return []
    fmt = lambda st: f"{st['cpu_ms_per_call']:.3f}{'' if st['clean'] else '*'}"
    lines = ["CPU per call, median of rounds (ms; * = not clean): the relay floor is the least any proxy",
             "pays here for a call's datagrams; above the floor = (proxy - relay) / (kamailio - relay)",
             f"{'cps':>6} {'relay':>8} {'switchboard':>12} {'kamailio':>9} {'sb/k':>6} {'relay/k':>8}"
             f" {'above the floor sb/k':>21}"]
    for rl, sb, ka in zip(cpu["relay"], cpu["switchboard"], cpu["kamailio"]):
        r, s, k = rl["cpu_ms_per_call"], sb["cpu_ms_per_call"], ka["cpu_ms_per_call"]
        above = ratio(s - r, k - r) if None not in (r, s, k) and k > r else None
        lines.append(f"{sb['rate']:>6} {fmt(rl):>8} {fmt(sb):>12} {fmt(ka):>9} {fmt_ratio(ratio(s, k)):>6}"
                     f" {fmt_ratio(ratio(r, k)):>8} {fmt_ratio(above):>21}")
        lines.append(f"{'':>6} rounds: relay {rl['rounds_cpu_ms_per_call']}, switchboard"
                     f" {sb['rounds_cpu_ms_per_call']}, kamailio {ka['rounds_cpu_ms_per_call']}")
    return lines


def fmt_ratio(r):
    return "-" if r is None else f"{r:.2f}"


def study_table(kind, results):
    lines = []
    if kind == "media":
        return media_table(results)
    if kind == "floor":
        lines.append(f"{'echo server':12} {'loop':>6} {'gap us':>7} {'RTT p50 us':>11} {'p99 us':>8} {'max us':>8}")
        for e in results["echo"]:
            lines.append(f"{e['server']:12} {e.get('loop', 'closed'):>6} {e['gap_us']:>7} {e['p50_us']:>11}"
                         f" {e['p99_us']:>8} {e['max_us']:>8}")
        for key, name in (("relay_latency", "relay floor"), ("switchboard", "switchboard")):
            st = results.get(key)
            if st:
                lines.append(f"{name} at {st['rate']} cps: {invite_100_summary(st['latency'] or {})}; "
                             f"{st['cpu_ms_per_call']} ms CPU per call")
        return lines + floor_cpu_table(results.get("cpu"))
    if kind == "ws":
        lines.append(f"{'configuration':28} {'max clean cps':>13}  ms CPU per call at each rate")
        for name, r in results.items():
            per = ", ".join(f"{s['rate']}: {s['cpu_ms_per_call']}{'' if s['clean'] else '*'}"
                            for s in r["steps"])
            lines.append(f"{name:28} {r['max_clean_cps']:>13}  {per}")
        for over in ("tcp", "ws"):
            a = results.get(f"switchboard over {over}", {}).get("steps", [])
            kb = {st["rate"]: st for st in results.get(f"kamailio over {over}", {}).get("steps", [])}
            lines.append(f"ratio sb/k of CPU per call over {over}: " + ", ".join(
                f"{st['rate']}: {ratio(st['cpu_ms_per_call'], kb[st['rate']]['cpu_ms_per_call'])}"
                for st in a if st["rate"] in kb and kb[st["rate"]]["clean"] and st["cpu_ms_per_call"]))
        return lines
    if kind in ("tcp", "tls"):
        lines.append(f"{'configuration':28} {'max clean cps':>13} {'bytes/idle conn':>15}  "
                     f"ms CPU per call at each rate")
        for name, r in results.items():
            per = ", ".join(f"{s['rate']}: {s['cpu_ms_per_call']}{'' if s['clean'] else '*'}"
                            for s in r["steps"])
            idle = (r.get("idle") or {}).get("bytes_per_connection", "-")
            lines.append(f"{name:28} {r['max_clean_cps']:>13} {str(idle):>15}  {per}")
        names = list(results)
        if len(names) == 2:
            a, b = (results[n]["steps"] for n in names)
            kb = {st["rate"]: st for st in b}
            lines.append("ratio sb/k of CPU per call: " + ", ".join(
                f"{st['rate']}: {ratio(st['cpu_ms_per_call'], kb[st['rate']]['cpu_ms_per_call'])}"
                for st in a if st["rate"] in kb and kb[st["rate"]]["clean"] and st["cpu_ms_per_call"]))
        return lines
    if kind == "redis":
        lines.append(f"{'configuration':28} {'max clean/s':>11}  us CPU per registration at each rate"
                     f" (Redis's own in brackets)")
        for name, r in results["registrations"].items():
            per = ", ".join(f"{s['rate']}: {s['cpu_us_per_registration']}"
                            + (f" [{s['redis_cpu_us_per_registration']}]" if s.get("redis_cpu_us_per_registration") else "")
                            for s in r["steps"])
            lines.append(f"{name:28} {r['max_clean_per_second']:>11}  {per}")
        lines += study_table("office", results["calls"])
        for name, r in results.get("setup_latency", {}).items():
            lat = r["latency"] or {}
            lines.append(f"{name:28} setup at {r['rate']} cps: " + ", ".join(
                f"{leg.replace('_', '->')} p50 {(lat.get(leg) or {}).get('p50_ms')} p99 {(lat.get(leg) or {}).get('p99_ms')} ms"
                for leg in ("invite_100", "invite_180", "invite_200")))
        for phase, p in results["propagation"].items():
            lines.append(f"propagation A->B, {phase:10}: p50 {p['p50_ms']} ms, p99 {p['p99_ms']} ms,"
                         f" max {p['max_ms']} ms ({p['samples']} samples)")
        return lines
    if kind in ("admin", "office"):
        lines.append(f"{'configuration':28} {'clean':>5}  mean ms CPU per call at each rate (ratio to kamailio)")
        k = results.get("kamailio-w1", {}).get("mean_cpu_ms_per_call", {})
        for name, r in results.items():
            per = ", ".join(f"{rate}: {v} ({ratio(v, k.get(rate))})" for rate, v in r["mean_cpu_ms_per_call"].items())
            lines.append(f"{name:28} {str(r['all_clean']):>5}  {per}")
            if r.get("scrapes"):
                lines.append(f"{'':28} {'':>5}  /metrics: {r['scrapes']}")
        return lines
    if kind == "registrations":
        lines.append(f"{'configuration':28} {'max clean/s':>11} {'bytes/reg':>10}  us CPU per registration at each rate")
        for name, r in results.items():
            per = ", ".join(f"{s['rate']}: {s['cpu_us_per_registration']}" for s in r["steps"])
            lines.append(f"{name:28} {r['max_clean_per_second']:>11} {str(r['memory']['bytes_per_registration']):>10}  {per}")
    else:
        lines.append(f"{'configuration':28} {'max clean cps':>13}  ms CPU per call at each rate")
        for name, r in results.items():
            per = ", ".join(f"{s['rate']}: {s['cpu_ms_per_call']}" for s in r["steps"])
            lines.append(f"{name:28} {r['max_clean_cps']:>13}  {per}")
    return lines


def run_study(run, bench, kind, quick):
    try:
        if kind == "registrations":
            results = registration_study(run, quick)
        elif kind in ("tcp", "tls"):
            results = stream_study(run, bench, kind, quick)
        elif kind == "ws":
            results = ws_study(run, bench, quick)
        elif kind == "admin":
            results = admin_study(run, bench, quick)
        elif kind == "office":
            results = office_study(run, bench, quick)
        elif kind == "redis":
            results = redis_study(run, bench, quick)
        elif kind == "floor":
            results = floor_study(run, bench, quick)
        elif kind == "media":
            results = media_study(run, bench, quick)
        else:
            results = auth_study(run, bench, quick)
    finally:
        run.cleanup()
    lines = study_table(kind, results)
    print("\n".join(lines))
    meta = {"machine": versions(), "command": f"bench/run.sh --study {kind}" + (" --quick" if quick else ""),
            "proxy_cpus": run.proxy_cpus, "sipp_cpus": run.sipp_cpus, "date": run.stamp,
            "raw": run.tmp, "table": lines}
    out = os.path.join(BENCH, "results", f"{run.stamp}-{kind}{'-quick' if quick else ''}.json")
    with open(out, "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    print(f"results: {out}")


def versions():
    def first_line(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=10)
            lines = [l.strip() for l in (out.stdout + out.stderr).splitlines() if l.strip()]
            return lines[0] if lines else None
        except (OSError, subprocess.TimeoutExpired):
            return None
    cpu = None
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"cpu": cpu, "cores": os.cpu_count(), "kernel": platform.release(),
            "switchboard": first_line([os.path.join(ROOT, "build-release", "switchboard"), "--version"]),
            "kamailio": first_line(["kamailio", "-v"]), "sipp": first_line(["sipp", "-v"])}


def ratio(a, b):
    return round(a / b, 3) if a is not None and b else None


def latency(res, leg, q):
    return (((res.get("fixed") or {}).get("latency") or {}).get(leg) or {}).get(q)


def report(run, results, meta):
    sb = results["switchboard"]
    ka = results["kamailio"]
    rows = [("max clean CPS (1 worker)", sb["max_cps"], ka["max_cps"], "higher"),
            ("CPU ms per call", sb.get("cpu_ms_per_call"), ka.get("cpu_ms_per_call"), "lower")]
    for leg in ("invite_100", "invite_180", "invite_200"):
        for q in ("p50_ms", "p99_ms"):
            rows.append((f"{leg.replace('_', '->')} {q[:3]} ms", latency(sb, leg, q), latency(ka, leg, q),
                         "lower"))
    rows += [("registrations per second", sb["registrations"]["per_second"], ka["registrations"]["per_second"], "higher"),
             ("bytes per registration (PSS)", sb["registrations"]["bytes_per_registration"],
              ka["registrations"]["bytes_per_registration"], "lower"),
             ("bytes per registration, settled", sb["registrations"].get("bytes_per_registration_settled"),
              ka["registrations"].get("bytes_per_registration_settled"), "lower"),
             ("bytes per held call (PSS)", sb["held_calls"]["bytes_per_call"], ka["held_calls"]["bytes_per_call"], "lower"),
             ("PSS with users registered, KiB", sb["registrations"]["pss_after_kib"], ka["registrations"]["pss_after_kib"], "lower")]
    lines = [f"switchboard vs Kamailio on {meta['machine']['cpu']} ({meta['machine']['cores']} cores); "
             f"proxy on CPU {run.proxy_cpus}, SIPp on CPU {run.sipp_cpus}; fixed rate {meta['fixed_rate']} cps",
             f"{'figure':34} {'switchboard':>12} {'kamailio':>12} {'ratio sb/k':>11}  better"]
    for name, a, b, better in rows:
        fmt = lambda v: "-" if v is None else (f"{v:.3f}" if isinstance(v, float) else str(v))
        lines.append(f"{name:34} {fmt(a):>12} {fmt(b):>12} {fmt(ratio(a, b)):>11}  {better}")
    half = sb.get("half_max") or {}
    lines.append(f"switchboard at half its max clean rate ({half.get('rate')} cps): "
                 + invite_100_summary(half.get("latency") or {}))
    floor = results.get("floor")
    p99 = ((half.get("latency") or {}).get("invite_100") or {}).get("p99_ms")
    if floor and p99 is not None:
        over = p99 - floor["p99_us"] / 1000
        lines.append(f"  the machine's floor in this run (echo server, sleeping, {floor['gap_us']} us apart): "
                     f"p50 {floor['p50_us'] / 1000:.3f} ms, p99 {floor['p99_us'] / 1000:.3f} ms;"
                     f" INVITE->100 p99 is {over:.3f} ms above it")
    open_floor = results.get("floor_open")
    if open_floor and p99 is not None:
        lines.append(f"  the same echo server sent to on a schedule (open loop, as SIPp sends): "
                     f"p50 {open_floor['p50_us'] / 1000:.3f} ms, p99 {open_floor['p99_us'] / 1000:.3f} ms;"
                     f" INVITE->100 p99 is {p99 - open_floor['p99_us'] / 1000:.3f} ms above it")
    half2 = (results.get("half_max_workers") or {}).get("2")
    if half2:
        lines.append(f"switchboard, 2 workers, at half their max clean rate ({half2.get('rate')} cps): "
                     + invite_100_summary(half2.get("latency") or {}))
    lines.append("CPU per call at every rate step (ms; * = not clean; w2: 2 workers, listeners + queue):")
    lines.append(f"{'cps':>6} {'switchboard':>12} {'kamailio':>12} {'ratio sb/k':>11} {'sb w2':>9} {'w2/k':>6}")
    ka_steps = {st["rate"]: st for st in ka["steps"]}
    w2_steps = {st["rate"]: st for st in (results.get("scaling_steps") or {}).get("2", [])}
    for st in sb["steps"]:
        k, w2 = ka_steps.get(st["rate"]), w2_steps.get(st["rate"])
        fmt = lambda x: "-" if not x or x["cpu_ms_per_call"] is None else \
            f"{x['cpu_ms_per_call']:.3f}{'' if x['clean'] else '*'}"
        r = ratio(st["cpu_ms_per_call"], k["cpu_ms_per_call"]) if k and k["clean"] else None
        r2 = ratio(w2["cpu_ms_per_call"], k["cpu_ms_per_call"]) if k and k["clean"] and w2 else None
        lines.append(f"{st['rate']:>6} {fmt(st):>12} {fmt(k):>12} {'-' if r is None else f'{r:.2f}':>11}"
                     f" {fmt(w2):>9} {'-' if r2 is None else f'{r2:.2f}':>6}")
    for kind in ("switchboard", "kamailio"):
        per = [f"{st['rate']}: " + "/".join(f"{c:.3f}" for c in st["rounds_cpu_ms_per_call"])
               for st in results[kind]["steps"] if st.get("rounds_cpu_ms_per_call")]
        if per:
            lines.append(f"  {kind}, each round's ms per call (median shown): " + ", ".join(per))
    lines.append("switchboard scaling (max clean CPS): " +
                 ", ".join(f"{w} worker(s) {results['scaling'][str(w)]}" for w in (1, 2, 4)))
    table = "\n".join(lines)
    print(table)
    meta["table"] = lines
    out = os.path.join(BENCH, "results", f"{run.stamp}{'-quick' if run.quick else ''}")
    with open(out + ".json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=1)
    chart(out, results)
    print(f"results: {out}.json" + (f", {out}.png" if os.path.exists(out + '.png') else ""))


def chart(out, results):
    if not shutil.which("gnuplot"):
        return
    data = out + ".dat"
    with open(data, "w") as f:
        f.write("label value\n")
        f.write(f"\"switchboard w1\" {results['scaling']['1']}\n\"switchboard w2\" {results['scaling']['2']}\n")
        f.write(f"\"switchboard w4\" {results['scaling']['4']}\n\"kamailio w1\" {results['kamailio']['max_cps']}\n")
    lat = out + ".lat"
    with open(lat, "w") as f:
        for p in ("switchboard", "kamailio"):
            r = results[p]
            f.write(f"\"{p}\" {latency(r, 'invite_100', 'p99_ms') or 0} {latency(r, 'invite_180', 'p99_ms') or 0} "
                    f"{latency(r, 'invite_200', 'p99_ms') or 0}\n")
    cpu = out + ".cpu"
    with open(cpu, "w") as f:
        for p in ("switchboard", "kamailio"):
            f.write(f"# {p}\n")
            for st in results[p]["steps"]:
                if st["cpu_ms_per_call"] is not None and st["clean"]:
                    f.write(f"{st['rate']} {st['cpu_ms_per_call'] * 1000}\n")
            f.write("\n\n")
    script = f"""
set terminal png size 1500,450
set output '{out}.png'
set multiplot layout 1,3
set style fill solid 0.6
set boxwidth 0.6
set title 'max clean calls per second'
set yrange [0:*]
plot '{data}' using 0:2:xtic(1) every ::1 with boxes notitle
set title 'p99 latency at the fixed rate (ms)'
set style data histograms
set style histogram cluster gap 1
plot '{lat}' using 2:xtic(1) title 'INVITE->100', '' using 3 title 'INVITE->180', '' using 4 title 'INVITE->200'
set title 'CPU per call at each clean rate step (us)'
set style data linespoints
set xlabel 'calls per second'
set yrange [0:*]
plot '{cpu}' index 0 using 1:2 title 'switchboard', '' index 1 using 1:2 title 'kamailio'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=script, text=True, capture_output=True)
    for f in (data, lat, cpu):
        os.unlink(f)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smoke run, under 2 minutes")
    ap.add_argument("--study", choices=["registrations", "auth", "tcp", "tls", "admin", "office", "redis", "floor",
                                        "media", "ws"],
                    help="instead of the main comparison: registrations with and without a store"
                         " (SQLite), calls with and without digest authentication, or calls over"
                         " TCP or TLS (one connection per call) and memory per idle connection,"
                         " or CPU per call with the admin plane off, idle and scraped every second,"
                         " or with no dial plan vs a 1000-extension one, or the machine's latency"
                         " floor (an echo server sleeping or spinning; a relay that does nothing,"
                         " bench/relay_floor.c, and its CPU per call) next to switchboard's and"
                         " Kamailio's, or"
                         " calls with their media relayed by rtpengine (and its own CPU), or"
                         " calls from a WebSocket client vs a TCP one")
    args = ap.parse_args()
    run = Run(args.quick)
    bench = Bench(run)
    if args.study:
        run_study(run, bench, args.study, args.quick)
        return
    rates = [200, 600, 1200] if args.quick else [250, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 7000, 8000]
    results = {}
    try:
        log("kamailio, 1 worker")
        results["kamailio"] = measure(run, bench, "kamailio", 1, rates)
        log("switchboard, 1 worker")
        results["switchboard"] = measure(run, bench, "switchboard", 1, rates)
        log("the rates where Kamailio was clean, twice more each")
        paired_rounds(run, bench, results, 0 if args.quick else 2)
        fixed = max(100, min(results["kamailio"]["max_cps"], results["switchboard"]["max_cps"]) // 2)
        if args.quick:
            fixed = 100
        log(f"fixed-rate runs at {fixed} cps, memory")
        for kind in ("kamailio", "switchboard"):
            r = measure(run, bench, kind, 1, [], fixed_rate=fixed, memory=True)
            for key in ("fixed", "cpu_ms_per_call", "registrations", "held_calls"):
                results[kind][key] = r[key]
        half = max(100, results["switchboard"]["max_cps"] // 2)
        log(f"switchboard latency at half its max clean rate, {half} cps")
        r = measure(run, bench, "switchboard", 1, [], fixed_rate=half)
        results["switchboard"]["half_max"] = r["fixed"]
        # the floor in the same run: an echo server that sleeps between
        # datagrams as the proxy does, about as far apart as the proxy
        # receives them at that rate (six per call)
        gap = max(20, int(1e6 / (half * 6)))
        log(f"the machine's floor: an echo server, {gap} us apart")
        results["floor"] = echo_floor(run, gap, "sleep", 1 if args.quick else 3)
        results["floor_open"] = echo_floor(run, gap, "sleep", 1 if args.quick else 3, loop="open")
        results["scaling"] = {"1": results["switchboard"]["max_cps"]}
        results["scaling_steps"] = {}
        results["half_max_workers"] = {}
        for w in (2, 4):
            log(f"switchboard, {w} workers")
            r = measure(run, bench, "switchboard", w, rates)
            results["scaling"][str(w)] = r["max_cps"]
            results["scaling_steps"][str(w)] = r["steps"]
        half2 = max(100, results["scaling"]["2"] // 2)
        log(f"switchboard, 2 workers, latency at half their max clean rate, {half2} cps")
        results["half_max_workers"]["2"] = measure(run, bench, "switchboard", 2, [], fixed_rate=half2)["fixed"]
    finally:
        run.cleanup()
    meta = {"machine": versions(), "command": "bench/run.sh" + (" --quick" if args.quick else ""),
            "quick": args.quick, "fixed_rate": fixed, "proxy_cpus": run.proxy_cpus, "sipp_cpus": run.sipp_cpus,
            "step_seconds": bench.step_seconds, "date": run.stamp, "raw": run.tmp}
    report(run, results, meta)


if __name__ == "__main__":
    main()
