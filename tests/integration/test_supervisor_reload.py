"""Reload (``ctl reload``, ``POST /reload``, SIGHUP) under load: added tenants start, removed
tenants drain and stop, changed tenants are replaced without a failed request, unchanged ones
keep their pid, a new listen address serves, and an invalid file changes nothing."""

from __future__ import annotations

import re
import signal
import time
from contextlib import ExitStack

import pytest

from harness import Simulator, free_port, wait_until
from supervisor_harness import (
    BackgroundStream,
    NIO_ACCEPT_ASSERT,
    Fleet,
    Hammer,
    check_replacement_requests,
    give_unlimited_quota,
    make_fleet,  # noqa: F401 - fixture
    port_accepts,
    secret_jwt,
    tenant,
)


def _hammers(fleet: Fleet, names: list[str], stack: ExitStack) -> dict[str, Hammer]:
    hammers = {n: stack.enter_context(fleet.hammer(n)) for n in names}
    for h in hammers.values():
        h.wait_successes(5)
    return hammers


def _assert_clean(hammers: dict[str, Hammer]) -> None:
    for h in hammers.values():
        print(h.summary())
    for h in hammers.values():
        assert not h.failures, h.summary()
        assert h.successes >= 10, h.summary()


def _pids(fleet: Fleet) -> dict[str, int]:
    return {n: t["pid"] for n, t in fleet.status()["tenants"].items()}


def _ctl_reload(fleet: Fleet) -> tuple[int, str, str, dict[str, str]]:
    """``ctl reload``: exit code, stdout, stderr, and the per-tenant actions it printed."""
    code, out, err = fleet.ctl("reload")
    actions = {}
    for line in out.splitlines()[1:]:
        parts = line.split()
        if len(parts) == 2:
            actions[parts[0]] = parts[1]
    return code, out, err, actions


def test_reload_adds_a_tenant_and_leaves_the_others_untouched(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = _pids(fleet)
    with ExitStack() as stack:
        hammers = _hammers(fleet, ["alpha", "beta"], stack)
        doc = fleet.doc
        doc["tenants"]["delta"] = tenant("delta", strategy="random")
        fleet.write(doc)
        code, out, err, actions = _ctl_reload(fleet)
        assert code == 0, (out, err)
        assert actions == {"alpha": "unchanged", "beta": "unchanged", "delta": "started"}, out
        fleet.wait_running(["delta"])
        assert fleet.complete("delta").status_code == 200
        # delta gets its own key: alpha's is refused there.
        assert fleet.complete("delta", key=fleet.key("alpha")).status_code == 401
        for h in hammers.values():
            h.wait_successes(5, since=time.monotonic())
    _assert_clean(hammers)
    after = _pids(fleet)
    assert after["alpha"] == before["alpha"] and after["beta"] == before["beta"], (before, after)
    assert fleet.tenant("delta")["strategy"] == "random"
    assert (fleet.log_dir / "delta.log").exists()


def test_reload_removes_a_tenant_after_draining_it_and_closes_its_port(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "gone": tenant("gone")})
    before = _pids(fleet)
    gone_pid = before["gone"]
    gone_url = fleet.tenant_url("gone")
    with ExitStack() as stack:
        hammers = _hammers(fleet, ["alpha"], stack)
        reader = BackgroundStream(gone_url, fleet.key("gone"), "[[chunks=6]][[delay_ms=300]] slow")
        assert reader.first_chunk.wait(10)
        doc = fleet.doc
        del doc["tenants"]["gone"]
        fleet.write(doc)
        status, report = fleet.reload()
        assert status == 200 and report["ok"], report
        assert report["actions"] == {"alpha": "unchanged", "gone": "stopped"}, report
        result = reader.join(20)
        # Drained: the stream in flight finished, then the worker exited and the port closed.
        assert "error" not in result, result
        assert result["status"] == 200 and result["chunks"][-1] == "[DONE]", result
        wait_until(lambda: "gone" not in fleet.status()["tenants"], timeout=15, message=lambda: str(fleet.status()["tenants"].get("gone")))
        wait_until(lambda: not port_accepts(gone_url), timeout=10, message=f"{gone_url} closed")
        hammers["alpha"].wait_successes(5, since=time.monotonic())
    _assert_clean(hammers)
    assert fleet.pid("alpha") == before["alpha"]
    assert gone_pid not in fleet.worker_pids()
    assert fleet.health().json()["total_tenants"] == 1


