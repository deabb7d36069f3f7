"""CNN spatial fusion of several point datasets onto one grid (paper §4.2.3, Table 3).

:class:`CNNFusion` follows the :class:`~insarfusion.estimators.SpatialInterpolator` protocol.
Each dataset's points are resampled onto the grid for every epoch (bilinear weights,
:func:`~insarfusion.grid.points_to_grid`); a fully convolutional network reads, per dataset, the
resampled value and its observation mask, plus a multi-scale normalised-convolution fill of
all datasets together, and returns one fused field per epoch.

Training is self-supervised. In each training patch (random epoch, random place) square blocks
of observed cells are hidden from the input, in every dataset at once, and the network predicts
them; the loss is the mean squared error on the hidden observed cells (plus, optionally, a
weighted error on the visible ones). Patches are split 80/10/10 into training, validation (early
stopping) and test (``test_rmse_mm_``) sets.

Deviations from the paper's Table 3, and why
--------------------------------------------
* Table 3's three 5×5 convolutions of 64 filters with max pooling and a fully connected layer
  return one value, not a field. Here the three 5×5/64 convolutions form the encoder of a small
  U-shaped network (2×2 max pooling after the first and second), and the decoder upsamples
  bilinearly and merges each skip connection with a 1×1 convolution, so that any grid size gives
  a full-resolution field and inference can be tiled.
* The network predicts a residual over a fixed (not learned) fill: normalised convolution of
  the visible cells with Gaussians of 1, 3 and 8 cells, blended from coarse to fine by their
  local data weight. The fill is also given as input channels. The output layer starts at
  zero, so the untrained network returns the fill and training only adds what lowers the
  error on hidden cells (from random output weights, a 3-epoch training on the demo case
  ended 1.2 mm worse against the truth).
* Blind-spot inference (``blind_spot=True``): the network is only trained to predict cells it
  cannot see, so at inference the observed cells are hidden in four interleaved views
  (2×2-cell checkerboard of four colours) and each cell keeps the prediction of the views in
  which it was hidden. Noise of single cells is then not copied into the product: on the
  simulated demo case the four views' product is 0.08 mm closer to the truth (pattern RMSE)
  than one view with every cell visible, at four times its inference cost
  (``benchmarks/README.md``).

Modules: :mod:`.network` (the fill and the U-net), :mod:`.training` (patches, hidden blocks,
loss, the training through :func:`insarfusion.torchutil.train_early_stopping`),
:mod:`.inference` (the bands, tiles and views of the inference) and :mod:`.estimator`
(:class:`CNNFusion`).

Values are normalised per epoch (median and RMS deviation of the observed cells, the scale
floored at 10 % of the largest epoch's) so that one network serves every epoch.
"""

from .estimator import CNNFusion
from .inference import INFERENCE_BYTES
from .network import FILL_SIGMAS

__all__ = ["FILL_SIGMAS", "INFERENCE_BYTES", "CNNFusion"]
