#!/usr/bin/env python3
"""Checks the deployment files under deploy/ as far as a machine without a
container engine, and without systemd as PID 1, allows. scripts/check-deploy
builds the binaries with deploy/build.sh (the Dockerfiles' build step) into
STAGE, then runs this with the validators it installed.

Every check runs the real thing: the staged binaries started the way each
deployment starts them (the image's ENV, USER, CMD and HEALTHCHECK; the
units' ExecStart and capabilities; the pods' env, args and capabilities),
systemd-analyze, hadolint and kubernetes-validate. Each validator is also fed
a broken copy, which must fail, so a validator that passes everything fails
here.

    deploy/check.py STAGE
"""

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
import traceback
import urllib.error
import urllib.request
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
UNITS = DEPLOY / "systemd"
KUBE = DEPLOY / "kubernetes"
# The oldest Kubernetes minor still commonly run, and the newest the
# validator knows.
KUBE_VERSIONS = ["1.30.0", "1.37.0"]
# systemd-analyze security's exposure (x10) each unit must stay under.
EXPOSURE_LIMIT = {"faultline.service": 20, "faultline-probe.service": 30}
# The systemd units' DynamicUser stands in as this uid here.
DYNAMIC_UID = 65534
TIMEOUT = 60

CHECKS = []


def check(fn):
    CHECKS.append(fn)
    return fn


# ---------------------------------------------------------------- parsing


def dockerfile_stages(path):
    """[(stage name, [(INSTRUCTION, text)])], continuation lines joined."""
    stages, buf = [], ""
    for line in path.read_text().splitlines():
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        if s.endswith("\\"):
            buf += s[:-1] + " "
            continue
        word, _, rest = (buf + s).partition(" ")
        buf = ""
        word, rest = word.upper(), rest.strip()
        if word == "FROM":
            parts = rest.split()
            name = parts[2] if len(parts) == 3 and parts[1].upper() == "AS" else None
            stages.append((name, []))
        stages[-1][1].append((word, rest))
    return stages


class Image:
    """What a Dockerfile's final stage gives a container."""

    def __init__(self, path):
        self.path = path
        self.stages = dockerfile_stages(path)
        final = self.stages[-1][1]
        self.env, self.copies, self.user = {}, [], None
        self.entrypoint, self.cmd, self.healthcheck = [], [], None
        self.volumes, self.expose, self.stopsignal = [], [], "SIGTERM"
        for word, text in final:
            if word == "ENV":
                self.env.update(kv.split("=", 1) for kv in shlex.split(text))
            elif word == "COPY":
                self.copies.append(text.split())
            elif word == "USER":
                self.user = text
            elif word == "ENTRYPOINT":
                self.entrypoint = json.loads(text)
            elif word == "CMD":
                self.cmd = json.loads(text)
            elif word == "HEALTHCHECK":
                self.healthcheck = json.loads(text.split(" CMD ", 1)[1])
            elif word == "VOLUME":
                self.volumes = json.loads(text)
            elif word == "EXPOSE":
                self.expose = text.split()
            elif word == "STOPSIGNAL":
                self.stopsignal = text

    def runs(self, stage):
        return [t for w, t in dict(self.stages)[stage] if w == "RUN"]


def unit(path):
    """{section: {key: [values]}} of a systemd unit file."""
    out, section = {}, None
    for line in path.read_text().splitlines():
        s = line.strip()
        if not s or s[0] in "#;":
            continue
        if s.startswith("["):
            section = out.setdefault(s.strip("[]"), {})
            continue
        key, _, value = s.partition("=")
        section.setdefault(key.strip(), []).append(value.strip())
    return out


def seconds(value):
    """systemd time span (`40s`, `1min 30s`, `45`) in seconds."""
    scale = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0
    for num, suffix in re.findall(r"(\d+)\s*([a-z]*)", value):
        total += int(num) * scale[suffix]
    return total


def kube_docs(name):
    return [d for d in yaml.safe_load_all((KUBE / name).read_text()) if d]


def broken(text, old, new):
    """`text` with `old` made `new`; the copy a validator must refuse."""
    assert old in text, f"nothing to break: {old!r} is gone"
    return text.replace(old, new)


def kind(docs, k):
    (found,) = [d for d in docs if d["kind"] == k]
    return found


