"""EfficientViT-MSRA (CVPR 2023, "Cascaded Group Attention") in plain PyTorch.

Two module layouts exist in the wild and both are built here, because their ONNX exports differ in
node names and in a few op choices:

* ``timm``  -- ``patch_embed.conv1..4``, ``stages.N.downsample / blocks``, ``ConvBN`` children
  ``conv``/``bn``, ``BNLinear`` children ``bn``/``linear``. State-dict keys match timm's
  ``efficientvit_m*`` so a timm checkpoint loads as is.
* ``cream`` -- the original microsoft/Cream code: ``patch_embed.0/2/4/6``, ``blocks1..3`` (the
  subsampling blocks live at the start of ``blocks2``/``blocks3``), ``Conv2d_BN`` children ``c``/``bn``,
  ``BN_Linear`` children ``bn``/``l``.

Both layouts hold the same parameters in the same order, which is what ``transfer_weights`` relies on.
Only torch is needed; timm itself is not installed here.
"""

import itertools

import torch
import torch.nn as nn
import torch.nn.functional as F

VARIANTS = {
    "m0": dict(embed_dim=[64, 128, 192], depth=[1, 2, 3], num_heads=[4, 4, 4], kernels=[5, 5, 5, 5]),
    "m1": dict(embed_dim=[128, 144, 192], depth=[1, 2, 3], num_heads=[2, 3, 3], kernels=[7, 5, 3, 3]),
    "m2": dict(embed_dim=[128, 192, 224], depth=[1, 2, 3], num_heads=[4, 3, 2], kernels=[7, 5, 3, 3]),
    "m3": dict(embed_dim=[128, 240, 320], depth=[1, 2, 3], num_heads=[4, 3, 4], kernels=[5, 5, 5, 5]),
    "m4": dict(embed_dim=[128, 256, 384], depth=[1, 2, 3], num_heads=[4, 4, 4], kernels=[7, 5, 3, 3]),
    "m5": dict(embed_dim=[192, 288, 384], depth=[1, 3, 4], num_heads=[3, 3, 4], kernels=[7, 5, 3, 3]),
}
KEY_DIM = 16
WINDOW = 7


class ConvBN(nn.Sequential):
    """Bias-free conv followed by BatchNorm; child names depend on the layout."""

    def __init__(self, cin, cout, ks=1, stride=1, pad=0, groups=1, bn_weight_init=1.0, layout="timm"):
        super().__init__()
        conv_name = "conv" if layout == "timm" else "c"
        self.add_module(conv_name, nn.Conv2d(cin, cout, ks, stride, pad, groups=groups, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))
        nn.init.constant_(self.bn.weight, bn_weight_init)
        nn.init.constant_(self.bn.bias, 0)

    @torch.no_grad()
    def fuse(self):
        conv, bn = self._modules.values()
        scale = bn.weight / (bn.running_var + bn.eps) ** 0.5
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,
                          conv.padding, groups=conv.groups, bias=True)
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_(bn.bias - bn.running_mean * scale)
        return fused


class BNLinear(nn.Sequential):
    def __init__(self, cin, cout, layout="timm"):
        super().__init__()
        self.add_module("bn", nn.BatchNorm1d(cin))
        self.add_module("linear" if layout == "timm" else "l", nn.Linear(cin, cout))
        nn.init.trunc_normal_(self._modules[list(self._modules)[1]].weight, std=0.02)
        nn.init.constant_(self._modules[list(self._modules)[1]].bias, 0)

    @torch.no_grad()
    def fuse(self):
        bn, linear = self._modules.values()
        scale = bn.weight / (bn.running_var + bn.eps) ** 0.5
        shift = bn.bias - bn.running_mean * scale
        fused = nn.Linear(linear.in_features, linear.out_features)
        fused.weight.copy_(linear.weight * scale[None, :])
        fused.bias.copy_(linear.weight @ shift + linear.bias)
        return fused


