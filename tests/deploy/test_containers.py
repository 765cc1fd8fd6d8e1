"""Static and build-stage checks of the Dockerfiles and docker-compose.yml, without Docker.

Each Dockerfile's build stage is replayed for real (its COPY and `uv sync` steps, in a temporary
directory with the uv on this machine) to show the image gets its own service and nothing else.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name

from omnigen.shared.messages import ConsumerSettings
from omnigen.shared.resources import DEFAULT_PREFIX
from omnigen.shared.settings import AwsSettings

REPO = Path(__file__).resolve().parents[2]
SERVICES = ("ingest", "scripter", "renderer", "webhooks")
COMPOSE = REPO / "docker-compose.yml"
LOCALSTACK_URL = "http://localstack:4566"


def project(path: Path) -> dict[str, Any]:
    with (path / "pyproject.toml").open("rb") as handle:
        data: dict[str, Any] = tomllib.load(handle)["project"]
    return data


def entry_point(service: str) -> str:
    """The console script named after the service in its pyproject.toml."""
    scripts = project(REPO / "services" / service)["scripts"]
    assert f"omnigen-{service}" in scripts, f"services/{service} installs no omnigen-{service}"
    assert scripts[f"omnigen-{service}"].startswith(f"omnigen.{service}."), scripts
    return f"omnigen-{service}"


# --- Dockerfiles ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Instruction:
    command: str
    args: str


@dataclass(frozen=True)
class Stage:
    image: str
    name: str | None
    instructions: tuple[Instruction, ...]

    def all(self, command: str) -> list[str]:
        return [i.args for i in self.instructions if i.command == command]


def parse_dockerfile(path: Path) -> list[Stage]:
    """Instructions with line continuations joined and comments dropped, split into stages."""
    lines: list[str] = []
    pending = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, f"{path}: dangling line continuation"
    stages: list[Stage] = []
    for line in lines:
        command, _, args = line.partition(" ")
        command = command.upper()
        if command == "FROM":
            match = re.fullmatch(r"(\S+)(?:\s+AS\s+(\S+))?", args.strip(), re.IGNORECASE)
            assert match, f"{path}: cannot read FROM {args!r}"
            stages.append(Stage(match.group(1), match.group(2), ()))
            continue
        assert stages, f"{path}: {command} before FROM"
        last = stages[-1]
        stages[-1] = Stage(
            last.image, last.name, (*last.instructions, Instruction(command, args.strip()))
        )
    return stages


def dockerfile(service: str) -> list[Stage]:
    return parse_dockerfile(REPO / "services" / service / "Dockerfile")


def env_pairs(args: str) -> dict[str, str]:
    return dict(token.split("=", 1) for token in shlex.split(args))


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_is_multi_stage_on_a_pinned_slim_python(service: str) -> None:
    stages = dockerfile(service)
    assert len(stages) >= 2, "single-stage image: build tools would ship"
    requires = SpecifierSet(project(REPO / "services" / service)["requires-python"])
    for stage in stages:
        match = re.fullmatch(r"python:(\d+\.\d+\.\d+)-slim-[a-z]+", stage.image)
        assert match, f"{stage.image}: not a slim Python image pinned to a full version"
        assert match.group(1) in requires, f"{stage.image} outside requires-python {requires}"
    assert len({stage.name for stage in stages}) == len(stages), "stage names repeat"


@pytest.mark.parametrize("service", SERVICES)
def test_final_stage_runs_the_entry_point_as_non_root_with_a_healthcheck(service: str) -> None:
    final = dockerfile(service)[-1]
    users = final.all("USER")
    assert users, "no USER: the service would run as root"
    assert users[-1].split(":")[0] not in {"root", "0"}, users[-1]
    (healthcheck,) = final.all("HEALTHCHECK")
    assert " CMD " in f" {healthcheck} ", healthcheck
    (cmd,) = final.all("CMD")
    assert yaml.safe_load(cmd) == [entry_point(service)]
    assert final.all("EXPOSE") == (["8000"] if service == "ingest" else [])
    if service == "ingest":
        assert "/healthz" in healthcheck
        # a plain `docker run -p 8000:8000` reaches the API: it listens on every interface
        environment = {k: v for args in final.all("ENV") for k, v in env_pairs(args).items()}
        assert environment["OMNIGEN_HOST"] == "0.0.0.0"  # noqa: S104 - a container's own port
        assert environment["OMNIGEN_PORT"] == "8000"


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_copies_only_shared_and_its_own_service(service: str) -> None:
    stages = dockerfile(service)
    allowed = {"pyproject.toml", "uv.lock", "shared/", f"services/{service}/"}
    names = {stage.name for stage in stages}
    copied: set[str] = set()
    for stage in stages:
        for args in stage.all("COPY") + stage.all("ADD"):
            tokens = shlex.split(args)
            flags = [t for t in tokens if t.startswith("--")]
            sources = [t for t in tokens if not t.startswith("--")][:-1]
            from_stage = [f.split("=", 1)[1] for f in flags if f.startswith("--from=")]
            if from_stage:
                assert from_stage[0] in names, f"COPY from unknown stage {from_stage[0]}"
                continue
            assert set(sources) <= allowed, f"copies {sorted(set(sources) - allowed)}"
            copied.update(sources)
        text = " ".join(i.args for i in stage.instructions)
        for other in set(SERVICES) - {service}:
            assert other not in text, f"{service}'s Dockerfile mentions {other}"
    assert copied == allowed


def lock_closure(package: str) -> set[str]:
    """Every distribution uv.lock could install for `package` (markers ignored: a superset)."""
    with (REPO / "uv.lock").open("rb") as handle:
        lock = tomllib.load(handle)
    deps: dict[str, set[str]] = {}
    for entry in lock["package"]:
        names = {d["name"] for d in entry.get("dependencies", [])}
        for extra in entry.get("optional-dependencies", {}).values():
            names |= {d["name"] for d in extra}
        deps[canonicalize_name(entry["name"])] = {canonicalize_name(n) for n in names}
    closure: set[str] = set()
    todo: list[str] = [canonicalize_name(package)]
    while todo:
        name = todo.pop()
        if name not in closure:
            closure.add(name)
            todo.extend(deps.get(name, set()))
    return closure


def replay_build_stage(service: str, workdir: Path) -> Path:
    """Run the build stage's COPY and uv steps here; returns the venv it built."""
    build = dockerfile(service)[0]
    venv = workdir / "venv"
    env = {**os.environ}
    src = workdir / "src"
    cwd = src
    uv = shutil.which("uv")
    assert uv, "uv is needed to replay the image's install step"
    for step in build.instructions:
        if step.command == "ENV":
            env.update(env_pairs(step.args))
            assert env.pop("UV_PROJECT_ENVIRONMENT", None) == "/app/venv"
            env["UV_PROJECT_ENVIRONMENT"] = str(venv)
            # How files land (bytecode, copies) changes nothing about what is installed.
            env.update(UV_COMPILE_BYTECODE="0", UV_LINK_MODE="hardlink")
        elif step.command == "WORKDIR":
            assert step.args == "/src"
            cwd.mkdir(parents=True, exist_ok=True)
        elif step.command == "COPY":
            *sources, dest = shlex.split(step.args)
            for source in sources:
                origin, target = REPO / source, cwd / (dest if dest != "./" else source)
                if origin.is_dir():
                    shutil.copytree(
                        origin,
                        target,
                        ignore=shutil.ignore_patterns(
                            "__pycache__", "*.pyc", ".venv", ".*_cache", "tests"
                        ),
                    )
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(origin, target)
        elif step.command == "RUN" and step.args.startswith("pip install uv=="):
            continue  # the image pins its uv; here the machine's uv replays the same command
        elif step.command == "RUN" and step.args.startswith("uv "):
            result = subprocess.run(
                [uv, *shlex.split(step.args)[1:]],
                cwd=cwd,
                env=env,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert result.returncode == 0, result.stderr[-3000:]
        else:
            raise AssertionError(f"build step this test cannot replay: {step}")
    return venv


def installed_distributions(venv: Path) -> set[str]:
    (site,) = venv.glob("lib/python*/site-packages")
    return {
        canonicalize_name(path.name.removesuffix(".dist-info").rsplit("-", 1)[0])
        for path in site.glob("*.dist-info")
    }


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A directory removed right after the test: replayed venvs are too big to keep around."""
    with tempfile.TemporaryDirectory(prefix="omnigen-image-") as path:
        yield Path(path)


@pytest.mark.parametrize("service", SERVICES)
def test_build_stage_installs_its_own_service_and_nothing_else(service: str, scratch: Path) -> None:
    venv = replay_build_stage(service, scratch)
    installed = installed_distributions(venv)
    own = canonicalize_name(f"omnigen-{service}")
    assert {own, canonicalize_name("omnigen-shared")} <= installed
    others = {canonicalize_name(f"omnigen-{other}") for other in SERVICES if other != service}
    assert not installed & others
    outside = installed - lock_closure(f"omnigen-{service}")
    assert not outside, f"installed beyond omnigen-{service}'s locked dependencies: {outside}"
    # The final stage runs CMD from this venv's bin/ (COPY --from=build /app/venv /app/venv).
    assert (venv / "bin" / entry_point(service)).is_file()
    assert (venv / "bin" / "omnigen-bootstrap").is_file()
    result = subprocess.run(
        [str(venv / "bin" / "python"), "-c", f"import omnigen.{service}, omnigen.shared.resources"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert not installed & DEV_ONLY, f"dev-only distributions in the image: {installed & DEV_ONLY}"
    assert not find_test_support(venv), "test support shipped in the image"


# Distributions that exist for tests or for people at a laptop, never for a service image.
DEV_ONLY = frozenset(
    canonicalize_name(name)
    for name in (
        "omnigen-testing",
        "omnigen-cli",
        "moto",
        "hypothesis",
        "schemathesis",
        "pytest",
        "typer",
        "rich",
        "werkzeug",
    )
)
# What test support looks like inside our own packages: module names and imports.
_TEST_SUPPORT = re.compile(
    r"^\s*(?:from|import)\s+(?:pytest|hypothesis|moto|schemathesis|aiohttp\.web|omnigen\.testing)\b",
    re.MULTILINE,
)


def find_test_support(root: Path) -> list[str]:
    """Our own modules under `root` that are test support, by name or by what they import."""
    found = []
    for path in root.rglob("omnigen/**/*.py"):
        if re.search(
            r"(^|/)(testing|fakes?|fake_\w+|fixtures|conftest)(/|\.py$)", str(path)
        ) or _TEST_SUPPORT.search(path.read_text(encoding="utf-8")):
            found.append(str(path))
    return found


PRODUCTION = {"shared": REPO / "shared", **{s: REPO / "services" / s for s in SERVICES}}


@pytest.mark.parametrize("name", sorted(PRODUCTION))
def test_production_sources_hold_no_test_support(name: str) -> None:
    assert not find_test_support(PRODUCTION[name] / "src"), name


@pytest.mark.parametrize("name", sorted(PRODUCTION))
def test_every_declared_dependency_is_imported_at_run_time(name: str) -> None:
    """A production distribution declares only what its own code imports (tools and fakes
    bring their own dependencies in the dev-only members)."""
    import importlib.metadata

    providers = importlib.metadata.packages_distributions()
    sources = "\n".join(
        path.read_text(encoding="utf-8") for path in (PRODUCTION[name] / "src").rglob("*.py")
    )
    imported = set(re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", sources, re.MULTILINE))
    imported_dists = {
        canonicalize_name(dist)
        for module in imported - {"omnigen"}
        for dist in providers.get(module, [])
    } | {f"omnigen-{part}" for part in re.findall(r"\bomnigen\.(\w+)", sources)}
    declared = {
        canonicalize_name(re.split(r"[\[=<>;! ]", requirement, maxsplit=1)[0])
        for requirement in project(PRODUCTION[name])["dependencies"]
    }
    unused = declared - imported_dists
    assert not unused, f"omnigen-{name} declares dependencies its code never imports: {unused}"


def test_dockerignore_keeps_the_context_to_what_the_images_copy() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**", "start by excluding everything"
    included = {line[1:] for line in lines if line.startswith("!")}
    assert included == {"pyproject.toml", "uv.lock", "shared/"} | {
        f"services/{service}/" for service in SERVICES
    }


# --- docker-compose.yml --------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    with COMPOSE.open(encoding="utf-8") as handle:
        data: dict[str, Any] = yaml.safe_load(handle)
    return data


def seconds(duration: str) -> int:
    match = re.fullmatch(r"(\d+)s", duration)
    assert match, duration
    return int(match.group(1))


def test_localstack_is_pinned_and_gets_the_auth_token(compose: dict[str, Any]) -> None:
    localstack = compose["services"]["localstack"]
    repository, _, tag = localstack["image"].partition(":")
    assert repository == "localstack/localstack"
    assert re.fullmatch(r"\d+\.\d+\.\d+", tag), f"unpinned LocalStack tag {tag!r}"
    env = localstack["environment"]
    assert env["LOCALSTACK_AUTH_TOKEN"].startswith("${LOCALSTACK_AUTH_TOKEN")
    assert set(env["SERVICES"].split(",")) == {"sqs", "sns", "s3", "dynamodb"}
    assert "_localstack/health" in " ".join(localstack["healthcheck"]["test"])


def test_bootstrap_runs_once_with_the_shared_entry_point(compose: dict[str, Any]) -> None:
    bootstrap = compose["services"]["bootstrap"]
    scripts = project(REPO / "shared")["scripts"]
    assert bootstrap["command"] == ["omnigen-bootstrap"]
    assert scripts["omnigen-bootstrap"] == "omnigen.shared.bootstrap:main"
    assert bootstrap["restart"] == "no"
    assert bootstrap["depends_on"] == {"localstack": {"condition": "service_healthy"}}
    # Its image holds the shared package (every service image does; it uses ingest's).
    dockerfile_path = bootstrap["build"]["dockerfile"]
    assert dockerfile_path in {f"services/{service}/Dockerfile" for service in SERVICES}


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_each_service_by_its_entry_point_after_bootstrap(
    compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    assert spec["command"] == [entry_point(service)]
    assert spec["build"] == {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}
    assert spec["depends_on"] == {"bootstrap": {"condition": "service_completed_successfully"}}
    assert seconds(spec["stop_grace_period"]) > ConsumerSettings().drain_timeout_s


def interpolate(value: object) -> str:
    """Compose's `${NAME:-default}` as `docker compose up` sees it with NAME unset."""
    return re.sub(r"\$\{\w+(?::?-([^}]*))?\}", lambda m: m.group(1) or "", str(value))


def use_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, Any]) -> None:
    for name in [n for n in os.environ if n.startswith(("OMNIGEN_", "AWS_"))]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, interpolate(value))


