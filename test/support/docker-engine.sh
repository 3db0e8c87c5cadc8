#!/usr/bin/env bash
# A private Docker Engine for the container tests: Debian 13's docker.io (Engine 26, API <= 1.45),
# containerd and the Compose v2 plugin, unpacked (never installed) under the cache; Debian 12's runc;
# dockerd in a network namespace of its own (`unshare --net`), so its bridge and iptables rules never
# reach the host's network. No registry: the base image is built with debootstrap and imported.
#
#   docker-engine.sh start   install if needed, start the engine, import the base image; prints the
#                            environment to use (DOCKER_HOST=..., DOCKER_CONFIG=..., PATH=...)
#   docker-engine.sh stop    stop the engine started by `start` (by its pid file)
#   docker-engine.sh check   exit 0 if this machine can run it (root, apt-get, unshare), 78 if not
#
# Downloads are cached under $CLAWGUARD_CACHE (default ~/.cache/clawguard): the .deb files, the
# unpacked engine and the base root filesystem (a tarball). The engine's data root lives there too,
# so built images survive between runs. Exit codes: 0 done, 1 failed, 78 this machine cannot.
set -euo pipefail

CACHE=${CLAWGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/clawguard}/docker-engine
RUN=${TMPDIR:-/tmp}/clawguard-docker-$(id -u)
SOCK=$RUN/docker.sock
BASE_IMAGE=${CLAWGUARD_BASE_IMAGE:-clawguard-test/base:bookworm}
# What the test images need from Debian, since a build has no network: tini (pid 1), passwd (useradd),
# PostgreSQL and Redis (the deployment's stores), ca-certificates.
BASE_PACKAGES=tini,passwd,ca-certificates,procps,postgresql,redis-server

log() { printf '[docker-engine] %s\n' "$*" >&2; }
die() { log "$*"; exit "${2:-1}"; }

check() {
  [ "$(id -u)" = 0 ] || die "needs root (dockerd, debootstrap)" 78
  command -v apt-get >/dev/null || die "needs apt-get (a Debian machine)" 78
  command -v unshare >/dev/null || die "needs unshare (util-linux)" 78
  [ "$(uname -m)" = x86_64 ] || die "only amd64 is set up" 78
}

