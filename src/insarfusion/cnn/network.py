"""The CNN's inputs and network: the multi-scale normalised-convolution fill and the U-net.

The network reads, per dataset, the resampled value and its observation mask, plus the fill
of all datasets together at each Gaussian scale, and predicts a residual over the blended fill
(see :mod:`insarfusion.cnn`).
"""

from __future__ import annotations

import numpy as np

#: Gaussian widths (cells) of the normalised-convolution fill, fine to coarse.
FILL_SIGMAS = (1.0, 3.0, 8.0)

#: Relative data weight at which a finer fill scale takes over half of the coarser one.
_FILL_CONFIDENCE = 0.05


def _gaussian_kernel(torch, sigma, device):
    radius = int(np.ceil(3 * sigma))
    offsets = torch.arange(-radius, radius + 1, dtype=torch.float32, device=device)
    kernel = torch.exp(-0.5 * (offsets / sigma) ** 2)
    return kernel / kernel.sum(), radius


def _smooth(torch, images, sigma):
    """Separable Gaussian blur of (B, C, H, W) images, zero outside (no data there)."""
    fn = torch.nn.functional
    kernel, radius = _gaussian_kernel(torch, sigma, images.device)
    b, c, h, w = images.shape
    flat = images.reshape(b * c, 1, h, w)
    flat = fn.conv2d(flat, kernel.view(1, 1, 1, -1), padding=(0, radius))
    flat = fn.conv2d(flat, kernel.view(1, 1, -1, 1), padding=(radius, 0))
    return flat.reshape(b, c, h, w)


def features(torch, values, masks, n_data):
    """Input channels and the fill the network's output is added to.

    Parameters
    ----------
    values, masks : torch.Tensor, shape (B, C, H, W)
        Normalised values (0 where not visible) and visibility masks (0/1): the first
        ``n_data`` channels are the datasets at the epoch, any further ones context channels.
    n_data : int
        Number of dataset channels; only these make the fill.

    Returns
    -------
    inputs : torch.Tensor, shape (B, 2 C + 2 len(FILL_SIGMAS), H, W)
        Values, masks, then per scale the fill and its relative data weight.
    base : torch.Tensor, shape (B, 1, H, W)
        The coarse-to-fine blended fill (normalised units).
    """
    weight = masks[:, :n_data].sum(dim=1, keepdim=True)
    total = (values[:, :n_data] * masks[:, :n_data]).sum(dim=1, keepdim=True)
    stacked = torch.cat([total, weight], dim=1)
    channels = [values, masks]
    base = None
    for sigma in FILL_SIGMAS[::-1]:  # coarse first; finer scales override where data are close
        smooth = _smooth(torch, stacked, sigma)
        conf = smooth[:, 1:2]
        fill = smooth[:, 0:1] / conf.clamp_min(1e-6)
        fill = torch.where(conf > 1e-6, fill, torch.zeros_like(fill))
        if base is None:
            base = fill
        else:
            alpha = conf / (conf + _FILL_CONFIDENCE)
            base = alpha * fill + (1 - alpha) * base
        channels += [fill, conf.clamp_max(1.0)]
    return torch.cat(channels, dim=1), base


