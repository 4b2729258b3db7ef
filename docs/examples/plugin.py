#!/usr/bin/python3
"""A complete certinbox plugin in Python: the protocol of docs/plugins.md with pyzmq only.

It handles each event once, in seq order (an event handled but not yet acknowledged when the
plugin dies is handled again: handlers must be idempotent). Handling here appends the event as a
JSON line to options.out, or prints it when there is no `out`.

    [[plugin]]
    name = "example"
    command = "/usr/bin/python3"
    args = ["/usr/share/doc/certinbox/examples/plugin.py"]
    events = ["cert."]
    [plugin.options]
    out = "/var/lib/certinbox/example-events.jsonl"

Needs python3-zmq (Debian's package). By hand: eval "$(certinbox plugin env example)"; ./plugin.py
"""
import json
import os
import signal
import sys
import time

import zmq

stopping = False


class Refused(Exception):
    """An error reply: {"error": {"code", "message"}}."""

    def __init__(self, error):
        super().__init__(error["code"] + ": " + error["message"])
        self.code = error["code"]


def stop(signum, frame):
    global stopping
    stopping = True


class Daemon:
    """Control requests: one REQ socket per request, so a lost reply never wedges the next one."""

    def __init__(self, context, env):
        self.context, self.env = context, env

    def request(self, op, timeout_ms=10000, **args):
        args.update(op=op, plugin=self.env["CERTINBOX_PLUGIN"],
                    token=self.env["CERTINBOX_PLUGIN_TOKEN"])
        with self.context.socket(zmq.REQ) as sock:
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(self.env["CERTINBOX_CONTROL"])
            sock.send_string(json.dumps(args))
            waited = 0
            while not sock.poll(200):  # short steps: SIGTERM is noticed quickly
                waited += 200
                if stopping or waited >= timeout_ms:
                    raise ConnectionError("no reply to %s from %s" % (op, self.env["CERTINBOX_CONTROL"]))
            reply = json.loads(sock.recv())
        if "error" in reply:
            raise Refused(reply["error"])
        return reply


class Plugin:
    def __init__(self, env):
        self.env = env
        self.name = env["CERTINBOX_PLUGIN"]
        self.prefixes = json.loads(env.get("CERTINBOX_PLUGIN_EVENTS") or '[""]')
        self.options = json.loads(env.get("CERTINBOX_PLUGIN_OPTIONS") or "{}")
        self.supervisor = int(env.get("CERTINBOX_SUPERVISOR_PID") or 0)
        self.context = zmq.Context()
        self.daemon = Daemon(self.context, env)
        self.last = 0  # every event up to this seq is handled (or not one of ours)

    def handle(self, event):
        line = json.dumps(event, sort_keys=True)
        if "out" in self.options:
            with open(self.options["out"], "a") as out:
                out.write(line + "\n")
        else:
            print(line, flush=True)

    def wanted(self, event):
        return any(event["type"].startswith(prefix) for prefix in self.prefixes)

    def ack(self, seq):
        self.daemon.request("ack", cursor="plugin:" + self.name, seq=seq)

    def catch_up(self):
        """Replays the outbox from self.last: handles ours in seq order, acks as it goes."""
        server_prefix = self.prefixes[0] if len(self.prefixes) == 1 else ""
        while not stopping:
            reply = self.daemon.request("events", since=self.last, limit=500, type=server_prefix)
            for event in reply["events"]:
                if event["seq"] > self.last and self.wanted(event):
                    self.handle(event)
                    self.last = event["seq"]
                    self.ack(self.last)
            if reply["scanned_to"] > self.last:  # events not ours move the cursor too
                self.last = reply["scanned_to"]
                self.ack(self.last)
            if not reply["more"]:
                return

    def supervisor_gone(self):
        return self.supervisor and os.getppid() != self.supervisor

    def run(self):
        sub = self.context.socket(zmq.SUB)  # subscribe first: nothing falls between replay and live
        sub.setsockopt(zmq.LINGER, 0)
        for prefix in self.prefixes:
            sub.setsockopt_string(zmq.SUBSCRIBE, prefix)
        sub.connect(self.env["CERTINBOX_PUBLISH"])
        connected = False
        idle_since = time.monotonic()
        while not stopping and not self.supervisor_gone():
            try:
                if not connected:
                    hello = self.daemon.request("plugin.hello", timeout_ms=5000)
                    self.last = max(self.last, hello["seq"])
                    connected = True
                    self.catch_up()
                if not sub.poll(200):
                    if time.monotonic() - idle_since > 2:  # the PUB socket may drop a burst's tail
                        self.catch_up()
                        idle_since = time.monotonic()
                    continue
                idle_since = time.monotonic()
                topic, body = sub.recv_multipart()
                event = json.loads(body)
                if event["seq"] <= self.last:
                    continue  # seen in a replay already
                if event["seq"] == self.last + 1:
                    self.handle(event)
                    self.last = event["seq"]
                    self.ack(self.last)
                else:
                    self.catch_up()  # a gap: the outbox has every event, this one included
            except Refused as refused:
                print("refused:", refused, file=sys.stderr)
                if refused.code in ("unauthenticated", "unknown_plugin"):
                    return 1
                connected = False
                time.sleep(1)
            except (ConnectionError, zmq.ZMQError) as error:
                if not stopping:
                    print("waiting for the daemon:", error, file=sys.stderr)
                    connected = False
                    time.sleep(1)
        return 0


def main():
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    missing = [name for name in ("CERTINBOX_PLUGIN", "CERTINBOX_PLUGIN_TOKEN", "CERTINBOX_CONTROL",
                                 "CERTINBOX_PUBLISH") if not os.environ.get(name)]
    if missing:
        print("not set:", ", ".join(missing), "(run by certinboxd, or: eval \"$(certinbox plugin env NAME)\")",
              file=sys.stderr)
        return 1
    return Plugin(dict(os.environ)).run()


if __name__ == "__main__":
    sys.exit(main())
