#!/usr/bin/env bash
# Run the whole test suite (slow, docker and server tests included) with a timing summary.
# Usage: scripts/test.sh [PYTEST ARGS...]      e.g. scripts/test.sh -k render -x
#
# Starts dockerd in the background when no engine answers, dockerd is installed and this runs as
# root (stopped again at the end), and builds the base image the docker tests build on. When no
# engine can be reached the docker tests skip, and a line here says so; in CI (CI=true) they fail
# instead, unless MANIMAGENT_SKIP_DOCKER=1 says to skip them on purpose. The PostgreSQL tests start
# their own throwaway cluster (tests/postgres_cluster.py) with the server programs that
# scripts/setup.sh --test installs; without them they skip, or fail in CI (MANIMAGENT_SKIP_POSTGRES=1
# skips them on purpose).
# Before pytest, the static checks: `ruff check`, `ruff format --check` (src tests bench scripts)
# and `mypy` (its files and strictness are in pyproject.toml). pytest runs either way; a finding
# makes the script exit 1 at the end, with a line saying what to run to fix it.
# Run scripts/setup.sh --test first.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
started=$SECONDS
timings=()
dockerd_pid=""

say() { printf 'test: %s\n' "$*" >&2; }
in_ci() { case "${CI:-}" in true|1|yes) return 0 ;; *) return 1 ;; esac; }
docker_tests_will() { # what the docker tests do without an engine
  if [ "${MANIMAGENT_SKIP_DOCKER:-}" = 1 ]; then echo "SKIP (MANIMAGENT_SKIP_DOCKER=1)"
  elif in_ci; then echo "FAIL (CI=true; set MANIMAGENT_SKIP_DOCKER=1 to skip them on purpose)"
  else echo "SKIP"; fi
}
timed() { timings+=("$(printf '%-22s %5d s' "$1" "$2")"); }

stop_dockerd() {
  [ -n "$dockerd_pid" ] || return 0
  kill "$dockerd_pid" 2>/dev/null || true
  for _ in $(seq 1 20); do kill -0 "$dockerd_pid" 2>/dev/null || return 0; sleep 1; done
}
trap stop_dockerd EXIT

wait_for_docker() {
  local deadline=$((SECONDS + $1))
  while [ $SECONDS -lt $deadline ]; do
    docker info >/dev/null 2>&1 && return 0
    [ -z "$dockerd_pid" ] || kill -0 "$dockerd_pid" 2>/dev/null || return 1
    sleep 1
  done
  return 1
}

start_docker() { # 0 when a Docker engine answers (a client alone is not enough)
  local log="${TMPDIR:-/tmp}/manimagent-dockerd.log"
  if ! command -v docker >/dev/null 2>&1; then
    say "docker: no docker client -> docker tests will $(docker_tests_will) (scripts/setup.sh --test installs docker.io)"
    return 1
  fi
  docker info >/dev/null 2>&1 && { say "docker: engine reachable"; return 0; }
  if ! command -v dockerd >/dev/null 2>&1; then
    say "docker: a docker client but no engine here (no dockerd; scripts/setup.sh --test installs docker.io)"
    say "docker: docker tests will $(docker_tests_will)"
    return 1
  fi
  if [ "$(id -u)" != 0 ]; then
    say "docker: engine not reachable (start Docker, e.g. sudo systemctl start docker)"
    say "docker: docker tests will $(docker_tests_will)"
    return 1
  fi
  say "docker: starting dockerd in the background (log: $log)"
  nohup dockerd >"$log" 2>&1 </dev/null &
  dockerd_pid=$!
  if wait_for_docker 60; then
    say "docker: engine up"
    return 0
  fi
  say "docker: dockerd could not start (or not within 60 s) -> docker tests will $(docker_tests_will); its last log lines:"
  tail -n 5 "$log" >&2 || true
  stop_dockerd
  dockerd_pid=""
  return 1
}

base_image() {
  local runner=()
  [ "$(id -u)" = 0 ] || runner=(sudo)   # debootstrap needs root
  if ${runner[@]+"${runner[@]}"} scripts/docker-base-image.sh >&2; then
    return 0
  fi
  say "docker: building the base image failed -> docker tests will $(docker_tests_will)"
}

