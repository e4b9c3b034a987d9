#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian/Ubuntu box (and CI): system packages the tests use, a venv,
# the package in editable mode with its test extras, and the shipped models and demo clip.
# JetPack boxes: see README "Jetson"; set EDGE_GATEWAY_SYSTEM_SITE=1 to see JetPack's OpenCV/TensorRT.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
venv=${EDGE_GATEWAY_VENV:-$root/.venv}
python=${PYTHON:-python3}

apt_packages=(
    mosquitto                      # MQTT broker for the delivery tests and benchmarks
    ffmpeg                         # demo and test clips
    gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
    gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly gstreamer1.0-libav
    gir1.2-gst-rtsp-server-1.0 python3-gi   # the loopback RTSP server used by the ingest tests
    postgresql                     # audit store tests on a real PostgreSQL
    systemd                        # systemd-analyze for the unit tests
    openssl                        # self-signed CA for the TLS tests
    chromium                       # the console's browser tests (driven by Playwright's Python API)
)

missing=()
for package in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi
    echo "setup: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "setup: creating $venv"
    if [[ ${EDGE_GATEWAY_SYSTEM_SITE:-0} == 1 ]]; then
        "$python" -m venv --system-site-packages "$venv"
    else
        "$python" -m venv "$venv"
    fi
fi

stamp="$venv/.edge-gateway-installed"
if [[ ! -f "$stamp" || pyproject.toml -nt "$stamp" ]]; then
    echo "setup: installing the package and its test extras"
    "$venv/bin/python" -m pip install -q --upgrade pip
    "$venv/bin/python" -m pip install -q -e ".[test]"
    touch "$stamp"
fi



# Shipped models (face-detector fetched from its PyPI wheel, yolov8n-bench generated) and the demo clip.
"$venv/bin/python" build/build_models.py
