"""The token-bridge extension in Debian's chromium (new headless) against a real `veo serve` subprocess.

A loopback page imitates labs.google's `grecaptcha.enterprise`; the relay's built-in Flow simulator
requires single-use tokens and its audit lists the sha256 prefixes of the tokens each scene carried.
Skipped, saying why, where `/usr/bin/chromium` or the `playwright` package is missing (never run
`playwright install`). Chrome's "allow access to this site?" prompt cannot be answered in an automated
browser, so the browser loads a copy of `extension/` whose manifest grants loopback at install (what
the user's "Allow" would grant); everything else is the shipped extension.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Any, Protocol

import httpx
import msgspec
import pytest
from websockets.sync.client import ClientConnection, connect

from tests.actors.system import wait_for
from tests.reliability.processes import free_port
from veo_protocol import ErrorReply, Generate, GetStatuses, QueueStatus, Request, Result, decode_server_message
from veo_protocol import encode_request as encode

pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed (pip install playwright)")

from playwright.sync_api import BrowserContext, Page, expect, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)"
)

EXTENSION = Path(__file__).resolve().parents[3] / "extension"
SITE_KEY = "6Lc_fake-site-key-for-the-token-bridge-t"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT = 15_000  # ms
SIMULATOR_FLAGS = ["--simulator-times", "0.3,0.8", "--simulator-captcha"]  # single-use tokens required

PAGE = f"""<!doctype html><html lang="en"><head><title>Flow (imitation)</title>
<script src="/recaptcha/enterprise.js?render={SITE_KEY}"></script></head><body><h1>Flow</h1></body></html>"""
# labs.google's grecaptcha.enterprise, as far as the extension uses it: a fresh token per call, calls recorded.
RECAPTCHA = """(() => {
  const calls = [];
  const run = crypto.randomUUID().slice(0, 8);
  window.__recaptchaCalls = calls;
  window.grecaptcha = { enterprise: {
    ready(callback) { setTimeout(callback, 0); },
    execute(siteKey, options) {
      const token = `page-token-${calls.length + 1}-${run}`;
      calls.push({ siteKey, action: options && options.action, token });
      return new Promise((resolve) => setTimeout(() => resolve(token), 20));
    },
  } };
})();"""


class ServerInfo(msgspec.Struct):
    """`server.json` as `veo serve` writes it."""

    url: str


class CaptchaAudit(msgspec.Struct):
    """The simulator audit's reCAPTCHA part."""

    captcha_token_by_scene: dict[str, list[str]] = {}
    captcha_rejected: int = 0


class PageCall(msgspec.Struct, rename="camel"):
    """One `grecaptcha.enterprise.execute` call the imitation page recorded."""

    site_key: str = ""
    action: str = ""
    token: str = ""


def extension_id(manifest: Path) -> str:
    """The id Chrome derives from the manifest's public key: sha256, first 32 hex digits spelled a-p."""
    key = base64.b64decode(json.loads(manifest.read_text())["key"])
    return "".join(chr(ord("a") + int(digit, 16)) for digit in hashlib.sha256(key).hexdigest()[:32])


