#!/usr/bin/env python3
"""torchzoo against the same models in plain Python PyTorch, side by side on one machine.

    /usr/bin/python3 bench/compare.py [CASE ...] [--rounds 5] [--threads 2] [--zoo build/zoo]

Each round runs every case once on each side, alternating which side goes first, so both see
the same machine: zoo trains bench/recipes/CASE.yaml on the files of bench/make_data.py (its own
train loop, data pipeline and logging; tokens/s and MFU come from its metrics.jsonl), and
bench/reference.py CASE trains the same model on the same batch shapes. A side's figure for a
round is the median of its timed steps (the first --warmup steps of every run are not timed);
the table shows the median over rounds. Same threads and environment on both sides:
OMP_WAIT_POLICY=PASSIVE (zoo sets it for itself; a Python process that spins its idle OpenMP
workers is 3x slower here: --python-defaults adds that side), OPENBLAS_CORETYPE as given.

MFU: zoo measures its matmul peak at the start of every run and counts FLOPs as
trainers/flops.h says (6N + 12·L·d·T, nanoGPT's estimate_mfu); the Python side, training the
same model, is credited the same FLOPs per token, so its MFU is zoo's times the tokens/s ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/usr/bin/python3"

# name -> (timed steps per run, untimed warm-up steps). A case is a recipe in bench/recipes/,
# a data maker in bench/make_data.py and a builder in bench/reference.py, all under one name.
TRAIN_CASES = {
    "gpt_quickstart": (30, 5),
    "gpt_shakespeare_char": (3, 2),
    "bert_mlm": (10, 3),
    "bilstm_tagger": (20, 5),
    "seq2seq_attention": (20, 5),
    "moe_gpt": (30, 5),
    "lora_sft": (15, 3),
}
GENERATE_CASE = "generate_kv"  # bench_generate against reference.py's cached generation
ALL_CASES = list(TRAIN_CASES) + [GENERATE_CASE]


def run(command, env, what):
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.stderr.write(result.stdout[-3000:] + result.stderr[-3000:])
        raise SystemExit(f"bench: {what} failed (exit {result.returncode}): {' '.join(command)}")
    return result.stdout


def zoo_train(args, case, data_overrides, workdir, env):
    steps, warmup = args.steps or TRAIN_CASES[case][0], TRAIN_CASES[case][1]
    run_dir = os.path.join(workdir, "run-" + case)
    run([args.zoo, "train", f"bench/recipes/{case}.yaml", "--overwrite", f"trainer.output_dir={run_dir}",
         f"trainer.max_steps={steps + warmup}", "trainer.log_every=1", f"threads={args.threads}", *data_overrides],
        env, f"zoo train {case}")
    events = [json.loads(line) for line in open(os.path.join(run_dir, "metrics.jsonl"))]
    start = next(e for e in events if e["event"] == "start")
    timed = [e for e in events if e["event"] == "train" and e["step"] > warmup]
    return {"parameters": start["parameters"], "vocab_size": start["vocab_size"],
            "peak": start["matmul_peak_flops"], "threads": start["threads"],
            "tokens_per_s": statistics.median(e["tokens_per_s"] for e in timed),
            "mfu": statistics.median(e["mfu"] for e in timed)}


def python_train(args, case, data_dir, vocab_size, env):
    steps, warmup = args.steps or TRAIN_CASES[case][0], TRAIN_CASES[case][1]
    out = run([PY, "bench/reference.py", case, "--steps", str(steps), "--warmup", str(warmup), "--threads",
               str(args.threads), "--vocab-size", str(vocab_size), "--data", data_dir], env, f"reference.py {case}")
    return json.loads(out.strip().splitlines()[-1])


def zoo_generate(args, env):
    out = run([args.bench_generate, "--json", "--threads", str(args.threads), "--new-tokens", "256", "--repeats", "3"],
              env, "bench_generate")
    return json.loads(out.strip().splitlines()[-1])


def python_generate(args, env):
    out = run([PY, "bench/reference.py", GENERATE_CASE, "--threads", str(args.threads), "--vocab-size", "86",
               "--steps", "3", "--warmup", "1"], env, "reference.py generate_kv")
    return json.loads(out.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="*", default=ALL_CASES, help=f"cases (default all): {', '.join(ALL_CASES)}")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every case on each side (median reported)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=0, help="timed steps per run; 0 = the case's own")
    parser.add_argument("--zoo", default="build/zoo")
    parser.add_argument("--bench-generate", default="build/bench/bench_generate")
    parser.add_argument("--python-defaults", action="store_true",
                        help="also time Python in its default environment (idle OpenMP workers spin)")
    parser.add_argument("--json", help="also write the rounds and the table to this file")
    args = parser.parse_args()
    unknown = [c for c in args.cases if c not in ALL_CASES]
    if unknown:
        raise SystemExit(f"bench: unknown case {unknown[0]} (cases: {', '.join(ALL_CASES)})")

    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    default_env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    sides = ["zoo", "python"] + (["python-defaults"] if args.python_defaults else [])
    print(f"threads {args.threads} | OMP_WAIT_POLICY PASSIVE on both sides | OPENBLAS_CORETYPE "
          f"{os.environ.get('OPENBLAS_CORETYPE', '(unset)')} | {args.rounds} rounds, sides alternating", flush=True)

    with tempfile.TemporaryDirectory(prefix="zoo-bench-") as workdir:
        measure(args, sides, env, default_env, workdir)


def measure(args, sides, env, default_env, workdir):
    data = {}
    for case in args.cases:
        if case in TRAIN_CASES:
            data_dir = os.path.join(workdir, "data-" + case)
            data[case] = (data_dir, run([PY, "bench/make_data.py", case, data_dir], env, "make_data").split())

    results = {case: {side: [] for side in sides} for case in args.cases}
    info = {}
    for r in range(args.rounds):
        for case in args.cases:
            order = sides if r % 2 == 0 else list(reversed(sides))
            for side in order:
                if case == GENERATE_CASE:
                    result = zoo_generate(args, env) if side == "zoo" else python_generate(
                        args, env if side == "python" else default_env)
                elif side == "zoo":
                    result = zoo_train(args, case, data[case][1], workdir, env)
                    info[case] = result
                else:
                    vocab = info[case]["vocab_size"] if case in info else zoo_train(
                        args, case, data[case][1], workdir, env)["vocab_size"]
                    result = python_train(args, case, data[case][0], vocab, env if side == "python" else default_env)
                results[case][side].append(result)
                print(f"  round {r + 1} {case:<22} {side:<16} {result['tokens_per_s']:>10.0f} tok/s", flush=True)

    rows = []
    print(f"\n{'case':<22} {'params':>10} {'zoo tok/s':>11} {'python tok/s':>13} {'zoo/python':>11} "
          f"{'zoo MFU':>8} {'py MFU':>7} {'peak GFLOP/s':>13}" + ("  py-default tok/s" if args.python_defaults else ""))
    for case in args.cases:
        zoo = statistics.median(x["tokens_per_s"] for x in results[case]["zoo"])
        py = statistics.median(x["tokens_per_s"] for x in results[case]["python"])
        zoo_params = results[case]["zoo"][0]["parameters"]
        py_params = results[case]["python"][0]["parameters"]
        if zoo_params != py_params:
            raise SystemExit(f"bench: {case}: zoo has {zoo_params} parameters, Python {py_params}: not the same model")
        row = {"case": case, "parameters": zoo_params, "zoo_tokens_per_s": zoo, "python_tokens_per_s": py,
               "ratio": zoo / py}
        line = f"{case:<22} {zoo_params:>10} {zoo:>11.0f} {py:>13.0f} {zoo / py:>10.2f}x"
        if case in TRAIN_CASES:
            mfu = statistics.median(x["mfu"] for x in results[case]["zoo"])
            peak = statistics.median(x["peak"] for x in results[case]["zoo"])
            row.update(zoo_mfu=mfu, python_mfu=mfu * py / zoo, peak_flops=peak)
            line += f" {100 * mfu:>7.1f}% {100 * mfu * py / zoo:>6.1f}% {peak / 1e9:>13.1f}"
        else:
            line += f" {'-':>8} {'-':>7} {'-':>13}"
        if args.python_defaults:
            row["python_defaults_tokens_per_s"] = statistics.median(x["tokens_per_s"]
                                                                    for x in results[case]["python-defaults"])
            line += f"  {row['python_defaults_tokens_per_s']:>16.0f}"
        rows.append(row)
        print(line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "rounds": results, "table": rows}, f, indent=1)


if __name__ == "__main__":
    main()
