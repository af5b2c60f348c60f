#!/usr/bin/env python3
"""bench/cg_top.py - the functions with the most instructions of their own in a callgrind dump.

Usage: python3 bench/cg_top.py FILE [N]

callgrind_annotate 3.19 attributes every cost of the dumps bench/callgrind.sh takes with
callgrind_control -d (a dump of a running server's threads) to pthread_create's
start_thread, inclusive or not; this reads the file itself: a function's own cost is the sum of
its cost lines, not counting the line after each calls= (the inclusive cost of that call).
Names are compressed as "(id) name" on first use and "(id)" after it.
"""
import collections
import re
import sys


def main():
    path = sys.argv[1]
    top = int(sys.argv[2]) if len(sys.argv) > 2 else 30
    names = {}
    own = collections.Counter()

    def name(tok, kind):
        m = re.match(r"\((\d+)\)(?: (.*))?$", tok)
        if not m:
            return tok
        key = (kind, m.group(1))
        if m.group(2):
            names[key] = m.group(2)
        return names.get(key, tok)

    fn = ob = None
    after_calls = False
    with open(path, errors="replace") as f:
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("fn="):
                fn = (name(line[3:], "fn"), ob)
            elif line.startswith("ob="):
                ob = name(line[3:], "ob")
            elif line.startswith("cfn="):
                name(line[4:], "fn")
            elif line.startswith("cob="):
                name(line[4:], "ob")
            elif line.startswith("calls="):
                after_calls = True
            elif line and (line[0].isdigit() or line[0] in "+-*"):
                if after_calls:
                    after_calls = False
                    continue
                parts = line.split()
                if fn is not None and len(parts) >= 2 and parts[1].isdigit():
                    own[fn] += int(parts[1])
    total = sum(own.values()) or 1
    for (f, o), c in own.most_common(top):
        lib = (o or "").rsplit("/", 1)[-1]
        print(f"{c:>13,} {100.0 * c / total:5.1f}%  {f}  [{lib}]")


if __name__ == "__main__":
    main()
