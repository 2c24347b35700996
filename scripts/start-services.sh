#!/usr/bin/env bash
# Starts PostgreSQL (127.0.0.1:5432, trust auth for the tests) and Mosquitto (127.0.0.1:1883, anonymous) when they are
# not running, the way a developer machine or a fresh CI machine needs them.
set -euo pipefail
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  version=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n 1)
  if [ -z "$version" ]; then echo "PostgreSQL is not installed (run scripts/install-system-deps.sh)" >&2; exit 1; fi
  if ! pg_lsclusters -h 2>/dev/null | grep -q " main "; then pg_createcluster "$version" main; fi
  hba="/etc/postgresql/$version/main/pg_hba.conf"
  # The tests connect as postgres over TCP without a password, as on the development machines.
  grep -q "seqr-vend tests" "$hba" || sed -i '1i # seqr-vend tests: trust on loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$version" main start
  for _ in $(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
fi
pg_isready -h 127.0.0.1 -p 5432
psql -h 127.0.0.1 -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='test'" | grep -q 1 ||
  psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE test"

if ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  conf=/etc/mosquitto/mosquitto.conf
  if ! grep -q "^listener 1883" "$conf" 2>/dev/null; then
    conf=$(mktemp --suffix=.conf)
    printf 'listener 1883 127.0.0.1\nallow_anonymous true\n' > "$conf"
  fi
  mosquitto -d -c "$conf"
  for _ in $(seq 1 20); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.5; done
fi
(exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && echo "mosquitto: accepting connections on 127.0.0.1:1883"
