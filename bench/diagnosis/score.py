#!/usr/bin/env python3
"""Scores `deeptrain diagnose` (and `deeptrain doctor`) on the diagnosis benchmark.

Standard library only. From the repository root:

    python3 bench/diagnosis/score.py                    # diagnose every case (its `steps` budget)
    python3 bench/diagnosis/score.py --steps 300        # the same step count for every case
    python3 bench/diagnosis/score.py --doctor           # also the doctor's repair rate
    python3 bench/diagnosis/score.py --reproducing      # also the score on the cases that reproduce
    python3 bench/diagnosis/score.py --only so_31880720,at_blob_seed --json-out out.json

Scoring is defined in bench/diagnosis/README.md. In short: a broken case is a hit when a verdict's
id is one of its accepted labels; a healthy case is a false positive when any verdict other than
`healthy` fires; precision = correct verdicts / all non-healthy verdicts (each id counted once per
case).
"""
import argparse
import csv
import json
import os
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Verdict ids that report health rather than a problem. `healthy` is the stable id; the others
# are the text output's names from before `--json` existed (used with --text).
HEALTHY_IDS = {"healthy", "healthy_gradients", "self_normalizing"}

# The budget of a case without a `steps` column.
DEFAULT_STEPS = 300

# Published figures, quoted beside ours (see README.md for what each counts).
PUBLISHED = [
    ("DeepLocalize (Wardat et al., ICSE 2021)", "detected 34 of 40 real bugs (85%); localized 21 of 40"),
    ("DeepDiagnosis (Wardat et al., ICSE 2022)", "identified 46 of 52 real bugs (88%), the symptom in 38 (73%)"),
    ("AUTOTRAINER (Zhang et al., ICSE 2021 / TDSC)", "repaired 414 of the 422 models it flagged (98.42%), by its own problem definitions"),
    ("Humbatova et al., EMSE 2025 (independent)", "best tool (DeepFD): recall 0.55 at precision 0.37 with equivalent patches; 0.33 / 0.21 single ground truth"),
]


