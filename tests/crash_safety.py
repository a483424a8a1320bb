#!/usr/bin/env python3
"""Crash safety of `duel train`, kept tested (run by ctest; see docs/reliability.md).

  crash_safety.py kill --duel BIN --tmp DIR [--trials N] [--seconds S]
      SIGKILLs training at random moments while it writes checkpoints (one every step), then
      checks that the last checkpoint loads (`duel sample`) and that `--resume` from it ends with
      exactly the bytes of a run that was never killed.

  crash_safety.py full-disk --duel BIN --tmp DIR
      Runs training on a small tmpfs (a mount namespace of its own: `unshare`), so that a
      checkpoint write, and in a second run a metrics.jsonl append, meet a full disk. Checks one
      clear line, a non-zero exit, the previous checkpoint intact and a log of whole lines.
      Exits 77 (skipped) with the reason when no tmpfs can be mounted here.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time

SKIP = 77
COMMON = ["--data", "synthetic", "--batch", "8", "--seed", "9", "--log-every", "1"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def checkpoint_bytes(run_dir):
    out = {}
    for name in ("G.safetensors", "D.safetensors", "train_state.safetensors"):
        with open(os.path.join(run_dir, "checkpoint", name), "rb") as f:
            out[name] = f.read()
    return out


def fail(message):
    print("FAILED: " + message)
    sys.exit(1)


def kill_trials(args):
    steps = 8
    base = args.tmp
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    straight = os.path.join(base, "straight")
    r = run([args.duel, "train", "--steps", str(steps), "--out", straight] + COMMON)
    if r.returncode != 0:
        fail("the reference run failed: " + r.stderr)
    reference = checkpoint_bytes(straight)
    rng = random.Random(1234)  # the kill moments are random but the same on every run of the test
    deadline = time.monotonic() + args.seconds
    done = 0
    for trial in range(args.trials):
        if time.monotonic() > deadline:
            break
        out = os.path.join(base, "t%d" % trial)
        p = subprocess.Popen([args.duel, "train", "--steps", str(steps), "--checkpoint-every", "1", "--out", out] + COMMON,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # After the first checkpoint, kill at a random moment: checkpoints are written every step,
        # so most moments fall inside one (half the trials wait for a staged checkpoint first).
        first = os.path.join(out, "checkpoint", "config.json")
        while not os.path.exists(first) and p.poll() is None:
            time.sleep(0.002)
        if trial % 2 == 1:
            staged = os.path.join(out, "checkpoint.new")
            t0 = time.monotonic()
            while not os.path.exists(staged) and p.poll() is None and time.monotonic() - t0 < 5:
                time.sleep(0.0005)
        time.sleep(rng.uniform(0, 0.15))
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        p.wait()
        # The last checkpoint loads ...
        r = run([args.duel, "sample", "--checkpoint", out, "--n", "4", "--out", os.path.join(base, "t%d.png" % trial)])
        if r.returncode != 0:
            fail("trial %d: the checkpoint left by the kill does not load: %s" % (trial, r.stderr))
        # ... and the run continues from it to the bytes of the run never killed.
        r = run([args.duel, "train", "--resume", "--out", out])
        if r.returncode != 0:
            fail("trial %d: --resume after the kill failed: %s" % (trial, r.stderr))
        if checkpoint_bytes(out) != reference:
            fail("trial %d: the resumed run's checkpoint differs from the straight run's" % trial)
        for line in open(os.path.join(out, "metrics.jsonl")):
            json.loads(line)  # whole lines only
        leftovers = [n for n in os.listdir(out) if ".tmp." in n or n == "checkpoint.new"]
        if leftovers:
            fail("trial %d: partial files remain after the resume: %s" % (trial, leftovers))
        done += 1
        shutil.rmtree(out)
    if done < 4:
        fail("only %d kill trials ran in %d s" % (done, args.seconds))
    print("%d kill trials: every checkpoint loaded and every resume matched the straight run" % done)


def can_mount(probe):
    for prefix in (["unshare", "--mount"], ["unshare", "--user", "--map-root-user", "--mount"]):
        if shutil.which(prefix[0]) is None:
            return None
        cmd = prefix + ["sh", "-c", "mount -t tmpfs -o size=1m tmpfs '%s'" % probe]
        if run(cmd).returncode == 0:
            return prefix
    return None


def full_disk(args):
    base = args.tmp
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    probe = os.path.join(base, "probe")
    os.makedirs(probe)
    prefix = can_mount(probe)
    if prefix is None:
        print("SKIPPED: cannot mount a tmpfs here (no root and no unprivileged user namespaces), "
              "so a full disk cannot be made")
        sys.exit(SKIP)
    # The reference: two checkpoints on a roomy disk.
    roomy = os.path.join(base, "roomy")
    r = run([args.duel, "train", "--steps", "1", "--out", roomy] + COMMON)
    if r.returncode != 0:
        fail("reference run: " + r.stderr)
    first = checkpoint_bytes(roomy)
    size = sum(len(b) for b in first.values())
    mnt = os.path.join(base, "mnt")
    os.makedirs(mnt)
    # Room for one checkpoint and a half: the second one cannot be staged beside the first.
    script = """
