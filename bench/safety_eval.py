"""Safety screen on the held-out evaluation set: recall, precision, false alarms, latency.

    python bench/safety_eval.py [--repeat 3]

Also prints a 5-fold cross-validation on the training exemplars and the verdicts on the probe set
(``data/probe.jsonl``: new phrasings written apart from the evaluation set and the exemplars, used while writing
the method rules; ``data/probe_unseen.jsonl``: written after them and measured once, see README).

Uses the database's rules when the tables exist (what the deployment screens with), the
shipped defaults otherwise. Baseline in the same run: the rules alone (phrase lists and
patterns, no embedding model). Latency is one message at a time, model loaded, on CPU.
"""

import argparse
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "therapist_ai.settings")
os.environ.setdefault("DEBUG", "1")


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def blas_summary() -> str:
    """numpy's BLAS and the kernels it picked (OPENBLAS_CORETYPE can force older ones)."""
    try:
        from threadpoolctl import threadpool_info

        blas = next(i for i in threadpool_info() if i["user_api"] == "blas")
        forced = os.environ.get("OPENBLAS_CORETYPE")
        return (f"numpy BLAS {blas['internal_api']} {blas.get('version')}, {blas.get('architecture')} kernels"
                + (f" (OPENBLAS_CORETYPE={forced})" if forced else ""))
    except Exception as exc:  # no threadpoolctl, another BLAS
        return f"numpy BLAS unknown ({exc})"


def metrics(examples, screens):
    from conversations.safety.defaults import CATEGORIES

    rows = []
    risk = [i for i, e in enumerate(examples) if e["category"] != "none"]
    safe = [i for i, e in enumerate(examples) if e["category"] == "none"]
    for category in (*CATEGORIES, "overall"):
        members = risk if category == "overall" else [i for i in risk if examples[i]["category"] == category]
        detected = [i for i in members if screens[i].level != "none"]
        if category == "overall":
            flagged = [i for i, s in enumerate(screens) if s.level != "none"]
            correct = [i for i in flagged if examples[i]["category"] != "none"]
            false_alarms = [i for i in safe if screens[i].level != "none"]
            right_category = detected
        else:
            flagged = [i for i, s in enumerate(screens) if category in s.categories]
            correct = [i for i in flagged if examples[i]["category"] == category]
            false_alarms = [i for i in safe if category in screens[i].categories]
            right_category = [i for i in members if category in screens[i].categories]
        rows.append((category, len(members), len(detected) / max(len(members), 1),
                     len(right_category) / max(len(members), 1), len(correct) / max(len(flagged), 1),
                     len(false_alarms) / max(len(safe), 1)))
    crisis = [i for i, e in enumerate(examples) if e["level"] == "crisis"]
    crisis_recall = sum(screens[i].level == "crisis" for i in crisis) / len(crisis)
    return rows, crisis_recall


def timings(examples, screen, repeat):
    """Wall-clock and CPU milliseconds per screen (CPU time shows the cost when cores are shared)."""
    samples, cpu = [], []
    for _ in range(repeat):
        for example in examples:
            started, started_cpu = time.perf_counter(), time.process_time()
            screen(example["text"])
            samples.append((time.perf_counter() - started) * 1000)
            cpu.append((time.process_time() - started_cpu) * 1000)
    return samples, cpu


def cross_validation(folds: int = 5, scored: int | None = None) -> tuple[float, float]:
    """Rules + classifier retrained on 4/5 of the training exemplars, scored on the other 1/5:
    an estimate for phrasings nobody tuned the rules against (the rules were not held out).
    ``scored=572``: folds of the first 572 exemplars only (the set before 2026-11-30), the later
    ones always in training, to compare with the figure measured on those 572 alone."""
    import numpy as np

    from conversations.safety import classifier, screening

    examples = classifier.load_examples(classifier.TRAIN_PATH)
    rules = screening.current_rules()
    masked = [rules.mask(screening.normalise(e["text"])) for e in examples]
    from conversations.safety.embedding import get_encoder

    x = get_encoder().encode(masked)
    labels = [e["category"] for e in examples]
    risk = np.array([label != "none" for label in labels])
    by_rules = np.array([bool(rules.matches(m)) for m in masked])
    n = scored or len(examples)
    order = np.random.RandomState(0).permutation(n)
    always = np.arange(n, len(examples))
    p_risk = np.zeros(len(examples))
    for fold in np.array_split(order, folds):
        train = np.concatenate([np.setdiff1d(order, fold), always])
        w, b = classifier.fit(x[train], [labels[i] for i in train])
        p_risk[fold] = 1 - classifier.RiskClassifier(w, b, x[:1], [""]).probabilities(x[fold])[:, 0]
    flagged = (by_rules | (p_risk >= screening.CLASSIFIER_CONCERN))[:n]
    risk = risk[:n]
    return (flagged & risk).sum() / risk.sum(), (flagged & ~risk).sum() / (~risk).sum()


