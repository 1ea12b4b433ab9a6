"""Build llama.cpp's ``llama-server`` once, from the tree vendored in the llama-cpp-python sdist.

The sdist is an ordinary PyPI download, so an operator who can install llmaas can also build its chat
engine without reaching GitHub or Hugging Face. The result is cached outside the checkout, keyed by the
CMake options, and published with a rename so that an interrupted build never leaves a half-built entry::

    binary = ensure_llama_server(Path.home() / ".cache" / "llmaas", console=Console())
"""

from __future__ import annotations

import collections
import fcntl
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

__all__ = [
    "LLAMA_CPP_PYTHON_VERSION",
    "build_dir_for",
    "cmake_options",
    "cpu_flags",
    "ensure_llama_server",
]

LLAMA_CPP_PYTHON_VERSION = "0.3.36"

_SDIST_NAME = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}.tar.gz"
_VENDORED_PREFIX = f"llama_cpp_python-{LLAMA_CPP_PYTHON_VERSION}/vendor/llama.cpp/"
_CPUINFO = Path("/proc/cpuinfo")

_AVX512_BASE = ("avx512f", "avx512cd", "avx512vl", "avx512dq", "avx512bw")
# GGML option -> every /proc/cpuinfo flag it needs. GGML_AVX512 passes -mavx512{f,cd,vl,dq,bw},
# so all five must be present; the AVX512 extensions only make sense on top of it.
_ISA_REQUIREMENTS: dict[str, tuple[str, ...]] = {
    "GGML_SSE42": ("sse4_2",),
    "GGML_AVX": ("avx",),
    "GGML_AVX2": ("avx2",),
    "GGML_FMA": ("fma",),
    "GGML_F16C": ("f16c",),
    "GGML_BMI2": ("bmi2",),
    "GGML_AVX_VNNI": ("avx_vnni",),
    "GGML_AVX512": _AVX512_BASE,
    "GGML_AVX512_VBMI": (*_AVX512_BASE, "avx512vbmi"),
    "GGML_AVX512_VNNI": (*_AVX512_BASE, "avx512_vnni"),
    "GGML_AVX512_BF16": (*_AVX512_BASE, "avx512_bf16"),
}
# -march=native compiles ggml's AMX kernels, which segfaulted on the first decode on our build
# machine; these stay off whatever the CPU reports.
_ALWAYS_OFF = ("GGML_NATIVE", "GGML_AMX_TILE", "GGML_AMX_INT8", "GGML_AMX_BF16")

_TAIL_LINES = 25
_NINJA_STEP = re.compile(r"^\[(\d+)/(\d+)\]\s*(.*)$")
_MAKE_STEP = re.compile(r"^\[\s*(\d+)%\]\s*(.*)$")


def cpu_flags(cpuinfo: str | None = None) -> dict[str, bool]:
    """Which GGML_* instruction-set options to turn on, from the text of /proc/cpuinfo.

    A flag counts only when every core lists it, so a build never uses an instruction that one core
    lacks. Without x86 ``flags`` lines (another architecture) every option is off.
    """
    text = _CPUINFO.read_text() if cpuinfo is None else cpuinfo
    per_core = [
        set(line.partition(":")[2].split())
        for line in text.splitlines()
        if line.split(":", 1)[0].strip() == "flags"
    ]
    common = set.intersection(*per_core) if per_core else set()
    return {name: all(flag in common for flag in needs) for name, needs in _ISA_REQUIREMENTS.items()}


def cmake_options(flags: Mapping[str, bool] | None = None) -> list[str]:
    """The full list of ``-D`` options; ``flags`` defaults to :func:`cpu_flags` of this machine."""
    isa = cpu_flags() if flags is None else flags
    options = [
        "-DCMAKE_BUILD_TYPE=Release",
        # Static libraries make llama-server one self-contained file (mtmd included).
        "-DBUILD_SHARED_LIBS=OFF",
        *(f"-D{name}=OFF" for name in _ALWAYS_OFF),
        "-DGGML_OPENMP=OFF",
        "-DGGML_CCACHE=OFF",
        # Neither npm nor the Hugging Face bucket: the server is built without its web UI and nothing
        # is downloaded. (This tree has no LLAMA_CURL any more; HTTPS model download is LLAMA_OPENSSL.)
        "-DLLAMA_BUILD_UI=OFF",
        "-DLLAMA_USE_PREBUILT_UI=OFF",
        "-DLLAMA_OPENSSL=OFF",
        "-DLLAMA_BUILD_TESTS=OFF",
        "-DLLAMA_BUILD_EXAMPLES=OFF",
        "-DLLAMA_BUILD_APP=OFF",
        "-DLLAMA_BUILD_TOOLS=ON",
        "-DLLAMA_BUILD_SERVER=ON",
        # The sdist carries no git metadata; say where the sources came from in --version instead.
        f"-DLLAMA_BUILD_COMMIT=llama-cpp-python-{LLAMA_CPP_PYTHON_VERSION}",
    ]
    options += (f"-D{name}={'ON' if isa[name] else 'OFF'}" for name in sorted(isa) if name not in _ALWAYS_OFF)
    return options


