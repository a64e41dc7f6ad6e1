#!/usr/bin/env python3
"""The side-by-side table of compare.sh: meshos-bench's RESULT/BASELINE lines and the peers' RESULT lines
(the peers' format: `RESULT <workload> <param>=<value> ... rate=<ops/s>`) in, one Markdown table out.

Usage: compare_table.py MESHOS_TXT TOKIO_TXT ERLANG_TXT   (a peer's file may be empty: its columns say "-")
"""
import sys


def parse(path):
    """[(kind, workload, {field: value})] for every RESULT / BASELINE line of the file."""
    rows = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if len(words) < 2 or words[0] not in ("RESULT", "BASELINE"):
                continue
            fields = dict(w.split("=", 1) for w in words[2:] if "=" in w)
            rows.append((words[0], words[1], fields))
    return rows


def find(rows, kind, workload, field, **params):
    """The field of the first line of that kind and workload whose params match, as a float; None if none."""
    for k, w, fields in rows:
        if k == kind and w == workload and all(fields.get(p) == str(v) for p, v in params.items()):
            try:
                return float(fields[field])
            except (KeyError, ValueError):
                return None
    return None


def rate(x):
    if x is None:
        return "-"
    if x >= 1e6:
        return "%.2f M" % (x / 1e6)
    if x >= 1e3:
        return "%.0f k" % (x / 1e3)
    return "%.0f" % x


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else "%.2f" % (a / b)


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    meshos, tokio, erlang = (parse(p) for p in sys.argv[1:])
    # (label, meshos figure, plain-CAF figure, peer workload, peer field, peer params)
    lines = []
    for d in (1, 100, 1000):
        lines.append(("route D=%d, delivered/s" % d,
                      find(meshos, "RESULT", "route", "delivered_per_s", daemons=d),
                      find(meshos, "BASELINE", "route", "rate", daemons=d),
                      ("route", "delivered_per_s", {"daemons": d})))
    lines.append(("broadcast 10k x 1000, delivered/s",
                  find(meshos, "RESULT", "broadcast", "rate"),
                  find(meshos, "BASELINE", "broadcast", "rate"),
                  ("broadcast", "rate", {})))
    for mode in ("drop", "retry", "wait"):
        lines.append(("deliver mode=%s vs peers' process, events/s" % mode,
                      find(meshos, "RESULT", "deliver", "rate", mode=mode),
                      find(meshos, "BASELINE", "deliver", "rate"),
                      ("process", "rate", {})))
    lines.append(("process round trip vs peers' rtt, per s",
                  find(meshos, "RESULT", "process_rtt", "rate"),
                  find(meshos, "BASELINE", "process_rtt", "rate"),
                  ("rtt", "rate", {})))

    print("| workload | meshos | plain CAF | tokio | Erlang | meshos/CAF | meshos/tokio | meshos/Erlang |")
    print("|---|---|---|---|---|---|---|---|")
    missing = []
    for label, mine, caf, (workload, field, params) in lines:
        t = find(tokio, "RESULT", workload, field, **params)
        e = find(erlang, "RESULT", workload, field, **params)
        print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, rate(mine), rate(caf), rate(t), rate(e), ratio(mine, caf), ratio(mine, t), ratio(mine, e)))
        if mine is None or caf is None:
            missing.append(label)
    # meshos-bench's own lines are always there: a row without them means its output changed under this table.
    if missing:
        sys.exit("compare_table.py: no meshos or plain-CAF figure for: " + "; ".join(missing))


if __name__ == "__main__":
    main()