def probe_figures(path) -> tuple[float, float, float, float, list[str]]:
    """Recall, precision, false alarms and crisis-level recall of the full screen on a labelled set."""
    from conversations.safety import screening
    from conversations.safety.classifier import load_examples

    examples = load_examples(path)
    screens = [screening.screen_input(e["text"]) for e in examples]
    risk = [e["category"] != "none" for e in examples]
    flagged = [s.level != "none" for s in screens]
    hits = sum(r and f for r, f in zip(risk, flagged, strict=True))
    alarms = sum(f and not r for r, f in zip(risk, flagged, strict=True))
    crisis = [s.level == "crisis" for e, s in zip(examples, screens, strict=True) if e["level"] == "crisis"]
    wrong = [f"{e['category']}/{e.get('kind', '')}: {e['text'][:90]}" for e, r, f in zip(examples, risk, flagged, strict=True)
             if r != f]
    return (hits / sum(risk), hits / max(hits + alarms, 1), alarms / (len(examples) - sum(risk)),
            sum(crisis) / max(len(crisis), 1), wrong)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="passes over the set for latency samples")
    args = parser.parse_args()
    import django

    django.setup()
    from conversations.safety import embedding, screening
    from conversations.safety.classifier import EVAL_PATH, TRAIN_PATH, get_classifier, load_examples
    from conversations.safety.embedding import get_encoder

    examples = load_examples(EVAL_PATH)
    train_texts = {e["text"].strip().lower() for e in load_examples(TRAIN_PATH)}
    leaked = sum(e["text"].strip().lower() in train_texts for e in examples)
    started = time.perf_counter()
    get_encoder(), get_classifier()
    load_s = time.perf_counter() - started
    rules = screening.current_rules()
    load = os.getloadavg()[0]
    print(f"host: {os.cpu_count()} CPUs, load average {load:.1f} (latency is wall-clock; compare within one run)")
    print(f"encoder: {blas_summary()}; {embedding.ENCODER_THREADS} thread(s) for passes of "
          f">= {embedding.PARALLEL_MIN_TOKENS} tokens while a core is spare (now: "
          f"{'yes' if embedding._spare_core() else 'no'}), 1 otherwise")
    print(f"evaluation set: {len(examples)} messages ({sum(e['category'] != 'none' for e in examples)} risk), "
          f"{leaked} also in the training exemplars; rules: {len(rules.risks)} risk + "
          f"{len(rules.exceptions)} exceptions ({'defaults' if rules.revision == 'defaults' else 'database'}); "
          f"model load {load_s:.2f} s")

    results = {}
    for name, use_model in (("rules only (baseline)", False), ("rules + MiniLM classifier", True)):
        screens = [screening.screen_input(e["text"], use_model=use_model) for e in examples]
        rows, crisis_recall = metrics(examples, screens)
        samples, cpu = timings(examples, lambda t, m=use_model: screening.screen_input(t, use_model=m), args.repeat)
        results[name] = (rows, crisis_recall, samples, screens, cpu)
        print(f"\n== {name}")
        print(f"{'category':<20}{'n':>4}{'recall':>9}{'cat.recall':>12}{'precision':>11}{'false alarm':>13}")
        for category, n, recall, cat_recall, precision, fa in rows:
            print(f"{category:<20}{n:>4}{recall:>9.3f}{cat_recall:>12.3f}{precision:>11.3f}{fa:>13.3f}")
        print(f"crisis-level recall on crisis-labelled messages: {crisis_recall:.3f}")
        print(f"latency per message: p50 {percentile(samples, 50):.2f} ms, p99 {percentile(samples, 99):.2f} ms, "
              f"max {max(samples):.2f} ms ({len(samples)} screens); CPU time p50 {percentile(cpu, 50):.2f} ms, "
              f"p99 {percentile(cpu, 99):.2f} ms")

    # The same screens with the encoder's thread choice forced each way, in the same run.
    full_wall = results["rules + MiniLM classifier"][2]
    print()
    for label, threads, spare in (("one thread", 1, False), ("two threads", 2, True)):
        saved = embedding.ENCODER_THREADS, embedding._spare_core
        embedding.ENCODER_THREADS, embedding._spare_core = threads, lambda s=spare: s
        try:
            wall, cpu = timings(examples, screening.screen_input, args.repeat)
        finally:
            embedding.ENCODER_THREADS, embedding._spare_core = saved
        print(f"full screen, encoder forced to {label}: p50 {percentile(wall, 50):.2f} ms, p99 "
              f"{percentile(wall, 99):.2f} ms, max {max(wall):.2f} ms; CPU time p50 {percentile(cpu, 50):.2f} ms, "
              f"p99 {percentile(cpu, 99):.2f} ms (p99 {percentile(wall, 99) / percentile(full_wall, 99):.2f}x the default's)")

    # Latency by message length (the forward pass is linear in tokens).
    tokenizer = get_encoder().tokenizer
    lengths = [len(tokenizer.encode(e["text"]).ids) for e in examples] * args.repeat
    _rows, _c, wall, _s, cpu_ms = results["rules + MiniLM classifier"]
    buckets = (("<= 16 tokens", 0, 16), ("17-32 tokens", 17, 32), ("33-64 tokens", 33, 64), ("> 64 tokens", 65, 10**6))
    parts = []
    for label, low, high in buckets:
        chosen = [ms for ms, n in zip(wall, lengths, strict=True) if low <= n <= high]
        chosen_cpu = [ms for ms, n in zip(cpu_ms, lengths, strict=True) if low <= n <= high]
        if chosen:
            parts.append(f"  {label}: n={len(chosen) // args.repeat}, wall p50 {percentile(chosen, 50):.1f} / "
                         f"p99 {percentile(chosen, 99):.1f} ms, CPU p50 {percentile(chosen_cpu, 50):.1f} / "
                         f"p99 {percentile(chosen_cpu, 99):.1f} ms")
    print("\nfull screen latency by message length (crisis messages the rules catch skip the model):\n"
          + "\n".join(parts))

    by_kind = defaultdict(lambda: [0, 0])
    screens = results["rules + MiniLM classifier"][3]
    for example, screen in zip(examples, screens, strict=True):
        right = (screen.level != "none") == (example["category"] != "none")
        by_kind[(example["category"] == "none", example["kind"])][0] += right
        by_kind[(example["category"] == "none", example["kind"])][1] += 1
    print("\nright verdicts by kind: " + ", ".join(
        f"{'non-risk' if negative else 'risk'}/{kind} {ok}/{n}" for (negative, kind), (ok, n) in sorted(by_kind.items())))
    misses = [e["text"] for e, s in zip(examples, screens, strict=True) if (s.level != "none") != (e["category"] != "none")]
    print("wrong verdicts:\n" + "\n".join(f"  - {t[:100]}" for t in misses))
    recall, false_alarm = cross_validation()
    print(f"\n5-fold cross-validation on the {len(train_texts)} training exemplars (rules + retrained classifier): "
          f"recall {recall:.3f}, false alarms {false_alarm:.3f}")
    recall, false_alarm = cross_validation(scored=572)
    print(f"  the same, scoring only the first 572 exemplars (the set before 2026-11-30; the rest always trained on): "
          f"recall {recall:.3f}, false alarms {false_alarm:.3f}")
    from conversations.safety.classifier import PROBE_PATH, PROBE_UNSEEN_PATH

    for label, path in (("probe set", PROBE_PATH), ("unseen probe set", PROBE_UNSEEN_PATH)):
        probe = load_examples(path)
        recall, precision, false_alarm, crisis_recall, wrong = probe_figures(path)
        print(f"\n{label} ({path.name}, {len(probe)} messages, {sum(e['category'] != 'none' for e in probe)} risk): "
              f"recall {recall:.3f}, precision {precision:.3f}, false alarms {false_alarm:.3f}, crisis-level recall "
              f"{crisis_recall:.3f}; wrong:\n" + "\n".join(f"  - {t}" for t in wrong))
    base, full = results["rules only (baseline)"], results["rules + MiniLM classifier"]
    p99 = percentile(full[2], 99)
    print(f"\ngoal p99 <= 20 ms per message: {'met' if p99 <= 20 else 'NOT met'} ({p99:.2f} ms wall-clock)")
    print(f"ratio full/baseline: recall {full[0][-1][2] / base[0][-1][2]:.2f}x, "
          f"p50 latency {percentile(full[2], 50) / percentile(base[2], 50):.1f}x, "
          f"p99 latency {percentile(full[2], 99) / percentile(base[2], 99):.1f}x; "
          f"median screen time {statistics.median(full[2]):.2f} ms vs {statistics.median(base[2]):.3f} ms")


if __name__ == "__main__":
    main()