def build_dir_for(cache_dir: Path, *, options: Sequence[str] | None = None) -> Path:
    """``<cache_dir>/llama.cpp/<version>-<short hash of the cmake options>``."""
    chosen = cmake_options() if options is None else options
    digest = hashlib.sha256("\n".join(chosen).encode()).hexdigest()[:12]
    return cache_dir / "llama.cpp" / f"{LLAMA_CPP_PYTHON_VERSION}-{digest}"


def ensure_llama_server(
    cache_dir: Path,
    *,
    console: Console | None = None,
    options: Sequence[str] | None = None,
) -> Path:
    """Return the path of a working ``llama-server``, building it only when missing (~9 min on 2 cores)."""
    chosen = cmake_options() if options is None else list(options)
    build_dir = build_dir_for(cache_dir, options=chosen)
    binary = build_dir / "bin" / "llama-server"
    if _is_executable(binary):
        return binary
    build_dir.parent.mkdir(parents=True, exist_ok=True)
    with _exclusive(build_dir.parent / f".{build_dir.name}.lock", console):
        if not _is_executable(binary):  # another process may have built it while we waited
            sdist = _ensure_sdist(cache_dir / "downloads", console)
            _build_llama_server(sdist, build_dir, chosen, console)
    return binary


def _is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


@contextmanager
def _exclusive(lock_path: Path, console: Console | None) -> Iterator[None]:
    """Serialize builds of one cache entry across processes (several workers may start at once)."""
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if console is not None:
                console.print("Waiting for another llama-server build to finish…")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _ensure_sdist(downloads: Path, console: Console | None) -> Path:
    sdist = downloads / _SDIST_NAME
    if sdist.is_file():
        return sdist
    downloads.mkdir(parents=True, exist_ok=True)
    package = f"llama-cpp-python=={LLAMA_CPP_PYTHON_VERSION}"
    command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
    command += [package, "-d", str(downloads)]
    if console is not None:
        with console.status(f"Downloading llama-cpp-python {LLAMA_CPP_PYTHON_VERSION} sources"):
            done = subprocess.run(command, capture_output=True, text=True, check=False)
    else:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not sdist.is_file():
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-_TAIL_LINES:])
        raise RuntimeError(f"could not download {_SDIST_NAME} into {downloads}:\n{tail}")
    return sdist


