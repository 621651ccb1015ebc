"""The ratios tools/bench-train/run.sh prints, from the lines its programs wrote.

Compute only: medians over the alternating rounds. End to end: each program's
best setting (the highest mean training images/s over the 5 epochs), with its
test accuracy beside it. Predict: the median of three single-image runs.
"""
import re
import statistics
import sys


def records(text, prefix):
    found = []
    for line in text.splitlines():
        if line.startswith(prefix):
            found.append(dict(re.findall(r"(\w+)=([^\s]+)", line)))
    return found


def select(rows, **want):
    return [r for r in rows if all(r.get(k) == v for k, v in want.items())]


def median(rows, key):
    values = [float(r[key]) for r in rows if key in r]
    return statistics.median(values) if values else float("nan")


def main(path):
    text = open(path).read()
    cerebra, python = records(text, "cerebra model="), records(text, "python model=")
    print("compute only, images/s (medians):")
    goals = {"cnn": 1.2, "resnet50": 1.2}
    for model in ("cnn", "resnet50"):
        c_fp32 = median(select(cerebra, model=model, precision="fp32"), "steps_images_per_s")
        # Cerebra at its fastest (bf16 autocast, channels-last) against PyTorch at its
        # best (the same): compute speed at equal arithmetic. Cerebra's default on a
        # CPU is fp32 (bf16 cost accuracy, docs/results.md); its figure is printed too.
        c_best = median(select(cerebra, model=model, precision="bf16"), "steps_images_per_s")
        p_beg = median(select(python, model=model, mode="beginner"), "steps_images_per_s")
        p_best = median(select(python, model=model, mode="best"), "steps_images_per_s")
        print(f"  {model}: cerebra fp32 {c_fp32:.1f}, cerebra bf16 channels-last {c_best:.1f}; "
              f"python beginner {p_beg:.1f}, python at its best {p_best:.1f}")
        print(f"    ratio vs beginner {c_best / p_beg:.2f}x, vs best {c_best / p_best:.2f}x "
              f"(goal {goals[model]}x vs best)")
    e2e_c, e2e_p = records(text, "cerebra e2e"), records(text, "python e2e")
    if e2e_c and e2e_p:
        def best(rows):
            return max(rows, key=lambda r: float(r["train_images_per_s"]))
        c = best(select(e2e_c, precision="bf16") or e2e_c)
        c32 = select(e2e_c, precision="fp32")
        pb, pp = best(select(e2e_p, mode="beginner")), best(select(e2e_p, mode="best"))
        print("end to end, Br35H CNN, 5 epochs, train images/s (test accuracy):")
        print(f"  cerebra {c['precision']} {float(c['train_images_per_s']):.0f} ({c['test_accuracy']})"
              + (f"; cerebra fp32 {float(c32[0]['train_images_per_s']):.0f} ({c32[0]['test_accuracy']})" if c32 else ""))
        print(f"  python beginner best setting (threads {pb['threads']}, workers {pb['workers']}) "
              f"{float(pb['train_images_per_s']):.0f} ({pb['test_accuracy']})")
        print(f"  python at its best (threads {pp['threads']}, workers {pp['workers']}) "
              f"{float(pp['train_images_per_s']):.0f} ({pp['test_accuracy']})")
        ci = float(c["train_images_per_s"])
        print(f"  ratio vs beginner {ci / float(pb['train_images_per_s']):.2f}x, vs best "
              f"{ci / float(pp['train_images_per_s']):.2f}x (goal 2x vs best, at equal or better accuracy)")
    predict = records(text, "cerebra predict")
    for model, goal in (("cnn", 0.5), ("resnet50", 2.0)):
        rows = select(predict, model=model)
        if rows:
            print(f"single-image predict, {model}: median {median(rows, 'seconds'):.2f} s (goal under {goal} s)")


if __name__ == "__main__":
    main(sys.argv[1])
