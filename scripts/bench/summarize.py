#!/usr/bin/env python3
"""Collects one scripts/bench.sh run (the carthub-bench JSON of each scenario, the
redis-benchmark CSVs and Redis INFO commandstats) into <out>.json and <out>.md.

Usage: summarize.py --tmp DIR --out PATH_WITHOUT_EXTENSION [--commit C] [--duration S] [--warmup S]
"""
import argparse
import csv
import datetime
import json
import os
import platform
import re

SCENARIOS = ["idle", "closed-1hub", "closed-2hub", "open-3000", "open-10000"]
DESCRIPTIONS = {
    "idle": "idle sockets on one fresh hub",
    "closed-1hub": "closed loop, 1 in flight per socket, 1,000 sockets, 1 hub",
    "closed-2hub": "closed loop, 1 in flight per socket, 1,000 sockets, 2 hubs",
    "open-3000": "open loop 3,000 cmds/s, 1,000 sockets, 2 hubs",
    "open-10000": "open loop 10,000 cmds/s, 1,000 sockets, 2 hubs",
}


def machine():
    info = {"nproc": os.cpu_count(), "cpuModel": "unknown", "memTotalMiB": None, "kernel": platform.release()}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpuModel"] = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memTotalMiB"] = int(line.split()[1]) // 1024
    except OSError:
        pass
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return info


def commandstats(path):
    """INFO commandstats -> {command: {calls, usec, usec_per_call}}"""
    out = {}
    try:
        with open(path) as f:
            for line in f:
                m = re.match(r"cmdstat_([^:]+):(.*)", line.strip())
                if not m:
                    continue
                fields = dict(kv.split("=", 1) for kv in m.group(2).split(","))
                out[m.group(1)] = {k: float(v) for k, v in fields.items() if k in ("calls", "usec", "usec_per_call")}
    except OSError:
        pass
    return out


def benchmark_csv(path):
    try:
        with open(path) as f:
            rows = list(csv.DictReader(f))
    except OSError:
        return None
    if not rows:
        return None
    row = rows[-1]
    def num(key):
        try:
            return float(row.get(key, ""))
        except ValueError:
            return None
    return {"rps": num("rps"), "p50Ms": num("p50_latency_ms"), "p99Ms": num("p99_latency_ms")}