def make_divisible(v, divisor=8):
    # timm's rule with round_limit=0, as its SqueezeExcite uses.
    return max(divisor, int(v + divisor / 2) // divisor * divisor)


class SqueezeExcite(nn.Module):
    """timm's SEModule: mean -> 1x1 conv -> ReLU -> 1x1 conv -> sigmoid gate."""

    def __init__(self, channels, rd_ratio):
        super().__init__()
        rd = make_divisible(channels * rd_ratio)
        self.fc1 = nn.Conv2d(channels, rd, 1, bias=True)
        self.bn = nn.Identity()
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, channels, 1, bias=True)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        s = self.fc2(self.act(self.bn(self.fc1(s))))
        return x * s.sigmoid()


class PatchMerging(nn.Module):
    def __init__(self, dim, out_dim, layout):
        super().__init__()
        hid = dim * 4
        self.conv1 = ConvBN(dim, hid, layout=layout)
        self.act = nn.ReLU()
        self.conv2 = ConvBN(hid, hid, 3, 2, 1, groups=hid, layout=layout)
        self.se = SqueezeExcite(hid, 0.25)
        self.conv3 = ConvBN(hid, out_dim, layout=layout)

    def forward(self, x):
        return self.conv3(self.se(self.act(self.conv2(self.act(self.conv1(x))))))


class Residual(nn.Module):
    def __init__(self, m, drop=0.0):
        super().__init__()
        self.m = m
        self.drop = drop

    def forward(self, x):
        if self.training and self.drop > 0:
            keep = torch.rand(x.size(0), 1, 1, 1, device=x.device).ge_(self.drop).div(1 - self.drop)
            return x + self.m(x) * keep.detach()
        return x + self.m(x)


class FFN(nn.Module):
    def __init__(self, ed, hidden, layout):
        super().__init__()
        self.pw1 = ConvBN(ed, hidden, layout=layout)
        self.act = nn.ReLU()
        self.pw2 = ConvBN(hidden, ed, bn_weight_init=0.0, layout=layout)

    def forward(self, x):
        return self.pw2(self.act(self.pw1(x)))


