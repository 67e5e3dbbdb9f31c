#!/usr/bin/env bash
# Run CI (.ci/run) in a clean Debian bookworm container whose PID 1 is `sleep infinity`, as many
# CI `container:` jobs are: nothing there reaps orphans, so a dead render stays a zombie.
# Usage: scripts/ci-in-container.sh [--image IMG] [--keep]
#   --image IMG   the container's image (default: manimagent-base:bookworm, built here from
#                 debootstrap by scripts/docker-base-image.sh; `debian:bookworm` from Docker Hub works too)
#   --keep        leave the container running at the end (docker exec -it NAME bash to look around)
#
# The working tree (without .venv) is copied in; the host's CA bundle goes along so a
# TLS-inspecting proxy the host trusts works inside too. The container is privileged with its
# own /var/lib/docker volume, so setup.sh installs and test.sh starts a Docker engine inside it.
# Needs a reachable Docker engine on the host. Exit status: that of .ci/run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
image="manimagent-base:bookworm"
keep=0
name="manimagent-ci-$$"
host_ca=/etc/ssl/certs/ca-certificates.crt

say() { printf 'ci-in-container: %s\n' "$*" >&2; }
usage() { sed -n '4,7s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --image) image="${2:?--image needs a value}"; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; say "error: unknown option $1"; exit 2 ;;
  esac
done

docker info >/dev/null 2>&1 || { say "error: no Docker engine answers here (start one, e.g. sudo systemctl start docker)"; exit 3; }

remove_container() { docker rm -f -v "$name" >/dev/null 2>&1 || true; }
if [ "$keep" = 0 ]; then trap remove_container EXIT; fi

if [ "$image" = manimagent-base:bookworm ]; then
  scripts/docker-base-image.sh "$image" >&2
fi

# When this host is itself a container without every capability, --privileged cannot be granted:
# then all capabilities but the ones it lacks, unconfined, with the cgroups writable.
UNPRIVILEGED_ENGINE=(--cap-add ALL --cap-drop SYS_RESOURCE --security-opt seccomp=unconfined
  --security-opt apparmor=unconfined -v /sys/fs/cgroup:/sys/fs/cgroup:rw)

start_container() {
  docker run -d --name "$name" "$@" -v /var/lib/docker -e CI=true \
    ${DEBIAN_MIRROR:+-e DEBIAN_MIRROR="$DEBIAN_MIRROR"} "$image" sleep infinity >/dev/null
}

say "starting $name from $image (PID 1: sleep infinity)"
if ! start_container --privileged 2>/tmp/manimagent-ci-run.err; then
  grep -q 'apply caps' /tmp/manimagent-ci-run.err || { cat /tmp/manimagent-ci-run.err >&2; exit 1; }
  say "--privileged is not allowed here (this host is a container itself); starting with all capabilities it has"
  docker rm -f -v "$name" >/dev/null 2>&1 || true
  start_container "${UNPRIVILEGED_ENGINE[@]}"
fi
[ "$(docker exec "$name" cat /proc/1/comm)" = sleep ] || { say "error: PID 1 is not sleep"; exit 1; }

if [ -s "$host_ca" ]; then
  say "copying the host's CA bundle in"
  docker exec "$name" mkdir -p /etc/ssl/certs /usr/local/share/ca-certificates
  docker cp "$host_ca" "$name:/etc/ssl/certs/ca-certificates.crt"
  docker cp "$host_ca" "$name:/usr/local/share/ca-certificates/host-bundle.crt"  # kept if ca-certificates is installed later
fi

say "copying the working tree to /work (without .venv)"
docker exec "$name" mkdir -p /work
tar -C . --exclude=./.venv --exclude='*/__pycache__' --exclude=./.git -cf - . | docker exec -i "$name" tar -C /work -xf -

say "running .ci/run (CI=true) inside"
rc=0
docker exec -w /work -e CI=true "$name" bash .ci/run || rc=$?
say ".ci/run exited $rc"
if [ "$keep" = 1 ]; then say "container kept: docker exec -it $name bash; remove with docker rm -f -v $name"; fi
exit "$rc"
