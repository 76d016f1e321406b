#!/usr/bin/env bash
# Every GPU figure of glasstune in one run on a machine with one NVIDIA GPU, in at most 8 minutes.
#
#   bash benchmarks/gpu_check.sh [--dry-run] OUT_DIR        (from the repository root)
#
# Sets up its own environment first: .venv-gpu, made with --system-site-packages so that a CUDA torch
# already on the machine is used, not replaced; torch==2.13.0 is installed only where no torch imports.
# Then each step runs under its own time limit, so a step that fails or hangs costs only its own
# figures, which the table marks "not measured" with the reason. Each step leaves OUT_DIR/STEP.log and
# OUT_DIR/STEP.status.json, and the benchmark's own figures in OUT_DIR/STEP.json (the GPU tests: a JUnit
# file); OUT_DIR/gpu_check.json gathers them all, and the last lines printed are one table.
# --dry-run installs and runs nothing: it prints what would run and be measured and writes
# OUT_DIR/gpu_check_plan.json. GPU_CHECK_PYTHON=/path/to/python uses that interpreter as it is.
# Exit status: 0 once the table is written (unmet or unmeasured figures included), 2 for a usage error.
set -u
set -o pipefail

readonly USAGE="usage: bash benchmarks/gpu_check.sh [--dry-run] OUT_DIR"
readonly TOTAL_S=480   # the whole run, setup included
readonly REPORT_S=15   # kept back for the table
readonly MIN_STEP_S=15 # a step with less time left than this is not started
readonly SETUP_S=100
readonly VENV=.venv-gpu
readonly PIP_OPTIONS="-q --disable-pip-version-check --retries 1 --timeout 20"

dry_run=0
out=""
for arg in "$@"; do
  case "$arg" in
    --dry-run) dry_run=1 ;;
    -h | --help) echo "$USAGE"; exit 0 ;;
    -*) echo "$USAGE (unknown option $arg)" >&2; exit 2 ;;
    *)
      if [[ -n "$out" ]]; then echo "$USAGE (one OUT_DIR only)" >&2; exit 2; fi
      out=$arg
      ;;
  esac
done
if [[ -z "$out" ]]; then echo "$USAGE" >&2; exit 2; fi
if [[ ! -f pyproject.toml || ! -d benchmarks ]]; then
  echo "gpu_check: run it from the repository root ($USAGE)" >&2
  exit 2
fi
mkdir -p "$out" || { echo "gpu_check: cannot create $out" >&2; exit 2; }
out=$(cd "$out" && pwd -P)

# The steps, in the order they run: what matters most first, the longest and oldest figure last, so
# that a slow setup shortens only that one. "$PY" and "$OUT" are filled in when a step runs.
STEPS=(gpu_tests mlp_batching cnn_loop openmm_cuda mlp_trial)
declare -A TITLE BUDGET COMMAND BLOCKED
# shellcheck disable=SC2016  # expanded by the step's own shell
{
  TITLE[gpu_tests]="the GPU tests"
  BUDGET[gpu_tests]=70
  COMMAND[gpu_tests]='"$PY" -m pytest -m gpu -q -p no:cacheprovider --junitxml "$OUT/gpu_tests.xml"'
  TITLE[mlp_batching]="MLP trials/hour: one trial and trial batching on the GPU vs the lab's cross_val_score on the CPU"
  BUDGET[mlp_batching]=150
  COMMAND[mlp_batching]='"$PY" benchmarks/bench_trial_batching.py --device cuda --lab-trials 4 --json "$OUT/mlp_batching.json"'
  TITLE[cnn_loop]="CNN training loop at 250 px vs a plain DataLoader loop"
  BUDGET[cnn_loop]=80
  COMMAND[cnn_loop]='"$PY" benchmarks/bench_cnn_loop.py --device cuda --size 250 --images 400 --iterations 10 --repeats 2 --json "$OUT/cnn_loop.json"'
  TITLE[openmm_cuda]="OpenMM's CUDA platform, 3D Kob-Andersen at N = 1000 and 4096"
  BUDGET[openmm_cuda]=60
  COMMAND[openmm_cuda]='"$PY" benchmarks/bench_simulation.py --quick --platform cuda --json "$OUT/openmm_cuda.json"'
  TITLE[mlp_trial]="one cross-validated MLP trial, torch on the GPU vs the lab's cross_val_score on the CPU, default size"
  BUDGET[mlp_trial]=150
  COMMAND[mlp_trial]='"$PY" benchmarks/bench_mlp_trial.py --device cuda --repeats 1 --blas-threads 1 --json "$OUT/mlp_trial.json"'
}
SETUP_COMMANDS=(
  "python3 -m venv --system-site-packages $VENV   # sees a CUDA torch already installed"
  "$VENV/bin/python -m pip install $PIP_OPTIONS torch==2.13.0   # only where no torch imports"
  "$VENV/bin/python -m pip install $PIP_OPTIONS -e \".[dev]\""
  "$VENV/bin/python -m pip install $PIP_OPTIONS openmm-cuda-13"
)

