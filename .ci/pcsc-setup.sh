#!/usr/bin/env bash
# Install and start the PC/SC stack the pcsc:// tests use, on a fresh Debian machine:
#   pcscd            the PC/SC daemon
#   vsmartcard-vpcd  its virtual reader driver ("Virtual PCD 00 00" / "00 01"), which waits
#                    on 127.0.0.1:35963 / 35964 for a virtual card (drivers/vicc.py) to connect
#   pyscard          built from source here: needs swig, libpcsclite-dev and a C compiler
# Idempotent: installs only what is missing, starts pcscd only when it is not running, then
# waits (bounded) until pcscd lists the virtual reader. Environment: PYTHON (default python3),
# PCSC_WAIT_S (default 20). Needs root (or sudo) for apt-get and for starting pcscd.
set -euo pipefail

PYTHON=${PYTHON:-python3}
WAIT_S=${PCSC_WAIT_S:-20}
READER="Virtual PCD 00 00"
started=$SECONDS

if [ "$(id -u)" -eq 0 ]; then
  as_root() { "$@"; }
elif command -v sudo >/dev/null 2>&1; then
  as_root() { sudo "$@"; }
else
  echo "pcsc-setup: needs root or sudo (apt-get, pcscd)" >&2
  exit 1
fi

# ---------------------------------------------------------------- Debian packages
packages=(pcscd vsmartcard-vpcd swig libpcsclite-dev gcc)
# pyscard's C extension needs Python.h; Debian's own interpreter gets it from python3-dev
# (pyenv/uv interpreters ship their headers).
include_dir=$("$PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')
if [ ! -f "$include_dir/Python.h" ]; then
  packages+=(python3-dev)
fi
missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "== pcsc-setup: apt-get install ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
else
  echo "== pcsc-setup: Debian packages already installed"
fi

# ---------------------------------------------------------------- pyscard
if "$PYTHON" -c 'import smartcard.scard' 2>/dev/null; then
  echo "== pcsc-setup: pyscard already installed"
else
  echo "== pcsc-setup: pip install pyscard (builds from source)"
  "$PYTHON" -m pip install --quiet --disable-pip-version-check 'pyscard>=2.0'
fi

# ---------------------------------------------------------------- pcscd
# Prints the reader list pcscd reports, or "no-service" when pcscd does not answer.
list_readers() {
  "$PYTHON" - <<'EOF'
from smartcard import scard
result, context = scard.SCardEstablishContext(scard.SCARD_SCOPE_USER)
if result != scard.SCARD_S_SUCCESS:
    print("no-service")
else:
    result, readers = scard.SCardListReaders(context, [])
    print("\n".join(readers) if result == scard.SCARD_S_SUCCESS else "")
    scard.SCardReleaseContext(context)
EOF
}

start_pcscd() {
  if [ -d /run/systemd/system ]; then
    # Debian starts pcscd on demand through its socket unit.
    as_root systemctl start pcscd.socket
  else
    # No systemd (containers, CI runners): run the daemon itself. Without --auto-exit, so it
    # stays up for the whole test run; it daemonizes and logs to syslog.
    as_root pcscd
  fi
}

readers=$(list_readers)
if [ "$readers" = "no-service" ]; then
  echo "== pcsc-setup: starting pcscd"
  start_pcscd
elif ! grep -qx "$READER" <<<"$readers"; then
  # pcscd reads /etc/reader.conf.d only when it starts: one that was running before
  # vsmartcard-vpcd was installed must be restarted to see the virtual reader.
  echo "== pcsc-setup: restarting pcscd to load the vpcd reader driver"
  if [ -d /run/systemd/system ]; then
    as_root systemctl restart pcscd.socket pcscd.service
  else
    pid=$(tr -d '\0\n' </run/pcscd/pcscd.pid 2>/dev/null || true)
    if [ -n "$pid" ]; then
      as_root kill "$pid"
      deadline=$((SECONDS + WAIT_S))
      while as_root kill -0 "$pid" 2>/dev/null; do
        if [ $SECONDS -ge $deadline ]; then
          echo "pcsc-setup: pcscd (pid $pid) did not exit within ${WAIT_S}s" >&2
          exit 1
        fi
        sleep 0.1
      done
    fi
    start_pcscd
  fi
else
  echo "== pcsc-setup: pcscd is running"
fi

deadline=$((SECONDS + WAIT_S))
until grep -qx "$READER" <<<"$(list_readers)"; do
  if [ $SECONDS -ge $deadline ]; then
    echo "pcsc-setup: pcscd does not list '$READER' after ${WAIT_S}s; readers: $(list_readers)" >&2
    echo "pcsc-setup: check /etc/reader.conf.d/vpcd and pcscd's log (pcscd -f -d)" >&2
    exit 1
  fi
  sleep 0.2
done
echo "== pcsc-setup: ready: '$READER' is listed ($((SECONDS - started))s)"
