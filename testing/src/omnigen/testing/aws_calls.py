"""Which AWS API calls a service's code can make: a static, function-level call graph.

Used by the IAM least-privilege test (tests/deploy/test_iam.py). The rule over-approximates, so
a call it misses is a bug in the rule, and an action it adds is at worst a loud false alarm:

- Universe: the modules transitively imported (any import statement, also inside functions and
  under TYPE_CHECKING) from the entry module, within the `omnigen` namespace.
- Nodes: each function, method and nested function, and each module's top-level code (class
  bodies, decorators, default values). Roots: the entry function (the console script's
  `main`) and every module's top-level code, which runs on import.
- Edges: every name or attribute a node *mentions* (a call, or a reference such as a callback):
  a name resolves lexically (nested def, module def or class, import); `module.attr` and
  `Class.attr` to that def or method; `self.attr` to the methods `attr` of the class, its bases
  and subclasses; any other `obj.attr` (and `getattr(obj, "attr")`) to every method named
  `attr` in the universe. Mentioning a class reaches its dunder methods, and all its methods
  when it derives from a class outside the universe (frameworks call overrides). A function
  reaches its nested functions; top-level code reaches functions registered by a decorator
  (`@router.get(...)`) other than property/staticmethod/contextmanager-like ones.
- AWS calls: `<expr>.<op>(...)` where `op` is the snake_case name of a dynamodb, sqs, sns or s3
  operation (except `self.<op>` when the class defines `op`), plus `get_paginator("op")`,
  `generate_presigned_url("op")`, `generate_presigned_post` (a POST policy signs PutObject)
  and `get_waiter("waiter")` (its operation). A name that
  several of these services share, or a non-literal paginator/waiter/presign name, fails loudly.
- Deployed settings: in `<x>.<field> or <fallback>`, the fallback is not walked when `field` is
  in `deployed` (the deployment always sets it; the IAM test checks the Terraform does).

Invisible to it: attribute names computed at run time (`getattr(obj, name)`), an operation
taken as a value and called later (`send = client.put_object`), `_make_api_call`, AWS calls
made by third-party libraries or code outside the namespace, exec and importlib.
"""

from __future__ import annotations

import ast
import importlib.util
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Final

import botocore
import botocore.exceptions
import botocore.session

SERVICES: Final = ("dynamodb", "sqs", "sns", "s3")
_CLIENT_HELPERS: Final = {"get_paginator", "generate_presigned_url", "get_waiter"}
_PASS_THROUGH_DECORATORS: Final = {
    "property",
    "cached_property",
    "staticmethod",
    "classmethod",
    "contextmanager",
    "asynccontextmanager",
    "abstractmethod",
    "overload",
    "override",
    "wraps",
    "cache",
    "lru_cache",
}

