#!/usr/bin/env bash
# make test-arm64: the unit suite and a real pipeline smoke on aarch64, under qemu-user emulation, on
# an x86_64 Debian/Ubuntu box; the smoke's alerts and /v2 outputs are compared with the same smoke on
# the host (build/arm64_smoke.py, build/arm64_compare.py). Needs root or sudo for apt, as setup.sh.
#
# Nothing in the host kernel changes: no binfmt_misc handler is registered, and the emulator is run by
# its path. Debian's qemu-user-static package is therefore not installed; one file is taken from it,
# since its maintainer script (where binfmt-support is installed) and its /usr/lib/binfmt.d files
# (through systemd's trigger, and at every boot) would register handlers for every architecture.
# Without a handler the kernel cannot start an aarch64 program, so tests that spawn one are listed
# in tests/arm64.py with the reason, run, and held to it.
#
# Cached under .cache/arm64 (EDGE_GATEWAY_ARM64_CACHE) and rebuilt only when its inputs change:
#   qemu/    qemu-aarch64-static, from Debian's qemu-user-static package
#   rootfs/  Debian arm64 (bookworm: CPython 3.11, glibc 2.36): `debootstrap --foreign` resolves and
#            fetches the packages and each is unpacked with dpkg-deb; the second stage (maintainer
#            scripts, which would need binfmt or a chroot) is never run
#   wheels/, site/  the aarch64 wheels of pyproject.toml's runtime and test dependencies at the host
#            venv's versions, fetched and unpacked by the host's pip (--platform, --only-binary), and
#            the package's metadata (an editable install); the checkout comes first on PYTHONPATH
#   run/     the last run: logs, each side's smoke results, comparison.json, summary.json
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cache=${EDGE_GATEWAY_ARM64_CACHE:-$root/.cache/arm64}
suite=${EDGE_GATEWAY_ARM64_SUITE:-bookworm}
# The closest QEMU 7.2 model to Jetson Orin's Cortex-A78AE: ARMv8.2-A with dotprod, fp16 and RCpc,
# and no SVE, i8mm or bf16 (QEMU's default "max" has all of them, so ONNX Runtime would pick kernels
# an Orin never runs).
cpu=cortex-a76
host_python=${EDGE_GATEWAY_VENV:-$root/.venv}/bin/python
qemu=$cache/qemu/qemu-aarch64-static
rootfs=$cache/rootfs
site=$cache/site
run=$cache/run
began=$(date +%s)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A seconds=()

if [[ $(uname -m) != x86_64 ]]; then
    echo "test-arm64: runs on an x86_64 host (this is $(uname -m))" >&2
    exit 2
fi
if [[ $(id -u) -ne 0 ]]; then sudo=sudo; else sudo=; fi

step() { printf '\n== test-arm64: %s\n' "$*"; }

# Runs "$@" and records its wall time under the name $1 (then drops $1).
timed() {
    local name=$1 started status=0
    shift
    started=$(date +%s)
    "$@" || status=$?
    seconds[$name]=$(($(date +%s) - started))
    return "$status"
}

# Runs "$@" with its output appended to the log $1, which is shown only when the command fails.
logged() {
    local log=$1
    shift
    "$@" >>"$log" 2>&1 || { tail -n 30 "$log" >&2; return 1; }
}

apt_download() {
    local options=()
    # As root, apt would try to drop to its _apt sandbox user, which cannot write the temporary folder.
    [[ $(id -u) -ne 0 ]] || options=(-o APT::Sandbox::User=root)
    apt-get download -qq "${options[@]}" "$@" ||
        { $sudo apt-get update -qq && apt-get download -qq "${options[@]}" "$@"; }
}