@pytest.mark.parametrize("change", ["jwts", "strategy"])
def test_reload_replaces_a_changed_tenant_without_a_failed_request(make_fleet, change: str) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = _pids(fleet)
    with ExitStack() as stack:
        hammers = _hammers(fleet, ["alpha", "beta"], stack)
        doc = fleet.doc
        if change == "jwts":
            doc["tenants"]["beta"]["tokens"].append({"name": "t2", "jwt": secret_jwt("beta2")})
        else:
            doc["tenants"]["beta"]["strategy"] = "least_busy"
        fleet.write(doc)
        t_reload = time.monotonic()
        code, out, err, actions = _ctl_reload(fleet)
        assert code == 0, (out, err)
        assert actions == {"alpha": "unchanged", "beta": "replaced"}, out
        entry = fleet.wait_new_pid("beta", before["beta"])
        # The old worker drains and goes.
        wait_until(lambda: before["beta"] not in fleet.worker_pids(), timeout=15, message="old beta worker gone")
        for h in hammers.values():
            h.wait_successes(10, since=time.monotonic())
    print(f"\nreload ({change}) → replacement running after {time.monotonic() - t_reload:.2f}s")
    _assert_clean({"alpha": hammers["alpha"]})
    print(hammers["beta"].summary())
    assert hammers["beta"].successes >= 10
    assert fleet.pid("alpha") == before["alpha"], "an unchanged tenant was restarted"
    if change == "jwts":
        wait_until(lambda: fleet.tenant("beta")["healthy_tokens"] == 2, timeout=10)
        assert [t["name"] for t in fleet.tenant("beta")["tokens"]] == ["t1", "t2"]
    else:
        assert entry["strategy"] == "least_busy"
    check_replacement_requests(fleet, [hammers["beta"]], ["beta"])
    assert fleet.tenant("beta")["restarts"] == 0, "a replacement is not a crash"