# Operations whose IAM action is not `<service>:<Operation>` (AWS service authorization
# reference): batch forms, multipart steps and bucket-level reads.
_SPECIAL_ACTIONS: Final[dict[tuple[str, str], frozenset[str]]] = {
    ("sqs", "DeleteMessageBatch"): frozenset({"sqs:DeleteMessage"}),
    ("sqs", "ChangeMessageVisibilityBatch"): frozenset({"sqs:ChangeMessageVisibility"}),
    ("sqs", "SendMessageBatch"): frozenset({"sqs:SendMessage"}),
    ("sns", "PublishBatch"): frozenset({"sns:Publish"}),
    # HEAD needs GetObject; S3 answers 404 for a missing key (which the code tests for) only to
    # a caller that may also list the bucket, otherwise 403.
    ("s3", "HeadObject"): frozenset({"s3:GetObject", "s3:ListBucket"}),
    ("s3", "HeadBucket"): frozenset({"s3:ListBucket"}),
    ("s3", "ListObjects"): frozenset({"s3:ListBucket"}),
    ("s3", "ListObjectsV2"): frozenset({"s3:ListBucket"}),
    ("s3", "ListObjectVersions"): frozenset({"s3:ListBucketVersions"}),
    ("s3", "ListBuckets"): frozenset({"s3:ListAllMyBuckets"}),
    ("s3", "CreateMultipartUpload"): frozenset({"s3:PutObject"}),
    ("s3", "UploadPart"): frozenset({"s3:PutObject"}),
    ("s3", "CompleteMultipartUpload"): frozenset({"s3:PutObject"}),
    ("s3", "CopyObject"): frozenset({"s3:GetObject", "s3:PutObject"}),
    ("s3", "UploadPartCopy"): frozenset({"s3:GetObject", "s3:PutObject"}),
    ("s3", "DeleteObjects"): frozenset({"s3:DeleteObject"}),
    ("s3", "ListParts"): frozenset({"s3:ListMultipartUploadParts"}),
    ("s3", "ListMultipartUploads"): frozenset({"s3:ListBucketMultipartUploads"}),
}
# Operations authorised through the actions of the statements inside them: no single answer.
_UNMAPPABLE: Final = {
    ("dynamodb", "TransactWriteItems"),
    ("dynamodb", "TransactGetItems"),
    ("dynamodb", "ExecuteStatement"),
    ("dynamodb", "BatchExecuteStatement"),
    ("dynamodb", "ExecuteTransaction"),
}


class AnalysisError(Exception):
    """The code does something the analysis cannot attribute to one AWS operation."""


# A TransactWriteItems call is authorised by the actions of the operations in its list.
_TRANSACT_WRITE_ACTIONS: Final = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@dataclass(frozen=True)
class AwsCall:
    service: str  # "s3"
    operation: str  # botocore's name: "PutObject"
    function: str  # "omnigen.shared.adapters.s3:S3AssetStore.put_bytes"
    line: int
    inner: frozenset[str] | None = None  # a transaction's actions, read from its literal list

    @property
    def actions(self) -> frozenset[str]:
        if self.inner is not None:
            return self.inner
        return iam_actions(self.service, self.operation)


@dataclass(frozen=True)
class GuardedCall:
    """A fallback not walked because the deployment sets `field`."""

    function: str
    line: int
    field: str


@dataclass
class Analysis:
    entry: str
    modules: frozenset[str]
    callers: dict[str, str | None]  # reachable node -> the node it was first reached from
    calls: list[AwsCall]
    guarded: list[GuardedCall]

    @property
    def reachable(self) -> frozenset[str]:
        return frozenset(self.callers)

    def chain(self, function: str) -> list[str]:
        """How `function` is reached: module code first, `function` last."""
        path: list[str] = []
        node: str | None = function
        while node is not None and node not in path:
            path.append(node)
            node = self.callers.get(node)
        return path[::-1]

    def actions(self) -> dict[str, list[AwsCall]]:
        """IAM action -> the reachable call sites that need it."""
        needed: dict[str, list[AwsCall]] = defaultdict(list)
        for call in self.calls:
            for action in call.actions:
                needed[action].append(call)
        return dict(needed)


def iam_actions(service: str, operation: str) -> frozenset[str]:
    if (service, operation) in _UNMAPPABLE:
        raise AnalysisError(f"{service} {operation} is authorised per inner statement; map it")
    return _SPECIAL_ACTIONS.get((service, operation), frozenset({f"{service}:{operation}"}))


# --- botocore's models --------------------------------------------------------------------


@dataclass(frozen=True)
class _Models:
    operations: dict[str, frozenset[tuple[str, str]]]  # snake name -> {(service, Operation)}
    waiters: dict[str, frozenset[tuple[str, str]]]  # snake waiter name -> {(service, Operation)}


