"""What the two learned estimators (the LSTM resampler and the CNN fusion) share about PyTorch.

* :func:`import_torch` — torch imported on first use, so that the interpolators and the rest
  of the package never pay for it, with its threads set deliberately (:func:`default_threads`
  intra-op threads, one inter-op thread, OpenMP threads that sleep rather than spin while
  they wait);
* :func:`resolve_device` — ``"auto"`` is the GPU where there is one, else the CPU;
* :func:`threads` — torch's CPU thread count inside a block, restored after;
* :func:`compute_dtype` — the precision the networks compute in (bfloat16 where the hardware
  has it, unless asked otherwise);
* :func:`seeded` — a block whose torch random draws (initial weights, dropout) come from a
  seed and leave the global generator as it was;
* :func:`optimiser_step` — one optimisation step on a batch's loss;
* :func:`train_early_stopping` — the one training loop: epochs until the validation loss has
  not improved for ``patience`` epochs (or a wall-clock budget is spent), the best weights
  kept, and the history both estimators report (``history_``).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time as _time

import numpy as np

from .log import logger, progress_tracker

#: Most intra-op threads torch gets by default: the small convolutions and LSTM steps here
#: gain little beyond four, and more threads wait longer on each other.
MAX_DEFAULT_THREADS = 4

_configured = False

#: Threads every learned estimator is held to (``insarfusion run --threads``): a number, or
#: ``"auto"`` for the cores idle when each step starts; None: no limit.
_thread_limit: int | str | None = None


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask, which containers narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def idle_cores() -> int:
    """Available cores that the other processes leave free now, at least one.

    Used with ``--threads auto`` (:func:`set_thread_limit`).

    The machine's 1-minute load average counts the runnable threads of every process, this
    one's calling thread among them; what is left of the machine's cores after the others is
    the most this process can use without its threads waiting for each other's turn (a
    multi-threaded step on a busy machine otherwise runs many times slower than on one
    thread: each parallel region waits for its slowest, descheduled thread).
    """
    cores = available_cores()
    try:
        others = max(os.getloadavg()[0] - 1.0, 0.0)
    except (AttributeError, OSError):  # no load average on this platform
        return cores
    free = (os.cpu_count() or cores) - others
    return max(1, min(cores, int(round(free))))


def set_thread_limit(n_threads: int | str | None) -> None:
    """Hold every learned estimator to ``n_threads`` torch threads.

    Parameters
    ----------
    n_threads : int, "auto" or None
        A number of threads; ``"auto"``: as many as :func:`idle_cores` finds when each fit
        or prediction starts (fast on a busy machine, but the products then depend on the
        machine's load: float sums split over other thread counts round differently);
        None: no limit, :data:`MAX_DEFAULT_THREADS` at most.
    """
    global _thread_limit
    if n_threads is not None and n_threads != "auto":
        n_threads = max(1, int(n_threads))
    _thread_limit = n_threads
    if isinstance(n_threads, int) and "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(n_threads)


def thread_limit() -> int | str | None:
    """The limit of :func:`set_thread_limit` (a number, ``"auto"`` or None)."""
    return _thread_limit


def capped_threads(n_threads: int) -> int:
    """``n_threads`` held to the limit of :func:`set_thread_limit`, if any."""
    if _thread_limit is None:
        return n_threads
    return min(n_threads, idle_cores() if _thread_limit == "auto" else _thread_limit)


def default_threads() -> int:
    """Torch's intra-op threads by default: the available cores, at most four.

    A limit (:func:`set_thread_limit`) caps them. The default does not follow the machine's
    load: the CNN's float sums are split among the threads, so another thread count gives
    other last bits and, through training, other products; a fixed count keeps a run
    reproducible from its seed on one machine.
    """
    return capped_threads(max(1, min(available_cores(), MAX_DEFAULT_THREADS)))


def import_torch():
    """The ``torch`` module, imported on first use, its threads set deliberately.

    Before torch is first imported, ``OMP_WAIT_POLICY`` is set to ``PASSIVE`` (unless set
    already): OpenMP threads waiting for work then sleep instead of spinning, which on a busy
    machine took the cores from the threads with work (the LSTM step of the demo ran 50 times
    slower with three other jobs on two cores). On the first call torch's intra-op threads
    are set to :func:`default_threads` (unless ``OMP_NUM_THREADS`` says otherwise) and its
    inter-op threads to one (nothing here runs independent operators side by side).
    The estimators' ``n_threads`` still override the intra-op count inside their ``fit``
    and ``predict`` (:func:`threads`).
    """
    global _configured
    if "torch" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import torch

    if not _configured:
        _configured = True
        if not os.environ.get("OMP_NUM_THREADS"):
            torch.set_num_threads(default_threads())
        with contextlib.suppress(RuntimeError):  # only possible before any parallel work
            torch.set_num_interop_threads(1)
    return torch


def resolve_device(device="auto"):
    """``device`` as a :class:`torch.device`.

    Parameters
    ----------
    device : str or torch.device or None
        ``"auto"`` (or None): CUDA when available, else the CPU; otherwise any name torch
        accepts (``"cpu"``, ``"cuda"``, ``"cuda:1"``).

    Returns
    -------
    torch.device
    """
    torch = import_torch()
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


#: What the ``precision`` parameter of the learned estimators accepts.
PRECISIONS = ("auto", "bf16", "fp32")


def compute_dtype(precision, device):
    """The dtype a network's convolutions run in under autocast, or None for float32.

    Parameters
    ----------
    precision : {"auto", "bf16", "fp32"}
        ``"auto"``: bfloat16 where the device computes it natively (a CPU with AVX512-BF16 or
        AMX through oneDNN, a GPU that supports it), else float32. Weights, losses and
        optimiser state stay float32 either way; bfloat16 only carries the activations, with
        its 8-bit mantissa (about 0.4 % relative), which is far below the noise of the data.
    device : torch.device

    Returns
    -------
    torch.dtype or None
    """
    torch = import_torch()
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    elif device.type == "cpu" and torch.backends.mkldnn.is_available():
        try:
            native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
        except (AttributeError, RuntimeError):  # a build without the query: not native
            native = False
    else:
        native = False
    return torch.bfloat16 if native else None


@contextlib.contextmanager
def threads(n_threads=None):
    """Set torch's CPU thread count inside the block and restore it after.

    Parameters
    ----------
    n_threads : int, optional
        Threads (held to the limit of :func:`set_thread_limit`); None or 0:
        :func:`default_threads`.
    """
    torch = import_torch()
    previous = torch.get_num_threads()
    torch.set_num_threads(capped_threads(int(n_threads)) if n_threads else default_threads())
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextlib.contextmanager
def seeded(seed, device=None):
    """Seed torch's generators inside the block; outside it they are left as they were.

    Parameters
    ----------
    seed : int
        Seed of the draws in the block.
    device : torch.device, optional
        The device the block runs on: a CUDA device's generator is forked too.
    """
    torch = import_torch()
    forked = ([device.index or 0] if device is not None and device.type == "cuda" else [])
    with torch.random.fork_rng(devices=forked):
        torch.manual_seed(int(seed))
        yield


def optimiser_step(optimiser, loss) -> float:
    """One optimisation step on ``loss`` (gradients cleared first); the loss as a float."""
    optimiser.zero_grad()
    loss.backward()
    optimiser.step()
    return float(loss.detach())


def _best_state(network):
    return {k: v.detach().clone() for k, v in network.state_dict().items()}


def train_early_stopping(network, run_epoch, validate, epochs, patience, min_delta=0.0,
                         max_seconds=None, progress=None, desc="training", smoothing=0.0,
                         rel_delta=0.0) -> dict:
    """Train ``network`` epoch by epoch with early stopping; keep the best weights.

    Each epoch puts the network in training mode and calls ``run_epoch``, then in evaluation
    mode and calls ``validate``. Stopping looks at the validation loss smoothed over epochs
    (an exponential average, ``smoothing`` the weight of the past; 0: the loss itself): an
    epoch improves when the smoothed loss is below the best so far by more than ``min_delta``
    and by more than the share ``rel_delta`` of it; training stops after ``patience`` epochs
    without improvement, after ``epochs`` epochs, or once more than ``max_seconds`` have
    passed since the start. The weights of the best epoch (by its own validation loss, better
    by more than ``min_delta``) are loaded back at the end and the network is left in
    evaluation mode.

    Parameters
    ----------
    network : torch.nn.Module
        The network; trained in place.
    run_epoch : callable
        ``run_epoch(out_of_time) -> float``: one pass over the training data, returning the
        epoch's training loss. ``out_of_time()`` is True once the budget ``max_seconds`` is
        spent (always False without one), for a pass that stops between batches.
    validate : callable
        ``validate() -> float``: the validation loss.
    epochs : int
        Most epochs.
    patience : int
        Epochs without improvement before stopping.
    min_delta : float
        Improvement needed to count as one.
    max_seconds : float, optional
        Wall-clock budget of the training (runs that reach it depend on the machine's speed).
    progress : bool, optional
        Progress over the epochs: a bar (True), none (False), or None: a bar when stderr is
        a terminal, else a log line every few seconds (:func:`insarfusion.log.progress_mode`).
    desc : str
        Name of the training in the bar and the log.
    smoothing : float
        Weight of the past in the smoothed validation loss, 0..1 (0: no smoothing). A noisy
        validation loss then neither stops the training by chance nor prolongs it by a lucky
        low value.
    rel_delta : float
        Relative improvement of the smoothed loss needed to count as one.

    Returns
    -------
    dict
        ``train_loss`` and ``val_loss`` (lists, one value per epoch run), ``best_epoch``
        (0-based index of the kept epoch, -1 if none improved) and ``train_seconds``.
    """
    start = _time.perf_counter()

    def out_of_time():
        return max_seconds is not None and _time.perf_counter() - start > max_seconds

    history = {"train_loss": [], "val_loss": []}
    best_loss, best_state, best_epoch, waited = np.inf, None, -1, 0
    smoothed, best_smoothed = None, np.inf
    bar = progress_tracker(desc, total=epochs, unit="epoch", progress=progress)
    for epoch in range(epochs):
        network.train()
        train_loss = run_epoch(out_of_time)
        network.eval()
        val_loss = validate()
        history["train_loss"].append(train_loss)
        history["val_loss"].append(val_loss)
        bar.set_postfix(train=f"{train_loss:.3f}", val=f"{val_loss:.3f}")
        bar.update()
        smoothed = (val_loss if smoothed is None or not np.isfinite(smoothed)
                    else smoothing * smoothed + (1 - smoothing) * val_loss)
        if val_loss < best_loss - min_delta:
            best_loss, best_epoch = val_loss, epoch
            best_state = _best_state(network)
        needed = max(min_delta, rel_delta * abs(best_smoothed)) if np.isfinite(best_smoothed) else 0
        if smoothed < best_smoothed - needed:
            best_smoothed, waited = smoothed, 0
        else:
            waited += 1
            if waited >= patience:
                logger.info("%s: early stop after epoch %d", desc, epoch + 1)
                break
        if out_of_time():
            logger.warning("%s: training budget of %.0f s reached after epoch %d", desc,
                           max_seconds, epoch + 1)
            break
    bar.close()
    if best_state is not None:
        network.load_state_dict(best_state)
    network.eval()
    history["train_seconds"] = _time.perf_counter() - start
    history["best_epoch"] = best_epoch
    return history