def test_reload_moves_a_tenant_to_a_new_listen_address(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = _pids(fleet)
    old_url = fleet.tenant_url("beta")
    port = free_port()
    with ExitStack() as stack:
        hammers = _hammers(fleet, ["alpha"], stack)
        doc = fleet.doc
        doc["tenants"]["beta"]["listen"] = f"127.0.0.1:{port}"
        fleet.write(doc)
        status, report = fleet.reload()
        assert status == 200 and report["ok"], report
        assert report["actions"] == {"alpha": "unchanged", "beta": "replaced"}, report
        entry = fleet.wait_new_pid("beta", before["beta"])
        assert entry["listen"] == f"127.0.0.1:{port}", entry
        response = fleet.complete("beta", url=f"http://127.0.0.1:{port}")
        assert response.status_code == 200, response.text
        # The old address stops listening once its worker has drained.
        wait_until(lambda: not port_accepts(old_url), timeout=15, message=f"old address {old_url} closed")
        hammers["alpha"].wait_successes(5, since=time.monotonic())
    _assert_clean(hammers)
    assert fleet.pid("alpha") == before["alpha"]


BAD_YAML = "version: 1\ntenants:\n  alpha: [unclosed\n    listen: 127.0.0.1:0\n"


def test_an_invalid_reload_changes_nothing_and_returns_the_errors(make_fleet) -> None:
    """Through the real loader, runtime and ctl. Each error rule is a unit test of the loader
    (SharedTests), and that a rejected file changes nothing one of the reconciler (SupervisorTests)."""
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = _pids(fleet)
    good = fleet.path.read_text()
    with ExitStack() as stack:
        hammers = _hammers(fleet, ["alpha", "beta"], stack)
        fleet.write_text(BAD_YAML)
        path = str(fleet.path)
        # ctl reload: exit 1, errors with file:line:col on stderr.
        code, out, err = fleet.ctl("reload")
        assert code == 1, (code, out, err)
        assert any(re.search(rf"{re.escape(path)}:\d+:\d+: ", l) for l in err.splitlines()), err
        # POST /reload: 400 with the errors.
        response = fleet.control("POST", "/reload")
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["ok"] is False and body["errors"], body
        assert any(re.match(rf"{re.escape(path)}:\d+:\d+: ", e) for e in body["errors"]), body
        # The fleet keeps serving exactly as before.
        for h in hammers.values():
            h.wait_successes(5, since=time.monotonic())
        assert _pids(fleet) == before
        assert set(fleet.status()["tenants"]) == {"alpha", "beta"}
        # Restoring the file and reloading again changes nothing either.
        fleet.write_text(good)
        status, report = fleet.reload()
        assert status == 200 and report["actions"] == {"alpha": "unchanged", "beta": "unchanged"}, report
    _assert_clean(hammers)
    assert _pids(fleet) == before
    assert "reload rejected" in fleet.stderr()


def test_a_reload_whose_new_port_is_in_use_changes_nothing(make_fleet) -> None:
    import socket

    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = _pids(fleet)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        doc = fleet.doc
        doc["tenants"]["beta"]["listen"] = f"127.0.0.1:{port}"
        doc["tenants"]["delta"] = tenant("delta")
        fleet.write(doc)
        code, out, err = fleet.ctl("reload")
        assert code == 1, (code, out, err)
        assert "tenants.beta.listen" in err and str(port) in err and "in use" in err, err
        status, report = fleet.reload()
        assert status == 400 and not report["ok"] and any("tenants.beta.listen" in e for e in report["errors"]), report
    assert _pids(fleet) == before
    assert set(fleet.status()["tenants"]) == {"alpha", "beta"}, "a tenant was added by a rejected reload"
    assert fleet.tenant("beta")["listen"] != f"127.0.0.1:{port}"
    assert fleet.complete("beta").status_code == 200


def test_sighup_reloads(make_fleet) -> None:
    fleet = make_fleet({"alpha": tenant("alpha"), "beta": tenant("beta")})
    before = _pids(fleet)
    with ExitStack() as stack:
        hammers = _hammers(fleet, ["alpha"], stack)
        doc = fleet.doc
        doc["tenants"]["delta"] = tenant("delta")
        doc["tenants"]["beta"]["strategy"] = "random"
        fleet.write(doc)
        fleet.proc.send_signal(signal.SIGHUP)
        fleet.wait_running(["delta"])
        entry = fleet.wait_new_pid("beta", before["beta"])
        assert entry["strategy"] == "random"
        assert fleet.complete("delta").status_code == 200
        hammers["alpha"].wait_successes(5, since=time.monotonic())
    _assert_clean(hammers)
    assert fleet.pid("alpha") == before["alpha"]
    assert fleet.proc.is_running()
    assert "SIGHUP" in fleet.stderr()


def test_a_jwt_that_stays_keeps_its_health_state_across_a_change(make_fleet, simulator: Simulator) -> None:
    """fleet-config.md, reload semantics: "A JWT that stays in a tenant keeps its health state
    across the change." t1 is made invalid by a 401 on a real request (an invalid JWT is not
    probed again, so it stays invalid in the old worker); after a strategy change the new
    worker must still report t1 invalid."""
    fleet = make_fleet({"alpha": tenant("alpha", jwts=2)})
    simulator.fault(kind="status", status=401, jwt=secret_jwt("alpha1"), endpoint="chat", count=1)
    for _ in range(4):
        assert fleet.complete("alpha").status_code == 200
    wait_until(
        lambda: {t["name"]: t["state"] for t in fleet.tenant("alpha")["tokens"]} == {"t1": "invalid", "t2": "healthy"},
        timeout=10,
        message=lambda: str(fleet.tenant("alpha")["tokens"]),
    )
    old = fleet.pid("alpha")
    doc = fleet.doc
    doc["tenants"]["alpha"]["strategy"] = "random"
    fleet.write(doc)
    status, report = fleet.reload()
    assert status == 200 and report["actions"] == {"alpha": "replaced"}, report
    fleet.wait_new_pid("alpha", old)
    # Let the new worker's first probe round finish so its states are settled.
    wait_until(lambda: fleet.tenant("alpha")["status"] != "unknown" and fleet.tenant("alpha")["tokens"][1]["state"] == "healthy", timeout=10)
    tokens = {t["name"]: t["state"] for t in fleet.tenant("alpha")["tokens"]}
    assert tokens == {"t1": "invalid", "t2": "healthy"}, tokens


def test_repeated_reloads_of_a_changed_tenant_under_heavy_load_fail_no_request(make_fleet, simulator: Simulator) -> None:
    """The same replacement as above, made likely to hit the races: three hammers without a
    pause, up to eight reloads that flip the strategy, stopping at the first failed request or
    crashed worker."""
    give_unlimited_quota(simulator, secret_jwt("beta1"))
    fleet = make_fleet({"beta": tenant("beta")})
    hammers = [fleet.hammer("beta", pause=0.0) for _ in range(3)]
    with ExitStack() as stack:
        for h in hammers:
            stack.enter_context(h)
        for h in hammers:
            h.wait_successes(3)
        for cycle in range(8):
            old = fleet.pid("beta")
            doc = fleet.doc
            doc["tenants"]["beta"]["strategy"] = "random" if cycle % 2 == 0 else "round_robin"
            fleet.write(doc)
            status, report = fleet.reload()
            assert status == 200 and report["actions"] == {"beta": "replaced"}, report
            fleet.wait_new_pid("beta", old)
            wait_until(lambda: old not in fleet.worker_pids(), timeout=15, message="old worker drained")
            if any(h.failures for h in hammers) or fleet.tenant("beta")["restarts"]:
                break
    report = "\n".join(h.summary() for h in hammers)
    print(f"\nafter {cycle + 1} reload(s):\n{report}")
    assert NIO_ACCEPT_ASSERT not in fleet.all_log_text(), f"a worker hit the NIO accept assertion\n{report}"
    assert fleet.tenant("beta")["restarts"] == 0, f"a worker crashed\n{report}"
    assert not any(h.failures for h in hammers), report
