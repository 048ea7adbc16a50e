#!/usr/bin/env bash
# Customer Profiler's two entry points, each doing its own set-up on a fresh Debian machine:
#   bash run.sh demo   generate the demo retailer and run the main job on it
#   bash run.sh test   lint and run the test suite
# Set-up: a virtualenv in .venv (re-installed when pyproject.toml changes) and, when missing,
# the Debian packages the tests need (apt-get; sudo is used when not root).
set -euo pipefail
cd "$(dirname "$0")"
VENV=${PROFILER_VENV:-.venv}

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

apt_install() {
    # Install Debian packages only when one of the given commands is missing.
    local missing=()
    for pair in "$@"; do
        local cmd=${pair%%:*} pkg=${pair##*:}
        command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        echo "Installing Debian packages: ${missing[*]}"
        as_root apt-get update -qq
        DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
}

python_ok() {
    python3 -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null
}

setup() {
    if ! python_ok; then
        apt_install python3:python3
        python_ok || { echo "Error: Python 3.11 or newer is required (found: $(python3 --version 2>&1))" >&2; exit 1; }
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        if ! python3 -m venv "$VENV" 2>/dev/null; then
            rm -rf "$VENV"
            pyver=$(python3 -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
            as_root apt-get update -qq
            DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "python${pyver}-venv" python3-venv >/dev/null || true
            python3 -m venv "$VENV"
        fi
    fi
    local stamp="$VENV/.installed" want
    want=$(sha256sum pyproject.toml | cut -d' ' -f1)
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        echo "Installing Customer Profiler and its dependencies into $VENV"
        "$VENV/bin/python" -m pip install -q --upgrade pip
        "$VENV/bin/python" -m pip install -q -e '.[dev,spark]'
        echo "$want" > "$stamp"
    fi
}

case "${1:-}" in
    demo)
        shift
        setup
        "$VENV/bin/profiler" demo "$@"
        ;;
    test)
        shift
        # LibreOffice opens every workbook the tests write; poppler turns its PDFs into text;
        # Spark (local mode) runs on Java 17.
        apt_install soffice:libreoffice-calc pdftotext:poppler-utils java:openjdk-17-jre-headless
        setup
        "$VENV/bin/ruff" check .
        "$VENV/bin/ruff" format --check .
        "$VENV/bin/python" -m pytest "$@"
        ;;
    *)
        echo "usage: bash run.sh demo|test [args...]" >&2
        exit 2
        ;;
esac
