#!/bin/sh
# Install the browser that tools/check_book.py renders the book with: Debian's chromium package.
# Does nothing when a Chromium is already there ($CHROMIUM, or chromium / google-chrome on PATH).
# Installs with apt-get as root, or through sudo; otherwise says what to run.  (`make browser`)
set -eu

if [ -n "${CHROMIUM:-}" ] && command -v "$CHROMIUM" >/dev/null 2>&1; then
  echo "browser: $CHROMIUM (from \$CHROMIUM)"
  exit 0
fi
for name in chromium chromium-browser google-chrome google-chrome-stable chrome; do
  if command -v "$name" >/dev/null 2>&1; then
    echo "browser: $(command -v "$name")"
    exit 0
  fi
done

if ! command -v apt-get >/dev/null 2>&1; then
  echo "browser: Chromium is missing and this system has no apt-get: install Chromium (or Google Chrome)" \
       "with its package manager, or set CHROMIUM=/path/to/chromium" >&2
  exit 1
fi
if [ "$(id -u)" -eq 0 ]; then
  SUDO=""
elif command -v sudo >/dev/null 2>&1; then
  SUDO="sudo"
else
  echo "browser: Chromium is missing; install it as root with:" >&2
  echo "    apt-get update && apt-get install -y --no-install-recommends chromium" >&2
  exit 1
fi

echo "browser: installing Debian's chromium with apt-get${SUDO:+ (through sudo)}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
command -v chromium >/dev/null 2>&1 || {
  echo "browser: apt-get finished but no chromium on PATH; install it by hand: sudo apt-get install chromium" >&2
  exit 1
}
echo "browser: $(command -v chromium)"
