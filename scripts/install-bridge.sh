#!/usr/bin/env bash
# Installs vend-bridge on the reseller's server, as docs/install-bridge.md describes: the vend-bridge account,
# /etc/vend-bridge (config, tls/, credentials/) and /var/lib/vend-bridge (SQLite store), the systemd unit; then
# daemon-reload and enable. Safe to re-run: existing config, keys and secrets are kept.
#
#   sudo scripts/install-bridge.sh [--dry-run] [--start] [--root DIR]
#
#   --dry-run   print every action, change nothing (no root needed)
#   --start     (re)start the service now; otherwise it starts at the next boot
#   --root DIR  install the files under DIR instead of / (packaging, tests); system-wide commands are only printed
set -euo pipefail

APP_DIR=/opt/seqr-vend
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
START=0
ROOT=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --start) START=1 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-bridge: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=scripts/install-lib.sh
. "$SOURCE_DIR/scripts/install-lib.sh"

require_root_unless_dry_run
require_built_app "$SOURCE_DIR" bridge

step "program files in $APP_DIR"
install_app "$SOURCE_DIR" "$ROOT$APP_DIR"

step "account vend-bridge"
ensure_system_user vend-bridge /var/lib/vend-bridge

step "configuration in /etc/vend-bridge, credentials, store in /var/lib/vend-bridge"
ensure_dir "$ROOT/etc/vend-bridge" root vend-bridge 0750
# The TLS key is read by the service through its group: root:vend-bridge 0640 (docs/install-bridge.md).
ensure_dir "$ROOT/etc/vend-bridge/tls" root vend-bridge 0750
ensure_dir "$ROOT/etc/vend-bridge/credentials" root root 0700
ensure_file_from "$ROOT/etc/vend-bridge/bridge.yaml" "$SOURCE_DIR/config/examples/bridge.yaml" root vend-bridge 0640
ensure_secret_file "$ROOT/etc/vend-bridge/credentials/seqr.password"
ensure_dir "$ROOT/var/lib/vend-bridge" vend-bridge vend-bridge 0750

step "systemd unit"
install_file "$SOURCE_DIR/systemd/vend-bridge.service" "$ROOT/etc/systemd/system/vend-bridge.service" root root 0644

step "the vend-bridge command on PATH"
link_command vend-bridge "$APP_DIR/dist/backend-bridge/main.js"

step "check the configuration (as the service will read it)"
config_check bridge "$ROOT/etc/vend-bridge/bridge.yaml" "$ROOT/etc/vend-bridge/credentials"

step "enable the service"
systemd_enable vend-bridge "$START"
finish_message vend-bridge
