"""The teacher over several endpoints: routing by load, ejection, probes, failover."""

from __future__ import annotations

import asyncio

import pytest

from tinygen.errors import UsageError
from tinygen.recipe.model import TeacherParams
from tinygen.teachers import router as router_module
from tinygen.teachers.base import Completion, TeacherCallError
from tinygen.teachers.endpoints import EndpointSpec, parse_endpoint, parse_endpoints
from tinygen.teachers.router import Endpoint, EndpointCounts, RoutedTeacher, summed

PARAMS = TeacherParams(model="recipe-model")
MESSAGES = [{"role": "user", "content": "hi"}]


class Scripted:
    """A teacher that answers after `delay` seconds, or fails while `down`."""

    def __init__(self, delay: float = 0.0, down: bool = False, kind: str = "connection"):
        self.delay = delay
        self.down = down
        self.kind = kind
        self.outstanding = 0
        self.most = 0
        self.models: list[str] = []

    def describe(self) -> dict[str, object]:
        return {"kind": "scripted"}

    async def complete(self, messages, params) -> Completion:
        self.outstanding += 1
        self.most = max(self.most, self.outstanding)
        try:
            await asyncio.sleep(self.delay)
            self.models.append(params.model)
            if self.down:
                raise TeacherCallError(self.kind, f"{self.kind} refused", retryable=True)
            return Completion("an answer", "stop")
        finally:
            self.outstanding -= 1

    def take_notices(self) -> list[str]:
        return []

    async def aclose(self) -> None:
        pass


def routed(*teachers: Scripted, patience: float = 60.0, **settings) -> RoutedTeacher:
    endpoints = [
        Endpoint(f"host{k}:8000", teacher, **settings.get(f"e{k}", {}))
        for k, teacher in enumerate(teachers)
    ]
    return RoutedTeacher(endpoints, patience)


async def ask_all(
    teacher: RoutedTeacher, count: int, at_once: int = 16, retried: list | None = None
) -> list[Completion]:
    """`count` asks, `at_once` at a time, each retried (as the retry policy would) on a
    failure that is not fatal; the failures go to `retried`."""
    slots = asyncio.Semaphore(at_once)

    async def one() -> Completion:
        async with slots:
            while True:
                try:
                    return await teacher.complete(MESSAGES, PARAMS)
                except TeacherCallError as error:
                    if error.fatal:
                        raise
                    (retried if retried is not None else []).append(error.kind)
                    await asyncio.sleep(0.01)

    return await asyncio.gather(*(one() for _ in range(count)))


@pytest.fixture
def quick_probes(monkeypatch):
    monkeypatch.setattr(router_module, "FIRST_COOL_DOWN", 0.05)
    monkeypatch.setattr(router_module, "MAX_COOL_DOWN", 0.1)


def test_the_faster_endpoint_gets_more_requests():
    fast, slow = Scripted(delay=0.002), Scripted(delay=0.02)
    teacher = routed(fast, slow)
    answers = asyncio.run(ask_all(teacher, 300))
    served = {answer.endpoint: 0 for answer in answers}
    for answer in answers:
        served[answer.endpoint] += 1
    assert served["host0:8000"] > 2 * served["host1:8000"] > 0
    counts = {count.label: count for count in teacher.counts()}
    assert counts["host0:8000"].answered == served["host0:8000"]
    assert counts["host1:8000"].latency_s > 0


def test_shares_weigh_equal_endpoints():
    one, two = Scripted(delay=0.01), Scripted(delay=0.01)
    teacher = routed(one, two, e1={"share": 3.0})
    answers = asyncio.run(ask_all(teacher, 200))
    to_second = sum(answer.endpoint == "host1:8000" for answer in answers)
    assert 120 <= to_second <= 180  # about three in four


def test_a_dead_endpoint_is_ejected_and_its_calls_go_elsewhere(quick_probes):
    dead, alive = Scripted(down=True), Scripted(delay=0.001)
    teacher, retried = routed(dead, alive), []
    answers = asyncio.run(ask_all(teacher, 100, retried=retried))
    assert retried == []  # no attempt spent
    assert all(answer.endpoint == "host1:8000" for answer in answers)
    counts = {count.label: count for count in teacher.counts()}
    assert counts["host0:8000"].ejected >= 1 and counts["host0:8000"].down
    assert counts["host0:8000"].resent == counts["host0:8000"].errors
    notices = teacher.take_notices()
    assert any("host0:8000 is out after 3 failures" in notice for notice in notices)


def test_a_probe_brings_an_endpoint_back(quick_probes):
    flaky, steady = Scripted(down=True), Scripted(delay=0.005)
    teacher = routed(flaky, steady)

    async def scenario() -> list[Completion]:
        await ask_all(teacher, 30)
        flaky.down = False
        await asyncio.sleep(0.15)  # past the cool-down: the next request probes it
        return await ask_all(teacher, 60)

    later = asyncio.run(scenario())
    assert any(answer.endpoint == "host0:8000" for answer in later)
    assert "endpoint host0:8000 answers again" in teacher.take_notices()
    assert not teacher.counts()[0].down


