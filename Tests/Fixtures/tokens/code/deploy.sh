#!/usr/bin/env bash
# deploy.sh - build a release archive, copy it to each host, switch the symlink, restart.
set -euo pipefail

APP=${APP:-orders}
HOSTS=(${HOSTS:-app1.internal app2.internal app3.internal})
RELEASE="$(date -u +%Y%m%dT%H%M%SZ)-$(git rev-parse --short HEAD)"
ARCHIVE="/tmp/${APP}-${RELEASE}.tar.gz"
KEEP=5

log() { printf '%s [deploy] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -z "$(git status --porcelain)" ]] || die "working tree is dirty; commit or stash first"

log "building ${APP} ${RELEASE}"
make clean release >/dev/null
tar -czf "$ARCHIVE" -C build/release .

for host in "${HOSTS[@]}"; do
  log "uploading to ${host}"
  scp -q "$ARCHIVE" "deploy@${host}:/tmp/" || die "upload to ${host} failed"
  ssh "deploy@${host}" bash -s -- "$APP" "$RELEASE" "$KEEP" <<'REMOTE'
set -euo pipefail
app=$1; release=$2; keep=$3
dir=/srv/$app/releases/$release
mkdir -p "$dir"
tar -xzf "/tmp/$app-$release.tar.gz" -C "$dir"
ln -sfn "$dir" "/srv/$app/current"
sudo systemctl restart "$app"
for i in $(seq 1 20); do
  if curl -fsS "http://127.0.0.1:8080/healthz" >/dev/null; then
    break
  fi
  sleep 1
done
ls -1dt /srv/$app/releases/* | tail -n +$((keep + 1)) | xargs -r rm -rf
rm -f "/tmp/$app-$release.tar.gz"
REMOTE
  log "${host} is on ${RELEASE}"
done

rm -f "$ARCHIVE"
log "done: ${#HOSTS[@]} hosts updated"
