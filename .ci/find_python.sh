#!/usr/bin/env bash
# Print the path of a Python X.Y interpreter: python X.Y on PATH, else pyenv's newest X.Y.*.
#   .ci/find_python.sh 3.10
# make test-oldest (the oldest Python pyproject.toml declares) and make test-colab (Colab's 3.13)
# use it; without one it exits 1 saying how to get one, or pass PYTHON_OLDEST / COLAB_PYTHON.
set -uo pipefail
want=${1:?usage: find_python.sh X.Y}
candidates=("python$want")
if root=$(pyenv root 2>/dev/null); then
    mapfile -t found < <(ls -d "$root/versions/$want".*/bin/python 2>/dev/null | sort -V -r)
    candidates+=("${found[@]}")
fi
for python in "${candidates[@]}"; do
    # A pyenv shim exists even when its version is not selected: ask the interpreter itself.
    if info=$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2], sys.executable)' 2>/dev/null); then
        read -r version path <<<"$info"
        [ "$version" = "$want" ] && { echo "$path"; exit 0; }
    fi
done
echo "find_python: no Python $want here (tried python$want on PATH and pyenv's versions):" \
     "install it (pyenv install $want, or your system's python$want package)" >&2
exit 1
