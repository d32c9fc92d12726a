"""The input screen, measured: each labelled set on its own, then the screen's latency.

    python bench/safety_eval.py                 # every set, the blind ones included; latency
    python bench/safety_eval.py --no-blind      # development: never the blind sets
    python bench/safety_eval.py --runtimes numpy,onnx-fp32,onnx-int8   # latency per runtime
    python bench/safety_eval.py --latency-only --runtimes ...           # latency alone

Sets: the project's evaluation set (``eval.jsonl``), the two probe sets, and the blind sets
(``eval_blind/set_*.jsonl``, written by authors who saw none of the rules, exemplars or
training data; measured once, never tuned on), each alone and the blind ones combined, and any
``--set PATH``. Every message is screened as in service: the whole screen (rules + screening model),
read with its ``context`` (the patient's earlier messages) when it has one. Per set: recall
(concern + crisis), crisis-level recall, false alarms, per-category recall with 95 % Wilson
intervals, and how many crisis messages would reach the chat model (screened below crisis).

Latency: one message at a time, the process pinned to one core, the runtime on one thread;
wall-clock and CPU time, on the sets' messages (with their context) and on messages of 900 to
1,000 characters built from the training exemplars.
"""

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")
os.environ.setdefault("DEBUG", "1")

GOALS = {"recall": 0.95, "crisis": 0.98, "false_alarms": 0.05, "p50_ms": 8.0, "p99_ms": 25.0}


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def labelled_sets(blind: bool, extra: list[str] = ()) -> dict[str, list[dict]]:
    from conversations.safety import screen_data

    sets = {"old eval (eval.jsonl)": screen_data.load_examples(screen_data.EVAL_PATH),
            "probe (probe.jsonl)": screen_data.load_examples(screen_data.PROBE_PATH),
            "unseen probe (probe_unseen.jsonl)": screen_data.load_examples(screen_data.PROBE_UNSEEN_PATH)}
    if blind:
        combined = []
        for path in sorted(screen_data.BLIND_DIR.glob("set_*.jsonl")):
            examples = screen_data.load_examples(path)
            sets[f"blind {path.stem[4:].upper()} ({path.name})"] = examples
            combined += examples
        sets["blind sets combined"] = combined
    for path in extra:  # a set kept outside the repository until it is measured
        sets[f"extra ({Path(path).name})"] = screen_data.load_examples(Path(path))
    return sets


def screen_all(examples: list[dict]) -> list:
    from conversations.safety.screening import screen_input

    return [screen_input(e["text"], context=e.get("context") or ()) for e in examples]


def print_set(name: str, examples: list[dict], screens: list) -> dict:
    from collections import Counter

    from conversations.safety.evaluation import figures_line, goals_met, set_figures

    figures = set_figures(examples, [(s.level, s.categories) for s in screens])
    print(f"\n== {figures_line(name, figures)}")
    kinds = Counter((e["level"] != "none", e.get("kind", "-")) for e in examples)
    print(f"   {sum(e['level'] != 'none' for e in examples)} risk ({sum(e['level'] == 'crisis' for e in examples)} "
          f"crisis), {sum(e['level'] == 'none' for e in examples)} non-risk; "
          f"{sum(bool(e.get('context')) for e in examples)} with context")
    for category, entry in figures["per_category"].items():
        if entry["n"]:
            print(f"   {category:<18} recall {entry['hits']:>3}/{entry['n']:<3} = {entry['rate']:.3f} "
                  f"(95% CI {entry['ci95'][0]:.3f}-{entry['ci95'][1]:.3f}); right category {entry['right_category']}")
    wrong = Counter()
    for e, s in zip(examples, screens, strict=True):
        if (s.level != "none") != (e["level"] != "none"):
            wrong[(e["level"] != "none", e.get("kind", "-"))] += 1
    print("   wrong verdicts by kind: " + (", ".join(
        f"{'missed' if risk else 'false alarm'} {kind} {n}/{kinds[(risk, kind)]}"
        for (risk, kind), n in sorted(wrong.items(), key=lambda kv: -kv[1])) or "none"))
    met = goals_met(figures, recall=GOALS["recall"], crisis=GOALS["crisis"], false_alarms=GOALS["false_alarms"])
    print("   goals (recall >= 0.95, crisis-level recall >= 0.98, false alarms <= 0.05): "
          + ", ".join(f"{k} {'met' if v else 'NOT met'}" for k, v in met.items()))
    return figures


