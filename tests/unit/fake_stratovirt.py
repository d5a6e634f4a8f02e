#!/usr/bin/python3
"""A stand-in for the `stratovirt` binary in tests/unit/test_stratovirt.c.

No StratoVirt binary exists on the build hosts.  This fake checks the command
line against the syntax of StratoVirt's config guidebook (docs/config_guidebook.md,
openeuler-mirror/stratovirt) and serves QMP the way its QMP document and
machine_manager/src/qmp show it: the greeting, string command ids only (a
number makes the request unparsable: an error without an id), STOP/RESUME
events before the reply, DEVICE_DELETED before device_del's reply, the
SHUTDOWN event after quit's reply, microvm's replaceable disk slots.

FAKE_STRATOVIRT_MODE: exit (fail at once, as without KVM), serve, hang
(ignores quit and SIGTERM), poweroff (the guest powers off after QMP is up).
FAKE_STRATOVIRT_LOG: a file every QMP request is appended to.
"""
import json
import os
import re
import signal
import socket
import sys

BLK_SLOTS = 4
OPTIONS_WITH_VALUE = {"-machine", "-smp", "-m", "-kernel", "-initrd", "-append", "-qmp",
                      "-serial", "-drive", "-device", "-netdev", "-chardev", "-object"}
# The properties the guidebook lists for each -device driver (microvm).
DEVICE_PROPS = {
    "virtio-blk-device": {"drive", "id", "iothread", "serial"},
    "virtio-net-device": {"id", "netdev", "iothread", "mac"},
    "vhost-vsock-device": {"id", "guest-cid", "vhostfd"},
    "vhost-user-fs-device": {"id", "chardev", "tag"},
    "virtio-rng-device": {"id", "rng", "max-bytes", "period"},
}
DRIVE_PROPS = {"id", "file", "readonly", "direct", "throttling.iops-total", "discard",
               "detect-zeroes", "if", "format", "aio"}
NETDEV_PROPS = {"id", "ifname", "fd", "fds", "queues", "vhost", "vhostfd", "vhostfds"}


def die(msg):
    sys.stderr.write("fake stratovirt: %s\n" % msg)
    sys.exit(1)


def props(value, first_is_type=True):
    parts = value.split(",")
    kind = parts.pop(0) if first_is_type else None
    out = {}
    for p in parts:
        key, _, val = p.partition("=")
        if key in out:
            die("`%s` given twice in `%s`" % (key, value))
        out[key] = val
    return kind, out


def check_fd(what, value):
    try:
        os.fstat(int(value))
    except (ValueError, OSError) as e:
        die("%s fd `%s` is not open: %s" % (what, value, e))


def parse_args(argv):
    opts = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "-D":  # optional log path
            if i + 1 < len(argv) and not argv[i + 1].startswith("-"):
                i += 1
            i += 1
            continue
        if arg not in OPTIONS_WITH_VALUE or i + 1 >= len(argv):
            die("unknown option `%s`" % arg)
        opts.append((arg, argv[i + 1]))
        i += 2
    return opts


def check_command_line(opts):
    """Returns the QMP socket path."""
    seen = {o for o, _ in opts}
    for needed in ("-machine", "-kernel", "-append", "-qmp"):
        if needed not in seen:
            die("missing %s" % needed)
    qmp = None
    for opt, value in opts:
        if opt == "-machine":
            if not value.startswith("type=microvm"):
                die("machine `%s`: expected type=microvm" % value)
        elif opt == "-qmp":
            m = re.fullmatch(r"unix:(/[^,]+),server,nowait", value)
            if not m:
                die("-qmp `%s`: expected unix:PATH,server,nowait" % value)
            qmp = m.group(1)
        elif opt == "-serial":
            if value == "stdio" and not os.isatty(0):
                die("Failed to set terminal to raw mode: Inappropriate ioctl for device")
            m = re.fullmatch(r"file,path=(/[^,]+)", value)
            if value != "stdio" and not m:
                die("-serial `%s`: unsupported" % value)
            if m:  # StratoVirt's file backend: read, write, create
                fd = os.open(m.group(1), os.O_RDWR | os.O_CREAT, 0o600)
                os.write(fd, b"fake StratoVirt console: booting\n")
                os.close(fd)
        elif opt == "-device":
            driver, p = props(value)
            if driver not in DEVICE_PROPS:
                die("device `%s`: not a microvm device" % driver)
            extra = set(p) - DEVICE_PROPS[driver]
            if extra:
                die("device `%s`: unknown properties %s" % (driver, sorted(extra)))
            if "vhostfd" in p:
                check_fd("vhost-vsock", p["vhostfd"])
        elif opt == "-drive":
            _, p = props(value, first_is_type=False)
            if set(p) - DRIVE_PROPS or "id" not in p or "file" not in p:
                die("-drive `%s`: bad properties" % value)
        elif opt == "-netdev":
            kind, p = props(value)
            if kind != "tap" or set(p) - NETDEV_PROPS:
                die("-netdev `%s`: bad properties" % value)
            if "fd" in p:
                check_fd("tap", p["fd"])
        elif opt == "-chardev":
            kind, p = props(value)
            if kind != "socket" or "server" in p or "nowait" in p:
                die("-chardev `%s`: vhost-user-fs takes a client socket chardev" % value)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(p["path"])
            except OSError as e:
                die("vhost-user-fs socket `%s`: %s" % (p["path"], e))
        elif opt == "-object":
            kind, p = props(value)
            if kind != "rng-random" or set(p) != {"id", "filename"}:
                die("-object `%s`: bad properties" % value)
    return qmp