ensure_host_tools() {
    if ! dpkg-query -W -f='${Status}' debootstrap 2>/dev/null | grep -q "install ok installed"; then
        echo "test-arm64: installing debootstrap"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq debootstrap >/dev/null
    fi
    if [[ ! -x $qemu ]]; then
        echo "test-arm64: fetching qemu-aarch64-static (qemu-user-static, unpacked, not installed)"
        local scratch
        scratch=$(mktemp -d)
        (cd "$scratch" && apt_download qemu-user-static)
        mkdir -p "$(dirname "$qemu")"
        dpkg-deb --fsys-tarfile "$scratch"/qemu-user-static_*.deb |
            tar -x -O ./usr/bin/qemu-aarch64-static >"$qemu.partial"
        chmod 755 "$qemu.partial"
        mv "$qemu.partial" "$qemu"
        rm -rf "$scratch"
    fi
}

ensure_rootfs() {
    # python3: CPython and its standard library; libstdc++6: the C++ runtime the wheels link against.
    local packages=python3,libstdc++6
    local stamp="$suite arm64 minbase $packages"
    if [[ -f $rootfs/.edge-gateway-stamp && $(<"$rootfs/.edge-gateway-stamp") == "$stamp" ]]; then
        return
    fi
    # The Debian mirror this box's apt uses for the suite, else debootstrap's default.
    local mirror
    # shellcheck disable=SC2016  # $(REPO_URI) is apt's field syntax, not the shell's
    mirror=$(apt-get indextargets --format '$(REPO_URI)' "Codename: $suite" 'Created-By: Packages' \
        'Label: Debian' 2>/dev/null | head -n1 || true)
    echo "test-arm64: assembling Debian $suite arm64 with $packages ${mirror:+from $mirror}"
    mkdir -p "$cache"
    $sudo rm -rf "$rootfs" "$rootfs.partial"
    $sudo debootstrap --foreign --arch=arm64 --variant=minbase --include="$packages" \
        "$suite" "$rootfs.partial" ${mirror:+"$mirror"} >"$cache/debootstrap.log" 2>&1 ||
        { tail -n 20 "$cache/debootstrap.log" >&2; return 1; }
    local deb
    for deb in "$rootfs.partial"/var/cache/apt/archives/*.deb; do
        $sudo dpkg-deb -x "$deb" "$rootfs.partial"
    done
    $sudo rm -f "$rootfs.partial"/var/cache/apt/archives/*.deb
    # With -L, QEMU looks every absolute path up under the userland first and falls back to the host.
    # Empty /dev, /proc, /sys, /tmp and /run there would hide the host's, so they go.
    $sudo rm -rf "${rootfs:?}.partial"/{dev,proc,sys,tmp,run}
    $sudo mkdir "$rootfs.partial/proc"
    echo "$stamp" | $sudo tee "$rootfs.partial/.edge-gateway-stamp" >/dev/null
    $sudo mv "$rootfs.partial" "$rootfs"
}

# QEMU 7.2 passes the host's x86 /proc/cpuinfo through, on which ONNX Runtime's CPU detection
# (pytorch/cpuinfo) crashes. The userland's own, found first, describes the emulated CPU instead: one
# Cortex-A76 (MIDR 0x414fd0b1) per host CPU, with the features QEMU reports for it (AT_HWCAP).
write_cpuinfo() {
    local cpus=$(($(nproc --all))) index
    for ((index = 0; index < cpus; index++)); do
        printf 'processor\t: %d\nBogoMIPS\t: 50.00\n' "$index"
        printf 'Features\t: fp asimd aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm'
        printf ' lrcpc dcpop asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\n'
        printf 'CPU part\t: 0xd0b\nCPU revision\t: 1\n\n'
    done | $sudo tee "$rootfs/proc/cpuinfo" >/dev/null
}

arm64_python() {
    # An x86 OPENBLAS_CORETYPE means nothing to aarch64 OpenBLAS, which would warn and fall back to
    # generic kernels; an x86 LD_PRELOAD or LD_LIBRARY_PATH would not load at all.
    env -u LD_PRELOAD -u LD_LIBRARY_PATH -u PYTHONHOME -u VIRTUAL_ENV -u OPENBLAS_CORETYPE \
        -u OPENBLAS_L2_SIZE PYTHONPATH="$root:$site" PYTHONNOUSERSITE=1 \
        "$qemu" -cpu "$cpu" -L "$rootfs" "$rootfs/usr/bin/python3" "$@"
}

ensure_site() {
    local target
    target=$(arm64_python -c 'import platform, sys; print(*sys.version_info[:2], platform.libc_ver()[1])')
    local fields
    read -r -a fields <<<"$target"
    local python_version=${fields[0]}.${fields[1]} glibc=${fields[2]}
    local platforms=(--platform manylinux2014_aarch64) minor
    for ((minor = 17; minor <= ${glibc#2.}; minor++)); do
        platforms+=(--platform "manylinux_2_${minor}_aarch64")
    done
    local wheel_options=(--only-binary=:all: --implementation cp --python-version "$python_version"
        --abi "cp${python_version/./}" "${platforms[@]}")
    mkdir -p "$cache"
    # pyproject.toml's runtime and test requirements, as the host venv's install of the package has them.
    "$host_python" - >"$cache/requirements.txt" <<'EOF'
from importlib.metadata import requires

from packaging.requirements import Requirement

for text in requires("edge-gateway") or []:
    requirement = Requirement(text)
    if requirement.marker is None or requirement.marker.evaluate({"extra": "test"}):
        print(text.split(";")[0].strip())
EOF
    # The host venv's versions: then the two sides of the smoke differ in architecture only.
    "$host_python" -m pip freeze --exclude-editable >"$cache/constraints.txt"
    local stamp
    stamp=$(cat "$cache/requirements.txt" "$cache/constraints.txt" <(echo "${wheel_options[*]} $root") |
        sha256sum)
    if [[ -f $site/.edge-gateway-stamp && $(<"$site/.edge-gateway-stamp") == "$stamp" ]]; then
        return
    fi
    echo "test-arm64: fetching and unpacking aarch64 wheels for CPython $python_version, glibc $glibc"
    : >"$cache/pip.log"
    logged "$cache/pip.log" "$host_python" -m pip download -q "${wheel_options[@]}" -d "$cache/wheels" \
        -r "$cache/requirements.txt" -c "$cache/constraints.txt"
    rm -rf "$site" "$site.partial"
    logged "$cache/pip.log" "$host_python" -m pip install -q --no-index --find-links "$cache/wheels" \
        "${wheel_options[@]}" --target "$site.partial" -r "$cache/requirements.txt" -c "$cache/constraints.txt"
    # The package's metadata only (importlib.metadata): its code is imported from the checkout.
    rm -rf "$cache/metadata"
    logged "$cache/pip.log" "$host_python" -m pip install -q --no-deps -e . --target "$cache/metadata"
    mv "$cache"/metadata/edge_gateway-*.dist-info "$site.partial/"
    rm -rf "$cache/metadata"
    echo "$stamp" >"$site.partial/.edge-gateway-stamp"
    mv "$site.partial" "$site"
}

step "host tools, aarch64 userland and wheels (cached in ${cache#"$root"/})"
timed prepare ensure_host_tools
timed userland ensure_rootfs
write_cpuinfo
timed wheels ensure_site
rm -rf "$run"
mkdir -p "$run"
arm64_python - >"$run/versions.json" <<'EOF'
import json, platform
import cv2, numpy, onnxruntime
print(json.dumps({"machine": platform.machine(), "python": platform.python_version(),
                  "glibc": platform.libc_ver()[1], "numpy": numpy.__version__,
                  "onnxruntime": onnxruntime.__version__, "opencv": cv2.__version__}))
EOF
qemu_version=$("$qemu" --version | head -n1)
echo "test-arm64: $(<"$run/versions.json"), $qemu_version, -cpu $cpu"

step "unit suite on aarch64 (tests/unit, as make test runs it, in two shares side by side)"
# One emulated process runs on one core; pytest-xdist cannot start its workers under emulation
# (tests/arm64.py), so two pytest processes each run every other test (tests/shard.py).
unit_suite() {
    local index pid pids=() status=0
    for index in 1 2; do
        arm64_python -m pytest tests/unit -m "not gpu" -p tests.arm64 -p tests.shard --shard "$index/2" \
            -p no:cacheprovider -q >"$run/unit-$index.log" 2>&1 &
        pids+=("$!")
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || status=$?
    done
    for index in 1 2; do
        printf '\n-- share %s of 2\n' "$index"
        cat "$run/unit-$index.log"
    done
    return "$status"
}
unit_status=0
timed unit unit_suite || unit_status=$?

step "pipeline smoke on the host (the x86_64 reference)"
timed smoke_x86_64 "$host_python" build/arm64_smoke.py --out "$run/x86_64"

step "pipeline smoke on aarch64"
timed smoke_aarch64 arm64_python build/arm64_smoke.py --out "$run/aarch64" --inputs "$run/x86_64/v2"

step "comparison"
compare_status=0
"$host_python" build/arm64_compare.py "$run/x86_64" "$run/aarch64" || compare_status=$?

total=$(($(date +%s) - began))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
unit_counts=$("$host_python" - "$run"/unit-*.log <<'EOF'
import re, sys
from collections import Counter

# Each share's closing line, as "1121 passed, 1127 deselected, 6 xfailed in 212.31s (0:03:32)":
# the shares' counts added up (each deselected the other's tests) and each share's wall time.
counts: Counter[str] = Counter()
times = []
for share, path in enumerate(sys.argv[1:], start=1):
    lines = [line for line in open(path) if re.search(r"[0-9]+ (passed|failed|error).* in [0-9.]+s", line)]
    if not lines:
        times.append(f"share {share} ended without its summary")
        continue
    tally, took = lines[-1].strip(" =\n").rsplit(" in ", 1)
    for number, outcome in re.findall(r"([0-9]+) ([a-z]+)", tally):
        counts[outcome] += int(number) if outcome != "deselected" else 0
    times.append(took.split()[0])
print(", ".join(f"{number} {outcome}" for outcome, number in counts.items() if number),
      f"in {len(sys.argv) - 1} shares side by side ({', '.join(times)})")
EOF
)
verdict=passed
((unit_status == 0 && compare_status == 0)) || verdict=FAILED
steps="${seconds[prepare]} ${seconds[userland]} ${seconds[wheels]} ${seconds[unit]}"
steps+=" ${seconds[smoke_x86_64]} ${seconds[smoke_aarch64]}"
"$host_python" - "$run" "$verdict" "$total" "$load_before" "$load_after" "$unit_counts" "$qemu_version" "$cpu" \
    "$steps" <<'EOF'
import json, sys
from pathlib import Path

run, verdict, total, load_before, load_after, unit, qemu, cpu, steps = sys.argv[1:]
names = ("host_tools", "userland", "wheels", "unit_suite", "smoke_x86_64", "smoke_aarch64")
summary = {
    "verdict": verdict,
    "seconds": int(total),
    "steps_seconds": dict(zip(names, map(int, steps.split()))),
    "load_average": {"before": load_before, "after": load_after},
    "aarch64": json.loads((Path(run) / "versions.json").read_text()),
    "emulator": f"{qemu}, -cpu {cpu}",
    "unit_suite": unit,
}
(Path(run) / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
print(f"\n== test-arm64: {verdict} in {int(total) // 60} min {int(total) % 60} s "
      f"(load average {load_before} before, {load_after} after)")
print("   steps (s): " + ", ".join(f"{name} {value}" for name, value in summary["steps_seconds"].items()))
print(f"   unit suite on aarch64: {unit}")
EOF
[[ $verdict == passed ]]
