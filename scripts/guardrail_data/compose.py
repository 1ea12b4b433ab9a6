"""Build the guardrail's written rows from phrases.py: `python -m scripts.guardrail_data.compose`.

Writes scripts/guardrail_data/written.jsonl, one row per line:
    {"text": ..., "label": 0|1, "lang": "fr", "kind": "trap", "group": "trap/fr/3", "split": "train"}

`split` is decided by `group` (the template a row comes from), never by row: every variant of a
held-out template is held out, so the held-out figures measure phrasings the model never saw.
The output is deterministic (seeded), so the file in the repository is what this writes.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from scripts.guardrail_data import phrases as p
from scripts.guardrail_data import varied

HERE = Path(__file__).parent
OUT = HERE / "written.jsonl"
HOLDOUT_SHARE = 0.25


def split_of(group: str) -> str:
    digest = int(hashlib.sha256(group.encode()).hexdigest()[:8], 16)
    return "holdout" if digest % 1000 < HOLDOUT_SHARE * 1000 else "train"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


class Rows:
    def __init__(self) -> None:
        self.rows: list[dict[str, object]] = []
        self.seen: set[str] = set()

    def add(self, text: str, label: int, lang: str, kind: str, group: str, span: str | None = None) -> None:
        if text in self.seen:
            return
        self.seen.add(text)
        row: dict[str, object] = {"text": text, "label": label, "lang": lang, "kind": kind, "group": group,
                                  "split": split_of(group)}
        if span is not None:  # the attack inside benign text: training labels the windows around it
            row["span"] = span
        self.rows.append(row)


def _document(rng: random.Random, lang: str, sentences: int) -> list[str]:
    pool = p.DOC_SENTENCES[lang]
    return [rng.choice(pool) for _ in range(sentences)]


def compose(seed: int = 7) -> list[dict[str, object]]:
    rng = random.Random(seed)
    rows = Rows()
    for lang in p.LANGS:
        fill = {"who": p.WHO[lang], "topic": p.TOPICS[lang]}
        payloads = p.PAYLOADS[lang]

        def filled(template: str) -> str:
            payload = rng.choice(payloads)
            return template.format(
                who=rng.choice(fill["who"]), topic=rng.choice(fill["topic"]),
                payload=payload, payload_cap=_cap(payload))

        # -- benign
        for i, template in enumerate(p.TASKS[lang]):
            for _ in range(8):
                rows.add(filled(template), 0, lang, "task", f"task/{lang}/{i}")
        for i, template in enumerate(p.TRAPS[lang]):
            for _ in range(6):
                rows.add(filled(template), 0, lang, "trap", f"trap/{lang}/{i}")
        for i, ask in enumerate(p.DOC_ASKS[lang]):
            for _ in range(10):
                doc = " ".join(_document(rng, lang, rng.randint(3, 14)))
                rows.add(f"{ask}\n\n{doc}", 0, lang, "document", f"doc/{lang}/{i}")
        for i, ask in enumerate(p.CODE_ASKS[lang]):
            for j, code in enumerate(p.CODE):
                rows.add(f"{ask}\n\n```\n{code}```", 0, lang, "code", f"code/{lang}/{i}/{j % 3}")
        for i, text in enumerate(p.ROLEPLAY[lang]):
            rows.add(text, 0, lang, "roleplay", f"roleplay/{lang}/{i}")
            rows.add(f"{text} {filled(rng.choice(p.TASKS[lang]))}", 0, lang, "roleplay", f"roleplay/{lang}/{i}")
        for i, template in enumerate(p.TOOL_RESULTS):
            for _ in range(5):
                text = " ".join(_document(rng, lang, rng.randint(1, 3))).replace('"', "'")
                rows.add(template.format(n=rng.randint(1000, 9999), text=text), 0, lang, "tool",
                         f"tool/{lang}/{i}")

        for i, role in enumerate(p.ROLES[lang]):
            persona = p.PERSONA[lang]
            for _ in range(6):
                rules = rng.sample(persona["rules"], rng.randint(2, 6))
                task = filled(rng.choice(p.TASKS[lang] + p.TRAPS[lang]))
                text = " ".join([rng.choice(persona["open"]).format(role=role), *rules,
                                 rng.choice(persona["close"]).format(task=task)])
                rows.add(text, 0, lang, "persona", f"persona/{lang}/{i}")
        for i, question in enumerate(p.QUESTIONS[lang]):
            rows.add(question, 0, lang, "question", f"question/{lang}/{i}")
            rows.add(f"{filled(rng.choice(p.TASKS[lang]))} {question}", 0, lang, "question",
                     f"question/{lang}/{i}")

        # -- injections
        for i, name in enumerate(p.JAILBREAK_NAMES):
            for _ in range(4):
                sentences = rng.sample(p.JAILBREAK_SENTENCES[lang], rng.randint(3, 8))
                text = " ".join(s.format(name=name) for s in sentences)
                if rng.random() < 0.5:
                    text += " " + _cap(rng.choice(payloads)) + "."
                rows.add(text, 1, lang, "jailbreak", f"longjailbreak/{lang}/{i}")
        for i, template in enumerate(p.OVERRIDES[lang]):
            for _ in range(7):
                text = filled(template)
                if rng.random() < 0.4:  # a benign request with the attack appended
                    text = f"{filled(rng.choice(p.TASKS[lang]))} {text}"
                rows.add(text, 1, lang, "override", f"override/{lang}/{i}")
        for i, text in enumerate(p.EXTRACTION[lang]):
            rows.add(text, 1, lang, "extraction", f"extraction/{lang}/{i}")
            rows.add(f"{filled(rng.choice(p.TASKS[lang]))} {text}", 1, lang, "extraction",
                     f"extraction/{lang}/{i}")
        for i, template in enumerate(p.JAILBREAKS[lang]):
            for _ in range(4):
                rows.add(filled(template), 1, lang, "jailbreak", f"jailbreak/{lang}/{i}")
        for i, template in enumerate(p.HIDDEN[lang]):
            for where in ("start", "middle", "end", "end", "end", "middle"):
                doc = _document(rng, lang, rng.randint(3, 14))
                at = {"start": 0, "middle": len(doc) // 2, "end": len(doc)}[where]
                attack = filled(template)
                doc.insert(at, attack)
                ask = rng.choice(p.DOC_ASKS[lang])
                rows.add(f"{ask}\n\n{' '.join(doc)}", 1, lang, "hidden", f"hidden/{lang}/{i}", attack)
            for tool in p.TOOL_RESULTS:
                text = filled(template).replace('"', "'")
                rows.add(tool.format(n=rng.randint(1000, 9999), text=text), 1, lang, "tool-injection",
                         f"hidden/{lang}/{i}", text)
        # an attack in another language than the document around it
        for i, template in enumerate(p.OVERRIDES[lang][:5]):
            other = rng.choice([lang_ for lang_ in p.LANGS if lang_ != lang])
            doc = _document(rng, other, rng.randint(3, 8))
            attack = filled(template)
            doc.append(attack)
            rows.add(" ".join(doc), 1, lang, "hidden", f"override/{lang}/{i}", attack)
    for row in varied.rows(random.Random(seed + 1)):
        rows.add(row["text"], row["label"], row["lang"], row["kind"], row["group"], row.get("span"))
    rng.shuffle(rows.rows)
    return rows.rows


def main() -> None:
    rows = compose()
    with OUT.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts: dict[tuple[object, object, object], int] = {}
    for row in rows:
        counts[row["split"], row["label"], row["lang"]] = counts.get(
            (row["split"], row["label"], row["lang"]), 0) + 1
    print(f"{len(rows)} rows -> {OUT}")
    for key in sorted(counts, key=str):
        print(key, counts[key])


if __name__ == "__main__":
    main()
