#!/usr/bin/env bash
# ensure-redis.sh: make sure redis-server (and redis-cli) 7.x are on PATH.
#
# Tests and the quickstart start their own private redis-server processes, so
# all they need is the binary. When it is missing and we are root on a Debian
# or Ubuntu machine, install Debian's package (7.0.x on bookworm); otherwise
# stop with an instruction. Set REDIS_SERVER_BIN to use another binary.
set -euo pipefail

want_major=7

have() { command -v "$1" >/dev/null 2>&1; }

bin="${REDIS_SERVER_BIN:-}"
if [ -n "$bin" ]; then
	if [ ! -x "$bin" ]; then
		echo "ensure-redis: REDIS_SERVER_BIN=$bin is not an executable file" >&2
		exit 1
	fi
elif have redis-server && have redis-cli; then
	bin=$(command -v redis-server)
else
	if [ "$(id -u)" = 0 ] && have apt-get; then
		echo "ensure-redis: redis-server is missing; installing Debian's redis-server and redis-tools with apt-get" >&2
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq >/dev/null || apt-get update
		apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null
		# The package starts a system-wide server on port 6379; our tests and
		# quickstart use private servers on free ports, so stop and disable it.
		# Only that one: other redis-server processes on this host (other
		# checkouts' test runs, say) are none of our business.
		if have systemctl; then systemctl disable --now redis-server >/dev/null 2>&1 || true; fi
		if have service; then service redis-server stop >/dev/null 2>&1 || true; fi
		# Without a working init system, the package's server may still run:
		# it is the process named in the package's pid file.
		pidfile=/run/redis/redis-server.pid
		if [ -r "$pidfile" ]; then
			pid=$(tr -dc 0-9 <"$pidfile")
			if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = redis-server ]; then
				kill "$pid" 2>/dev/null || true
			fi
		fi
		bin=$(command -v redis-server)
	else
		cat >&2 <<'MSG'
ensure-redis: redis-server 7.x is not installed, and this script can only
install it as root with apt-get. Install it yourself, then run make again:

    Debian/Ubuntu:  sudo apt-get install redis-server redis-tools
    macOS:          brew install redis
    any:            build from https://redis.io/download and set
                    REDIS_SERVER_BIN=/path/to/redis-server
MSG
		exit 1
	fi
fi

version=$("$bin" --version | sed -n 's/.* v=\([0-9.]*\).*/\1/p')
major=${version%%.*}
if [ -z "$version" ] || [ "$major" -lt "$want_major" ]; then
	echo "ensure-redis: $bin is version '${version:-unknown}'; justredis needs redis-server $want_major.x or newer" >&2
	exit 1
fi
echo "ensure-redis: using $bin (redis $version)" >&2