@cache
def _models() -> _Models:
    session = botocore.session.get_session()
    operations: dict[str, set[tuple[str, str]]] = defaultdict(set)
    waiters: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for service in SERVICES:
        for operation in session.get_service_model(service).operation_names:
            operations[botocore.xform_name(operation)].add((service, operation))
        try:
            model = session.get_waiter_model(service)
        except (botocore.exceptions.DataNotFoundError, botocore.exceptions.UnknownServiceError):
            continue  # sqs and sns have no waiters
        for name in model.waiter_names:
            waiters[botocore.xform_name(name)].add((service, model.get_waiter(name).operation))
    return _Models(
        {name: frozenset(found) for name, found in operations.items()},
        {name: frozenset(found) for name, found in waiters.items()},
    )


# --- reading the sources ------------------------------------------------------------------

SourceLoader = Callable[[str], tuple[str, bool] | None]  # module -> (source, is_package)


def installed_sources(namespace: str = "omnigen") -> SourceLoader:
    """Sources of the modules under `namespace`, found on its package path without importing."""
    spec = importlib.util.find_spec(namespace)
    roots = [Path(p) for p in (spec.submodule_search_locations or [])] if spec else []

    def load(module: str) -> tuple[str, bool] | None:
        head, *rest = module.split(".")
        if head != namespace:
            return None
        for root in roots:
            path = root.joinpath(*rest)
            if path.with_suffix(".py").is_file() and rest:
                return path.with_suffix(".py").read_text(encoding="utf-8"), False
            if (path / "__init__.py").is_file():
                return (path / "__init__.py").read_text(encoding="utf-8"), True
        if any(root.joinpath(*rest).is_dir() for root in roots):
            return "", True  # a namespace package
        return None

    return load


def dict_sources(sources: dict[str, str]) -> SourceLoader:
    """Sources given as text, for synthetic modules (`pkg.__init__` marks a package)."""

    def load(module: str) -> tuple[str, bool] | None:
        if module in sources:
            return sources[module], False
        if f"{module}.__init__" in sources:
            return sources[f"{module}.__init__"], True
        return None

    return load


# --- the index ----------------------------------------------------------------------------


@dataclass(eq=False)
class _Func:
    key: str
    module: str
    cls: str | None  # the class whose method this is, directly or as a nested function
    parent: _Func | None  # the enclosing function, or the module code; None for the module code
    nested: dict[str, str] = field(default_factory=dict)
    mentions: list[ast.expr] = field(default_factory=list)
    getattr_names: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)  # always reached with this node
    calls: list[tuple[str | None, AwsCall]] = field(default_factory=list)  # (self-method?, call)
    ambiguous: list[tuple[str | None, str]] = field(default_factory=list)

    @property
    def qualname(self) -> str:
        return self.key.split(":", 1)[1]


@dataclass(eq=False)
class _Class:
    key: str
    module: str
    bases: list[ast.expr]
    scope: _Func  # where the class statement runs (its bases resolve there)
    methods: dict[str, str] = field(default_factory=dict)


@dataclass
class _Module:
    name: str
    is_package: bool
    defs: dict[str, str] = field(default_factory=dict)
    classes: dict[str, str] = field(default_factory=dict)
    imports: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    wrappers: frozenset[str] = frozenset()  # its decorators that wrap (functools.wraps)


