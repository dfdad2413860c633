from collections.abc import Callable, Iterator

import pytest

from tests.support.openai_server import FaultPlan, OpenAIStubServer


@pytest.fixture
def stub_server() -> Iterator[Callable[..., OpenAIStubServer]]:
    """Factory: start an OpenAI-compatible server on 127.0.0.1 (port 0); all are stopped at teardown."""
    started: list[OpenAIStubServer] = []

    def start(plan: FaultPlan | None = None, **kw) -> OpenAIStubServer:
        server = OpenAIStubServer(plan, **kw).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()

