#!/usr/bin/env python3
"""Deterministic hydrated topology for the hash benchmark.

Shaped like the master's hydrated documents in tests/vectors (v1-22..v1-59):
topology / lans / deckies / edges, volatile keys (status, version, x, y,
created_at, last_error) that the hash strips, non-ASCII names, floats.
The same arguments always give the same bytes.

With --valid the document is one edge-agent's validation accepts (one DMZ
reaching every LAN through a bridge decky, IPs inside their subnets,
service_config objects of scalars, services from SERVICES), so the whole
apply path can be measured on it (bench/apply_path_bench.cpp); the agent's
catalog must know SERVICES.

  gen_topology.py [--deckies N] [--seed S] [--valid] [--body] [--out FILE]   (default: ~10 MB)
  gen_topology.py --tiny BYTES [--body] [--out FILE]
"""
import argparse
import hashlib
import json
import random
import sys
import uuid

ARCHETYPES = ["linux-server", "windows-ws", "deaddeck", "iot-camera", "nas"]
SERVICES = ["http", "ftp", "smb", "ssh", "rdp", "telnet", "mysql", "snmp"]
FLAVOUR = ["é", "ü", "ñ", "ß", "Ω", "π", "名前", "値", "국", "어", "€", "😀", "🚀", "\u2028", "\t", "\\", "\"", "/"]


def word(r, n):
    return "".join(r.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_ ")
                   for _ in range(n))


def fancy(r):
    return word(r, r.randrange(3, 9)) + "".join(r.choice(FLAVOUR) for _ in range(r.randrange(0, 4)))