class _Index:
    def __init__(self, loader: SourceLoader, deployed: frozenset[str]) -> None:
        self.loader = loader
        self.deployed = deployed
        self.modules: dict[str, _Module] = {}
        self.funcs: dict[str, _Func] = {}
        self.classes: dict[str, _Class] = {}
        self.methods_by_name: dict[str, list[str]] = defaultdict(list)
        self.guarded: list[GuardedCall] = []
        self._mro: dict[str, list[_Class]] = {}
        self._external: dict[str, bool] = {}

    def load(self, entry: str) -> None:
        pending = [entry]
        while pending:
            name = pending.pop()
            if name in self.modules:
                continue
            found = self.loader(name)
            if found is None:
                continue
            source, is_package = found
            tree = ast.parse(source, filename=name)
            module = _Module(name, is_package, wrappers=_wrapping_decorators(tree))
            self.modules[name] = module
            pending.extend(self._imports(module, tree))
            root = _Func(f"{name}:<module>", name, None, None)
            self.funcs[root.key] = root
            _Collector(self, module, root).body(tree.body)

    def _imports(self, module: _Module, tree: ast.Module) -> Iterator[str]:
        package = module.name if module.is_package else module.name.rpartition(".")[0]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        module.imports[alias.asname] = (alias.name, None)
                    else:
                        head = alias.name.split(".")[0]
                        module.imports[head] = (head, None)
                    yield from _with_parents(alias.name)
            elif isinstance(node, ast.ImportFrom):
                source = node.module or ""
                if node.level:
                    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                    source = f"{base}.{source}" if source else base
                yield from _with_parents(source)
                for alias in node.names:
                    module.imports[alias.asname or alias.name] = (source, alias.name)
                    yield f"{source}.{alias.name}"  # may be a submodule

    # -- resolution -------------------------------------------------------------------------

    def lookup(self, module_name: str, name: str, depth: int = 0) -> tuple[str, str] | None:
        """("func"|"class"|"module", key) that `name` means inside `module_name`."""
        module = self.modules.get(module_name)
        if module is None or depth > 20:
            return None
        if name in module.defs:
            return ("func", module.defs[name])
        if name in module.classes:
            return ("class", module.classes[name])
        if name in module.imports:
            source, attr = module.imports[name]
            if attr is None:
                return ("module", source) if source in self.modules else None
            if f"{source}.{attr}" in self.modules:
                return ("module", f"{source}.{attr}")
            return self.lookup(source, attr, depth + 1)
        if module.is_package and f"{module_name}.{name}" in self.modules:
            return ("module", f"{module_name}.{name}")
        return None

    def resolve(self, expr: ast.expr, scope: _Func) -> tuple[str, str] | None:
        if isinstance(expr, ast.Name):
            func: _Func | None = scope
            while func is not None:
                if expr.id in func.nested:
                    return ("func", func.nested[expr.id])
                func = func.parent
            return self.lookup(scope.module, expr.id)
        if isinstance(expr, ast.Attribute):
            base = self.resolve(expr.value, scope)
            if base is None:
                return None
            kind, key = base
            if kind == "module":
                return self.lookup(key, expr.attr)
            if kind == "class":
                for cls in self.mro(key):
                    if expr.attr in cls.methods:
                        return ("func", cls.methods[expr.attr])
        return None

    def mro(self, key: str) -> list[_Class]:
        """The class and its bases inside the universe, nearest first."""
        if key not in self._mro:
            self._mro[key] = []  # a cycle (impossible in valid code) ends here
            order: list[_Class] = []
            external = False
            pending = [self.classes[key]]
            while pending:
                cls = pending.pop(0)
                if cls in order:
                    continue
                order.append(cls)
                for base in cls.bases:
                    if isinstance(base, ast.Name) and base.id == "object":
                        continue
                    target = self.resolve(base, cls.scope)
                    if target is not None and target[0] == "class":
                        pending.append(self.classes[target[1]])
                    else:
                        external = True
            self._mro[key], self._external[key] = order, external
        return self._mro[key]

    def derives_from_outside(self, key: str) -> bool:
        self.mro(key)
        return self._external.get(key, False)

    def subclasses(self, key: str) -> list[_Class]:
        return [
            cls for cls in self.classes.values() if any(c.key == key for c in self.mro(cls.key))
        ]

    def defines(self, class_key: str | None, name: str) -> bool:
        return class_key is not None and any(name in c.methods for c in self.mro(class_key))

    def class_edges(self, key: str) -> Iterator[str]:
        """What mentioning a class reaches: dunders, or every method if a framework subclasses."""
        external = self.derives_from_outside(key)
        for cls in self.mro(key):
            for name, method in cls.methods.items():
                if external or (name.startswith("__") and name.endswith("__")):
                    yield method

    def edges(self, func: _Func) -> Iterator[str]:
        yield from func.children
        for expr in func.mentions:
            target = self.resolve(expr, func)
            if target is not None:
                kind, key = target
                if kind == "func":
                    yield key
                elif kind == "class":
                    yield from self.class_edges(key)
                continue
            if not isinstance(expr, ast.Attribute):
                continue  # a local variable, parameter or builtin
            base = expr.value
            if isinstance(base, ast.Name) and self.resolve(base, func) is not None:
                continue  # a module's or class's attribute that is no def of ours (a variable)
            if isinstance(base, ast.Name) and base.id in ("self", "cls") and func.cls:
                own = [
                    cls.methods[expr.attr]
                    for cls in [*self.mro(func.cls), *self.subclasses(func.cls)]
                    if expr.attr in cls.methods
                ]
                if own:
                    yield from own
                    continue
            yield from self.methods_by_name.get(expr.attr, [])
        for name in func.getattr_names:
            yield from self.methods_by_name.get(name, [])

    def aws_calls(self, func: _Func) -> Iterator[AwsCall]:
        """Its AWS calls, minus `self.<name>(...)` where the class defines `name` itself."""
        for self_method, call in func.calls:
            if self_method is None or not self.defines(func.cls, self_method):
                yield call

    def ambiguities(self, func: _Func) -> Iterator[str]:
        for self_method, note in func.ambiguous:
            if self_method is None or not self.defines(func.cls, self_method):
                yield note