set -e
mount -t tmpfs -o size={kib}k tmpfs '{mnt}'
set +e
'{duel}' train --steps 3 --checkpoint-every 1 --out '{mnt}/run' {common} > '{base}/ckpt.out' 2> '{base}/ckpt.err'
echo $? > '{base}/ckpt.code'
mkdir -p '{base}/kept' && cp -r '{mnt}/run/checkpoint' '{mnt}/run/metrics.jsonl' '{base}/kept/'
ls -a '{mnt}/run' > '{base}/ckpt.ls'
umount '{mnt}'
mount -t tmpfs -o size={kib}k tmpfs '{mnt}'
'{duel}' train --steps 1 --out '{mnt}/warm' {common} > /dev/null 2>&1
rm -rf '{mnt}/warm/samples'
# Fill the disk but two pages: the start of the run fits, then the log's appends meet the end.
head -c $(( $(df --output=avail -B1 '{mnt}' | tail -n 1) - 8192 )) /dev/zero > '{mnt}/filler' || true
'{duel}' train --resume --steps 100 --checkpoint-every 0 --sample-every 0 --out '{mnt}/warm' > '{base}/log.out' 2> '{base}/log.err'
echo $? > '{base}/log.code'
cp '{mnt}/warm/metrics.jsonl' '{base}/log.metrics'
umount '{mnt}'
""".format(kib=int(size * 1.5 / 1024), mnt=mnt, duel=args.duel, base=base, common=" ".join(COMMON))
    r = run(prefix + ["sh", "-c", script])
    if r.returncode != 0:
        fail("the tmpfs script failed: " + r.stderr)
    code = int(open(os.path.join(base, "ckpt.code")).read())
    err = open(os.path.join(base, "ckpt.err")).read()
    if code == 0:
        fail("training on a disk too small for two checkpoints succeeded")
    if err.count("\n") != 1 or "No space left on device" not in err:
        fail("a full disk during a checkpoint should give one line naming it, got: %r" % err)
    kept = {}
    for name in first:
        kept[name] = open(os.path.join(base, "kept", "checkpoint", name), "rb").read()
    if kept != first:
        fail("the previous checkpoint changed when the next one met a full disk")
    for line in open(os.path.join(base, "kept", "metrics.jsonl")):
        json.loads(line)
    # The log: one line, non-zero, whole lines only.
    code = int(open(os.path.join(base, "log.code")).read())
    err = open(os.path.join(base, "log.err")).read()
    if code == 0 or "metrics.jsonl" not in err or "No space left on device" not in err or err.count("\n") != 1:
        fail("a full disk during a metrics.jsonl append should fail the run with one line, got %d: %r" % (code, err))
    text = open(os.path.join(base, "log.metrics")).read()
    if not text.endswith("\n"):
        fail("metrics.jsonl ends in half a line")
    for line in text.splitlines():
        json.loads(line)
    print("full disk: one clear line each time; the previous checkpoint intact; metrics.jsonl whole lines")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("what", choices=["kill", "full-disk"])
    ap.add_argument("--duel", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--seconds", type=int, default=90)
    args = ap.parse_args()
    args.duel = os.path.abspath(args.duel)
    args.tmp = os.path.abspath(args.tmp)
    kill_trials(args) if args.what == "kill" else full_disk(args)


if __name__ == "__main__":
    main()
