"""Choices the figure scripts share, each from the data drawn, so that they can be tested.

text_colour:     black or white annotation text, from the brightness of the cell under it.
loss_axis_scale: "log" only when the losses drawn span a factor of 3 or more; a narrow range
                 (2.7-3.4, say) on a log axis looks compressed and misleads, so it is linear.
padded_limits:   axis limits with a margin on each side in the axis's own scale (linear or
                 symlog), so that no bar or point touches the frame.
"""
import math

LOG_AXIS_MIN_RATIO = 3.0
MARGIN = 0.08  # of the data span, each side


def text_colour(rgba):
    """'white' on a dark background, 'black' on a light one (relative luminance, sRGB)."""
    r, g, b = rgba[:3]
    return "white" if 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5 else "black"


def loss_axis_scale(values):
    finite = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    if not finite:
        return "linear"
    return "log" if max(finite) / min(finite) >= LOG_AXIS_MIN_RATIO else "linear"


def _symlog(v, linthresh):
    return math.copysign(math.log10(1 + abs(v) / linthresh), v)


def _symlog_inverse(t, linthresh):
    return math.copysign(linthresh * (10 ** abs(t) - 1), t)


def padded_limits(values, scale="linear", linthresh=1e-3, include_zero=True):
    """(low, high) covering values (and 0 for bars) with MARGIN of the span on each side,
    measured in the axis's own coordinates: linear or symlog with this linthresh."""
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if include_zero:
        finite.append(0.0)
    if not finite:
        return (-1.0, 1.0)
    fwd = (lambda v: v) if scale == "linear" else (lambda v: _symlog(v, linthresh))
    inv = (lambda t: t) if scale == "linear" else (lambda t: _symlog_inverse(t, linthresh))
    lo, hi = fwd(min(finite)), fwd(max(finite))
    pad = MARGIN * (hi - lo) if hi > lo else 0.5
    # a bar's base at 0 may sit on the frame only when no value lies below it
    low = lo if include_zero and min(finite) == 0.0 else lo - pad
    return (inv(low), inv(hi + pad))