def _with_parents(module: str) -> Iterator[str]:
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        yield ".".join(parts[:end])


def _wrapping_decorators(tree: ast.Module) -> frozenset[str]:
    """The module's own decorators that return a `functools.wraps` wrapper of the function:
    like `property`, they pass the function through instead of registering it somewhere."""
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(
            isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef)
            and any(_decorator_name(d) == "wraps" for d in inner.decorator_list)
            for inner in ast.walk(node)
        )
    )


def _decorator_name(node: ast.expr) -> str:
    while isinstance(node, ast.Call):
        node = node.func
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _literal_argument(node: ast.Call) -> str | None:
    values = [*node.args[:1], *(k.value for k in node.keywords if k.arg in _NAME_KEYWORDS)]
    for value in values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            return value.value
    return None


_NAME_KEYWORDS: Final = {"operation_name", "ClientMethod", "waiter_name"}


class _Collector:
    """Walks one module, filling the index with its functions, classes, mentions and calls."""

    def __init__(self, index: _Index, module: _Module, root: _Func) -> None:
        self.index = index
        self.module = module
        self.current = root
        self.cls: _Class | None = None  # the class whose body is being read
        self.scopes: list[ast.FunctionDef | ast.AsyncFunctionDef] = []  # enclosing defs

    def body(self, statements: Iterable[ast.stmt]) -> None:
        for statement in statements:
            self.visit(statement)

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            self.function(node)
        elif isinstance(node, ast.ClassDef):
            self.klass(node)
        elif isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            self.boolean_or(node)
        else:
            if isinstance(node, ast.Call):
                self.call(node)
            if isinstance(node, ast.Name | ast.Attribute) and isinstance(node.ctx, ast.Load):
                self.current.mentions.append(node)
            for child in ast.iter_child_nodes(node):
                self.visit(child)

    def qualify(self, name: str) -> str:
        if self.cls is not None:
            return f"{self.cls.key}.{name}"
        if self.current.parent is None:
            return f"{self.module.name}:{name}"
        return f"{self.current.key}.<locals>.{name}"

    def function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        """Decorators, defaults and annotations run where the def is; the body is a new node."""
        outer, owner = self.current, self.cls
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]
        every += [a for a in (arguments.vararg, arguments.kwarg) if a is not None]
        for expr in [
            *node.decorator_list,
            *arguments.defaults,
            *(d for d in arguments.kw_defaults if d is not None),
            *(a.annotation for a in every if a.annotation is not None),
            *([node.returns] if node.returns is not None else []),
        ]:
            self.visit(expr)
        key = self.qualify(node.name)
        cls_key = owner.key if owner else outer.cls
        func = _Func(key, self.module.name, cls_key, outer)
        self.index.funcs[key] = func
        registered = any(
            _decorator_name(d) not in _PASS_THROUGH_DECORATORS | self.module.wrappers
            for d in node.decorator_list
        )
        if owner is not None:
            owner.methods[node.name] = key
            self.index.methods_by_name[node.name].append(key)
            if registered:
                outer.children.append(key)
        elif outer.parent is None:
            self.module.defs[node.name] = key
            if registered:
                outer.children.append(key)
        else:
            outer.nested[node.name] = key
            outer.children.append(key)  # defined each time the enclosing function runs
        self.cls, self.current = None, func
        self.scopes.append(node)
        self.body(node.body)
        self.scopes.pop()
        self.cls, self.current = owner, outer

    def klass(self, node: ast.ClassDef) -> None:
        for expr in [*node.decorator_list, *node.bases, *(k.value for k in node.keywords)]:
            self.visit(expr)
        cls = _Class(self.qualify(node.name), self.module.name, node.bases, self.current)
        self.index.classes[cls.key] = cls
        if self.cls is None and self.current.parent is None:
            self.module.classes[node.name] = cls.key
        saved, self.cls = self.cls, cls
        self.body(node.body)
        self.cls = saved

    def boolean_or(self, node: ast.BoolOp) -> None:
        first = node.values[0]
        self.visit(first)
        if isinstance(first, ast.Attribute) and first.attr in self.index.deployed:
            self.index.guarded.append(GuardedCall(self.current.key, node.lineno, first.attr))
            return
        for value in node.values[1:]:
            self.visit(value)

    def call(self, node: ast.Call) -> None:
        if isinstance(node.func, ast.Name) and node.func.id == "getattr" and len(node.args) > 1:
            attribute = node.args[1]
            if isinstance(attribute, ast.Constant) and isinstance(attribute.value, str):
                self.current.getattr_names.append(attribute.value)
        if not isinstance(node.func, ast.Attribute):
            return
        name, receiver = node.func.attr, node.func.value
        models = _models()
        on_self = isinstance(receiver, ast.Name) and receiver.id in ("self", "cls")
        if name in _CLIENT_HELPERS:
            literal = _literal_argument(node)
            if literal is None:
                raise AnalysisError(
                    f"{self.module.name}:{node.lineno}: {name}() without a literal name"
                )
            table = models.waiters if name == "get_waiter" else models.operations
            self.record(node, literal, table.get(literal, frozenset()), name, on_self)
        elif name == "generate_presigned_post":
            self.record(node, "put_object", models.operations["put_object"], name, on_self)
        elif name in models.operations:
            self.record(node, name, models.operations[name], None, on_self)

    def record(
        self,
        node: ast.Call,
        name: str,
        found: frozenset[tuple[str, str]],
        helper: str | None,
        on_self: bool,
    ) -> None:
        where = f"{self.module.name}:{node.lineno}"
        self_method = (helper or name) if on_self else None
        if not found:
            raise AnalysisError(f"{where}: {helper}({name!r}) names no operation of {SERVICES}")
        if len(found) > 1:
            self.current.ambiguous.append((self_method, f"{where}: {name} in {sorted(found)}"))
            return
        ((service, operation),) = found
        scope = self.scopes[-1] if self.scopes else None
        inner = _transact_actions(node, where, scope) if operation == "TransactWriteItems" else None
        call = AwsCall(service, operation, self.current.key, node.lineno, inner)
        self.current.calls.append((self_method, call))


