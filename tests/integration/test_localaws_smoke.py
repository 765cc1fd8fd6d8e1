"""The local AWS launchers really serve SQS, SNS (raw delivery + filter policy), S3 and DynamoDB
to boto3 over HTTP on 127.0.0.1, and clean up after themselves."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from omnigen.cli.localaws.localstack import LocalStackNotInstalled, LocalStackServer
from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.ports import port_is_open
from omnigen.cli.localaws.process import EmulatorStartFailed

REGION = "us-east-1"

ClientFactory = Callable[[str], Any]


def make_client(service: str, endpoint_url: str) -> Any:
    """A boto3 client for moto with explicit test credentials, so ~/.aws never matters
    (LocalStack's come from localstack-client: `LocalStackServer.session().client`)."""
    return boto3.client(
        service,
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )


def unique(name: str) -> str:
    return f"{name}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def moto_subprocess() -> Iterator[MotoServer]:
    with MotoServer() as server:
        yield server


@pytest.fixture(scope="module")
def localstack() -> Iterator[LocalStackServer]:
    with LocalStackServer() as server:
        yield server


@pytest.fixture(params=["moto", pytest.param("localstack", marks=pytest.mark.localstack)])
def aws(request: pytest.FixtureRequest) -> ClientFactory:
    """Clients for one emulator; each test using it runs against both."""
    if request.param == "localstack":
        server: LocalStackServer = request.getfixturevalue("localstack")
        return server.session().client
    moto: MotoServer = request.getfixturevalue("moto_subprocess")
    return lambda service: make_client(service, moto.endpoint_url)


def receive_bodies(sqs: Any, queue_url: str, want: int, wait_s: float) -> list[dict[str, Any]]:
    """Receive and delete messages until `want` arrived or `wait_s` passed."""
    got: list[dict[str, Any]] = []
    deadline = time.monotonic() + wait_s
    while len(got) < want and time.monotonic() < deadline:
        response = sqs.receive_message(
            QueueUrl=queue_url,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            MessageAttributeNames=["All"],
        )
        for message in response.get("Messages", []):
            got.append(message)
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return got


def test_queue_round_trips_a_message(aws: ClientFactory) -> None:
    sqs = aws("sqs")
    queue_url = sqs.create_queue(QueueName=unique("roundtrip"))["QueueUrl"]
    # Queue URLs point back at the emulator itself: no DNS names that need the internet.
    assert queue_url.startswith(sqs.meta.endpoint_url + "/")

    sqs.send_message(QueueUrl=queue_url, MessageBody='{"hello": "world"}')
    messages = receive_bodies(sqs, queue_url, want=1, wait_s=10)

    assert [json.loads(m["Body"]) for m in messages] == [{"hello": "world"}]


def test_topic_delivers_only_matching_events_raw_to_the_queue(aws: ClientFactory) -> None:
    sqs, sns = aws("sqs"), aws("sns")
    topic_arn = sns.create_topic(Name=unique("events"))["TopicArn"]

    def subscribed_queue(name: str, **attributes: str) -> str:
        queue_url = sqs.create_queue(QueueName=unique(name))["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        sns.subscribe(
            TopicArn=topic_arn,
            Protocol="sqs",
            Endpoint=queue_arn,
            Attributes={"RawMessageDelivery": "true", **attributes},
        )
        return queue_url

    queue_url = subscribed_queue(
        "renderer", FilterPolicy=json.dumps({"event_type": ["script.ready"]})
    )
    everything_url = subscribed_queue("everything")  # no filter: sees what the topic fans out

    def publish(event_type: str, body: dict[str, str]) -> None:
        sns.publish(
            TopicArn=topic_arn,
            Message=json.dumps(body),
            MessageAttributes={"event_type": {"DataType": "String", "StringValue": event_type}},
        )

    publish("job.requested", {"job_id": "not-for-renderer"})
    publish("script.ready", {"job_id": "for-renderer"})
    # Both were fanned out (the unfiltered queue got both), the filtered queue the match only,
    # and it holds nothing beside it, neither visible nor in flight.
    fanned_out = receive_bodies(sqs, everything_url, want=2, wait_s=15)
    messages = receive_bodies(sqs, queue_url, want=1, wait_s=15)

    assert sorted(json.loads(m["Body"])["job_id"] for m in fanned_out) == [
        "for-renderer",
        "not-for-renderer",
    ]
    assert [json.loads(m["Body"]) for m in messages] == [{"job_id": "for-renderer"}]
    assert messages[0]["MessageAttributes"]["event_type"]["StringValue"] == "script.ready"
    counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    left = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=counts)["Attributes"]
    assert left == dict.fromkeys(counts, "0")


