"""The decoder's matrix products at a chosen precision of the weights: fp32, fp16, bf16 or int8.

Decoding one stream is bound by reading the weights once per token (a 2x512 character model reads 13 MB of
fp32 weights per character), so storing them in fewer bytes is what makes a single stream faster:

    fp32   the weights as trained (the default): ``torch.addmm``
    fp16   weights in IEEE half precision (half the bytes); the step's input stays fp32 and FBGEMM widens the
           weights as it reads them, summing in fp32 (``fbgemm_linear_fp16_weight_fp32_activation``). Any x86-64
           CPU with AVX2 and F16C: the reduced precision for CPUs without bf16 instructions, and the closest to
           fp32 (an 11-bit significand against bf16's 8 and int8's 7-8 bits). CPU only
    bf16   weights in bfloat16 (half the bytes); the step's input is rounded to bf16 and the product, summed
           in fp32 by oneDNN, is added to the fp32 gates. Fast where the CPU has AVX-512-BF16 or AMX; elsewhere
           oneDNN emulates it, slower than fp32 (or, on an AVX2-only CPU, cannot run it at all), so it is refused
           there with a message naming fp16 and int8. CPU only
    int8   weights in int8 with one fp32 scale per output column (symmetric, per channel; a quarter of the
           bytes); the step's input is quantized to 8 bits per call (FBGEMM's dynamic quantization). CPU only

Only the weights of the per-token products change: the gates, the cell state and the logits stay fp32, the
embedding is still folded into layer 0's table in fp32. A prompt is stepped through the same reduced weights
(``Stepper.prefill``), except one being scored token by token, which the fp32 model reads. The
cost of each precision in validation loss is measured in docs/benchmarks.md (``benchmarks/decoding/decoding_precision.py``).
"""

from __future__ import annotations

import copy
import warnings

import torch

from ..config import AUTOMATIC_PRECISION, DECODING_PRECISIONS
from ..model import device_of
from ..system.runtime import cpu_flags

FP16_LARGEST = 65504.0  # the largest finite half: a weight beyond it would become infinite


class PrecisionError(ValueError):
    """A decoding precision this machine or model cannot run."""


def native_bf16(device: torch.device) -> bool:
    """Whether bf16 products run in hardware here (AVX-512-BF16 or AMX on x86, BF16 on Arm, or a GPU that has it)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return bool(cpu_flags() & {"avx512_bf16", "amx_bf16", "bf16"}) and torch.backends.mkldnn.is_available()


def check_precision(precision: str, device: torch.device) -> None:
    """Refuse, with what to use instead, a precision that this machine would run slowly or not at all."""
    if precision not in DECODING_PRECISIONS:
        raise PrecisionError(f"decoding precision must be one of {', '.join(DECODING_PRECISIONS)}, got {precision!r}")
    if precision != "fp32" and device.type != "cpu":
        raise PrecisionError(f"reduced-precision decoding runs on CPUs; on {device.type} decode in fp32 (a GPU reads its "
                             "weights fast enough)")
    if precision == "bf16" and not native_bf16(device):
        raise PrecisionError("this CPU has no bf16 instructions (AVX-512-BF16 or AMX), so bf16 weights would decode slower "
                             "than fp32; use --precision fp16 (half the bytes, x86-64 CPUs with AVX2) or int8 (a quarter "
                             "of the bytes) or fp32")
    if precision == "fp16" and not fp16_kernel():
        raise PrecisionError("fp16 decoding runs on FBGEMM's half-precision kernels, which need an x86-64 CPU with AVX2 and "
                             "F16C and a PyTorch build with FBGEMM; use fp32" + (" or int8" if _LINEAR_INT8 is not None else ""))


def at_decoding_precision(model: torch.nn.Module, precision: str) -> torch.nn.Module:
    """The model as token-by-token decoding reads it with its weights in ``precision``, chosen once (as gpt-fast
    quantises at load): fp32 is the model itself; a reduced precision is a shallow copy of the module that
    shares every parameter and says its precision, so the decoding loop (generation, beam search) passes a
    model along and never hears of precisions; the stepper and the fast LSTM read ``decoding_precision``.
    ``check_precision`` first: a precision this machine runs slowly or not at all is refused here."""
    if precision == "fp32":
        return model
    check_precision(precision, device_of(model))
    reduced = copy.copy(model)  # a new module object over the same parameters and submodules
    reduced.decoding_precision = precision
    return reduced


def decoding_precision(model: torch.nn.Module) -> str:
    """The precision of the weights decoding reads for ``model`` (``at_decoding_precision``), fp32 by default."""
    return getattr(model, "decoding_precision", "fp32")


AUTOMATIC = AUTOMATIC_PRECISION  # not a precision: asks automatic_precision for the one measured fastest on this kind of CPU


def automatic_precision(device: torch.device, lstm: bool = True) -> tuple[str, str]:
    """The decoding precision ``--precision auto`` picks here, and why (measured in docs/benchmarks.md).

    int8 where the CPU has VNNI (the fastest there: 2.46x fp32 in one stream on an AVX-512 AMD EPYC, 1.85x on a
    Xeon with AMX), fp16 on other x86-64 CPUs with AVX2 and F16C (1.43-1.71x on an AVX2-only AMD EPYC, where int8
    without VNNI gave 1.36-1.49x, and ten times closer to fp32), fp32 elsewhere: on a GPU, for cells other than
    the LSTM, and on CPUs where no reduced kernel was measured faster.
    """
    if device.type != "cpu":
        return "fp32", f"reduced precisions are for CPUs; on {device.type} the weights stay fp32"
    if not lstm:
        return "fp32", "reduced precisions step LSTM and Mogrifier LSTM models only"
    if _LINEAR_INT8 is not None and _VNNI:
        return "int8", "this CPU has VNNI: int8 weights decode fastest (+0.0001 nats/char measured)"
    if fp16_kernel():
        return "fp16", "this CPU has AVX2 and F16C but no VNNI: fp16 weights decode fastest (+0.00001 nats/char measured)"
    return "fp32", "no reduced precision was measured faster on this CPU"


def fp16_kernel() -> bool:
    """Whether FBGEMM's fp16-weight products run here (x86-64 with AVX2 and F16C, PyTorch built with FBGEMM)."""
    return (_LINEAR_FP16 is not None and {"avx2", "f16c"} <= cpu_flags()
            and "fbgemm" in torch.backends.quantized.supported_engines)


