"""The moto launcher's TransactWriteItems (`moto_app.ItemRollback`): moto's own transaction,
rolled back item by item instead of by a deep copy of the whole table. Over HTTP on a moto
server launched as the project launches it: what a cancelled transaction leaves is exactly
what was there before (an updated item, a new item, a deleted item, a table with many
items), an applied one applies, and the cancellation reasons are moto's own. Update
expressions validated from a kept tree (`moto_app.FastValidation`) decide by each request's
item and values and refuse what moto refuses, every time."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from omnigen.cli.localaws.moto_server import MotoServer
from omnigen.cli.localaws.pipeline import EMULATOR_CREDENTIALS

TABLE = "transactions"


@pytest.fixture
async def dynamodb(moto_server: MotoServer) -> AsyncIterator[Any]:
    session = get_session()
    async with session.create_client(
        "dynamodb",
        region_name="us-east-1",
        endpoint_url=moto_server.endpoint_url,
        aws_access_key_id=EMULATOR_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=EMULATOR_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    ) as client:
        name = f"{TABLE}-{id(client)}"
        await client.create_table(
            TableName=name,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        client.table = name
        yield client
        await client.delete_table(TableName=name)


async def _all(client: Any) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    kwargs: dict[str, Any] = {"TableName": client.table, "ConsistentRead": True}
    while True:
        page = await client.scan(**kwargs)
        items.update({item["pk"]["S"]: item for item in page["Items"]})
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


async def test_a_cancelled_transaction_leaves_every_item_as_it_was(dynamodb: Any) -> None:
    table = dynamodb.table
    for i in range(200):  # a table with many items besides the ones the transaction names
        await dynamodb.put_item(
            TableName=table, Item={"pk": {"S": f"other-{i}"}, "n": {"N": str(i)}}
        )
    await dynamodb.put_item(
        TableName=table,
        Item={"pk": {"S": "counter"}, "n": {"N": "5"}, "tags": {"SS": ["a", "b"]}},
    )
    await dynamodb.put_item(TableName=table, Item={"pk": {"S": "doomed"}, "n": {"N": "1"}})
    await dynamodb.put_item(TableName=table, Item={"pk": {"S": "guard"}, "n": {"N": "9"}})
    before = await _all(dynamodb)

    with pytest.raises(dynamodb.exceptions.TransactionCanceledException) as cancelled:
        await dynamodb.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "counter"}},
                        "UpdateExpression": "ADD n :one, tags :t SET extra = :x",
                        "ExpressionAttributeValues": {
                            ":one": {"N": "1"},
                            ":t": {"SS": ["c"]},
                            ":x": {"S": "x"},
                        },
                    }
                },
                {"Put": {"TableName": table, "Item": {"pk": {"S": "fresh"}, "n": {"N": "0"}}}},
                {"Delete": {"TableName": table, "Key": {"pk": {"S": "doomed"}}}},
                {
                    "Update": {  # refused: after the three above were applied by moto
                        "TableName": table,
                        "Key": {"pk": {"S": "guard"}},
                        "UpdateExpression": "SET n = :zero",
                        "ConditionExpression": "n < :limit",
                        "ExpressionAttributeValues": {":zero": {"N": "0"}, ":limit": {"N": "3"}},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    reasons = cancelled.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "None", "None", "ConditionalCheckFailed"]
    assert reasons[3]["Item"] == {"pk": {"S": "guard"}, "n": {"N": "9"}}
    assert await _all(dynamodb) == before

    # the same transaction with a passing condition applies all four
    applied = {"n": {"N": "9"}}
    await dynamodb.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": table,
                    "Key": {"pk": {"S": "counter"}},
                    "UpdateExpression": "ADD n :one",
                    "ExpressionAttributeValues": {":one": {"N": "1"}},
                }
            },
            {"Put": {"TableName": table, "Item": {"pk": {"S": "fresh"}, "n": {"N": "0"}}}},
            {"Delete": {"TableName": table, "Key": {"pk": {"S": "doomed"}}}},
            {
                "ConditionCheck": {
                    "TableName": table,
                    "Key": {"pk": {"S": "guard"}},
                    "ConditionExpression": "n = :n",
                    "ExpressionAttributeValues": {":n": applied["n"]},
                }
            },
        ]
    )
    after = await _all(dynamodb)
    assert after["counter"]["n"] == {"N": "6"}
    assert after["fresh"] == {"pk": {"S": "fresh"}, "n": {"N": "0"}}
    assert "doomed" not in after
    assert len(after) == len(before)


async def test_two_operations_on_one_item_are_refused_and_change_nothing(dynamodb: Any) -> None:
    table = dynamodb.table
    await dynamodb.put_item(TableName=table, Item={"pk": {"S": "one"}, "n": {"N": "1"}})
    before = await _all(dynamodb)
    with pytest.raises(dynamodb.exceptions.ClientError) as refused:
        await dynamodb.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}, "n": {"N": "1"}}}},
                {"Put": {"TableName": table, "Item": {"pk": {"S": "one"}, "n": {"N": "2"}}}},
                {"Delete": {"TableName": table, "Key": {"pk": {"S": "one"}}}},
            ]
        )
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert await _all(dynamodb) == before


# -- `moto_app.ParsedExpressions`: each expression is parsed once, each write still decides --


async def test_a_kept_condition_decides_by_the_item_and_the_values_of_each_request(
    dynamodb: Any,
) -> None:
    table = dynamodb.table

    async def take(cap: int) -> bool:
        try:
            await dynamodb.update_item(
                TableName=table,
                Key={"pk": {"S": "slots"}},
                UpdateExpression="ADD #n :one",
                ConditionExpression="attribute_not_exists(#n) OR #n < :cap",
                ExpressionAttributeNames={"#n": "n"},
                ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(cap)}},
            )
        except dynamodb.exceptions.ConditionalCheckFailedException:
            return False
        return True

    assert [await take(2) for _ in range(3)] == [True, True, False]  # the item, each time
    assert await take(3) is True  # the same text with another value: that value
    assert await take(3) is False
    item = await dynamodb.get_item(TableName=table, Key={"pk": {"S": "slots"}})
    assert item["Item"]["n"] == {"N": "3"}


async def test_a_kept_parse_still_counts_its_names_and_values_as_used(dynamodb: Any) -> None:
    """moto refuses names an expression does not use; a repeat of a request whose condition
    uses them must pass again, and one that does not use one is refused again."""
    table = dynamodb.table
    for n in range(3):
        await dynamodb.put_item(
            TableName=table,
            Item={"pk": {"S": f"job-{n}"}, "v": {"N": "1"}},
            ConditionExpression="attribute_not_exists(#pk) OR #v < :v",
            ExpressionAttributeNames={"#pk": "pk", "#v": "v"},
            ExpressionAttributeValues={":v": {"N": "0"}},
        )
    for _ in range(2):
        with pytest.raises(dynamodb.exceptions.ClientError, match="unused"):
            await dynamodb.put_item(
                TableName=table,
                Item={"pk": {"S": "job-x"}},
                ConditionExpression="attribute_not_exists(#pk)",
                ExpressionAttributeNames={"#pk": "pk", "#v": "v"},
            )


async def test_an_expression_that_does_not_parse_is_refused_every_time(dynamodb: Any) -> None:
    """(A condition that does not parse is moto's own 500, kept or not: not tried here.)"""
    for _ in range(2):
        with pytest.raises(dynamodb.exceptions.ClientError, match="ValidationException"):
            await dynamodb.update_item(
                TableName=dynamodb.table,
                Key={"pk": {"S": "bad"}},
                UpdateExpression="ADD ADD n :one",
                ExpressionAttributeValues={":one": {"N": "1"}},
            )
    found = await dynamodb.get_item(TableName=dynamodb.table, Key={"pk": {"S": "bad"}})
    assert "Item" not in found


async def test_a_kept_update_expression_applies_to_each_item_with_each_requests_values(
    dynamodb: Any,
) -> None:
    """One text, many items and values: `if_not_exists`, `list_append`, a nested path, ADD to
    a number and to a set, REMOVE. Each result is the request's own (no copy shares state)."""
    table = dynamodb.table
    expression = (
        "SET #first = if_not_exists(#first, :v), #log = list_append(if_not_exists(#log, :empty),"
        " :entry), #m.#k = :v ADD #n :one, #tags :tag REMOVE #gone"
    )
    names = {
        "#first": "first",
        "#log": "log",
        "#m": "m",
        "#k": "k",
        "#n": "n",
        "#tags": "tags",
        "#gone": "gone",
    }
    for pk in ("a", "b"):
        await dynamodb.put_item(
            TableName=table, Item={"pk": {"S": pk}, "m": {"M": {}}, "gone": {"S": "x"}}
        )
    for round_, pk in enumerate(["a", "b", "a", "a"]):
        await dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": pk}},
            UpdateExpression=expression,
            ExpressionAttributeNames=names,
            ExpressionAttributeValues={
                ":v": {"S": f"v{round_}"},
                ":empty": {"L": []},
                ":entry": {"L": [{"N": str(round_)}]},
                ":one": {"N": "1"},
                ":tag": {"SS": [f"t{round_}"]},
            },
        )
    items = await _all(dynamodb)
    assert sorted(items["a"].pop("tags")["SS"]) == ["t0", "t2", "t3"]
    assert items["a"] == {
        "pk": {"S": "a"},
        "first": {"S": "v0"},
        "log": {"L": [{"N": "0"}, {"N": "2"}, {"N": "3"}]},
        "m": {"M": {"k": {"S": "v3"}}},
        "n": {"N": "3"},
    }
    assert items["b"]["first"] == {"S": "v1"}
    assert items["b"]["log"] == {"L": [{"N": "1"}]}
    assert items["b"]["m"] == {"M": {"k": {"S": "v1"}}}
    assert items["b"]["n"] == {"N": "1"}
    assert "gone" not in items["b"]


