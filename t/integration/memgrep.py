#!/usr/bin/python3
"""memgrep.py PID STRING... -- does the memory of process PID hold any STRING?

A STRING of the form "hex:0a1b..." is the bytes those hex digits spell
(a private key's raw scalar, say); any other STRING is its UTF-8 bytes.

Reads every readable mapping of /proc/PID/mem (as root: petrel's processes
are not dumpable) in chunks, and prints "PID: found string N in MAPPING"
for each hit -- never the string itself, which is a secret.  Mappings
larger than 1 GiB are skipped: only a sanitizer build has them (ASan's
shadow memory, terabytes of it, holding no data).
Exit 0 when something was found, 1 when nothing was, 2 when the memory
could not be read (so a failure to look is never taken for "not found").
"""
import re
import sys

CHUNK = 4 << 20
SKIP_ABOVE = 1 << 30


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    pid = sys.argv[1]
    try:
        needles = [bytes.fromhex(s[4:]) if s.startswith("hex:") else s.encode()
                   for s in sys.argv[2:]]
    except ValueError as e:
        print(f"memgrep: bad hex: STRING: {e}", file=sys.stderr)
        return 2
    if not all(needles):
        print("memgrep: an empty STRING matches everything", file=sys.stderr)
        return 2
    over = max(len(n) for n in needles) - 1
    found = 0
    nread = 0
    try:
        maps = open(f"/proc/{pid}/maps").read().splitlines()
        mem = open(f"/proc/{pid}/mem", "rb", 0)
    except OSError as e:
        print(f"memgrep: {pid}: {e}", file=sys.stderr)
        return 2
    for line in maps:
        f = line.split()
        m = re.match(r"([0-9a-f]+)-([0-9a-f]+)$", f[0])
        if not m or f[1][0] != "r":
            continue
        start, end = int(m.group(1), 16), int(m.group(2), 16)
        name = f[5] if len(f) > 5 else "[anon]"
        if name in ("[vvar]", "[vsyscall]") or end - start > SKIP_ABOVE:
            continue
        hit = set()
        tail = b""
        pos = start
        while pos < end:
            try:
                mem.seek(pos)
                data = mem.read(min(CHUNK, end - pos))
            except OSError:
                break
            if not data:
                break
            nread += len(data)
            buf = tail + data
            for i, n in enumerate(needles):
                if i not in hit and n in buf:
                    hit.add(i)
            tail = buf[-over:] if over > 0 else b""
            pos += len(data)
        for i in sorted(hit):
            print(f"{pid}: found string {i + 1} in {name}")
            found += 1
    if nread == 0:
        print(f"memgrep: {pid}: no memory could be read", file=sys.stderr)
        return 2
    return 0 if found else 1


sys.exit(main())
