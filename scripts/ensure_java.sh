#!/usr/bin/env bash
# Hail needs a Java runtime >= 11. Install a headless JRE through apt when possible.
set -euo pipefail
java_major() {
  java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print (v[1] == "1" ? v[2] : v[1]); exit}'
}
if command -v java >/dev/null 2>&1; then
  major=$(java_major || echo 0)
  if [[ ${major:-0} -ge 11 ]]; then
    exit 0
  fi
  echo "Java ${major} found; Hail needs Java >= 11." >&2
fi
if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  echo "Installing a headless Java runtime with apt-get ..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  pkg=$(apt-cache search --names-only '^openjdk-(11|17|21)-jre-headless$' | awk '{print $1}' | sort -V | head -1)
  apt-get install -y -qq "${pkg:-default-jre-headless}" >/dev/null
  exit 0
fi
cat >&2 <<'MSG'
Hail needs a Java runtime >= 11 and none was found (and apt-get as root is not available).
Install one, e.g. `sudo apt-get install openjdk-17-jre-headless` (Debian/Ubuntu),
`brew install openjdk@11` (macOS), then run make again.
MSG
exit 1