def server_defaults():
    """drain_delay_s and shutdown_grace_s defaults, from README's table."""
    readme = (ROOT / "README.md").read_text()
    return {
        key: int(re.search(rf"\| `{key}` \| `\w+` \| `(\d+)` \|", readme).group(1))
        for key in ("drain_delay_s", "shutdown_grace_s")
    }


# ---------------------------------------------------------------- processes


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(cmd, **kw):
    kw.setdefault("timeout", TIMEOUT)
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@contextlib.contextmanager
def spawned(cmd, **kw):
    """A child that is killed and waited for however the block ends."""
    log = tempfile.TemporaryFile(mode="w+")
    child = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, **kw)
    child.log = log
    try:
        yield child
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=TIMEOUT)
        log.close()


def output(child):
    child.log.seek(0)
    return child.log.read()


def until(what, probe, limit=TIMEOUT):
    """Polls `probe` until it returns something truthy."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        got = probe()
        if got:
            return got
        time.sleep(0.2)
    raise AssertionError(f"{what}: not within {limit} s")


def http(port, path, token=None):
    """(status, body) of GET on loopback."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def as_user(uid, gid, caps=None, bounding=None):
    """setpriv prefix: run as uid:gid, optionally with ambient `caps`."""
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={gid}", "--clear-groups"]
    if caps is not None:
        ambient = ",".join("+" + c.lower() for c in caps) or "-all"
        cmd += [f"--inh-caps=-all,{ambient}", f"--ambient-caps=-all,{ambient}"]
    if bounding is not None:
        cmd += ["--bounding-set=-all" + "".join(",+" + c.lower() for c in bounding)]
    return cmd + ["--"]


def root_with(caps):
    """setpriv prefix: root whose capabilities are only `caps` (a pod's
    `drop: [ALL]`, `add: caps`, allowPrivilegeEscalation false)."""
    bounding = "-all" + "".join(",+" + c.lower() for c in caps)
    return ["setpriv", f"--bounding-set={bounding}", "--no-new-privs", "--"]


# ---------------------------------------------------------------- the server


class Server:
    """The staged server binary, started as one deployment starts it."""

    def __init__(self, stage, env, uid, args, data):
        self.bin = stage / "server/usr/local/bin"
        self.port = free_port()
        self.uid = uid
        self.data = data
        listen = env.get("FAULTLINE_LISTEN", "127.0.0.1:8740")
        self.env = {
            "PATH": f"{self.bin}:/usr/bin:/bin",
            "HOME": "/nonexistent",
            **env,
            "FAULTLINE_LISTEN": f"{listen.rsplit(':', 1)[0]}:{self.port}",
            "FAULTLINE_DATA_DIR": str(data),
        }
        self.args = args

    def cli(self, *args):
        """A `faultline` command as the same user on the same data."""
        out = run(self.prefix() + [str(self.bin / "faultline"), *args], env=self.env, cwd="/")
        assert out.returncode == 0, f"faultline {' '.join(args)}: {out.stderr}"
        return out.stdout.strip()

    def prefix(self):
        return as_user(self.uid, self.uid) if self.uid else []

    def start(self):
        cmd = self.prefix() + [str(self.bin / self.args[0]), *self.args[1:]]
        return spawned(cmd, env=self.env, cwd="/")

    def ready(self, child):
        def up():
            assert child.poll() is None, f"server exited:\n{output(child)}"
            return run([str(self.bin / "faultline"), "healthcheck"], env=self.env).returncode == 0

        until("server healthy", up)


def fresh_volume(stage, image, tmp):
    """A new volume on the image's data directory: Docker fills it with what
    the image has there (deploy/build.sh staged it), owned as the
    Dockerfile's `COPY --chown` makes it."""
    (copy,) = [c for c in image.copies if c[-1] == image.env["FAULTLINE_DATA_DIR"]]
    owner = [a.split("=", 1)[1] for a in copy if a.startswith("--chown=")][0]
    uid, gid = (int(x) for x in owner.split(":"))
    data = Path(tmp) / "data"
    shutil.copytree(stage / "server" / copy[-2].removeprefix("/out/"), data)
    os.chown(data, uid, gid)
    return data


# ---------------------------------------------------------------- images