async def test_a_kept_update_expression_is_refused_each_time_moto_refuses_it(
    dynamodb: Any,
) -> None:
    """The checks that depend on the item and the values still run from a kept tree: a key
    attribute, a path into a missing map, a type mismatch; a request moto accepts between
    them is unaffected."""
    table = dynamodb.table
    await dynamodb.put_item(TableName=table, Item={"pk": {"S": "t"}, "n": {"N": "1"}})

    async def update(expression: str, values: dict[str, Any]) -> None:
        await dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": "t"}},
            UpdateExpression=expression,
            ExpressionAttributeValues=values,
        )

    for _ in range(2):
        with pytest.raises(dynamodb.exceptions.ClientError, match="part of the key"):
            await update("SET pk = :v", {":v": {"S": "other"}})
        with pytest.raises(dynamodb.exceptions.ClientError, match="ValidationException"):
            await update("SET missing.inner = :v", {":v": {"S": "x"}})
        with pytest.raises(dynamodb.exceptions.ClientError, match="ValidationException"):
            await update("ADD n :v", {":v": {"S": "not a number"}})
        await update("ADD n :v", {":v": {"N": "2"}})
    item = await dynamodb.get_item(TableName=table, Key={"pk": {"S": "t"}})
    assert item["Item"] == {"pk": {"S": "t"}, "n": {"N": "5"}}


async def test_a_structure_check_that_passed_is_still_made_for_other_names(dynamodb: Any) -> None:
    """Two names for one path overlap (refused); the same text with two paths is accepted;
    then the overlapping names again: refused again, whichever came first."""
    table = dynamodb.table

    async def update(second: str) -> None:
        await dynamodb.update_item(
            TableName=table,
            Key={"pk": {"S": "s"}},
            UpdateExpression="SET #a = :v, #b = :v",
            ExpressionAttributeNames={"#a": "x", "#b": second},
            ExpressionAttributeValues={":v": {"S": "v"}},
        )

    for _ in range(2):
        with pytest.raises(dynamodb.exceptions.ClientError, match="overlap"):
            await update("x")
        await update("y")
        with pytest.raises(dynamodb.exceptions.ClientError, match="part of the key"):
            await update("pk")
    item = await dynamodb.get_item(TableName=table, Key={"pk": {"S": "s"}})
    assert item["Item"] == {"pk": {"S": "s"}, "x": {"S": "v"}, "y": {"S": "v"}}