@pytest.mark.localstack
def test_localstack_stores_and_returns_s3_objects(localstack: LocalStackServer) -> None:
    s3 = localstack.session().client("s3")
    bucket = unique("assets")
    s3.create_bucket(Bucket=bucket)

    s3.put_object(Bucket=bucket, Key="jobs/j1/final.mp4", Body=b"\x00\x01video-bytes")
    body = s3.get_object(Bucket=bucket, Key="jobs/j1/final.mp4")["Body"].read()

    assert body == b"\x00\x01video-bytes"


@pytest.mark.localstack
def test_localstack_queue_feeds_a_dynamodb_table_on_moto(
    localstack: LocalStackServer, moto_subprocess: MotoServer
) -> None:
    """The project's split: SQS/SNS/S3 on LocalStack, DynamoDB on moto, side by side."""
    sqs = localstack.session().client("sqs")
    # localstack-client points every service at LocalStack; DynamoDB is moto's.
    dynamodb = make_client("dynamodb", moto_subprocess.endpoint_url)
    table = unique("jobs")
    dynamodb.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "job_id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    queue_url = sqs.create_queue(QueueName=unique("ingest"))["QueueUrl"]
    sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"job_id": "j-42"}))

    for message in receive_bodies(sqs, queue_url, want=1, wait_s=10):
        job_id = json.loads(message["Body"])["job_id"]
        dynamodb.put_item(TableName=table, Item={"job_id": {"S": job_id}, "stage": {"S": "new"}})

    item = dynamodb.get_item(TableName=table, Key={"job_id": {"S": "j-42"}})["Item"]
    assert item == {"job_id": {"S": "j-42"}, "stage": {"S": "new"}}
    assert localstack.health()["dynamodb"] == "disabled"


def test_moto_reset_forgets_every_resource(moto_subprocess: MotoServer) -> None:
    sqs = make_client("sqs", moto_subprocess.endpoint_url)
    sqs.create_queue(QueueName=unique("doomed"))
    assert sqs.list_queues().get("QueueUrls")

    moto_subprocess.reset()

    assert sqs.list_queues().get("QueueUrls", []) == []


def test_in_process_moto_serves_and_stops() -> None:
    server = MotoServer(in_process=True).start()
    try:
        port = int(server.endpoint_url.rsplit(":", 1)[1])
        sns = make_client("sns", server.endpoint_url)
        topic_arn = sns.create_topic(Name="embedded")["TopicArn"]
        assert topic_arn.endswith(":embedded")
    finally:
        server.stop()
    assert not port_is_open(port)


def test_moto_subprocess_stops_and_removes_its_files() -> None:
    server = MotoServer().start()
    root, port = server.root, int(server.endpoint_url.rsplit(":", 1)[1])
    assert root is not None and (root / "moto.log").exists()

    server.stop()

    assert not root.exists()
    assert not port_is_open(port)


def test_moto_start_failure_reports_the_log_tail() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        server = MotoServer(port=taken.getsockname()[1], start_timeout=30)
        with pytest.raises(EmulatorStartFailed) as caught:
            server.start()

    assert "exited with code" in str(caught.value)
    assert "Address already in use" in str(caught.value)
    assert server.root is None


@pytest.mark.localstack
def test_two_localstack_runs_share_no_state(localstack: LocalStackServer) -> None:
    first_sqs = localstack.session().client("sqs")
    name = unique("private")
    first_sqs.create_queue(QueueName=name)

    with LocalStackServer() as second:
        assert second.endpoint_url != localstack.endpoint_url
        assert second.root is not None and second.root != localstack.root
        second_sqs = second.session().client("sqs")
        second_queues = second_sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])
        second_root, second_port = second.root, second.port

    assert second_queues == []
    assert first_sqs.list_queues(QueueNamePrefix=name)["QueueUrls"]
    assert not second_root.exists()
    assert second_port is not None and not port_is_open(second_port)


@pytest.mark.localstack
def test_missing_localstack_venv_says_how_to_install(tmp_path: Path) -> None:
    server = LocalStackServer(venv=tmp_path / "no-such-venv")

    with pytest.raises(LocalStackNotInstalled, match=r"scripts/install-localstack\.sh"):
        server.start()