def test_every_endpoint_down_stops_after_the_patience(quick_probes):
    teacher = routed(Scripted(down=True), Scripted(down=True, kind="server_error"), patience=0.3)
    with pytest.raises(TeacherCallError) as stopped:
        asyncio.run(ask_all(teacher, 10))
    assert stopped.value.fatal and stopped.value.kind == "endpoints_down"
    assert "every endpoint has been down for 0.3 s" in stopped.value.message
    assert "host0:8000: connection refused" in stopped.value.message


def test_requests_wait_while_every_endpoint_is_down_and_go_on_when_one_is_back(quick_probes):
    first, second = Scripted(down=True), Scripted(down=True)
    teacher = routed(first, second, patience=5.0)

    async def scenario() -> list[Completion]:
        asks = asyncio.ensure_future(ask_all(teacher, 20))
        await asyncio.sleep(0.3)
        second.down = False
        return await asks

    answers = asyncio.run(scenario())
    assert len(answers) == 20 and {answer.endpoint for answer in answers} == {"host1:8000"}


def test_a_failure_on_the_last_endpoint_in_service_goes_to_the_retry_policy():
    teacher = routed(Scripted(down=True, kind="server_error"))
    with pytest.raises(TeacherCallError) as failed:
        asyncio.run(teacher.complete(MESSAGES, PARAMS))
    assert not failed.value.fatal and failed.value.kind == "server_error"


def test_other_failures_are_not_the_endpoints_fault():
    limited, other = Scripted(down=True, kind="rate_limit"), Scripted()
    teacher = routed(limited, other)
    with pytest.raises(TeacherCallError) as failed:
        asyncio.run(teacher.complete(MESSAGES, PARAMS))  # to the first: both are idle
    assert failed.value.kind == "rate_limit"
    assert teacher.counts()[0].ejected == 0


def test_a_fatal_error_names_its_endpoint():
    class Refusing(Scripted):
        async def complete(self, messages, params):
            raise TeacherCallError("auth", "bad key (401)", retryable=False, fatal=True)

    teacher = routed(Refusing())
    with pytest.raises(TeacherCallError) as refused:
        asyncio.run(teacher.complete(MESSAGES, PARAMS))
    assert refused.value.fatal and refused.value.message == "host0:8000: bad key (401)"


def test_an_endpoint_cap_holds_and_its_model_name_is_sent():
    capped, other = Scripted(delay=0.01), Scripted(delay=0.05)
    teacher = routed(capped, other, e0={"concurrency": 2, "model": "served-name"})
    asyncio.run(ask_all(teacher, 60))
    assert capped.most == 2
    assert set(capped.models) == {"served-name"} and set(other.models) == {"recipe-model"}


def test_counts_of_several_processes_sum_per_endpoint():
    a = [EndpointCounts("a", answered=2, latency_s=1.0), EndpointCounts("b", errors=1, down=True)]
    b = [EndpointCounts("a", answered=3, latency_s=1.5), EndpointCounts("b", answered=1)]
    total = {count.label: count for count in summed(a + b)}
    assert total["a"].answered == 5 and total["a"].describe()["mean_latency_s"] == 0.5
    assert total["b"].down and total["b"].errors == 1


def test_endpoint_settings_are_parsed():
    spec = parse_endpoint("http://gpu1:8000/v1 model=llama key-env=GPU1_KEY share=2 concurrency=8")
    assert spec == EndpointSpec("http://gpu1:8000/v1", "llama", "GPU1_KEY", 2.0, 8)
    assert spec.label == "gpu1:8000"
    assert spec.split(0, 3).concurrency == 3 and spec.split(2, 3).concurrency == 2


@pytest.mark.parametrize(
    "values, fragment",
    [
        (["gpu1:8000"], "is not an http(s) URL"),
        (["http://a/v1", "http://b/v1 size=3"], "'size=3' is not one of"),
        (["http://a/v1", "http://b/v1 share=0"], "share=0 is not a positive number"),
        (["http://a/v1", "http://b/v1 concurrency=x"], "concurrency=x is not a positive"),
        (["http://a/v1", "http://a/v1/"], "is given twice"),
        (["http://a/v1 model=m"], "endpoint settings are for several --base-url"),
    ],
)
def test_bad_endpoint_settings_name_the_fix(values, fragment):
    with pytest.raises(UsageError) as error:
        parse_endpoints(values)
    assert fragment in error.value.message and error.value.hint


def test_an_unset_key_variable_is_named(monkeypatch):
    monkeypatch.delenv("NO_SUCH_KEY_VAR", raising=False)
    with pytest.raises(UsageError) as error:
        EndpointSpec("http://a/v1", key_env="NO_SUCH_KEY_VAR").key("run-key")
    assert "NO_SUCH_KEY_VAR names an unset variable" in error.value.message