def dropout_keep(torch, x, p):
    """Boolean keep mask of inverted dropout (rate ``p``) shaped and laid out like ``x``.

    Drawn as 16-bit random integers, four to each 64-bit draw of torch's generator, compared
    with a threshold, so the rate is ``p`` to 1/65536: twice as fast on the CPU as one
    Bernoulli variable per activation, which cost more than the convolutions
    (``benchmarks/README.md``). The mask is laid out like a channels-last ``x``.
    """
    n = x.numel()
    draws = torch.empty(-(-n // 4), dtype=torch.int64, device=x.device)
    bits = draws.random_(-2**63, 2**63 - 1).view(torch.int16)[:n]
    if x.dim() == 4:
        b, c, h, w = x.shape
        bits = bits.view(b, h, w, c).permute(0, 3, 1, 2)
    else:
        bits = bits.view(x.shape)
    return bits >= int(round(p * 65536)) - 32768


def relu_dropout_cpu(torch, x, p):
    """``relu(x)`` followed by inverted dropout (rate ``p``).

    In float32, ``x * ((x > 0) & keep) / (1 - p)`` with the factor made without gradient: the
    values of ReLU, mask and scale one after the other (to the sign of zero), with one
    multiplication forward and one backward instead of three of each and a ReLU, which on an
    AVX2 CPU took about a quarter of a training step (``benchmarks/README.md``); the gradient
    is zero where ``x <= 0``, as ReLU's. In a lower precision the scale is applied in ``x``'s
    own, as :func:`torch.nn.functional.dropout` does (a factor in that precision would round
    it).
    """
    keep = dropout_keep(torch, x, p)
    if x.dtype == torch.float32:
        return x * ((x > 0) & keep).to(x.dtype).mul_(1.0 / (1.0 - p))
    return torch.relu(x) * keep * (1.0 / (1.0 - p))


def upsample_merge(torch, merge, coarse, skip):
    """``merge`` (a 1×1 convolution) of ``coarse`` upsampled to ``skip``'s size, and ``skip``.

    The same function, to rounding, as ``merge`` of the two stacked: bilinear upsampling
    averages with weights that sum to one, so a 1×1 convolution commutes with it, and the
    coarse map's half of the merge is convolved before upsampling, on a quarter of the cells.
    A training step on a CPU takes about 15 % less time (``benchmarks/README.md``).
    """
    fn = torch.nn.functional
    n = coarse.shape[1]
    up = fn.interpolate(fn.conv2d(coarse, merge.weight[:, :n]), size=skip.shape[-2:],
                        mode="bilinear", align_corners=False)
    return up + fn.conv2d(skip, merge.weight[:, n:], merge.bias)


def build_network(torch, in_channels, filters, kernel_size, dropout, dtype=None):
    """The U-shaped network: three kernel×kernel convolutions, two max poolings, skips.

    The network keeps its activations channels-last (the layout oneDNN's CPU convolutions
    run fastest in) and, with ``dtype`` (see :func:`insarfusion.torchutil.compute_dtype`),
    computes them in that precision under autocast; it takes and returns float32.
    """
    nn = torch.nn
    fn = torch.nn.functional
    pad = kernel_size // 2

    class FusionNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.enc1 = nn.Conv2d(in_channels, filters, kernel_size, padding=pad)
            self.enc2 = nn.Conv2d(filters, filters, kernel_size, padding=pad)
            self.enc3 = nn.Conv2d(filters, filters, kernel_size, padding=pad)
            self.merge2 = nn.Conv2d(2 * filters, filters, 1)
            self.merge1 = nn.Conv2d(2 * filters, filters, 1)
            self.head = nn.Conv2d(filters, 1, 1)
            # the untrained network returns the fill unchanged; training adds what helps
            nn.init.zeros_(self.head.weight)
            nn.init.zeros_(self.head.bias)
            self.rate = dropout

        def act(self, x):
            """ReLU, then dropout in training (and MC sampling)."""
            if not self.training or self.rate <= 0:
                return fn.relu(x)
            if x.device.type == "cpu":
                return relu_dropout_cpu(torch, x, self.rate)
            return fn.dropout(fn.relu(x), self.rate, training=True)

        def forward(self, x):
            x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(x.device.type, dtype=dtype or torch.float32,
                                enabled=dtype is not None):
                return self._forward(x).float()

        def _forward(self, x):
            e1 = self.act(self.enc1(x))
            e2 = self.act(self.enc2(fn.max_pool2d(e1, 2)))
            e3 = self.act(self.enc3(fn.max_pool2d(e2, 2)))
            d2 = self.act(upsample_merge(torch, self.merge2, e3, e2))
            d1 = self.act(upsample_merge(torch, self.merge1, d2, e1))
            return self.head(d1)

    return FusionNet().to(memory_format=torch.channels_last)
