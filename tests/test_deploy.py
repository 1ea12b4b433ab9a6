"""deploy/ is valid and agrees with the code: the compose file, the gateway image and the Helm chart.

What runs here: every YAML file parses; the compose file passes `docker compose config` (or Debian's
docker-compose); the Helm chart renders with `helm template` when helm is installed, else with
deploy/helm/render (Go's text/template and sprig, the engine helm uses), and each rendered object is
checked against the Kubernetes 1.30 schemas (kubernetes-validate, offline). `make test` installs
docker-compose, Go and Debian's sprig (scripts/system-packages.sh); the checks skip, saying what is
missing, only where those were not installed. Every LLMAAS_* variable the manifests set must be a
setting, and both sample catalogs must load and point at the engines the manifests start.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import pytest
import yaml

from llmaas.catalog import load_catalog
from llmaas.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
COMPOSE_DIR = DEPLOY / "compose"
COMPOSE_FILE = COMPOSE_DIR / "compose.yaml"
CONTAINERFILE = DEPLOY / "Containerfile"
CHART = DEPLOY / "helm" / "llmaas"
RENDERER = DEPLOY / "helm" / "render" / "main.go"
GOCODE = Path("/usr/share/gocode/src")
INSTALL_GO = ("apt-get install golang-go golang-github-masterminds-sprig-dev "
              "golang-github-ghodss-yaml-dev")

Obj = dict[str, Any]


# --- helpers ---------------------------------------------------------------------------------------

def _setting(variable: str) -> str:
    assert variable.startswith("LLMAAS_"), variable
    return variable.removeprefix("LLMAAS_").lower()


def _assert_settings(variables: dict[str, str], where: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every LLMAAS_* name is a Settings field, and the values parse as that field's type."""
    unknown = sorted(name for name in variables if _setting(name) not in Settings.model_fields)
    assert not unknown, f"{where} sets variables the gateway does not read: {unknown}"
    for name in [name for name in os.environ if name.startswith("LLMAAS_")]:
        monkeypatch.delenv(name)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    load_settings()  # raises on a value of the wrong type


def _compose() -> Obj:
    data = yaml.safe_load(COMPOSE_FILE.read_text("utf-8"))
    assert isinstance(data, dict)
    return data


def _services() -> dict[str, Obj]:
    services = _compose()["services"]
    assert isinstance(services, dict)
    return services


def _flags(args: list[str]) -> dict[str, str]:
    """`--name=value` and `--name value` pairs of a command line; a bare flag maps to ''."""
    flags: dict[str, str] = {}
    for index, arg in enumerate(args):
        if not arg.startswith("--"):
            continue
        name, equals, value = arg.partition("=")
        if not equals and index + 1 < len(args) and not args[index + 1].startswith("--"):
            value = args[index + 1]
        flags[name] = value
    return flags


