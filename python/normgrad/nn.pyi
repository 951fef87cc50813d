"""Modules: GPT and the norm layers of the registry"""

from collections.abc import Mapping

import normgrad._core


class NormOptions:
    def __init__(self) -> None: ...

    @property
    def eps(self) -> float:
        """LayerNorm/RMSNorm eps"""

    @eps.setter
    def eps(self, arg: float, /) -> None: ...

    @property
    def alpha0(self) -> float:
        """DyT/Derf initial alpha (Zhu et al.: 0.5)"""

    @alpha0.setter
    def alpha0(self, arg: float, /) -> None: ...

    @property
    def beta0(self) -> float | None:
        """
        DyISRU initial beta (default 1/alpha0^2: DyT's slope at 0, Stollenwerk)
        """

    @beta0.setter
    def beta0(self, arg: float | None, /) -> None: ...

    @property
    def plain_beta(self) -> bool:
        """
        DyISRU learns beta itself (an error if it leaves (0, inf)), not beta_raw with beta = softplus(beta_raw)
        """

    @plain_beta.setter
    def plain_beta(self, arg: bool, /) -> None: ...

    @property
    def shift0(self) -> float:
        """Derf initial shift"""

    @shift0.setter
    def shift0(self, arg: float, /) -> None: ...

    @property
    def taper_start(self) -> int:
        """TaperNorm: gate 1 before this step, EMA-calibrated at it"""

    @taper_start.setter
    def taper_start(self, arg: int, /) -> None: ...

    @property
    def taper_steps(self) -> int:
        """TaperNorm: cosine decay of the gate to 0 over N steps"""

    @taper_steps.setter
    def taper_steps(self, arg: int, /) -> None: ...

    @property
    def scale(self) -> str:
        """
        element-wise norms' output: one = weight * f(x) (Zhu et al.), sqrtc = weight * sqrt(C) * f(x), bounded like RMSNorm (Stollenwerk)
        """

    @scale.setter
    def scale(self, arg: str, /) -> None: ...

    @property
    def affine(self) -> bool: ...

    @affine.setter
    def affine(self, arg: bool, /) -> None: ...

    @property
    def bias(self) -> bool: ...

    @bias.setter
    def bias(self, arg: bool, /) -> None: ...

    @property
    def extra(self) -> dict[str, float]:
        """kind-declared options that differ from their init"""

    @extra.setter
    def extra(self, arg: Mapping[str, float], /) -> None: ...

    def get(self, name: str) -> float: ...

    def set(self, name: str, value: float) -> None: ...

def norm_kinds() -> list[str]:
    """The names of every registered norm kind."""

def norm_option_names() -> list[str]:
    """The options kinds declare themselves (set them as keyword arguments)."""

class LoadReport:
    @property
    def missing(self) -> list[str]: ...

    @property
    def unexpected(self) -> list[str]: ...

    @property
    def mismatched(self) -> list[str]: ...

    def ok(self) -> bool: ...

    def __bool__(self) -> bool: ...

    def __repr__(self) -> str: ...

class Module:
    def forward(self, x: normgrad._core.Tensor) -> normgrad._core.Tensor: ...

    def __call__(self, x: normgrad._core.Tensor) -> normgrad._core.Tensor: ...

    def named_parameters(self) -> dict: ...

    def named_buffers(self) -> dict: ...

    def state_dict(self) -> dict[str, normgrad._core.Tensor]:
        """
        name -> Tensor (parameters and buffers), detached, sharing their storage
        """

    def load_state_dict(self, state_dict: Mapping[str, normgrad._core.Tensor], strict: bool = True) -> LoadReport:
        """
        Copies values in (handles stay valid). strict: any missing, unexpected or mis-shaped name is an error naming them all; otherwise the returned LoadReport lists them.
        """

    def parameters(self) -> list[normgrad._core.Tensor]: ...

    def num_parameters(self) -> int: ...

    def zero_grad(self) -> None: ...

    def train(self, on: bool = True) -> None: ...

    def eval(self) -> None: ...

    @property
    def training(self) -> bool: ...

    def to(self, dtype_or_device: str) -> None: ...

