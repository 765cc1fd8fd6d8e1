"""The web page POSTs a user's upload straight to the bucket (a presigned POST) from its own
origin: cross-origin, so the browser first sends a CORS preflight. On LocalStack (whose S3
answers preflights by the bucket's CORS rules, as S3 does), with the very rule Terraform writes
(`terraform/modules/storage/bucket.tf`, `web_origins`): the page's origin is allowed, another
origin is refused, and the POST itself carries the allowing header the browser checks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import hcl2
import httpx
import pytest
from hcl2.utils import SerializationOptions

from omnigen.cli.localaws.localstack import LocalStackServer
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.ingest.uploads import UploadAccess, start_upload
from omnigen.shared.adapters.upload_store import DynamoUploadStore
from omnigen.shared.bootstrap import apply_spec
from omnigen.testing import upload_samples as samples
from omnigen.testing.fixtures import Stack, bootstrapped, localstack_settings

BUCKET_TF = Path(__file__).resolve().parents[2] / "terraform" / "modules" / "storage" / "bucket.tf"
PAGE = "https://video.example.com"
OTHER = "https://evil.example.net"


def terraform_cors_rule(web_origins: list[str]) -> dict[str, Any]:
    """The bucket's CORS rule as Terraform writes it, with `var.web_origins` filled in."""
    with BUCKET_TF.open(encoding="utf-8") as handle:
        parsed = hcl2.load(
            handle, serialization_options=SerializationOptions(strip_string_quotes=True)
        )
    (rule,) = [
        body["cors_rule"]
        for block in parsed["resource"]
        for body in block.get("aws_s3_bucket_cors_configuration", {}).values()
    ]
    rule = rule[0] if isinstance(rule, list) else rule
    assert rule["allowed_origins"] == "${var.web_origins}"
    return {
        "AllowedMethods": rule["allowed_methods"],
        "AllowedOrigins": web_origins,
        "AllowedHeaders": rule["allowed_headers"],
        "MaxAgeSeconds": int(rule["max_age_seconds"]),
    }


@pytest.fixture
async def localstack_stack(
    localstack_server: LocalStackServer, moto_server: MotoServer
) -> AsyncIterator[Stack]:
    async for stack in bootstrapped(localstack_settings(localstack_server, moto_server)):
        yield stack


async def test_the_pages_origin_may_post_an_upload_and_another_origin_may_not(
    localstack_stack: Stack, tmp_path: Path
) -> None:
    stack = localstack_stack
    s3 = await stack.aws.s3()
    bucket = stack.spec.bucket.name
    assets = await stack.assets()
    access = UploadAccess(
        store=DynamoUploadStore(await stack.aws.dynamodb(), stack.spec.table),
        presigner=assets,
        assets=assets,
    )
    _, target = await start_upload(access, "alice", "image/jpeg", "a.jpg")
    assert target.url.startswith(stack.settings.endpoint_url or "http://")

    def preflight(origin: str) -> dict[str, str]:
        return {
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        }

    async with httpx.AsyncClient(timeout=30) as client:
        # no rule (what bootstrap leaves): the emulator refuses, as S3 does
        before = await client.options(target.url, headers=preflight(PAGE))
        await s3.put_bucket_cors(
            Bucket=bucket, CORSConfiguration={"CORSRules": [terraform_cors_rule([PAGE])]}
        )
        allowed = await client.options(target.url, headers=preflight(PAGE))
        refused = await client.options(target.url, headers=preflight(OTHER))
        photo = samples.photo(tmp_path / "a.jpg", 640, 480)
        sent = await client.post(
            target.url,
            data=target.fields,
            files={"file": ("a.jpg", photo.read_bytes(), "image/jpeg")},
            headers={"Origin": PAGE},
        )

    assert before.status_code == 403, before.text
    assert allowed.status_code == 200, allowed.text
    assert allowed.headers["access-control-allow-origin"] == PAGE
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert refused.status_code == 403, refused.text
    assert "access-control-allow-origin" not in refused.headers
    assert sent.status_code in (200, 201, 204), sent.text
    assert sent.headers["access-control-allow-origin"] == PAGE


async def test_bootstrap_gives_the_bucket_terraforms_rule_for_the_web_origins(
    localstack_server: LocalStackServer, moto_server: MotoServer
) -> None:
    """A local stack on LocalStack (docker compose) sets `OMNIGEN_WEB_ORIGINS` for bootstrap,
    so the page's uploads work there as on AWS: the same rule as Terraform's, applied again
    unchanged."""
    settings = localstack_settings(localstack_server, moto_server).model_copy(
        update={"web_origins": [PAGE, "http://localhost:8000"]}
    )
    async for stack in bootstrapped(settings):
        s3 = await stack.aws.s3()
        await apply_spec(stack.aws, stack.spec)  # idempotent
        rules = (await s3.get_bucket_cors(Bucket=stack.spec.bucket.name))["CORSRules"]
        expected = terraform_cors_rule([PAGE, "http://localhost:8000"])
        assert [{k: v for k, v in r.items() if k in expected} for r in rules] == [expected]
        assets = await stack.assets()
        access = UploadAccess(
            store=DynamoUploadStore(await stack.aws.dynamodb(), stack.spec.table),
            presigner=assets,
            assets=assets,
        )
        _, target = await start_upload(access, "alice", "image/jpeg", "a.jpg")
        async with httpx.AsyncClient(timeout=30) as client:
            headers = {"Access-Control-Request-Method": "POST"}
            allowed = await client.options(target.url, headers={"Origin": PAGE, **headers})
            refused = await client.options(target.url, headers={"Origin": OTHER, **headers})
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["access-control-allow-origin"] == PAGE
        assert refused.status_code == 403, refused.text