def _vllm_services() -> dict[str, Obj]:
    env = _env_example()
    return {name: service for name, service in _services().items()
            if _interpolate(str(service.get("image", "")), env).startswith("vllm/vllm-openai:")}


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (COMPOSE_DIR / ".env.example").read_text("utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def _interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error}, enough for this file."""

    def replace(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2) or "", match.group(3) or ""
        if env.get(name):
            return env[name]
        assert op != ":?", f"{name} is required: {arg}"
        return arg

    return re.sub(r"\$\{([A-Z0-9_]+)(?:(:[-?])([^}]*))?\}", replace, text)


def _containerfile_instructions() -> list[tuple[str, str]]:
    text = CONTAINERFILE.read_text("utf-8").replace("\\\n", " ")
    instructions = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    return instructions


# --- every YAML file -------------------------------------------------------------------------------

def _yaml_files() -> list[Path]:
    templates = CHART / "templates"
    return sorted(path for pattern in ("*.yaml", "*.yml") for path in DEPLOY.rglob(pattern)
                  if templates not in path.parents)


def test_every_yaml_file_under_deploy_parses() -> None:
    files = _yaml_files()
    names = {path.relative_to(DEPLOY).as_posix() for path in files}
    assert {"compose/compose.yaml", "helm/llmaas/Chart.yaml", "helm/llmaas/values.yaml"} <= names
    for path in files:
        documents = [doc for doc in yaml.safe_load_all(path.read_text("utf-8")) if doc is not None]
        assert documents and all(isinstance(doc, dict) for doc in documents), path


# --- compose ---------------------------------------------------------------------------------------

def test_compose_runs_gateway_replicas_postgres_redis_and_vllm() -> None:
    services = _services()
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] >= 2
    assert gateway["command"][:3] == ["llmaas", "serve", "--no-embedded"]
    assert _flags(gateway["command"])["--host"] == "0.0.0.0"
    assert "--behind-tls-proxy" in gateway["command"], "plain HTTP beyond loopback needs the TLS proxy"
    assert "/ready" in " ".join(gateway["healthcheck"]["test"])
    assert gateway["read_only"] is True, "the gateway keeps nothing on local disk"
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["redis"]["image"].startswith("redis:7")
    redis_args = services["redis"]["command"]
    assert _flags(redis_args)["--maxmemory-policy"] == "noeviction", "budgets must never be evicted"
    assert _flags(redis_args)["--appendonly"] == "yes"
    assert services["migrate"]["command"][0] == "llmaas"
    assert gateway["depends_on"]["migrate"]["condition"] == "service_completed_successfully"

    engines = _vllm_services()
    assert len(engines) >= 2
    parallel = []
    for name, engine in engines.items():
        flags = _flags(engine["command"])
        assert flags.get("--served-model-name"), name
        devices = engine["deploy"]["resources"]["reservations"]["devices"]
        gpus = sum(len(device.get("device_ids", [])) or int(device.get("count", 0)) for device in devices)
        assert all("gpu" in device["capabilities"] for device in devices), name
        tensor_parallel = int(flags["--tensor-parallel-size"])
        assert gpus == tensor_parallel * int(flags.get("--pipeline-parallel-size", "1")), name
        parallel.append(tensor_parallel)
    assert max(parallel) > 1, "show a model tensor-parallel over several GPUs"


def test_compose_environment_is_settings_the_gateway_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    services = _services()
    env = _env_example()
    for name in ("gateway", "migrate"):
        variables = {key: _interpolate(str(value), env)
                     for key, value in services[name]["environment"].items() if key.startswith("LLMAAS_")}
        _assert_settings(variables, f"compose service {name}", monkeypatch)
    gateway = {key: _interpolate(str(value), env)
               for key, value in services["gateway"]["environment"].items()}
    assert gateway["LLMAAS_DATABASE_URL"].startswith("postgresql+psycopg://")
    assert urlsplit(gateway["LLMAAS_DATABASE_URL"]).hostname in services
    assert urlsplit(gateway["LLMAAS_REDIS_URL"]).hostname in services
    assert gateway["LLMAAS_ADMIN_TOKEN"]
    # The proxy's forwarding headers are believed from the internal network it shares with the gateways.
    internal = _interpolate(_compose()["networks"]["internal"]["ipam"]["config"][0]["subnet"], env)
    assert load_settings().trusted_proxies == [internal]
    assert "gateway" not in {name for name, service in services.items()
                             if "edge" in service.get("networks", [])}
    mounted = {volume.split(":")[1] for volume in services["gateway"]["volumes"]}
    assert gateway["LLMAAS_CATALOG_FILE"] in mounted
    stop_grace = services["gateway"]["stop_grace_period"]
    assert stop_grace.endswith("s") and int(stop_grace[:-1]) > float(gateway["LLMAAS_DRAIN_GRACE_S"]), (
        "docker must not kill a replica while it drains")


def test_compose_variables_are_all_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_FILE.read_text("utf-8")))
    missing = used - set(_env_example())
    assert not missing, f"document these in deploy/compose/.env.example: {sorted(missing)}"


