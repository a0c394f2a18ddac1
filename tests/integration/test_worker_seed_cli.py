"""The seed proxy's ways of starting the worker: flags, environment, `.env`, JSON config
discovery, precedence, `--generate-config`, `--print-config`, `--help`, the log lines users
grep for, and the fleet-file way (`--config fleet.yaml --tenant NAME`)."""

from __future__ import annotations

import json
import re
from pathlib import Path


from harness import wait_until
from worker_harness import (  # noqa: F401 - fixtures
    KEY,
    fleet_document,
    fingerprint,
    jwt_name,
    run_worker_once,
    sim,
    sim_quota_counts,
    start_sim,
    start_worker,
    tokens_for,
    write_fleet,
)

A, B, C = (jwt_name(x) for x in "abc")


def print_config(tmp_path: Path, *args: str, env=None, cwd=None) -> dict:
    done = run_worker_once(tmp_path, ["--print-config", *args], env=env, cwd=cwd)
    assert done.returncode == 0, done.stderr + done.stdout
    start = done.stdout.index("{")
    return json.loads(done.stdout[start:])


def seed_json(path: Path, **fields) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(fields))
    return path


def json_tokens(*names_and_jwts: tuple[str, str], **extra) -> list[dict]:
    return [{"token": jwt, "name": name, **extra} for name, jwt in names_and_jwts]


# --------------------------------------------------------------------------- flags and environment


def test_short_flags(sim, start_worker) -> None:
    worker = start_worker.launch(["-c", f"{A},{B},{C}", "-k", KEY, "-s", "random", "-p", "0", "-h", "127.0.0.1", "--upstream", sim.url])
    assert worker.host == "127.0.0.1"
    health = worker.health()
    assert health["total_tokens"] == 3 and health["strategy"] == "random"
    assert [t["fingerprint"] for t in health["tokens"]] == [fingerprint(j) for j in (A, B, C)]
    assert worker.chat("abc").json()["choices"][0]["message"]["content"] == "cba"
    with worker.raw_client() as client:
        assert client.get("/v1/models").status_code == 401


def test_go_style_flag_spellings(sim, start_worker) -> None:
    """Go's flag package (the seed) accepts -flag=value and --flag too."""
    worker = start_worker.launch([f"-c={A},{B}", f"--k={KEY}", "-s=least_busy", "-p=0", "--h=127.0.0.1", f"--upstream={sim.url}"])
    health = worker.health()
    assert health["total_tokens"] == 2 and health["strategy"] == "least_busy"
    assert worker.chat("abc").status_code == 200


def test_environment_variables(sim, start_worker) -> None:
    env = {
        "JWT_TOKENS": f"{A}, {B}",
        "BEARER_TOKEN": KEY,
        "LOAD_BALANCE_STRATEGY": "random",
        "SERVER_HOST": "127.0.0.1",
        "SERVER_PORT": "0",
        "JETBRAINS_AI_UPSTREAM": sim.url,
    }
    worker = start_worker.launch([], env=env)
    assert worker.host == "127.0.0.1"
    health = worker.health()
    assert health["total_tokens"] == 2 and health["strategy"] == "random"
    assert worker.chat("abc").status_code == 200
    with worker.raw_client() as client:
        assert client.get("/v1/models").status_code == 401


def test_older_single_jwt_token_variable(sim, start_worker) -> None:
    env = {"JWT_TOKEN": A, "BEARER_TOKEN": KEY, "SERVER_HOST": "127.0.0.1", "SERVER_PORT": "0", "JETBRAINS_AI_UPSTREAM": sim.url}
    worker = start_worker.launch([], env=env)
    assert [t["fingerprint"] for t in worker.health()["tokens"]] == [fingerprint(A)]


def test_dotenv_file_in_working_directory(sim, start_worker, tmp_path) -> None:
    cwd = tmp_path / "app"
    cwd.mkdir()
    (cwd / ".env").write_text(
        "# the seed's .env\n"
        f"JWT_TOKENS={A},{B}\n"
        f"BEARER_TOKEN={KEY}\n"
        "LOAD_BALANCE_STRATEGY=random\n"
        "SERVER_HOST=127.0.0.1\n"
        "SERVER_PORT=0\n"
        f"JETBRAINS_AI_UPSTREAM={sim.url}\n"
    )
    worker = start_worker.launch([], cwd=cwd)
    health = worker.health()
    assert health["total_tokens"] == 2 and health["strategy"] == "random"
    assert worker.chat("abc").status_code == 200
    # real environment variables win over .env
    worker2 = start_worker.launch([], cwd=cwd, env={"LOAD_BALANCE_STRATEGY": "least_busy"})
    assert worker2.health()["strategy"] == "least_busy"


