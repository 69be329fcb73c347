#!/usr/bin/env python3
"""Writes the example probe reports of the built-in playbooks and the healthy
reports to server/playbooks/examples/. Deterministic: re-running it gives the
same files. The files are the fixtures; this script only saves typing.

usage: scripts/gen-examples.py"""
import json, os, random, re, uuid
from datetime import datetime, timezone, timedelta

OUT = os.path.join(os.path.dirname(__file__), "..", "server", "playbooks", "examples")
BASE = datetime(2026, 11, 23, 3, 0, 0, tzinfo=timezone.utc)


def report(name, seq, host, observations, minutes=0, length_s=180):
    start = BASE + timedelta(minutes=minutes)
    return {
        "schema": "faultline.report.v1",
        "report_id": str(uuid.uuid5(uuid.NAMESPACE_URL, "faultline-example/" + name)),
        "collector": {"name": host, "host": host, "labels": {"cluster": "prod", "example": name}},
        "started_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "finished_at": (start + timedelta(seconds=length_s)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "observations": observations,
    }


def ms(minutes, second=0.0):
    return int((BASE + timedelta(minutes=minutes)).timestamp() * 1000 + second * 1000)


def tcp(counts, by_peer=()):
    return {"kind": "tcp_states", "counts": counts,
            "by_peer": [{"peer": p, "state": s, "count": n} for p, s, n in by_peer]}


def latency(target, rng, start_ms, n, base, jitter, slow=lambda i: None, status=lambda i: 200, step_ms=1000):
    samples = []
    for i in range(n):
        lat = slow(i) or round(base + rng.random() * jitter, 1)
        samples.append([start_ms + i * step_ms, lat, status(i)])
    return {"kind": "http_latency", "target": target, "samples": samples}


def logs(source, pairs):
    return {"kind": "log_matches", "source": source,
            "patterns": [{"pattern": p, "count": c} for p, c in pairs]}


def facts(**kv):
    return {"kind": "config_facts", "facts": {k.replace("__", "."): v for k, v in kv.items()}}


def pod(name, restarts=0, reason=None, ready=True, readiness=True, prestop=True, ns="prod", ndots=None):
    return {"namespace": ns, "name": name, "restarts": restarts, "last_terminated_reason": reason,
            "ready": ready, "has_readiness_probe": readiness, "has_pre_stop": prestop, "dns_ndots": ndots}


def lifetimes(target, durations, idle=True):
    return {"kind": "conn_lifetimes", "target": target, "idle": idle,
            "connections": [{"duration_s": d, "ended_by": e} for d, e in durations]}