@pytest.mark.parametrize("service", SERVICES)
def test_compose_environment_points_the_settings_at_localstack(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = compose["services"][service]["environment"]
    assert env["AWS_ENDPOINT_URL"] == LOCALSTACK_URL
    use_environment(monkeypatch, env)
    settings = AwsSettings()
    assert {svc: settings.endpoint_for(svc) for svc in ("dynamodb", "sqs", "sns", "s3")} == {
        svc: LOCALSTACK_URL for svc in ("dynamodb", "sqs", "sns", "s3")
    }
    assert settings.region == env["AWS_REGION"]
    assert settings.resources.prefix == DEFAULT_PREFIX


def test_compose_settings_start_each_service_offline(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from omnigen.ingest.settings import IngestSettings
    from omnigen.renderer.providers.settings import ProviderSettings
    from omnigen.scripter.settings import WriterSettings

    use_environment(monkeypatch, compose["services"]["ingest"]["environment"])
    ingest = IngestSettings()  # raises unless auth is configured
    # Bound to loopback inside its container, the API would be unreachable through the port map.
    assert ingest.host not in {"127.0.0.1", "localhost", "::1"}
    assert compose["services"]["ingest"]["ports"] == [f"127.0.0.1:{ingest.port}:{ingest.port}"]
    assert dockerfile("ingest")[-1].all("EXPOSE") == [str(ingest.port)]
    use_environment(monkeypatch, compose["services"]["scripter"]["environment"])
    assert not WriterSettings().uses_openai
    use_environment(monkeypatch, compose["services"]["renderer"]["environment"])
    providers = ProviderSettings()
    assert (providers.clip_provider, providers.narration_provider, providers.music_provider) == (
        "local",
        "local",
        "local",
    )


def known_settings() -> set[str]:
    """Every OMNIGEN_* variable some service reads, from its pydantic-settings classes."""
    from pydantic_settings import BaseSettings

    from omnigen.ingest.settings import IngestSettings
    from omnigen.renderer.main import RenderSettings
    from omnigen.renderer.providers.settings import ProviderSettings
    from omnigen.scripter.settings import WriterSettings
    from omnigen.shared.settings import LogSettings, TelemetrySettings, WorkerSettings
    from omnigen.webhooks.settings import DeliverySettings

    classes: list[type[BaseSettings]] = [
        AwsSettings,
        LogSettings,
        TelemetrySettings,
        WorkerSettings,
        IngestSettings,
        WriterSettings,
        ProviderSettings,
        RenderSettings,
        DeliverySettings,
    ]
    names = set()
    for cls in classes:
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, info in cls.model_fields.items():
            names.add(str(info.alias) if info.alias else f"{prefix}{name}".upper())
    return names


@pytest.mark.parametrize(
    "path", ["docker-compose.yml", "terraform/main.tf", "terraform/example.tfvars"]
)
def test_every_omnigen_variable_given_to_a_container_is_a_setting(path: str) -> None:
    text = (REPO / path).read_text(encoding="utf-8")
    given = set(re.findall(r"\b(OMNIGEN_[A-Z0-9_]+)\s*[:=]", text))
    assert given, f"{path} sets no OMNIGEN_* variable"
    unknown = given - known_settings()
    assert not unknown, f"{path} sets variables no service reads: {sorted(unknown)}"


def test_compose_bootstrap_allows_the_pages_uploads_from_ingests_address(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The page at the published ingest port POSTs uploads straight to LocalStack's bucket:
    bootstrap gives the bucket a CORS rule for exactly those origins."""
    from omnigen.ingest.settings import IngestSettings

    use_environment(monkeypatch, compose["services"]["ingest"]["environment"])
    port = IngestSettings().port
    use_environment(monkeypatch, compose["services"]["bootstrap"]["environment"])
    bucket = AwsSettings().resources.bucket
    assert set(bucket.web_origins) == {f"http://localhost:{port}", f"http://127.0.0.1:{port}"}
    assert bucket.cors_rules[0]["AllowedMethods"] == ["POST"]
