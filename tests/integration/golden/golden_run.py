#!/usr/bin/env python3
"""Golden run: one fixed scenario against the real certinboxd and certinbox, every observable
output recorded as one normalized JSON document and compared with reference.json.

It guards refactors that must not change behaviour: the CLI's output (exit codes, stdout, stderr,
--help texts), the events on the publish socket, the control socket's replies (also to malformed
requests) and the files left in failed/.

Usage:
  golden_run.py --certinboxd PATH --certinbox PATH [--plugin-dir DIR]
      prints the normalized document on stdout;
  golden_run.py ... --compare reference.json
      compares field by field, prints the first differences (path, expected, got), exit 1 on any;
  golden_run.py ... --record reference.json
      re-records the reference. Do this only for a deliberate change of behaviour, with the
      binaries of the change, and commit the new reference with the change that explains it.
      Run it twice and check both runs are identical (see --out) before committing.
  --out FILE writes the document to FILE instead of stdout.

Only python3's standard library and python3-zmq (Debian's python3-zmq) are used. Certificates
are made with the openssl command-line tool in a fresh temporary folder, which is removed at the
end (kept, with the daemon's log, when the run fails: --keep keeps it always).

Normalized, because it changes from run to run (and nothing else is): RFC 3339 times and dates
-> "<time>"/"<date>"; pid, uptime and prefetch counts (timing) -> "<n>"; fingerprints,
serials, SPKI hashes, tokens and other hex digests -> "<hexN>" numbered in order of first
appearance (equal values stay equal; a prefix of a known value is "<hexN:LEN>"); PEM blocks and
base64 -> "<pemN>"/"<b64N>" likewise; the temporary folder -> "<tmp>"; the path of certinboxd
in its --help -> "<certinboxd>". Certificates expire whole days from now, so days_left is
stable. Nothing the daemon orders is sorted; every step waits for its events with a deadline.
"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

try:
    import zmq
except ImportError:
    sys.exit("golden_run.py needs python3-zmq: run it with Debian's python3 (scripts/install-deps.sh)")

STEP_DEADLINE = 20.0  # seconds one step may wait for its files and events
CLI_TIMEOUT = 60.0


class GoldenError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Normalization


class Normalizer:
    RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:?\d{2}| UTC)?")
    DATE_MINUTES = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(?: UTC)?")
    DATE = re.compile(r"(?<!\d)\d{4}-\d{2}-\d{2}(?!\d)")
    PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\n?", re.S)
    HEX_COLON = re.compile(r"(?<![0-9A-Za-z:])[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){7,}(?![0-9A-Za-z:])")
    # At least one letter: a long decimal number (a limit such as 2^63-1) is not a digest.
    HEX_LONG = re.compile(r"(?<![0-9A-Za-z])(?=[0-9]*[A-Fa-f])[0-9A-Fa-f]{16,}(?![0-9A-Za-z])")
    HEX_SHORT = re.compile(r"(?<![0-9A-Za-z])[0-9A-Fa-f]{8,15}(?![0-9A-Za-z])")
    # Fields whose numbers vary by timing, not by behaviour.
    VOLATILE_NUMBERS = {"pid", "uptime_seconds"}
    VOLATILE_OBJECTS = {"prefetches"}
    # Fields that are stable hex and must stay checked.
    STABLE_HEX = {"file_hex"}
    # Fields that are always a digest or serial, even in the rare value without a letter.
    HEX_FIELDS = {"fingerprint_sha256", "serial", "spki_sha256", "chain"}

    def __init__(self, tmp, certinboxd, plugin_dir):
        self.tmp = tmp
        self.certinboxd = certinboxd
        self.plugin_dir = plugin_dir
        self.hex = {}
        self.blobs = {}

    def _hex_label(self, value):
        key = value.lower().replace(":", "")
        if key not in self.hex:
            for full, label in self.hex.items():
                if full.startswith(key):
                    return "%s:%d>" % (label[:-1], len(key))
            self.hex[key] = "<hex%d>" % (len(self.hex) + 1)
        return self.hex[key]

    def _short_hex(self, match):
        token = match.group(0).lower()
        for full, label in self.hex.items():
            if full.startswith(token):
                return "%s:%d>" % (label[:-1], len(token))
        if re.search(r"[a-f]", token):
            return self._hex_label(token)
        return token

    def _blob_label(self, kind, value):
        key = (kind, value)
        if key not in self.blobs:
            self.blobs[key] = "<%s%d>" % (kind, len(self.blobs) + 1)
        return self.blobs[key]

    def text(self, s, stable_hex=False):
        s = s.replace(self.certinboxd, "<certinboxd>")
        if self.plugin_dir:
            s = s.replace(self.plugin_dir, "<plugins>")
        s = s.replace(self.tmp, "<tmp>")
        s = self.PEM.sub(lambda m: self._blob_label("pem", m.group(0)), s)
        s = self.RFC3339.sub("<time>", s)
        s = self.DATE_MINUTES.sub("<time>", s)
        s = self.DATE.sub("<date>", s)
        if not stable_hex:
            s = self.HEX_COLON.sub(lambda m: self._hex_label(m.group(0)), s)
            s = self.HEX_LONG.sub(lambda m: self._hex_label(m.group(0)), s)
            s = self.HEX_SHORT.sub(self._short_hex, s)
        return s

    def value(self, v, key=None):
        if isinstance(v, dict):
            out = {}
            for k, item in v.items():
                if k in self.VOLATILE_OBJECTS and isinstance(item, dict):
                    out[k] = {name: "<n>" for name in item}
                elif k in self.VOLATILE_NUMBERS and isinstance(item, int):
                    out[k] = "<n>"
                elif k == "pkcs12_base64" and isinstance(item, str):
                    out[k] = self._blob_label("b64", item)
                else:
                    out[k] = self.value(item, k)
            return out
        if isinstance(v, list):
            return [self.value(item, key) for item in v]
        if isinstance(v, str):
            if key in self.HEX_FIELDS and re.fullmatch(r"[0-9A-Fa-f:]{8,}", v):
                return self._hex_label(v)
            return self.text(v, stable_hex=key in self.STABLE_HEX)
        return v

    def output(self, raw):
        """A program's stdout or stderr: JSON (or JSON Lines) is kept as JSON, so a difference
        names its field; the layout is recorded beside it. Anything else is a list of lines."""
        stripped = raw.strip()
        if stripped and stripped[0] in "{[":
            try:
                parsed = json.loads(stripped)
                return {"json": self.value(parsed), "layout": json_layout(raw, parsed)}
            except ValueError:
                lines = stripped.split("\n")
                try:
                    parsed = [json.loads(line) for line in lines]
                    return {"json_lines": self.value(parsed),
                            "layout": [json_layout(line + "\n", p)
                                       for line, p in zip(lines, parsed)][:1]}
                except ValueError:
                    pass
        return self.text(raw).split("\n")


def json_layout(raw, parsed):
    for name, kwargs in (("compact", {"separators": (",", ":")}),
                         ("default", {}),
                         ("indent2", {"indent": 2}),
                         ("indent4", {"indent": 4})):
        for ascii_ in (False, True):
            text = json.dumps(parsed, ensure_ascii=ascii_, **kwargs)
            if raw == text + "\n":
                return name
            if raw == text:
                return name + ",no-newline"
    return "other"


# ---------------------------------------------------------------------------------------------
# Certificates, made with the openssl command-line tool


def openssl(*args, cwd):
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                            timeout=60)
    if result.returncode != 0:
        raise GoldenError("openssl %s failed: %s" % (" ".join(args), result.stderr))


def write(path, text, mode=None):
    with open(path, "w") as f:
        f.write(text)
    if mode is not None:
        os.chmod(path, mode)


def read(path):
    with open(path) as f:
        return f.read()


def make_key(pki, name):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", name + ".key", cwd=pki)


def asn1_time(t):
    return time.strftime("%Y%m%d%H%M%SZ", time.gmtime(t))


def sign(pki, name, cn, issuer, days, ext, key=None):
    """A certificate for KEY (default NAME.key) with subject CN, signed by ISSUER (None: self
    signed), valid DAYS from now."""
    key = key or name + ".key"
    openssl("req", "-new", "-key", key, "-subj", "/CN=" + cn, "-out", name + ".csr", cwd=pki)
    sign_csr(pki, name, issuer, days, ext)


def sign_csr(pki, name, issuer, days, ext, start=None, end=None):
    """Valid from an hour ago until DAYS days from now less 12 hours: days_left is DAYS - 1 for
    the whole run, whatever second the daemon asks in (never DAYS when the certificate is just
    made, never DAYS - 2 near a day's end)."""
    now = time.time()
    start = start or asn1_time(now - 3600)
    end = end or asn1_time(now + days * 86400 - 43200)
    write(os.path.join(pki, name + ".ext"), "\n".join(ext) + "\n")
    signer = ["-selfsign", "-keyfile", name + ".key"] if issuer is None else \
        ["-cert", issuer + ".pem", "-keyfile", issuer + ".key"]
    openssl("ca", "-batch", "-config", "ca.cnf", *signer, "-in", name + ".csr",
            "-out", name + ".pem", "-notext", "-extfile", name + ".ext",
            "-startdate", start, "-enddate", end, cwd=pki)


LEAF_EXT = ["basicConstraints = critical, CA:FALSE", "keyUsage = critical, digitalSignature",
            "extendedKeyUsage = serverAuth"]
CA_EXT = ["basicConstraints = critical, CA:TRUE", "keyUsage = critical, keyCertSign, cRLSign",
          "subjectKeyIdentifier = hash", "authorityKeyIdentifier = keyid"]


def make_pki(pki):
    os.makedirs(os.path.join(pki, "newcerts"))
    write(os.path.join(pki, "index.txt"), "")
    write(os.path.join(pki, "ca.cnf"), "\n".join([
        "[ca]", "default_ca = golden",
        "[golden]", "database = index.txt", "new_certs_dir = newcerts", "rand_serial = yes",
        "default_md = sha256", "policy = any", "unique_subject = no", "copy_extensions = none",
        "email_in_dn = no",
        "[any]", "commonName = supplied", ""]))
    # Root and intermediate.
    make_key(pki, "root")
    sign(pki, "root", "Golden Root CA", None, 3650, CA_EXT[:3])
    make_key(pki, "inter")
    sign(pki, "inter", "Golden Intermediate CA", "root", 1825, CA_EXT)
    # The leaf, its renewal (same key, later notAfter), one expiring soon.
    make_key(pki, "web")
    sign(pki, "web", "web.example.test", "inter", 200,
         LEAF_EXT + ["subjectAltName = DNS:web.example.test, DNS:www.example.test"])
    sign(pki, "web2", "web.example.test", "inter", 300,
         LEAF_EXT + ["subjectAltName = DNS:www.example.test, DNS:web.example.test"],
         key="web.key")
    make_key(pki, "soon")
    sign(pki, "soon", "soon.example.test", "inter", 10,
         LEAF_EXT + ["subjectAltName = DNS:soon.example.test"])
    # Expired: fixed dates in the past.
    make_key(pki, "old")
    openssl("req", "-new", "-key", "old.key", "-subj", "/CN=old.example.test", "-out", "old.csr",
            cwd=pki)
    sign_csr(pki, "old", "inter", 0, LEAF_EXT + ["subjectAltName = DNS:old.example.test"],
             start="20200101000000Z", end="20200201000000Z")
    # A PKCS#12 for the ops inbox (its password in a sidecar), and one with a wrong password.
    make_key(pki, "api")
    sign(pki, "api", "api.example.test", "inter", 120,
         LEAF_EXT + ["subjectAltName = DNS:api.example.test"])
    openssl("pkcs12", "-export", "-in", "api.pem", "-inkey", "api.key", "-certfile", "inter.pem",
            "-passout", "pass:golden-secret", "-out", "api.pfx", cwd=pki)
    openssl("pkcs12", "-export", "-in", "api.pem", "-inkey", "api.key",
            "-passout", "pass:another-secret", "-out", "locked.pfx", cwd=pki)
    # The same name in two groups (ambiguous), and a key nobody's certificate uses.
    for name in ("dup-a", "dup-b"):
        make_key(pki, name)
        sign(pki, name, "dup.example.test", "inter", 150,
             LEAF_EXT + ["subjectAltName = DNS:dup.example.test"])
    make_key(pki, "orphan")


# ---------------------------------------------------------------------------------------------
# The run


class Run:
    def __init__(self, args):
        self.args = args
        self.certinboxd = os.path.abspath(args.certinboxd)
        self.certinbox = os.path.abspath(args.certinbox)
        # Short, because ipc:// socket paths are limited to 107 bytes.
        self.tmp = tempfile.mkdtemp(prefix="cbg-", dir="/tmp")
        self.plugin_dir = os.path.abspath(args.plugin_dir) if args.plugin_dir else None
        self.norm = Normalizer(self.tmp, self.certinboxd, self.plugin_dir)
        self.pki = os.path.join(self.tmp, "pki")
        self.state = os.path.join(self.tmp, "state")
        self.inboxes = {"alpha": os.path.join(self.tmp, "in-a"),
                        "beta": os.path.join(self.tmp, "in-b")}
        self.control_endpoint = "ipc://%s/control.sock" % self.state
        self.publish_endpoint = "ipc://%s/events.sock" % self.state
        self.config = os.path.join(self.tmp, "certinbox.toml")
        self.log = []  # the document's steps, in order
        self.dropped = {}  # (inbox, file name) -> the bytes dropped
        self.events = {}  # seq -> (topic, event)
        self.recorded_seq = 0  # events up to this seq are in self.log
        self.daemon = None
        self.ctx = zmq.Context()
        self.sub = None
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("CERTINBOX_")}
        self.env.update({"LC_ALL": "C.UTF-8", "COLUMNS": "100", "TZ": "UTC"})

    # -- setup ----------------------------------------------------------------------------------

    def write_config(self):
        # Without --plugin-dir the daemon finds the plugin beside itself.
        deploy = "certinbox-deploy"
        if self.plugin_dir:
            deploy = os.path.join(self.plugin_dir, deploy)
        write(self.config, """\
[daemon]
state_dir = "state"
log_level = "info"
system_trust = false

[bus]
publish = "%(publish)s"
control = "%(control)s"

[http]
listen = ""

[expiry]
expiring_soon_days = 30
notify_days = [60, 30, 14, 7, 1]
scan_interval = "1h"

[[inbox]]
path = "in-a"
name = "alpha"
settle_ms = 100
rescan_interval = "30s"

[[inbox]]
path = "in-b"
name = "beta"
group = "ops"
groups = ["ops"]
labels = ["team-ops"]
settle_ms = 100
rescan_interval = "30s"

[[binding]]
entry = "ops/api.example.test"
resource = "lb-ops:443"

[[plugin]]
name = "deploy"
command = "%(deploy)s"
enabled = false
""" % {"publish": self.publish_endpoint, "control": self.control_endpoint,
       "deploy": deploy})

    def start_daemon(self):
        self.daemon_log = open(os.path.join(self.tmp, "daemon.log"), "wb")
        self.daemon = subprocess.Popen([self.certinboxd, "--config", self.config],
                                       stdin=subprocess.DEVNULL, stdout=self.daemon_log,
                                       stderr=subprocess.STDOUT, env=self.env)
        deadline = time.monotonic() + STEP_DEADLINE
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise GoldenError("certinboxd exited at start (%d)" % self.daemon.returncode)
            if os.path.exists(os.path.join(self.state, "control.sock")):
                reply = self.request({"op": "status"}, timeout=0.5, required=False)
                if reply is not None:
                    break
            time.sleep(0.02)  # polling for the socket file, bounded by the deadline
        else:
            raise GoldenError("certinboxd did not answer on " + self.control_endpoint)
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.setsockopt(zmq.LINGER, 0)
        monitor = self.sub.get_monitor_socket(zmq.EVENT_CONNECTED)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(self.publish_endpoint)
        if not monitor.poll(int(STEP_DEADLINE * 1000)):
            raise GoldenError("the SUB socket did not connect")
        monitor.recv_multipart()
        self.sub.disable_monitor()
        monitor.close()

    def stop_daemon(self):
        if self.daemon is None:
            return None
        self.daemon.send_signal(signal.SIGTERM)
        try:
            code = self.daemon.wait(timeout=STEP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            code = self.daemon.wait()
        self.daemon = None
        self.daemon_log.close()
        return code

    # -- the sockets ----------------------------------------------------------------------------

    def request(self, body, timeout=10.0, required=True):
        """One request on a fresh REQ socket (a REQ that timed out cannot be reused)."""
        sock = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.control_endpoint)
        try:
            sock.send(body if isinstance(body, bytes) else json.dumps(body).encode())
            if not sock.poll(int(timeout * 1000)):
                if required:
                    raise GoldenError("no reply to %r" % body)
                return None
            return json.loads(sock.recv())
        finally:
            sock.close()

    def last_seq(self):
        return self.request({"op": "events", "since": 0, "limit": 1})["last_seq"]

    def drain(self, wait_for=(), min_seq=None):
        """Receives events until every type in WAIT_FOR came (in any order after the last step)
        and every event the daemon has stored has arrived. Returns the new events in seq order."""
        started = time.monotonic()
        deadline = started + STEP_DEADLINE
        wanted = list(wait_for)
        seen_types = []
        target = None
        while True:
            while self.sub.poll(0):
                topic, body = self.sub.recv_multipart()
                event = json.loads(body)
                self.events[event["seq"]] = (topic.decode(), event)
            seen_types = [e["type"] for s, (_, e) in sorted(self.events.items())
                          if s > self.recorded_seq]
            if all(seen_types.count(t) >= wanted.count(t) for t in set(wanted)):
                target = self.last_seq()
                have = max(self.events) if self.events else 0
                if have >= target and all(s in self.events
                                          for s in range(self.recorded_seq + 1, target + 1)):
                    break
            if time.monotonic() > started + 2:
                self.fill_missed_start(self.last_seq())
            if time.monotonic() > deadline:
                raise GoldenError("events: waited for %s, got %s (daemon at seq %s)"
                                  % (wanted, seen_types, target))
            self.sub.poll(100)
        new = [(s, self.events[s]) for s in range(self.recorded_seq + 1, target + 1)]
        self.recorded_seq = target
        return [{"topic": topic, "event": self.norm.value(event)} for _, (topic, event) in new]

    def fill_missed_start(self, target):
        """The daemon's PUB socket drops what no subscriber asked for yet, and a subscription
        reaches it a moment after the connection: events of the first step that came before it
        are replayed from the outbox, as any subscriber does. Only those: any later gap fails."""
        if self.recorded_seq != 0 or target is None:
            return
        first = min(self.events) if self.events else target + 1
        missing = [s for s in range(1, first) if s not in self.events]
        if missing:
            reply = self.request({"op": "events", "since": 0, "limit": len(missing)})
            for event in reply["events"]:
                if event["seq"] < first:
                    self.events[event["seq"]] = (event["type"], event)

    # -- steps ----------------------------------------------------------------------------------

    def drop(self, inbox, name, content_from=None, sidecar=None, expect=(), binary=False,
             content=None):
        """Writes the file (and its sidecar first) outside the inbox with an mtime in the past,
        then renames it in, so the daemon takes it at once; waits until it left the inbox and
        its events came."""
        folder = self.inboxes[inbox]
        staging = os.path.join(self.tmp, "staging")
        os.makedirs(staging, exist_ok=True)
        past = time.time() - 60
        files = []
        if sidecar is not None:
            files.append((name + ".toml", sidecar.encode()))
        if content is None:
            data = b"".join(open(os.path.join(self.pki, src), "rb").read()
                            for src in content_from)
        else:
            data = content
        files.append((name, data))
        for file_name, data in files:
            self.dropped[(inbox, file_name)] = data
            path = os.path.join(staging, file_name)
            with open(path, "wb") as f:
                f.write(data)
            os.utime(path, (past, past))
            os.rename(path, os.path.join(folder, file_name))
        deadline = time.monotonic() + STEP_DEADLINE
        while any(os.path.exists(os.path.join(folder, f)) for f, _ in files):
            if time.monotonic() > deadline:
                raise GoldenError("%s stayed in %s" % (name, inbox))
            time.sleep(0.01)  # polling for the file to leave, bounded by the deadline
        self.log.append({"step": "drop", "inbox": inbox, "file": name,
                         "sidecar": sidecar, "events": self.drain(expect)})

    def cli(self, *argv, expect_events=(), volatile=()):
        full = [self.certinbox, "--control", self.control_endpoint, *argv]
        result = subprocess.run(full, capture_output=True, env=self.env, cwd=self.tmp,
                                stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT)
        out = result.stdout.decode("utf-8", "backslashreplace")
        err = result.stderr.decode("utf-8", "backslashreplace")
        for pattern, replacement in volatile:
            out = re.sub(pattern, replacement, out)
        step = {"step": "cli", "argv": [self.norm.text(a) for a in argv],
                "exit": result.returncode, "stdout": self.norm.output(out),
                "stderr": self.norm.output(err)}
        if self.daemon is not None:
            step["events"] = self.drain(expect_events)
        self.log.append(step)
        return out

    def help(self, binary, *argv):
        result = subprocess.run([binary, *argv], capture_output=True, env=self.env,
                                stdin=subprocess.DEVNULL, timeout=CLI_TIMEOUT)
        self.log.append({"step": "help", "program": os.path.basename(binary), "argv": list(argv),
                         "exit": result.returncode,
                         "stdout": self.norm.output(result.stdout.decode()),
                         "stderr": self.norm.output(result.stderr.decode())})

    def raw(self, label, body, expect_events=()):
        reply = self.request(body)
        self.log.append({"step": "control", "request": label, "reply": self.norm.value(reply),
                         "events": self.drain(expect_events)})
        return reply

    def failed_files(self):
        out = {}
        for inbox, folder in self.inboxes.items():
            failed = os.path.join(folder, "failed")
            files = []
            for name in sorted(os.listdir(failed)):  # a directory listing has no order of its own
                path = os.path.join(failed, name)
                entry = {"name": name, "mode": oct(os.stat(path).st_mode & 0o777)}
                if name.endswith(".error.json"):
                    entry["content"] = self.norm.value(json.loads(read(path)))
                elif name.endswith(".toml"):
                    entry["content"] = self.norm.text(read(path)).split("\n")
                else:
                    # Its bytes vary (signatures); that they are the bytes dropped does not.
                    with open(path, "rb") as f:
                        entry["untouched"] = f.read() == self.dropped.get((inbox, name))
                files.append(entry)
            out[inbox] = {"failed": files,
                          "left_in_inbox": sorted(n for n in os.listdir(folder)
                                                  if n not in ("failed", "processed"))}
        return out

    def exported(self, folder):
        files = []
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            files.append({"name": name, "mode": oct(os.stat(path).st_mode & 0o777),
                          "content": self.norm.text(read(path)).split("\n")})
        return {"folder_mode": oct(os.stat(folder).st_mode & 0o777), "files": files}

    # -- the scenario ---------------------------------------------------------------------------

    def scenario(self):
        os.makedirs(self.pki)
        for folder in self.inboxes.values():
            os.makedirs(folder)
        make_pki(self.pki)
        self.write_config()

        self.help(self.certinboxd, "--help")
        self.help(self.certinbox, "--help")
        self.help(self.certinbox, "--version")
        for sub in (["ls"], ["show"], ["events"], ["status"], ["cursors"], ["rollback"],
                    ["meta"], ["csr"], ["csr", "create"], ["csr", "show"], ["export"],
                    ["bind"], ["unbind"], ["rm"], ["plugin"], ["plugin", "env"], ["keygen"]):
            self.help(self.certinbox, *sub, "--help")

        self.start_daemon()
        self.log.append({"step": "start", "events": self.drain()})

        # Drops, one at a time so their order is the daemon's, not the file system's.
        self.drop("alpha", "root.pem", ["root.pem"], expect=["cert.imported"])
        # A leaf before its intermediate: chain_incomplete until the CA arrives.
        self.drop("alpha", "soon.pem", ["soon.pem", "soon.key"],
                  expect=["cert.imported", "cert.expiring"])
        self.drop("alpha", "inter.pem", ["inter.pem"], expect=["cert.imported", "cert.updated"])
        self.drop("alpha", "web.pem", ["web.pem"],
                  sidecar='description = "the web front"\nlabels = ["prod", "edge"]\n'
                          'bind = ["web-frontend"]\n[metadata]\nowner = "web team"\n'
                          'tier = 1\n',
                  expect=["cert.imported", "cert.bound"])
        self.drop("alpha", "web.key", ["web.key"], expect=["cert.updated"])
        self.drop("alpha", "web-renewed.pem", ["web2.pem", "inter.pem"],
                  sidecar='[metadata]\nticket = "CHG-1"\n', expect=["cert.renewed"])
        self.drop("alpha", "old.pem", ["old.pem", "old.key"], expect=["import.rejected"])
        self.drop("alpha", "garbage.pem", content=b"-----BEGIN CERTIFICATE-----\nnot base64!\n"
                  b"-----END CERTIFICATE-----\n", expect=["import.rejected"])
        self.drop("alpha", "noise.pem", content=b"this is not a certificate\n",
                  expect=["import.rejected"])
        self.drop("alpha", "orphan.key", ["orphan.key"])
        self.drop("alpha", "dup.pem", ["dup-a.pem", "dup-a.key"], expect=["cert.imported"])
        self.drop("beta", "dup.pem", ["dup-b.pem", "dup-b.key"], expect=["cert.imported"])
        self.drop("beta", "api.pfx", ["api.pfx"], sidecar='password = "golden-secret"\n',
                  expect=["cert.imported", "cert.bound"])
        self.drop("beta", "locked.pfx", ["locked.pfx"], sidecar='password = "not-it"\n',
                  expect=["import.rejected"])
        self.drop("beta", "stray.pem", ["web.pem"], sidecar='group = "other"\nname = "x"\n',
                  expect=["import.rejected"])

        # A CSR made by the daemon, signed here, dropped back.
        csr_pem = self.cli("csr", "create", "app", "--cn", "app.example.test", "--san",
                           "DNS:app2.example.test", "--key", "ec-p256", "--label", "csr",
                           "--description", "made by csr create", expect_events=["csr.created"])
        write(os.path.join(self.pki, "app.csr"), csr_pem)
        sign_csr(self.pki, "app", "inter", 90,
                 LEAF_EXT + ["subjectAltName = DNS:app.example.test, DNS:app2.example.test"])
        self.cli("csr", "create", "app", "--cn", "app.example.test")  # name_taken
        self.cli("csr", "create", "bad", "--cn", "x.example.test", "--key", "dsa-1024")
        self.cli("csr", "show", "app", "--json")
        self.drop("alpha", "app.pem", ["app.pem"], expect=["cert.activated"])
        self.cli("csr", "show", "app")
        self.cli("csr", "show", "web.example.test")  # no_csr

        # Reading.
        self.cli("ls")
        self.cli("ls", "--json")
        self.cli("ls", "--status", "expiring_soon")
        self.cli("ls", "--group", "ops", "--json")
        self.cli("ls", "--sort", "expiry")
        self.cli("ls", "--label", "prod", "--expiring-within", "400d")
        self.cli("show", "web.example.test")
        self.cli("show", "web.example.test", "--json")
        self.cli("show", "web.example.test", "--versions")
        self.cli("show", "default/web.example.test", "--pem")
        self.cli("show", "1")
        self.cli("show", "ops/api.example.test")
        self.cli("show", "dup.example.test")  # ambiguous
        self.cli("show", "ops/dup.example.test", "--json")
        self.cli("show", "nosuch.example.test")
        self.cli("show", "9999", "--json")

        # Bindings.
        self.cli("bind", "web.example.test", "lb-web:443", "--plugin", "deploy",
                 expect_events=["cert.bound"])
        self.cli("bind", "web.example.test", "lb-web:443", "--plugin", "deploy")  # unchanged
        self.cli("bind", "soon.example.test", "lb-web:443")  # resource_bound
        self.cli("bind", "soon.example.test", "lb-soon:443", "--plugin", "nosuch")
        self.cli("bind", "soon.example.test", " bad resource")
        self.cli("bind", "soon.example.test", "lb-soon:443", "--json",
                 expect_events=["cert.bound"])
        self.cli("unbind", "soon.example.test", "lb-soon:443", "--json",
                 expect_events=["cert.unbound"])
        self.cli("unbind", "soon.example.test", "lb-soon:443")  # not_found
        self.cli("unbind", "ops/api.example.test", "lb-ops:443")  # declared
        self.cli("show", "web.example.test")

        # Metadata.
        self.cli("meta", "web.example.test", "--description", "the web front, renewed",
                 "--add-label", "renewed", "--remove-label", "edge", "--set", "owner=edge team",
                 "--unset", "tier", expect_events=["cert.updated"])
        self.cli("meta", "web.example.test", "--add-label", "renewed")  # nothing changed
        self.cli("meta", "web.example.test", "--version", "1", "--set", "note=first", "--json",
                 expect_events=["cert.updated"])
        self.cli("meta", "web.example.test")  # no change option: usage
        self.cli("meta", "web.example.test", "--add-label", "")

        # Versions and rollback.
        self.cli("rollback", "web.example.test", "--to", "1", expect_events=["cert.renewed"])
        self.cli("rollback", "web.example.test", "--to", "1")  # already_current
        self.cli("rollback", "web.example.test", "--to", "7")  # not_found
        self.cli("rollback", "web.example.test", "--to", "2", "--json",
                 expect_events=["cert.renewed"])
        self.cli("rollback", "web.example.test")  # --to missing: usage
        self.cli("show", "web.example.test", "--versions", "--json")

        # Export of a certificate (not a key).
        out_dir = os.path.join(self.tmp, "export")
        self.cli("export", "web.example.test", "--out", out_dir)
        self.log.append({"step": "exported", "files": self.exported(out_dir)})
        self.cli("export", "web.example.test", "--out", out_dir)  # files exist: usage
        self.cli("export", "web.example.test", "--out", out_dir, "--chain", "--force")
        self.cli("export", "root.example.test", "--out", out_dir + "2")  # not_found

        # Events and cursors.
        self.cli("events", "--json")
        self.cli("events")
        self.cli("events", "--since", "10", "--type", "cert.re")
        self.cli("cursors")
        self.cli("cursors", "--json")
        self.cli("events", "--cursor", "golden", "--type", "import.")
        self.cli("cursors")
        self.cli("cursors", "--json")
        self.cli("cursors", "--delete", "golden")
        self.cli("cursors", "--delete", "golden")  # not_found
        self.cli("events", "--since", "-1")  # usage

        # Status and the plugin's environment.
        self.cli("status", "--json")
        self.cli("status", volatile=[(r"pid \d+, up [^\n]*", "pid <n>, up <n>")])
        self.cli("plugin", "env", "deploy", "--json")
        self.cli("plugin", "env", "nosuch")

        # Usage errors.
        self.cli("ls", "--sort", "size")
        self.cli("ls", "--expiring-within", "3x")
        self.cli("frobnicate")
        self.cli("show")

        # Raw control requests, including malformed ones.
        self.raw("status", {"op": "status"})
        self.raw("ls expiring", {"op": "ls", "expiring_within": 30 * 86400, "sort": "name"})
        self.raw("show by id", {"op": "show", "entry": "2"})
        self.raw("events page", {"op": "events", "since": 3, "limit": 2, "type": "cert."})
        self.raw("events beyond", {"op": "events", "since": 100000})
        self.raw("ack", {"op": "ack", "cursor": "raw", "seq": 2})
        self.raw("ack back", {"op": "ack", "cursor": "raw", "seq": 1})
        self.raw("cursors", {"op": "cursors"})
        self.raw("cursor.delete", {"op": "cursor.delete", "cursor": "raw"})
        self.raw("op not a string", {"op": 5})
        self.raw("op missing", {"entry": "web.example.test"})
        self.raw("unknown op", {"op": "frobnicate"})
        self.raw("not json", b"{not json")
        self.raw("not an object", [1, 2, 3])
        self.raw("too deep", json.loads("[" * 40 + "]" * 40))
        self.raw("show entry number", {"op": "show", "entry": 5})
        self.raw("show no entry", {"op": "show"})
        self.raw("events since string", {"op": "events", "since": "x"})
        self.raw("events since negative", {"op": "events", "since": -1})
        self.raw("events limit 0", {"op": "events", "limit": 0})
        self.raw("rollback fraction", {"op": "rollback", "entry": "web.example.test", "to": 1.5})
        self.raw("rm empty", {"op": "rm", "entries": []})
        self.raw("meta labels not array", {"op": "meta", "entry": "web.example.test",
                                           "add_labels": "x"})
        self.raw("bind no resource", {"op": "bind", "entry": "web.example.test"})
        self.raw("ack bad cursor", {"op": "ack", "cursor": "bad name!", "seq": 1})
        self.raw("export key with plugin", {"op": "export", "entry": "web.example.test",
                                            "key": True, "plugin": "deploy"})
        self.raw("plugin.hello bad token", {"op": "plugin.hello", "plugin": "deploy",
                                            "token": "wrong"})
        self.raw("csr.create bad san", {"op": "csr.create", "name": "z", "cn": "z.example.test",
                                        "sans": ["FTP:x"]})

        # Deletion.
        self.cli("rm", "inter.example.test", "Golden Intermediate CA", "nosuch")
        self.cli("rm", "web.example.test")  # bound
        self.cli("rm", "soon.example.test", "--json", expect_events=["cert.deleted"])
        self.cli("rm", "dup.example.test")  # ambiguous
        self.cli("rm", "default/dup.example.test", "ops/dup.example.test",
                 expect_events=["cert.deleted", "cert.deleted"])
        self.cli("ls", "--json")

        self.log.append({"step": "files", "inboxes": self.failed_files()})
        code = self.stop_daemon()
        self.log.append({"step": "stop", "exit": code})
        return {"golden": 1, "steps": self.log}

    def close(self, keep):
        if self.daemon is not None:
            self.daemon.kill()
            self.daemon.wait()
        if self.sub is not None:
            self.sub.close()
        self.ctx.term()
        if keep:
            print("golden_run: kept " + self.tmp, file=sys.stderr)
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Comparison


