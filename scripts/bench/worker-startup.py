#!/usr/bin/env python3
"""Usage: scripts/bench/worker-startup.py BIN_DIR [RUNS]

Worker start-up to serving: exec (as the supervisor does: /bin/sh trampoline, fd 3, settings
on stdin) -> the first request, already waiting in the backlog, answered. Prints the median."""
import json, os, re, socket, statistics, subprocess, sys, tempfile, time

bin_dir = sys.argv[1]
runs = int(sys.argv[2]) if len(sys.argv) > 2 else 10
sim = subprocess.Popen([f"{bin_dir}/jetbrains-ai-simulator", "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, text=True)
line = sim.stdout.readline()
sim_url = re.search(r"(http://\S+)", line).group(1)
lst = socket.socket(); lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
lst.bind(("127.0.0.1", 0)); lst.listen(128)
port = lst.getsockname()[1]
tenant = {
    "name": "t", "listen": f"127.0.0.1:{port}", "apiKeys": ["k"],
    "tokens": [{"name": "a", "source": {"jwt": "jwt-a-0123456789"}, "priority": 1, "weight": 1, "metadata": {}}],
    "upstream": sim_url, "apiVersion": "v8", "strategy": "round_robin", "healthCheckIntervalMs": 30000,
    "maxAttempts": 3, "connectTimeoutMs": 10000, "requestTimeoutMs": 120000, "maxBodySize": 10485760,
    "models": {}, "keepaliveIntervalMs": 15000, "shutdownTimeoutMs": 5000,
}
settings = (json.dumps({"tenant": tenant, "tokenStates": []}) + "\n").encode()
# GET /health: answered from memory, so the time is start-up plus one accept, no upstream call.
req = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
times, ctl_times, cpus = [], [], []
for i in range(runs):
    os.dup2(lst.fileno(), 3)
    os.set_inheritable(3, True)
    env = {"PATH": os.environ["PATH"], "LISTEN_FDS": "1", "LISTEN_FDNAMES": "t", "LOG_LEVEL": "warning"}
    ctl = os.path.join(tempfile.gettempdir(), f"jbai-startup-{os.getpid()}-{i}.sock")
    t0 = time.monotonic()
    p = subprocess.Popen(["/bin/sh", "-c", 'LISTEN_PID=$$; export LISTEN_PID; exec "$0" "$@"', f"{bin_dir}/jetbrains-ai-proxy",
                          "--tenant", "t", "--settings-from-stdin", "--control-socket", ctl],
                         stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, pass_fds=(3,))
    p.stdin.write(settings); p.stdin.flush()
    c = socket.create_connection(("127.0.0.1", port)); c.sendall(req)
    data = b""
    while chunk := c.recv(65536): data += chunk
    t1 = time.monotonic()
    cpu = 0
    for task in os.listdir(f"/proc/{p.pid}/task"):
        try:
            cpu += int(open(f"/proc/{p.pid}/task/{task}/schedstat").read().split()[0])
        except OSError:
            pass
    cpus.append(cpu / 1e6)
    while not os.path.exists(ctl): time.sleep(0.001)
    t2 = time.monotonic()
    assert b" 200 " in data.split(b"\r\n")[0], data[:200]
    times.append((t1 - t0) * 1000); ctl_times.append((t2 - t0) * 1000)
    p.stdin.close(); p.wait(timeout=10)
os.close(3)
sim.terminate()
print(f"exec -> first request answered: median {statistics.median(times):.1f} ms, min {min(times):.1f}, max {max(times):.1f} "
      f"({runs} runs); control socket file after median {statistics.median(ctl_times):.1f} ms; "
      f"worker CPU (all threads) until then: median {statistics.median(cpus):.1f} ms, min {min(cpus):.1f}")
