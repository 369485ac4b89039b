#!/usr/bin/env python3
"""The benchmark driver (`make bench`): every workload of ../shared/bench/WORKLOADS.md for nn
and, in the same run, for TensorFlow/Keras, PyTorch and FANN, runs alternating between them
(nn, keras, torch, fann, nn, keras, ...). Each run is one child process, started through
bench/spawn, which times it from start to exit and reads its peak memory (wait4's getrusage of
the child); the driver reads the child's JSON line of figures and notes how busy the rest of the
machine was meanwhile. It prints medians, accuracies, peak
memory and the nn/peer ratios, and writes them with the machine and the versions to RESULTS.md.

  python3 bench/run.py [--runs N] [--quick] [--only blog,tabular,...] [--engines nn,keras,...]
                       [--build build/bench] [--out FILE]

Python 3 and numpy only; the peers are used where installed and reported "not installed"
otherwise. Environment: RUNS, QUICK=1 (each workload once with fewer epochs, results to
build/bench/RESULTS-quick.md), FANN_MLP_RUNS (FANN's fmnist-mlp takes ~2 minutes a run: once
by default), RUN_TIMEOUT (seconds per run, 1200).
"""
import argparse
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata, util

import numpy as np

BENCH = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(BENCH)
GEN_TABULAR = os.path.join(ROOT, "..", "shared", "bench", "gen_tabular.py")

ENGINES = ["nn", "keras", "torch", "fann"]
LABELS = {"nn": "nn", "keras": "TF/Keras", "torch": "PyTorch", "fann": "FANN"}
WORKLOADS = ["blog", "tabular", "fmnist-mlp", "fmnist-cnn", "infer-mlp", "infer-cnn"]
EPOCHS = {"blog": 10, "tabular": 5, "fmnist-mlp": 5, "fmnist-cnn": 2}
QUICK_EPOCHS = {"blog": 2, "tabular": 1, "fmnist-mlp": 1, "fmnist-cnn": 1}
FANN_WORKLOADS = {"blog", "tabular", "fmnist-mlp", "infer-mlp"}
# /proc/stat counts in 10 ms ticks: the load of shorter runs would be noise.
MIN_LOAD_SECONDS = 0.5
MODEL_SUFFIX = {"nn": ".nn", "keras": ".keras", "torch": ".pt", "fann": ".net"}

# (workload, figure, JSON field, scale, kind). kind says how the nn/peer ratio is formed so that
# it always reads "below 1: nn is better": time and memory as nn / peer, a rate as peer / nn
# (nn's time per sample over the peer's); accuracy gets no ratio.
ROWS = [
    ("blog", "whole process (ms)", "wall_s", 1e3, "time"),
    ("blog", "fit (ms)", "fit_seconds", 1e3, "time"),
    ("blog", "test accuracy", "accuracy", 1, "accuracy"),
    ("blog", "peak memory (MB)", "peak_mb", 1, "time"),
    ("tabular", "fit (s)", "fit_seconds", 1, "time"),
    ("tabular", "µs per step", "us_per_step", 1, "time"),
    ("tabular", "test accuracy", "accuracy", 1, "accuracy"),
    ("tabular", "peak memory (MB)", "peak_mb", 1, "time"),
    ("fmnist-mlp", "fit (s)", "fit_seconds", 1, "time"),
    ("fmnist-mlp", "samples/s", "samples_per_second", 1, "rate"),
    ("fmnist-mlp", "test accuracy", "accuracy", 1, "accuracy"),
    ("fmnist-mlp", "peak memory (MB)", "peak_mb", 1, "time"),
    ("fmnist-cnn", "fit (s)", "fit_seconds", 1, "time"),
    ("fmnist-cnn", "samples/s", "samples_per_second", 1, "rate"),
    ("fmnist-cnn", "test accuracy", "accuracy", 1, "accuracy"),
    ("fmnist-cnn", "peak memory (MB)", "peak_mb", 1, "time"),
    ("infer-mlp", "batch 256 (samples/s)", "samples_per_second", 1, "rate"),
    ("infer-mlp", "batch 1, median (µs)", "latency_us", 1, "time"),
    ("infer-mlp", "accuracy (check)", "accuracy", 1, "accuracy"),
    ("infer-mlp", "peak memory (MB)", "peak_mb", 1, "time"),
    ("infer-cnn", "batch 256 (samples/s)", "samples_per_second", 1, "rate"),
    ("infer-cnn", "batch 1, median (µs)", "latency_us", 1, "time"),
    ("infer-cnn", "accuracy (check)", "accuracy", 1, "accuracy"),
    ("infer-cnn", "peak memory (MB)", "peak_mb", 1, "time"),
]