class CascadedGroupAttention(nn.Module):
    def __init__(self, dim, key_dim, num_heads, attn_ratio, resolution, kernels, layout):
        super().__init__()
        self.num_heads = num_heads
        self.scale = key_dim ** -0.5
        self.key_dim = key_dim
        self.d = int(attn_ratio * key_dim)
        self.qkvs = nn.ModuleList(
            ConvBN(dim // num_heads, key_dim * 2 + self.d, layout=layout) for _ in range(num_heads))
        self.dws = nn.ModuleList(
            ConvBN(key_dim, key_dim, kernels[i], 1, kernels[i] // 2, groups=key_dim, layout=layout)
            for i in range(num_heads))
        self.proj = nn.Sequential(nn.ReLU(), ConvBN(self.d * num_heads, dim, bn_weight_init=0.0, layout=layout))

        # One learned bias per (|dy|, |dx|) offset between two positions of the window.
        points = list(itertools.product(range(resolution), range(resolution)))
        offsets, idxs = {}, []
        for p1 in points:
            for p2 in points:
                off = (abs(p1[0] - p2[0]), abs(p1[1] - p2[1]))
                offsets.setdefault(off, len(offsets))
                idxs.append(offsets[off])
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, len(offsets)))
        self.register_buffer("attention_bias_idxs", torch.LongTensor(idxs).view(len(points), len(points)))

    @torch.no_grad()
    def train(self, mode=True):
        super().train(mode)
        if mode and hasattr(self, "ab"):
            del self.ab
        else:
            self.ab = self.attention_biases[:, self.attention_bias_idxs]
        return self

    def forward(self, x):
        B, C, H, W = x.shape
        trainingab = self.attention_biases[:, self.attention_bias_idxs]
        feats_in = x.chunk(len(self.qkvs), dim=1)
        feats_out = []
        feat = feats_in[0]
        for i, qkv in enumerate(self.qkvs):
            if i > 0:
                feat = feat + feats_in[i]
            feat = qkv(feat)
            q, k, v = feat.view(B, -1, H, W).split([self.key_dim, self.key_dim, self.d], dim=1)
            q = self.dws[i](q)
            q, k, v = q.flatten(2), k.flatten(2), v.flatten(2)
            bias = trainingab[i] if self.training else self.ab[i]
            attn = (q.transpose(-2, -1) @ k) * self.scale + bias
            attn = attn.softmax(dim=-1)
            feat = (v @ attn.transpose(-2, -1)).view(B, self.d, H, W)
            feats_out.append(feat)
        return self.proj(torch.cat(feats_out, 1))


class LocalWindowAttention(nn.Module):
    def __init__(self, dim, key_dim, num_heads, attn_ratio, resolution, window_resolution, kernels, layout):
        super().__init__()
        self.resolution = resolution
        self.window_resolution = window_resolution
        self.attn = CascadedGroupAttention(dim, key_dim, num_heads, attn_ratio,
                                           min(window_resolution, resolution), kernels, layout)

    def forward(self, x):
        B, C, H, W = x.shape
        wr = self.window_resolution
        if H <= wr and W <= wr:
            return self.attn(x)
        x = x.permute(0, 2, 3, 1)
        pad_b = (wr - H % wr) % wr
        pad_r = (wr - W % wr) % wr
        if pad_b > 0 or pad_r > 0:
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        pH, pW = H + pad_b, W + pad_r
        nH, nW = pH // wr, pW // wr
        x = x.view(B, nH, wr, nW, wr, C).transpose(2, 3).reshape(B * nH * nW, wr, wr, C).permute(0, 3, 1, 2)
        x = self.attn(x)
        x = x.permute(0, 2, 3, 1).view(B, nH, nW, wr, wr, C).transpose(2, 3).reshape(B, pH, pW, C)
        if pad_b > 0 or pad_r > 0:
            x = x[:, :H, :W].contiguous()
        return x.permute(0, 3, 1, 2)


class EfficientViTBlock(nn.Module):
    def __init__(self, ed, kd, nh, ar, resolution, kernels, layout):
        super().__init__()
        self.dw0 = Residual(ConvBN(ed, ed, 3, 1, 1, groups=ed, bn_weight_init=0.0, layout=layout))
        self.ffn0 = Residual(FFN(ed, ed * 2, layout))
        self.mixer = Residual(LocalWindowAttention(ed, kd, nh, ar, resolution, WINDOW, kernels, layout))
        self.dw1 = Residual(ConvBN(ed, ed, 3, 1, 1, groups=ed, bn_weight_init=0.0, layout=layout))
        self.ffn1 = Residual(FFN(ed, ed * 2, layout))

    def forward(self, x):
        return self.ffn1(self.dw1(self.mixer(self.ffn0(self.dw0(x)))))


def _dw_ffn(ed, layout):
    return nn.Sequential(Residual(ConvBN(ed, ed, 3, 1, 1, groups=ed, layout=layout)),
                         Residual(FFN(ed, ed * 2, layout)))


def _stage_plan(cfg, img_size):
    """(stage index, in_dim, dim, heads, attn_ratio, resolution) per stage."""
    res = img_size // 16
    plan = []
    for i, (ed, nh) in enumerate(zip(cfg["embed_dim"], cfg["num_heads"])):
        if i > 0:
            res = (res - 1) // 2 + 1
        plan.append((i, cfg["embed_dim"][max(i - 1, 0)], ed, nh, ed / (KEY_DIM * nh), res))
    return plan


class Stage(nn.Module):
    def __init__(self, i, pre_ed, ed, nh, ar, res, depth, kernels, layout):
        super().__init__()
        if i > 0:
            self.downsample = nn.Sequential()
            self.downsample.add_module("res1", _dw_ffn(pre_ed, layout))
            self.downsample.add_module("patchmerge", PatchMerging(pre_ed, ed, layout))
            self.downsample.add_module("res2", _dw_ffn(ed, layout))
        else:
            self.downsample = nn.Identity()
        self.blocks = nn.Sequential(*[EfficientViTBlock(ed, KEY_DIM, nh, ar, res, kernels, layout)
                                      for _ in range(depth)])

    def forward(self, x):
        return self.blocks(self.downsample(x))


class PatchEmbedTimm(nn.Sequential):
    def __init__(self, cin, dim):
        super().__init__()
        dims = [cin, dim // 8, dim // 4, dim // 2, dim]
        for j in range(4):
            if j > 0:
                self.add_module(f"relu{j}", nn.ReLU())
            self.add_module(f"conv{j + 1}", ConvBN(dims[j], dims[j + 1], 3, 2, 1, layout="timm"))


class EfficientViTMSRA(nn.Module):
    """timm layout."""

    def __init__(self, variant="m0", num_classes=1000, img_size=224, in_chans=3):
        super().__init__()
        cfg = VARIANTS[variant]
        self.patch_embed = PatchEmbedTimm(in_chans, cfg["embed_dim"][0])
        self.stages = nn.Sequential(*[
            Stage(i, pre, ed, nh, ar, res, cfg["depth"][i], cfg["kernels"], "timm")
            for (i, pre, ed, nh, ar, res) in _stage_plan(cfg, img_size)])
        self.head = BNLinear(cfg["embed_dim"][-1], num_classes, layout="timm")

    def forward(self, x):
        x = self.stages(self.patch_embed(x))
        # timm's fast adaptive pool path: a mean over H, W (ReduceMean in ONNX).
        return self.head(x.mean((2, 3)))


class EfficientViTCream(nn.Module):
    """microsoft/Cream layout (model/efficientvit.py)."""

    def __init__(self, variant="m0", num_classes=1000, img_size=224, in_chans=3):
        super().__init__()
        cfg = VARIANTS[variant]
        ed0 = cfg["embed_dim"][0]
        dims = [in_chans, ed0 // 8, ed0 // 4, ed0 // 2, ed0]
        pe = []
        for j in range(4):
            if j > 0:
                pe.append(nn.ReLU())
            pe.append(ConvBN(dims[j], dims[j + 1], 3, 2, 1, layout="cream"))
        self.patch_embed = nn.Sequential(*pe)
        for (i, pre, ed, nh, ar, res) in _stage_plan(cfg, img_size):
            mods = []
            if i > 0:
                mods += [_dw_ffn(pre, "cream"), PatchMerging(pre, ed, "cream"), _dw_ffn(ed, "cream")]
            mods += [EfficientViTBlock(ed, KEY_DIM, nh, ar, res, cfg["kernels"], "cream")
                     for _ in range(cfg["depth"][i])]
            setattr(self, f"blocks{i + 1}", nn.Sequential(*mods))
        self.head = BNLinear(cfg["embed_dim"][-1], num_classes, layout="cream")

    def forward(self, x):
        x = self.blocks3(self.blocks2(self.blocks1(self.patch_embed(x))))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)


def build(variant, layout="timm", num_classes=1000, img_size=224):
    cls = EfficientViTMSRA if layout == "timm" else EfficientViTCream
    return cls(variant, num_classes=num_classes, img_size=img_size)


def _state_tensors(model):
    # attention_bias_idxs is derived from the architecture; it is not a weight to transfer.
    return [(k, v) for k, v in model.state_dict().items() if not k.endswith("attention_bias_idxs")]


@torch.no_grad()
def transfer_weights(src, dst):
    """Copy every weight from one layout to the other; both hold them in the same order."""
    a, b = _state_tensors(src), _state_tensors(dst)
    if len(a) != len(b):
        raise ValueError(f"layouts differ: {len(a)} vs {len(b)} tensors")
    dst_sd = dst.state_dict()
    for (ka, va), (kb, vb) in zip(a, b):
        if va.shape != vb.shape:
            raise ValueError(f"shape mismatch {ka} {tuple(va.shape)} -> {kb} {tuple(vb.shape)}")
        dst_sd[kb].copy_(va)


def fuse_batchnorm(module):
    """Replace every ConvBN/BNLinear by its folded equivalent (a "deploy" model), in place."""
    for name, child in list(module.named_children()):
        if isinstance(child, (ConvBN, BNLinear)):
            setattr(module, name, child.fuse())
        else:
            fuse_batchnorm(child)
    return module


@torch.no_grad()
def randomize(model, seed):
    """Random weights with non-trivial BN statistics and attention biases, for test fixtures."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d)):
            n = m.num_features
            m.weight.copy_(0.5 + torch.rand(n, generator=g))
            m.bias.copy_(0.2 * torch.randn(n, generator=g))
            m.running_mean.copy_(0.2 * torch.randn(n, generator=g))
            m.running_var.copy_(0.5 + torch.rand(n, generator=g))
        elif isinstance(m, (nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * (1.5 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=g))
        elif isinstance(m, CascadedGroupAttention):
            m.attention_biases.copy_(torch.randn(m.attention_biases.shape, generator=g))
    return model
