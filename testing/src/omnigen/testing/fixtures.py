"""pytest fixtures for the whole repository: local AWS endpoints (moto server, host LocalStack),
a freshly bootstrapped stack per test under its own resource prefix, and real clients."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from omnigen.cli.localaws.localstack import LocalStackServer
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.shared.adapters.aws import AwsClients
from omnigen.shared.adapters.dynamodb import DynamoJobRepository
from omnigen.shared.adapters.s3 import S3AssetStore
from omnigen.shared.adapters.sns import SnsEventPublisher
from omnigen.shared.bootstrap import AppliedResources, apply_spec
from omnigen.shared.domain.scripts import Script
from omnigen.shared.resources import ResourceSpec
from omnigen.shared.settings import AwsSettings
from omnigen.testing import samples

# Tests only ever talk to emulators on 127.0.0.1; never let real credentials near them.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_DEFAULT_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
for _name in ("AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)

BACKENDS = ("moto", "localstack")


@pytest.fixture(scope="session")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def localstack_server() -> Iterator[LocalStackServer]:
    server = LocalStackServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def new_prefix() -> str:
    return f"t{uuid.uuid4().hex[:10]}"


def moto_settings(server: MotoServer, prefix: str | None = None) -> AwsSettings:
    return AwsSettings(endpoint_url=server.endpoint_url, resource_prefix=prefix or new_prefix())


def localstack_settings(
    localstack: LocalStackServer, moto: MotoServer, prefix: str | None = None
) -> AwsSettings:
    """SQS, SNS and S3 on LocalStack; DynamoDB on moto (LocalStack's needs a JDK download)."""
    return AwsSettings(
        endpoint_url=localstack.endpoint_url,
        dynamodb_endpoint_url=moto.endpoint_url,
        resource_prefix=prefix or new_prefix(),
    )


@pytest.fixture(params=BACKENDS)
def aws_settings(request: pytest.FixtureRequest, moto_server: MotoServer) -> AwsSettings:
    """Settings for a fresh resource prefix on each backend in turn."""
    if request.param == "moto":
        return moto_settings(moto_server)
    return localstack_settings(request.getfixturevalue("localstack_server"), moto_server)


@dataclass
class Stack:
    """A bootstrapped set of omnigen resources and the adapters over them."""

    settings: AwsSettings
    aws: AwsClients
    applied: AppliedResources

    @property
    def spec(self) -> ResourceSpec:
        return self.settings.resources

    async def repository(self) -> DynamoJobRepository:
        return DynamoJobRepository(await self.aws.dynamodb(), self.spec.table)

    async def events_publisher(self) -> SnsEventPublisher:
        return SnsEventPublisher(
            await self.aws.sns(), self.applied.topic_arns[self.spec.events_topic.name]
        )

    async def requests_publisher(self) -> SnsEventPublisher:
        return SnsEventPublisher(
            await self.aws.sns(), self.applied.topic_arns[self.spec.requests_topic.name]
        )

    async def assets(self) -> S3AssetStore:
        return S3AssetStore(await self.aws.s3(), self.spec.bucket.name)

    def queue_url(self, name: str) -> str:
        return self.applied.queue_urls[name]


async def bootstrapped(settings: AwsSettings) -> AsyncIterator[Stack]:
    async with AwsClients(settings) as aws:
        applied = await apply_spec(aws, settings.resources)
        yield Stack(settings, aws, applied)


@pytest.fixture
async def stack(aws_settings: AwsSettings) -> AsyncIterator[Stack]:
    """A bootstrapped stack, once on moto and once on LocalStack (+ DynamoDB on moto)."""
    async for value in bootstrapped(aws_settings):
        yield value


@pytest.fixture
async def moto_stack(moto_server: MotoServer) -> AsyncIterator[Stack]:
    """A bootstrapped stack on moto only, for tests that are about our code, not the emulator."""
    async for value in bootstrapped(moto_settings(moto_server)):
        yield value


@pytest.fixture
def sample_script() -> Script:
    return samples.sample_script()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """With OMNIGEN_NO_SKIPS=1 (CI), a skipped test fails the run: skipped is not passed."""
    if os.environ.get("OMNIGEN_NO_SKIPS") != "1":
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter is not None else 0
    if skipped and reporter is not None and session.exitstatus == 0:
        reporter.write_line(
            f"OMNIGEN_NO_SKIPS: {skipped} test(s) skipped; failing the run", red=True
        )
        session.exitstatus = 1
