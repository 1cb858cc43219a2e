"""Compare an array effvit produced with the expected one: prints max|a-e| / max|e| and fails
(exit 1, one line on stderr) when the shapes differ or that error exceeds --rtol.

  /usr/bin/python3 python/compare_npy.py out.npy expected.npy --rtol 1e-4
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
    args = ap.parse_args()

    a, e = load(args.actual), load(args.expected)
    if a.shape != e.shape:
        sys.exit(f"compare_npy: shape {a.shape} of {args.actual} != {e.shape} of {args.expected}")
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


if __name__ == "__main__":
    main()