@check
def dockerfiles_pass_hadolint(ctx):
    files = [DEPLOY / "server.Dockerfile", DEPLOY / "probe.Dockerfile"]
    out = run(["hadolint", *map(str, files)])
    assert out.returncode == 0 and not out.stdout.strip(), out.stdout + out.stderr
    with tempfile.TemporaryDirectory() as tmp:
        bad = Path(tmp) / "Dockerfile"
        bad.write_text(broken(files[0].read_text(), "rust:1.95-slim-bookworm", "rust:latest"))
        out = run(["hadolint", str(bad)])
        assert out.returncode != 0 and "DL3007" in out.stdout, "hadolint passed an unpinned base image"


@check
def images_install_what_build_sh_staged(ctx):
    for what, binary in [("server", "faultline"), ("probe", "faultline-probe")]:
        image = Image(DEPLOY / f"{what}.Dockerfile")
        runs = image.runs("build")
        assert any(r.endswith(f"deploy/build.sh {what} /out release") for r in runs), runs
        sources = [c[-2] for c in image.copies if "--from=build" in c]
        assert f"/out/usr/local/bin/{binary}" in sources, sources
        for src in sources:
            staged = ctx.stage / what / src.removeprefix("/out/")
            assert staged.exists(), f"{image.path.name} copies {src}; build.sh made no {staged}"
        assert image.entrypoint == [binary], image.entrypoint


@check
def server_image_serves_as_its_user_and_drains_on_stop(ctx):
    image = Image(DEPLOY / "server.Dockerfile")
    uid = int(image.user.split(":")[0])
    assert uid != 0, "the server image runs as root"
    assert image.volumes == [image.env["FAULTLINE_DATA_DIR"]], image.volumes
    assert image.env["FAULTLINE_LISTEN"].startswith("0.0.0.0:"), image.env
    assert image.expose == [image.env["FAULTLINE_LISTEN"].rsplit(":", 1)[1]], image.expose
    volume = tempfile.TemporaryDirectory()
    os.chmod(volume.name, 0o755)
    data = fresh_volume(ctx.stage, image, volume.name)
    server = Server(ctx.stage, image.env, uid, image.entrypoint + image.cmd, data)
    # The probes below ship to this server with tokens made the operator's way.
    ctx.tokens = {name: server.cli("collector", "add", name) for name in ("systemd", "kubernetes")}
    with volume, server.start() as child:
        # The image's own HEALTHCHECK command, as Docker runs it.
        def healthy():
            assert child.poll() is None, output(child)
            cmd = [str(server.bin / image.healthcheck[0]), *image.healthcheck[1:]]
            return run(cmd, env=server.env).returncode == 0

        until("HEALTHCHECK", healthy)
        assert http(server.port, "/readyz")[0] == 200
        ctx.server = server
        try:
            ctx.probes_shipped()
        except Exception:
            ctx.ship_error = traceback.format_exc()
        defaults = server_defaults()
        os.kill(child.pid, getattr(signal, image.stopsignal))
        # Draining: still serving, readiness failing.
        status, body = until("readiness fails on stop", lambda: (s := http(server.port, "/readyz"))[0] == 503 and s)
        assert "draining" in body, body
        assert http(server.port, "/healthz")[0] == 200
        child.wait(timeout=defaults["drain_delay_s"] + defaults["shutdown_grace_s"] + 10)
        assert child.returncode == 0, output(child)
        cmd = [str(server.bin / image.healthcheck[0]), *image.healthcheck[1:]]
        out = run(cmd, env=server.env)
        assert out.returncode != 0 and "healthz" in out.stderr, out.stderr


# ---------------------------------------------------------------- probes shipping


def probe_config(text, server_port, token, spool):
    cfg = tomllib.loads(text)
    for key in ("server", "token", "spool_dir"):
        assert key in cfg, f"probe config has no {key}"
    text = text.replace(cfg["server"], f"http://127.0.0.1:{server_port}")
    text = text.replace(cfg["token"], token)
    # The probe waits a random part of its interval before its first report
    # (so a fleet never reports in step); a short interval here bounds that
    # wait, since the check is about wiring, not the schedule.
    assert "interval_s" in cfg, "probe config has no interval_s"
    text = re.sub(r"(?m)^(\s*)interval_s\s*=.*$", r"\g<1>interval_s = 5", text)
    return text.replace(cfg["spool_dir"], str(spool))


