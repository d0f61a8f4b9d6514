#!/usr/bin/env bash
# The Python tools the tests run: openapi-spec-validator and schemathesis (OpenAPI tests),
# aiosmtpd (the mail tests' SMTP server, scripts/smtp-sink.py) and selenium (the browser
# test), pinned in scripts/python-tools.txt, in a project-local venv (scripts/.data/venv,
# or CARTHUB_VENV). Installs only what is missing or changed; prints the venv's bin
# directory, which scripts/test.sh exports as CARTHUB_PYTHON_TOOLS.
#
#   scripts/python-tools.sh            # install if needed, print the bin directory
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
REQUIREMENTS="$ROOT/scripts/python-tools.txt"
VENV=${CARTHUB_VENV:-$ROOT/scripts/.data/venv}
STAMP="$VENV/.carthub-requirements.sha256"
TOOLS=(openapi-spec-validator schemathesis aiosmtpd)
MODULES=(selenium) # importable from the venv's python

note() { echo "python-tools.sh: $*" >&2; }
die() { echo "python-tools.sh: error: $*" >&2; exit 1; }

wanted=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
ready() {
    [[ -s $STAMP && $(<"$STAMP") == "$wanted" ]] || return 1
    local tool
    for tool in "${TOOLS[@]}"; do [[ -x $VENV/bin/$tool ]] || return 1; done
    local module
    for module in "${MODULES[@]}"; do [[ -d $VENV/lib/$(ls "$VENV/lib" 2>/dev/null | head -n1)/site-packages/$module ]] || return 1; done
}

if ! ready; then
    mkdir -p "$(dirname "$VENV")"
    exec 8>"$VENV.lock"
    flock -w 600 8 || die "timed out waiting for $VENV.lock"
    if ! ready; then
        # Debian's interpreter: python3-venv (scripts/services.sh installs it) is for it.
        PYTHON=/usr/bin/python3
        [[ -x $PYTHON ]] || PYTHON=$(command -v python3) || die "python3 is not installed"
        if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then
            command -v apt-get >/dev/null || die "the venv module is missing and there is no apt-get; install python3-venv"
            sudo=()
            [[ $EUID -eq 0 ]] || sudo=(sudo)
            note "installing python3-venv"
            "${sudo[@]}" apt-get -q -y update >/dev/null
            "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -q -y install --no-install-recommends python3-venv >/dev/null ||
                die "apt-get install python3-venv failed"
        fi
        note "creating $VENV with $(basename "$REQUIREMENTS")"
        rm -rf "$VENV"
        "$PYTHON" -m venv "$VENV" || die "python3 -m venv $VENV failed"
        "$VENV/bin/pip" install --disable-pip-version-check --no-input -q -r "$REQUIREMENTS" >&2 ||
            die "pip install -r $REQUIREMENTS failed"
        for tool in "${TOOLS[@]}"; do [[ -x $VENV/bin/$tool ]] || die "$tool missing from $VENV after install"; done
        for module in "${MODULES[@]}"; do "$VENV/bin/python" -c "import $module" || die "$module missing from $VENV after install"; done
        echo "$wanted" >"$STAMP"
    fi
fi
echo "$VENV/bin"