def differences(expected, got, path="$"):
    if type(expected) is not type(got):
        yield path, expected, got
    elif isinstance(expected, dict):
        for key in expected:
            if key not in got:
                yield "%s.%s" % (path, key), expected[key], "<missing>"
            else:
                yield from differences(expected[key], got[key], "%s.%s" % (path, key))
        for key in got:
            if key not in expected:
                yield "%s.%s" % (path, key), "<missing>", got[key]
        if list(expected) != list(got) and set(expected) == set(got):
            yield path + " (key order)", list(expected), list(got)
    elif isinstance(expected, list):
        for i in range(min(len(expected), len(got))):
            yield from differences(expected[i], got[i], "%s[%d]" % (path, i))
        for i in range(len(got), len(expected)):
            yield "%s[%d]" % (path, i), expected[i], "<missing>"
        for i in range(len(expected), len(got)):
            yield "%s[%d]" % (path, i), "<missing>", got[i]
    elif expected != got:
        yield path, expected, got


def describe(doc, path):
    """The step a path points into, so a difference says which command or drop it was."""
    m = re.match(r"\$\.steps\[(\d+)\]", path)
    if not m:
        return ""
    step = doc["steps"][int(m.group(1))]
    what = {k: step[k] for k in ("step", "argv", "program", "inbox", "file", "request")
            if k in step}
    return json.dumps(what)


