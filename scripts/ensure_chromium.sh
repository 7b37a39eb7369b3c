#!/usr/bin/env bash
# Headless Chromium for the report's browser test (tests/test_report.py renders report.html).
# Best effort, never fatal: without it that one test skips, naming the reason.
for b in chromium chromium-browser google-chrome google-chrome-stable; do
  if command -v "$b" >/dev/null 2>&1; then exit 0; fi
done
if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq chromium >/dev/null 2>&1 \
     || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq chromium >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "chromium not installed (apt-get as root unavailable or failed); the report's browser test will skip" >&2
exit 0