host_tools() {
  local missing=()
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  command -v ip >/dev/null || missing+=(iproute2)
  # Used by dockerd inside its own namespace only (bridges, embedded DNS): no rule on the host's.
  command -v iptables >/dev/null || missing+=(iptables)
  [ ${#missing[@]} = 0 ] && return
  log "installing ${missing[*]} from Debian 12 (its runc: Debian 13's needs glibc 2.38)"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# Debian 13's packages, fetched with a private apt configuration (the host's sources stay as they are).
install_engine() {
  [ -x "$CACHE/bin/dockerd" ] && return
  local t0=$SECONDS
  mkdir -p "$CACHE/apt/lists/partial" "$CACHE/apt/cache/archives/partial" "$CACHE/debs" "$CACHE/bin"
  echo "deb http://deb.debian.org/debian trixie main" >"$CACHE/apt/sources.list"
  local apt=(-o Dir::Etc::SourceList="$CACHE/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
    -o Dir::State::Lists="$CACHE/apt/lists" -o Dir::Cache="$CACHE/apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
  apt-get "${apt[@]}" update -qq >/dev/null
  (cd "$CACHE/debs" && apt-get "${apt[@]}" download docker.io docker-cli containerd docker-compose tini >/dev/null)
  rm -rf "$CACHE/root" && mkdir -p "$CACHE/root"
  for d in "$CACHE"/debs/*.deb; do dpkg -x "$d" "$CACHE/root"; done
  local r=$CACHE/root/usr
  for f in sbin/dockerd sbin/docker-proxy bin/docker bin/containerd bin/containerd-shim-runc-v2; do
    [ -x "$r/$f" ] || die "$f not found in the unpacked packages"
    ln -sf "$r/$f" "$CACHE/bin/${f#*/}"
  done
  # `init: true` runs docker-init: a static tini.
  ln -sf "$r/bin/tini-static" "$CACHE/bin/docker-init"
  ln -sf "$(command -v runc)" "$CACHE/bin/runc"
  mkdir -p "$CACHE/docker-config/cli-plugins"
  ln -sf "$(find "$CACHE/root" -path '*cli-plugins/docker-compose' | head -1)" \
    "$CACHE/docker-config/cli-plugins/docker-compose"
  log "engine packages fetched and unpacked in $((SECONDS - t0)) s"
}

env_lines() {
  printf 'DOCKER_HOST=unix://%s\nDOCKER_CONFIG=%s\nPATH=%s:%s\n' "$SOCK" "$CACHE/docker-config" "$CACHE/bin" "$PATH"
}

engine_up() { DOCKER_HOST=unix://$SOCK "$CACHE/bin/docker" version >/dev/null 2>&1; }

start_engine() {
  engine_up && return
  mkdir -p "$RUN" "$CACHE/data"
  local t0=$SECONDS
  local args="--host unix://$SOCK --data-root $CACHE/data --exec-root $RUN/exec --pidfile $RUN/dockerd.pid"
  # No DNS server is reachable from the namespace: the containers' resolver would wait 8 s on the
  # host's for every name it does not know (a stopped container's), and failover could not confirm
  # a gateway down. 127.0.0.1 in the namespace refuses at once: unknown names fail fast.
  args+=" --storage-driver overlay2 --dns 127.0.0.1"
  # Its own network namespace: the default bridge and its iptables rules exist only in there.
  PATH="$CACHE/bin:$PATH" nohup unshare --net --fork sh -c "ip link set lo up; exec dockerd $args" \
    >"$RUN/dockerd.log" 2>&1 &
  echo $! >"$RUN/unshare.pid"
  for _ in $(seq 1 120); do
    engine_up && { log "engine up in $((SECONDS - t0)) s"; return; }
    sleep 0.5
  done
  tail -20 "$RUN/dockerd.log" >&2
  die "dockerd did not come up (log: $RUN/dockerd.log)"
}

# The base image: Debian 12 minbase with BASE_PACKAGES, plus the Node 24 binary of the workspace.
base_image() {
  local docker=("$CACHE/bin/docker" -H "unix://$SOCK")
  "${docker[@]}" image inspect "$BASE_IMAGE" >/dev/null 2>&1 && return
  local tarball=$CACHE/rootfs-bookworm.tar t0=$SECONDS
  if [ ! -f "$tarball" ]; then
    local rootfs=$CACHE/rootfs.tmp
    rm -rf "$rootfs"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" http://deb.debian.org/debian \
      >"$CACHE/debootstrap.log" 2>&1 || { tail -20 "$CACHE/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball" && rm -rf "$rootfs"
    log "debootstrap done in $((SECONDS - t0)) s"
  fi
  local node
  node=$(readlink -f "$(dirname "$0")/../../node_modules/node/bin/node")
  [ -x "$node" ] || die "no Node binary at node_modules/node/bin/node (pnpm install first)"
  local ctx
  ctx=$(mktemp -d)
  cp "$node" "$ctx/node"
  "${docker[@]}" import - clawguard-test/debian:bookworm <"$tarball" >/dev/null
  printf 'FROM clawguard-test/debian:bookworm\nCOPY node /usr/local/bin/node\n' >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 "${docker[@]}" build -q -t "$BASE_IMAGE" "$ctx" >/dev/null
  rm -rf "$ctx"
  log "base image $BASE_IMAGE in $((SECONDS - t0)) s"
}

stop_engine() {
  [ -f "$RUN/dockerd.pid" ] || { log "no engine started here"; return; }
  local pid
  pid=$(cat "$RUN/dockerd.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  rm -f "$RUN/dockerd.pid" "$RUN/unshare.pid"
  log "engine stopped"
}

case "${1:-start}" in
check) check ;;
start) check; host_tools; install_engine; start_engine; base_image; env_lines ;;
stop) stop_engine ;;
*) die "usage: docker-engine.sh start|stop|check" 2 ;;
esac