def compare(reference, got, limit=20):
    diffs = list(differences(reference, got))
    if not diffs:
        return True
    print("golden: %d difference(s) from the reference; the first %d:" % (len(diffs),
                                                                          min(limit, len(diffs))))
    for path, expected, actual in diffs[:limit]:
        print("\n  at %s  %s" % (path, describe(reference, path)))
        print("    expected: %s" % json.dumps(expected)[:600])
        print("    got:      %s" % json.dumps(actual)[:600])
    print("\nIf the change is deliberate, re-record with --record (see the top of golden_run.py).")
    return False


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--certinboxd", required=True)
    parser.add_argument("--certinbox", required=True)
    parser.add_argument("--plugin-dir", help="where the plugins are (default: beside certinboxd)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--compare", metavar="REFERENCE")
    mode.add_argument("--record", metavar="REFERENCE")
    parser.add_argument("--out", help="write the document here instead of stdout")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args()

    started = time.monotonic()
    os.umask(0o022)  # the modes of files the run writes and the CLI exports
    run = Run(args)
    ok = False
    try:
        doc = run.scenario()
        ok = True
    except (GoldenError, subprocess.TimeoutExpired) as error:
        print("golden: the run failed: %s" % error, file=sys.stderr)
        log = os.path.join(run.tmp, "daemon.log")
        if os.path.exists(log):
            print("daemon log:\n" + read(log)[-4000:], file=sys.stderr)
        return 2
    finally:
        run.close(keep=args.keep or not ok)
    text = json.dumps(doc, indent=1, ensure_ascii=False) + "\n"
    print("golden: the run took %.1f s" % (time.monotonic() - started), file=sys.stderr)
    if args.record:
        write(args.record, text)
        print("golden: recorded " + args.record, file=sys.stderr)
    if args.out:
        write(args.out, text)
    if args.compare:
        with open(args.compare) as f:
            reference = json.load(f)
        return 0 if compare(reference, json.loads(text)) else 1
    if not args.record and not args.out:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
