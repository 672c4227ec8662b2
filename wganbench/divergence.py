"""What ends a run early: a loss or gradient that is not finite, a critic output past the bound,
or running out of memory. Each is a result (status ``diverged`` or ``failed`` with its reason),
never a crash of the pipeline.
"""

from __future__ import annotations

import math

import torch
from torch import nn



class Diverged(Exception):
    """A loss is not finite or the critic output exploded at generator iteration ``iteration``."""

    def __init__(self, message: str, iteration: int | None = None) -> None:
        super().__init__(message)
        self.iteration = iteration  # the generator iteration (1-based) that went bad


def check_finite(iteration: int, **values: torch.Tensor) -> None:
    for name, value in values.items():
        if not math.isfinite(float(value.detach())):
            raise Diverged(f"{name} is {float(value.detach())} at generator iteration {iteration + 1}", iteration + 1)


def check_bound(iteration: int, largest: float, bound: float) -> None:
    if not largest <= bound:
        raise Diverged(f"critic output magnitude {largest:.4g} exceeds divergence_bound {bound:g} "
                       f"at generator iteration {iteration + 1}", iteration + 1)


def checks_each_step(device: torch.device) -> bool:
    """On the CPU a float() of a loss costs nothing; on an accelerator it waits for the queue."""
    return device.type == "cpu"


class DivergenceGuard:
    """One member's divergence checks. ``immediate``: decided at once (the CPU). Otherwise each
    check is a flag left on the device and read at ``flush`` (log, snapshot, checkpoint
    iterations), one host synchronisation for all of them, still naming the exact first bad
    iteration; ``keep`` holds a device copy of the generator last known finite, for the samples
    of a run found diverged late."""

    def __init__(self, bound: float, immediate: bool) -> None:
        self.bound, self.immediate = bound, immediate
        self.pending: list[tuple[int, str, torch.Tensor, torch.Tensor]] = []
        self.kept: dict | None = None

    def finite(self, iteration: int, **values: torch.Tensor) -> None:
        if self.immediate:
            return check_finite(iteration, **values)
        for name, value in values.items():
            value = value.detach()
            self.pending.append((iteration, name, ~torch.isfinite(value), value))

    def bounded(self, iteration: int, largest: torch.Tensor | None) -> None:
        if largest is None:
            return
        if self.immediate:
            return check_bound(iteration, float(largest), self.bound)
        self.pending.append((iteration, "output", ~(largest <= self.bound), largest))

    def flush(self) -> None:
        if not self.pending:
            return
        flags = torch.stack([flag for _, _, flag, _ in self.pending]).tolist()
        for (iteration, name, _, value), bad in zip(self.pending, flags):
            if bad:
                self.pending.clear()
                if name == "output":
                    check_bound(iteration, float(value), self.bound)
                check_finite(iteration, **{name: value})
        self.pending.clear()

    def keep(self, generator: nn.Module) -> None:
        if not self.immediate:
            self.kept = {key: value.clone() for key, value in generator.state_dict().items()}

    def restore(self, generator: nn.Module) -> None:
        if self.kept is not None:
            generator.load_state_dict(self.kept)


class OutputMonitor:
    """Tracks the largest |critic output| of the current step through a forward hook, so the
    divergence bound holds for every loss without the losses reporting their raw outputs."""

    def __init__(self, critic: nn.Module) -> None:
        self.largest: torch.Tensor | None = None  # on the device: no host synchronisation per forward
        critic.register_forward_hook(self._hook)

    def _hook(self, module: nn.Module, inputs: object, output: torch.Tensor) -> None:
        largest = output.detach().abs().amax().float()
        # fmax ignores NaN, as the Python max of floats did (a NaN output fails the loss check)
        self.largest = torch.fmax(largest if self.largest is None else self.largest, largest)

    def reset(self) -> None:
        self.largest = None


OUT_OF_MEMORY_MARKERS = ("out of memory", "can't allocate memory", "not enough memory")


def is_out_of_memory(exc: BaseException) -> bool:
    """CUDA raises torch.OutOfMemoryError; the CPU allocator a RuntimeError saying so."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    return isinstance(exc, RuntimeError) and any(m in str(exc).lower() for m in OUT_OF_MEMORY_MARKERS)