class Qmp:
    def __init__(self, conn, mode):
        self.conn = conn
        self.mode = mode
        self.running = True
        self.configs = set()  # blockdev-add node-names (microvm: the device's id)
        self.slots = {}  # addr -> id
        self.log = os.environ.get("FAKE_STRATOVIRT_LOG")

    def send(self, obj):
        self.conn.sendall((json.dumps(obj, separators=(",", ":")) + "\n").encode())

    def event(self, name, data):
        self.send({"event": name, "data": data, "timestamp": {"seconds": 1, "microseconds": 2}})

    def error(self, desc, ident=None, cls="GenericError"):
        reply = {"error": {"class": cls, "desc": desc}}
        if ident is not None:
            reply["id"] = ident
        self.send(reply)

    def reply(self, value, ident):
        out = {"return": value}
        if ident is not None:
            out["id"] = ident
        self.send(out)

    def handle(self, line):
        if self.log:
            with open(self.log, "a") as f:
                f.write(line + "\n")
        try:
            req = json.loads(line)
        except ValueError as e:
            return self.error(str(e))
        extra = set(req) - {"execute", "arguments", "id"}
        if extra:
            return self.error("unknown field `%s`" % sorted(extra)[0])
        ident = req.get("id")
        if ident is not None and not isinstance(ident, str):
            return self.error("invalid type: %s, expected a string" % type(ident).__name__)
        cmd, args = req.get("execute"), req.get("arguments", {})
        handler = getattr(self, "cmd_" + str(cmd).replace("-", "_"), None)
        if handler is None:
            return self.error("command %s not found" % cmd, ident, "CommandNotFound")
        return handler(args, ident)

    def cmd_qmp_capabilities(self, args, ident):
        self.reply({}, ident)
        if self.mode == "poweroff":
            self.event("SHUTDOWN", {"guest": True, "reason": "guest-shutdown"})
            sys.exit(0)

    def cmd_query_status(self, args, ident):
        self.reply({"running": self.running, "singlestep": False,
                    "status": "running" if self.running else "paused"}, ident)

    def cmd_stop(self, args, ident):
        self.running = False
        self.event("STOP", {})
        self.reply({}, ident)

    def cmd_cont(self, args, ident):
        self.running = True
        self.event("RESUME", {})
        self.reply({}, ident)

    def cmd_quit(self, args, ident):
        self.reply({}, ident)
        if self.mode == "hang":
            return
        self.event("SHUTDOWN", {"guest": False, "reason": "host-qmp-quit"})
        sys.exit(0)

    def cmd_blockdev_add(self, args, ident):
        if set(args) - {"node-name", "file", "cache", "read-only", "driver", "aio"}:
            return self.error("Invalid Qmp command arguments!", ident)
        f = args.get("file", {})
        if f.get("driver") != "file" or not str(f.get("filename", "")).startswith("/"):
            return self.error("blockdev-add: bad file %s" % f, ident)
        if args["node-name"] in self.configs:
            return self.error("%s is already registered." % args["node-name"], ident)
        self.configs.add(args["node-name"])
        self.reply({}, ident)

    def cmd_blockdev_del(self, args, ident):
        self.configs.discard(args.get("node-name"))
        self.reply({}, ident)

    def cmd_device_add(self, args, ident):
        if args.get("driver") != "virtio-blk-mmio":
            return self.error("Unsupported replaceable device type.", ident)
        if args.get("id") not in self.configs:
            return self.error("Failed to find device configuration.", ident)
        slot = int(args.get("addr", "x"), 0)
        if slot >= BLK_SLOTS or slot in self.slots:
            return self.error("The slot %d is occupied already." % slot, ident)
        self.slots[slot] = args["id"]
        self.reply({}, ident)

    def cmd_device_del(self, args, ident):
        ident_dev = args.get("id")
        for slot, dev in list(self.slots.items()):
            if dev == ident_dev:
                del self.slots[slot]
                self.configs.discard(dev)
                self.event("DEVICE_DELETED", {"device": dev, "path": dev})
                return self.reply({}, ident)
        self.error("Device %s not found" % ident_dev, ident, "DeviceNotFound")


def main():
    mode = os.environ.get("FAKE_STRATOVIRT_MODE", "serve")
    if mode == "exit":
        die("KVM is not available (/dev/kvm: no such device)")
    qmp_path = check_command_line(parse_args(sys.argv[1:]))
    if mode == "hang":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if os.path.exists(qmp_path):
        os.unlink(qmp_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(qmp_path)
    listener.listen(1)
    conn, _ = listener.accept()
    qmp = Qmp(conn, mode)
    qmp.send({"QMP": {"version": {"qemu": {"micro": 1, "minor": 0, "major": 5},
                                  "package": "StratoVirt-2.4.0"}, "capabilities": []}})
    buf = b""
    try:
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if line.strip():
                    qmp.handle(line.decode())
    finally:
        if os.path.exists(qmp_path):
            os.unlink(qmp_path)
    if mode == "hang":
        signal.pause()


if __name__ == "__main__":
    main()
