"""Data-parallel scaling on this machine, and a cost model for N machines.

    cargo build --release --features mpi && python3 bench/mpi_scaling.py [--steps 200] [--rounds 3]

On this machine: bench models (a), (c) and (e) trained by one process on 2 threads against two
MPI ranks on 1 thread each (`mpirun -n 2 deeptrain --threads 1 bench`), alternating, `--rounds`
times, best of each. Both step the same global batch.

On paper, for N machines each running one rank on the whole machine, with ring all-reduce (the
algorithm Open MPI and NCCL use for large buffers): every step each rank sends and receives
2 (N - 1) / N of the S gradient bytes, in 2 (N - 1) messages, so

    t_comm = 2 (N - 1) / N * S / bandwidth + 2 (N - 1) * latency

and a step of the global batch B takes t_compute(B / N) + t_comm without overlap. The compute
time of a share is taken as the single-machine step time scaled by 1 / N (an optimistic bound:
a smaller share runs the GEMMs less efficiently). Efficiency, for the same global batch (strong
scaling) = t_1 / (N * (t_1 / N + t_comm)); for a global batch N times larger, each machine
keeping the bench batch (weak scaling, as Horovod users scale the batch and the rate)
= t_1 / (t_1 + t_comm); t_1 is the single-machine step. Latency is taken as 25 us (TCP over
10 Gb/s Ethernet) and 5 us (100 Gb/s RDMA).
"""
import argparse
import json
import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
EXE = os.path.join(ROOT, "target/release/deeptrain")
MODELS = "ace"


def run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(out.stdout.strip().splitlines()[-1])


def mpirun(n):
    cmd = ["mpirun", "--oversubscribe", "-n", str(n)]
    if os.geteuid() == 0:
        cmd.append("--allow-run-as-root")
    return cmd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--rounds", type=int, default=3)
    args = p.parse_args()
    alone, shared = {}, {}
    for _ in range(args.rounds):
        for m in MODELS:
            a = run([EXE, "--threads", "2", "bench", "--models", m, "--steps", str(args.steps)])
            s = run(mpirun(2) + [EXE, "--threads", "1", "bench", "--models", m, "--steps",
                                 str(args.steps)])
            if m not in alone or a["train_samples_per_s"] > alone[m]["train_samples_per_s"]:
                alone[m] = a
            if m not in shared or s["train_samples_per_s"] > shared[m]["train_samples_per_s"]:
                shared[m] = s
    print("## This machine: 1 process x 2 threads against 2 ranks x 1 thread (samples/s)")
    print("| model | batch | 1 x 2 threads | 2 ranks x 1 | ratio | all-reduce per step | share of the step |")
    print("|---|---|---|---|---|---|---|")
    for m in MODELS:
        a, s = alone[m], shared[m]
        print(f"| ({m}) | {a['batch']} | {a['train_samples_per_s']:.0f} | "
              f"{s['train_samples_per_s']:.0f} | "
              f"{s['train_samples_per_s'] / a['train_samples_per_s']:.2f} | "
              f"{s['allreduce_seconds_per_step'] * 1e6:.0f} us | "
              f"{s['allreduce_seconds_per_step'] / s['step_seconds']:.0%} |")
    print()
    print("## Cost model for N machines (ring all-reduce, no overlap)")
    print("| model | bytes per step | link | t_comm N=2 / 8 / 32 | efficiency, same global batch | "
          "efficiency, batch per machine kept |")
    print("|---|---|---|---|---|---|")
    for m in MODELS:
        a, s = alone[m], shared[m]
        size = s["allreduced_bytes_per_step"]
        t1 = a["batch"] / a["train_samples_per_s"]
        for link, bandwidth, latency in [("10 Gb/s", 10e9 / 8, 25e-6), ("100 Gb/s", 100e9 / 8, 5e-6)]:
            comm, strong, weak = [], [], []
            for n in (2, 8, 32):
                t = 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * latency
                comm.append(f"{t * 1e3:.2f} ms")
                strong.append(f"{t1 / (n * (t1 / n + t)):.0%}")
                weak.append(f"{t1 / (t1 + t):.0%}")
            print(f"| ({m}) | {size / 1e6:.2f} MB | {link} | {' / '.join(comm)} | "
                  f"{' / '.join(strong)} | {' / '.join(weak)} |")
    print()
    print("single-machine step t_1: " + ", ".join(
        f"({m}) {alone[m]['batch'] / alone[m]['train_samples_per_s'] * 1e3:.2f} ms" for m in MODELS))


if __name__ == "__main__":
    main()