postgres_tests_will() {
  if [ "${MANIMAGENT_SKIP_POSTGRES:-}" = 1 ]; then echo "SKIP (MANIMAGENT_SKIP_POSTGRES=1)"
  elif in_ci; then echo "FAIL (CI=true; set MANIMAGENT_SKIP_POSTGRES=1 to skip them on purpose)"
  else echo "SKIP"; fi
}

check_postgres() { # the server programs the PostgreSQL tests run (initdb and pg_ctl into a temp dir)
  local bindir=""
  if command -v pg_config >/dev/null 2>&1 && [ -x "$(pg_config --bindir)/initdb" ]; then
    bindir="$(pg_config --bindir)"
  else
    bindir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)"
  fi
  if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ] || [ ! -x "$bindir/pg_ctl" ]; then
    say "postgres: no initdb/pg_ctl (scripts/setup.sh --test installs postgresql) -> PostgreSQL tests will $(postgres_tests_will)"
    return 0
  fi
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    say "postgres: running as root without a postgres user to start the server as -> PostgreSQL tests will $(postgres_tests_will)"
    return 0
  fi
  if ! .venv/bin/python -c 'import psycopg' >/dev/null 2>&1; then
    say "postgres: psycopg is not installed in .venv (pip install -e '.[postgres]') -> PostgreSQL tests will $(postgres_tests_will)"
    return 0
  fi
  say "postgres: server programs in $bindir; the tests start a throwaway cluster on loopback"
}

LINTED=(src tests bench scripts)
static_failed=()   # the static checks that found something, with the command that fixes it

static_check() { # NAME FIX COMMAND...: run COMMAND; on findings remember NAME and FIX
  local name=$1 fix=$2
  shift 2
  if [ ! -x "$1" ]; then
    say "static: $name: $1 is missing (scripts/setup.sh --test installs the test extra)"
    static_failed+=("$name: ./scripts/setup.sh --test")
    return 0
  fi
  "$@" >&2 || static_failed+=("$name: $fix")
}

static_checks() { # ruff lint, ruff format and mypy, in the order that fixes them fastest
  say "static: ruff check, ruff format --check (${LINTED[*]}) and mypy"
  local t=$SECONDS
  static_check "ruff check" ".venv/bin/ruff check --fix ${LINTED[*]} (the rest by hand)" \
    .venv/bin/ruff check --quiet --output-format concise "${LINTED[@]}"
  static_check "ruff format" ".venv/bin/ruff format ${LINTED[*]}" \
    .venv/bin/ruff format --check --quiet "${LINTED[@]}"
  timed "ruff" $((SECONDS - t))
  t=$SECONDS
  static_check "mypy" ".venv/bin/mypy, then fix what it reports" .venv/bin/mypy
  timed "mypy" $((SECONDS - t))
}

static_summary() { # one line: which checks found something and what to run
  [ ${#static_failed[@]} -gt 0 ] || return 0
  local names="" fixes="" entry
  for entry in "${static_failed[@]}"; do
    names+="${names:+, }${entry%%: *}"
    fixes+="${fixes:+; }${entry#*: }"
  done
  say "static checks failed ($names): run $fixes"
}

[ -x .venv/bin/python ] || { say "no .venv: run ./scripts/setup.sh --test first"; exit 3; }
static_checks
static_summary
check_postgres

t=$SECONDS
if [ "${MANIMAGENT_SKIP_DOCKER:-}" = 1 ]; then
  say "docker: MANIMAGENT_SKIP_DOCKER=1 -> docker tests skip on purpose"
  timed "docker engine" 0
elif start_docker; then
  timed "docker engine" $((SECONDS - t))
  t=$SECONDS
  base_image
  timed "docker base image" $((SECONDS - t))
else
  timed "docker engine" $((SECONDS - t))
fi

t=$SECONDS
say "pytest: all tests, slow/docker/server included"
rc=0
.venv/bin/python -m pytest -m "" -q --durations=15 "$@" || rc=$?
timed "pytest" $((SECONDS - t))
timed "total" $((SECONDS - started))

say "timings:"
for line in "${timings[@]}"; do say "  $line"; done
static_summary
if [ "$rc" = 5 ]; then
  say "pytest collected no tests: that is a failure here (is tests/ empty, or -k too narrow?)"
  exit 1
fi
if [ "$rc" != 0 ]; then say "pytest exited $rc"
elif [ ${#static_failed[@]} -gt 0 ]; then say "all tests passed, but not the static checks (the line above says what to run)"; rc=1
else say "all tests passed"; fi
exit "$rc"
