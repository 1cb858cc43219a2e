"""Write a test fixture for effvit's exactness tests: DIR/model.onnx (random weights), DIR/input.npy
(float32 N(0,1), shape (B,3,224,224)) and DIR/expected.npy (the float32 logits PyTorch computes for
that input with the very model that was exported).

  /usr/bin/python3 python/make_fixture.py --variant m0 --batch 2 --outdir build/fixtures/m0
"""

import argparse
import os

import numpy as np
import onnx
import torch

import efficientvit_msra
import export_onnx


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variant", required=True, choices=sorted(efficientvit_msra.VARIANTS),
                    help="model size")
    ap.add_argument("--layout", default="timm", choices=export_onnx.LAYOUTS,
                    help="module layout (default timm)")
    ap.add_argument("--opset", type=int, default=13, choices=range(11, 18), metavar="{11..17}",
                    help="ONNX opset (default 13)")
    ap.add_argument("--fuse-bn", action="store_true", help="fold every BatchNorm into its conv/linear")
    ap.add_argument("--dynamic-batch", action="store_true", help="make the batch dimension symbolic")
    ap.add_argument("--batch", type=int, default=1, help="images in input.npy (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="seed for the weights and the input (default 0)")
    ap.add_argument("--outdir", required=True, help="directory to write the three files into")
    ap.add_argument("--external-data", action="store_true",
                    help="store the weights in DIR/model.weights (ONNX external data), as large exports do")
    args = ap.parse_args()
    if args.batch < 1:
        ap.error("--batch must be at least 1")
    torch.set_num_threads(1)

    os.makedirs(args.outdir, exist_ok=True)
    model = export_onnx.prepare_model(args.variant, args.layout, seed=args.seed, fuse_bn=args.fuse_bn)
    # A dynamic graph is traced at another batch than the test runs, so a batch size the trace
    # froze into the shape arithmetic cannot go unnoticed.
    trace_batch = args.batch + 1 if args.dynamic_batch else args.batch
    export_onnx.export_onnx(model, os.path.join(args.outdir, "model.onnx"),
                            export_onnx.merged_metadata(args.layout), args.opset, args.dynamic_batch,
                            trace_batch)
    if args.external_data:
        path = os.path.join(args.outdir, "model.onnx")
        proto = onnx.load(path)
        onnx.save_model(proto, path, save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.weights", size_threshold=1024)
    size = export_onnx.INPUT_SIZE
    x = np.random.default_rng(args.seed).standard_normal((args.batch, 3, size, size), dtype=np.float32)
    with torch.no_grad():
        logits = model(torch.from_numpy(x)).numpy()
    np.save(os.path.join(args.outdir, "input.npy"), x)
    np.save(os.path.join(args.outdir, "expected.npy"), logits)


if __name__ == "__main__":
    main()
