"""Markdown table of `nanoprime eval` reports, per task x language x difficulty: each cell gives the
accuracy with thinking on / off / auto (and, for auto, the share of problems it thought on).

Usage: eval_table.py ON.json OFF.json AUTO.json [BEYOND_ON.json]
(single-mode reports written by `nanoprime eval --think MODE --out FILE`, which keep the records)
"""
import json
import sys
from collections import defaultdict


def cells(path):
    """(task, lang, difficulty) -> [correct, n, thought]"""
    out = defaultdict(lambda: [0, 0, 0])
    for r in json.load(open(path))["records"]:
        c = out[(r["task"], r["lang"], r["difficulty"])]
        c[0] += bool(r["correct"])
        c[1] += 1
        c[2] += thought(r["output"])
    return out


def thought(output):
    """Whether the reply's think block holds more than whitespace (an empty block is answering
    directly)."""
    start, end = output.find("<think>"), output.find("</think>")
    if start < 0:
        return False
    block = output[start + len("<think>"):end if end >= 0 else len(output)]
    return bool(block.strip())


def pct(c):
    return f"{100 * c[0] / c[1]:.0f}" if c[1] else "-"


def main():
    on, off, auto = (cells(p) for p in sys.argv[1:4])
    keys = sorted(on)
    diffs = sorted({k[2] for k in keys})
    print("| task | lang | " + " | ".join(f"d{d} on / off / auto (thinks)" for d in diffs) + " |")
    print("|---|---|" + "---|" * len(diffs))
    for task, lang in sorted({(k[0], k[1]) for k in keys}):
        row = []
        for d in diffs:
            k = (task, lang, d)
            if k not in on:
                row.append("-")
                continue
            a = auto[k]
            row.append(f"{pct(on[k])} / {pct(off[k])} / {pct(a)} ({100 * a[2] / max(a[1], 1):.0f}%)")
        print(f"| {task} | {lang} | " + " | ".join(row) + " |")
    total = [sum(c[i] for c in on.values()) for i in range(2)]
    print(f"\nall: on {100 * total[0] / total[1]:.1f}%, "
          f"off {100 * sum(c[0] for c in off.values()) / total[1]:.1f}%, "
          f"auto {100 * sum(c[0] for c in auto.values()) / total[1]:.1f}% of {total[1]}")
    if len(sys.argv) > 4:
        beyond = cells(sys.argv[4])
        print("\none digit beyond training, thinking on:")
        for (task, lang, d), c in sorted(beyond.items()):
            print(f"- {task} {lang} d{d}: {pct(c)}% of {c[1]}")


if __name__ == "__main__":
    main()