def fmt(value, digits=2):
    if value is None:
        return "–"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        return f"{value:.{digits}f}"
    return str(value)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--tmp", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--commit", default="unknown")
    parser.add_argument("--duration", default="")
    parser.add_argument("--warmup", default="")
    args = parser.parse_args()

    now = datetime.datetime.now(datetime.timezone.utc)
    result = {
        "date": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": args.commit,
        "machine": machine(),
        "durationS": float(args.duration) if args.duration else None,
        "warmupS": float(args.warmup) if args.warmup else None,
        "script": None,
        "scenarios": {},
        "targets": [],
        "notes": [],
    }

    # The cart script alone.
    script = {}
    for name in ("set", "get", "trivial", "floor"):
        stats = commandstats(os.path.join(args.tmp, f"script.{name}.commandstats"))
        if "evalsha" in stats:
            entry = {"usecPerCall": stats["evalsha"]["usec_per_call"], "calls": int(stats["evalsha"]["calls"])}
            entry.update(benchmark_csv(os.path.join(args.tmp, f"script.{name}.csv")) or {})
            setup = ("evalsha", "auth", "ping", "hello", "select", "subscribe", "info")
            inner = {k: v["usec_per_call"] for k, v in stats.items()
                     if k not in setup and not k.startswith(("config", "script", "client"))}
            entry["innerCommandsUsecPerCall"] = inner
            try:
                with open(os.path.join(args.tmp, f"script.{name}.instructions")) as f:
                    entry["instructionsPerCall"] = int(f.read().strip())
            except (OSError, ValueError):
                pass
            script[name] = entry
    if script:
        try:
            with open(os.path.join(args.tmp, "script.lines")) as f:
                script["cartLinesAfter"] = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
        result["script"] = script

    for name in SCENARIOS:
        path = os.path.join(args.tmp, f"{name}.json")
        if not os.path.exists(path):
            continue
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as error:
            data = {"failed": True, "error": str(error)}
        stats = commandstats(os.path.join(args.tmp, f"{name}.commandstats"))
        if "evalsha" in stats:
            data["redisEvalsha"] = stats["evalsha"]
        result["scenarios"][name] = data

    sc = result["scenarios"]

    def target(scenario, measure, key, op, bound, value):
        met = None
        if value is not None:
            met = value >= bound if op == ">=" else value < bound if op == "<" else value <= bound
        result["targets"].append({"scenario": scenario, "measure": measure, "key": key, "target": f"{op} {bound:g}",
                                  "value": value, "met": met})

    def get(name, *path):
        node = sc.get(name)
        for p in path:
            if not isinstance(node, dict):
                return None
            node = node.get(p)
        return node

    target("closed-1hub", "throughput, cmds/s (1 hub)", "throughput", ">=", 20000, get("closed-1hub", "throughput"))
    target("closed-2hub", "throughput, cmds/s (2 hubs)", "throughput", ">=", 20000, get("closed-2hub", "throughput"))
    target("open-3000", "reply p99, ms", "replyP99Ms", "<", 2.5, get("open-3000", "replyP99Ms"))
    target("open-3000", "fan-out p99, ms", "fanoutP99Ms", "<", 3, get("open-3000", "fanoutP99Ms"))
    target("open-10000", "reply p99, ms", "replyP99Ms", "<", 10, get("open-10000", "replyP99Ms"))
    target("open-10000", "cross-instance fan-out p99, ms", "fanoutCrossP99Ms", "<", 15, get("open-10000", "fanoutCrossP99Ms"))
    target("idle", "hub RSS per idle socket, KiB", "rssPerSocketKiB", "<", 4, get("idle", "rssPerSocketKiB"))
    target("open-10000", "persistence lag p99 at 10,000 cmds/s, ms", "persistence.lagP99Ms", "<", 1000,
           get("open-10000", "persistence", "lagP99Ms"))
    if get("open-10000", "persistence", "lagP99MsAboveBuckets"):
        result["targets"][-1]["aboveBuckets"] = True
    target("script", "Redis time per mutating cart command (EVALSHA), µs", "script.set.usecPerCall", "<=", 15,
           (script.get("set") or {}).get("usecPerCall"))

    # Things a reader should not miss.
    for name, data in sc.items():
        if data.get("failed"):
            result["notes"].append(f"{name}: the bench run failed ({data.get('error') or 'exit ' + str(data.get('exitCode'))}).")
            continue
        errors = data.get("errors") or {}
        if errors:
            total = sum(errors.values())
            listed = ", ".join(f"{k} {v}" for k, v in sorted(errors.items(), key=lambda kv: -kv[1]))
            result["notes"].append(f"{name}: {total} of {data.get('commands')} measured commands failed ({listed}).")
        if data.get("connectErrors"):
            result["notes"].append(f"{name}: sockets failed to open: {data['connectErrors']}.")
        if data.get("resyncEvents"):
            result["notes"].append(f"{name}: {data['resyncEvents']} resync events: a hub lost its Redis pub/sub connection "
                                   "(see the Redis log for 'output buffer limits').")
        if data.get("fanoutMissing"):
            result["notes"].append(f"{name}: {data['fanoutMissing']} fan-out events never arrived.")
        other = (data.get("cpuPercent") or {}).get("other")
        if other is not None and other > 20:
            result["notes"].append(f"{name}: other processes used {fmt(other, 0)} % of a core during the window "
                                   "(not carthub, Redis, Postgres or the bench): figures are pessimistic.")
        lag = (data.get("latency") or {}).get("sendLag") or {}
        if (lag.get("p99Ms") or 0) > 1:
            result["notes"].append(f"{name}: the bench itself sent late (send lag p99 {fmt(lag.get('p99Ms'))} ms): "
                                   "the machine was saturated; latencies include that delay.")
        rate = (data.get("settings") or {}).get("rate")
        if rate and data.get("okPerSecond") is not None and data["okPerSecond"] < 0.95 * rate:
            result["notes"].append(f"{name}: only {fmt(data['okPerSecond'])} of {fmt(float(rate))} commands/s succeeded: "
                                   "the system was over capacity.")
    try:
        with open(os.path.join(args.tmp, "service-logs.txt")) as f:
            lines = [l.rstrip() for l in f if re.search(r"\b(WARN|ERROR)\b", l)]
        if lines:
            result["serviceLogWarnings"] = lines[:50]
            result["notes"].append(f"hubs/worker logged {len(lines)} warnings or errors (first: {lines[0][:200]}).")
    except OSError:
        pass

    with open(args.out + ".json", "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")
    with open(args.out + ".md", "w") as f:
        f.write(markdown(result))


