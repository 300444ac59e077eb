"""The reCAPTCHA token broker: dispatch, spreading, a provider dropping, timeouts (fake clock)."""

from __future__ import annotations

from uuid import UUID, uuid4

import pytest

from actors.clock import FakeClock
from actors.tokens import TokenBroker


class FakeProvider:
    def __init__(self) -> None:
        self.asked: list[tuple[str, str, str]] = []

    def __call__(self, request_id: str, profile_id: str, action: str) -> None:
        self.asked.append((request_id, profile_id, action))


class Deliveries:
    def __init__(self) -> None:
        self.got: list[tuple[UUID, str | None]] = []

    def __call__(self, generation_id: UUID, token: str | None) -> None:
        self.got.append((generation_id, token))


def test_without_a_provider_nothing_is_asked() -> None:
    """No provider for the profile: the request is refused so the job can wait without spending budget."""
    broker = TokenBroker(clock=FakeClock())
    delivered = Deliveries()
    assert broker.request(uuid4(), "default", delivered) is False
    assert delivered.got == []


def test_a_token_goes_back_to_the_job_that_asked() -> None:
    """The provider's answer reaches the job; a second answer to the same request is refused."""
    broker = TokenBroker(clock=FakeClock())
    provider, delivered = FakeProvider(), Deliveries()
    provider_id = broker.register(None, provider)
    job = uuid4()
    assert broker.request(job, "default", delivered)
    request_id, profile_id, action = provider.asked[0]
    assert (profile_id, action) == ("default", "VIDEO_GENERATION")
    assert broker.provide(provider_id, request_id, "tok-1") is True
    assert broker.provide(provider_id, request_id, "tok-2") is False
    assert delivered.got == [(job, "tok-1")]


def test_requests_are_spread_over_providers_of_the_profile() -> None:
    """Two providers serving the profile share the requests; one for another profile gets none."""
    broker = TokenBroker(clock=FakeClock())
    a, b, other = FakeProvider(), FakeProvider(), FakeProvider()
    broker.register("default", a)
    broker.register(None, b)
    broker.register("elsewhere", other)
    for _ in range(4):
        broker.request(uuid4(), "default", Deliveries())
    assert (len(a.asked), len(b.asked), len(other.asked)) == (2, 2, 0)
    assert broker.providers("default") == 2


def test_a_provider_dropping_mid_request_hands_it_to_another() -> None:
    """The outstanding request moves to the remaining provider, whose answer is accepted."""
    broker = TokenBroker(clock=FakeClock())
    first, second, delivered = FakeProvider(), FakeProvider(), Deliveries()
    first_id = broker.register(None, first)
    second_id = broker.register(None, second)
    job = uuid4()
    broker.request(job, "default", delivered)
    asked_first = first.asked[0][0] if first.asked else None
    dropped, survivor, survivor_id = (first_id, second, second_id) if asked_first else (second_id, first, first_id)
    broker.unregister(dropped)
    request_id = survivor.asked[-1][0]
    assert broker.provide(survivor_id, request_id, "tok") is True
    assert delivered.got == [(job, "tok")]


def test_an_unanswered_request_is_asked_again_then_given_up() -> None:
    """After the answer timeout the request is re-sent; after max attempts the job hears None."""
    clock = FakeClock()
    broker = TokenBroker(clock=clock, answer_timeout=5.0, max_attempts=2)
    provider, delivered = FakeProvider(), Deliveries()
    broker.register(None, provider)
    job = uuid4()
    broker.request(job, "default", delivered)
    assert broker.expire() == 5.0
    clock.advance(5.0)
    broker.expire()
    assert len(provider.asked) == 2
    clock.advance(5.0)
    assert broker.expire() is None
    assert delivered.got == [(job, None)]


def test_only_the_asked_provider_may_answer() -> None:
    """Another connection cannot answer a request it was not sent."""
    broker = TokenBroker(clock=FakeClock())
    asked, other = FakeProvider(), FakeProvider()
    asked_id = broker.register("default", asked)
    other_id = broker.register("elsewhere", other)
    broker.request(uuid4(), "default", Deliveries())
    request_id = asked.asked[0][0]
    assert broker.provide(other_id, request_id, "tok") is False
    assert broker.provide(asked_id, request_id, "tok") is True


def test_a_providers_profile_is_known_until_it_leaves() -> None:
    """profile_of names the profile a provider serves (None: every profile); KeyError once it unregistered."""
    broker = TokenBroker(clock=FakeClock())
    one = broker.register("default", FakeProvider())
    every = broker.register(None, FakeProvider())
    assert (broker.profile_of(one), broker.profile_of(every)) == ("default", None)
    broker.unregister(one)
    with pytest.raises(KeyError):
        broker.profile_of(one)
    with pytest.raises(KeyError):
        broker.profile_of("p-never-registered")
