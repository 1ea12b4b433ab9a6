"""The llama-server build recipe: ISA detection, options, cache key and cache hits (no compiler run)."""

from __future__ import annotations

import io
import sys
import tarfile
from pathlib import Path

import pytest

from llmaas.engines import llama_build
from llmaas.engines.llama_build import (
    LLAMA_CPP_PYTHON_VERSION,
    build_dir_for,
    cmake_options,
    cpu_flags,
    ensure_llama_server,
    parse_build_step,
)

# Two cores of a Sapphire Rapids guest: AVX512 with VBMI/VNNI/BF16 and AMX, no AVX-VNNI on core 1.
SAPPHIRE_RAPIDS = """\
processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2 avx512f avx512dq \
avx512cd avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 avx_vnni amx_bf16 amx_tile amx_int8

processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2 avx512f avx512dq \
avx512cd avx512bw avx512vl avx512vbmi avx512_vnni avx512_bf16 amx_bf16 amx_tile amx_int8
"""

HASWELL = """\
processor\t: 0
flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 avx f16c fma bmi1 bmi2 avx2
"""

AARCH64 = """\
processor\t: 0
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics
"""


def test_cpu_flags_enable_what_every_core_has() -> None:
    flags = cpu_flags(SAPPHIRE_RAPIDS)
    on = {name for name, enabled in flags.items() if enabled}
    assert on == {
        "GGML_SSE42", "GGML_AVX", "GGML_AVX2", "GGML_FMA", "GGML_F16C", "GGML_BMI2",
        "GGML_AVX512", "GGML_AVX512_VBMI", "GGML_AVX512_VNNI", "GGML_AVX512_BF16",
    }  # fmt: skip
    assert flags["GGML_AVX_VNNI"] is False  # core 1 lacks it


def test_cpu_flags_without_avx512() -> None:
    flags = cpu_flags(HASWELL)
    assert flags["GGML_AVX2"] and flags["GGML_FMA"] and flags["GGML_BMI2"]
    assert not any(flags[name] for name in flags if name.startswith("GGML_AVX512"))


def test_avx512_extensions_need_the_full_avx512_base() -> None:
    # avx512vbmi without avx512bw cannot be compiled with ggml's -mavx512{f,cd,vl,dq,bw}.
    text = "flags\t: avx avx2 avx512f avx512cd avx512vl avx512dq avx512vbmi avx512_vnni\n"
    flags = cpu_flags(text)
    assert not flags["GGML_AVX512"]
    assert not flags["GGML_AVX512_VBMI"]
    assert not flags["GGML_AVX512_VNNI"]


def test_cpu_flags_on_other_architectures_are_all_off() -> None:
    assert not any(cpu_flags(AARCH64).values())


def test_cpu_flags_reads_this_machine() -> None:
    assert set(cpu_flags()) == set(cpu_flags(SAPPHIRE_RAPIDS))


def test_native_and_amx_are_never_enabled() -> None:
    for text in (SAPPHIRE_RAPIDS, HASWELL, AARCH64):
        options = cmake_options(cpu_flags(text))
        assert "-DGGML_NATIVE=OFF" in options
        for amx in ("GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16"):
            assert f"-D{amx}=OFF" in options
            assert f"-D{amx}=ON" not in options
    # Even a caller that asks for them gets them off: AMX kernels crashed on first decode.
    forced = cmake_options({"GGML_NATIVE": True, "GGML_AMX_INT8": True, "GGML_AVX2": True})
    assert "-DGGML_NATIVE=ON" not in forced and "-DGGML_AMX_INT8=ON" not in forced
    assert "-DGGML_AVX2=ON" in forced


def test_cmake_options_hold_the_must_haves() -> None:
    options = cmake_options(cpu_flags(SAPPHIRE_RAPIDS))
    for must in (
        "-DCMAKE_BUILD_TYPE=Release",
        "-DBUILD_SHARED_LIBS=OFF",
        "-DGGML_OPENMP=OFF",
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_SERVER=ON",
        "-DGGML_AVX512_BF16=ON",
        "-DGGML_AVX_VNNI=OFF",
    ):
        assert must in options
    assert all(option.startswith("-D") for option in options)
    assert len({option.split("=")[0] for option in options}) == len(options)  # no duplicates


