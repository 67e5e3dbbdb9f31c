#!/usr/bin/env bash
# Set up manimagent on this machine: system packages (cairo, pango, LaTeX, espeak-ng), a virtualenv at
# .venv and the package in it. Idempotent: a second run checks and skips in a few seconds.
#
# Usage: scripts/setup.sh [--test]
#   --test   also the test extra and what the tests need (ffmpeg/ffprobe, a Docker engine, debootstrap,
#            PostgreSQL's server programs)
#
# Debian/Ubuntu: installs with apt-get (as root, or through sudo), bubblewrap included (the local
# render's sandbox). macOS: prints the Homebrew commands and sets up the virtualenv. pip trusts
# the system's CA store (PIP_CERT), so a TLS-inspecting proxy whose CA the OS trusts works.
# Progress goes to stderr.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$(pwd)"
venv="$repo/.venv"
stamp="$venv/.manimagent-setup"
with_tests=0
started=$SECONDS

say() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }

usage() { sed -n '2,10s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

for arg in "$@"; do
  case "$arg" in
    --test) with_tests=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; printf 'setup: error: unknown option %s\n' "$arg" >&2; exit 2 ;;
  esac
done

# ---------------------------------------------------------------- Python

python_ok() { # a Python >= 3.11 that can make virtualenvs
  "$1" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1
}

find_python() {
  local c
  for c in python3 python3.13 python3.12 python3.11; do
    if command -v "$c" >/dev/null 2>&1 && python_ok "$c"; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

# ---------------------------------------------------------------- system packages

apt_packages() {
  local pkgs=(
    pkg-config libcairo2-dev libpango1.0-dev              # pycairo and manimpango build against these
    build-essential python3-dev python3-venv              # compilers and headers for source builds
    texlive-latex-base texlive-latex-extra texlive-latex-recommended
    texlive-fonts-recommended dvisvgm                      # Tex and MathTex
    bubblewrap                                            # the sandbox of local renders
    espeak-ng sox ffmpeg                                  # narration: the offline TTS engine, audio tools
  )
  if ! find_python >/dev/null && command -v python3 >/dev/null 2>&1; then
    pkgs+=(python3.11 python3.11-venv python3.11-dev)    # e.g. Ubuntu 22.04: python3 is 3.10
  fi
  if [ "$with_tests" = 1 ]; then
    pkgs+=(debootstrap debian-archive-keyring iptables)
    pkgs+=(postgresql)                                    # the PostgreSQL tests start throwaway clusters
    docker_engine_package
  fi
  printf '%s\n' "${pkgs[@]}"
}

docker_engine_package() { # the engine when there is none; a `docker` client alone is not one
  if command -v dockerd >/dev/null 2>&1 || [ -x /usr/sbin/dockerd ] || [ -x /usr/bin/dockerd ]; then
    return 0  # an engine is installed (docker.io, docker-ce)
  fi
  if dpkg-query -W -f='${db:Status-Abbrev}' docker-ce-cli 2>/dev/null | grep -q '^ii'; then
    # docker.io conflicts with Docker's own packages: the engine comes from the same repository
    say "docker: docker-ce-cli is installed without an engine: apt-get install docker-ce (from Docker's repository)"
    return 0
  fi
  printf '%s\n' docker.io
}

missing_apt_packages() {
  local p
  while read -r p; do
    dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null | grep -q '^ii' || printf '%s ' "$p"
  done < <(apt_packages)
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    return 127
  fi
}

install_apt_packages() {
  local missing log
  missing="$(missing_apt_packages)"
  if [ -z "$missing" ]; then
    say "system packages: all present"
    return 0
  fi
  if [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null 2>&1; then
    die "need root to install: $missing (run: apt-get install -y $missing as root, then rerun)"
  fi
  log="${TMPDIR:-/tmp}/manimagent-setup-apt.log"
  say "system packages: installing $missing"
  case "$missing" in
    *texlive*) say "  (LaTeX is large: this can take several minutes; log: $log)" ;;
    *) say "  (log: $log)" ;;
  esac
  if ! as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >"$log" 2>&1; then
    say "apt-get update reported errors (continuing; see $log)"
  fi
  # shellcheck disable=SC2086  # $missing is a list of package names
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
      $missing >>"$log" 2>&1 </dev/null \
    || { tail -n 25 "$log" >&2; die "apt-get install failed (full log: $log)"; }
  say "system packages: installed"
}

macos_notes() {
  say "macOS: install the system parts with Homebrew (this script does not run brew):"
  say "  brew install cairo pango pkg-config espeak-ng ffmpeg"
  say "  brew install --cask mactex-no-gui    # or the smaller: brew install --cask basictex"
  if [ "$with_tests" = 1 ]; then say "  brew install ffmpeg; and Docker Desktop for the docker tests"; fi
  say "continuing with the virtualenv"
}

system_packages() {
  case "$(uname -s)" in
    Darwin) macos_notes ;;
    Linux)
      if command -v apt-get >/dev/null 2>&1 && command -v dpkg-query >/dev/null 2>&1; then
        install_apt_packages
      else
        say "no apt-get here: install cairo, pango, pkg-config, a C compiler, Python >= 3.11 with"
        say "  venv, bubblewrap, espeak-ng, ffmpeg, and LaTeX with dvisvgm with your package manager; continuing with the virtualenv"
      fi ;;
    *) say "unknown system $(uname -s): install cairo, pango, pkg-config and LaTeX yourself" ;;
  esac
}

