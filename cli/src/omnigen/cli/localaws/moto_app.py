"""moto's server app with one fidelity fix and two cost fixes, all for DynamoDB.

- Requests are applied one at a time. Real DynamoDB applies each UpdateItem/PutItem atomically
  (a condition and `version = version + 1` see the latest write). moto's threaded server runs
  them concurrently without a lock, so concurrent updates can be lost inside the emulator; our
  race tests would then test moto, not our code. SQS, SNS and S3 stay concurrent (long polls
  must not block everything else).
- TransactWriteItems rolls back the items it names, not whole tables. moto deep-copies every
  table a transaction names before it starts, once per item of the transaction (four items on
  one table: four copies of the whole table), to put the copy back if the transaction is
  cancelled; so a transaction's cost grows with the table's size times its items, which
  DynamoDB's does not. `ItemRollback` runs moto's own transaction code unchanged, with the
  table copy made a no-op, and instead saves a deep copy of each item the transaction names
  (or its absence) and puts those back when the transaction fails: the same items end in the
  same state, cancellation reasons are moto's own. A table with a stream keeps moto's whole
  copy (a stream records every write, and the copy rolls those records back too).
- Expressions are parsed once per text. moto parses a condition or update expression each
  time it looks at it: a transaction's Update item has its update expression parsed three
  times and its condition twice, so a four-item create spent about half its time in moto's
  parser (DynamoDB's cost is per item written, not per expression read). `ParsedExpressions`
  keeps each parse (by the expression's text, and for a condition also its names and
  values): conditions answer the same tree and the same names and values found, update
  expressions the same tree (moto validates a deep copy of it, never the tree itself).
  Expressions that do not parse are not kept (moto raises its own error each time).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import functools
import json
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing.expressions import UpdateExpressionParser  # type: ignore[attr-defined]
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import BaseWSGIServer, make_server

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class SerializedDynamoDB:
    def __init__(self, app: WsgiApp) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with self._lock:
                return list(self._app(environ, start_response))
        return self._app(environ, start_response)


_Saved = tuple[Table, DynamoType, DynamoType | None, bool, Any]  # table, key, had hash, item


class ItemRollback:
    """Installs `transact_write_items` with an item rollback on moto's DynamoDB backend (see
    the module's docstring). Only for a server whose DynamoDB requests run one at a time
    (`SerializedDynamoDB`): the table copy is disabled while a transaction runs."""

    original: Callable[[DynamoDBBackend, list[dict[str, Any]]], None] | None = None

    @classmethod
    def install(cls) -> None:
        if cls.original is None:
            cls.original = DynamoDBBackend.transact_write_items
            DynamoDBBackend.transact_write_items = cls.transact_write_items  # type: ignore[method-assign,assignment]

    @staticmethod
    def transact_write_items(
        backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
    ) -> None:
        original = ItemRollback.original
        assert original is not None
        saved = _saved_items(backend, transact_items)
        if saved is None:  # a stream, or a request moto will refuse: moto's own way
            original(backend, transact_items)
            return
        with _tables_not_copied():
            try:
                original(backend, transact_items)
            except BaseException:
                for table, hash_key, range_key, had_hash, item in reversed(saved):
                    _put_back(table, hash_key, range_key, had_hash, item)
                raise


def _saved_items(
    backend: DynamoDBBackend, transact_items: list[dict[str, Any]]
) -> list[_Saved] | None:
    """A deep copy of each item the transaction names, as it is now (None: absent); None
    when a table has a stream or a request is malformed (moto then refuses it itself)."""
    saved: list[_Saved] = []
    for entry in transact_items:
        for op_type, op in entry.items():
            table = backend.tables.get(op.get("TableName", "")) if isinstance(op, dict) else None
            if table is None or table.stream_shard is not None:
                return None
            key = op.get("Item") if op_type == "Put" else op.get("Key")
            if not isinstance(key, dict) or table.hash_key_attr not in key:
                return None
            hash_key = DynamoType(key[table.hash_key_attr])
            range_key = None
            if table.range_key_attr is not None:
                if table.range_key_attr not in key:
                    return None
                range_key = DynamoType(key[table.range_key_attr])
            item = table.get_item(hash_key, range_key)
            saved.append((table, hash_key, range_key, hash_key in table.items, copy.deepcopy(item)))
    return saved


def _put_back(
    table: Table, hash_key: DynamoType, range_key: DynamoType | None, had_hash: bool, item: Any
) -> None:
    if range_key is None:
        if item is None:
            table.items.pop(hash_key, None)
        else:
            table.items[hash_key] = item
        return
    if item is None:
        table.items.get(hash_key, {}).pop(range_key, None)
        if not had_hash and not table.items.get(hash_key, True):
            table.items.pop(hash_key, None)
    else:
        table.items[hash_key][range_key] = item


@contextlib.contextmanager
def _tables_not_copied() -> Iterator[None]:
    """`copy.deepcopy(table)` answers the table itself while the block runs."""
    Table.__deepcopy__ = lambda self, memo: self  # type: ignore[attr-defined]
    try:
        yield
    finally:
        del Table.__deepcopy__  # type: ignore[attr-defined]


_PARSES_KEPT: Final = 4096  # distinct expressions; the project's code writes a few dozen


class ParsedExpressions:
    """Installs a parse once per expression on moto's condition and update expression parsers
    (see the module's docstring)."""

    parse: Callable[[ConditionExpressionParser], Any] | None = None
    make: Callable[[str], Any] | None = None

    @classmethod
    def install(cls) -> None:
        if cls.parse is not None:
            return
        cls.parse = ConditionExpressionParser.parse
        cls.make = UpdateExpressionParser.make
        ConditionExpressionParser.parse = _parse_condition  # type: ignore[method-assign,assignment]
        UpdateExpressionParser.make = functools.lru_cache(maxsize=_PARSES_KEPT)(cls.make)


_Parsed = tuple[Any, list[str], list[str]]  # the condition's tree, names found, values found
_conditions: dict[str, _Parsed] = {}


def _parse_condition(parser: ConditionExpressionParser) -> Any:
    """`ConditionExpressionParser.parse`, kept by the expression and its names and values."""
    original = ParsedExpressions.parse
    assert original is not None
    key = json.dumps(
        [
            parser.condition_expression,
            parser.expression_attribute_names,
            parser.expression_attribute_values,
        ],
        sort_keys=True,
    )
    found = _conditions.get(key)
    if found is None:
        names_before = len(parser.expr_attr_names_found)
        values_before = len(parser.expr_attr_values_found)
        op = original(parser)  # raises for a bad expression: nothing kept
        found = (
            op,
            parser.expr_attr_names_found[names_before:],
            parser.expr_attr_values_found[values_before:],
        )
        if len(_conditions) >= _PARSES_KEPT:
            _conditions.clear()
        _conditions[key] = found
        return op
    op, names_found, values_found = found
    parser.expr_attr_names_found.extend(names_found)
    parser.expr_attr_values_found.extend(values_found)
    return op


def build_app() -> WsgiApp:
    ItemRollback.install()
    ParsedExpressions.install()
    return SerializedDynamoDB(DomainDispatcherApplication(create_backend_app))


def make_moto_server(host: str, port: int) -> BaseWSGIServer:
    return make_server(host, port, build_app(), threaded=True, request_handler=MotoRequestHandler)


class ThreadedServer:
    """The same app served from a thread of this process (the embedded default)."""

    def __init__(self, host: str, port: int) -> None:
        self._server = make_moto_server(host, port)
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="moto-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="moto server with atomic DynamoDB writes")
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args(argv)
    make_moto_server(args.host, args.port).serve_forever()


if __name__ == "__main__":
    main()