def _extract_vendored_tree(sdist: Path, target: Path) -> None:
    """Extract only ``vendor/llama.cpp`` (176 MB of a much larger sdist) into ``target``."""

    def vendored(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
        name = member.name.removeprefix(_VENDORED_PREFIX)
        # The tree's `.git` is a submodule link to a directory the sdist lacks: cmake's git probe
        # would only print "fatal: not a git repository".
        if name == member.name or name in ("", ".git") or name.startswith(".git/"):
            return None
        stripped = member.replace(name=name, deep=False)
        return tarfile.data_filter(stripped, dest)  # refuses absolute paths, escapes and devices

    with tarfile.open(sdist, "r:gz") as archive:
        archive.extractall(target, filter=vendored)
    if not (target / "CMakeLists.txt").is_file():
        raise RuntimeError(f"{sdist} holds no vendored llama.cpp tree under {_VENDORED_PREFIX}")


def parse_build_step(line: str) -> tuple[int, int, str] | None:
    """``(done, total, what)`` from a ninja ``[n/N] …`` or make ``[ nn%] …`` status line."""
    if match := _NINJA_STEP.match(line):
        return int(match[1]), int(match[2]), match[3]
    if match := _MAKE_STEP.match(line):
        return int(match[1]), 100, match[2]
    return None


class _BuildProgress:
    """A rich progress bar when a console is given, silence otherwise."""

    def __init__(self, console: Console | None) -> None:
        self._progress: Progress | None = None
        self._task: TaskID | None = None
        if console is not None:
            self._progress = Progress(
                SpinnerColumn(),
                TextColumn("[bold]{task.fields[stage]}[/] {task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            )
            self._task = self._progress.add_task("", total=None, stage="llama-server")

    def __enter__(self) -> Self:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()

    def stage(self, stage: str) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, stage=stage, description="", completed=0, total=None)

    def line(self, text: str) -> None:
        step = parse_build_step(text)
        if step is not None and self._progress is not None and self._task is not None:
            done, total, what = step
            # Object paths are long; their last component says enough to a watcher.
            self._progress.update(
                self._task, completed=done, total=total, description=what.rsplit("/", 1)[-1][:60]
            )


def _run(
    command: Sequence[str | Path],
    *,
    log: IO[str],
    log_path: Path,
    progress: _BuildProgress,
    env: Mapping[str, str],
) -> None:
    """Run one build step, teeing its output into the log and the progress display."""
    log.write(f"$ {' '.join(map(str, command))}\n")
    log.flush()
    tail: collections.deque[str] = collections.deque(maxlen=_TAIL_LINES)
    process = subprocess.Popen(
        [str(part) for part in command],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        errors="replace",
        env=dict(env),
    )
    with process:  # closes the pipe and reaps the process on every path
        assert process.stdout is not None
        try:
            for line in process.stdout:
                log.write(line)
                tail.append(line.rstrip("\n"))
                progress.line(line)
            returncode = process.wait()
        except BaseException:
            process.kill()  # Ctrl-C here must not leave a compiler writing into a deleted dir
            raise
    log.flush()
    if returncode != 0:
        last = "\n".join(tail)
        raise RuntimeError(
            f"llama-server build step failed (exit {returncode}): {' '.join(map(str, command))}\n"
            f"full log: {log_path}\nlast lines:\n{last}"
        )


def _cmake_targets(build: Path, env: Mapping[str, str]) -> set[str]:
    """Target names of a configured tree, for both Ninja (``name: phony``) and make (``... name``)."""
    listing = subprocess.run(
        ["cmake", "--build", str(build), "--target", "help"],
        capture_output=True,
        text=True,
        check=False,
        env=dict(env),
    )
    names = set()
    for raw in listing.stdout.splitlines():
        name = raw.removeprefix("... ").split(":", 1)[0].strip()
        if name and " " not in name:
            names.add(name)
    return names


def _build_llama_server(
    sdist: Path, build_dir: Path, options: Sequence[str], console: Console | None
) -> None:
    build_dir.mkdir(parents=True, exist_ok=True)
    log_path = build_dir / "build.log"
    # Beside the target, so the final rename never crosses a filesystem.
    work = Path(tempfile.mkdtemp(prefix=f".build-{build_dir.name}-", dir=build_dir.parent))
    source, build = work / "src", work / "build"
    # cmake probes git for build info; keep it from finding whatever repository encloses the cache.
    env = {**os.environ, "GIT_CEILING_DIRECTORIES": str(work)}
    generator = "Ninja" if shutil.which("ninja") else "Unix Makefiles"
    try:
        with log_path.open("w") as log, _BuildProgress(console) as progress:
            progress.stage("extracting llama.cpp")
            log.write(f"extracting {_VENDORED_PREFIX} from {sdist} into {source}\n")
            _extract_vendored_tree(sdist, source)
            run = functools.partial(_run, log=log, log_path=log_path, progress=progress, env=env)
            progress.stage("configuring")
            run(["cmake", "-S", source, "-B", build, "-G", generator, *options])
            # mtmd (for --mmproj) is linked into llama-server anyway; naming it keeps it built
            # should it ever stop being a dependency.
            targets = ["llama-server", *(["mtmd"] if "mtmd" in _cmake_targets(build, env) else [])]
            progress.stage("compiling")
            jobs = str(os.cpu_count() or 1)
            run(["cmake", "--build", build, "--target", *targets, "--parallel", jobs])
            progress.stage("checking")
            built = build / "bin" / "llama-server"
            run([built, "--version"])
            _publish(build / "bin", build_dir / "bin")
            log.write(f"published {build_dir / 'bin' / 'llama-server'}\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if console is not None:
        console.print(f"[green]llama-server ready:[/] {build_dir / 'bin' / 'llama-server'}")


def _publish(built_bin: Path, final_bin: Path) -> None:
    """Move llama-server and any shared library beside it into place with one directory rename."""
    staging = Path(tempfile.mkdtemp(prefix=".bin-", dir=final_bin.parent))
    try:
        staging.chmod(0o755)  # mkdtemp makes it 0700; a service user may run the binary
        for item in built_bin.iterdir():
            if item.name == "llama-server" or ".so" in item.name:
                shutil.move(item, staging / item.name)
        if final_bin.exists():  # a leftover without a working binary; we hold the lock
            shutil.rmtree(final_bin)
        os.rename(staging, final_bin)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