# ---------------------------------------------------------------- running one child

def cpu_busy_seconds():
    """Seconds all CPUs have been busy since boot (/proc/stat), to tell how loaded the machine was."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def run_child(spawn, cmd, env, timeout):
    """Runs cmd under bench/spawn (see there why); returns (exit code, stdout, stderr, wall seconds,
    peak RSS KB, CPU seconds of the child, CPU seconds of everything else meanwhile)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as measured:
        busy0, t0 = cpu_busy_seconds(), time.perf_counter()
        child = subprocess.Popen([spawn, measured.name] + cmd, stdout=out, stderr=err, env=env, cwd=ROOT,
                                 start_new_session=True)
        try:
            child.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        busy = cpu_busy_seconds() - busy0
        fields = measured.read().split()
        if len(fields) == 5:
            wall, rss_kb, cpu, code = float(fields[0]), int(fields[1]), float(fields[2]) + float(fields[3]), int(fields[4])
        else:
            wall, rss_kb, cpu, code = time.perf_counter() - t0, 0, 0.0, child.returncode or -1
        out.seek(0), err.seek(0)
        return (code, out.read().decode(errors="replace"), err.read().decode(errors="replace"), wall, rss_kb, cpu,
                max(0.0, busy - cpu))


def last_json(text):
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


# ---------------------------------------------------------------- the plan

