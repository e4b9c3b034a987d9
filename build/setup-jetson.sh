#!/usr/bin/env bash
# The gateway's venv on a Jetson with JetPack 6 (L4T R36, Ubuntu 22.04, CPython 3.10, aarch64).
#
# JetPack brings what PyPI cannot: OpenCV built with GStreamer (hardware decode through
# nvv4l2decoder) and TensorRT 10. The venv therefore sees the system site-packages, and the PyPI
# packages that would shadow them are kept out: opencv-python-headless (no GStreamer) and, when
# NVIDIA's Jetson onnxruntime-gpu wheel is given, the CPU onnxruntime. numpy stays below 2 because
# JetPack's cv2 and tensorrt modules are built against numpy 1.x.
#
# The Jetson onnxruntime-gpu wheel is not on PyPI: fetch the cp310 linux_aarch64 wheel that matches
# your JetPack from NVIDIA's Jetson download pages on a machine with access, copy it over and pass
# it with --wheel. Without it the CPU onnxruntime from PyPI is installed (TensorRT is still there
# for the gateway's own TensorRT engine). Then: sudo build/install-service.sh --gpu jetson
#
# It cannot run anywhere but a Jetson; systemd/README.md ("Jetson") walks through it.
set -euo pipefail

usage() {
    echo "usage: setup-jetson.sh [--venv DIR] [--wheel onnxruntime_gpu-*-cp310-cp310-linux_aarch64.whl]"
}
die() {
    echo "setup-jetson: $*" >&2
    exit 1
}

venv=/opt/edge-gateway/venv
wheel=
while (($#)); do
    case $1 in
        --venv) venv=${2:?--venv needs a directory}; shift 2 ;;
        --wheel) wheel=${2:?--wheel needs a file}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
checkout=$(cd "$(dirname "$0")/.." && pwd)
python=/usr/bin/python3

# 1. The platform: refuse early and say why, rather than build a venv that cannot decode or infer.
release=/etc/nv_tegra_release
[[ -r $release ]] || die "$release is missing: this is not a Jetson with L4T"
grep -q '^# R36' "$release" || die "JetPack 6 (L4T R36) is required; $release says: $(head -n1 "$release")"
[[ $($python -c 'import sys; print("%d.%d" % sys.version_info[:2])') == 3.10 ]] ||
    die "$python is not CPython 3.10 (JetPack 6 ships 3.10)"
has_gstreamer_opencv() {
    "$1" -c 'import re, sys, cv2; sys.exit(not re.search(r"GStreamer:\s+YES", cv2.getBuildInformation()))'
}
has_gstreamer_opencv "$python" ||
    die "JetPack's OpenCV with GStreamer is missing: sudo apt-get install nvidia-opencv (part of nvidia-jetpack)"
$python -c 'import tensorrt' || die "JetPack's TensorRT bindings are missing: sudo apt-get install python3-libnvinfer"
if [[ -n $wheel ]]; then
    [[ -f $wheel && $(basename "$wheel") == onnxruntime_gpu-*-cp310-cp310-linux_aarch64.whl ]] ||
        die "--wheel must be NVIDIA's onnxruntime_gpu-*-cp310-cp310-linux_aarch64.whl, got $wheel"
fi

# 2. The venv, seeing JetPack's cv2 and tensorrt.
if [[ ! -x $venv/bin/python ]]; then
    $python -m venv --system-site-packages "$venv"
fi
pip=("$venv/bin/python" -m pip)
constraints=$(mktemp)
trap 'rm -f "$constraints"' EXIT
echo 'numpy<2' >"$constraints"
"${pip[@]}" install -q --upgrade pip

# 3. The gateway without its dependencies, then every dependency but the two JetPack replaces.
"${pip[@]}" install -q --no-deps "$checkout"
mapfile -t requirements < <("$venv/bin/python" - <<'EOF'
import re
from importlib.metadata import requires

replaced_by_jetpack = {"opencv-python-headless", "onnxruntime"}
for requirement in requires("edge-gateway") or []:
    name = re.split(r"[<>=!~ ;\[]", requirement, maxsplit=1)[0].lower()
    if "extra ==" not in requirement and name not in replaced_by_jetpack:
        print(requirement)
EOF
)
"${pip[@]}" install -q -c "$constraints" "${requirements[@]}"
if [[ -n $wheel ]]; then
    "${pip[@]}" uninstall -q -y onnxruntime 2>/dev/null || true
    "${pip[@]}" install -q -c "$constraints" "$wheel"
elif ! "${pip[@]}" show -q onnxruntime-gpu 2>/dev/null; then
    "${pip[@]}" install -q -c "$constraints" "onnxruntime==1.23.2"
fi
# Something may still have pulled a PyPI OpenCV in; it would shadow JetPack's.
"${pip[@]}" uninstall -q -y opencv-python-headless opencv-python 2>/dev/null || true

# 4. What the gateway will see.
has_gstreamer_opencv "$venv/bin/python" || die "the venv does not see JetPack's GStreamer-enabled cv2"
"$venv/bin/python" - <<'EOF'
import cv2
import numpy
import onnxruntime
import tensorrt

print(f"setup-jetson: cv2 {cv2.__version__} from {cv2.__file__}")
print(f"setup-jetson: numpy {numpy.__version__}, tensorrt {tensorrt.__version__}")
print(f"setup-jetson: onnxruntime {onnxruntime.__version__}: {onnxruntime.get_available_providers()}")
EOF
echo "setup-jetson: done; next: sudo $checkout/build/install-service.sh --venv $venv --gpu jetson"
