"""MiniLM sentence embeddings through ONNX Runtime, with no torch in the process.

Reproduces what sentence-transformers does for all-MiniLM-L6-v2: the model directory's own fast
tokenizer (truncated at ``max_seq_length``, padded to the longest text of the batch), the
transformer's last hidden state from the exported ONNX graph, mean pooling over the real tokens
and L2 normalisation.  The graph itself comes from bot/components/onnx_export.py.
"""

import json
from pathlib import Path

import numpy as np
import numpy.typing as npt

# sentence-transformers' own default when sentence_bert_config.json does not say.
DEFAULT_MAX_SEQ_LENGTH = 128


def max_seq_length(model_dir: Path) -> int:
    """Word pieces the model reads per text, as sentence-transformers configures it (256 for MiniLM)."""
    config = model_dir / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return DEFAULT_MAX_SEQ_LENGTH


class OnnxSentenceEncoder:
    """One ONNX Runtime session and one tokenizer; safe to share between threads."""

    def __init__(self, model_dir: Path, onnx_file: Path, threads: int) -> None:
        import onnxruntime
        from tokenizers import Tokenizer

        self._tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tokenizer.enable_truncation(max_length=max_seq_length(model_dir))
        # The shipped tokenizer.json pads every text to 128 pieces; pad to the batch's longest instead.
        pad_id = self._tokenizer.token_to_id("[PAD]") or 0
        self._tokenizer.enable_padding(pad_id=pad_id, pad_token="[PAD]")
        options = onnxruntime.SessionOptions()
        # Concurrent messages each encode one short text: more threads per run only contend for cores.
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
        self._session = onnxruntime.InferenceSession(
            str(onnx_file), options, providers=["CPUExecutionProvider"]
        )
        self._inputs = {item.name for item in self._session.get_inputs()}
        self._dimension = int(self._session.get_outputs()[0].shape[-1])

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed(self, texts: list[str], batch_size: int) -> npt.NDArray[np.float32]:
        """L2-normalised sentence embeddings, one row per text."""
        rows = [self._embed_batch(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
        return np.vstack(rows) if rows else np.zeros((0, self._dimension), dtype=np.float32)

    def _embed_batch(self, texts: list[str]) -> npt.NDArray[np.float32]:
        encodings = self._tokenizer.encode_batch(texts)
        input_ids = np.array([e.ids for e in encodings], dtype=np.int64)
        attention_mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {
            "input_ids": input_ids,
            "attention_mask": attention_mask,
            "token_type_ids": np.zeros_like(input_ids),
        }
        (hidden,) = self._session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        return mean_pool_normalised(np.asarray(hidden, dtype=np.float32), attention_mask)


def mean_pool_normalised(
    hidden: npt.NDArray[np.float32], attention_mask: npt.NDArray[np.int64]
) -> npt.NDArray[np.float32]:
    """sentence-transformers' mean pooling (padding excluded) followed by its Normalize module."""
    mask = attention_mask[..., None].astype(np.float32)
    summed = (hidden * mask).sum(axis=1)
    pooled = summed / np.clip(mask.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)
