"""One place that builds ONNX Runtime sessions from a provider preference.

ONNX Runtime falls back to CPU silently when CUDA cannot be initialised; this helper checks
``session.get_providers()`` afterwards and fails loudly when CUDA was required.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import onnxruntime as ort

from .errors import ModelError, ProviderError

PROVIDER_CHOICES = ("auto", "cuda", "cpu")
_ORT_NAMES = {"cuda": "CUDAExecutionProvider", "cpu": "CPUExecutionProvider"}


@dataclass(frozen=True)
class SessionInfo:
    requested: str  # auto | cuda | cpu
    active: str  # short name of the provider that actually runs the first node: cuda | cpu
    providers: tuple[str, ...]  # what ONNX Runtime reports, in priority order
    threads: int


def available_providers() -> list[str]:
    """Short names of the providers this onnxruntime build offers (cuda only with onnxruntime-gpu)."""
    names = ort.get_available_providers()
    return [short for short, full in _ORT_NAMES.items() if full in names]


def default_threads() -> int:
    """Intra-op threads: every core (physical cores are what ORT wants; os.cpu_count is the closest)."""
    return max(1, os.cpu_count() or 1)


def make_session(path: str, provider: str = "auto", threads: int | None = None,
                 profile_prefix: str | None = None) -> tuple[ort.InferenceSession, SessionInfo]:
    """profile_prefix: turn on ONNX Runtime's profiler, writing there (bench/op_profile.py; never in the app)."""
    if provider not in PROVIDER_CHOICES:
        raise ProviderError(f"unknown provider {provider!r}; choose one of {', '.join(PROVIDER_CHOICES)}")
    offered = ort.get_available_providers()
    if provider == "cuda" and _ORT_NAMES["cuda"] not in offered:
        raise ProviderError(
            "CUDA was requested but this onnxruntime has no CUDA provider "
            "(install onnxruntime-gpu in place of onnxruntime, with a CUDA-capable driver)"
        )
    wanted = ["cpu"] if provider == "cpu" else (["cuda", "cpu"] if _ORT_NAMES["cuda"] in offered else ["cpu"])
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = threads or default_threads()
    options.log_severity_level = 3  # errors only; we report provider problems ourselves
    # no busy-waiting between parallel sections: the spinning threads took the CPU the live pipeline's other
    # stages (finishing, display) need on a 2-core machine (mid8.int8 fed faster than it runs, at a fixed 180p
    # and 216p on 2 cores: about 10 % and 20 % more frames through; docs/benchmarks.md)
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    if profile_prefix:
        options.enable_profiling = True
        options.profile_file_prefix = profile_prefix
    try:
        session = ort.InferenceSession(path, sess_options=options, providers=[_ORT_NAMES[w] for w in wanted])
    except Exception as exc:  # ORT raises its own Fail/InvalidProtobuf/NoSuchFile types
        raise ModelError(f"cannot load model {path}: {str(exc).splitlines()[0][:200]}") from None
    active_full = session.get_providers()
    active = "cuda" if active_full and active_full[0] == _ORT_NAMES["cuda"] else "cpu"
    if provider == "cuda" and active != "cuda":
        raise ProviderError("CUDA was requested but ONNX Runtime could not start it (check the driver and CUDA/cuDNN libraries); "
                            "use --provider cpu to run on the CPU")
    return session, SessionInfo(provider, active, tuple(active_full), options.intra_op_num_threads)


def session_ports(session: ort.InferenceSession) -> tuple[dict, dict]:
    """A session's (inputs, outputs) as name -> dims (an int, or None for a named size), the form
    engine/modelfile.py's check_ports reads from the file."""
    def ports(args) -> dict:
        return {a.name: None if a.shape is None else tuple(d if isinstance(d, int) else None for d in a.shape)
                for a in args}
    return ports(session.get_inputs()), ports(session.get_outputs())