# Products smaller than this many weights stay fp32 at every precision: reading them costs less than the
# reduced kernels' fixed overhead per call (a character model's output layer, 512 x 65, takes 5 us in fp32
# and 20-40 us through the fp16, bf16 or int8 kernels).
SMALLEST_REDUCED = 1 << 18


class Projection:
    """``x @ W + b`` for the decoder's step, with W [K, N] stored at a precision; inputs and outputs fp32.

        projection = Projection(weight, bias, "int8")   # weight [K, N] fp32, bias [N] fp32 or None
        projection(x, out)                              # out [n, N] = x [n, K] @ W + b
        projection(x, out, accumulate=True)             # out += x @ W (+ b)

    The kernels are PyTorch's own: ``torch.addmm`` (fp32); FBGEMM's half-precision GEMM on weights packed once
    for it (fp16: the input stays fp32, the weights are widened as they are read); oneDNN's linear on weights
    packed once for it (bf16: AVX-512-BF16 or AMX; the input is rounded to bf16, the product accumulated in fp32 inside); FBGEMM's
    dynamically quantized linear (int8: weights per output column, the input quantized per call; VNNI makes
    it faster still, and without VNNI the input uses 7 bits so that AVX2's 16-bit sums cannot overflow).
    """

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None, precision: str = "fp32") -> None:
        if precision not in DECODING_PRECISIONS:
            raise PrecisionError(f"decoding precision must be one of {', '.join(DECODING_PRECISIONS)}, got {precision!r}")
        if weight.numel() < SMALLEST_REDUCED:
            precision = "fp32"
        self.precision, self.bias = precision, bias
        if precision != "fp32":
            check_precision(precision, weight.device)  # a clear refusal where the kernel cannot run (oneDNN cannot even pack bf16)
        if precision == "fp32":
            self.weight = weight.contiguous()
        elif {"fp16": _LINEAR_FP16, "bf16": _LINEAR_BF16, "int8": _LINEAR_INT8}[precision] is None:
            raise PrecisionError(f"this build of PyTorch has no {precision} linear kernel; use fp32")
        elif precision == "fp16":
            self.weight = _fp16_packed(weight)
            self._bias_fp16 = None if bias is None else bias.float().contiguous()  # FBGEMM's call adds it to its fp32 product
            self.bias = None
        elif precision == "bf16":
            self._bias16 = None if bias is None else bias.to(torch.bfloat16)
            self.weight = torch.ops.mkldnn._reorder_linear_weight(weight.t().contiguous().to(torch.bfloat16), 1)  # packed [N, K]
        else:
            self.weight = _int8_packed(weight, bias)  # FBGEMM adds the fp32 bias to its fp32 product itself
            self.bias = None

    def __call__(self, x: torch.Tensor, out: torch.Tensor, accumulate: bool = False) -> torch.Tensor:
        if self.precision == "fp32":
            if accumulate:
                out.addmm_(x, self.weight)
                if self.bias is not None:
                    out.add_(self.bias)
            elif self.bias is None:
                torch.mm(x, self.weight, out=out)
            else:
                torch.addmm(self.bias, x, self.weight, out=out)
            return out
        if self.precision == "fp16":
            product = _LINEAR_FP16(x, self.weight, self._bias_fp16)  # [n, N] fp32
        elif self.precision == "bf16":
            product = _LINEAR_BF16(x.to(torch.bfloat16), self.weight, None, "none", [], "")  # [n, N] bf16
        else:
            product = _LINEAR_INT8(x, self.weight, not _VNNI)  # [n, N] fp32
        if accumulate:
            out.add_(product)
        else:
            out.copy_(product)
        if self.bias is not None:
            out.add_(self.bias)
        return out