def build(deckies, seed):
    r = random.Random(seed)
    n_lans = max(2, deckies // 40)
    ts = "2026-04-21T00:00:00+00:00"
    lans = []
    for i in range(n_lans):
        lans.append({"id": f"l{i}", "name": f"lan{i}", "subnet": f"10.{i // 256}.{i % 256}.0/24",
                     "is_dmz": i == 0, "x": r.randrange(1000), "y": r.randrange(1000),
                     "created_at": ts, "label": fancy(r)})
    decky_list, edges = [], []
    for i in range(deckies):
        lan = i % n_lans
        services = r.sample(SERVICES, r.randrange(0, 4))
        service_config = {s: {"port": r.randrange(1, 65536), "banner": fancy(r),
                              "latency_ms": round(r.uniform(0.1, 250.0), r.randrange(1, 17)),
                              "weight": r.random(), "env": {"MODE": r.choice(["lure", "sink"]),
                                                            "TOKEN": uuid.UUID(int=r.getrandbits(128)).hex},
                              "status": "running", "updated_at": ts}
                          for s in services}
        decky_list.append({
            "uuid": f"d{i}", "name": f"decky-{i}", "services": services,
            "decky_config": {"name": f"decky-{i}", "archetype": r.choice(ARCHETYPES),
                             "ips_by_lan": {f"lan{lan}": f"10.{lan // 256}.{lan % 256}.{10 + i // n_lans}"},
                             "forwards_l3": r.random() < 0.1, "service_config": service_config,
                             "weight": r.random(), "scale": r.choice([1e-7, 2.5e16, 1e15, 0.5, -0.0, 3.0]),
                             "big": r.getrandbits(70), "note": fancy(r)},
            "state": r.choice(["pending", "running", "failed"]),
            "x": r.randrange(1000), "y": r.randrange(1000), "w": 120, "h": 80,
            "last_error": None if r.random() < 0.9 else fancy(r),
            "last_seen": ts, "status": "active",
        })
        edges.append({"id": f"e{i}", "decky_uuid": f"d{i}", "lan_id": f"l{lan}",
                      "is_bridge": i < n_lans, "forwards_l3": i < n_lans, "created_at": ts})
    return {
        "topology": {"id": str(uuid.UUID(int=r.getrandbits(128))), "name": fancy(r), "mode": "agent",
                     "target_host_uuid": "h1", "status": "deploying", "version": 58,
                     "status_changed_at": ts},
        "lans": lans, "deckies": decky_list, "edges": edges,
    }


def build_valid(deckies, seed):
    r = random.Random(seed)
    n_lans = max(2, deckies // 40)
    ts = "2026-04-21T00:00:00+00:00"

    def subnet(i):  # the DMZ is a /16, so it holds a bridge address per LAN
        return "10.0.0.0/16" if i == 0 else f"10.{1 + (i - 1) // 256}.{(i - 1) % 256}.0/24"

    def host(i, n):
        return f"10.0.{n // 250}.{n % 250 + 2}" if i == 0 else \
            f"10.{1 + (i - 1) // 256}.{(i - 1) % 256}.{n}"

    lans = [{"id": f"l{i}", "name": f"lan{i}", "subnet": subnet(i), "is_dmz": i == 0,
             "x": r.randrange(1000), "y": r.randrange(1000), "created_at": ts, "label": fancy(r)}
            for i in range(n_lans)]
    decky_list, edges = [], []

    def decky(uuid_, name, services, ips, forwards):
        service_config = {s: {"port": r.randrange(1, 65536), "banner": fancy(r),
                              "latency_ms": round(r.uniform(0.1, 250.0), r.randrange(1, 17)),
                              "weight": r.random(), "mode": r.choice(["lure", "sink"]),
                              "token": uuid.UUID(int=r.getrandbits(128)).hex,
                              "status": "running", "updated_at": ts}
                          for s in services}
        decky_list.append({
            "uuid": uuid_, "name": name, "services": services,
            "decky_config": {"name": name, "archetype": r.choice(ARCHETYPES), "ips_by_lan": ips,
                             "forwards_l3": forwards, "service_config": service_config,
                             "weight": r.random(), "scale": r.choice([1e-7, 2.5e16, 1e15, 0.5, -0.0, 3.0]),
                             "big": r.getrandbits(70), "note": fancy(r)},
            "state": r.choice(["pending", "running", "failed"]),
            "x": r.randrange(1000), "y": r.randrange(1000), "w": 120, "h": 80,
            "last_error": None if r.random() < 0.9 else fancy(r), "last_seen": ts, "status": "active",
        })
        for lan in ips:
            edges.append({"id": f"e{len(edges)}", "decky_uuid": uuid_, "lan_id": "l" + lan[3:],
                          "is_bridge": forwards, "forwards_l3": forwards, "created_at": ts})

    for i in range(1, n_lans):
        decky(f"b{i}", f"bridge-{i}", [], {"lan0": host(0, 250 * 200 + i), f"lan{i}": host(i, 254)}, True)
    for i in range(deckies - (n_lans - 1)):
        lan = i % n_lans
        decky(f"d{i}", f"decky-{i}", r.sample(SERVICES, r.randrange(0, 4)),
              {f"lan{lan}": host(lan, 10 + i // n_lans)}, False)
    return {
        "topology": {"id": str(uuid.UUID(int=r.getrandbits(128))), "name": fancy(r), "mode": "agent",
                     "target_host_uuid": "h1", "status": "deploying", "version": 58,
                     "status_changed_at": ts},
        "lans": lans, "deckies": decky_list, "edges": edges,
    }


def build_tiny(size):
    """About `size` bytes of the smallest deckies: the costliest shape per
    byte for a parser and a model. No LANs, so validation refuses it."""
    deckies, total, i = [], 0, 0
    while total < size:
        d = {"uuid": f"u{i:08d}", "name": f"decky-{i:08d}", "services": ["ssh", "http"],
             "decky_config": {"ips_by_lan": {"dmz": f"10.0.{i % 250}.{i % 200 + 2}"}, "forwards_l3": False}}
        total += len(json.dumps(d, separators=(",", ":"))) + 1
        deckies.append(d)
        i += 1
    return {"topology": {"id": "7e57bead-0000-4000-8000-000000000016"}, "lans": [],
            "deckies": deckies, "edges": []}


def master_hash(hydrated):
    """The master's version hash (DESIGN §2), as its own Python computes it."""
    volatile = {"created_at", "status_changed_at", "updated_at", "last_seen", "status", "version",
                "last_error", "x", "y", "w", "h"}

    def strip(v):
        if isinstance(v, dict):
            return {k: strip(x) for k, x in v.items() if k not in volatile}
        if isinstance(v, list):
            return [strip(x) for x in v]
        return v
    text = json.dumps(strip(hydrated), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--deckies", type=int, default=10500, help="number of deckies (10500 ~ 10 MB)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--valid", action="store_true", help="a topology the agent's validation accepts")
    ap.add_argument("--tiny", type=int, metavar="BYTES",
                    help="instead: about BYTES of the smallest deckies (refused at validation)")
    ap.add_argument("--body", action="store_true",
                    help='an apply body: {"hydrated": <topology>, "version_hash": <the master\'s hash>}')
    ap.add_argument("--out", default="-", help="output file, - for stdout")
    a = ap.parse_args()
    if a.tiny:
        doc = build_tiny(a.tiny)
    else:
        doc = (build_valid if a.valid else build)(a.deckies, a.seed)
    if a.body:
        doc = {"hydrated": doc, "version_hash": master_hash(doc)}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":") if a.tiny else None)
    data = text.encode("utf-8")
    if a.out == "-":
        sys.stdout.buffer.write(data)
    else:
        with open(a.out, "wb") as f:
            f.write(data)
        print(f"{a.out}: {len(data)} bytes", file=sys.stderr)


if __name__ == "__main__":
    main()
