#!/usr/bin/env bash
# Optional manual check: the Rust SNTP client against the real Python
# tsercom TimeSyncServer from PyPI. Strict mode must reject its reply with
# the origin reason, SntpMode::PythonTsercom must accept it (offset ~0 on
# one host). Installs tsercom into a throw-away venv; `cargo test` does not
# depend on it.
#
#   tsercom/tests/python/check_python_sntp.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${TSERCOM_PY_VENV:-$(mktemp -d)/venv}"
[ -x "$venv/bin/python" ] || { python3 -m venv "$venv"; "$venv/bin/pip" install -q "tsercom>=1.1,<1.2"; }
coproc SERVER { exec "$venv/bin/python" "$here/python_sntp_server.py"; }
read -r port <&"${SERVER[0]}"
echo "Python TimeSyncServer on 127.0.0.1:$port"
TSERCOM_PYTHON_SNTP="127.0.0.1:$port" cargo test -p tsercom --test time_sntp_clock \
    -- --ignored --exact real_python_time_sync_server --nocapture
exec {SERVER[1]}>&-
wait "$SERVER_PID" || true
