#!/usr/bin/env bash
# Installs the real parts the test suite drives, from Debian's packages, when they are missing:
#   chromium    -> /usr/bin/chromium          (browser tests via playwright-core; never a downloaded build)
#   mosquitto   -> /usr/sbin/mosquitto        (MQTT push channel tests)
#   postgresql  -> /usr/lib/postgresql/*/bin  (PostgreSQL store tests)
#   prometheus  -> /usr/bin/prometheus        (a real scrape of the metrics listener)
#   systemd     -> /usr/bin/systemd-analyze    (`verify` of the packaged units; nothing is started)
#   qemu-user-static, libc6-arm64-cross, libstdc++6-arm64-cross, libatomic1-arm64-cross (Node 26 for arm64 links libatomic)
#               -> /usr/bin/qemu-aarch64-static and /usr/aarch64-linux-gnu (the arm64 device
#                  executable runs under user-mode emulation; the release Node is dynamically
#                  linked, so it needs arm64 glibc and libstdc++, which the cross packages put
#                  under one prefix for `qemu-aarch64-static -L` without adding a dpkg architecture)
# The package test's dpkg, dpkg-deb, unshare, nsenter, chroot and setpriv are in Debian's essential
# packages (dpkg, util-linux, coreutils), and zstd compression is dpkg-deb's own.
# Idempotent and quiet (one line) when all are present. The machine is not kept between sessions,
# so `npm test` runs this every time; `apt-get update` only runs when something must be installed.
# Tests start their own brokers/servers on random loopback ports, so the system services that the
# packages ship must not start (and hold 1883/5432).
set -euo pipefail

missing=()
[ -x "${DEVICEGATE_CHROMIUM:-/usr/bin/chromium}" ] || missing+=(chromium)
[ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql)
[ -x "${DEVICEGATE_PROMETHEUS:-/usr/bin/prometheus}" ] || missing+=(prometheus)
[ -x /usr/bin/systemd-analyze ] || missing+=(systemd)
[ -x /usr/bin/qemu-aarch64-static ] || missing+=(qemu-user-static)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || missing+=(libc6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || missing+=(libstdc++6-arm64-cross)
[ -e /usr/aarch64-linux-gnu/lib/libatomic.so.1 ] || missing+=(libatomic1-arm64-cross)

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-test-deps: chromium, mosquitto, postgresql, prometheus, systemd-analyze, qemu-user-static with arm64 libraries present"
  exit 0
fi

echo "install-test-deps: installing ${missing[*]} from Debian's packages"

if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo -n)
else
  echo "install-test-deps: need root (or sudo) to install: ${missing[*]}" >&2
  exit 1
fi

# policy-rc.d answering 101 tells invoke-rc.d (and deb-systemd-invoke) not to start services during
# the install. Only add one if none is there, and only remove the one we added.
policy=/usr/sbin/policy-rc.d
added_policy=false
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
  "${sudo[@]}" chmod 755 "$policy"
  added_policy=true
fi
cleanup() {
  if [ "$added_policy" = true ]; then "${sudo[@]}" rm -f "$policy"; fi
}
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
# The lock timeout waits out an apt run that is already going (e.g. an unattended upgrade)
# instead of failing at once.
apt_get=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 -q -y)
"${apt_get[@]}" update >/dev/null
# Without recommends the install is far smaller; fonts-liberation is the one recommend that matters
# (chromium-common only recommends it), so pages render with real metric-compatible fonts.
packages=("${missing[@]}")
[[ " ${missing[*]} " == *" chromium "* ]] && packages+=(fonts-liberation)
"${apt_get[@]}" install --no-install-recommends "${packages[@]}" </dev/null

# Belt and braces: where a service did start anyway (no policy-rc.d support), stop it and keep it
# from starting at boot, so it never holds the broker/database ports our tests might pick.
for service in mosquitto postgresql prometheus; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    "${sudo[@]}" systemctl disable --now "$service" >/dev/null 2>&1 || true
  elif command -v service >/dev/null 2>&1; then
    "${sudo[@]}" service "$service" stop >/dev/null 2>&1 || true
  fi
done

# Fail here, not in the middle of a test run, when an install did not give what we need.
[ -x "${DEVICEGATE_CHROMIUM:-/usr/bin/chromium}" ] || { echo "install-test-deps: chromium still missing" >&2; exit 1; }
[ -x /usr/sbin/mosquitto ] || { echo "install-test-deps: mosquitto still missing" >&2; exit 1; }
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || { echo "install-test-deps: postgresql still missing" >&2; exit 1; }
[ -x "${DEVICEGATE_PROMETHEUS:-/usr/bin/prometheus}" ] || { echo "install-test-deps: prometheus still missing" >&2; exit 1; }
[ -x /usr/bin/systemd-analyze ] || { echo "install-test-deps: systemd-analyze still missing" >&2; exit 1; }
[ -x /usr/bin/qemu-aarch64-static ] || { echo "install-test-deps: qemu-aarch64-static still missing" >&2; exit 1; }
[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || { echo "install-test-deps: arm64 libraries still missing" >&2; exit 1; }
echo "install-test-deps: installed ${missing[*]}"