def test_compose_catalog_loads_and_points_at_the_vllm_services() -> None:
    services = _services()
    mount = next(volume for volume in services["gateway"]["volumes"] if volume.startswith("./catalog"))
    catalog = load_catalog(COMPOSE_DIR / mount.split(":")[0])
    engines = _vllm_services()
    served = set()
    for entry in catalog:
        assert entry.engine is None, f"{entry.id}: `llmaas serve --no-embedded` starts no engine"
        assert entry.upstreams, entry.id
        for upstream in entry.upstreams:
            url = urlsplit(upstream.url)
            assert url.hostname in engines, f"{entry.id}: {upstream.url} is no vLLM service"
            flags = _flags(engines[url.hostname]["command"])
            assert url.port == int(flags["--port"]) and url.path == "/v1", upstream.url
            assert upstream.model == flags["--served-model-name"], entry.id
            assert entry.context_length <= int(flags["--max-model-len"]), entry.id
            served.add(url.hostname)
    assert served == set(engines), "every engine serves a catalog model"


def test_nginx_proxies_to_the_gateway_and_streams() -> None:
    conf = (COMPOSE_DIR / "nginx.conf").read_text("utf-8")
    port = _flags(_services()["gateway"]["command"])["--port"]
    assert re.search(rf"server\s+gateway:{port}\b", conf)
    assert "proxy_buffering off" in conf, "server-sent events must not be buffered"
    assert "X-Forwarded-For $proxy_add_x_forwarded_for" in conf and "X-Forwarded-Proto $scheme" in conf


def _compose_cli() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_compose_file_passes_compose_config() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no `docker compose` plugin nor docker-compose (Debian: docker-compose "
                    "--no-install-recommends) to validate the compose file")
    result = subprocess.run(
        [*cli, "--env-file", ".env.example", "-f", "compose.yaml", "config", "-q"],
        cwd=COMPOSE_DIR, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- the gateway image -----------------------------------------------------------------------------

def test_containerfile_builds_a_non_root_gateway(monkeypatch: pytest.MonkeyPatch) -> None:
    instructions = _containerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms and all(rest.split()[0] == "python:3.11-slim" for rest in froms)
    last_from = max(index for index, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    users = [rest for keyword, rest in instructions[last_from:] if keyword == "USER"]
    assert users, "the final stage must set USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0"), "the gateway runs as an unprivileged user"
    runs = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert re.search(r"pip install .*-c requirements\.lock", runs), "install with the lock as constraints"
    assert not re.search(r"\b(curl|wget)\b", runs) and not any(
        keyword == "ADD" and "://" in rest for keyword, rest in instructions), "nothing fetched by URL"
    cmd = next(rest for keyword, rest in reversed(instructions) if keyword == "CMD")
    assert yaml.safe_load(cmd)[:3] == ["llmaas", "serve", "--no-embedded"]
    assert "--behind-tls-proxy" in yaml.safe_load(cmd), "it listens on 0.0.0.0 without TLS of its own"
    healthcheck = next(rest for keyword, rest in instructions if keyword == "HEALTHCHECK")
    assert "/health" in healthcheck
    variables: dict[str, str] = {}
    for keyword, rest in instructions:
        if keyword == "ENV":
            for pair in shlex.split(rest):
                name, _, value = pair.partition("=")
                if name.startswith("LLMAAS_"):
                    variables[name] = value
    _assert_settings(variables, "deploy/Containerfile", monkeypatch)


# --- the Helm chart --------------------------------------------------------------------------------

def test_chart_metadata_and_values() -> None:
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text("utf-8"))
    assert chart["apiVersion"] == "v2" and chart["name"] == "llmaas"
    assert re.fullmatch(r"\d+\.\d+\.\d+", chart["version"])
    values = yaml.safe_load((CHART / "values.yaml").read_text("utf-8"))
    assert values["gateway"]["replicas"] >= 2
    assert all(_setting(name) in Settings.model_fields for name in values["gateway"]["env"])
    engines = values["engines"]
    assert engines and max(engine["tensorParallelSize"] for engine in engines.values()) > 1
    for name, engine in engines.items():
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", name), f"{name}: not a DNS label"
        assert engine["servedModelName"] and engine["model"].startswith("/models/")


