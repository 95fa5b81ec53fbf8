# Sourced by the scripts that need componentize-py (the Python strategy toolchain): installs the
# pinned version into a venv under the cargo target dir on first use and sets $componentize_py.
componentize_py_version=0.25.1
componentize_py_venv="${CARGO_TARGET_DIR:-target}/componentize-py-$componentize_py_version"
if [[ ! -x "$componentize_py_venv/bin/componentize-py" ]]; then
    python3 -m venv "$componentize_py_venv"
    "$componentize_py_venv/bin/pip" install --quiet "componentize-py==$componentize_py_version"
fi
componentize_py="$componentize_py_venv/bin/componentize-py"