class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build)
        self.models = os.path.join(self.build, "models")
        self.spawn = os.path.join(self.build, "spawn")
        self.tabular = os.path.join(self.build, "data")
        self.epochs = QUICK_EPOCHS if args.quick else EPOCHS
        self.records = []
        self.session = {}  # command, times, uptime, gemm: what the report needs besides the runs
        self.absent = {}  # engine -> why it cannot run
        self.skip = {}    # (engine, workload) -> the cell text, once known (unsupported, not applicable)
        self.timeout = float(os.environ.get("RUN_TIMEOUT", "1200"))
        self.env = dict(os.environ, NN_NUM_THREADS="2", OMP_NUM_THREADS="2", OPENBLAS_NUM_THREADS="2",
                        OMP_WAIT_POLICY="PASSIVE", TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow",
                        PYTHONDONTWRITEBYTECODE="1")

    def detect_engines(self):
        if not os.access(self.spawn, os.X_OK):
            sys.exit(f"run.py: {self.spawn} is missing: build the benchmarks first (make bench-build)")
        binaries = {"nn": "nn_workloads", "fann": "fann_workloads"}
        for engine, binary in binaries.items():
            if not os.access(os.path.join(self.build, binary), os.X_OK):
                self.absent[engine] = "not built" if engine == "nn" else "not installed (apt-get install libfann-dev)"
        for engine, module in (("keras", "tensorflow"), ("torch", "torch")):
            if util.find_spec(module) is None:
                self.absent[engine] = f"not installed (pip install {'tensorflow-cpu' if engine == 'keras' else 'torch'})"
        for engine in ENGINES:
            if engine not in self.args.engines:
                self.absent.setdefault(engine, "not selected")
        for w in WORKLOADS:
            if w not in FANN_WORKLOADS:
                self.skip[("fann", w)] = "n/a (no convolutions)"

    def prepare_data(self):
        needed = [f"tabular_{p}_{a}.npy" for p in ("train", "test") for a in ("x", "y")]
        if not all(os.path.exists(os.path.join(self.tabular, f)) for f in needed):
            subprocess.run([sys.executable, GEN_TABULAR, self.tabular], check=True)
        os.makedirs(self.models, exist_ok=True)
        for f in os.listdir(self.models):  # infer must use models trained in this run
            os.remove(os.path.join(self.models, f))

    def command(self, engine, workload, seed):
        kind = workload.split("-")[-1]
        model = os.path.join(self.models, f"{engine}-{kind}{MODEL_SUFFIX[engine]}")
        if engine in ("nn", "fann"):
            cmd = [os.path.join(self.build, f"{engine}_workloads"), workload]
        else:
            cmd = [sys.executable, os.path.join(BENCH, f"{engine}_workloads.py"), workload]
        if workload == "blog":
            cmd += ["--data", os.path.join(ROOT, "data")]
        elif workload == "tabular":
            cmd += ["--data", self.tabular]
        if workload in self.epochs:
            cmd += ["--epochs", str(self.epochs[workload])]
        if workload.startswith(("fmnist-", "infer-")):
            cmd += ["--model", model]
        return cmd + ["--seed", str(seed)], model

    def runs_for(self, engine, workload):
        if engine == "fann" and workload == "fmnist-mlp" and not self.args.quick:
            return min(self.args.runs, int(os.environ.get("FANN_MLP_RUNS", "1")))
        return self.args.runs

    def run_one(self, engine, workload, round_index):
        cmd, model = self.command(engine, workload, 42 + round_index)
        if workload.startswith("infer-") and not os.path.exists(model):
            trained = self.skip.get((engine, workload.replace("infer-", "fmnist-")))
            self.skip[(engine, workload)] = trained or "no trained model"
            return
        code, out, err, wall, rss_kb, cpu, others = run_child(self.spawn, cmd, self.env, self.timeout)
        figures = last_json(out) if code == 0 else None
        record = dict(engine=engine, workload=workload, round=round_index + 1, ok=figures is not None,
                      wall_s=wall, peak_mb=rss_kb / 1024, cpu_s=cpu, others_cores=others / wall if wall >= MIN_LOAD_SECONDS else None,
                      command=" ".join(shlex.quote(c) for c in cmd))
        if figures and "unsupported" in figures:
            self.skip[(engine, workload)] = "not supported yet"
            record.update(ok=False, note=figures["unsupported"])
        elif figures:
            record.update(figures)
        else:
            record["error"] = (err.strip() or out.strip() or f"exit code {code}").splitlines()[-1][:300]
        self.records.append(record)
        print(progress_line(record), flush=True)
        self.save()

    def state(self):
        a = self.args
        return dict(self.session, runs=a.runs, quick=a.quick, only=a.only, gemm=a.gemm, absent=self.absent,
                    skip=[[e, w, text] for (e, w), text in self.skip.items()], records=self.records)

    def save(self):
        """The state so far, after every run: `run.py --report-only` renders it again."""
        path = os.path.join(self.build, "results.json")
        with open(path + ".tmp", "w") as f:
            json.dump(self.state(), f, indent=1)
        os.replace(path + ".tmp", path)

    def run(self):
        for workload in self.args.only:
            for round_index in range(self.args.runs):
                for engine in ENGINES:
                    if engine in self.absent or (engine, workload) in self.skip:
                        continue
                    if round_index < self.runs_for(engine, workload):
                        self.run_one(engine, workload, round_index)

    def gemm(self):
        """gemm.c (nn and OpenBLAS, one thread, its own medians) and numpy's matmul (2 threads)."""
        result = {"table": "", "numpy": {}}
        binary = os.path.join(self.build, "gemm")
        if os.access(binary, os.X_OK):
            code, out, err, *_ = run_child(self.spawn, [binary], dict(self.env, OPENBLAS_NUM_THREADS="1"), self.timeout)
            result["table"] = out if code == 0 else err
            print(result["table"], flush=True)
        code, out, _, *_ = run_child(self.spawn, [sys.executable, os.path.join(BENCH, "numpy_gemm.py")], self.env, self.timeout)
        result["numpy"] = last_json(out) or {} if code == 0 else {}
        return result


def progress_line(r):
    head = f"{r['workload']:<11} {LABELS[r['engine']]:<9} run {r['round']}:"
    if not r["ok"]:
        return f"{head} {r.get('note') or 'FAILED: ' + r.get('error', '')}"
    parts = [f"{k} {fmt(r[k])}" for k in ("accuracy", "fit_seconds", "us_per_step", "samples_per_second", "latency_us")
             if k in r]
    load = "" if r["others_cores"] is None else f", others' load {r['others_cores']:.2f} cores"
    return f"{head} {', '.join(parts)}; whole process {fmt(r['wall_s'])} s, peak {fmt(r['peak_mb'])} MB{load}"


# ---------------------------------------------------------------- summarizing

def fmt(v, accuracy=False):
    if v is None:
        return "—"
    if accuracy:
        return f"{v:.4f}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3g}"


