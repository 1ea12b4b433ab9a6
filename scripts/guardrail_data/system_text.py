"""Real benign prose read from the training machine, never copied into this repository.

Written templates alone teach the model that any unfamiliar wording is an attack: on real long
documents (a licence, a README, this project's own docs) it scored windows of ordinary prose near
0.9. This module adds text written by many people for other purposes, as benign rows:

- English: the docstrings of the Python standard library of the interpreter that trains (PSF licence);
- English: the standard library's source code itself (code windows: comments, identifiers, strings);
- English, French, German and Spanish: the messages of the gettext catalogues installed under
  /usr/share/locale (the original English `msgid`s and their `fr`, `de` and `es` translations: help
  texts, errors, manuals of Debian's command-line tools), the manual pages under /usr/share/man (and
  its fr, de, es folders), the READMEs under /usr/share/doc — each under its package's licence,
  mostly GPL-2.0+, LGPL or BSD-style. They are read at training time only; the model keeps hashed
  weights, not text. The licences in /usr/share/common-licenses are deliberately not read: they are
  kept as a probe of long documents the model never saw (docs/guardrails.md).

Rows are held out by source (a module, a package's catalogue), like the written templates: the
held-out figures measure prose from sources the model never saw. What is installed differs between
machines, so a model trained elsewhere can differ slightly; the shipped model's sha256 is what pins it.
"""

from __future__ import annotations

import ast
import gettext
import gzip
import re
import hashlib
import random
import sysconfig
from collections.abc import Iterator
from pathlib import Path
from typing import Any

LOCALES = Path("/usr/share/locale")
ROW_CHARS = (300, 1400)
PER_SOURCE = 12  # rows per module or catalogue, so no package dominates
HOLDOUT_SHARE = 0.25


def split_of(group: str) -> str:
    digest = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16)
    return "holdout" if digest % 1000 < HOLDOUT_SHARE * 1000 else "train"


def _paragraphs(texts: list[str], rng: random.Random) -> Iterator[str]:
    """Consecutive texts joined into rows of ROW_CHARS characters."""
    row: list[str] = []
    size, target = 0, rng.randint(*ROW_CHARS)
    for text in texts:
        row.append(text.strip())
        size += len(text)
        if size >= target:
            yield "\n".join(row)[:ROW_CHARS[1] * 2]
            row, size, target = [], 0, rng.randint(*ROW_CHARS)


def _docstrings(path: Path) -> list[str]:
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"))
    except (SyntaxError, UnicodeDecodeError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = ast.get_docstring(node)
            if doc and len(doc) > 80:
                found.append(doc)
    return found


def _catalogue(path: Path) -> tuple[list[str], list[str]]:
    """A .mo file's English messages and their translations (long ones: sentences, not labels)."""
    try:
        with path.open("rb") as file:
            catalog: dict[Any, Any] = gettext.GNUTranslations(file)._catalog  # type: ignore[attr-defined]
    except (OSError, UnicodeDecodeError, ValueError):  # a malformed catalogue is skipped
        return [], []
    pairs = sorted((k, v) for k, v in catalog.items()
                   if isinstance(k, str) and isinstance(v, str) and k and len(v) > 30)
    return [k for k, _ in pairs], [v for _, v in pairs]


_ROFF_LINE = re.compile(r"^(\.|'\\\").*$", re.MULTILINE)
_ROFF_ESCAPE = re.compile(r"\\(f[A-Z]|f\[[A-Z]*\]|\(..|\*\(..|\*.|[-&e ]|s[-+]?\d)")


def _read(path: Path) -> str:
    try:
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        return data.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        return ""


def _manual(path: Path) -> list[str]:
    """A manual page's prose: roff requests dropped, font and character escapes removed."""
    text = _ROFF_ESCAPE.sub(lambda m: "-" if m[0] == "\\-" else " ", _ROFF_LINE.sub("", _read(path)))
    return [p for p in re.split(r"\n\s*\n", text) if len(p.strip()) > 60]


def _code(path: Path) -> list[str]:
    text = _read(path)
    return [block for block in re.split(r"\n(?=def |class )", text) if len(block) > 80]


def rows(seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out: list[dict[str, Any]] = []

    def add(texts: list[str], lang: str, group: str) -> None:
        made = list(_paragraphs(texts, rng))
        for text in rng.sample(made, min(PER_SOURCE, len(made))):
            out.append({"text": text, "label": 0, "lang": lang, "kind": "prose", "group": group,
                        "split": split_of(group), "source": "system"})

    stdlib = Path(sysconfig.get_paths()["stdlib"])
    for path in sorted(stdlib.glob("*.py")):
        add(_docstrings(path), "en", f"sys/python/{path.stem}")
    for path in sorted(stdlib.glob("*.py"))[::3]:
        add(_code(path), "en", f"sys/code/{path.stem}")
    for path in sorted(Path("/usr/share/doc").glob("*/README*"))[:300]:
        add([p for p in re.split(r"\n\s*\n", _read(path)) if len(p.strip()) > 60], "en",
            f"sys/doc/{path.parent.name}")
    for lang, folder in (("en", "man"), ("fr", "man/fr"), ("de", "man/de"), ("es", "man/es")):
        for path in sorted(Path("/usr/share", folder).glob("man[1-8]/*"))[:200]:
            add(_manual(path), lang, f"sys/man/{lang}/{path.name.split('.')[0]}")
    english_done: set[str] = set()
    for lang in ("fr", "de", "es"):
        for path in sorted((LOCALES / lang / "LC_MESSAGES").glob("*.mo")):
            english, translated = _catalogue(path)
            add(translated, lang, f"sys/{lang}/{path.stem}")
            if path.stem not in english_done:
                english_done.add(path.stem)
                add(english, "en", f"sys/en/{path.stem}")
    return out
