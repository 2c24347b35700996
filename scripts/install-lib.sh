# Shared steps of scripts/install-agent.sh and scripts/install-bridge.sh (sourced, not run).
# Every change goes through `run` (files) or `run_system` (accounts, udev, systemd): both print the command first, and
# --dry-run stops there. Checks that only read (getent, id, test -e) always run, so a dry run prints exactly what a
# real run on this machine would do. With --root DIR, files go under DIR and system-wide commands are only printed.

step() { printf '\n== %s\n' "$*"; }
note() { printf '   %s\n' "$*"; }
warn() { printf 'WARNING: %s\n' "$*" >&2; }
die() {
  local code=$1
  shift
  printf 'install: %s\n' "$*" >&2
  exit "$code"
}

quote() { printf '%q ' "$@" | sed 's/ $//'; }

run() {
  printf '+ %s\n' "$(quote "$@")"
  [ "${DRY_RUN:-0}" = 1 ] || "$@"
}

run_system() {
  if [ -n "${ROOT:-}" ]; then
    printf '+ %s   (skipped: --root)\n' "$(quote "$@")"
    return 0
  fi
  run "$@"
}

require_root_unless_dry_run() {
  if [ "${DRY_RUN:-0}" = 1 ]; then
    note "dry run: nothing is changed"
  elif [ -z "${ROOT:-}" ] && [ "$(id -u)" -ne 0 ]; then
    die 1 "run as root (sudo), or with --dry-run to see the actions"
  fi
}

# The compiled program must exist: units start dist/<part>/main.js with node, never TypeScript or npm.
require_built_app() {
  local source=$1 part=$2 main
  case "$part" in agent) main=dist/agent/main.js ;; bridge) main=dist/backend-bridge/main.js ;; esac
  if [ ! -f "$source/$main" ]; then
    if [ "${DRY_RUN:-0}" = 1 ]; then
      warn "$source/$main is missing: build first (npm ci && npm run build)"
    else
      die 1 "$source/$main is missing: build first (npm ci && npm run build && npm prune --omit=dev)"
    fi
  fi
}

# Copies the program to /opt/seqr-vend unless the checkout already is /opt/seqr-vend.
install_app() {
  local source=$1 target=$2 item
  if [ "$(realpath -m "$source")" = "$(realpath -m "$target")" ]; then
    note "running from $target: program files already in place"
    return 0
  fi
  run mkdir -p "$target"
  for item in dist node_modules package.json config docs systemd scripts; do
    [ -e "$source/$item" ] || continue
    run rm -rf "$target/$item.new"
    run cp -a "$source/$item" "$target/$item.new"
    # Swap in one rename per item, so a running service never sees a half-copied tree.
    run rm -rf "$target/$item"
    run mv "$target/$item.new" "$target/$item"
  done
  run_system chown -R root:root "$target"
}

ensure_group() {
  local group=$1
  if getent group "$group" >/dev/null; then
    note "group $group exists"
  else
    run_system groupadd --system "$group"
  fi
}

ensure_system_user() {
  local user=$1 home=$2
  if getent passwd "$user" >/dev/null; then
    note "user $user exists"
  else
    run_system useradd --system --user-group --home-dir "$home" --no-create-home --shell /usr/sbin/nologin \
      --comment "$user service account" "$user"
  fi
}