def medians(records):
    """(engine, workload) -> {field: median over the successful runs, 'runs': count}."""
    groups = {}
    for r in records:
        if r["ok"]:
            groups.setdefault((r["engine"], r["workload"]), []).append(r)
    out = {}
    for key, rs in groups.items():
        fields = {k for r in rs for k, v in r.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        out[key] = {k: float(np.median([r[k] for r in rs if isinstance(r.get(k), (int, float))])) for k in fields}
        out[key]["runs"] = len(rs)
    return out


def ratio_text(nn_value, peer_value, kind):
    if nn_value is None or peer_value is None or kind == "accuracy" or not nn_value or not peer_value:
        return ""
    ratio = nn_value / peer_value if kind == "time" else peer_value / nn_value
    return f"{ratio:.2g} ({fmt(1 / ratio)}× better)" if ratio < 1 else f"{ratio:.3g}"


class Report:
    def __init__(self, bench, gemm_result):
        self.bench = bench
        self.med = medians(bench.records)
        self.gemm = gemm_result
        self.peers = [e for e in ENGINES if e != "nn"]

    def cell(self, engine, workload, field, scale, kind):
        if engine in self.bench.absent:
            return self.bench.absent[engine].split(" (")[0], None
        if (engine, workload) in self.bench.skip:
            return self.bench.skip[(engine, workload)], None
        m = self.med.get((engine, workload))
        if m is None:
            return ("failed" if any(r["engine"] == engine and r["workload"] == workload for r in self.bench.records)
                    else "—"), None
        if field not in m:
            return "—", None
        value = m[field] * scale
        text = fmt(value, kind == "accuracy")
        if m["runs"] < self.bench.args.runs:
            text += f" ({m['runs']} run{'s' if m['runs'] > 1 else ''})"
        return text, value

    def table(self):
        head = ["workload", "figure"] + [LABELS[e] for e in ENGINES] + [f"nn ÷ {LABELS[p]}" for p in self.peers]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for workload, figure, field, scale, kind in ROWS:
            if workload not in self.bench.args.only:
                continue
            cells = {e: self.cell(e, workload, field, scale, kind) for e in ENGINES}
            ratios = [ratio_text(cells["nn"][1], cells[p][1], kind) for p in self.peers]
            lines.append("| " + " | ".join([workload, figure] + [cells[e][0] for e in ENGINES] + ratios) + " |")
        return "\n".join(lines)

    def gemm_columns(self):
        """gemm.c's rows by shape "MxNxK" (the first row of each), as {column name: GFLOP/s or
        ratio}, the columns named by its header ("nn", "nn x1", "nn xT", "openblas", ...)."""
        names, rows = [], {}
        for line in self.gemm["table"].splitlines():
            if line.startswith("shape"):
                names = re.findall(r"nn x\w+ us|nn x\w+|nn us|\w+", line.split(" op ", 1)[-1])
            m = re.match(r"^\D*?(\d+)\s+(\d+)\s+(\d+)\s+[NT]{2}\s+(.*)$", line)
            if m and names:
                rows.setdefault("x".join(m.groups()[:3]), dict(zip(names, map(float, m.group(4).split()))))
        return rows

    def gemm_table(self):
        rows = self.gemm_columns()
        lines = ["| shape (M×N×K) | nn, 1 thread | nn, 2 threads | OpenBLAS (as gemm.c runs it) | "
                 "numpy matmul (2 threads) | nn ÷ OpenBLAS time |", "|---|---|---|---|---|---|"]
        for shape in ("1024x1024x1024", "32x32x30"):
            row = rows.get(shape, {})
            one, two = row.get("nn x1", row.get("nn")), row.get("nn xT")
            blas, best = row.get("openblas"), max([v for v in (one, two) if v] or [0])
            numpy_gf = self.gemm["numpy"].get(shape)
            lines.append(f"| {shape.replace('x', '×')} | {fmt(one)} | {fmt(two)} | {fmt(blas) if blas else 'not built with it'} | "
                         f"{fmt(numpy_gf)} | {ratio_text(best, blas, 'rate') if blas and best else ''} |")
        return "\n".join(lines) + ("\n\nGFLOP/s = 2·M·N·K / seconds, medians of 9 timed runs each; the ratio takes nn's "
                                   "better thread count. gemm.c's own header line says how it ran OpenBLAS.")

    def load_table(self):
        lines = ["| workload | runs | others' load, median (cores) | max |", "|---|---|---|---|"]
        for w in self.bench.args.only:
            loads = [r["others_cores"] for r in self.bench.records if r["workload"] == w and r["others_cores"] is not None]
            if loads:
                lines.append(f"| {w} | {len(loads)} | {np.median(loads):.2f} | {max(loads):.2f} |")
        return "\n".join(lines)

    def runs_table(self):
        lines = ["| workload | engine | run | whole process (s) | fit (s) | accuracy | peak (MB) | CPU (s) | others' load |",
                 "|---|---|---|---|---|---|---|---|---|"]
        for r in self.bench.records:
            fit = fmt(r.get("fit_seconds")) if "fit_seconds" in r else "—"
            acc = fmt(r.get("accuracy"), True) if "accuracy" in r else (r.get("note") or r.get("error", "—"))[:80]
            lines.append(f"| {r['workload']} | {LABELS[r['engine']]} | {r['round']} | {fmt(r['wall_s'])} | {fit} | {acc} | "
                         f"{fmt(r['peak_mb'])} | {fmt(r['cpu_s'])} | {fmt(r['others_cores'])} |")
        return "\n".join(lines)

    def notes(self):
        seen, out = set(), []
        for r in self.bench.records:
            text = r.get("note") or r.get("error")
            if text and (r["engine"], text) not in seen:
                seen.add((r["engine"], text))
                out.append(f"- {LABELS[r['engine']]} {r['workload']}: {text}")
        return "\n".join(out)


# ---------------------------------------------------------------- machine and versions

def shell(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, cwd=ROOT, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def package_version(*names):
    for name in names:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return "not installed"


def machine():
    lscpu = dict(re.findall(r"^([^:]+):\s*(.*)$", shell("lscpu"), re.M))
    flags = lscpu.get("Flags", "").split()
    isa = "AVX-512" if "avx512f" in flags else "AVX2+FMA" if "avx2" in flags and "fma" in flags else "no AVX2"
    mem = shell("awk '/MemTotal/ { printf \"%.1f GiB\", $2 / 1048576 }' /proc/meminfo")
    return (f"{lscpu.get('Model name', platform.processor())}, {lscpu.get('CPU(s)', '?')} CPUs "
            f"({lscpu.get('Core(s) per socket', '?')} cores per socket, {lscpu.get('Thread(s) per core', '?')} thread per core), "
            f"{isa}, {mem} memory; {platform.system()} {platform.release()}"
            f"{', hypervisor ' + lscpu['Hypervisor vendor'] if 'Hypervisor vendor' in lscpu else ''}")


def versions():
    nn_version = shell("sed -n 's/#define NN_VERSION \"\\(.*\\)\"/\\1/p' include/nn.h")
    commit = shell("git rev-parse --short HEAD")
    dirty = " with uncommitted changes" if shell("git status --porcelain --untracked-files=no") else ""
    dpkg = lambda p: shell(f"dpkg-query -W -f '${{Version}}' {p} 2>/dev/null") or "not installed"
    return [("nn", f"{nn_version} (commit {commit}{dirty})"),
            ("TensorFlow", package_version("tensorflow-cpu", "tensorflow")), ("Keras", package_version("keras")),
            ("PyTorch", package_version("torch")), ("FANN", dpkg("libfann-dev")), ("numpy", np.__version__),
            ("OpenBLAS (Debian)", dpkg("libopenblas0")), ("Python", platform.python_version()),
            ("C compiler", shell("${CC:-cc} --version | head -n 1"))]


def write_results(path, bench, report):
    session = bench.session
    runs = "each workload once, fewer epochs (QUICK=1)" if bench.args.quick else f"{bench.args.runs} runs per workload and library"
    text = f"""# Benchmark results

Written by `bench/run.py` ({session['started']}); the workloads are those of
WORKLOADS.md (shared/bench), {runs}, alternating nn, TF/Keras, PyTorch, FANN. How to run it and
what each library does: bench/README.md.

- Command: `{session['command']}`
- Machine: {session.get('machine') or machine()}
- Load: `uptime` before: {session['uptime_before']}; after: {session['uptime_after']}. The whole run took
  {session['minutes']:.1f} min.{session.get('remark', '')}
- Versions: {session.get('versions') or '; '.join(f'{k} {v}' for k, v in versions())}
- Threads: 2 everywhere (NN_NUM_THREADS=2; TF intra- and inter-op 2; torch.set_num_threads(2) with
  OMP_WAIT_POLICY=PASSIVE; FANN has one thread). gemm.c: its header line below says how it ran.

## Medians

"nn ÷ peer" is nn's figure over the peer's for times and memory, and the peer's over nn's for
rates, so it always reads as nn's cost relative to the peer's: below 1, nn is better
(0.1 = 10× better). Whole process = start to exit, loading and interpreter start included.
FANN's cells are its nearest equivalent (tanh hidden layers, squared error, per-sample SGD; see
bench/README.md), not the same model.

{report.table()}

## GEMM

{report.gemm_table() if bench.args.gemm else '(not run)'}

<details><summary>gemm.c, every shape</summary>

```
{report.gemm['table'].strip()}
```
</details>

## Machine load during the runs

Other processes' CPU use while each run ran (from /proc/stat, less the run's own CPU time), in
cores out of 2; runs shorter than {MIN_LOAD_SECONDS} s are left out (/proc/stat counts 10 ms ticks). Above ~0.3 the figures of the multi-threaded peers suffer most.

{report.load_table()}

## Notes

{report.notes() or '(none)'}

## Every run

{report.runs_table()}
"""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--runs", type=int, default=int(os.environ.get("RUNS", "3")))
    p.add_argument("--quick", action="store_true", default=os.environ.get("QUICK", "0") not in ("", "0"))
    p.add_argument("--only", default=",".join(WORKLOADS + ["gemm"]))
    p.add_argument("--engines", default=",".join(ENGINES))
    p.add_argument("--build", default=os.path.join(ROOT, "build", "bench"))
    p.add_argument("--out", default="")
    p.add_argument("--report-only", metavar="RESULTS_JSON", default="",
                   help="render a saved build/bench/results.json again instead of running")
    args = p.parse_args()
    if args.quick:
        args.runs = 1
    only = args.only.split(",")
    unknown = [w for w in only if w not in WORKLOADS + ["gemm"]] + [e for e in args.engines.split(",") if e not in ENGINES]
    if unknown or args.runs < 1:
        p.error(f"unknown workload or engine: {', '.join(unknown)}" if unknown else "--runs must be at least 1")
    args.gemm = "gemm" in only
    args.only = [w for w in WORKLOADS if w in only]
    args.engines = args.engines.split(",")
    if not args.out:
        args.out = os.path.join(args.build, "RESULTS-quick.md") if args.quick else os.path.join(BENCH, "RESULTS.md")
    return args


def command_line():
    if os.environ.get("BENCH_COMMAND"):
        return os.environ["BENCH_COMMAND"]
    env_used = [f"{k}={os.environ[k]}" for k in ("RUNS", "QUICK", "FANN_MLP_RUNS") if k in os.environ]
    return " ".join(env_used + ["python3"] + [shlex.quote(a) for a in [os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]])


def report_only(path, out):
    """Renders a saved results.json again (after a change to the report, or a run cut short)."""
    with open(path) as f:
        state = json.load(f)
    args = argparse.Namespace(runs=state["runs"], quick=state["quick"], only=state["only"], gemm=state["gemm"])
    bench = argparse.Namespace(args=args, records=state["records"], absent=state["absent"],
                               skip={(e, w): text for e, w, text in state["skip"]},
                               session={k: v for k, v in state.items() if k not in ("records", "absent", "skip")})
    bench.session.setdefault("gemm_result", {"table": "", "numpy": {}})
    return bench


def main():
    args = parse_args()
    if args.report_only:
        bench = report_only(args.report_only, args.out)
    else:
        t0 = time.perf_counter()
        bench = Bench(args)
        bench.session = dict(command=command_line(), started=time.strftime("%Y-%m-%d %H:%M"),
                             uptime_before=shell("uptime"), uptime_after="(still running)", minutes=0.0,
                             machine=machine(), versions="; ".join(f"{k} {v}" for k, v in versions()))
        bench.detect_engines()
        bench.prepare_data()
        absent = ", ".join(f"{LABELS[e]} {why}" for e, why in bench.absent.items())
        print(f"{args.runs} run(s) per workload; {absent or 'all libraries present'}", flush=True)
        bench.run()
        bench.session["gemm_result"] = bench.gemm() if args.gemm else {"table": "", "numpy": {}}
        bench.session.update(uptime_after=shell("uptime"), minutes=(time.perf_counter() - t0) / 60)
        bench.save()
    report = Report(bench, bench.session["gemm_result"])
    print("\n" + report.table() + ("\n\n" + report.gemm_table() if bench.args.gemm else ""))
    write_results(args.out, bench, report)
    print(f"\nwrote {os.path.relpath(args.out, ROOT)}")
    return 0 if all(r["ok"] or r.get("note") for r in bench.records) else 1


if __name__ == "__main__":
    sys.exit(main())