def probe_args(args, config_in_deployment, config_here):
    """The deployment's probe arguments with its config path made local."""
    assert config_in_deployment in args, (args, config_in_deployment)
    return [config_here if a == config_in_deployment else a for a in args]


def start_probes(ctx, stack, tmp):
    """Each deployment's probe, with its own arguments, config and privileges."""
    probe = str(ctx.stage / "probe/usr/local/bin/faultline-probe")
    # systemd: ExecStart, the shipped probe.toml as its credential, a dynamic
    # user with the unit's ambient capabilities.
    svc = unit(UNITS / "faultline-probe.service")["Service"]
    exec_start = shlex.split(svc["ExecStart"][0])
    caps = svc["AmbientCapabilities"][0].replace("CAP_", "").split()
    home = tmp / "systemd"
    (home / "spool").mkdir(parents=True)
    os.chown(home / "spool", DYNAMIC_UID, DYNAMIC_UID)
    (home / "probe.toml").write_text(
        probe_config((UNITS / "faultline-probe.toml").read_text(), ctx.server.port, ctx.tokens["systemd"], home / "spool")
    )
    args = probe_args(exec_start[1:], "%d/probe.toml", str(home / "probe.toml"))
    children = [stack.enter_context(spawned(as_user(DYNAMIC_UID, DYNAMIC_UID, caps, caps) + [probe, *args]))]
    # Kubernetes: the DaemonSet's args, the Secret's probe.toml, root with
    # the container's capabilities.
    docs = kube_docs("probe.yaml")
    (container,) = kind(docs, "DaemonSet")["spec"]["template"]["spec"]["containers"]
    home = tmp / "kubernetes"
    (home / "spool").mkdir(parents=True)
    secret = kind(docs, "Secret")["stringData"]["probe.toml"]
    (home / "probe.toml").write_text(probe_config(secret, ctx.server.port, ctx.tokens["kubernetes"], home / "spool"))
    mount = [m for m in container["volumeMounts"] if m["name"] == "config"][0]["mountPath"]
    args = probe_args(container["args"], f"{mount}/probe.toml", str(home / "probe.toml"))
    caps = container["securityContext"]["capabilities"]["add"]
    children.append(stack.enter_context(spawned(root_with(caps) + [probe, *args])))
    return children


def shipped(ctx, children):
    for child in children:
        assert child.poll() is None, f"{child.args}: exited\n{output(child)}"
    listed = json.loads(ctx.server.cli("collector", "list", "--format", "json"))["collectors"]
    return {c["name"] for c in listed if c["last_report_at"]} == set(ctx.tokens)


@check
def probe_deployments_ship_reports_to_the_server_image(ctx):
    """The probes ran in the server check, while the server image was up."""
    assert ctx.ship_error is None, ctx.ship_error
    assert ctx.shipped, "the server never came up for the probes to ship to"


# ---------------------------------------------------------------- probe capabilities


def collect(prefix, probe, pid_dir):
    """(first observation of each kind, skipped reasons, every observation)."""
    out = run(prefix + [probe, "collect", "--for", "1", "--pmtu", "127.0.0.1"], cwd=pid_dir)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    kinds = {}
    for o in report["observations"]:
        kinds.setdefault(o["kind"], o)
    skipped = {s["kind"]: s["reason"] for s in report.get("skipped", [])}
    return kinds, skipped, report["observations"]


@contextlib.contextmanager
def netns_holder():
    """A network namespace, as a pod's, with a process in it holding a
    listening socket; `.inode` is the namespace's."""
    name = f"fl-check-{os.getpid()}"
    made = run(["ip", "netns", "add", name])
    assert made.returncode == 0, made.stderr
    try:
        run(["ip", "-n", name, "link", "set", "lo", "up"])
        code = (
            "import socket, sys; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); "
            "print('ready', flush=True); sys.stdin.read()"
        )
        cmd = ["ip", "netns", "exec", name, sys.executable, "-c", code]
        with spawned(cmd, stdin=subprocess.PIPE) as child:
            until("namespace holder listening", lambda: "ready" in output(child))
            child.inode = os.stat(f"/run/netns/{name}").st_ino
            yield child
    finally:
        run(["ip", "netns", "del", name])