# The table and the plan: the figures each step gives, their targets, the JSON files.
REPORT_PY=$(
  cat <<'PYTHON'
import json
import platform
import shlex
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

mode, out, total_s, setup_budget = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
setup_commands = sys.argv[5].splitlines()
rest = sys.argv[6:]
steps = [dict(zip(("step", "title", "budget_s", "command"), rest[i:i + 4])) for i in range(0, len(rest), 4)]


def ratio(value):
    return f"{value:.1f}x" if value >= 10 else f"{value:.2f}x"


def per_hour(value):
    return f"{value:,.0f} trials/h"


def mlp_batching_alone(d):
    return d.get("alone_vs_lab_cpu") or d["trials_per_hour_alone"] / d["trials_per_hour_lab_cpu"]


def tests_line(d):
    return f"{d['passed']} passed, {d['failed']} failed, {d['skipped']} skipped"


# step -> (figure, target text, threshold or None, value from the step's figures, text of the value)
FIGURES = {
    "gpu_tests": [
        ("GPU tests (pytest -m gpu)", "all pass, none skipped", None,
         lambda d: d["failed"] == 0 and d["skipped"] == 0 and d["passed"] > 0, tests_line),
    ],
    "mlp_batching": [
        ("the lab's cross_val_score on this machine's CPU, MLP trials/hour (reference)", "(reference)", None,
         lambda d: d["trials_per_hour_lab_cpu"], per_hour),
        ("one MLP trial at a time on the GPU, trials/hour vs the lab on the CPU", "-", None,
         mlp_batching_alone, ratio),
        ("MLP trials/hour on the GPU with trial batching vs the lab's cross_val_score on the CPU", ">= 50x", 50.0,
         lambda d: d["batched_vs_lab_cpu"], ratio),
        ("trial batching vs one trial at a time, GPU", "-", None, lambda d: d["batched_vs_alone"], ratio),
        ("every trial's CV score the same trained in a batch as alone", "yes", None,
         lambda d: d["same_scores"], lambda same: "yes" if same else "no"),
    ],
    "cnn_loop": [
        ("CNN loop at 250 px vs a plain DataLoader loop, GPU (images/s)", ">= 5x", 5.0, lambda d: d["ratio"], ratio),
    ],
    "openmm_cuda": [
        ("OpenMM CUDA platform, 3D KA N = 4096, steps/s", "-", None,
         lambda d: d["md_steps_per_s"]["3d_n4096_cuda"], lambda v: f"{v:,.0f} steps/s"),
        ("OpenMM CUDA platform, 3D KA N = 1000, steps/s", "-", None,
         lambda d: d["md_steps_per_s"]["3d_n1000_cuda"], lambda v: f"{v:,.0f} steps/s"),
    ],
    "mlp_trial": [
        ("one CV MLP trial (4,000 rows, 8x80, 316 epochs), torch on the GPU vs the lab's cross_val_score "
         "on the CPU (1 BLAS thread)", ">= 20x", 20.0, lambda d: d["torch_vs_lab"], ratio),
    ],
}
DETAILS = {  # what the measured column adds after the figure
    "mlp_batching": lambda d: (f"{d.get('trials')} trials, batch {d.get('batch')}: "
                               f"{d['trials_per_hour_batched']:,.0f} batched, "
                               f"{d['trials_per_hour_alone']:,.0f} alone, {d['trials_per_hour_lab_cpu']:,.0f} "
                               "lab trials/h"),
    "cnn_loop": lambda d: f"{d['glasstune_images_per_s']:,.0f} vs {d['plain_images_per_s']:,.0f} images/s",
    "mlp_trial": lambda d: f"lab {d['lab_seconds']:.1f} s, torch {d['torch_seconds']:.2f} s",
}


def script_and_flags(command):
    words = shlex.split(command)
    script = next((w for w in words if w.startswith("benchmarks/") and w.endswith(".py")), None)
    return script, [w for w in words if w.startswith("--")]


def plan():
    entries = [{"step": "setup", "title": "the environment", "budget_s": setup_budget,
                "command": "\n".join(setup_commands), "script": None, "flags": [], "figures": []}]
    for step in steps:
        script, flags = script_and_flags(step["command"])
        entries.append({**step, "budget_s": int(step["budget_s"]), "script": script, "flags": flags,
                        "figures": [{"figure": f[0], "target": f[1]} for f in FIGURES[step["step"]]]})
    (out / "gpu_check_plan.json").write_text(json.dumps({"total_budget_s": total_s, "steps": entries}, indent=2))
    print(f"gpu_check --dry-run: nothing installed, nothing run; a real run takes at most {total_s} s in all")
    for number, entry in enumerate(entries):
        print(f"\n{number}. {entry['step']}: {entry['title']} (up to {entry['budget_s']} s)")
        for line in entry["command"].splitlines():
            print(f"   $ {line}")
        for figure in entry["figures"]:
            print(f"   - {figure['figure']}; target: {figure['target']}")
    print(f"\nplan written to {out / 'gpu_check_plan.json'}")


def read_json(path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def junit(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    count = {key: sum(int(s.get(key, 0)) for s in suites) for key in ("tests", "failures", "errors", "skipped")}
    return {"passed": count["tests"] - count["failures"] - count["errors"] - count["skipped"],
            "failed": count["failures"] + count["errors"], "skipped": count["skipped"]}


def last_line(path):
    try:
        lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return ""
    return lines[-1][:200] if lines else ""


def report():
    rows, results = [], {}
    for step in steps:
        name = step["step"]
        status = read_json(out / f"{name}.status.json") or {"status": "not run", "reason": "no status written"}
        data, why = None, None
        if status["status"] == "ok" or (name == "gpu_tests" and status.get("rc") == 1):
            try:
                data = junit(out / "gpu_tests.xml") if name == "gpu_tests" else read_json(out / f"{name}.json")
                if data is None:
                    why = f"{name}.json is missing or unreadable"
            except (OSError, ET.ParseError) as error:
                why = f"gpu_tests.xml unreadable ({error})"
        elif status["status"] == "timed out":
            why = f"timed out after {status.get('limit_s')} s (log: {name}.log)"
        elif status["status"] == "failed":
            why = f"exit {status.get('rc')}: {last_line(out / f'{name}.log')} (log: {name}.log)"
        else:
            why = status.get("reason") or status["status"]
        if data is not None and name == "gpu_tests":
            (out / "gpu_tests.json").write_text(json.dumps(data, indent=2))
        results[name] = {**status, "figures": data}
        for figure, target, threshold, value_of, text_of in FIGURES[name]:
            row = {"step": name, "figure": figure, "target": target, "value": None, "met": None}
            if data is None:
                row["measured"] = f"not measured: {why}"
            else:
                try:
                    value = value_of(data)
                    row["measured"] = text_of(data if name == "gpu_tests" else value)
                    row["value"] = value
                    if name == "gpu_tests" or isinstance(value, bool):
                        row["met"] = bool(value)
                    elif threshold is not None:
                        row["met"] = value >= threshold
                    if threshold is not None and name in DETAILS:
                        row["measured"] += f" ({DETAILS[name](data)})"
                except (KeyError, TypeError, ZeroDivisionError) as error:
                    row["measured"] = f"not measured: {name}.json has no usable {error}"
            rows.append(row)
    environment = read_json(out / "environment.json") or {}
    setup = read_json(out / "setup.status.json") or {}
    summary = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "host": platform.node(), "environment": environment,
               "setup": setup, "steps": results, "figures": rows}
    (out / "gpu_check.json").write_text(json.dumps(summary, indent=2, default=str))
    print("\n== gpu_check: every GPU figure")
    print(f"GPU: {environment.get('gpu', 'unknown')}; torch {environment.get('torch', '-')}; "
          f"OpenMM {environment.get('openmm', '-')}; CPU: {environment.get('cpu', '-')}")
    for note in setup.get("notes", []):
        print(f"setup: {note}")
    print("\n| figure | measured | target | met? |\n|---|---|---|---|")
    for row in rows:
        met = {True: "**met**", False: "**missed**", None: "-"}[row["met"]]
        if row["measured"].startswith("not measured"):
            met = "not measured"
        print(f"| {row['figure']} | {row['measured']} | {row['target']} | {met} |")
    print(f"\nwritten: {out / 'gpu_check.json'}")


plan() if mode == "plan" else report()
PYTHON
)

shown() { # a step's command as it will run
  local text=${1//\"\$PY\"/$2}
  text=${text//\$OUT/$out}
  printf '%s' "$text"
}

report() { # mode, python
  local args=() step
  for step in "${STEPS[@]}"; do
    args+=("$step" "${TITLE[$step]}" "${BUDGET[$step]}" "$(shown "${COMMAND[$step]}" "$2")")
  done
  local setup_text
  setup_text=$(printf '%s\n' "${SETUP_COMMANDS[@]}")
  python3 -c "$REPORT_PY" "$1" "$out" "$TOTAL_S" "$SETUP_S" "$setup_text" "${args[@]}"
}

if ((dry_run)); then
  report plan python
  exit $?
fi

write_status() { # file, status, rc, seconds, limit, reason, notes...
  python3 - "$@" <<'PYTHON'
import json
import sys

path, status, rc, seconds, limit, reason, *notes = sys.argv[1:]
record = {"status": status, "rc": int(rc), "seconds": int(seconds), "limit_s": int(limit), "reason": reason}
if notes:
    record["notes"] = notes
with open(path, "w") as handle:
    json.dump(record, handle, indent=2)
PYTHON
}

# A step runs under timeout in its own process group; stopping this script stops the step too.
child=""
exec 3>&2 # the trap may fire while a step's output goes to its log
trap 'if [[ -n "$child" ]]; then kill -TERM "$child" 2>/dev/null; fi; echo "gpu_check: stopped" >&3; exit 130' INT TERM

run_timed() { # SECONDS COMMAND...
  timeout -k 5 "$1" "${@:2}" &
  child=$!
  wait "$child"
  local rc=$?
  child=""
  return "$rc"
}

# --- setup ---------------------------------------------------------------------------------------
setup_notes=()
setup_deadline=$((SECONDS + SETUP_S))
py=python3

limited() { # LOG COMMAND...: runs within what is left of the setup's time
  local log=$1 left=$((setup_deadline - SECONDS))
  shift
  if ((left < 5)); then
    echo "no setup time left for: $*" >>"$log"
    return 124
  fi
  run_timed "$left" "$@" >>"$log" 2>&1
}

pip_install() { # what, pip arguments...: notes a failure, never stops the run
  local what=$1 rc
  shift
  # shellcheck disable=SC2086  # PIP_OPTIONS is several words
  limited "$out/setup.log" "$py" -m pip install $PIP_OPTIONS "$@"
  rc=$?
  if ((rc == 124 || rc == 137)); then
    setup_notes+=("$what: not installed, the setup's $SETUP_S s ran out")
  elif ((rc != 0)); then
    setup_notes+=("$what: pip failed ($(grep -i 'error' "$out/setup.log" | tail -n 1 | cut -c1-160))")
  else
    setup_notes+=("$what: installed")
  fi
}

echo "gpu_check: setting up (up to $SETUP_S s; log: $out/setup.log)"
: >"$out/setup.log"
if [[ -n "${GPU_CHECK_PYTHON:-}" ]]; then
  py=$GPU_CHECK_PYTHON
  setup_notes+=("using $py as it is (GPU_CHECK_PYTHON); nothing installed")
else
  if [[ ! -x "$VENV/bin/python" ]]; then
    limited "$out/setup.log" python3 -m venv --system-site-packages "$VENV"
  fi
  if [[ -x "$VENV/bin/python" ]]; then
    py=$PWD/$VENV/bin/python
  else
    setup_notes+=("no $VENV (python3 -m venv failed, see setup.log): installing into python3 itself")
  fi
  if "$py" -c "import torch" >/dev/null 2>&1; then
    setup_notes+=("torch: kept the one present ($("$py" -c 'import torch; print(torch.__version__)' 2>/dev/null))")
  else
    pip_install "torch==2.13.0" torch==2.13.0
  fi
  pip_install "glasstune (-e .[dev])" -e ".[dev]"
  pip_install "openmm-cuda-13" openmm-cuda-13
fi
# The source tree is importable even where the editable install failed.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
PATH="$(cd "$(dirname "$(command -v "$py")")" && pwd -P):$PATH"
export PATH

# What the machine has; a step that cannot run here is not started, and its figures say why.
probe=$(timeout -k 5 60 "$py" - "$out/environment.json" 2>>"$out/setup.log" <<'PYTHON'
import json
import os
import platform
import sys

env = {"python": sys.executable, "python_version": platform.python_version(), "cores": os.cpu_count()}
try:
    with open("/proc/cpuinfo") as handle:
        env["cpu"] = next(line.split(":", 1)[1].strip() for line in handle if line.startswith("model name"))
except (OSError, StopIteration):
    env["cpu"] = platform.processor() or platform.machine()
torch_ok = openmm_ok = "no"
try:
    import torch

    env["torch"], env["torch_cuda"] = torch.__version__, torch.version.cuda
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        torch_ok = "yes"
    else:
        torch_ok = f"torch {torch.__version__} sees no CUDA device"
except Exception as error:  # noqa: BLE001 - any import failure is the reason
    torch_ok = f"torch does not import ({type(error).__name__}: {error})"
try:
    import openmm

    env["openmm"] = openmm.__version__
    names = [openmm.Platform.getPlatform(i).getName() for i in range(openmm.Platform.getNumPlatforms())]
    env["openmm_platforms"] = names
    if "CUDA" in names:
        openmm_ok = "yes"
    else:
        failures = [f.splitlines()[0] for f in openmm.Platform.getPluginLoadFailures() if "CUDA" in f.upper()]
        openmm_ok = "OpenMM has no CUDA platform" + (f" ({failures[0][:160]})" if failures else "")
except Exception as error:  # noqa: BLE001
    openmm_ok = f"openmm does not import ({type(error).__name__}: {error})"
with open(sys.argv[1], "w") as handle:
    json.dump(env, handle, indent=2)
print(f"torch\t{torch_ok}")
print(f"openmm\t{openmm_ok}")
PYTHON
)
torch_ok=$(printf '%s\n' "$probe" | awk -F'\t' '$1 == "torch" {print $2}')
openmm_ok=$(printf '%s\n' "$probe" | awk -F'\t' '$1 == "openmm" {print $2}')
torch_ok=${torch_ok:-"the environment probe failed (see setup.log)"}
openmm_ok=${openmm_ok:-"the environment probe failed (see setup.log)"}
setup_notes+=("CUDA torch: $torch_ok" "OpenMM CUDA: $openmm_ok")
if [[ "$torch_ok" != yes ]]; then
  for step in gpu_tests mlp_batching cnn_loop mlp_trial; do BLOCKED[$step]=$torch_ok; done
fi
if [[ "$openmm_ok" != yes ]]; then BLOCKED[openmm_cuda]=$openmm_ok; fi
if [[ ! -f benchmarks/bench_trial_batching.py ]]; then
  BLOCKED[mlp_batching]="benchmarks/bench_trial_batching.py is not in this checkout"
fi
write_status "$out/setup.status.json" ok 0 "$SECONDS" "$SETUP_S" "" "${setup_notes[@]}"
printf '   %s\n' "${setup_notes[@]}"

# --- the steps -----------------------------------------------------------------------------------
for step in "${STEPS[@]}"; do
  limit=${BUDGET[$step]}
  left=$((TOTAL_S - REPORT_S - SECONDS))
  ((left < limit)) && limit=$left
  if [[ -n "${BLOCKED[$step]:-}" ]]; then
    echo "== $step: not run: ${BLOCKED[$step]}"
    write_status "$out/$step.status.json" "not run" 0 0 0 "${BLOCKED[$step]}"
    continue
  fi
  if ((limit < MIN_STEP_S)); then
    echo "== $step: not run: no time left of the $TOTAL_S s"
    write_status "$out/$step.status.json" "not run" 0 0 0 "no time left of the $TOTAL_S s"
    continue
  fi
  echo "== $step (up to $limit s): $(shown "${COMMAND[$step]}" "$py")"
  started=$SECONDS
  run_timed "$limit" env PY="$py" OUT="$out" bash -c "${COMMAND[$step]}" >"$out/$step.log" 2>&1
  rc=$?
  took=$((SECONDS - started))
  if ((rc == 0)); then
    status=ok
  elif ((rc == 124 || rc == 137)); then
    status="timed out"
  else
    status=failed
  fi
  echo "   $status after $took s; last line: $(grep -v '^\s*$' "$out/$step.log" | tail -n 1 | cut -c1-160)"
  write_status "$out/$step.status.json" "$status" "$rc" "$took" "$limit" ""
done

report report "$py"
echo "gpu_check: $SECONDS s in all"