def _overload(namespace: str, name: str):
    """An operator's default overload, or None where this build of PyTorch lacks the operator."""
    try:
        return getattr(getattr(torch.ops, namespace), name).default
    except (AttributeError, RuntimeError):
        return None


# The reduced kernels' overloads, called directly: calling the operator packet (``torch.ops.quantized.linear_dynamic(...)``)
# resolves the overload on every call, a few microseconds per product, as long as a small product itself.
_LINEAR_BF16 = _overload("mkldnn", "_linear_pointwise")
_LINEAR_INT8 = _overload("quantized", "linear_dynamic")
# The fp16 product through aten's own FBGEMM call: 30-70 microseconds faster per step of a 2x512 model (one
# thread, AVX2; benchmarks/decoding/product_kernels.py) than ``quantized.linear_dynamic_fp16``, which runs the same FBGEMM
# kernel, to the same bits.
_LINEAR_FP16 = _overload("aten", "fbgemm_linear_fp16_weight_fp32_activation")
_VNNI = bool(cpu_flags() & {"avx512_vnni", "avx_vnni", "amx_int8"})


def _fp16_packed(weight: torch.Tensor):
    """W [K, N] as FBGEMM's packed half-precision matrix (rounded to nearest); refused if a weight is beyond fp16's range."""
    largest = float(weight.abs().max()) if weight.numel() else 0.0
    if not largest <= FP16_LARGEST:
        raise PrecisionError(f"a weight of magnitude {largest:.3g} is beyond fp16's range ({FP16_LARGEST:g}); use fp32, bf16 or int8")
    with warnings.catch_warnings():
        # Both calls are marked deprecated with the quantized tensors (not replaced yet) and warn once per process:
        # one product here spends that warning, so the decoding steps never pay for a warnings filter.
        warnings.simplefilter("ignore", UserWarning)
        packed = torch.fbgemm_pack_gemm_matrix_fp16(weight.t().contiguous().float())  # packs [N, K]
        # Through the Python binding, whose warning the filter sees (the overload's goes straight to stderr).
        torch.fbgemm_linear_fp16_weight_fp32_activation(torch.zeros(1, weight.shape[0]), packed, None)
    return packed


def _int8_packed(weight: torch.Tensor, bias: torch.Tensor | None = None):
    """W [K, N] (and bias [N], kept fp32) as FBGEMM's packed int8 weight: symmetric, one scale per output column (max |w| / 127)."""
    columns = weight.t().contiguous()  # [N, K]
    scales = columns.abs().amax(dim=1).clamp_min(torch.finfo(torch.float32).tiny).double() / 127.0  # [N]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # quantized tensors are marked deprecated; the kernels are not replaced yet
        quantized = torch.quantize_per_channel(columns, scales, torch.zeros(len(scales), dtype=torch.long), 0, torch.qint8)
        try:
            return torch.ops.quantized.linear_prepack(quantized, None if bias is None else bias.float().contiguous())
        except RuntimeError as error:
            raise PrecisionError(f"int8 decoding needs PyTorch's FBGEMM quantized engine, which this build lacks ({error}); "
                                 "use fp32") from error


class AdaptiveProjection:
    """The last product of a decoder's step for a model with an adaptive softmax (``lstmgen.model.adaptive``):
    out [n, V] = the exact log-probabilities from h [n, H], the banned ids at -inf. Its weights stay fp32 at every
    precision (its head is a small product and its clusters narrow ones)."""

    def __init__(self, output: torch.nn.AdaptiveLogSoftmaxWithLoss, banned: torch.Tensor | None) -> None:
        self.output, self.banned = output, banned

    def __call__(self, x: torch.Tensor, out: torch.Tensor, accumulate: bool = False) -> torch.Tensor:
        with torch.no_grad():
            out.copy_(self.output.log_prob(x))  # [n, V]
            if self.banned is not None:
                out.index_fill_(1, self.banned, float("-inf"))
        return out


def output_projection(model: torch.nn.Module, banned, precision: str) -> "Projection | AdaptiveProjection":
    """The decoder's h [n, H] -> logits [n, V] for ``model`` at ``precision``, the ``banned`` ids at -inf: its
    output layer as one product (W [H, V], a -inf bias masking the banned ids for free), or its adaptive softmax."""
    device = device_of(model)
    banned_ids = torch.as_tensor(list(banned), dtype=torch.long, device=device) if len(banned) else None
    if getattr(model, "adaptive", False):
        return AdaptiveProjection(model.output, banned_ids)
    output_bias = model.output.bias.detach().clone()
    if banned_ids is not None:
        output_bias[banned_ids] = float("-inf")
    return Projection(model.output.weight.detach().t(), output_bias, precision)  # [H, V]