def prefix(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[:12]


class _LabsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        bodies = {"/fx/tools/flow": (PAGE, "text/html"), "/recaptcha/enterprise.js": (RECAPTCHA, "text/javascript")}
        text, kind = bodies.get(path, ("not found", "text/plain"))
        body = text.encode()
        self.send_response(200 if path in bodies else 404)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.fixture
def labs() -> Iterator[str]:
    """The imitation Flow page's URL, on loopback."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _LabsHandler)
    thread = threading.Thread(target=server.serve_forever, name="fake-labs", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/fx/tools/flow"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class Serve:
    """A `veo serve` subprocess (restartable on its port): websocket URL, token, simulator URL, output."""

    def __init__(self, data: Path, logs: Path) -> None:
        self.data = data
        self.logs = logs
        self.outputs: list[Path] = []
        self.port = free_port()  # below the ephemeral range: no outgoing connection takes it while stopped
        self.ws_url = self.token = self.provider_token = self.simulator_url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._sink: IO[bytes] | None = None

    def text(self, run: int = 0) -> str:
        """What it printed (stdout and stderr) in every run from `run` on (0: the first)."""
        return "".join(path.read_text(errors="replace") for path in self.outputs[run:])

    def start(self) -> None:
        """Start it (on its port, the same every run) and read where it listens."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("VEO_")} | {"PYTHONUNBUFFERED": "1"}
        origin = f"chrome-extension://{extension_id(EXTENSION / 'manifest.json')}"
        veo = str(Path(sys.executable).parent / "veo")
        command = [veo, "serve", "--port", str(self.port), "--data", str(self.data), *SIMULATOR_FLAGS]
        command += ["--allow-origin", origin]
        run = len(self.outputs)
        self.outputs.append(self.logs / f"serve-{run}.out")
        self._sink = self.outputs[run].open("wb")
        process = subprocess.Popen(command, stdout=self._sink, stderr=subprocess.STDOUT, env=env)
        self._process = process
        wait_for(lambda: "dashboard:" in self.text(run) or process.poll() is not None, 30, "veo serve to start")
        assert process.poll() is None, self.text(run)
        found = re.search(r"Flow: built-in simulator at (\S+)", self.text(run))
        assert found, self.text(run)
        self.simulator_url = found.group(1)
        url = msgspec.json.decode((self.data / "server.json").read_bytes(), type=ServerInfo).url
        self.port = int(url.rsplit(":", 1)[1])
        self.ws_url = url.replace("http", "ws", 1) + "/ws"
        self.token = (self.data / "token").read_text().strip()
        self.provider_token = (self.data / "provider-token").read_text().strip()

    def stop(self) -> None:
        """SIGTERM, as a user's Ctrl-C would, and wait for it to exit."""
        process, sink = self._process, self._sink
        self._process = self._sink = None
        if process is not None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if sink is not None:
            sink.close()


@pytest.fixture
def relay(tmp_path: Path) -> Iterator[Serve]:
    """`veo serve` on a free port with a captcha-requiring simulator, allowing this extension's origin."""
    serve = Serve(tmp_path / "data", tmp_path)
    try:
        serve.start()
        yield serve
    finally:
        serve.stop()


@pytest.fixture
def extension(tmp_path: Path) -> Path:
    """A copy of `extension/` whose manifest also grants loopback (the test cannot click Chrome's prompt)."""
    copy = tmp_path / "extension"
    shutil.copytree(EXTENSION, copy, ignore=shutil.ignore_patterns("README.md"))
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["host_permissions"].append("http://127.0.0.1/*")
    (copy / "manifest.json").write_text(json.dumps(manifest))
    return copy


@pytest.fixture
def browser(tmp_path: Path, extension: Path) -> Iterator[BrowserContext]:
    """Debian's chromium, new headless, with only the unpacked extension loaded."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "profile"),
            executable_path=str(CHROMIUM),
            headless=False,  # new headless comes from the flag: the old one cannot load extensions
            args=[*CHROMIUM_ARGS, f"--disable-extensions-except={extension}", f"--load-extension={extension}"],
        )
        context.set_default_timeout(UI_TIMEOUT)
        expect.set_options(timeout=UI_TIMEOUT)  # assertions have their own limit, 5 s unless set
        try:
            yield context
        finally:
            context.close()


def worker_extension_id(context: BrowserContext) -> str:
    worker = context.service_workers[0] if context.service_workers else context.wait_for_event("serviceworker")
    return worker.url.split("/")[2]


class RelayAddress(Protocol):
    """Where the extension connects, and the provider token it is given."""

    ws_url: str
    provider_token: str


def configure(
    context: BrowserContext, relay: RelayAddress, labs_url: str, profile: str = "default", session: bool = False
) -> Page:
    """Fill and save the options page (the session option on when `session`); returns it (its status area
    shows the worker's state)."""
    options = context.new_page()
    options.goto(f"chrome-extension://{worker_extension_id(context)}/options.html")
    expect(options.locator("body")).to_have_attribute("data-ready", "true")
    labs_origin = labs_url.split("/fx/", maxsplit=1)[0]
    options.fill("#relayUrl", relay.ws_url)
    options.fill("#token", relay.provider_token)
    options.fill("#profileId", profile)
    options.fill("#labsPattern", f"{labs_origin}/*")
    options.fill("#labsPage", labs_url)
    options.set_checked("#keepSessionFresh", session)
    options.click("#save")
    expect(options.locator("#saved")).to_contain_text("Saved")
    return options


def ask(ws: ClientConnection, request: Request) -> Any:
    """Send one request and return its result's data (an error reply fails the test)."""
    ws.send(encode(request).decode())
    while True:
        reply = decode_server_message(ws.recv(timeout=30))
        if isinstance(reply, Result | ErrorReply) and reply.id == request.id:
            assert isinstance(reply, Result), reply
            return reply.data


def providers(relay: Serve) -> int:
    """How many token providers the relay has (queue_status)."""
    with connect(relay.ws_url, additional_headers={"Authorization": f"Bearer {relay.token}"}, proxy=None) as ws:
        count: int = ask(ws, QueueStatus(id="q"))["providers"]
        return count


def generate(relay: Serve, count: int) -> list[str]:
    """Submit `count` generations and wait for them to finish; their final statuses."""
    with connect(relay.ws_url, additional_headers={"Authorization": f"Bearer {relay.token}"}, proxy=None) as ws:
        ids = [ask(ws, Generate(id=f"g{i}", prompt=f"a fox, take {i}"))["generation_id"] for i in range(count)]

        def statuses() -> list[str]:  # a row the read model has not caught up with yet is "missing"
            rows = {row["id"]: row["status"] for row in ask(ws, GetStatuses(id="s", generation_ids=ids))}
            return [rows.get(gid, "missing") for gid in ids]

        wait_for(lambda: all(s in ("completed", "failed") for s in statuses()), 30, "the generations to finish")
        return statuses()


def page_calls(page: Page) -> list[PageCall]:
    """The grecaptcha.enterprise.execute calls the imitation page answered."""
    return msgspec.convert(page.evaluate("window.__recaptchaCalls"), list[PageCall])


def token_audit(relay: Serve) -> CaptchaAudit:
    """The reCAPTCHA part of the simulator's audit."""
    with httpx.Client(trust_env=False, timeout=10) as http:
        return msgspec.json.decode(http.get(f"{relay.simulator_url}/_sim/audit").content, type=CaptchaAudit)


def test_the_extension_mints_in_the_labs_page_and_the_submission_carries_that_token(
    labs: str, relay: Serve, browser: BrowserContext
) -> None:
    """Registered for its profile, it answers each captcha_request with a token the page made; Flow sees it."""
    assert worker_extension_id(browser) == extension_id(EXTENSION / "manifest.json")  # the id the README gives
    assert f"provider token (for the browser extension; {relay.data / 'provider-token'}): " in relay.text()
    assert "paste it into the extension's options" in relay.text()
    options = configure(browser, relay, labs)
    page = browser.new_page()
    page.goto(labs)
    expect(options.locator("#state")).to_have_attribute("data-state", "registered")
    expect(options.locator("#served-profile")).to_have_text("default")
    assert providers(relay) == 1

    assert generate(relay, 2) == ["completed", "completed"]

    calls = page_calls(page)
    assert [(c.site_key, c.action) for c in calls] == [(SITE_KEY, "VIDEO_GENERATION")] * 2
    expect(options.locator("#answered")).to_have_text("2")
    expect(options.locator("#failed")).to_have_text("0")
    audit = token_audit(relay)
    assert sorted(audit.captcha_token_by_scene.values()) == sorted([prefix(c.token)] for c in calls)
    assert audit.captcha_rejected == 0
    assert not any(call.token in relay.text() for call in calls)  # tokens pass through, never logged


def test_after_a_relay_restart_it_reconnects_and_opens_the_labs_page_when_none_is_open(
    labs: str, relay: Serve, browser: BrowserContext
) -> None:
    """The connection comes back on its own; with no labs tab open, the configured page is opened and used."""
    options = configure(browser, relay, labs)
    state = options.locator("#state")
    expect(state).to_have_attribute("data-state", "registered")
    relay.stop()
    expect(state).to_have_attribute("data-state", "disconnected")
    relay.start()
    expect(state).to_have_attribute("data-state", "registered", timeout=30_000)
    assert providers(relay) == 1
    assert [p.url for p in browser.pages if p.url == labs] == []

    assert generate(relay, 1) == ["completed"]

    expect(options.locator("#answered")).to_have_text("1")  # (also lets Playwright take in the new tab)
    opened = [p for p in browser.pages if p.url == labs]
    assert len(opened) == 1
    calls = page_calls(opened[0])
    assert list(token_audit(relay).captcha_token_by_scene.values()) == [[prefix(c.token)] for c in calls]
    assert len(calls) == 1


def test_a_profile_the_relay_does_not_know_is_refused_and_said_so(
    labs: str, relay: Serve, browser: BrowserContext
) -> None:
    """The options page shows the relay's refusal, the relay counts no provider; the test mint still works."""
    options = configure(browser, relay, labs, profile="nobody")
    expect(options.locator("#state")).to_have_attribute("data-state", "refused")
    expect(options.locator("#state")).to_contain_text("unknown profile 'nobody'")
    assert providers(relay) == 0

    options.click("#test-mint")
    expect(options.locator("#test-result")).to_contain_text("A token of")
    (opened,) = [p for p in browser.pages if p.url == labs]
    (call,) = page_calls(opened)
    expect(options.locator("#test-result")).to_contain_text(f"A token of {len(call.token)} characters")
    expect(options.locator("#test-result")).not_to_contain_text(call.token)