# ---------------------------------------------------------------- pip and TLS

SYSTEM_CA_BUNDLES=(/etc/ssl/certs/ca-certificates.crt /etc/pki/tls/certs/ca-bundle.crt /etc/ssl/ca-bundle.pem)
TLS_HINT="a proxy re-signs HTTPS here (CERTIFICATE_VERIFY_FAILED): add its CA certificate to the system store \
(Debian/Ubuntu: copy it to /usr/local/share/ca-certificates/proxy.crt and run update-ca-certificates) \
and rerun, or point PIP_CERT at a bundle that holds it"

trust_system_certificates() { # pip < 24.2 (Debian 12 has 23.0) trusts only its own certifi copy
  local bundle
  if [ -n "${PIP_CERT:-}${REQUESTS_CA_BUNDLE:-}${CURL_CA_BUNDLE:-}" ]; then
    return 0  # the user chose a bundle
  fi
  for bundle in "${SYSTEM_CA_BUNDLES[@]}"; do
    if [ -s "$bundle" ]; then
      export PIP_CERT="$bundle"
      return 0
    fi
  done
  # no system bundle (macOS): pip >= 24.2 uses the OS store through truststore by itself
}

pip_quietly() { # pip "$@" with its output in a log; on failure the log's end and a fix
  local log="${TMPDIR:-/tmp}/manimagent-setup-pip.log"
  if "$venv/bin/python" -m pip "$@" -q --progress-bar off >"$log" 2>&1 </dev/null; then
    return 0
  fi
  tail -n 15 "$log" >&2
  if grep -q CERTIFICATE_VERIFY_FAILED "$log"; then say "TLS: $TLS_HINT"; fi
  say "(full pip log: $log)"
  return 1
}

# ---------------------------------------------------------------- virtualenv and package

make_venv() {
  local py
  if [ -x "$venv/bin/python" ] && python_ok "$venv/bin/python"; then
    return 0
  fi
  py="$(find_python)" || die "no Python >= 3.11 with the venv module found (install python3 and python3-venv)"
  if [ -e "$venv" ]; then
    say "virtualenv: $venv is unusable; recreating it"
    rm -rf "$venv"
  fi
  say "virtualenv: creating .venv with $py ($("$py" -c 'import platform; print(platform.python_version())'))"
  "$py" -m venv "$venv" || die "could not create .venv (on Debian/Ubuntu: apt-get install python3-venv)"
  # a current pip builds every dependency the PEP 517 way (Debian 12's pip 23.0 still falls back
  # to setup.py install for some)
  # and uses the system's CA store by itself (24.2+)
  pip_quietly install --upgrade pip \
    || say "virtualenv: could not upgrade pip: the messages above say why (continuing with $("$venv/bin/python" -m pip --version | cut -d' ' -f1-2))"
}

wanted_stamp() { # the pyproject.toml hash and the Python version the installed package was built from
  "$venv/bin/python" - "$repo/pyproject.toml" <<'EOF'
import hashlib, platform, sys
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest(), platform.python_version())
EOF
}

install_package() {
  local extras="serve,anthropic,postgres" want have
  if [ "$with_tests" = 1 ]; then extras="serve,anthropic,postgres,test"; fi
  want="$(wanted_stamp)"
  have="$(cat "$stamp" 2>/dev/null || true)"
  # A stamp written with the test extra also satisfies a run without it.
  if [ -x "$venv/bin/manimagent" ] \
      && { [ "$have" = "$want serve,anthropic,postgres,test" ] || [ "$have" = "$want $extras" ]; }; then
    say "package: up to date (pyproject.toml unchanged)"
    return 0
  fi
  say "package: pip install -e '.[$extras]' (first time: a few minutes)"
  rm -f "$stamp"
  pip_quietly install -e ".[$extras]" || die "pip install failed (see the messages above)"
  [ -x "$venv/bin/manimagent" ] || die "pip finished but .venv/bin/manimagent is missing"
  printf '%s %s\n' "$want" "$extras" >"$stamp"
  say "package: installed"
}

# Manim plugins that LLM-written scenes import, rendered like manim itself (inside the sandbox).
# manim-physics 0.4.0 pins manim < 0.19 but works with today's manim (tests/test_plugins.py
# renders its scenes), so it is installed without its pins; its own dependencies (pymunk,
# shapely) come with the package from pyproject.toml.
PLUGINS=("manim-physics==0.4.0")
install_plugins() {
  if "$venv/bin/python" -c 'import manim_physics' >/dev/null 2>&1; then
    say "plugins: up to date (${PLUGINS[*]})"
    return 0
  fi
  say "plugins: pip install --no-deps ${PLUGINS[*]}"
  pip_quietly install --no-deps "${PLUGINS[@]}" || die "could not install the manim plugins (see the messages above)"
}

system_packages
trust_system_certificates
make_venv
install_package
install_plugins
say "ready in $((SECONDS - started)) s. Try: .venv/bin/manimagent generate \"Animate a circle\""