def read_cases(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def labels_of(case):
    return [x for x in case["labels"].split(";") if x]


def run(cmd, timeout):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        return p.returncode, p.stdout, p.stderr
    except subprocess.TimeoutExpired:
        return 124, "", f"timed out after {timeout} s"


def parse_json_report(stdout):
    """The one JSON object `diagnose --json` prints: (ids of verdicts, ids of warnings, steps)."""
    start = stdout.find("{")
    if start < 0:
        raise ValueError("no JSON object on stdout")
    obj = json.loads(stdout[start:])
    for key in ("steps", "warnings", "verdicts"):
        if key not in obj:
            raise ValueError(f"the JSON object lacks `{key}`")
    for v in obj["verdicts"]:
        for key in ("id", "layer", "evidence", "fix"):
            if key not in v:
                raise ValueError(f"a verdict lacks `{key}`: {v}")
    for w in obj["warnings"]:
        for key in ("id", "message"):
            if key not in w:
                raise ValueError(f"a warning lacks `{key}`: {w}")
    return [v["id"] for v in obj["verdicts"]], [w["id"] for w in obj["warnings"]], obj["steps"]


def parse_text_report(stdout):
    """Verdict ids from the human-readable output ("- id: finding" after "Verdicts (after ...)")."""
    ids, inside = [], False
    for line in stdout.splitlines():
        if line.startswith("Verdicts (after"):
            inside = True
        elif inside and line.startswith("- "):
            m = re.match(r"- ([a-z_]+):", line)
            if m and m.group(1) != "none":
                ids.append(m.group(1))
    return ids, [], None


def diagnose(binary, case_path, steps, text, threads, timeout):
    cmd = [binary, "--threads", str(threads), "diagnose", case_path, "--steps", str(steps)]
    if not text:
        cmd.append("--json")
    rc, out, err = run(cmd, timeout)
    if rc != 0:
        return None, (err.strip().splitlines() or ["exit %d" % rc])[-1]
    try:
        return (parse_text_report(out) if text else parse_json_report(out)), None
    except ValueError as e:
        return None, f"bad output: {e}"


def score(cases, results):
    """Per-class recall and precision, healthy false-positive rate, overall figures."""
    per_class = defaultdict(lambda: {"cases": 0, "hits": 0, "fired": 0, "correct": 0})
    broken = [c for c in cases if c["kind"] == "broken"]
    healthy = [c for c in cases if c["kind"] == "healthy"]
    hits = fired = correct = 0
    for c in broken:
        labels = labels_of(c)
        ids = set(results[c["id"]]["verdicts"]) - HEALTHY_IDS
        per_class[labels[0]]["cases"] += 1
        if ids & set(labels):
            per_class[labels[0]]["hits"] += 1
            hits += 1
        for i in ids:
            per_class[i]["fired"] += 1
            fired += 1
            if i in labels:
                per_class[i]["correct"] += 1
                correct += 1
    flagged = 0
    for c in healthy:
        ids = set(results[c["id"]]["verdicts"]) - HEALTHY_IDS
        flagged += bool(ids)
        for i in ids:
            per_class[i]["fired"] += 1
            fired += 1
    return {
        "classes": dict(per_class),
        "broken": len(broken),
        "hits": hits,
        "recall": hits / len(broken) if broken else None,
        "verdicts": fired,
        "correct": correct,
        "precision": correct / fired if fired else None,
        "healthy": len(healthy),
        "healthy_flagged": flagged,
        "healthy_fp_rate": flagged / len(healthy) if healthy else None,
        "errors": sum(1 for c in cases if results[c["id"]].get("error")),
    }


def pct(x):
    return "-" if x is None else f"{100 * x:.0f}%"


def steps_of(case, override):
    """The case's step budget: `override` when given, else its `steps` column (its source's
    training length, clamped; see budgets.py), else DEFAULT_STEPS."""
    if override:
        return override
    return int(case.get("steps") or DEFAULT_STEPS)


def print_table(s, steps, out=sys.stdout, published=True):
    p = lambda *a: print(*a, file=out)
    budget = f"diagnose --steps {steps}" if steps else "diagnose --steps from each case's `steps` (its source's training length, 300 to 2,000)"
    p(f"Diagnosis benchmark: {s['broken']} broken cases, {s['healthy']} healthy controls, {budget}")
    p("")
    p("| class | cases | recall | verdicts fired | precision |")
    p("| --- | --- | --- | --- | --- |")
    for name in sorted(s["classes"], key=lambda k: (-s["classes"][k]["cases"], k)):
        c = s["classes"][name]
        rec = f"{c['hits']}/{c['cases']} ({pct(c['hits'] / c['cases'])})" if c["cases"] else "-"
        prec = f"{c['correct']}/{c['fired']} ({pct(c['correct'] / c['fired'])})" if c["fired"] else "-"
        p(f"| {name} | {c['cases']} | {rec} | {c['fired']} | {prec} |")
    p("")
    p(f"Overall recall: {s['hits']}/{s['broken']} = {pct(s['recall'])}")
    p(f"Overall precision: {s['correct']}/{s['verdicts']} = {pct(s['precision'])}")
    p(f"Healthy controls flagged: {s['healthy_flagged']}/{s['healthy']} = {pct(s['healthy_fp_rate'])}")
    if s["errors"]:
        p(f"Cases where diagnose failed (scored as no verdict): {s['errors']}")
    if not published:
        return
    p("")
    p("Published figures (not directly comparable; see README.md):")
    for name, fig in PUBLISHED:
        p(f"- {name}: {fig}")


def doctor_json(binary, case_path, out_dir, threads, timeout, steps, rounds=None):
    cmd = [binary, "--threads", str(threads), "doctor", case_path, "--out", out_dir, "--steps", str(steps)]
    if rounds is not None:
        cmd += ["--rounds", str(rounds)]
    rc, out, err = run(cmd, timeout)
    if rc != 0:
        return None, (err.strip().splitlines() or ["exit %d" % rc])[-1]
    try:
        with open(os.path.join(out_dir, "doctor.json")) as f:
            return json.load(f), None
    except (OSError, ValueError) as e:
        return None, f"no doctor.json: {e}"


def target_of(case, by_id, control_metric):
    """The repair target of a broken case: (metric, value, how), or None."""
    control = case["control"]
    if control and control in control_metric and control_metric[control]:
        m = control_metric[control]
        if m["metric"] == "accuracy":
            # A control translated with its source's data and configuration (AUTOTRAINER's normal
            # models) must also reach its source's own accuracy: the stricter of the two counts.
            published = (by_id.get(control) or {}).get("target", "")
            value, how = m["value"], f"control {control} reaches {m['value']:.3f}"
            if re.fullmatch(r"0\.[0-9]+", published) and float(published) > value:
                value, how = float(published), f"control {control}'s source reaches {published} (here {m['value']:.3f})"
            return ("accuracy", value - 0.03, how + ", minus 3 points")
        return ("loss", m["value"], f"control {control} reaches loss {m['value']:.4g}")
    m = re.match(r"loss ([0-9.eE+-]+)", case["target"] or "")
    if m:
        return ("loss", float(m.group(1)), "the benchmark's fixed loss")
    return None


def doctor_budget(case, args):
    """The doctor's trial budget for a broken case and its control: `--doctor-steps` when
    given, else the case's own budget (its `steps` column, the steps `diagnose` runs)."""
    return args.doctor_steps or steps_of(case, args.steps)


def doctor_run(cases, args, work):
    """Runs the doctor on every broken case and its control; a repair reaches the target.
    Each case and its control train exactly the case's budget (copies whose epochs never
    bind, as in `reproduction_run`)."""
    # The controls come from the whole manifest, so that `--only` with broken cases alone
    # still scores them against their controls.
    by_id = {c["id"]: c for c in read_cases(args.cases)}
    todo = [c for c in cases if c["kind"] == "broken"]
    pairs = sorted({(c["control"], doctor_budget(c, args)) for c in todo if c["control"] in by_id})
    spec = budget_copies(work)
    # The controls' scores: the doctor's baseline trial alone (--rounds 0), same budget.
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        done = pool.map(lambda p: doctor_json(args.bin, spec(p[0]), os.path.join(work, f"{p[0]}-{p[1]}"), args.threads, args.timeout, p[1], 0), pairs)
        control_metric = {}
        for p, (res, err) in zip(pairs, done):
            control_metric[p] = res and res.get("baseline")
            print(f"control {p[0]} at {p[1]} steps: {control_metric[p] if res else err}", file=sys.stderr)
        runs = pool.map(lambda c: doctor_json(args.bin, spec(c["id"]), os.path.join(work, c["id"]), args.threads, args.timeout, doctor_budget(c, args)), todo)
        rows = [doctor_row(c, res, err, by_id, {cid: m for (cid, n), m in control_metric.items() if n == doctor_budget(c, args)}) for c, (res, err) in zip(todo, runs)]
    count = lambda st: sum(1 for r in rows if r["status"] == st)
    broken = len(rows) - count("already at target")
    return {"cases": rows, "repaired": count("repaired"), "not_repaired": count("not repaired"), "already": count("already at target"), "failed": count("failed") + count("no target"), "broken": broken, "rate": count("repaired") / broken if broken else None}


def doctor_row(c, res, err, by_id, control_metric):
    """One broken case's doctor result against its target, printed as soon as it is known."""
    target = target_of(c, by_id, control_metric)
    status, best = "failed", None
    if res and target:
        best = res.get("best")
        if reaches(res.get("baseline"), target):
            status = "already at target"
        elif reaches(best, target):
            status = "repaired"
        else:
            status = "not repaired"
    elif res:
        status = "no target"
    print(f"{c['id']}: {status} ({res and res.get('best_remedy')}; baseline {res and res.get('baseline')}; best {best}; target {target}; {err or ''})", file=sys.stderr, flush=True)
    return {"id": c["id"], "status": status, "target": target, "baseline": res and res.get("baseline"), "best": best, "remedy": res and res.get("best_remedy"), "problems": res and res.get("problems"), "error": err}


def budget_copies(work):
    """A function from a case id to a copy of its spec in `work` whose epochs never bind.
    A doctor trial runs min(the spec's epochs, --steps) steps; `diagnose` runs exactly its
    steps. With these copies a case and its control both train exactly the budget asked, as
    `diagnose` does. The copies sit beside `cases/` so that the specs' relative data paths
    still resolve."""
    os.makedirs(os.path.join(work, "cases"), exist_ok=True)
    if not os.path.exists(os.path.join(work, "data")):
        os.symlink(os.path.join(HERE, "data"), os.path.join(work, "data"))

    def spec(cid):
        with open(os.path.join(HERE, "cases", cid + ".toml")) as f:
            text = f.read()
        text, n = re.subn(r"(?m)^epochs\s*=\s*[0-9]+\s*$", "epochs = 100000", text)
        if n != 1:
            raise ValueError(f"{cid}: expected one `epochs = N` line in [fit], found {n}")
        path = os.path.join(work, "cases", cid + ".toml")
        with open(path, "w") as f:
            f.write(text)
        return path

    return spec


def reproduction_run(cases, args, work):
    """Which broken cases reproduce their problem here. The rule, fixed before any run: a broken
    case reproduces when its spec as written, trained for exactly the case's own step budget
    (the steps `diagnose` runs), does not
    meet the repair bar against its control trained for the same budget (the control's held-out
    accuracy minus 3 points, or the control's loss; the fixed loss without a control), or when it
    diverges. The control's score here is the bar, not its source's: the question is whether the
    buggy twin is measurably worse than its fixed twin in this translation."""
    by_id = {c["id"]: c for c in read_cases(args.cases)}
    broken = [c for c in cases if c["kind"] == "broken"]
    steps = lambda c: steps_of(c, args.steps)
    pairs = sorted({(c["control"], steps(c)) for c in broken if c["control"] in by_id})
    spec = budget_copies(work)
    run_one = lambda cid, n: doctor_json(args.bin, spec(cid), os.path.join(work, f"{cid}-{n}"), args.threads, args.timeout, n, 0)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        controls = dict(zip(pairs, pool.map(lambda p: run_one(*p), pairs)))
        runs = list(pool.map(lambda c: run_one(c["id"], steps(c)), broken))
    rows = {}
    for c, (res, err) in zip(broken, runs):
        control, bar = (controls.get((c["control"], steps(c))) or (None, None))[0], None
        if control and control.get("baseline") and control["baseline"].get("value") is not None:
            m = control["baseline"]
            bar = (m["metric"], m["value"] - 0.03 if m["metric"] == "accuracy" else m["value"], f"control {c['control']} at {steps(c)} steps: {m['metric']} {m['value']:.4g}")
        else:
            fixed = re.match(r"loss ([0-9.eE+-]+)", c["target"] or "")
            bar = fixed and ("loss", float(fixed.group(1)), "the benchmark's fixed loss")
        baseline = res and res.get("baseline")
        status = reproduces(baseline, bar)
        rows[c["id"]] = {"reproduces": status, "baseline": baseline, "bar": bar, "error": err}
        print(f"{c['id']}: reproduces {status} (as written {baseline}; bar {bar}; {err or ''})", file=sys.stderr)
    return rows


def reproduces(baseline, bar):
    """"yes" when the spec as written misses its control's bar or diverges, "no" when it meets
    it, "unknown" without a score or a bar."""
    if not (baseline and bar):
        return "unknown"
    return "no" if reaches(baseline, bar) else "yes"


def reaches(score, target):
    if not score or score.get("value") is None or score.get("diverged"):
        return False
    if target[0] == "accuracy" and score["metric"] == "accuracy":
        return score["value"] >= target[1]
    if target[0] == "loss" and score["metric"] == "loss":
        return score["value"] <= target[1]
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", default=os.path.join(ROOT, "target", "release", "deeptrain"))
    ap.add_argument("--cases", default=os.path.join(HERE, "cases.csv"))
    ap.add_argument("--steps", type=int, help="diagnose --steps for every case (default: each case's `steps` column)")
    ap.add_argument("--only", help="comma-separated case ids")
    ap.add_argument("--text", action="store_true", help="parse the text output (diagnose without --json)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=600)
    ap.add_argument("--json-out", help="write every case's verdicts and the scores here")
    ap.add_argument("--doctor", action="store_true", help="also run the doctor and report its repair rate")
    ap.add_argument("--jobs", type=int, default=1, help="diagnose or doctor runs at a time (each with --threads)")
    ap.add_argument("--doctor-steps", type=int, help="the doctor's trial budget (doctor --steps) for every case and control (default: each case's budget, as for --steps)")
    ap.add_argument("--doctor-only", action="store_true", help="skip the diagnosis table")
    ap.add_argument("--reproducing", action="store_true", help="also score the cases whose problem reproduces here (see reproduction_run)")
    args = ap.parse_args()

    cases = [c for c in read_cases(args.cases) if c["kind"] in ("broken", "healthy")]
    if args.only:
        keep = set(args.only.split(","))
        unknown = keep - {c["id"] for c in cases}
        if unknown:
            sys.exit(f"score.py: unknown case id(s): {', '.join(sorted(unknown))}")
        cases = [c for c in cases if c["id"] in keep]
    results = {}
    todo = [] if args.doctor_only else cases
    spec = lambda c: os.path.join(HERE, "cases", c["id"] + ".toml")
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = pool.map(lambda c: diagnose(args.bin, spec(c), steps_of(c, args.steps), args.text, args.threads, args.timeout), todo)
        for c, (parsed, err) in zip(todo, runs):
            verdicts, warnings, steps = parsed if parsed else ([], [], None)
            results[c["id"]] = {"kind": c["kind"], "labels": labels_of(c), "verdicts": verdicts, "warnings": warnings, "steps": steps, "error": err}
            status = err or ", ".join(verdicts) or "(no verdict)"
            print(f"{c['id']} [{c['labels']}] ({steps_of(c, args.steps)} steps): {status}", file=sys.stderr)
    report = {"steps": args.steps, "cases": results}
    if not args.doctor_only:
        report["scores"] = s = score(cases, results)
        print_table(s, args.steps)
        if args.reproducing:
            with tempfile.TemporaryDirectory(prefix="reproduce-bench-") as work:
                rep = reproduction_run(cases, args, work)
            report["reproduction"] = rep
            keep = [c for c in cases if c["kind"] == "healthy" or rep[c["id"]]["reproduces"] == "yes"]
            report["scores_reproducing"] = s2 = score(keep, results)
            left = sorted(cid for cid, r in rep.items() if r["reproduces"] != "yes")
            print("")
            print("Reproducing cases only: broken cases whose spec as written, at the case's budget, scores worse than")
            print("its control at the same budget (accuracy minus 3 points, or the control's loss), or diverges;")
            print(f"all healthy controls. Left out ({len(left)}): {', '.join(left) or 'none'}")
            print("")
            print_table(s2, args.steps, published=False)
    else:
        args.doctor = True
    if args.doctor:
        with tempfile.TemporaryDirectory(prefix="doctor-bench-") as work:
            d = doctor_run(cases, args, work)
        print("")
        budget = f"{args.doctor_steps} steps" if args.doctor_steps else "each case's budget, its control at the same"
        print(f"Doctor (trials of {budget}): repaired {d['repaired']}/{d['broken']} broken cases = {pct(d['rate'])}")
        print("(a repair reaches the matching healthy control's accuracy within 3 points, or the fixed loss)")
        print(f"Not counted: {d['already']} case(s) whose spec as written already reaches the target in the same budget"
              f" (the problem does not show in that budget); doctor failures: {d['failed']}")
        report["doctor"] = d
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    errors = [cid for cid, r in results.items() if r["error"]]
    if errors and not args.text:
        print(f"\n{len(errors)} case(s) failed: " + ", ".join(errors), file=sys.stderr)


if __name__ == "__main__":
    main()
