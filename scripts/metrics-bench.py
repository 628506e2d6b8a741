#!/usr/bin/env python3
"""What metrics cost a mionode release binary, per message, fed from files.

    scripts/metrics-bench.py BASELINE_BIN BIN [RUNS]

Writes echo.jsonl (init, then 200,000 echo requests) and batch.jsonl (init, then 20,000
batch_echo of 10 values, each followed by the echo_ok replies to its ten RPCs, whose msg_ids
are predictable: init_ok takes 0, each echo of a batch one, its batch_echo_ok one) in the
current directory, then runs BASELINE_BIN, BIN, and BIN --metrics-addr 127.0.0.1:0 on each,
RUNS times (default 21), interleaved so that drift in the machine's load hits all alike.
Prints the median wall and CPU (user + system) time of each; on a shared machine trust CPU.
"""
import resource
import statistics
import subprocess
import sys
import time

INIT = '{"src":"c0","dest":"n1","body":{"type":"init","msg_id":1,"node_id":"n1","node_ids":["n1"]}}\n'


def write_files():
    with open("echo.jsonl", "w") as f:
        f.write(INIT)
        for i in range(200_000):
            f.write('{"src":"c1","dest":"n1","body":{"type":"echo","msg_id":%d,"echo":"value-%d"}}\n' % (i + 2, i))
    k = 10
    with open("batch.jsonl", "w") as f:
        f.write(INIT)
        next_id = 1
        for b in range(20_000):
            values = ",".join(str(v) for v in range(k))
            f.write('{"src":"c1","dest":"n1","body":{"type":"batch_echo","msg_id":%d,"values":[%s]}}\n' % (b + 2, values))
            for v in range(k):
                f.write('{"src":"n1","dest":"n1","body":{"type":"echo_ok","echo":%d,"msg_id":%d,"in_reply_to":%d}}\n'
                        % (v, 900_000_000 + b * k + v, next_id + v))
            next_id += k + 1


def measure(variants, path, runs):
    results = {name: ([], []) for name in variants}
    for _ in range(runs):
        for name, cmd in variants.items():
            with open(path, "rb") as stdin, open("/dev/null", "wb") as stdout:
                before = resource.getrusage(resource.RUSAGE_CHILDREN)
                start = time.perf_counter()
                subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.DEVNULL, check=True)
                wall = time.perf_counter() - start
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            results[name][0].append(wall)
            results[name][1].append(cpu)
    print(path)
    for name, (wall, cpu) in results.items():
        print(f"  {name:22s} wall {statistics.median(wall) * 1e3:7.1f} ms   cpu {statistics.median(cpu) * 1e3:7.1f} ms")


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    baseline, binary = sys.argv[1], sys.argv[2]
    runs = int(sys.argv[3]) if len(sys.argv) > 3 else 21
    write_files()
    variants = {
        "baseline": [baseline],
        "metrics off": [binary],
        "metrics on": [binary, "--metrics-addr", "127.0.0.1:0"],
    }
    for path in ("echo.jsonl", "batch.jsonl"):
        measure(variants, path, runs)


if __name__ == "__main__":
    main()