def _transact_actions(node: ast.Call, where: str, scope: ast.AST | None = None) -> frozenset[str]:
    """The actions of `transact_write_items(TransactItems=[{"Put": ...}, {"Update": ...}])`:
    a literal list of one-key dicts with literal keys, or a name the enclosing function binds
    to such a list and only extends by `.append({...})` of such dicts; else the analysis
    cannot say."""
    items = next((k.value for k in node.keywords if k.arg == "TransactItems"), None)
    elements: list[ast.expr] | None = None
    if isinstance(items, ast.List) and items.elts:
        elements = list(items.elts)
    elif isinstance(items, ast.Name) and scope is not None:
        elements = _bound_list(scope, items.id)
    actions: set[str] = set()
    if elements:
        for element in elements:
            if not (isinstance(element, ast.Dict) and len(element.keys) == 1):
                break
            key = element.keys[0]
            if not (isinstance(key, ast.Constant) and key.value in _TRANSACT_WRITE_ACTIONS):
                break
            actions.add(_TRANSACT_WRITE_ACTIONS[key.value])
        else:
            return frozenset(actions)
    raise AnalysisError(f"{where}: TransactWriteItems without a literal list of operations")


def _bound_list(scope: ast.AST, name: str) -> list[ast.expr] | None:
    """Every element `scope` puts in the list `name`: one literal list assigned once, plus the
    arguments of `name.append(...)`; None when it is bound or grown any other way."""
    assigned: list[ast.List] = []
    appended: list[ast.expr] = []
    for sub in ast.walk(scope):
        if isinstance(sub, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in sub.targets
        ):
            if not isinstance(sub.value, ast.List):
                return None
            assigned.append(sub.value)
        elif isinstance(sub, ast.AnnAssign) and isinstance(sub.target, ast.Name):
            if sub.target.id == name:
                if not isinstance(sub.value, ast.List):
                    return None
                assigned.append(sub.value)
        elif (
            isinstance(sub, ast.Call)
            and isinstance(sub.func, ast.Attribute)
            and isinstance(sub.func.value, ast.Name)
            and sub.func.value.id == name
        ):
            if sub.func.attr != "append" or len(sub.args) != 1:
                return None
            appended.append(sub.args[0])
    if len(assigned) != 1:
        return None
    return [*assigned[0].elts, *appended]


