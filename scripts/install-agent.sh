#!/usr/bin/env bash
# Installs vend-agent on a Raspberry Pi OS machine, as docs/install-agent.md describes: the vend-agent account and its
# groups, /etc/vend-agent (config, credentials) and /var/lib/vend-agent (journal), the systemd unit, the udev rule, the
# kiosk browser's autostart entry; then daemon-reload and enable. Safe to re-run: existing config and secrets are kept,
# accounts and groups are only created when missing.
#
#   sudo scripts/install-agent.sh [--dry-run] [--example mdb|spiral|gpio] [--serial-device PATH]
#                                 [--kiosk-user USER] [--enable-uart] [--start]
#
#   --dry-run            print every action, change nothing (no root needed)
#   --example NAME       which config/examples/agent-NAME.yaml becomes /etc/vend-agent/agent.yaml when there is none
#   --serial-device PATH the vend adapter (e.g. /dev/serial/by-id/usb-...): adds a /dev/vend-adapter udev symlink
#   --kiosk-user USER    the desktop auto-login user whose session runs Chromium in kiosk mode
#   --enable-uart        enable the Pi's UART for a HAT and free it from the serial console (raspi-config; reboot)
#   --start              (re)start the service now; otherwise it starts at the next boot
#   --root DIR           install the files under DIR instead of / (packaging, tests); accounts are still created
set -euo pipefail

APP_DIR=/opt/seqr-vend
SOURCE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DRY_RUN=0
EXAMPLE=mdb
SERIAL_DEVICE=""
KIOSK_USER=""
ENABLE_UART=0
START=0
ROOT=""

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --example) EXAMPLE="${2:?--example needs a name}"; shift ;;
    --serial-device) SERIAL_DEVICE="${2:?--serial-device needs a path}"; shift ;;
    --kiosk-user) KIOSK_USER="${2:?--kiosk-user needs a user}"; shift ;;
    --enable-uart) ENABLE_UART=1 ;;
    --start) START=1 ;;
    --root) ROOT="${2:?--root needs a directory}"; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install-agent: unknown option $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

# shellcheck source=scripts/install-lib.sh
. "$SOURCE_DIR/scripts/install-lib.sh"

case "$EXAMPLE" in mdb|spiral|gpio) ;; *) die 2 "--example must be mdb, spiral or gpio" ;; esac
require_root_unless_dry_run
require_built_app "$SOURCE_DIR" agent

step "program files in $APP_DIR"
install_app "$SOURCE_DIR" "$ROOT$APP_DIR"

step "account vend-agent and its device groups"
# gpio exists on Raspberry Pi OS (raspberrypi-sys-mods gives it /sys/class/gpio and /dev/gpiochip*); create it
# elsewhere so the unit's SupplementaryGroups= resolves. dialout owns the serial ports, video the framebuffer.
for group in dialout gpio video; do ensure_group "$group"; done
ensure_system_user vend-agent /var/lib/vend-agent
ensure_user_in_groups vend-agent dialout gpio video

step "configuration in /etc/vend-agent, credentials, data in /var/lib/vend-agent"
ensure_dir "$ROOT/etc/vend-agent" root vend-agent 0750
ensure_dir "$ROOT/etc/vend-agent/credentials" root root 0700
ensure_file_from "$ROOT/etc/vend-agent/agent.yaml" "$SOURCE_DIR/config/examples/agent-$EXAMPLE.yaml" root vend-agent 0640
# systemd reads these (LoadCredential=) as root and hands them to the service; empty placeholders keep the unit
# startable and make `config check` name the missing secret instead of systemd failing with status 243/CREDENTIALS.
ensure_secret_file "$ROOT/etc/vend-agent/credentials/mqtt.password"
ensure_secret_file "$ROOT/etc/vend-agent/credentials/commandKey"
ensure_dir "$ROOT/var/lib/vend-agent" vend-agent vend-agent 0750

step "systemd unit"
install_file "$SOURCE_DIR/systemd/vend-agent.service" "$ROOT/etc/systemd/system/vend-agent.service" root root 0644

step "the vend-agent command on PATH"
link_command vend-agent "$APP_DIR/dist/agent/main.js"

step "udev rule (ModemManager ignore, /dev/vend-adapter symlink)"
install_udev_rule "$SOURCE_DIR/systemd/udev/70-vend-agent.rules" "$ROOT/etc/udev/rules.d/70-vend-agent.rules" \
  "$SERIAL_DEVICE"
run_system udevadm control --reload-rules
run_system udevadm trigger --subsystem-match=tty --action=change

if [ "$ENABLE_UART" = 1 ]; then
  step "UART for a HAT: serial port hardware on, login console off (takes effect after a reboot)"
  if command -v raspi-config >/dev/null 2>&1 || [ "$DRY_RUN" = 1 ]; then
    run_system raspi-config nonint do_serial_cons 1
    run_system raspi-config nonint do_serial_hw 0
    note "reboot for the UART change; on Pi 3/4 add dtoverlay=disable-bt to config.txt for the PL011 on GPIO 14/15"
  else
    warn "raspi-config not found: enable the UART by hand (docs/install-agent.md, 'Enabling the UART')"
  fi
fi

if [ -n "$KIOSK_USER" ]; then
  step "kiosk browser in $KIOSK_USER's desktop session"
  home=$(getent passwd "$KIOSK_USER" | cut -d: -f6 || true)
  if [ -z "$home" ]; then
    if [ "$DRY_RUN" = 1 ]; then home="/home/$KIOSK_USER"; else die 1 "no such user: $KIOSK_USER"; fi
  fi
  ensure_dir "$ROOT$home/.config/autostart" "$KIOSK_USER" "$KIOSK_USER" 0755
  install_file "$SOURCE_DIR/systemd/kiosk/vend-kiosk.desktop" "$ROOT$home/.config/autostart/vend-kiosk.desktop" \
    "$KIOSK_USER" "$KIOSK_USER" 0644
fi

step "check the configuration (as the service will read it)"
config_check agent "$ROOT/etc/vend-agent/agent.yaml" "$ROOT/etc/vend-agent/credentials"

step "enable the service"
systemd_enable vend-agent "$START"
finish_message vend-agent
