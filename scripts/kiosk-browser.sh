#!/usr/bin/env bash
# Starts Chromium in kiosk mode on the Pi's display, pointed at the agent's kiosk page on loopback. Run in the desktop
# session of the auto-login user (XDG autostart: systemd/kiosk/vend-kiosk.desktop, or the user service
# systemd/kiosk/vend-kiosk.service). Waits for the page first, so the customer never sees a browser error page.
set -euo pipefail
# display.kioskHost / display.kioskPort of /etc/vend-agent/agent.yaml (defaults 127.0.0.1:8080).
host="${VEND_KIOSK_HOST:-127.0.0.1}"
port="${VEND_KIOSK_PORT:-8080}"
url="http://${host}:${port}/"
browser=""
for candidate in chromium-browser chromium; do
  if command -v "$candidate" >/dev/null 2>&1; then browser="$candidate"; break; fi
done
if [ -z "$browser" ]; then echo "kiosk-browser: neither chromium-browser nor chromium is installed" >&2; exit 69; fi
# Up to 2 minutes for the agent to serve the page after boot; then start anyway (the page retries by itself).
for _ in $(seq 1 120); do
  if (exec 3<>"/dev/tcp/${host}/${port}") 2>/dev/null; then break; fi
  sleep 1
done
# Hide the mouse pointer when unclutter is installed (X11 sessions only).
if command -v unclutter >/dev/null 2>&1; then unclutter -idle 0.5 -root & fi
exec "$browser" \
  --kiosk --app="$url" \
  --noerrdialogs --disable-infobars --no-first-run --disable-session-crashed-bubble \
  --disable-features=Translate,TranslateUI --disable-pinch --overscroll-history-navigation=0 \
  --check-for-update-interval=31536000 --password-store=basic --incognito