def cert(subject, issuer, days=80, self_signed=False):
    return {"subject": subject, "issuer": issuer,
            "not_after": (BASE + timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "self_signed": self_signed}


def connects(addr, attempts, ok, refused, timeout, refused_at=()):
    return {"kind": "connect_attempts", "targets": [
        {"addr": addr, "attempts": attempts, "ok": ok, "refused": refused, "timeout": timeout,
         "refused_at": list(refused_at)}]}


def resolv(search, ndots, ns="10.96.0.10"):
    return {"nameservers": [ns], "search": search, "ndots": ndots, "timeout_s": 5, "attempts": 2}


def k8s_search(ns):
    """The search list the kubelet writes for a pod in namespace `ns`."""
    return [f"{ns}.svc.cluster.local", "svc.cluster.local", "cluster.local"]


def examples():
    r = random.Random(7)
    yield "keepalive-race-502-1", report("keepalive-race-502-1", 1, "edge-proxy-1", [
        {"kind": "keepalive", "target": "http://10.244.1.17:8080/", "closed_idle_after_s": 5.0, "waited_s": 120.0},
        facts(proxy__upstream_keepalive_timeout_s=60, proxy__upstream_keepalive=64, backend__runtime="node"),
        latency("https://api.example.com/v1/orders", r, ms(0), 600, 35, 20, step_ms=300,
                status=lambda i: 502 if i % 67 == 11 else 200),
        logs("/var/log/nginx/error.log", [("upstream prematurely closed connection", 212),
                                          ("connect() failed (111: Connection refused)", 0)]),
        tcp({"ESTABLISHED": 410, "TIME_WAIT": 1290, "CLOSE_WAIT": 2, "LISTEN": 6}),
    ])
    yield "keepalive-race-502-2", report("keepalive-race-502-2", 2, "ingress-nginx-7c9f", [
        {"kind": "keepalive", "target": "http://10.8.3.40:5000/", "closed_idle_after_s": 20.0, "waited_s": 90.0},
        facts(proxy__upstream_keepalive_timeout_s=60, backend__runtime="gunicorn"),
        latency("https://shop.example.net/cart", r, ms(5), 400, 60, 40, step_ms=450,
                status=lambda i: 502 if i % 120 == 37 else 200),
        logs("/var/log/nginx/error.log", [("upstream prematurely closed connection", 57)]),
    ], minutes=5)

    yield "dns-ndots-search-delay-1", report("dns-ndots-search-delay-1", 1, "payments-6d8f", [
        {"kind": "dns_lookups", "resolv_conf": resolv(k8s_search("payments"), 5), "lookups": [
            {"name": "api.stripe.com", "elapsed_ms": 5012.0, "ok": True,
             "tried": [f"api.stripe.com.{s}" for s in k8s_search("payments")] + ["api.stripe.com."]},
            {"name": "api.stripe.com.", "elapsed_ms": 15.0, "ok": True},
            {"name": "payments-db", "elapsed_ms": 2.1, "ok": True}]},
        latency("http://localhost:8080/charge", r, ms(0), 300, 180, 40,
                slow=lambda i: 5200.0 + i if i in (3, 71, 160, 231) else None),
    ])
    yield "dns-ndots-search-delay-2", report("dns-ndots-search-delay-2", 2, "reporting-worker-2", [
        {"kind": "dns_lookups", "resolv_conf": resolv(k8s_search("reporting") + ["ec2.internal"], 5), "lookups": [
            {"name": "s3.eu-west-1.amazonaws.com", "elapsed_ms": 2430.0, "ok": True},
            {"name": "s3.eu-west-1.amazonaws.com.", "elapsed_ms": 31.0, "ok": True},
            {"name": "hooks.slack.com", "elapsed_ms": 1880.0, "ok": True},
            {"name": "hooks.slack.com.", "elapsed_ms": 22.0, "ok": True}]},
        {"kind": "k8s_pods", "pods": [pod("reporting-worker-2", ndots=None)]},
    ], minutes=9)

    def cut(seconds, n, ended="rst", jitter=0.03, extra=()):
        return [(round(seconds + r.uniform(-jitter, jitter), 3), ended) for _ in range(n)] + list(extra)

    yield "idle-timeout-reset-1", report("idle-timeout-reset-1", 1, "grpc-client-3", [
        lifetimes("grpc.internal.example.com:443", cut(60.0, 12, extra=[(400.0, "open")])),
        tcp({"ESTABLISHED": 85, "TIME_WAIT": 40, "LISTEN": 3}),
    ], length_s=400)
    yield "idle-timeout-reset-2", report("idle-timeout-reset-2", 2, "batch-exporter", [
        lifetimes("10.20.0.9:5432", cut(350.0, 7, jitter=0.4, extra=[(31.2, "fin")])),
        facts(client__tcp_keepalive_s=7200),
    ], length_s=420)

    yield "tls-version-mismatch-1", report("tls-version-mismatch-1", 1, "checkout-v2-5-0", [
        {"kind": "tls_handshake", "target": "api.payments.example:443", "sni": "api.payments.example",
         "versions": {"TLSv1.2": True, "TLSv1.3": False}, "verify": "ok",
         "chain": [cert("CN=api.payments.example", "CN=Example Issuing CA 2"),
                   cert("CN=Example Issuing CA 2", "CN=Example Root CA", days=900)]},
        facts(client__tls_versions=["TLSv1.3"], client__runtime="jdk-17"),
        logs("/var/log/nginx/error.log", [("SSL_do_handshake() failed", 340)]),
    ])
    yield "tls-version-mismatch-2", report("tls-version-mismatch-2", 2, "legacy-billing", [
        {"kind": "tls_handshake", "target": "partner-gw.example.org:8443", "sni": "partner-gw.example.org",
         "versions": {"TLSv1.2": False, "TLSv1.3": True}, "verify": "ok",
         "chain": [cert("CN=partner-gw.example.org", "CN=R11"), cert("CN=R11", "CN=ISRG Root X1", days=600)]},
        facts(client__tls_versions="TLSv1.2"),
        logs("/var/log/nginx/error.log", [("SSL_do_handshake() failed", 58), ("no live upstreams", 3)]),
    ], minutes=3)

    yield "crashing-endpoint-refused-1", report("crashing-endpoint-refused-1", 1, "service-a-5b7d", [
        connects("service-b.prod.svc:8080", 600, 588, 12, 0,
                 [ms(0, s) for s in (44.1, 44.3, 44.9, 45.2, 89.0, 89.4, 89.7, 134.2, 134.5, 134.6, 134.9, 135.3)]),
        {"kind": "k8s_pods", "pods": [pod("service-b-7f9c-a", readiness=False, prestop=False),
                                      pod("service-b-7f9c-b", readiness=False, prestop=False),
                                      pod("service-b-7f9c-c", 147, "OOMKilled", ready=False, readiness=False, prestop=False)]},
    ])
    yield "crashing-endpoint-refused-2", report("crashing-endpoint-refused-2", 2, "gateway-0", [
        connects("inventory.shop.svc:9000", 400, 382, 18, 0,
                 [ms(2, s) for s in (10.0, 10.2, 10.5, 10.6, 11.0, 11.1, 70.4, 70.5, 70.9, 71.3, 71.4, 71.8,
                                     131.0, 131.2, 131.3, 131.7, 132.0, 132.2)]),
        {"kind": "k8s_pods", "pods": [pod("inventory-0", 38, "Error", ready=False, readiness=False),
                                      pod("inventory-1", 0), pod("inventory-2", 1, readiness=False),
                                      pod("inventory-3", 0), pod("inventory-4", 0)]},
    ], minutes=2)

    yield "close-wait-leak-1", report("close-wait-leak-1", 1, "orders-api-1", [
        tcp({"ESTABLISHED": 3, "CLOSE_WAIT": 12800, "TIME_WAIT": 4, "LISTEN": 2},
            [("10.96.0.50", "CLOSE_WAIT", 12800), ("10.0.4.2", "ESTABLISHED", 3)]),
        {"kind": "process_fds", "processes": [
            {"pid": 4121, "name": "orders-api", "open_fds": 12847, "fd_limit": 16384, "sockets": 12810},
            {"pid": 1, "name": "tini", "open_fds": 4, "fd_limit": 1048576, "sockets": 0}]},
        logs("/var/log/orders/app.log", [("too many open files", 931)]),
    ])
    yield "close-wait-leak-2", report("close-wait-leak-2", 2, "thumbnailer-2", [
        tcp({"ESTABLISHED": 37, "CLOSE_WAIT": 3412, "TIME_WAIT": 452, "FIN_WAIT2": 3, "LISTEN": 1},
            [("172.16.8.21", "CLOSE_WAIT", 3311), ("172.16.8.30", "CLOSE_WAIT", 101)]),
        {"kind": "process_fds", "processes": [
            {"pid": 77, "name": "thumbnailer", "open_fds": 3821, "fd_limit": 4096, "sockets": 3460}]},
        logs("/var/log/thumbnailer.log", [("too many open files", 14)]),
    ], minutes=30)

    yield "tls-incomplete-chain-1", report("tls-incomplete-chain-1", 1, "monitor-eu-1", [
        {"kind": "tls_handshake", "target": "api.example.com:443", "sni": "api.example.com",
         "versions": {"TLSv1.2": True, "TLSv1.3": True}, "verify": "unknown_issuer",
         "chain": [cert("CN=api.example.com", "C=US, O=Let's Encrypt, CN=R3", days=89)]},
        logs("/var/log/app/client.log", [("certificate verify failed", 1204)]),
    ])
    yield "tls-incomplete-chain-2", report("tls-incomplete-chain-2", 2, "ci-runner-4", [
        {"kind": "tls_handshake", "target": "registry.corp.example:443", "sni": "registry.corp.example",
         "versions": {"TLSv1.2": True, "TLSv1.3": False}, "verify": "unknown_issuer",
         "chain": [cert("CN=registry.corp.example", "CN=Sectigo RSA Domain Validation Secure Server CA", days=300)]},
        logs("/var/log/ci/runner.log", [("certificate verify failed", 88), ("x509: certificate signed by unknown authority", 88)]),
    ], minutes=12)

    yield "missing-masquerade-1", report("missing-masquerade-1", 1, "node-5", [
        {"kind": "nat_rules", "masquerade_sources": [], "pod_cidrs": ["10.244.5.0/24"]},
        connects("api.external.com:443", 10, 0, 0, 10),
        {"kind": "interfaces", "interfaces": [{"name": "eth0", "mtu": 1500, "up": True},
                                              {"name": "cni0", "mtu": 1450, "up": True, "kind": "bridge"}]},
    ])
    yield "missing-masquerade-2", report("missing-masquerade-2", 2, "gpu-node-12", [
        {"kind": "nat_rules", "masquerade_sources": ["10.244.0.0/24"], "pod_cidrs": ["10.245.3.0/24"]},
        connects("pypi.org:443", 20, 0, 0, 20),
    ], minutes=40)

    def periodic(i, every, offset, lat):
        return lat + (i % 5) * 37 if (i - offset) % every in (0, 1, 2) else None

    yield "periodic-saturation-p99-1", report("periodic-saturation-p99-1", 1, "users-api-2", [
        latency("http://users-api:8080/api/users", r, ms(0), 300, 40, 25,
                slow=lambda i: periodic(i, 30, 0, 1800.0)),
        {"kind": "net_counters", "interval_s": 300, "deltas": {"TcpRetransSegs": 847, "TcpOutSegs": 41200,
                                                                 "TcpExtListenOverflows": 0}},
    ], length_s=300)
    yield "periodic-saturation-p99-2", report("periodic-saturation-p99-2", 2, "search-7", [
        latency("http://search:9200/_search", r, ms(1), 240, 70, 30, step_ms=1000,
                slow=lambda i: periodic(i, 60, 15, 1300.0)),
        {"kind": "net_counters", "interval_s": 240, "deltas": {"TcpRetransSegs": 2210, "TcpOutSegs": 66000}},
        tcp({"ESTABLISHED": 220, "TIME_WAIT": 610, "LISTEN": 4}),
    ], minutes=1, length_s=240)

    yield "reconnect-storm-syn-flood-1", report("reconnect-storm-syn-flood-1", 1, "db-primary", [
        tcp({"ESTABLISHED": 5000, "SYN_RECV": 8000, "TIME_WAIT": 2000, "LISTEN": 2},
            [("10.244.1.23", "SYN_RECV", 120), ("10.244.1.88", "SYN_RECV", 117)]),
        {"kind": "net_counters", "interval_s": 60, "deltas": {"TcpExtSyncookiesSent": 48213,
                                                                "TcpExtListenOverflows": 1520,
                                                                "TcpExtListenDrops": 1520}},
        logs("/var/log/kern.log", [("possible SYN flooding", 37)]),
    ])
    yield "reconnect-storm-syn-flood-2", report("reconnect-storm-syn-flood-2", 2, "redis-main-0", [
        tcp({"ESTABLISHED": 1200, "SYN_RECV": 2600, "TIME_WAIT": 380, "LISTEN": 1}),
        {"kind": "net_counters", "interval_s": 30, "deltas": {"TcpExtSyncookiesSent": 7300,
                                                                "TcpExtListenOverflows": 310}},
    ], minutes=20)

    def pmtu(target, mtu, max_ok):
        sizes = [576, 1000, 1200, 1280, 1350, 1380, 1400, 1420, 1450, 1472, 1500, 4000, 8000, 9001]
        return {"kind": "pmtu", "target": target, "iface_mtu": mtu,
                "probes": [{"size": s, "ok": s <= max_ok} for s in sizes if s <= mtu]}

    yield "mtu-blackhole-1", report("mtu-blackhole-1", 1, "office-gw", [
        pmtu("10.50.0.12", 1500, 1380),
        {"kind": "interfaces", "interfaces": [{"name": "eth0", "mtu": 1500, "up": True},
                                              {"name": "vpn0", "mtu": 1500, "up": True, "kind": "tun"}]},
        {"kind": "net_counters", "interval_s": 60, "deltas": {"TcpRetransSegs": 930, "TcpOutSegs": 8800}},
    ])
    yield "mtu-blackhole-2", report("mtu-blackhole-2", 2, "etl-3", [
        pmtu("203.0.113.40", 9001, 1500),
        {"kind": "interfaces", "interfaces": [{"name": "ens5", "mtu": 9001, "up": True}]},
    ], minutes=50)

    yield "termination-drain-race-1", report("termination-drain-race-1", 1, "frontend-canary", [
        connects("checkout.prod.svc:8080", 900, 893, 7, 0,
                 [ms(0, s) for s in (61.0, 61.2, 61.5, 121.4, 121.5, 121.9, 122.0)]),
        {"kind": "k8s_pods", "pods": [pod(f"checkout-6f7d9-{c}", prestop=False) for c in "abcdef"]},
        latency("http://checkout.prod.svc:8080/health", r, ms(0), 900, 12, 6, step_ms=200,
                status=lambda i: 502 if i in (305, 306, 607) else 200),
    ])
    yield "termination-drain-race-2", report("termination-drain-race-2", 2, "api-gw-2", [
        connects("orders.prod.svc:80", 500, 492, 8, 0,
                 [ms(4, s) for s in (30.0, 30.1, 30.3, 30.8, 95.2, 95.4, 95.5, 96.0)]),
        {"kind": "k8s_pods", "pods": [pod("orders-1", prestop=False), pod("orders-2", prestop=False),
                                      pod("orders-3"), pod("orders-4", 1)]},
        latency("http://orders.prod.svc/ping", r, ms(4), 500, 25, 10, step_ms=250,
                status=lambda i: 503 if i in (120, 121, 380, 381, 382, 383) else 200),
    ], minutes=4)

    yield "conntrack-table-full-1", report("conntrack-table-full-1", 1, "k8s-node-14", [
        {"kind": "conntrack", "count": 262144, "max": 262144, "by_proto": {"tcp": 240100, "udp": 22000, "icmp": 44},
         "tcp_states": {"TIME_WAIT": 180000, "ESTABLISHED": 52000, "CLOSE_WAIT": 8100},
         "drops": 18234, "insert_failed": 9102,
         "timeouts": {"tcp_timeout_established": 432000, "tcp_timeout_time_wait": 120, "udp_timeout": 30}},
        logs("/var/log/kern.log", [("nf_conntrack: table full, dropping packet", 4312)]),
    ])
    yield "conntrack-table-full-2", report("conntrack-table-full-2", 2, "nat-box-b", [
        {"kind": "conntrack", "count": 129900, "max": 131072, "by_proto": {"tcp": 60000, "udp": 69900},
         "tcp_states": {"TIME_WAIT": 21000, "ESTABLISHED": 39000},
         "drops": 0, "insert_failed": 880, "timeouts": {"tcp_timeout_established": 432000, "udp_timeout": 30}},
    ], minutes=14)

    # Third examples: what the probe's window, per-process view and idle
    # sampling show before anything has failed (own generator, so the
    # examples above keep their numbers).
    yield from early_examples(random.Random(23))


def early_examples(r):
    """A leak caught early on a busy proxy, a reset at a hand-set timer, a
    keep-alive race seen by the probe alone."""
    counts = {"ESTABLISHED": 8412, "TIME_WAIT": 30118, "CLOSE_WAIT": 2306, "SYN_RECV": 9, "FIN_WAIT2": 41, "LISTEN": 14}
    yield "close-wait-leak-3", report("close-wait-leak-3", 3, "edge-lb-4", [
        dict(tcp(counts, [("198.51.100.7", "TIME_WAIT", 6100), ("10.30.2.15", "CLOSE_WAIT", 2291),
                          ("198.51.100.9", "ESTABLISHED", 1900)]),
             window={"samples": 11, "seconds": 10.0,
                     "first": dict(counts, CLOSE_WAIT=2298, TIME_WAIT=29870),
                     "min": dict(counts, CLOSE_WAIT=2298, TIME_WAIT=29420),
                     "max": dict(counts, CLOSE_WAIT=2306, TIME_WAIT=30544),
                     "persistent": {"CLOSE_WAIT": 2296}},
             by_process=[
                 {"pid": 3310, "name": "billing-sync", "counts": {"CLOSE_WAIT": 2304, "ESTABLISHED": 12, "LISTEN": 1},
                  "by_peer": [{"peer": "10.30.2.15", "state": "CLOSE_WAIT", "count": 2291}]},
                 {"pid": 912, "name": "haproxy", "counts": {"ESTABLISHED": 8390, "CLOSE_WAIT": 2, "LISTEN": 12}}]),
        {"kind": "process_fds", "processes": [
            {"pid": 912, "name": "haproxy", "open_fds": 16810, "fd_limit": 200000, "sockets": 16790},
            {"pid": 3310, "name": "billing-sync", "open_fds": 2351, "fd_limit": 65536, "sockets": 2318}]},
        {"kind": "net_counters", "interval_s": 10.0, "deltas": {"TcpRetransSegs": 410, "TcpOutSegs": 612000,
                                                                "TcpExtListenOverflows": 0, "TcpExtSyncookiesSent": 0}},
    ], minutes=40, length_s=10)

    yield "close-wait-leak-4", report("close-wait-leak-4", 4, "k8s-node-7", pods_node(leak=True),
                                      minutes=45, length_s=10)

    yield "idle-timeout-reset-3", report("idle-timeout-reset-3", 3, "ws-gateway-2", [
        lifetimes("chat.internal.example:8443",
                  [(round(45.0 + r.uniform(0.0, 0.02), 3), "rst") for _ in range(3)]),
        tcp({"ESTABLISHED": 230, "TIME_WAIT": 1450, "LISTEN": 4}),
    ], minutes=50, length_s=48)

    # After each silence, a burst of 4 requests on as many pooled connections.
    gaps = [1.02, 0.9, 1.05, 1.1] * 3
    start = ms(55)
    idle, at = [], start + 3000
    for i, g in enumerate(gaps):
        gap = round(5.0 * g + r.uniform(0.0, 0.01), 3)
        at += int(gap * 1000)
        for lane in range(4):
            failed = g > 1.0 and (i + lane) % 3 == 0
            idle.append({"gap_s": gap, "at": at + lane, "latency_ms": round(0.8 + r.random() * 3, 1),
                         "status": 502 if failed else 200})
    http = latency("http://127.0.0.1:8080/", r, start, 15, 1.0, 2.0, step_ms=200)
    http.update({"idle_samples": idle, "idle_after_s": 5.004})
    yield "keepalive-race-502-3", report("keepalive-race-502-3", 3, "web-1", [
        {"kind": "keepalive", "target": "http://127.0.0.1:3000/", "closed_idle_after_s": 5.004, "waited_s": 75.0,
         "closes_s": [5.004, 5.005, 5.005, 5.006, 5.31, 5.312]},
        http,
        tcp({"ESTABLISHED": 4, "TIME_WAIT": 12, "LISTEN": 3}),
    ], minutes=55, length_s=75)


def netns(inode, pid, pod_name, ns, uid):
    return {"inode": inode, "pid": pid, "process": "pause", "pod_uid": uid,
            "pod_name": pod_name, "pod_namespace": ns, "read_via": "sock_diag"}


def pods_node(leak):
    """A Kubernetes node as the DaemonSet probe sees it: the node's own
    sockets (kubelet, kube-proxy) and each pod's network namespace apart.
    With `leak`, one pod's service never closes what its clients closed."""
    node = tcp({"ESTABLISHED": 212, "TIME_WAIT": 930, "CLOSE_WAIT": 4, "LISTEN": 17},
               [("10.0.0.1", "ESTABLISHED", 40), ("10.96.0.1", "CLOSE_WAIT", 4)])
    node["by_process"] = [
        {"pid": 1204, "name": "kubelet", "counts": {"ESTABLISHED": 61, "CLOSE_WAIT": 4, "LISTEN": 4},
         "by_peer": [{"peer": "10.96.0.1", "state": "CLOSE_WAIT", "count": 4}]},
        {"pid": 1390, "name": "kube-proxy", "counts": {"ESTABLISHED": 3, "LISTEN": 2}}]
    web = tcp({"ESTABLISHED": 48, "TIME_WAIT": 120, "LISTEN": 1}, [("10.244.3.1", "ESTABLISHED", 30)])
    web["netns"] = netns(4026532410, 20711, "web-5f7c9-8tq2m", "shop", "3f1c2a9e-6b7d-4c1e-8a2f-5d6e7f8a9b0c")
    web["by_process"] = [{"pid": 20790, "name": "nginx", "counts": {"ESTABLISHED": 48, "LISTEN": 1}}]
    # A pod that happens to hold one CLOSE_WAIT and nothing else: a share
    # of 1 that must not pair with anyone else's count.
    idle = tcp({"CLOSE_WAIT": 1}, [("10.244.1.9", "CLOSE_WAIT", 1)])
    idle["netns"] = netns(4026532588, 23102, "cron-report-28911", "ops", "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d")
    idle["by_process"] = [{"pid": 23150, "name": "python3", "counts": {"CLOSE_WAIT": 1},
                           "by_peer": [{"peer": "10.244.1.9", "state": "CLOSE_WAIT", "count": 1}]}]
    fds = [{"pid": 1204, "name": "kubelet", "open_fds": 180, "fd_limit": 1048576, "sockets": 70},
           {"pid": 20790, "name": "nginx", "open_fds": 90, "fd_limit": 1048576, "sockets": 50}]
    tables = [node, web, idle]
    if leak:
        held = {"ESTABLISHED": 31, "CLOSE_WAIT": 642, "LISTEN": 1}
        ledger = tcp(dict(held, TIME_WAIT=3), [("10.244.5.20", "CLOSE_WAIT", 640), ("10.244.5.21", "CLOSE_WAIT", 2)])
        ledger["netns"] = netns(4026532301, 18450, "ledger-6c8f9-2xk4q", "payments", "8a7c1b2e-4f3d-4e21-9c6a-0b1d2e3f4a5b")
        ledger["window"] = {"samples": 11, "seconds": 10.0,
                            "first": dict(held, CLOSE_WAIT=636, TIME_WAIT=2), "min": dict(held, CLOSE_WAIT=636, TIME_WAIT=0),
                            "max": dict(held, TIME_WAIT=5), "persistent": {"CLOSE_WAIT": 636}}
        ledger["by_process"] = [{"pid": 18502, "name": "java", "counts": held,
                                 "by_peer": [{"peer": "10.244.5.20", "state": "CLOSE_WAIT", "count": 640},
                                             {"peer": "10.244.5.21", "state": "CLOSE_WAIT", "count": 2}]}]
        tables.insert(1, ledger)
        fds.insert(0, {"pid": 18502, "name": "java", "open_fds": 701, "fd_limit": 1024, "sockets": 676})
    return tables + [
        {"kind": "process_fds", "processes": fds},
        {"kind": "net_counters", "interval_s": 10.0, "deltas": {"TcpRetransSegs": 12, "TcpOutSegs": 41000,
                                                                "TcpExtListenOverflows": 0, "TcpExtSyncookiesSent": 0}},
        {"kind": "interfaces", "interfaces": [{"name": "lo", "mtu": 65536, "up": True, "kind": "loopback"},
                                              {"name": "eth0", "mtu": 1500, "up": True},
                                              {"name": "cni0", "mtu": 1450, "up": True, "kind": "bridge"}]},
    ]


def healthy():
    r = random.Random(11)
    quiet = [
        tcp({"ESTABLISHED": 12, "TIME_WAIT": 2, "LISTEN": 5}),
        {"kind": "process_fds", "processes": [{"pid": 811, "name": "app", "open_fds": 40, "fd_limit": 1024, "sockets": 14}]},
        {"kind": "conntrack", "count": 812, "max": 262144, "by_proto": {"tcp": 700, "udp": 112},
         "tcp_states": {"ESTABLISHED": 600, "TIME_WAIT": 100}, "drops": 0, "insert_failed": 0,
         "timeouts": {"tcp_timeout_established": 432000}},
        {"kind": "net_counters", "interval_s": 60, "deltas": {"TcpRetransSegs": 1, "TcpOutSegs": 5200,
                                                                "TcpExtListenOverflows": 0, "TcpExtSyncookiesSent": 0}},
        {"kind": "dns_lookups", "resolv_conf": resolv(["corp.example"], 1, "192.168.1.1"), "lookups": [
            {"name": "api.example.com", "elapsed_ms": 14.0, "ok": True},
            {"name": "api.example.com.", "elapsed_ms": 13.0, "ok": True}]},
        {"kind": "tls_handshake", "target": "api.example.com:443", "sni": "api.example.com",
         "versions": {"TLSv1.2": True, "TLSv1.3": True}, "verify": "ok",
         "chain": [cert("CN=api.example.com", "CN=R11"), cert("CN=R11", "CN=ISRG Root X1", days=600)]},
        latency("https://api.example.com/health", r, ms(0), 120, 20, 15),
        {"kind": "pmtu", "target": "api.example.com", "iface_mtu": 1500,
         "probes": [{"size": s, "ok": True} for s in (576, 1200, 1400, 1472, 1500)]},
        {"kind": "interfaces", "interfaces": [{"name": "lo", "mtu": 65536, "up": True, "kind": "loopback"},
                                              {"name": "eth0", "mtu": 1500, "up": True}]},
        {"kind": "nat_rules", "masquerade_sources": ["10.244.0.0/16"], "pod_cidrs": ["10.244.2.0/24"]},
        connects("api.example.com:443", 30, 30, 0, 0),
    ]
    yield "quiet-host", report("healthy/quiet-host", 1, "quiet-1", quiet)

    varied = [(round(r.uniform(0.2, 290.0), 2), r.choice(["fin", "fin", "fin", "rst"])) for _ in range(40)]
    busy = [
        tcp({"ESTABLISHED": 1800, "TIME_WAIT": 9000, "CLOSE_WAIT": 3, "SYN_RECV": 4, "FIN_WAIT2": 20, "LISTEN": 12}),
        {"kind": "process_fds", "processes": [{"pid": 9, "name": "nginx", "open_fds": 3900, "fd_limit": 65536, "sockets": 3700}]},
        {"kind": "conntrack", "count": 157000, "max": 262144, "by_proto": {"tcp": 140000, "udp": 17000},
         "tcp_states": {"TIME_WAIT": 60000, "ESTABLISHED": 80000}, "drops": 0, "insert_failed": 0,
         "timeouts": {"tcp_timeout_established": 432000, "tcp_timeout_time_wait": 120}},
        {"kind": "net_counters", "interval_s": 60, "deltas": {"TcpRetransSegs": 310, "TcpOutSegs": 160000,
                                                                "TcpExtListenOverflows": 0, "TcpExtSyncookiesSent": 0}},
        {"kind": "dns_lookups", "resolv_conf": resolv(k8s_search("prod"), 5), "lookups": [
            {"name": "orders.prod.svc.cluster.local", "elapsed_ms": 2.0, "ok": True},
            {"name": "orders.prod.svc.cluster.local.", "elapsed_ms": 1.8, "ok": True},
            {"name": "api.partner.example.", "elapsed_ms": 18.0, "ok": True}]},
        lifetimes("backend.prod.svc:8080", varied, idle=False),
        {"kind": "keepalive", "target": "http://backend.prod.svc:8080/", "closed_idle_after_s": 75.0, "waited_s": 120.0},
        facts(proxy__upstream_keepalive_timeout_s=60, client__tls_versions=["TLSv1.2", "TLSv1.3"]),
        {"kind": "tls_handshake", "target": "api.partner.example:443", "sni": "api.partner.example",
         "versions": {"TLSv1.2": True, "TLSv1.3": True}, "verify": "ok",
         "chain": [cert("CN=api.partner.example", "CN=Partner CA"), cert("CN=Partner CA", "CN=Partner Root", days=2000)]},
        latency("https://shop.example.com/", r, ms(0), 2000, 30, 15, step_ms=90,
                slow=lambda i: round(r.uniform(160, 400), 1) if r.random() < 0.012 else None,
                status=lambda i: 500 if i == 977 else 200),
        logs("/var/log/nginx/error.log", [("upstream prematurely closed connection", 0)]),
        {"kind": "k8s_pods", "pods": [pod(f"shop-{i}", restarts=(1 if i == 2 else 0)) for i in range(8)]},
        connects("backend.prod.svc:8080", 300, 300, 0, 0),
        {"kind": "pmtu", "target": "api.partner.example", "iface_mtu": 1500,
         "probes": [{"size": s, "ok": True} for s in (576, 1200, 1400, 1472, 1500)]},
        {"kind": "nat_rules", "masquerade_sources": ["10.244.0.0/16"], "pod_cidrs": ["10.244.7.0/24"]},
    ]
    yield "busy-host", report("healthy/busy-host", 2, "busy-node-1", busy, length_s=300)

    yield "pods-node", report("healthy/pods-node", 3, "k8s-node-3", pods_node(leak=False), length_s=10)


def main():
    for name, rep in examples():
        write(os.path.join(OUT, name + ".json"), rep)
    for name, rep in healthy():
        write(os.path.join(OUT, "healthy", name + ".json"), rep)


def write(path, rep):
    text = json.dumps(rep, indent=1)
    # One latency sample per line: [unix_ms, latency_ms, status].
    text = re.sub(r"\[\s+(-?[0-9.]+),\s+(-?[0-9.]+),\s+(-?[0-9.]+)\s+\]", r"[\1, \2, \3]", text)
    with open(path, "w") as f:
        f.write(text + "\n")


if __name__ == "__main__":
    main()