class RenderError(Exception):
    """The chart did not render; the message is the renderer's."""


Render = Callable[..., list[Obj]]


@pytest.fixture(scope="session")
def render(tmp_path_factory: pytest.TempPathFactory) -> Render:
    """render(**sets) -> the rendered objects, by `helm template`, else by deploy/helm/render."""
    helm = shutil.which("helm")
    go = shutil.which("go")
    if helm:
        def command(sets: dict[str, str]) -> list[str]:
            flags = [arg for name, value in sets.items() for arg in ("--set", f"{name}={value}")]
            return [helm, "template", "llmaas", str(CHART), *flags]
    elif go and all((GOCODE / lib).is_dir() for lib in ("github.com/Masterminds/sprig",
                                                         "github.com/ghodss/yaml")):
        binary = _build_renderer(go, tmp_path_factory.mktemp("render"))

        def command(sets: dict[str, str]) -> list[str]:
            flags = [arg for name, value in sets.items() for arg in ("-set", f"{name}={value}")]
            return [str(binary), "-strict", "-name", "llmaas", *flags, str(CHART)]
    else:
        pytest.skip(f"neither helm (Debian does not package it) nor Go with sprig ({INSTALL_GO}) "
                    "to render the chart")

    def rendered(**sets: str) -> list[Obj]:
        result = subprocess.run(command(sets), capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise RenderError(result.stderr.strip())
        return [doc for doc in yaml.safe_load_all(result.stdout) if doc is not None]

    return rendered


def _build_renderer(go: str, workdir: Path) -> Path:
    # GOPATH mode with Debian's Go libraries. The go.mod marks the tree, so that the import of
    # sprig/v3 resolves to Debian's sprig (Go's "minimal module compatibility").
    source = workdir / "src" / "llmaas-render"
    source.mkdir(parents=True)
    shutil.copy(RENDERER, source / "main.go")
    (source / "go.mod").write_text("module llmaas-render\n")
    binary = workdir / "render"
    gopath = f"{workdir}{os.pathsep}{GOCODE.parent}"
    env = {**os.environ, "GO111MODULE": "off", "GOFLAGS": "", "GOPATH": gopath}
    result = subprocess.run([go, "build", "-o", str(binary), "."], cwd=source, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return binary


def _one(objects: list[Obj], kind: str, name: str) -> Obj:
    found = [obj for obj in objects if obj["kind"] == kind and obj["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def _container_env(container: Obj) -> dict[str, Obj]:
    return {item["name"]: item for item in container.get("env", [])}


VALUE_SETS = {
    "defaults": {},
    "autoscaling": {"gateway.autoscaling.enabled": "true", "gateway.probes.readinessPath": "/health",
                    "migrations.enabled": "false", "gateway.podDisruptionBudget.enabled": "false"},
}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_chart_renders_valid_kubernetes_objects(render: Render, values: dict[str, str]) -> None:
    objects = render(**values)
    kinds = sorted(obj["kind"] for obj in objects)
    if values:
        assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment", "HorizontalPodAutoscaler",
                         "Service", "Service", "Service"]
        assert "replicas" not in _one(objects, "Deployment", "llmaas-gateway")["spec"]
    else:
        assert kinds == ["ConfigMap", "Deployment", "Deployment", "Deployment", "Job",
                         "PodDisruptionBudget", "Service", "Service", "Service"]
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, "1.30", strict=True)
        except kubernetes_validate.ValidationError as error:
            raise AssertionError(f"{obj['kind']}/{obj['metadata']['name']}: {error.message} "
                                 f"at {'.'.join(map(str, error.path))}") from None


def test_chart_gateway_replicas_probes_drain_and_settings(
    render: Render, monkeypatch: pytest.MonkeyPatch
) -> None:
    objects = render()
    deployment = _one(objects, "Deployment", "llmaas-gateway")
    assert deployment["spec"]["replicas"] == 2
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"][:3] == ["llmaas", "serve", "--no-embedded"]
    assert _flags(container["command"])["--host"] == "0.0.0.0"
    assert "--behind-tls-proxy" in container["command"], "TLS terminates at the ingress"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    sleep = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
    env = _container_env(container)
    # the endpoint removal (preStop sleep), then the gateway's own drain, before the kubelet kills
    drain = float(env["LLMAAS_DRAIN_GRACE_S"]["value"])
    assert pod["terminationGracePeriodSeconds"] > sleep + drain
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True

    plain = {name: item["value"] for name, item in env.items() if "value" in item}
    _assert_settings(plain, "the chart's gateway", monkeypatch)
    unknown = [name for name in env if _setting(name) not in Settings.model_fields]
    assert not unknown
    for name in ("LLMAAS_DATABASE_URL", "LLMAAS_REDIS_URL", "LLMAAS_ADMIN_TOKEN"):
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "llmaas", name
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    catalog_dir = str(Path(plain["LLMAAS_CATALOG_FILE"]).parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mounts[catalog_dir])
    configmap = _one(objects, "ConfigMap", volume["configMap"]["name"])
    assert Path(plain["LLMAAS_CATALOG_FILE"]).name in configmap["data"]

    labels = deployment["spec"]["template"]["metadata"]["labels"]
    for kind in ("Service", "PodDisruptionBudget"):
        selector = _one(objects, kind, "llmaas-gateway")["spec"]["selector"]
        assert selector.get("matchLabels", selector).items() <= labels.items(), kind
    job = _one(objects, "Job", "llmaas-gateway-migrate")
    assert "pre-install" in job["metadata"]["annotations"]["helm.sh/hook"]
    job_env = _container_env(job["spec"]["template"]["spec"]["containers"][0])
    assert all(_setting(name) in Settings.model_fields for name in job_env)


def test_chart_catalog_loads_and_points_at_the_engine_services(render: Render, tmp_path: Path) -> None:
    objects = render()
    catalog_file = tmp_path / "catalog.toml"
    catalog_file.write_text(_one(objects, "ConfigMap", "llmaas-gateway-catalog")["data"]["catalog.toml"])
    catalog = load_catalog(catalog_file)
    services = {obj["metadata"]["name"]: obj for obj in objects if obj["kind"] == "Service"}
    engines = {obj["metadata"]["name"]: obj for obj in objects
               if obj["kind"] == "Deployment" and obj["metadata"]["name"] != "llmaas-gateway"}
    served = set()
    for entry in catalog:
        assert entry.engine is None and entry.upstreams, entry.id
        for upstream in entry.upstreams:
            url = urlsplit(upstream.url)
            assert url.hostname in engines, f"{entry.id}: {upstream.url} names no engine Service"
            service = services[url.hostname]
            assert url.port in [port["port"] for port in service["spec"]["ports"]], upstream.url
            pod_labels = engines[url.hostname]["spec"]["template"]["metadata"]["labels"]
            assert service["spec"]["selector"].items() <= pod_labels.items()
            (container,) = engines[url.hostname]["spec"]["template"]["spec"]["containers"]
            flags = _flags(container["args"])
            assert upstream.model == flags["--served-model-name"], entry.id
            assert entry.context_length <= int(flags["--max-model-len"]), entry.id
            gpus = int(flags["--tensor-parallel-size"]) * int(flags["--pipeline-parallel-size"])
            assert container["resources"]["limits"]["nvidia.com/gpu"] == gpus, entry.id
            served.add(url.hostname)
    assert served == set(engines), "every engine serves a catalog model"


def test_chart_refuses_a_missing_secret_name(render: Render) -> None:
    with pytest.raises(RenderError, match=r"secrets\.name"):
        render(**{"secrets.name": ""})