def test_cache_key_follows_the_options(tmp_path: Path) -> None:
    sapphire = build_dir_for(tmp_path, options=cmake_options(cpu_flags(SAPPHIRE_RAPIDS)))
    haswell = build_dir_for(tmp_path, options=cmake_options(cpu_flags(HASWELL)))
    again = build_dir_for(tmp_path, options=cmake_options(cpu_flags(SAPPHIRE_RAPIDS)))
    assert sapphire != haswell
    assert sapphire == again
    assert sapphire.parent == tmp_path / "llama.cpp"
    assert sapphire.name.startswith(f"{LLAMA_CPP_PYTHON_VERSION}-")
    assert build_dir_for(tmp_path) == build_dir_for(tmp_path, options=cmake_options())


def _fake_binary(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho 'version: fake'\n")
    path.chmod(0o755)
    return path


def test_a_cached_binary_is_returned_without_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_build(*args: object) -> None:
        raise AssertionError("a cached llama-server must not be rebuilt")

    monkeypatch.setattr(llama_build, "_build_llama_server", no_build)
    binary = _fake_binary(build_dir_for(tmp_path) / "bin" / "llama-server")
    assert ensure_llama_server(tmp_path) == binary  # no_build above fails the test on any build
    assert not (tmp_path / "downloads").exists()


def test_a_cache_entry_without_its_binary_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    options = cmake_options(cpu_flags(HASWELL))
    build_dir = build_dir_for(tmp_path, options=options)
    (build_dir / "bin").mkdir(parents=True)  # what a failed build leaves: a log, no binary
    (tmp_path / "downloads").mkdir()
    (tmp_path / "downloads" / f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz").touch()
    calls: list[Path] = []

    def fake_build(sdist: Path, target: Path, chosen: list[str], console: object) -> None:
        calls.append(target)
        _fake_binary(target / "bin" / "llama-server")

    monkeypatch.setattr(llama_build, "_build_llama_server", fake_build)
    assert ensure_llama_server(tmp_path, options=options) == build_dir / "bin" / "llama-server"
    assert calls == [build_dir]


def test_only_the_vendored_tree_is_extracted(tmp_path: Path) -> None:
    sdist = tmp_path / "sdist.tar.gz"
    root = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}"
    with tarfile.open(sdist, "w:gz") as archive:
        for name in (
            f"{root}/setup.py",
            f"{root}/vendor/llama.cpp/CMakeLists.txt",
            f"{root}/vendor/llama.cpp/.git",
            f"{root}/vendor/llama.cpp/.github/workflows/ci.yml",
            f"{root}/vendor/llama.cpp/tools/server/server.cpp",
        ):
            data = name.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    target = tmp_path / "src"
    llama_build._extract_vendored_tree(sdist, target)
    extracted = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert extracted == [".github/workflows/ci.yml", "CMakeLists.txt", "tools/server/server.cpp"]


def test_parse_build_step() -> None:
    assert parse_build_step("[12/206] Building CXX object ggml/src/ggml.cpp.o\n") == (
        12, 206, "Building CXX object ggml/src/ggml.cpp.o",
    )  # fmt: skip
    assert parse_build_step("[ 45%] Building C object x.c.o") == (45, 100, "Building C object x.c.o")
    assert parse_build_step("-- Configuring done") is None


def test_a_failed_step_names_its_log_and_last_lines(tmp_path: Path) -> None:
    log_path = tmp_path / "build.log"
    command = [sys.executable, "-c", "print('compiling'); print('error: boom'); raise SystemExit(3)"]
    with log_path.open("w") as log, pytest.raises(RuntimeError) as failure:
        llama_build._run(
            command,
            log=log,
            log_path=log_path,
            progress=llama_build._BuildProgress(None),
            env={},
        )
    message = str(failure.value)
    assert str(log_path) in message and "error: boom" in message and "exit 3" in message
    assert "error: boom" in log_path.read_text()
