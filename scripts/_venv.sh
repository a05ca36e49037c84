# Sourced by scripts/serve and scripts/test: make .venv and install the project when needed.
# Usage: ensure_venv EXTRAS   (EXTRAS is "" or "[test]")
ensure_venv() {
    local extras="$1" stamp=".venv/.installed$1"
    if [ ! -x .venv/bin/python ]; then
        echo "creating .venv …" >&2
        python3 -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
        echo "installing nongbot$extras into .venv …" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".$extras" >&2
        touch "$stamp"
    fi
}
