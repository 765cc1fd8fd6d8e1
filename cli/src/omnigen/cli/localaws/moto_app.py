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
- Validating an update expression costs what the expression costs, not moto's bookkeeping
  around it. Each update of an item (a transaction's Update, an UpdateItem; twice for an item
  that does not exist yet) deep-copies the expression's tree and walks it with ten
  processors, each of which rebuilt its map of node kinds at every node and asked
  `isinstance` of abstract classes (`abc`'s slow path) twice per node: a four-item create
  spent most of its DynamoDB time there. `FastValidation` copies a kept tree by unpickling
  the pickle taken when it was parsed (the same tree, about 4x cheaper than
  `copy.deepcopy`), keeps each processor class's node kinds (the keys of its
  `_processing_map`, class constants in every moto processor), and walks with moto's own
  walk where the two kind tests are answered per (processor class, node class) once
  (moto registers no virtual subclasses, so `isinstance` is `issubclass` of the class).
  Three of the ten processors check the expression's structure alone (its actions counted,
  overlapping paths, a key attribute updated: given the tree, its names and the table's key
  attributes, nothing of the item or the values); once they passed for a kept tree with the
  same names and keys they are not walked again for it (`KeptUpdateValidator`). The other
  seven run on every update, in moto's order, on the same copy.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import pickle
import threading
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Final

from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.comparisons import ConditionExpressionParser
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodb.parsing import validators
from moto.dynamodb.parsing.ast_nodes import (  # type: ignore[attr-defined]
    DepthFirstTraverser,
    Node,
)
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
        UpdateExpressionParser.make = _make_update


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


_updates: dict[str, Any] = {}  # an update expression's text: its tree
_pickles: dict[int, tuple[Any, bytes, str]] = {}  # id of a kept tree: the tree, pickle, text
_structure_passed: set[tuple[str, str, tuple[str, ...]]] = set()  # text, names, table keys


def _make_update(expression: str) -> Any:
    """`UpdateExpressionParser.make`, kept by the expression's text, with its tree's pickle
    for `FastValidation`'s copies."""
    tree = _updates.get(expression)
    if tree is None:
        make = ParsedExpressions.make
        assert make is not None
        tree = make(expression)  # raises for a bad expression: nothing kept
        if len(_updates) >= _PARSES_KEPT:
            _updates.clear()
            _pickles.clear()
            _structure_passed.clear()
        _updates[expression] = tree
        with contextlib.suppress(Exception):  # not picklable: copied by deepcopy
            _pickles[id(tree)] = (tree, pickle.dumps(tree, pickle.HIGHEST_PROTOCOL), expression)
    return tree


class FastValidation:
    """Installs the cheaper copy and walk of update expression trees (see the module's
    docstring). After `ParsedExpressions`, whose kept trees it copies."""

    installed = False

    @classmethod
    def install(cls) -> None:
        if cls.installed:
            return
        cls.installed = True
        validators.deepcopy = _copy_tree  # type: ignore[attr-defined,assignment]
        dynamodb_models.UpdateExpressionValidator = KeptUpdateValidator  # type: ignore[attr-defined]
        DepthFirstTraverser.nodes_to_be_processed = _node_kinds
        DepthFirstTraverser.traverse_node_recursively = _traverse


def _copy_tree(value: Any, memo: dict[int, Any] | None = None) -> Any:
    """`copy.deepcopy` for moto's validators: a kept tree by unpickling its pickle."""
    kept = _pickles.get(id(value))
    if kept is not None and kept[0] is value:
        return pickle.loads(kept[1])  # noqa: S301 - our own pickle of a tree moto parsed
    return copy.deepcopy(value, memo)


_STRUCTURE_CHECKS: Final = (
    validators.ActionCountValidator,
    validators.OverlappingPathsValidator,
    validators.UpdateHashRangeKeyValidator,
)


class KeptUpdateValidator(validators.UpdateExpressionValidator):
    """moto's validator of an update expression, which does not walk the checks of the
    expression's structure alone again once they passed for a kept tree with the same names
    and table keys (see the module's docstring)."""

    def __init__(
        self,
        expression: Any,
        expression_attribute_names: dict[str, str],
        expression_attribute_values: dict[str, dict[str, Any]],
        item: Any,
        table: Table,
    ) -> None:
        super().__init__(
            expression, expression_attribute_names, expression_attribute_values, item, table
        )
        kept = _pickles.get(id(expression))
        self.structure: tuple[str, str, tuple[str, ...]] | None = None
        if kept is not None and kept[0] is expression:
            names = json.dumps(expression_attribute_names, sort_keys=True)
            self.structure = (kept[2], names, tuple(table.table_key_attrs))

    def validate(self) -> Any:
        passed = self.structure is not None and self.structure in _structure_passed
        node = self.node_to_validate
        for processor in self.processors:
            if not (passed and isinstance(processor, _STRUCTURE_CHECKS)):
                node = processor.traverse(node)
        if self.structure is not None:
            _structure_passed.add(self.structure)
        return node


_kinds: dict[type, tuple[type, ...]] = {}


def _node_kinds(traverser: DepthFirstTraverser) -> tuple[type, ...]:
    """`DepthFirstTraverser.nodes_to_be_processed`, once per processor class."""
    kinds = _kinds.get(type(traverser))
    if kinds is None:
        kinds = _kinds[type(traverser)] = tuple(traverser._processing_map())
    return kinds


# (processor class, node class): (a node, a kind the processor takes)
_kinds_of: dict[tuple[type, type], tuple[bool, bool]] = {}


def _traverse(traverser: DepthFirstTraverser, node: Any, child_id: int = -1) -> Any:
    """`DepthFirstTraverser.traverse_node_recursively`, its kind tests answered once per
    (processor class, node class)."""
    pair = (type(traverser), type(node))
    found = _kinds_of.get(pair)
    if found is None:
        is_node = issubclass(pair[1], Node)
        found = _kinds_of[pair] = (is_node, is_node and issubclass(pair[1], _node_kinds(traverser)))
    is_node, takes = found
    if not is_node:
        return node
    parent_node = node.parent
    if node.children is not None:
        for i, child_node in enumerate(node.children):
            traverser.pre_processing_of_child(node, i)
            traverser.traverse_node_recursively(child_node, i)
    if takes:
        node = traverser.process(node)
        node.parent = parent_node
        if parent_node:
            parent_node.children[child_id] = node
    return node


def build_app() -> WsgiApp:
    ItemRollback.install()
    ParsedExpressions.install()
    FastValidation.install()
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
