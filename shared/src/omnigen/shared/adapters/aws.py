"""Long-lived aiobotocore clients, created once per process and shared by the adapters."""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession, get_session

if TYPE_CHECKING:
    from types_aiobotocore_dynamodb import DynamoDBClient
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_sns import SNSClient
    from types_aiobotocore_sqs import SQSClient

    from omnigen.shared.settings import AwsSettings


class AwsClients:
    """`async with AwsClients(settings) as aws:` then `aws.dynamodb`, `aws.sqs`, ... ."""

    def __init__(self, settings: AwsSettings, session: AioSession | None = None) -> None:
        self.settings = settings
        self.session = session or get_session()
        self._stack = AsyncExitStack()
        self._clients: dict[str, Any] = {}

    async def __aenter__(self) -> Self:
        await self._stack.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._clients.clear()
        await self._stack.__aexit__(exc_type, exc, tb)

    async def client(self, service: str, endpoint_url: str | None = None) -> Any:
        name = service if endpoint_url is None else f"{service}@{endpoint_url}"
        if name not in self._clients:
            config = AioConfig(
                retries={"mode": "standard", "max_attempts": 4},
                connect_timeout=5,
                # SQS long polls for up to 20 s; every other call is short.
                read_timeout=40 if service == "sqs" else 20,
                max_pool_connections=self.settings.max_pool_connections,
                signature_version="s3v4" if service == "s3" else None,
                s3={"addressing_style": "path"} if service == "s3" else None,
            )
            self._clients[name] = await self._stack.enter_async_context(
                self.session.create_client(
                    service,  # type: ignore[call-overload]
                    region_name=self.settings.region,
                    endpoint_url=endpoint_url or self.settings.endpoint_for(service),
                    config=config,
                )
            )
        return self._clients[name]

    async def dynamodb(self) -> DynamoDBClient:
        return await self.client("dynamodb")  # type: ignore[no-any-return]

    async def sqs(self) -> SQSClient:
        return await self.client("sqs")  # type: ignore[no-any-return]

    async def sns(self) -> SNSClient:
        return await self.client("sns")  # type: ignore[no-any-return]

    async def s3(self) -> S3Client:
        return await self.client("s3")  # type: ignore[no-any-return]

    async def s3_presigner(self) -> S3Client:
        """The client that presigns download links: for `s3_public_endpoint_url` when set
        (the address clients reach), else the service's own S3 client."""
        public = self.settings.s3_public_endpoint_url
        if not public:
            return await self.s3()
        return await self.client("s3", endpoint_url=public)  # type: ignore[no-any-return]


def error_code(exc: BaseException) -> str | None:
    """The AWS error code of a botocore ClientError, else None."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code is not None else None
    return None