# --- the walk -----------------------------------------------------------------------------


def analyze(
    entry_module: str,
    *,
    entry_function: str = "main",
    loader: SourceLoader | None = None,
    deployed: Iterable[str] = (),
) -> Analysis:
    """The AWS calls reachable from the console-script function `entry_module:entry_function`
    and from the top-level code of every module it imports."""
    index = _Index(loader or installed_sources(), frozenset(deployed))
    index.load(entry_module)
    entry = f"{entry_module}:{entry_function}"
    if entry not in index.funcs:
        raise AnalysisError(f"no function {entry}")
    roots = [entry, *(f"{name}:<module>" for name in sorted(index.modules))]
    callers: dict[str, str | None] = dict.fromkeys(roots)
    pending = deque(roots)
    while pending:  # breadth first, so each caller chain is a shortest one
        key = pending.popleft()
        for target in index.edges(index.funcs[key]):
            if target not in callers:
                callers[target] = key
                pending.append(target)
    ambiguous = [note for key in callers for note in index.ambiguities(index.funcs[key])]
    if ambiguous:
        raise AnalysisError("ambiguous AWS operations: " + "; ".join(sorted(ambiguous)))
    calls = sorted(
        (call for key in callers for call in index.aws_calls(index.funcs[key])),
        key=lambda call: (call.function, call.line),
    )
    return Analysis(
        entry=entry_module,
        modules=frozenset(index.modules),
        callers=callers,
        calls=calls,
        guarded=[g for g in index.guarded if g.function in callers],
    )
