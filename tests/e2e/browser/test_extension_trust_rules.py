"""The extension's trust rules in Node, without a browser: its proofs are the relay's (`veo_protocol.provider_proof`),
only allow-listed actions are minted, and at most MINTS_PER_MINUTE in any minute (an injected clock)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from veo_protocol.provider_proof import provider_proof, relay_proof

EXTENSION = Path(__file__).resolve().parents[3] / "extension"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="node is not installed")
HOST = "127.0.0.1:8765"
NONCE = "q3JmV0c9oTqZ1xN4bKp7wHd2sLfE8yUa"
RELAY_NONCE = "Zk8bT1qWm3xR7cVn2pLs9dHf4gYj6aEu"


def node(body: str) -> Any:
    """Run `body` (an async function body that returns a JSON value) with the extension's modules imported."""
    script = (
        f"import * as proof from {json.dumps((EXTENSION / 'proof.js').as_uri())};\n"
        f"import * as guard from {json.dumps((EXTENSION / 'guard.js').as_uri())};\n"
        f"const result = await (async () => {{ {body} }})();\n"
        "process.stdout.write(JSON.stringify(result));\n"
    )
    assert NODE is not None
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script], check=False, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_extensions_proofs_are_the_relays() -> None:
    """The same HMACs on both sides (else the real relay could never be trusted), and a nonce the relay takes."""
    args = json.dumps(["the-provider-token", HOST, NONCE, RELAY_NONCE])
    relay, provider, nonce = node(
        f"return [await proof.relayProof(...{args}), await proof.providerProof(...{args}), proof.newNonce()];"
    )
    assert relay == relay_proof("the-provider-token", HOST, NONCE, RELAY_NONCE)
    assert provider == provider_proof("the-provider-token", HOST, NONCE, RELAY_NONCE)
    assert relay != provider
    assert len(nonce) == 32 and nonce.replace("-", "").replace("_", "").isalnum()


def test_a_proof_is_accepted_only_when_it_is_the_expected_one() -> None:
    """Equal strings only: another proof, a prefix, a non-string are refused."""
    expected = relay_proof("k", HOST, NONCE, RELAY_NONCE)
    cases = [expected, relay_proof("other", HOST, NONCE, RELAY_NONCE), expected[:-1], None, 7]
    verdicts = node(f"return {json.dumps(cases)}.map((given) => proof.sameProof(given, {json.dumps(expected)}));")
    assert verdicts == [True, False, False, False, False]


def test_only_the_allow_listed_actions_are_minted() -> None:
    """The video action is; anything else (or none) is refused with a reason that names the allowed one."""
    problems = node('return ["VIDEO_GENERATION", "IMAGE_GENERATION", "LOGIN", "", null].map(guard.actionProblem);')
    assert problems[0] == ""
    assert all("only VIDEO_GENERATION is allowed" in problem for problem in problems[1:])


def test_the_mint_budget_holds_its_cap_over_any_minute() -> None:
    """20 in a minute, none more until the oldest is a minute old; then one more each time one ages out."""
    taken = node(
        """
        let now = 0;
        const budget = new guard.MintBudget(guard.MINTS_PER_MINUTE, () => now);
        const at = (ms) => { now = ms; return budget.take(); };
        const first = Array.from({ length: 25 }, (_, i) => at(i * 1000));
        return { cap: guard.MINTS_PER_MINUTE, first, later: [at(59_999), at(60_000), at(60_001), at(61_000)] };
        """
    )
    assert taken["cap"] == 20
    assert taken["first"] == [True] * 20 + [False] * 5
    assert taken["later"] == [False, True, False, True]