@contextlib.contextmanager
def fd_holder(uid, sockets):
    """A process of another user holding `sockets` sockets, so it leads the
    probe's busiest-processes list."""
    pairs = [socket.socketpair() for _ in range(sockets // 2)]
    fds = [s.fileno() for pair in pairs for s in pair]
    try:
        with spawned(as_user(uid, uid) + ["sleep", "300"], pass_fds=fds) as child:
            for pair in pairs:
                for s in pair:
                    s.close()
            comm = Path(f"/proc/{child.pid}/comm")
            until("fd holder started", lambda: comm.read_text().strip() == "sleep")
            yield child
    finally:
        for pair in pairs:
            for s in pair:
                s.close()


@check
def probe_capabilities_are_each_needed_and_enough(ctx):
    svc = unit(UNITS / "faultline-probe.service")["Service"]
    caps = svc["AmbientCapabilities"][0].replace("CAP_", "").split()
    assert svc["CapabilityBoundingSet"][0].replace("CAP_", "").split() == caps
    (container,) = kind(kube_docs("probe.yaml"), "DaemonSet")["spec"]["template"]["spec"]["containers"]
    kube_caps = container["securityContext"]["capabilities"]["add"]
    # The DaemonSet enters the pods' network namespaces (setns); the unit
    # reads other namespaces through /proc/PID/net instead.
    assert kube_caps == caps + ["SYS_ADMIN"], f"the DaemonSet and the unit disagree: {kube_caps} vs {caps}"
    probe = str(ctx.stage / "probe/usr/local/bin/faultline-probe")
    have_nat_tool = any(shutil.which(t) for t in ("iptables-save", "nft"))
    with tempfile.TemporaryDirectory() as tmp, fd_holder(65532, 600) as holder, netns_holder() as pod:

        def symptoms(prefix):
            kinds, skipped, observations = collect(prefix, probe, tmp)
            mine = [p for p in kinds["process_fds"]["processes"] if p["pid"] == holder.pid]
            pods = [
                o for o in observations
                if o["kind"] == "tcp_states" and (o.get("netns") or {}).get("inode") == pod.inode
            ]
            via = pods[0]["netns"].get("read_via") if pods else None
            return {
                "NET_RAW": "pmtu" in skipped,
                "NET_ADMIN": have_nat_tool and "nat_rules" in skipped,
                "DAC_READ_SEARCH": not mine,
                "SYS_PTRACE": bool(mine) and mine[0]["sockets"] < 600,
                "SYS_ADMIN": via != "sock_diag",
            }, skipped, via

        for name, prefix_for, have in [
            ("systemd", lambda cs: as_user(DYNAMIC_UID, DYNAMIC_UID, cs, cs), caps),
            ("kubernetes", root_with, kube_caps),
        ]:
            seen, skipped, via = symptoms(prefix_for(have))
            missing = {c: v for c, v in seen.items() if v and c in have}
            assert not missing, f"{name}: with {have}: {missing} (skipped: {skipped})"
            # Without SYS_ADMIN the namespace is still read, through /proc.
            want = "sock_diag" if "SYS_ADMIN" in have else "proc"
            assert via == want, f"{name}: the namespace's sockets read via {via}, not {want}"
        for cap in kube_caps:
            fewer = [c for c in kube_caps if c != cap]
            seen, skipped, _ = symptoms(as_user(DYNAMIC_UID, DYNAMIC_UID, fewer, fewer))
            if cap == "NET_ADMIN" and not have_nat_tool:
                continue
            assert seen[cap], f"without {cap} nothing was missing: {seen} (skipped: {skipped})"


# ---------------------------------------------------------------- systemd


def systemd_root(stage, tmp):
    """A root for systemd-analyze --root: the units, the binaries where their
    ExecStart looks, and the system's own units they depend on."""
    root = Path(tmp) / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    for what in ("server", "probe"):
        shutil.copytree(stage / what / "usr", root / "usr", dirs_exist_ok=True)
    (root / "etc/systemd/system").mkdir(parents=True)
    for u in UNITS.glob("*.service"):
        shutil.copy(u, root / "etc/systemd/system" / u.name)
    return root


def verify(root, name):
    return run(["systemd-analyze", "verify", f"--root={root}", name])


@check
def systemd_units_verify(ctx):
    with tempfile.TemporaryDirectory() as tmp:
        root = systemd_root(ctx.stage, tmp)
        for u in UNITS.glob("*.service"):
            out = verify(root, u.name)
            said = (out.stdout + out.stderr).strip()
            assert out.returncode == 0 and not said, f"{u.name}: {said}"
        # systemd-analyze only warns (exit 0) about a misspelt directive:
        # anything it says is a failure, and it must say something here.
        unit_file = root / "etc/systemd/system/faultline.service"
        unit_file.write_text(broken(unit_file.read_text(), "ProtectSystem=strict", "ProtectSytem=strict"))
        out = verify(root, "faultline.service")
        assert "ProtectSytem" in out.stderr, f"a misspelt directive passed: {out.stderr}"


@check
def systemd_units_are_hardened(ctx):
    with tempfile.TemporaryDirectory() as tmp:
        root = systemd_root(ctx.stage, tmp)
        for name, limit in EXPOSURE_LIMIT.items():
            out = run(["systemd-analyze", "security", "--offline=yes", f"--root={root}", f"--threshold={limit}", name])
            level = re.search(r"Overall exposure level for \S+: ([\d.]+)", out.stdout)
            assert out.returncode == 0, f"{name}: exposure {level and level.group(1)} over {limit / 10}"


@check
def systemd_stop_outlasts_the_drain(ctx):
    svc = unit(UNITS / "faultline.service")["Service"]
    config = {**server_defaults(), **tomllib.loads((UNITS / "faultline.toml").read_text())}
    drain = config["drain_delay_s"] + config["shutdown_grace_s"]
    assert svc["KillSignal"] == ["SIGTERM"], svc["KillSignal"]
    assert seconds(svc["TimeoutStopSec"][0]) > drain, f"TimeoutStopSec {svc['TimeoutStopSec']} <= {drain} s"


@check
def systemd_server_starts_with_its_config(ctx):
    svc = unit(UNITS / "faultline.service")["Service"]
    args = shlex.split(svc["ExecStart"][0])
    config = args[args.index("--config") + 1]
    assert config == "/etc/faultline/faultline.toml", config
    cfg = tomllib.loads((UNITS / "faultline.toml").read_text())
    state = svc["StateDirectory"][0]
    assert cfg["data_dir"] == f"/var/lib/{state}", (cfg["data_dir"], state)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        data = Path(tmp) / state
        data.mkdir()
        os.chown(data, DYNAMIC_UID, DYNAMIC_UID)
        args = [Path(args[0]).name] + [str(UNITS / "faultline.toml") if a == config else a for a in args[1:]]
        # FAULTLINE_* outrank the file: only the address and the directory move.
        server = Server(ctx.stage, {"FAULTLINE_LISTEN": cfg["listen"]}, DYNAMIC_UID, args, data)
        with server.start() as child:
            server.ready(child)
            assert http(server.port, "/readyz")[0] == 200
            child.send_signal(signal.SIGINT)
            child.wait(timeout=TIMEOUT)
        assert (data / "faultline.db").exists(), list(data.iterdir())


# ---------------------------------------------------------------- Kubernetes


def kube_validate(files, strict=True):
    flags = ["--strict"] if strict else []
    results = []
    for version in KUBE_VERSIONS:
        results.append(run(["kubernetes-validate", "--quiet", *flags, "-k", version, *map(str, files)]))
    return results


@check
def kubernetes_manifests_validate(ctx):
    files = sorted(KUBE.glob("*.yaml")) + sorted(KUBE.glob("optional/*.yaml"))
    assert len(files) >= 3, files
    for out in kube_validate(files):
        assert out.returncode == 0, out.stdout + out.stderr
    # Broken copies must fail, naming the field.
    text = (KUBE / "server.yaml").read_text()
    copies = {
        "spec.replicas": broken(text, "replicas: 1", "replicas: one"),
        "terminationGracePeriod'": broken(text, "terminationGracePeriodSeconds:", "terminationGracePeriod:"),
        "readynessProbe": broken(text, "readinessProbe:", "readynessProbe:"),
    }
    with tempfile.TemporaryDirectory() as tmp:
        for field, body in copies.items():
            path = Path(tmp) / "server.yaml"
            path.write_text(body)
            for out in kube_validate([path]):
                assert out.returncode != 0 and field.strip("'") in out.stdout, f"{field}: {out.stdout}"


def server_pod():
    docs = kube_docs("server.yaml")
    deployment = kind(docs, "Deployment")
    pod = deployment["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    return docs, deployment, pod, container


def literal_env(container):
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


@check
def kubernetes_server_termination_outlasts_the_drain(ctx):
    _, deployment, pod, container = server_pod()
    env = {k.removeprefix("FAULTLINE_").lower(): int(v) for k, v in literal_env(container).items() if k.endswith("_S")}
    config = {**server_defaults(), **env}
    drain = config["drain_delay_s"] + config["shutdown_grace_s"]
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace > drain, f"terminationGracePeriodSeconds {grace} <= {drain}"
    assert "preStop" not in container.get("lifecycle", {}), "the server drains itself; a preStop sleep only adds to it"
    assert deployment["spec"]["strategy"]["type"] == "Recreate", "two pods on one SQLite claim"


@check
def kubernetes_server_pod_answers_its_probes(ctx):
    docs, _, pod, container = server_pod()
    image = Image(DEPLOY / "server.Dockerfile")
    spec = pod["spec"]
    uid = spec["securityContext"]["runAsUser"]
    assert uid == int(image.user.split(":")[0]) == spec["securityContext"]["fsGroup"], "pod and image users differ"
    port = container["ports"][0]
    env = {**image.env, **literal_env(container)}
    assert int(env["FAULTLINE_LISTEN"].rsplit(":", 1)[1]) == port["containerPort"]
    notes = pod["metadata"]["annotations"]
    assert notes["prometheus.io/port"] == str(port["containerPort"]), notes
    # The database URL comes from the optional Secret the example provides.
    (db,) = [e for e in container["env"] if e["name"] == "FAULTLINE_DATABASE"]
    ref = db["valueFrom"]["secretKeyRef"]
    secret = yaml.safe_load((KUBE / "optional/postgres-secret.yaml").read_text())
    assert ref["optional"] and secret["metadata"]["name"] == ref["name"] and ref["key"] in secret["stringData"]
    (service,) = [d for d in docs if d["kind"] == "Service"]
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)
        data = Path(tmp) / "data"
        data.mkdir()
        os.chown(data, uid, uid)
        server = Server(ctx.stage, env, uid, image.entrypoint + container["args"], data)
        with server.start() as child:
            server.ready(child)
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                get = container[probe]["httpGet"]
                assert get["port"] == port["name"], probe
                assert http(server.port, get["path"])[0] == 200, f"{probe} {get['path']}"
            status, body = http(server.port, notes["prometheus.io/path"])
            assert status == 200 and "# TYPE faultline_draining gauge" in body, body[:200]


@check
def kubernetes_probe_daemonset_sees_the_node(ctx):
    docs = kube_docs("probe.yaml")
    spec = kind(docs, "DaemonSet")["spec"]["template"]["spec"]
    assert spec["hostNetwork"] and spec["hostPID"], spec
    (container,) = spec["containers"]
    image = Image(DEPLOY / "probe.Dockerfile")
    assert container["args"] == image.cmd, "the DaemonSet and the image's CMD run the probe differently"
    svc = unit(UNITS / "faultline-probe.service")["Service"]
    exec_args = shlex.split(svc["ExecStart"][0])[1:]
    assert exec_args[:-1] == container["args"][:-1], (exec_args, container["args"])
    server = tomllib.loads(kind(docs, "Secret")["stringData"]["probe.toml"])["server"]
    (svc_doc,) = [d for d in kube_docs("server.yaml") if d["kind"] == "Service"]
    assert f"//{svc_doc['metadata']['name']}." in server and server.endswith(f":{svc_doc['spec']['ports'][0]['port']}"), server


# ---------------------------------------------------------------- main


class Context:
    def __init__(self, stage):
        self.stage = stage
        self.shipped = False
        self.ship_error = None
        self.tokens = {}
        self.server = None

    def probes_shipped(self):
        with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)
            children = start_probes(self, stack, Path(tmp))
            until("both probe deployments shipped a report", lambda: shipped(self, children))
            self.shipped = True


def main():
    stage = Path(sys.argv[1]).resolve()
    os.chmod(stage, 0o755)
    ctx = Context(stage)
    failed = 0
    for fn in CHECKS:
        started = time.monotonic()
        try:
            fn(ctx)
            print(f"ok   {fn.__name__} ({time.monotonic() - started:.1f} s)", flush=True)
        except Exception:
            failed += 1
            print(f"FAIL {fn.__name__}\n{traceback.format_exc()}", flush=True)
    print(f"deploy: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