ensure_user_in_groups() {
  local user=$1 group missing=()
  shift
  for group in "$@"; do
    if id -nG "$user" 2>/dev/null | tr ' ' '\n' | grep -qx "$group"; then
      note "$user is in $group"
    else
      missing+=("$group")
    fi
  done
  if [ ${#missing[@]} -gt 0 ]; then
    run_system usermod --append --groups "$(IFS=,; echo "${missing[*]}")" "$user"
  fi
}

# Directory with owner and mode; re-applied on every run so a wrong manual chmod is repaired.
ensure_dir() {
  local dir=$1 owner=$2 group=$3 mode=$4
  [ -d "$dir" ] || run mkdir -p "$dir"
  run chmod "$mode" "$dir"
  run_system chown "$owner:$group" "$dir"
}

# A file copied from a template only when it does not exist yet: a re-run never overwrites the operator's config.
ensure_file_from() {
  local file=$1 template=$2 owner=$3 group=$4 mode=$5
  if [ -e "$file" ]; then
    note "$file exists: kept"
  else
    run cp "$template" "$file"
    note "edit $file for this installation (docs/install-agent.md or docs/install-bridge.md)"
  fi
  run chmod "$mode" "$file"
  run_system chown "$owner:$group" "$file"
}

# A credential file: root-only, created empty when missing, never overwritten.
ensure_secret_file() {
  local file=$1
  if [ -e "$file" ]; then
    note "$file exists: kept"
  else
    run install -m 0600 /dev/null "$file"
    note "write the secret into $file (no trailing text; one final newline is ignored)"
  fi
  run chmod 0600 "$file"
  run_system chown root:root "$file"
}

# Files we own (units, rules, autostart entries) are replaced on every run: they come with the release.
install_file() {
  local source=$1 target=$2 owner=$3 group=$4 mode=$5
  run mkdir -p "$(dirname "$target")"
  run cp "$source" "$target"
  run chmod "$mode" "$target"
  run_system chown "$owner:$group" "$target"
}

# The udev rule, with the adapter's own USB ids filled in when a device is named.
install_udev_rule() {
  local template=$1 target=$2 device=$3 rule="# (no adapter named: run install-agent.sh --serial-device PATH to add one)"
  if [ -n "$device" ]; then
    if [ -e "$device" ] && command -v udevadm >/dev/null 2>&1; then
      local props vendor model serial
      props=$(udevadm info --query=property --name="$device")
      vendor=$(printf '%s\n' "$props" | sed -n 's/^ID_VENDOR_ID=//p')
      model=$(printf '%s\n' "$props" | sed -n 's/^ID_MODEL_ID=//p')
      serial=$(printf '%s\n' "$props" | sed -n 's/^ID_SERIAL_SHORT=//p')
      [ -n "$vendor" ] && [ -n "$model" ] || die 1 "$device has no USB vendor/model id (is it a USB adapter?)"
      rule="SUBSYSTEM==\"tty\", ENV{ID_VENDOR_ID}==\"$vendor\", ENV{ID_MODEL_ID}==\"$model\""
      [ -n "$serial" ] && rule="$rule, ENV{ID_SERIAL_SHORT}==\"$serial\""
      rule="$rule, SYMLINK+=\"vend-adapter\", GROUP=\"dialout\", MODE=\"0660\", ENV{ID_MM_DEVICE_IGNORE}=\"1\""
    elif [ "${DRY_RUN:-0}" = 1 ]; then
      rule="# (dry run: the rule for $device is built from its udev properties on the real run)"
    else
      die 1 "$device does not exist (plug the adapter in, or leave out --serial-device)"
    fi
  fi
  run mkdir -p "$(dirname "$target")"
  printf '+ write %s (adapter line: %s)\n' "$target" "$rule"
  if [ "${DRY_RUN:-0}" != 1 ]; then
    local content
    content=$(cat "$template")
    printf '%s\n' "${content//#@ADAPTER_RULE@/$rule}" >"$target"
    chmod 0644 "$target"
  fi
}

# `config check` with the same file and secrets the unit will use; a failure is reported, not fatal, because a fresh
# install has placeholder secrets until the operator fills them in.
config_check() {
  local part=$1 file=$2 secrets=$3 main
  case "$part" in agent) main=dist/agent/main.js ;; bridge) main=dist/backend-bridge/main.js ;; esac
  if [ "${DRY_RUN:-0}" = 1 ]; then
    printf '+ %s\n' "$(quote node "$APP_DIR/$main" config check --config "$file" --secrets-dir "$secrets")"
    return 0
  fi
  if node "$ROOT$APP_DIR/$main" config check --config "$file" --secrets-dir "$secrets"; then
    note "configuration is valid"
  else
    warn "the configuration is not valid yet: fix it, then: sudo systemctl restart vend-$part" \
      "(the service exits 78 and systemd does not loop on it)"
  fi
}

systemd_enable() {
  local unit=$1 start=$2
  if [ -n "${ROOT:-}" ]; then
    run systemctl --root="$ROOT" enable "$unit.service"
    return 0
  fi
  run_system systemctl daemon-reload
  run_system systemctl enable "$unit.service"
  if [ "$start" = 1 ]; then
    run_system systemctl restart "$unit.service"
  else
    note "not started now (use --start, or: sudo systemctl start $unit)"
  fi
}

finish_message() {
  local unit=$1
  step "done"
  note "status:  systemctl status $unit"
  note "logs:    journalctl -u $unit -f        (warnings and worse: journalctl -u $unit -p warning)"
}

# The program's command on PATH (/usr/local/bin), linked to the installed entry point: `npm run build` makes it
# executable with a `#!/usr/bin/env node` line, so `vend-agent doctor` works as the README shows.
link_command() {
  local name=$1 target=$2
  run mkdir -p "$ROOT/usr/local/bin"
  run ln -sfn "$target" "$ROOT/usr/local/bin/$name"
}
