#!/usr/bin/env bash
# R with survival and susieR: the oracles of the survival and fine-mapping tests (R survival::coxph /
# survfit, susieR::susie_rss), run side by side with ours. Best effort, never fatal: without R
# those tests skip, naming the reason.
if command -v Rscript >/dev/null 2>&1 \
   && Rscript -e 'suppressMessages({library(survival); library(susieR)})' >/dev/null 2>&1; then
  exit 0
fi
pkgs=(r-base-core r-cran-survival r-cran-susier)
if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) -eq 0 ]]; then
  export DEBIAN_FRONTEND=noninteractive
  if apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1 \
     || { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${pkgs[@]}" >/dev/null 2>&1; }; then
    exit 0
  fi
fi
echo "R (${pkgs[*]}) not installed (apt-get as root unavailable or failed); the R oracle tests will skip" >&2
exit 0
