"""Optimizers: AdamW"""



class Optimizer:
    def step(self) -> None: ...

    def zero_grad(self) -> None: ...

    @property
    def lr(self) -> float: ...

    @lr.setter
    def lr(self, arg: float, /) -> None: ...

    @property
    def steps(self) -> int: ...

class AdamW(Optimizer):
    def __init__(self, params: object, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-08, weight_decay: float = 0.0, scalar_lr_scale: float = 1.0) -> None: ...

def clip_grad_norm(params: object, max_norm: float) -> float:
    """clips the global gradient norm; returns it before clipping"""
