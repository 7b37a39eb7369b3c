#!/usr/bin/env bash
# Native BLAS/LAPACK (OpenBLAS) for Hail's JVM, unpacked into the virtual environment.
#
# Hail's linear algebra (breeze through netlib-java, and Hail's own ndarrays through JNA) looks
# for libblas.so.3 / liblapack.so.3 on the library path; without them it runs pure-Java BLAS and
# the GWAS association is about 3x slower. bma_genetics._hail.init_hail puts DEST/lib on the
# JVM's LD_LIBRARY_PATH. netlib-java's JNI stub was linked against libgfortran.so.3 (gone from
# current distributions) for XERBLA's messages only, so a small compatibility library is built
# from scripts/native/gfortran3_shim.c when a C compiler is present.
#
# Best effort and never fatal: with no apt-get, Hail keeps its Java fallback.
set -uo pipefail
dest=${1:-.venv/native}
lib=$dest/lib
[[ -e $lib/.done ]] && exit 0
here=$(cd "$(dirname "$0")" && pwd)
command -v apt-get >/dev/null 2>&1 || { echo "ensure_blas: apt-get not found; Hail will use Java BLAS" >&2; exit 0; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkgs=(libopenblas0-pthread libgfortran5 libquadmath0)
if ! (cd "$work" && apt-get download -q "${pkgs[@]}" >/dev/null 2>&1); then
  apt-get update -qq >/dev/null 2>&1 || true
  (cd "$work" && apt-get download -q "${pkgs[@]}" >/dev/null 2>&1) || {
    echo "ensure_blas: apt-get download ${pkgs[*]} failed; Hail will use Java BLAS" >&2; exit 0; }
fi
mkdir -p "$lib"
for deb in "$work"/*.deb; do dpkg -x "$deb" "$work/root"; done
ob=$(find "$work/root" -type d -name 'openblas-pthread' | head -1)
[[ -n $ob ]] || { echo "ensure_blas: OpenBLAS not found in the packages" >&2; exit 0; }
cp -a "$ob"/lib*.so* "$lib"/
find "$work/root" \( -name 'libgfortran.so.5*' -o -name 'libquadmath.so.0*' \) -exec cp -a {} "$lib"/ \;
ln -sf libblas.so.3 "$lib/libblas.so"
ln -sf liblapack.so.3 "$lib/liblapack.so"
if command -v cc >/dev/null 2>&1; then
  cc -shared -fPIC -O2 -o "$lib/libgfortran.so.3" -Wl,-soname,libgfortran.so.3 \
     -Wl,--version-script="$here/native/gfortran3_shim.map" "$here/native/gfortran3_shim.c" \
    || echo "ensure_blas: could not build the libgfortran.so.3 shim; breeze keeps Java BLAS" >&2
else
  echo "ensure_blas: no C compiler; Hail's ndarrays get OpenBLAS, breeze keeps Java BLAS" >&2
fi
touch "$lib/.done"
echo "ensure_blas: OpenBLAS for Hail in $lib"
