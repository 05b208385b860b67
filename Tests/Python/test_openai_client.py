"""The official `openai` Python client, pointed at `teleguard serve`, works unchanged.

    /root/.cache/teleguard/venv/bin/python -m pytest Tests/Python/test_openai_client.py
(after `swift build`; TELEGUARD_BIN overrides the binary, default .build/debug/teleguard then .build/release/teleguard).

The server runs the shipped demo model (models/demo) on a free loopback port; the expected texts come from the
runtime's own `generate` command, which the runtime tests hold to transformers' greedy tokens.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path

import openai
import pytest

from test_peft_export import REPO, teleguard

DEMO = REPO / "models" / "demo"
PROMPT = "What is 2 plus 3?"


@pytest.fixture(scope="module")
def server():
    process = subprocess.Popen([str(teleguard()), "serve", "--model", str(DEMO), "--port", "0", "--guard", "off",
                                "--threads", "1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:
            match = re.search(r"http://127\.0\.0\.1:\d+", line)
            if match and not found:
                found.append(match.group(0))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    ready.wait(timeout=60)
    if not found:
        process.kill()
        pytest.fail("teleguard serve did not print its address")
    yield found[0]
    process.terminate()
    assert process.wait(timeout=20) == 0


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=server + "/v1", api_key="unused", max_retries=0, timeout=60)


def reference(max_tokens: int) -> dict:
    done = subprocess.run([str(teleguard()), "generate", "--model", str(DEMO), "--guard", "off", "--prompt", PROMPT,
                           "--max-tokens", str(max_tokens), "--json", "--threads", "1"],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def test_models_list_names_the_served_model(client):
    ids = [m.id for m in client.models.list()]
    assert len(ids) == 1 and ids[0]


def test_chat_completion_is_the_runtime_greedy_answer(client):
    expected = reference(24)
    reply = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": PROMPT}],
                                           max_tokens=24, temperature=0)
    assert reply.object == "chat.completion"
    assert reply.choices[0].message.role == "assistant"
    assert reply.choices[0].message.content == expected["text"]
    assert reply.choices[0].finish_reason == expected["finish_reason"]
    assert reply.usage.prompt_tokens == len(expected["prompt_ids"])
    assert reply.usage.completion_tokens == expected["completion_tokens"]


def test_streamed_chat_completion_concatenates_to_the_same_text(client):
    expected = reference(24)
    stream = client.chat.completions.create(model="demo", messages=[{"role": "user", "content": PROMPT}],
                                            max_tokens=24, temperature=0, stream=True)
    pieces, finish = [], None
    for chunk in stream:
        assert chunk.object == "chat.completion.chunk"
        delta = chunk.choices[0].delta
        pieces.append(delta.content or "")
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(pieces) == expected["text"]
    assert finish == expected["finish_reason"]


def test_legacy_completion_endpoint(client):
    reply = client.completions.create(model="demo", prompt="The answer is", max_tokens=8, temperature=0)
    assert reply.object == "text_completion"
    assert reply.usage.completion_tokens <= 8 and isinstance(reply.choices[0].text, str)


def test_bad_request_raises_the_clients_typed_error(client):
    with pytest.raises(openai.BadRequestError) as raised:
        client.chat.completions.create(model="demo", messages=[], max_tokens=4)
    assert "messages" in str(raised.value)
