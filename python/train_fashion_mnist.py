"""Train EfficientViT-M0 (timm layout, 224x224x3 input, 10 classes) on Fashion-MNIST, on the CPU.

Checkpoints after every epoch into --workdir and resumes from the newest one, so an interrupted run
continues where it stopped:  /usr/bin/python3 python/train_fashion_mnist.py --workdir build/train
"""

import argparse
import json
import os
import time

import torch
import torch.nn.functional as F

import efficientvit_msra
import fashion_mnist


def evaluate(model, images, labels, batch=200):
    model.eval()
    correct = 0
    with torch.no_grad():
        for i in range(0, len(images), batch):
            logits = model(fashion_mnist.to_model_input(images[i:i + batch]))
            correct += (logits.argmax(1) == labels[i:i + batch]).sum().item()
    return correct / len(images)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workdir", required=True)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    os.makedirs(args.workdir, exist_ok=True)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    train_x, train_y = fashion_mnist.load_split("train")
    test_x, test_y = fashion_mnist.load_split("test")
    model = efficientvit_msra.build("m0", "timm", num_classes=10)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    steps_per_epoch = len(train_x) // args.batch
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs,
                                                steps_per_epoch=steps_per_epoch, pct_start=0.15)
    start_epoch = 0
    ckpt_path = os.path.join(args.workdir, "last.pt")
    if os.path.exists(ckpt_path):
        ckpt = torch.load(ckpt_path)
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        sched.load_state_dict(ckpt["sched"])
        start_epoch = ckpt["epoch"] + 1
        print(f"resumed after epoch {start_epoch}", flush=True)

    log_path = os.path.join(args.workdir, "log.jsonl")
    for epoch in range(start_epoch, args.epochs):
        # The permutation depends only on (seed, epoch), so a resumed run sees the same batches.
        g = torch.Generator().manual_seed(args.seed * 1000 + epoch)
        perm = torch.randperm(len(train_x), generator=g)
        model.train()
        t0 = time.time()
        seen, loss_sum = 0, 0.0
        for step in range(steps_per_epoch):
            idx = perm[step * args.batch:(step + 1) * args.batch]
            x = train_x[idx]
            flip = torch.rand(len(idx), generator=g) < 0.5
            x[flip] = x[flip].flip(-1)
            logits = model(fashion_mnist.to_model_input(x))
            loss = F.cross_entropy(logits, train_y[idx], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            seen += len(idx)
            loss_sum += loss.item() * len(idx)
            if step % 50 == 0:
                rate = seen / (time.time() - t0)
                print(f"epoch {epoch + 1}/{args.epochs} step {step}/{steps_per_epoch} "
                      f"loss {loss_sum / seen:.4f} {rate:.1f} img/s", flush=True)
        train_time = time.time() - t0
        acc = evaluate(model, test_x, test_y)
        entry = dict(epoch=epoch + 1, train_loss=loss_sum / seen, test_top1=acc,
                     train_seconds=round(train_time, 1))
        print(json.dumps(entry), flush=True)
        with open(log_path, "a") as f:
            f.write(json.dumps(entry) + "\n")
        tmp = ckpt_path + ".tmp"
        torch.save(dict(model=model.state_dict(), opt=opt.state_dict(), sched=sched.state_dict(),
                        epoch=epoch), tmp)
        os.replace(tmp, ckpt_path)
    torch.save(model.state_dict(), os.path.join(args.workdir, "final.pth"))


if __name__ == "__main__":
    main()
