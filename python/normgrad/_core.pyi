"""
normgrad: strided tensors, reverse-mode autograd, GPT with swappable norms
"""

from collections.abc import Callable, Mapping, Sequence, Set
from typing import Annotated, overload

from numpy.typing import NDArray

from normgrad._core import nn as nn, optim as optim


class Error(RuntimeError):
    pass

class no_grad:
    """Context manager: no autograd recording inside the block."""

    def __init__(self) -> None: ...

    def __enter__(self) -> None: ...

    def __exit__(self, exc_type: object | None, exc: object | None, traceback: object | None) -> None: ...

def is_grad_enabled() -> bool: ...

def set_num_threads(n: int) -> None:
    """threads for normgrad's kernels and OpenBLAS together"""

def num_threads() -> int: ...

class Tensor:
    """A strided view of a storage, with autograd."""

    @property
    def shape(self) -> tuple: ...

    @property
    def strides(self) -> tuple:
        """strides in elements (numpy's are in bytes)"""

    @property
    def dtype(self) -> str: ...

    @property
    def device(self) -> str: ...

    @property
    def ndim(self) -> int: ...

    def numel(self) -> int: ...

    def __len__(self) -> int: ...

    def is_contiguous(self) -> bool: ...

    def contiguous(self) -> Tensor: ...

    def clone(self) -> Tensor: ...

    def detach(self) -> Tensor: ...

    def item(self) -> float: ...

    def __float__(self) -> float: ...

    def tolist(self) -> list[float]:
        """the values, row-major, as a flat list"""

    def to_numpy(self) -> NDArray:
        """
        A numpy view of the same memory (no copy); an error where none is possible (requires_grad, non-CPU). numpy_copy() copies.
        """

    def numpy_copy(self) -> object:
        """A numpy array with its own copy of the values."""

    def to(self, dtype_or_device: str) -> Tensor:
        """a dtype name (float32, float64, int64) or a device (cpu, cuda)"""

    def __repr__(self) -> str: ...

    @property
    def requires_grad(self) -> bool: ...

    @requires_grad.setter
    def requires_grad(self, arg: bool, /) -> None: ...

    @property
    def grad(self) -> Tensor | None: ...

    @property
    def is_leaf(self) -> bool: ...

    @property
    def grad_fn(self) -> str: ...

    def zero_grad(self) -> None: ...

    def retain_grad(self) -> None: ...

    def backward(self, grad: Tensor | None = None, retain_graph: bool = False, create_graph: bool = False) -> None: ...

    def reshape(self, shape: Sequence[int]) -> Tensor: ...

    def view(self, shape: Sequence[int]) -> Tensor: ...

    def transpose(self, dim0: int, dim1: int) -> Tensor: ...

    def t(self) -> Tensor: ...

    @property
    def T(self) -> Tensor: ...

    def permute(self, dims: Sequence[int]) -> Tensor: ...

    def narrow(self, dim: int, start: int, length: int) -> Tensor: ...

    def select(self, dim: int, index: int) -> Tensor: ...

    def slice(self, dim: int, start: int, end: int, step: int = 1) -> Tensor: ...

    def __getitem__(self, key: object) -> Tensor:
        """
        numpy's basic indexing (ints, slices, None, ...): a view sharing storage, except along a negative step (a copy: strides are non-negative)
        """

    def __setitem__(self, key: object, value: object) -> None:
        """
        writes a Tensor (broadcast, converted to this dtype) or a number into the view x[key]; refused on a tensor that needs grad outside no_grad, and along a negative step
        """

    def expand(self, shape: Sequence[int]) -> Tensor: ...

    def squeeze(self, dim: int | None = None) -> Tensor: ...

    def unsqueeze(self, dim: int) -> Tensor: ...

    def flatten(self) -> Tensor: ...

    def norm(self) -> Tensor: ...

    @overload
    def __add__(self, arg: Tensor, /) -> Tensor: ...

    @overload
    def __add__(self, arg: float, /) -> Tensor: ...

    def __radd__(self, arg: float, /) -> Tensor: ...

    @overload
    def __sub__(self, arg: Tensor, /) -> Tensor: ...

    @overload
    def __sub__(self, arg: float, /) -> Tensor: ...

    def __rsub__(self, arg: float, /) -> Tensor: ...

    @overload
    def __mul__(self, arg: Tensor, /) -> Tensor: ...

    @overload
    def __mul__(self, arg: float, /) -> Tensor: ...

    def __rmul__(self, arg: float, /) -> Tensor: ...

    @overload
    def __truediv__(self, arg: Tensor, /) -> Tensor: ...

    @overload
    def __truediv__(self, arg: float, /) -> Tensor: ...

    def __rtruediv__(self, arg: float, /) -> Tensor: ...

    def __neg__(self) -> Tensor: ...

    def __pow__(self, arg: float, /) -> Tensor: ...

    def __matmul__(self, arg: Tensor, /) -> Tensor: ...

    def neg(self) -> Tensor: ...

    def exp(self) -> Tensor: ...

    def log(self) -> Tensor: ...

    def sqrt(self) -> Tensor: ...

    def rsqrt(self) -> Tensor: ...

    def abs(self) -> Tensor: ...

    def square(self) -> Tensor: ...

    def tanh(self) -> Tensor: ...

    def sigmoid(self) -> Tensor: ...

    def relu(self) -> Tensor: ...

    def silu(self) -> Tensor: ...

    def erf(self) -> Tensor: ...

    def softplus(self) -> Tensor: ...

    def sum(self, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

    def mean(self, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

    def max(self, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

    def min(self, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

    def softmax(self, dim: int) -> Tensor: ...

    def log_softmax(self, dim: int) -> Tensor: ...

def neg(x: Tensor) -> Tensor: ...

def exp(x: Tensor) -> Tensor: ...

def log(x: Tensor) -> Tensor: ...

def sqrt(x: Tensor) -> Tensor: ...

def rsqrt(x: Tensor) -> Tensor: ...

def abs(x: Tensor) -> Tensor: ...

def square(x: Tensor) -> Tensor: ...

def tanh(x: Tensor) -> Tensor: ...

def sigmoid(x: Tensor) -> Tensor: ...

def relu(x: Tensor) -> Tensor: ...

def silu(x: Tensor) -> Tensor: ...

def erf(x: Tensor) -> Tensor: ...

def softplus(x: Tensor) -> Tensor: ...

def add(a: Tensor, b: Tensor) -> Tensor: ...

def sub(a: Tensor, b: Tensor) -> Tensor: ...

def mul(a: Tensor, b: Tensor) -> Tensor: ...

def div(a: Tensor, b: Tensor) -> Tensor: ...

def maximum(a: Tensor, b: Tensor) -> Tensor: ...

def minimum(a: Tensor, b: Tensor) -> Tensor: ...

def matmul(a: Tensor, b: Tensor) -> Tensor: ...

def sum(x: Tensor, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

def mean(x: Tensor, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

def max(x: Tensor, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

def min(x: Tensor, dims: object | None = None, keepdim: bool = False) -> Tensor: ...

def var(x: Tensor, dims: object | None = None, correction: int = 1, keepdim: bool = False) -> Tensor: ...

def pow(x: Tensor, exponent: float) -> Tensor: ...

def clamp(x: Tensor, lo: float | None = None, hi: float | None = None) -> Tensor: ...

def gelu(x: Tensor, tanh: bool = False) -> Tensor: ...

def softmax(x: Tensor, dim: int) -> Tensor: ...

def log_softmax(x: Tensor, dim: int) -> Tensor: ...

def cross_entropy(logits: Tensor, target: Tensor, ignore_index: int = -100, reduction: str = 'mean') -> Tensor: ...

def linear(x: Tensor, weight: Tensor, bias: Tensor) -> Tensor: ...

def cat(tensors: Sequence[Tensor], dim: int = 0) -> Tensor: ...

def stack(tensors: Sequence[Tensor], dim: int = 0) -> Tensor: ...

def zeros(shape: Sequence[int], dtype: str = 'float32', requires_grad: bool = False) -> Tensor: ...

def ones(shape: Sequence[int], dtype: str = 'float32', requires_grad: bool = False) -> Tensor: ...

def full(shape: Sequence[int], value: float, dtype: str = 'float32', requires_grad: bool = False) -> Tensor: ...

def randn(shape: Sequence[int], dtype: str = 'float32', requires_grad: bool = False) -> Tensor:
    """normal samples from the global generator (manual_seed)"""

def rand(shape: Sequence[int], dtype: str = 'float32', requires_grad: bool = False) -> Tensor: ...

def arange(start: float, end: float, step: float = 1.0, dtype: str = 'float32') -> Tensor: ...

def manual_seed(seed: int) -> None: ...

def from_numpy(array: Annotated[NDArray, dict(device='cpu')]) -> Tensor:
    """
    A tensor over the array's memory (no copy): float32, float64 or int64, non-negative strides, writable; anything else is an error (normgrad.tensor copies).
    """

class GradcheckResult:
    @property
    def ok(self) -> bool: ...

    @property
    def message(self) -> str: ...

    def __bool__(self) -> bool: ...

    def __repr__(self) -> str: ...

def gradcheck(f: Callable, inputs: Sequence[Tensor], eps: float = 1e-06, atol: float = 1e-05, rtol: float = 0.001) -> GradcheckResult:
    """Finite differences vs backward for f(*inputs) (use float64 inputs)."""

class TrainConfig:
    """
    A training run's configuration: the command's flags, one attribute each (TrainConfig(max_steps=50, norm='dyt')).
    """

    def __init__(self, **kwargs) -> None: ...

    @property
    def out(self) -> str:
        """output folder: checkpoint, metrics.jsonl, probes.jsonl"""

    @out.setter
    def out(self, arg: str, /) -> None: ...

    @property
    def threads(self) -> int:
        """
        threads for our kernels and OpenBLAS (0: the count measured fastest for this model on this machine, kept per model shape)
        """

    @threads.setter
    def threads(self, arg: int, /) -> None: ...

    @property
    def device(self) -> str:
        """cpu or cuda"""

    @device.setter
    def device(self, arg: str, /) -> None: ...

    @property
    def resume(self) -> bool:
        """continue OUT/ckpt.safetensors with its saved settings"""

    @resume.setter
    def resume(self, arg: bool, /) -> None: ...

    @property
    def overwrite(self) -> bool:
        """
        a new run replaces the files of an old one in OUT (checkpoint, metrics, probes, TensorBoard events, train.log, outcome.json); without it a new run refuses such a folder
        """

    @overwrite.setter
    def overwrite(self, arg: bool, /) -> None: ...

    @property
    def stop_at(self) -> int:
        """stop with a checkpoint at this step (schedule unchanged)"""

    @stop_at.setter
    def stop_at(self, arg: int, /) -> None: ...

    @property
    def quiet(self) -> bool:
        """no progress output"""

    @quiet.setter
    def quiet(self, arg: bool, /) -> None: ...

    @property
    def tensorboard(self) -> bool:
        """
        TensorBoard event files in OUT: losses, lr, gradient norm, tokens/s, every probe
        """

    @tensorboard.setter
    def tensorboard(self, arg: bool, /) -> None: ...

    @property
    def data(self) -> str:
        """
        UTF-8 text file, or a token file (.bin: nanoGPT uint16 or llm.c) (default: the built-in fortunes corpus)
        """

    @data.setter
    def data(self, arg: str, /) -> None: ...

    @property
    def val_data(self) -> str:
        """
        validation file, text or token file read with the same tokenizer: all of --data trains and this file is the validation split (nanoGPT's train.bin / val.bin) (default: the last 10% of --data)
        """

    @val_data.setter
    def val_data(self, arg: str, /) -> None: ...

    @property
    def tokenizer(self) -> str:
        """
        GPT-2 byte-level BPE: a folder with vocab.json + merges.txt (or tokenizer.json) (default: characters)
        """

    @tokenizer.setter
    def tokenizer(self, arg: str, /) -> None: ...

    @property
    def vocab_size(self) -> int:
        """
        vocabulary of token-file data without --tokenizer (0: the largest id + 1)
        """

    @vocab_size.setter
    def vocab_size(self, arg: int, /) -> None: ...

    @property
    def init_from(self) -> str:
        """
        start from this checkpoint's weights and tokenizer (fine-tuning, e.g. an imported GPT-2)
        """

    @init_from.setter
    def init_from(self, arg: str, /) -> None: ...

    @property
    def seed(self) -> int:
        """seed for init, batches and dropout"""

    @seed.setter
    def seed(self, arg: int, /) -> None: ...

    @property
    def n_layer(self) -> int:
        """transformer blocks"""

    @n_layer.setter
    def n_layer(self, arg: int, /) -> None: ...

    @property
    def n_head(self) -> int:
        """attention heads"""

    @n_head.setter
    def n_head(self, arg: int, /) -> None: ...

    @property
    def n_embd(self) -> int:
        """width of the residual stream"""

    @n_embd.setter
    def n_embd(self, arg: int, /) -> None: ...

    @property
    def block_size(self) -> int:
        """context length in tokens"""

    @block_size.setter
    def block_size(self, arg: int, /) -> None: ...

    @property
    def dropout(self) -> float:
        """dropout probability"""

    @dropout.setter
    def dropout(self, arg: float, /) -> None: ...

    @property
    def bias(self) -> bool:
        """biases in Linear layers"""

    @bias.setter
    def bias(self, arg: bool, /) -> None: ...

    @property
    def gelu(self) -> str:
        """the MLP's GELU: exact (erf) or tanh (GPT-2's gelu_new)"""

    @gelu.setter
    def gelu(self, arg: str, /) -> None: ...

    @property
    def norm(self) -> str:
        """norm kind at every position"""

    @norm.setter
    def norm(self, arg: str, /) -> None: ...

    @property
    def norm_attn(self) -> str:
        """override for the attention-position norm (ln_1)"""

    @norm_attn.setter
    def norm_attn(self, arg: str, /) -> None: ...

    @property
    def norm_mlp(self) -> str:
        """override for the MLP-position norm (ln_2)"""

    @norm_mlp.setter
    def norm_mlp(self, arg: str, /) -> None: ...

    @property
    def norm_final(self) -> str:
        """override for the final norm (ln_f)"""

    @norm_final.setter
    def norm_final(self, arg: str, /) -> None: ...

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
    def alpha0_attn(self) -> float | None:
        """alpha0 at attention positions (Zhu et al.'s LLM recipe)"""

    @alpha0_attn.setter
    def alpha0_attn(self, arg: float | None, /) -> None: ...

    @property
    def alpha0_other(self) -> float | None:
        """alpha0 at MLP and final positions (Zhu et al.'s LLM recipe)"""

    @alpha0_other.setter
    def alpha0_other(self, arg: float | None, /) -> None: ...

    @property
    def embed_scale(self) -> bool:
        """
        learnable scalar after the token embedding, init sqrt(n_embd) (Zhu et al.'s LLaMA recipe)
        """

    @embed_scale.setter
    def embed_scale(self, arg: bool, /) -> None: ...

    @property
    def batch(self) -> int:
        """sequences per micro-batch (per step without --grad-accum)"""

    @batch.setter
    def batch(self, arg: int, /) -> None: ...

    @property
    def grad_accum(self) -> int:
        """
        micro-batches of --batch sequences per optimizer step, gradients accumulated: the effective batch is batch x grad_accum (nanoGPT's gradient_accumulation_steps)
        """

    @grad_accum.setter
    def grad_accum(self, arg: int, /) -> None: ...

    @property
    def max_steps(self) -> int:
        """training steps (the schedule's length)"""

    @max_steps.setter
    def max_steps(self, arg: int, /) -> None: ...

    @property
    def warmup(self) -> int:
        """linear warmup steps"""

    @warmup.setter
    def warmup(self, arg: int, /) -> None: ...

    @property
    def lr(self) -> float:
        """peak learning rate (cosine to min_lr)"""

    @lr.setter
    def lr(self, arg: float, /) -> None: ...

    @property
    def min_lr(self) -> float | None:
        """
        final learning rate (unset: lr / 10, so that every lr decays by the same factor)
        """

    @min_lr.setter
    def min_lr(self, arg: float | None, /) -> None: ...

    @property
    def weight_decay(self) -> float:
        """AdamW decoupled weight decay (matrices only)"""

    @weight_decay.setter
    def weight_decay(self, arg: float, /) -> None: ...

    @property
    def beta1(self) -> float:
        """AdamW beta1"""

    @beta1.setter
    def beta1(self, arg: float, /) -> None: ...

    @property
    def beta2(self) -> float:
        """AdamW beta2"""

    @beta2.setter
    def beta2(self, arg: float, /) -> None: ...

    @property
    def grad_clip(self) -> float:
        """clip the global gradient norm"""

    @grad_clip.setter
    def grad_clip(self, arg: float, /) -> None: ...

    @property
    def scalar_lr_scale(self) -> float:
        """lr multiplier for norm scalars"""

    @scalar_lr_scale.setter
    def scalar_lr_scale(self, arg: float, /) -> None: ...

    @property
    def precision(self) -> str:
        """
        matrix products: fp32, tf32 (operands rounded to 10 mantissa bits: TF32 tensor cores on a GPU, emulated on the CPU) or bf16 (operands rounded to bfloat16); float32 accumulation; weights, AdamW state, norms, softmax and attention stay float32
        """

    @precision.setter
    def precision(self, arg: str, /) -> None: ...

    @property
    def eval_interval(self) -> int:
        """evaluate every N steps"""

    @eval_interval.setter
    def eval_interval(self, arg: int, /) -> None: ...

    @property
    def eval_iters(self) -> int:
        """batches per evaluation"""

    @eval_iters.setter
    def eval_iters(self, arg: int, /) -> None: ...

    @property
    def log_interval(self) -> int:
        """print every N steps (non-terminal output)"""

    @log_interval.setter
    def log_interval(self, arg: int, /) -> None: ...

    @property
    def ckpt_interval(self) -> int:
        """checkpoint every N steps"""

    @ckpt_interval.setter
    def ckpt_interval(self, arg: int, /) -> None: ...

    @property
    def probe_interval(self) -> int:
        """record probes to OUT/probes.jsonl every N steps (0: off)"""

    @probe_interval.setter
    def probe_interval(self, arg: int, /) -> None: ...

    @property
    def sample_interval(self) -> int:
        """print a 200-token sample every N steps, also to TensorBoard (0: off)"""

    @sample_interval.setter
    def sample_interval(self, arg: int, /) -> None: ...

    @property
    def final_lr(self) -> float:
        """the cosine's floor: min_lr when set, else lr / 10"""

    @property
    def kind_options(self) -> dict[str, float]: ...

    @kind_options.setter
    def kind_options(self, arg: Mapping[str, float], /) -> None: ...

    @property
    def given(self) -> set[str]: ...

    @given.setter
    def given(self, arg: Set[str], /) -> None: ...

    def set(self, key: str, value: object) -> None: ...

    def validate(self) -> None: ...

    def to_json(self) -> str: ...

    @staticmethod
    def from_json(json: str) -> TrainConfig: ...

    def describe(self) -> str: ...

    def to_flags(self) -> list[str]:
        """the flags that reproduce this config with `normgrad train`"""

    @staticmethod
    def field_names() -> list[str]: ...

    def __repr__(self) -> str: ...

class TrainResult:
    @property
    def steps(self) -> int: ...

    @property
    def final_train_loss(self) -> float: ...

    @property
    def final_val_loss(self) -> float: ...

    @property
    def seconds(self) -> float: ...

    @property
    def tokens_per_s(self) -> float: ...

    @property
    def train_seconds(self) -> float: ...

    @property
    def probe_seconds(self) -> float: ...

    @property
    def eval_seconds(self) -> float: ...

    @property
    def diverged(self) -> bool: ...

    @property
    def interrupted(self) -> bool: ...

    @property
    def signal(self) -> int: ...

    @property
    def message(self) -> str: ...

    def __repr__(self) -> str: ...

def train(cfg: TrainConfig, on_step: Callable | None = None) -> object:
    """
    Trains as `normgrad train` does (checkpoint and metrics in cfg.out). on_step(step, loss, probes) runs after each step; probes is the probe record (a dict) at probe steps, else None. Returns a TrainResult. Ctrl-C (SIGINT) finishes the step, saves the checkpoint (resume with cfg.resume = True) and raises KeyboardInterrupt (its .result: the TrainResult); SIGTERM or SIGHUP do the same but return the result (interrupted).
    """

def save_safetensors(path: str, tensors: Mapping[str, Tensor], metadata: Mapping[str, str] | None = None) -> None:
    """
    Writes tensors (name -> Tensor) and metadata (str -> str) atomically (temp + rename).
    """

def load_safetensors(path: str) -> tuple[dict[str, Tensor], dict[str, str]]:
    """
    (tensors, metadata) of a safetensors file, every size and offset checked.
    """

def save_checkpoint(path: str, model: nn.Module, optimizer: optim.Optimizer | None = None, metadata: Mapping[str, str] | None = None) -> None:
    """
    Model tensors under their names, optimizer state under 'optim.', one safetensors file.
    """

def load_checkpoint(path: str, model: nn.Module, optimizer: optim.Optimizer | None = None) -> dict[str, str]:
    """
    Loads save_checkpoint's file into model (strict) and optimizer; returns its metadata.
    """

class Tokenizer:
    """A run's tokenizer: characters, GPT-2 BPE or bare token ids."""

    @staticmethod
    def chars(text: str) -> Tokenizer:
        """every distinct character of text, sorted, is a token"""

    @staticmethod
    def gpt2_bpe(path: str) -> Tokenizer:
        """
        GPT-2 BPE from a folder with vocab.json + merges.txt, or tokenizer.json
        """

    @staticmethod
    def ids(vocab: int) -> Tokenizer: ...

    @property
    def kind(self) -> str: ...

    def __len__(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def __repr__(self) -> str: ...

class SavedRun:
    """A checkpoint of `normgrad train` (or import, convert) with its model."""

    @property
    def path(self) -> str: ...

    @property
    def config(self) -> TrainConfig: ...

    @property
    def tokenizer(self) -> Tokenizer: ...

    @property
    def step(self) -> int: ...

    @property
    def metadata(self) -> dict[str, str]: ...

    @property
    def model(self) -> nn.GPT:
        """the GPT, on the host, in eval mode"""

def read_saved_run(path: str) -> SavedRun:
    """
    A checkpoint written by `normgrad train`, checked as `normgrad eval` checks it, with its model rebuilt: read_saved_run(p).model(ids) gives the logits eval computes.
    """

class RunOutcome:
    @property
    def variant(self) -> str: ...

    @property
    def out(self) -> str: ...

    @property
    def seed(self) -> int: ...

    @property
    def steps(self) -> int: ...

    @property
    def train_loss(self) -> float: ...

    @property
    def val_loss(self) -> float: ...

    @property
    def tokens_per_s(self) -> float: ...

    @property
    def label(self) -> str: ...

    @property
    def evidence(self) -> str: ...

    def __repr__(self) -> str: ...

class CompareResult:
    @property
    def runs(self) -> list[RunOutcome]: ...

    @property
    def unigram(self) -> float: ...

    @property
    def figures(self) -> bool: ...

    @property
    def interrupted(self) -> bool: ...

class Stats:
    @property
    def mean(self) -> float: ...

    @property
    def sd(self) -> float: ...

    @property
    def n(self) -> int: ...

class SweepCell:
    @property
    def variant(self) -> str: ...

    @property
    def value(self) -> str: ...

    @property
    def width(self) -> int: ...

    @property
    def layers(self) -> int: ...

    @property
    def runs(self) -> list[RunOutcome]: ...

    @property
    def val(self) -> Stats: ...

    @property
    def labels(self) -> str: ...

    @property
    def best(self) -> bool: ...

class SweepResult:
    @property
    def cells(self) -> list[SweepCell]: ...

    @property
    def unigram(self) -> float: ...

    @property
    def ran(self) -> int: ...

    @property
    def reused(self) -> int: ...

    @property
    def interrupted(self) -> bool: ...

    @property
    def figures(self) -> bool: ...

    @property
    def finding(self) -> str: ...

class SurgeryRow:
    @property
    def target(self) -> str: ...

    @property
    def init(self) -> str: ...

    @property
    def after(self) -> float: ...

    @property
    def after_norm_ft(self) -> float: ...

    @property
    def after_all_ft(self) -> float: ...

    @property
    def scalars(self) -> dict[str, dict[str, float]]: ...

class PerLayerRow:
    @property
    def target(self) -> str: ...

    @property
    def position(self) -> str: ...

    @property
    def init(self) -> str: ...

    @property
    def after(self) -> float: ...

class ConvertResult:
    @property
    def source_kind(self) -> str: ...

    @property
    def before(self) -> float: ...

    @property
    def unigram(self) -> float: ...

    @property
    def rows(self) -> list[SurgeryRow]: ...

    @property
    def per_layer(self) -> list[PerLayerRow]: ...

    @property
    def figures(self) -> bool: ...

def set_script_dir(dir: str) -> None:
    """
    Where compare, sweep and convert find their figure scripts first (plot_report.py, ...); the package sets its own folder on import.
    """

def compare(base: TrainConfig, variants: Sequence[str] | None = None, seeds: int = 3, dir: str = 'report', jobs: int = 1, exe: str | None = None, figures: bool = True) -> object:
    """
    `normgrad compare`: each variant spec (as on the command line: 'dyt', 'dyt:alpha0=0.2,lr=3e-3', ...; None: the default list) trained with seeds base.seed + k, then the report (and figures, where matplotlib is there) in dir. jobs > 1: that many runs at a time, each a single-threaded `normgrad train` process (exe, else normgrad on PATH), with the same numbers as jobs=1. figures=False: the report without figures (a few seconds sooner). Ctrl-C: KeyboardInterrupt once the report is written.
    """

def sweep(base: TrainConfig, variants: Sequence[str] | None = None, param: str = 'alpha0', values: Sequence[str] = [], widths: Sequence[int] = [], layers: Sequence[int] = [], seeds: int = 2, dir: str = 'sweep', jobs: int = 1, exe: str | None = None, figures: bool = True) -> object:
    """
    `normgrad sweep`: variants (specs as on the command line; None: dyt:scale=sqrtc) x values of param x widths (n_embd) x layers (n_layer), seeds each; empty lists take the command's defaults (0.5 .. 16; 64, 128, 256; base.n_layer). Resumable like the command. jobs > 1: parallel `normgrad train` processes, as compare; figures as compare.
    """

class ConvertOptions:
    """`normgrad convert`'s flags, one attribute each."""

    def __init__(self) -> None: ...

    @property
    def ckpt(self) -> str: ...

    @ckpt.setter
    def ckpt(self, arg: str, /) -> None: ...

    @property
    def to(self) -> list[str]: ...

    @to.setter
    def to(self, arg: Sequence[str], /) -> None: ...

    @property
    def at(self) -> str: ...

    @at.setter
    def at(self, arg: str, /) -> None: ...

    @property
    def inits(self) -> list[str]: ...

    @inits.setter
    def inits(self, arg: Sequence[str], /) -> None: ...

    @property
    def scale(self) -> str: ...

    @scale.setter
    def scale(self, arg: str, /) -> None: ...

    @property
    def steps(self) -> int: ...

    @steps.setter
    def steps(self, arg: int, /) -> None: ...

    @property
    def lr(self) -> float: ...

    @lr.setter
    def lr(self, arg: float, /) -> None: ...

    @property
    def eval_batches(self) -> int: ...

    @eval_batches.setter
    def eval_batches(self, arg: int, /) -> None: ...

    @property
    def stats_batches(self) -> int: ...

    @stats_batches.setter
    def stats_batches(self, arg: int, /) -> None: ...

    @property
    def per_layer(self) -> bool: ...

    @per_layer.setter
    def per_layer(self, arg: bool, /) -> None: ...

    @property
    def data(self) -> str: ...

    @data.setter
    def data(self, arg: str, /) -> None: ...

    @property
    def dir(self) -> str: ...

    @dir.setter
    def dir(self, arg: str, /) -> None: ...

    @property
    def tensorboard(self) -> bool: ...

    @tensorboard.setter
    def tensorboard(self, arg: bool, /) -> None: ...

    @property
    def quiet(self) -> bool: ...

    @quiet.setter
    def quiet(self, arg: bool, /) -> None: ...

    @property
    def figures(self) -> bool: ...

    @figures.setter
    def figures(self, arg: bool, /) -> None: ...

    @property
    def device(self) -> str: ...

    @device.setter
    def device(self, arg: str, /) -> None: ...

def convert(ckpt: str, **kwargs) -> ConvertResult:
    """
    `normgrad convert`: norm surgery on a layernorm or rmsnorm checkpoint; keyword arguments are ConvertOptions fields (to=['dyt'], at='all', inits=['stats'], steps=20, dir='surgery', ...). The report (and figures, where matplotlib is there) goes in dir.
    """