class Norm(Module):
    def __init__(self, kind: str, channels: int, **kwargs) -> None:
        """
        A norm layer of a registered kind (nn.norm_kinds()); keyword arguments are NormOptions fields or kind-declared options.
        """

    @property
    def kind(self) -> str: ...

    @property
    def channels(self) -> int: ...

    @property
    def options(self) -> NormOptions: ...

    @property
    def weight(self) -> normgrad._core.Tensor | None: ...

    @property
    def bias(self) -> normgrad._core.Tensor | None: ...

    @property
    def raw_scalars(self) -> list[normgrad._core.Tensor]: ...

    def normalize(self, x: normgrad._core.Tensor) -> normgrad._core.Tensor: ...

    def forward_composed(self, x: normgrad._core.Tensor) -> normgrad._core.Tensor:
        """
        The layer written with composed ops: the reference for the fused forward().
        """

    def scalars(self) -> dict[str, float]: ...

class GPTConfig:
    def __init__(self) -> None: ...

    @property
    def vocab(self) -> int: ...

    @vocab.setter
    def vocab(self, arg: int, /) -> None: ...

    @property
    def n_layer(self) -> int: ...

    @n_layer.setter
    def n_layer(self, arg: int, /) -> None: ...

    @property
    def n_head(self) -> int: ...

    @n_head.setter
    def n_head(self, arg: int, /) -> None: ...

    @property
    def n_embd(self) -> int: ...

    @n_embd.setter
    def n_embd(self, arg: int, /) -> None: ...

    @property
    def block_size(self) -> int: ...

    @block_size.setter
    def block_size(self, arg: int, /) -> None: ...

    @property
    def dropout(self) -> float: ...

    @dropout.setter
    def dropout(self, arg: float, /) -> None: ...

    @property
    def bias(self) -> bool: ...

    @bias.setter
    def bias(self, arg: bool, /) -> None: ...

    @property
    def gelu(self) -> str: ...

    @gelu.setter
    def gelu(self, arg: str, /) -> None: ...

    @property
    def norm(self) -> str: ...

    @norm.setter
    def norm(self, arg: str, /) -> None: ...

    @property
    def norm_attn(self) -> str: ...

    @norm_attn.setter
    def norm_attn(self, arg: str, /) -> None: ...

    @property
    def norm_mlp(self) -> str: ...

    @norm_mlp.setter
    def norm_mlp(self, arg: str, /) -> None: ...

    @property
    def norm_final(self) -> str: ...

    @norm_final.setter
    def norm_final(self, arg: str, /) -> None: ...

    @property
    def norm_options(self) -> NormOptions: ...

    @norm_options.setter
    def norm_options(self, arg: NormOptions, /) -> None: ...

    @property
    def alpha0_attn(self) -> float | None: ...

    @alpha0_attn.setter
    def alpha0_attn(self, arg: float | None, /) -> None: ...

    @property
    def alpha0_other(self) -> float | None: ...

    @alpha0_other.setter
    def alpha0_other(self, arg: float | None, /) -> None: ...

    @property
    def embed_scale(self) -> bool: ...

    @embed_scale.setter
    def embed_scale(self, arg: bool, /) -> None: ...

    @property
    def seed(self) -> int: ...

    @seed.setter
    def seed(self, arg: int, /) -> None: ...

    @property
    def init_weights(self) -> bool: ...

    @init_weights.setter
    def init_weights(self, arg: bool, /) -> None: ...

class GPT(Module):
    def __init__(self, config: GPTConfig | None = None, **kwargs) -> None: ...

    @property
    def config(self) -> GPTConfig: ...

    def loss(self, x: normgrad._core.Tensor, y: normgrad._core.Tensor) -> normgrad._core.Tensor:
        """mean cross-entropy of next tokens y ([B, T] int64) given x"""

    def norm_positions(self) -> list[str]: ...

    def norm_at(self, position: str) -> Norm: ...