def long_messages(n: int = 20) -> list[dict]:
    """Messages of 900-1,000 characters, exemplar sentences one after another (training text)."""
    from conversations.safety import screen_data

    texts = [e["text"] for e in screen_data.load_examples(screen_data.TRAIN_PATH)]
    rng, out = random.Random(0), []
    while len(out) < n:
        message = ""
        while len(message) < 900:
            message = f"{message} {rng.choice(texts)}".strip()
        if len(message) <= 1000:
            out.append({"text": message, "context": rng.sample(texts, 2)})
    return out


def timings(examples: list[dict], repeat: int) -> tuple[list[float], list[float]]:
    from conversations.safety.screening import screen_input

    wall, cpu = [], []
    for _ in range(repeat):
        for e in examples:
            started, started_cpu = time.perf_counter(), time.process_time()
            screen_input(e["text"], context=e.get("context") or ())
            wall.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return wall, cpu


def latency(runtime: str, examples: list[dict], repeat: int) -> None:
    from django.conf import settings

    from conversations.safety import screen_model

    settings.SAFETY_SCREEN_RUNTIME = runtime
    screen_model.screen_model_reset()
    started = time.perf_counter()
    model = screen_model.get_screen_model()
    load = time.perf_counter() - started
    timings(examples[:20], 1)  # warm
    print(f"\n-- latency, runtime {model.runtime} (model load and verification {load:.2f} s)")
    for label, chosen in (("the sets' messages, with context", examples), ("900-1,000 characters", long_messages())):
        wall, cpu = timings(chosen, repeat)
        ok = percentile(wall, 50) <= GOALS["p50_ms"] and percentile(wall, 99) <= GOALS["p99_ms"]
        print(f"   {label} ({len(chosen)} x {repeat}): wall p50 {percentile(wall, 50):.2f} ms, p99 "
              f"{percentile(wall, 99):.2f} ms, max {max(wall):.2f} ms; CPU p50 {percentile(cpu, 50):.2f} ms, "
              f"p99 {percentile(cpu, 99):.2f} ms; goal p50 <= 8 ms and p99 <= 25 ms: {'met' if ok else 'NOT met'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-blind", action="store_true", help="leave out the blind sets (development)")
    parser.add_argument("--set", action="append", default=[], metavar="PATH",
                        help="also measure this labelled JSONL file (repeatable)")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the messages for latency samples")
    parser.add_argument("--runtimes", default="", help="comma-separated runtimes to time (default: the configured one)")
    parser.add_argument("--latency-only", action="store_true", help="time the screen, print no figures")
    args = parser.parse_args()
    import django

    django.setup()
    from conversations.safety import embedding
    from conversations.safety.screen_model import get_screen_model
    from conversations.safety.screening import current_rules

    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    embedding.ENCODER_THREADS = 1
    model = get_screen_model()
    rules = current_rules()
    print(f"screening model {model.version} ({model.runtime}); thresholds {json.dumps(model.thresholds)}; rules: "
          f"{len(rules.risks)} risk + {len(rules.exceptions)} exceptions "
          f"({'defaults' if rules.revision == 'defaults' else 'database'}); host {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}, pinned to one")
    sets = labelled_sets(blind=not args.no_blind, extra=args.set)
    everything = []
    for name, examples in sets.items():
        if not args.latency_only:
            print_set(name, examples, screen_all(examples))
        if "combined" not in name:
            everything.extend(examples)
    for runtime in (args.runtimes.split(",") if args.runtimes else [model.runtime]):
        latency(runtime, everything, args.repeat)


if __name__ == "__main__":
    main()