def test_no_key_means_open_access_like_the_seed(sim, start_worker) -> None:
    worker = start_worker.launch(["-c", A, "-h", "127.0.0.1", "-p", "0", "--upstream", sim.url], key=None)
    with worker.raw_client() as client:
        response = client.post("/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "abc"}]})
        assert response.status_code == 200


def test_missing_jwts_is_a_clear_error(tmp_path) -> None:
    done = run_worker_once(tmp_path, ["-k", KEY, "-p", "0"])
    assert done.returncode != 0
    assert "JWT" in done.stderr or "jwt" in done.stderr


# --------------------------------------------------------------------------- JSON config files


DISCOVERY = [
    "config.json",
    "config/config.json",
    "configs/config.json",
    ".config/jetbrains-ai-proxy.json",
    "HOME/.config/jetbrains-ai-proxy/config.json",
]


def test_json_config_discovery_first_found_wins(tmp_path) -> None:
    cwd = tmp_path / "cwd"
    home = tmp_path / "home"
    for index, place in enumerate(DISCOVERY):
        path = home / place[5:] if place.startswith("HOME/") else cwd / place
        seed_json(path, jetbrains_tokens=json_tokens((f"from-{index}", jwt_name(str(index)))), bearer_token=KEY)
    for index, place in enumerate(DISCOVERY):
        config = print_config(tmp_path)
        assert [t["name"] for t in config["tokens"]] == [f"from-{index}"], place
        (home / place[5:] if place.startswith("HOME/") else cwd / place).unlink()
    done = run_worker_once(tmp_path, ["--print-config"])
    assert done.returncode != 0  # nothing left: no JWTs at all


def test_explicit_config_and_config_file_env(tmp_path) -> None:
    cwd = tmp_path / "cwd"
    seed_json(cwd / "config.json", jetbrains_tokens=json_tokens(("discovered", A)))
    seed_json(tmp_path / "elsewhere" / "a.json", jetbrains_tokens=json_tokens(("explicit", B)))
    seed_json(tmp_path / "elsewhere" / "b.json", jetbrains_tokens=json_tokens(("from-env", C)))
    assert [t["name"] for t in print_config(tmp_path)["tokens"]] == ["discovered"]
    env = {"CONFIG_FILE": str(tmp_path / "elsewhere" / "b.json")}
    assert [t["name"] for t in print_config(tmp_path, env=env)["tokens"]] == ["from-env"]
    explicit = ["--config", str(tmp_path / "elsewhere" / "a.json")]
    assert [t["name"] for t in print_config(tmp_path, *explicit)["tokens"]] == ["explicit"]
    assert [t["name"] for t in print_config(tmp_path, *explicit, env=env)["tokens"]] == ["explicit"]
    # a named file that does not exist is an error, not a silent fallback
    done = run_worker_once(tmp_path, ["--print-config", "--config", str(tmp_path / "missing.json")])
    assert done.returncode != 0 and "missing.json" in done.stderr


def test_precedence_cli_over_env_over_file(tmp_path) -> None:
    cwd = tmp_path / "cwd"
    seed_json(
        cwd / "config.json",
        jetbrains_tokens=json_tokens(("file-jwt", A)),
        bearer_token="file-key-0123456789",
        load_balance_strategy="random",
        server_port=1111,
        server_host="10.0.0.1",
    )
    config = print_config(tmp_path)
    assert config["listen"] == "10.0.0.1:1111" and config["strategy"] == "random"
    assert [t["name"] for t in config["tokens"]] == ["file-jwt"]
    assert config["api_keys"] == [fingerprint("file-key-0123456789")]

    env = {"SERVER_PORT": "2222", "LOAD_BALANCE_STRATEGY": "least_busy", "SERVER_HOST": "10.0.0.2", "JWT_TOKENS": B, "BEARER_TOKEN": "env-key-0123456789"}
    config = print_config(tmp_path, env=env)
    assert config["listen"] == "10.0.0.2:2222" and config["strategy"] == "least_busy"
    assert [t["jwt"] for t in config["tokens"]] == [fingerprint(B)]
    assert config["api_keys"] == [fingerprint("env-key-0123456789")]

    config = print_config(tmp_path, "-p", "3333", "-s", "round_robin", "-h", "10.0.0.3", "-c", C, "-k", "cli-key-0123456789", env=env)
    assert config["listen"] == "10.0.0.3:3333" and config["strategy"] == "round_robin"
    assert [t["jwt"] for t in config["tokens"]] == [fingerprint(C)]
    assert config["api_keys"] == [fingerprint("cli-key-0123456789")]


def test_json_config_fields_are_honoured(tmp_path) -> None:
    seed_json(
        tmp_path / "cwd" / "config.json",
        jetbrains_tokens=[
            {"token": A, "name": "Primary_JWT", "description": "main", "priority": 1, "metadata": {"environment": "production", "region": "us-east-1"}},
            {"token": B, "name": "Backup_JWT", "priority": 2},
        ],
        bearer_token=KEY,
        load_balance_strategy="round_robin",
        health_check_interval="30s",
        server_port=8080,
        server_host="0.0.0.0",
    )
    config = print_config(tmp_path)
    assert config["health_check_interval"] == "30s"
    primary, backup = config["tokens"]
    assert primary["name"] == "Primary_JWT" and primary["priority"] == 1
    assert primary["metadata"] == {"environment": "production", "region": "us-east-1"}
    assert backup["priority"] == 2
    assert config["listen"] == "0.0.0.0:8080"


def test_priority_from_seed_json_is_used(sim, start_worker, tmp_path) -> None:
    """The seed read `priority` and ignored it; we honour it."""
    cwd = tmp_path / "app"
    seed_json(cwd / "config.json", jetbrains_tokens=[{"token": A, "name": "backup", "priority": 2}, {"token": B, "name": "main", "priority": 1}], bearer_token=KEY)
    worker = start_worker.launch(["-h", "127.0.0.1", "-p", "0", "--upstream", sim.url], cwd=cwd)
    for _ in range(4):
        assert worker.chat("abc").status_code == 200
    assert sim.stats()["by_jwt"][B]["chat"] == 4
    assert sim.stats()["by_jwt"].get(A, {}).get("chat", 0) == 0


def test_health_check_interval_string_is_parsed_and_used(sim, start_worker, tmp_path) -> None:
    cwd = tmp_path / "app"
    seed_json(cwd / "config.json", health_check_interval="300ms")
    worker = start_worker.launch(["-c", f"{A},{B}", "-k", KEY, "-h", "127.0.0.1", "-p", "0", "--upstream", sim.url], cwd=cwd)
    wait_until(lambda: min(sim_quota_counts(sim).get(j, 0) for j in (A, B)) >= 3, timeout=6, message="probe rounds every 300ms")
    assert sim.stats()["totals"]["chat"] == 0
    assert len([l for l in worker.lines() if "Health check completed: 2/2 tokens healthy" in l]) >= 3


def test_invalid_json_config_is_reported(tmp_path) -> None:
    seed_json(tmp_path / "cwd" / "config.json", jetbrains_tokens=json_tokens(("x", A)), health_check_interval="soon")
    done = run_worker_once(tmp_path, ["--print-config"])
    assert done.returncode != 0
    assert "health_check_interval" in done.stderr
    (tmp_path / "cwd" / "config.json").write_text("{broken")
    done = run_worker_once(tmp_path, ["--print-config"])
    assert done.returncode != 0 and "config.json" in done.stderr


def test_reload_rereads_the_seed_json(sim, start_worker, tmp_path) -> None:
    cwd = tmp_path / "app"
    config = seed_json(cwd / "config.json", jetbrains_tokens=json_tokens(("one", A)), bearer_token=KEY)
    worker = start_worker.launch(["-h", "127.0.0.1", "-p", "0", "--upstream", sim.url], cwd=cwd)
    assert [t["name"] for t in worker.health()["tokens"]] == ["one"]
    seed_json(config, jetbrains_tokens=json_tokens(("one", A), ("two", B)), bearer_token=KEY)
    assert worker.client.post("/reload").status_code == 200
    assert [t["name"] for t in worker.health()["tokens"]] == ["one", "two"]


# --------------------------------------------------------------------------- one-shot commands


def test_generate_config(tmp_path) -> None:
    cwd = tmp_path / "fresh"
    cwd.mkdir()
    done = run_worker_once(tmp_path, ["--generate-config"], cwd=cwd)
    assert done.returncode == 0, done.stderr
    config = json.loads((cwd / "config" / "config.json").read_text())
    assert config["jetbrains_tokens"] and "token" in config["jetbrains_tokens"][0]
    for key in ("bearer_token", "load_balance_strategy", "health_check_interval", "server_port", "server_host"):
        assert key in config
    example = (cwd / ".env.example").read_text()
    for name in ("JWT_TOKENS", "BEARER_TOKEN", "LOAD_BALANCE_STRATEGY", "SERVER_HOST", "SERVER_PORT"):
        assert re.search(rf"^#?\s*{name}=", example, re.M), name
    # what it wrote is loadable
    config = print_config(tmp_path, cwd=cwd)
    assert config["health_check_interval"] == "30s"
    assert len(config["tokens"]) == len(json.loads((cwd / "config" / "config.json").read_text())["jetbrains_tokens"])


def test_print_config_shortens_secrets(tmp_path) -> None:
    done = run_worker_once(tmp_path, ["--print-config", "-c", f"{A},{B}", "-k", KEY, "-p", "0"])
    assert done.returncode == 0, done.stderr
    for secret in (A, B, KEY):
        assert secret not in done.stdout + done.stderr
    assert fingerprint(A) in done.stdout and fingerprint(B) in done.stdout
    config = json.loads(done.stdout[done.stdout.index("{"):])
    assert config["strategy"] == "round_robin" and config["listen"].endswith(":0")
    # the seed's defaults: port 8080 on every interface
    assert print_config(tmp_path, "-c", A)["listen"] == "0.0.0.0:8080"


def test_help(tmp_path) -> None:
    done = run_worker_once(tmp_path, ["--help"])
    assert done.returncode == 0
    text = done.stdout + done.stderr
    host_line = [line for line in text.splitlines() if re.match(r"\s*-h\b", line)]
    assert host_line and "host" in host_line[0].lower(), text
    for flag in ("-c", "-k", "-s", "-p", "--config", "--tenant", "--generate-config", "--print-config", "--control-socket"):
        assert flag in text, flag
    for name in ("JWT_TOKENS", "BEARER_TOKEN", "LISTEN_FDS", "SIGHUP"):
        assert name in text, name


# --------------------------------------------------------------------------- log lines


def test_log_lines_users_grep_for(sim, start_worker, tmp_path) -> None:
    cwd = tmp_path / "app"
    seed_json(cwd / "config.json", health_check_interval="300ms")
    worker = start_worker.launch(["-c", f"{A},{B}", "-k", KEY, "-h", "127.0.0.1", "-p", "0", "--upstream", sim.url], cwd=cwd)
    worker.wait_for_line(r"JWT balancer initialized with 2 tokens, strategy: round_robin")
    worker.wait_for_line(r"JWT health checker started")
    worker.wait_for_line(rf"Server starting on 127\.0\.0\.1:{worker.port}\b")
    worker.wait_for_line(r"Health check completed: 2/2 tokens healthy")
    sim.fault(kind="status", status=500, jwt=A, endpoint="any")
    fp = re.escape(fingerprint(A))
    worker.wait_for_line(rf"JWT token marked as unhealthy: {fp} \(errors: 1\)", timeout=5)
    worker.wait_for_line(r"Health check completed: 1/2 tokens healthy", timeout=5)
    sim.clear_faults()
    worker.wait_for_line(rf"JWT token marked as healthy: {fp}", timeout=5)
    order = [line for line in worker.lines() if "JWT balancer initialized" in line or "Server starting on" in line]
    assert "JWT balancer initialized" in order[0]


# --------------------------------------------------------------------------- fleet file


def test_fleet_tenant_mode_keeps_secrets_off_argv(sim, start_worker) -> None:
    doc = fleet_document(sim.url, [{"name": "primary", "jwt": "${TEAM_A_JWT}"}, {"name": "second", "jwt": B}], keys=["${TEAM_A_KEY}"])
    worker = start_worker.fleet(doc, env={"TEAM_A_JWT": A, "TEAM_A_KEY": KEY})
    health = worker.health()
    assert health["tenant"] == "team-a"
    assert [t["name"] for t in health["tokens"]] == ["primary", "second"]
    assert health["tokens"][0]["fingerprint"] == fingerprint(A)
    assert worker.chat("abc").status_code == 200
    cmdline = Path(f"/proc/{worker.pid}/cmdline").read_bytes().decode().split("\0")
    assert "--tenant" in cmdline and "team-a" in cmdline
    for secret in (A, B, KEY):
        assert not any(secret in arg for arg in cmdline)
    assert "tenant=team-a" in worker.log() or "team-a" in worker.log()


def test_fleet_mode_argument_errors(tmp_path, sim) -> None:
    fleet = write_fleet(tmp_path / "fleet.yaml", fleet_document(sim.url, tokens_for([A])))
    cases = [
        (["--tenant", "team-a"], "--config"),
        (["--config", str(fleet)], "--tenant"),
        (["--config", str(fleet), "--tenant", "team-z"], "team-z"),
        (["--config", str(fleet), "--tenant", "team-a", "-c", A], "-c"),
    ]
    for args, needle in cases:
        done = run_worker_once(tmp_path, args)
        assert done.returncode != 0, args
        assert needle in done.stderr, (args, done.stderr)
        assert A not in done.stderr


def test_fleet_file_errors_name_file_and_line(tmp_path, sim) -> None:
    doc = fleet_document(sim.url, tokens_for([A]))
    doc["tenants"]["team-a"]["strategy"] = "fastest"
    fleet = write_fleet(tmp_path / "fleet.yaml", doc)
    done = run_worker_once(tmp_path, ["--config", str(fleet), "--tenant", "team-a"])
    assert done.returncode != 0
    assert re.search(r"fleet\.yaml:\d+:\d+", done.stderr), done.stderr
    assert "strategy" in done.stderr
