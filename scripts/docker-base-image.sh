#!/usr/bin/env bash
# Make a bare Debian bookworm image for tests without Docker Hub: debootstrap + docker import.
# Usage: scripts/docker-base-image.sh [TAG]   (default manimagent-base:bookworm). Idempotent.
set -euo pipefail
tag="${1:-manimagent-base:bookworm}"
if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag present"
  exit 0
fi
command -v debootstrap >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap; }
root="$(mktemp -d /tmp/manimagent-rootfs.XXXXXX)"
trap 'rm -rf "$root"' EXIT
mirror="${DEBIAN_MIRROR:-$(awk '/^deb / && /debian/ {print $2; exit}' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)}"
if [ -z "$mirror" ]; then
  mirror="$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -n1 | awk '{print $2}')"
fi
debootstrap --variant=minbase bookworm "$root" "${mirror:-http://deb.debian.org/debian}" >/tmp/manimagent-debootstrap.log 2>&1 \
  || { tail -20 /tmp/manimagent-debootstrap.log >&2; exit 1; }
# apt inside containers uses the same mirror the host uses
tar -C "$root" -c . | docker import - "$tag" >/dev/null
echo "base image $tag built"
