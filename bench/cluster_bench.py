#!/usr/bin/env python3
"""`echolens analyze` locally and with `--cluster` on a scheduler with one and with two executors, all on this
machine and on one store (ingested once first, so each run's ingest only finds every message stored).

With `--s3`, the store is also copied to an S3 server on 127.0.0.1 (moto, in the bench venv) and analysed there
as it is, locally and on two executors: the cost of reading a store from an object store (moto answers in
Python: an upper bound for a real S3 endpoint nearby).

Run through bench/cluster.sh, which builds the release binary.
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from coordination_bench import generate  # noqa: E402
from ingest_bench import timed  # noqa: E402


def free_port(pair):
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if not pair:
            return port
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue


S3_ENV = {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_REGION": "us-east-1",
          "AWS_ALLOW_HTTP": "true"}
BUCKET = "echolens-bench"


def start_s3(work):
    """moto's S3 server on a free port; returns (endpoint, process)."""
    port = free_port(False)
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "moto.log"), "w"))
    deadline = time.time() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return f"http://127.0.0.1:{port}", proc
        except OSError:
            if time.time() > deadline:
                sys.exit("moto's S3 server did not start")
            time.sleep(0.1)


def upload(endpoint, folder, prefix):
    """Copy `folder` to s3://BUCKET/prefix as `aws s3 sync` would; returns its bytes."""
    import boto3
    s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="bench", aws_secret_access_key="bench",
                      region_name="us-east-1")
    s3.create_bucket(Bucket=BUCKET)
    size = 0
    for root, _, files in os.walk(folder):
        for name in files:
            path = os.path.join(root, name)
            s3.upload_file(path, BUCKET, prefix + "/" + os.path.relpath(path, folder))
            size += os.path.getsize(path)
    return size


def start_cluster(binary, work, executors, env=None):
    """A scheduler and `executors` executors (two tasks each, 1 GB each); returns (url, processes)."""
    env = {**os.environ, "ECHOLENS_LOG": "warn", **(env or {})}
    port = free_port(False)
    logs = open(os.path.join(work, "scheduler.log"), "w")
    procs = [subprocess.Popen([binary, "cluster", "scheduler", "--port", str(port)], stderr=logs, env=env)]
    deadline = time.time() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.time() > deadline:
                sys.exit("the scheduler did not start")
            time.sleep(0.1)
    for i in range(executors):
        wd = os.path.join(work, f"executor{i}")
        os.makedirs(wd, exist_ok=True)
        procs.append(subprocess.Popen(
            [binary, "cluster", "executor", "--scheduler", f"127.0.0.1:{port}", "--port", str(free_port(True)),
             "--concurrent-tasks", "2", "--memory", "1G", "--work-dir", wd],
            stderr=open(os.path.join(work, f"executor{i}.log"), "w"), env=env))
    return f"df://127.0.0.1:{port}", procs


def peak_of(procs):
    """The peak RSS (MB) of processes still running, from /proc."""
    total = 0
    for p in procs:
        try:
            with open(f"/proc/{p.pid}/status") as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        total += int(line.split()[1]) / 1024
        except OSError:
            pass
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "out"))
    ap.add_argument("--s3", action="store_true", help="also the store copied to moto's S3 server")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    corpus = generate(args.bin, args.n, args.work)
    base = os.path.join(args.work, f"cluster_{args.n}")
    if os.path.exists(base):
        shutil.rmtree(base)
    store = os.path.join(base, "store")
    os.makedirs(base)
    secs, _, _ = timed([args.bin, "ingest", "--store", store, corpus.jsonl])
    print(f"ingest of {args.n} generated messages: {secs:.1f} s")
    runs = [("local", 0, None), ("cluster, 1 executor", 1, None), ("cluster, 2 executors", 2, None)]
    s3 = None
    if args.s3:
        endpoint, s3 = start_s3(base)
        started = time.time()
        size = upload(endpoint, store, "store")
        print(f"the store ({size / 1e6:.0f} MB) copied to moto's S3 server in {time.time() - started:.1f} s")
        url = f"s3://{BUCKET}/store"
        runs = [("local", 0, None), ("S3, here", 0, url), ("S3, cluster, 2 executors", 2, url)]
        os.environ.update({**S3_ENV, "AWS_ENDPOINT_URL": endpoint})
    rows = []
    for name, executors, remote in runs:
        out = os.path.join(base, name.replace(", ", "-").replace(" ", "_"))
        # A store at a URL is analysed as it is (no input).
        cmd = [args.bin, "analyze", "--store", remote, "--out", out] if remote else \
            [args.bin, "analyze", corpus.jsonl, "--store", store, "--out", out]
        procs = []
        if executors:
            work = out + "-cluster"
            os.makedirs(work)
            url, procs = start_cluster(args.bin, work, executors)
            cmd += ["--cluster", url]
        secs, rss, _ = timed(cmd)
        servers = peak_of(procs)
        for p in procs:
            p.terminate()
            p.wait()
        with open(os.path.join(out, "summary.json"), encoding="utf-8") as f:
            summary = json.load(f)
        stages = {s["stage"]: s["seconds"] for s in summary["stages"]}
        rows.append({"run": name, "seconds": secs, "client_peak_mb": rss, "servers_peak_mb": servers,
                     "stages": stages, "clusters": summary["coordination"]["clusters"],
                     "cascades": summary["reuse"]["cascades"]})
    local = rows[0]
    names = list(local["stages"])
    print(f"{'run':<22}{'wall s':>8}{'× local':>9}{'client MB':>11}{'cluster MB':>11}  "
          + "".join(f"{n[:11]:>12}" for n in names))
    for r in rows:
        print(f"{r['run']:<22}{r['seconds']:>8.1f}{r['seconds'] / local['seconds']:>9.2f}{r['client_peak_mb']:>11.0f}"
              f"{r['servers_peak_mb']:>11.0f}  " + "".join(f"{r['stages'].get(n, 0):>12.1f}" for n in names))
        if (r["clusters"], r["cascades"]) != (local["clusters"], local["cascades"]):
            sys.exit(f"{r['run']} found {r['clusters']} clusters and {r['cascades']} cascades; "
                     f"locally {local['clusters']} and {local['cascades']}")
    if s3:
        s3.terminate()
        s3.wait()
    with open(os.path.join(args.work, f"cluster_{args.n}{'_s3' if args.s3 else ''}.json"), "w") as f:
        json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
