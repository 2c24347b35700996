#!/usr/bin/env bash
# Debian packages the test suites and the demo use. Installs only what is missing; needs root (apt-get).
#   socat              pseudo-terminal pairs for the real serialport binding
#   mosquitto(-clients) a real broker next to the embedded aedes, and third-party clients for the ACL tests
#   zbar-tools         zbarimg, a real QR decoder
#   chromium           the kiosk page and the demo in a real browser (driven by playwright-core)
#   postgresql         the PostgreSQL store
#   systemd            systemd-analyze verify for the unit files
#   openssl            throwaway CA and certificates for the TLS tests (MQTT and HTTPS)
#   iproute2           ss, which shows the embedded broker's accept queue
#   strace             bench/purchase-cost.ts counts the bridge's fsync calls with it
set -euo pipefail
declare -A probe=(
  [socat]=socat [mosquitto]=mosquitto [mosquitto-clients]=mosquitto_pub [zbar-tools]=zbarimg
  [chromium]=chromium [postgresql]=pg_ctlcluster [systemd]=systemd-analyze [openssl]=openssl [iproute2]=ss [strace]=strace
)
missing=()
for package in "${!probe[@]}"; do
  command -v "${probe[$package]}" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; else SUDO=; fi
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
