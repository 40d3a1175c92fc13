"""Exports the packaged MiniLM weights to ONNX (and int8), offline, into an ignored cache.

    python -m bot.components.onnx_export            # both variants, for `make setup` / `make train`
    python -m bot.components.onnx_export --variant onnx-int8 --model-path DIR

The files are named by a hash of the weights, tokenizer and config plus ``EXPORTER_VERSION``, so a
new model or a changed exporter gets a new file and a stale one is never read.  Exports run under a
file lock and land by an atomic rename, so two processes starting at once export once and neither
reads half a file.  The serving process never exports in-process: it runs this module as a child
(``ensure_exported_in_child``), which keeps torch out of the Rasa server's memory.
"""

import argparse
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final, Literal, get_args

# Bump when the export below changes (opset, graph inputs, quantisation settings).
EXPORTER_VERSION: Final = 1
OPSET: Final = 17
Variant = Literal["onnx", "onnx-int8"]
FP32: Final[Variant] = "onnx"
INT8: Final[Variant] = "onnx-int8"
VARIANTS: Final[tuple[Variant, ...]] = get_args(Variant)
# Files of the model directory whose content decides the exported graph.
KEYED_FILES: Final = ("model.safetensors", "pytorch_model.bin", "config.json", "tokenizer.json")
CACHE_ENV: Final = "ATTUNE_ENCODER_CACHE"
CHILD_TIMEOUT_S: Final = 900

Exporter = Callable[[Path, Path, Variant], None]


class ExportError(RuntimeError):
    """The ONNX export could not be produced; the message says why."""


def default_cache_dir() -> Path:
    """``ATTUNE_ENCODER_CACHE`` if set, else the repository's ignored ``.cache/encoder``."""
    configured = os.environ.get(CACHE_ENV)
    return Path(configured) if configured else Path(__file__).resolve().parents[2] / ".cache" / "encoder"


def weights_key(model_dir: Path) -> str:
    """A short hash of what the export depends on: the model's files and the exporter version."""
    digest = hashlib.sha256(f"exporter={EXPORTER_VERSION};opset={OPSET}".encode())
    for name in KEYED_FILES:
        path = model_dir / name
        if not path.is_file():
            continue
        digest.update(name.encode())
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def exported_path(model_dir: Path, variant: Variant, cache_dir: Path) -> Path:
    return cache_dir / f"minilm-{variant}-{weights_key(model_dir)}.onnx"


@contextlib.contextmanager
def _locked(cache_dir: Path) -> Iterator[None]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    with (cache_dir / ".export.lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_exported(
    model_dir: Path, variant: Variant, cache_dir: Path, exporter: Exporter | None = None
) -> Path:
    """The cached ONNX file for ``model_dir`` and ``variant``, exported first if it is missing."""
    target = exported_path(model_dir, variant, cache_dir)
    if target.is_file():
        return target
    with _locked(cache_dir):
        if target.is_file():  # another process exported it while we waited for the lock
            return target
        fd, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=cache_dir)
        os.close(fd)
        try:
            (exporter or export_model)(model_dir, Path(temporary), variant)
            os.chmod(temporary, 0o644)  # mkstemp makes it owner-only; other users serve from it too
            os.replace(temporary, target)
        finally:
            Path(temporary).unlink(missing_ok=True)
    return target


def ensure_exported_in_child(model_dir: Path, variant: Variant, cache_dir: Path) -> Path:
    """Like ``ensure_exported`` but the export (torch, transformers) runs in a child process."""
    target = exported_path(model_dir, variant, cache_dir)
    if target.is_file():
        return target
    command = [sys.executable, "-m", __name__, "--variant", variant, "--model-path", str(model_dir)]
    try:
        result = subprocess.run(
            command,
            env={**os.environ, CACHE_ENV: str(cache_dir)},
            capture_output=True,
            text=True,
            timeout=CHILD_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise ExportError(f"exporting {variant} from {model_dir} took over {CHILD_TIMEOUT_S} s") from error
    if result.returncode != 0 or not target.is_file():
        tail = (result.stderr or result.stdout).strip().splitlines()[-5:]
        raise ExportError(f"exporting {variant} from {model_dir} failed: {' | '.join(tail)}")
    return target


def export_model(model_dir: Path, out: Path, variant: Variant) -> None:
    """Writes the ONNX graph of the transformer (token ids -> last hidden state) for ``variant``."""
    if variant == FP32:
        _export_fp32(model_dir, out)
        return
    with tempfile.TemporaryDirectory(prefix="attune-onnx-") as work:
        fp32 = Path(work) / "fp32.onnx"
        _export_fp32(model_dir, fp32)
        _quantise(fp32, out)


def _export_fp32(model_dir: Path, out: Path) -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import torch
    from transformers import AutoModel

    # Eager attention traces to plain MatMul/Softmax, which every ONNX Runtime build runs.
    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager").eval()

    class LastHiddenState(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(
            self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor
        ) -> torch.Tensor:
            output = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return output.last_hidden_state  # type: ignore[no-any-return]

    names = ["input_ids", "attention_mask", "token_type_ids"]
    sample = torch.ones((2, 8), dtype=torch.long)
    with torch.no_grad():
        torch.onnx.export(
            LastHiddenState(model),
            (sample, sample, torch.zeros_like(sample)),
            str(out),
            # The TorchScript exporter: the dynamo one needs onnxscript and gains nothing for BERT.
            dynamo=False,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes={name: {0: "batch", 1: "tokens"} for name in [*names, "last_hidden_state"]},
            opset_version=OPSET,
        )


def _quantise(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # Per-channel int8 weights of the dense layers (measured: per-tensor loses far more, bench/README.md).
    quantize_dynamic(
        str(fp32),
        str(out),
        op_types_to_quantize=["MatMul"],
        per_channel=True,
        weight_type=QuantType.QInt8,
    )


def main(argv: list[str] | None = None) -> int:
    from bot.components.sentence_encoder import EncoderUnavailableError, resolve_model_path

    parser = argparse.ArgumentParser(prog="python -m bot.components.onnx_export", description=__doc__)
    parser.add_argument("--variant", choices=[*VARIANTS, "all"], default="all")
    parser.add_argument("--model-path", help="sentence-transformers model directory (default: packaged)")
    args = parser.parse_args(argv)
    try:
        model_dir = resolve_model_path(args.model_path)
    except EncoderUnavailableError as error:
        print(error, file=sys.stderr)
        return 2
    variants = VARIANTS if args.variant == "all" else (args.variant,)
    for variant in variants:
        print(ensure_exported(model_dir, variant, default_cache_dir()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