def markdown(r):
    m = r["machine"]
    lines = []
    lines.append(f"# carthub benchmark, {r['date']} (commit {r['commit']})")
    lines.append("")
    lines.append(f"Machine: {m['nproc']} × {m['cpuModel']}, {fmt((m['memTotalMiB'] or 0) / 1024, 1)} GiB RAM, "
                 f"{m.get('os', 'Linux')}, kernel {m['kernel']}. Hubs, Redis, Postgres, the worker and the bench "
                 f"all run on it. Each load scenario: {fmt(r['durationS'], 0)} s measured after {fmt(r['warmupS'], 0)} s warm-up.")
    lines.append("")
    lines.append("## Targets (issue 8)")
    lines.append("")
    lines.append("| scenario | measure | target | measured | met |")
    lines.append("|---|---|---|---|---|")
    for t in r["targets"]:
        met = "–" if t["met"] is None else ("yes" if t["met"] else "**no**")
        value = ("> " if t.get("aboveBuckets") else "") + fmt(t["value"])
        lines.append(f"| {t['scenario']} | {t['measure']} | {t['target']} | {value} | {met} |")
    lines.append("")

    sc = r["scenarios"]
    load = [n for n in SCENARIOS if n in sc and n != "idle"]
    if load:
        lines.append("## Load scenarios")
        lines.append("")
        lines.append("Latencies in ms, from each command's scheduled send time (no coordinated omission). "
                     "Fan-out: the command's `cart.updated` on the user's other device; with 2 hubs that device "
                     "is always on the other instance. CPU in % of one core over the measured window; "
                     "CPU µs per reply divides it by the replies: what one command costs each process.")
        lines.append("")
        lines.append("| scenario | replies/s (ok/s) | reply p50 / p99 / p99.9 | fan-out p50 / p99 | errors | hub RSS MiB | CPU hub / redis / postgres / worker / bench / other | CPU µs per reply: hub / redis / postgres / worker / bench | machine busy | Redis µs per EVALSHA |")
        lines.append("|---|---|---|---|---|---|---|---|---|---|")
        for name in load:
            d = sc[name]
            if d.get("failed"):
                lines.append(f"| {name} | failed | | | | | | | | |")
                continue
            lat = d.get("latency", {})
            reply = lat.get("reply", {})
            errors = d.get("errors") or {}
            err = ", ".join(f"{k} {v}" for k, v in sorted(errors.items())) or "0"
            cpu = d.get("cpuPercent") or {}
            cpu_text = " / ".join(fmt(cpu.get(k), 0) for k in ("hub", "redis", "postgres", "worker", "bench", "other"))
            replies = d.get("throughput") or 0
            # 1 % of a core is 10,000 µs of CPU per second.
            per_reply = " / ".join(fmt(cpu[k] * 10_000 / replies if replies and cpu.get(k) is not None else None, 0)
                                   for k in ("hub", "redis", "postgres", "worker", "bench"))
            evalsha = (d.get("redisEvalsha") or {}).get("usec_per_call")
            lines.append(
                f"| {name} | {fmt(d.get('throughput'), 0)} ({fmt(d.get('okPerSecond'), 0)}) "
                f"| {fmt(reply.get('p50Ms'))} / {fmt(reply.get('p99Ms'))} / {fmt(reply.get('p999Ms'))} "
                f"| {fmt(d.get('fanoutP50Ms'))} / {fmt(d.get('fanoutP99Ms'))} | {err} | {fmt(d.get('hubRssMiB'), 1)} "
                f"| {cpu_text} | {per_reply} | {fmt(d.get('machineBusyPercent'), 0)} % | {fmt(evalsha, 1)} |")
        lines.append("")
        lines.append("Scenarios: " + "; ".join(f"{n}: {DESCRIPTIONS[n]}" for n in load) + ".")
        lines.append("")

    pers = [(n, sc[n]["persistence"]) for n in load if isinstance(sc[n].get("persistence"), dict)]
    if pers:
        lines.append("## Persistence (worker → Postgres)")
        lines.append("")
        lines.append("From the `carthub:metrics` hash (`lag` histogram delta, linear interpolation within buckets).")
        lines.append("")
        lines.append("| scenario | applied jobs/s during load | lag p50 ms | lag p99 ms | mean ms | caught up after load |")
        lines.append("|---|---|---|---|---|---|")
        for n, p in pers:
            if "error" in p:
                lines.append(f"| {n} | {p['error']} | | | | |")
                continue
            def lag(key):
                text = fmt(p.get(key), 1)
                return ("> " + text) if p.get(key + "AboveBuckets") else text
            lines.append(f"| {n} | {fmt(p.get('appliedPerSecond'), 0)} | {lag('lagP50Ms')} | {lag('lagP99Ms')} "
                         f"| {fmt(p.get('lagMeanMs'), 1)} | {fmt(p.get('catchUpSeconds'), 1)} s |")
        lines.append("")

    if "idle" in sc and not sc["idle"].get("failed"):
        d = sc["idle"]
        i = d.get("idle", {})
        lines.append("## Idle sockets")
        lines.append("")
        lines.append(f"{d.get('socketsOpen')} sockets open ({d.get('socketsFailed')} failed) in {fmt(d.get('connectSeconds'), 1)} s; "
                     f"hub RSS {fmt(i.get('rssBeforeMiB'), 1)} → {fmt(i.get('rssAfterMiB'), 1)} MiB = "
                     f"**{fmt(i.get('rssPerSocketKiB'))} KiB per socket**; hub CPU while holding them "
                     f"{fmt(d.get('hubCpuPercent'), 1)} %.")
        lines.append("")

    s = r.get("script")
    if s:
        lines.append("## The cart script alone (5-line cart; redis-benchmark, 20 connections; instructions: one connection under callgrind)")
        lines.append("")
        lines.append("| EVALSHA of | Redis µs per call (INFO commandstats) | instructions per call (callgrind) | redis-benchmark requests/s | p50 ms |")
        lines.append("|---|---|---|---|---|")
        names = {"set": "`lua/cart.lua` setQuantity (a change: publish + outbox)", "get": "`lua/cart.lua` get",
                 "trivial": "`return 1` with the same 23 arguments (call overhead)",
                 "floor": "`scripts/bench/floor.lua`: only read, write, publish and append, no checks (a change's floor)"}
        for k in ("set", "get", "trivial", "floor"):
            if k in s:
                lines.append(f"| {names[k]} | {fmt(s[k].get('usecPerCall'), 1)} | {fmt(s[k].get('instructionsPerCall'), 0)} | "
                             f"{fmt(s[k].get('rps'), 0)} | {fmt(s[k].get('p50Ms'))} |")
        if "set" in s and s["set"].get("innerCommandsUsecPerCall"):
            inner = s["set"]["innerCommandsUsecPerCall"]
            lines.append("")
            lines.append("Redis commands inside the setQuantity run, µs per call: " +
                         ", ".join(f"{k} {fmt(v)}" for k, v in sorted(inner.items(), key=lambda kv: -kv[1])) + ".")
        lines.append("")

    if r["notes"]:
        lines.append("## Notes")
        lines.append("")
        for n in r["notes"]:
            lines.append(f"- {n}")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
