"""Compare an array effvit produced with the expected one: prints max|a-e| / max|e| and fails
(exit 1, one line on stderr) when the shapes differ or that error exceeds --rtol. For a result that
is close but not exact (bf16), --cosine and --top1 check each row (each image's logits) instead.

  /usr/bin/python3 python/compare_npy.py out.npy expected.npy --rtol 1e-4
  /usr/bin/python3 python/compare_npy.py out_bf16.npy expected.npy --cosine 0.999 --top1
"""

import argparse
import sys

import numpy as np


def load(path):
    try:
        return np.load(path).astype(np.float64)
    except (OSError, ValueError) as err:
        sys.exit(f"compare_npy: {path}: {err}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("actual", help=".npy file under test")
    ap.add_argument("expected", help="reference .npy file")
    ap.add_argument("--rtol", type=float, default=1e-4,
                    help="largest allowed max|a-e| / max|e| (default 1e-4)")
    ap.add_argument("--cosine", type=float,
                    help="instead of --rtol: smallest allowed cosine similarity of each row with the expected row")
    ap.add_argument("--top1", action="store_true", help="with --cosine: each row's largest entry must be the expected one's")
    args = ap.parse_args()

    a, e = load(args.actual), load(args.expected)
    if a.shape != e.shape:
        sys.exit(f"compare_npy: shape {a.shape} of {args.actual} != {e.shape} of {args.expected}")
    if args.cosine is not None:
        compare_rows(a, e, args)
        return
    diff = np.abs(a - e).max(initial=0.0)
    scale = np.abs(e).max(initial=0.0)
    # An all-zero reference has no scale to be relative to; the absolute error stands in.
    metric = diff / scale if scale > 0 else diff
    print(f"max|a-e|/max|e| = {metric:.3e} (max|a-e| = {diff:.3e}, max|e| = {scale:.3e}, "
          f"rtol {args.rtol:g})")
    # Written so that a NaN anywhere fails rather than slipping through a `>` comparison.
    if not metric <= args.rtol:
        sys.exit(f"compare_npy: {args.actual} differs from {args.expected}: "
                 f"{metric:.3e} > rtol {args.rtol:g}")


def compare_rows(a, e, args):
    a2, e2 = a.reshape(a.shape[0], -1), e.reshape(e.shape[0], -1)
    norms = np.linalg.norm(a2, axis=1) * np.linalg.norm(e2, axis=1)
    cosine = np.where(norms > 0, (a2 * e2).sum(axis=1) / np.where(norms > 0, norms, 1), 0.0)
    agree = a2.argmax(axis=1) == e2.argmax(axis=1)
    print(f"cosine min {cosine.min():.6f} (bar {args.cosine:g}), top-1 agrees on {int(agree.sum())}/{len(agree)} rows")
    # As above: a NaN cosine must fail.
    if not cosine.min() >= args.cosine:
        sys.exit(f"compare_npy: {args.actual}: row {int(np.nanargmin(np.nan_to_num(cosine, nan=-2)))} has cosine "
                 f"{cosine.min():.6f} < {args.cosine:g} with {args.expected}")
    if args.top1 and not agree.all():
        sys.exit(f"compare_npy: {args.actual}: top-1 differs from {args.expected} on rows {np.flatnonzero(~agree).tolist()}")


if __name__ == "__main__":
    main()
