#!/usr/bin/env bash
# Creates (or refreshes) the virtual environment of the Python example backend
# and prints its path.
#
#   bash examples/python/venv.sh            # -> <repo>/target/python-venv
#   TABHUB_PY_VENV=/tmp/venv bash examples/python/venv.sh
#
# Idempotent: pip runs only when requirements.txt or the Python package's
# pyproject.toml changed since the last successful install (a stamp file in
# the venv holds their sha256). The package (clients/python) is installed
# editable: a change to its source needs no new install.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$here/../.." && pwd)"
venv="${TABHUB_PY_VENV:-$repo_root/target/python-venv}"
requirements="$here/requirements.txt"
package="$repo_root/clients/python/pyproject.toml"
stamp="$venv/.tabhub-requirements.sha256"

if [ ! -x "$venv/bin/python" ]; then
    mkdir -p "$(dirname "$venv")"
    # Debian's python3 lacks ensurepip unless python3-venv is installed: then
    # make the venv without pip and drive it with the system's pip below.
    if ! python3 -m venv "$venv" >/dev/null 2>&1; then
        rm -rf "$venv"
        python3 -m venv --without-pip "$venv"
    fi
fi

if "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
    pip=("$venv/bin/python" -m pip)
else
    # pip >= 22.3 can install into another interpreter's environment.
    pip=(python3 -m pip --python "$venv/bin/python")
fi

want="$(cat "$requirements" "$package" | sha256sum | cut -d' ' -f1)"
have="$(cat "$stamp" 2>/dev/null || true)"
if [ "$want" != "$have" ]; then
    # From this folder: requirements.txt names the package by a relative path.
    (cd "$here" && "${pip[@]}" install --quiet --disable-pip-version-check -r "$requirements")
    # Written only after pip succeeded, so a failed install is retried.
    printf '%s\n' "$want" >"$stamp"
fi

echo "$venv"
