#!/usr/bin/env bash
# Install edge-gateway as a systemd service: the service users, /etc/edge-gateway (config and
# secrets), the state directory with the shipped models, the units and, on GPU boxes, the device
# access drop-in. Idempotent: run it again after an upgrade; it never overwrites a config or a
# secret, and it always rewrites the units and drop-ins it owns.
#
# The gateway itself must already be installed in a venv (default /opt/edge-gateway/venv):
#   x86:    python3 -m venv /opt/edge-gateway/venv && /opt/edge-gateway/venv/bin/pip install '.[gpu]'
#   Jetson: build/setup-jetson.sh
# See systemd/README.md.
set -euo pipefail

usage() {
    cat <<'EOF'
usage: install-service.sh [--root DIR] [--venv DIR] [--gpu none|nvidia|jetson] [--enable]

  --root DIR    install into DIR instead of / (an image being built, or a test); users are
                created in DIR/etc/passwd and systemd is not asked to reload
  --venv DIR    the venv holding the edge-gateway command (default /opt/edge-gateway/venv)
  --gpu KIND    device access for NVIDIA GPUs: nvidia (x86 server) or jetson; none removes it
  --enable      enable edge-gateway.service at boot (the audit service is left to you)
EOF
}

root=/
venv=/opt/edge-gateway/venv
gpu=none
enable=0
while (($#)); do
    case $1 in
        --root) root=${2:?--root needs a directory}; shift 2 ;;
        --venv) venv=${2:?--venv needs a directory}; shift 2 ;;
        --gpu) gpu=${2:?--gpu needs none, nvidia or jetson}; shift 2 ;;
        --enable) enable=1; shift ;;
        -h | --help) usage; exit 0 ;;
        *) usage >&2; exit 2 ;;
    esac
done
case $gpu in none | nvidia | jetson) ;; *) echo "install-service: unknown --gpu $gpu" >&2; exit 2 ;; esac
case $venv in /*) ;; *) echo "install-service: --venv must be an absolute path" >&2; exit 2 ;; esac
if [[ $(id -u) -ne 0 ]]; then
    echo "install-service: run as root (sudo); the users, /etc and the units belong to root" >&2
    exit 1
fi

checkout=$(cd "$(dirname "$0")/.." && pwd)
sources=$checkout/systemd
root=$(mkdir -p "$root" && cd "$root" && pwd)
prefix=${root%/}              # "" for the real root, so "$prefix/etc" is always right
default_venv=/opt/edge-gateway/venv
units=$prefix/etc/systemd/system
config_dir=$prefix/etc/edge-gateway
credentials=$config_dir/credentials

say() { echo "install-service: $*"; }

# Users and the /etc/edge-gateway tree, through systemd's own tools so --root works the same.
install -d -m 0755 "$prefix/etc" "$prefix/etc/sysusers.d" "$prefix/etc/tmpfiles.d" "$units"
install -m 0644 "$sources/edge-gateway.sysusers" "$prefix/etc/sysusers.d/edge-gateway.conf"
install -m 0644 "$sources/edge-gateway.tmpfiles" "$prefix/etc/tmpfiles.d/edge-gateway.conf"
systemd-sysusers --root="$root" "$prefix/etc/sysusers.d/edge-gateway.conf"
systemd-tmpfiles --create --root="$root" "$prefix/etc/tmpfiles.d/edge-gateway.conf"

# Numeric ids from the target's own passwd: under --root the names do not exist on this host.
id_of() { awk -F: -v name="$1" -v field="$2" '$1 == name { print $field }' "$prefix/etc/passwd"; }
gateway_uid=$(id_of edge-gateway 3)
gateway_gid=$(id_of edge-gateway 4)
audit_gid=$(id_of edge-gateway-audit 4)

# Secrets: created once, never overwritten. Only systemd (root) reads them; each service gets a
# copy in its $CREDENTIALS_DIRECTORY through LoadCredential=.
random_hex() { od -An -vtx1 -N32 /dev/urandom | tr -d ' \n'; }
new_secret() {
    local name=$1 content=$2
    [[ -e $credentials/$name ]] && return 0
    (umask 077 && printf '%s' "$content" >"$credentials/$name")
    say "created $credentials/$name"
}
new_secret signing-key "$(random_hex)"$'\n'
new_secret api-tokens "$(random_hex)"$'\n'
new_secret mqtt-password ""
new_secret audit-mqtt-password ""
new_secret audit-pgpass ""

# Configs: readable by the service's group, written only when absent.
new_config() {
    local source=$1 target=$2 gid=$3
    [[ -e $target ]] && return 0
    install -m 0640 -o 0 -g "$gid" "$source" "$target"
    say "created $target"
}
new_config "$sources/gateway.example.yaml" "$config_dir/gateway.yaml" "$gateway_gid"
new_config "$sources/audit.example.yaml" "$config_dir/audit.yaml" "$audit_gid"

# The audit service's device keys: read in place by the service (its group, as audit.yaml), not
# copied at start as a credential, so that `systemctl reload edge-gateway-audit` sees an edit.
# Created once, never overwritten; an install from before kept them in credentials/, whose content
# is taken over (that file is then no longer read).
audit_keys=$config_dir/audit-device-keys
if [[ ! -e $audit_keys ]]; then
    if [[ -e $credentials/audit-device-keys ]]; then
        install -m 0640 -o 0 -g "$audit_gid" "$credentials/audit-device-keys" "$audit_keys"
        say "copied $credentials/audit-device-keys to $audit_keys, which the audit service now reads"
    else
        install -m 0640 -o 0 -g "$audit_gid" /dev/null "$audit_keys"
        say "created $audit_keys"
    fi
fi
install -m 0644 "$sources/README.md" "$config_dir/README.md"

# The model repository lives in the (writable) state directory: enroll adds versions to it.
state=$prefix/var/lib/edge-gateway
if [[ ! -d $state ]]; then
    install -d -m 0700 -o "$gateway_uid" -g "$gateway_gid" "$state"
fi
if [[ -d $checkout/models && ! -e $state/models ]]; then
    cp -R "$checkout/models" "$state/models"
    chown -R "$gateway_uid:$gateway_gid" "$state/models"
    say "copied the shipped models to $state/models"
fi

# Units: ours, so always rewritten; the venv path is substituted when it is not the default.
for unit in edge-gateway.service edge-gateway-audit.service; do
    sed "s#$default_venv/#${venv%/}/#g" "$sources/$unit" >"$units/$unit.new"
    chmod 0644 "$units/$unit.new"
    mv -f "$units/$unit.new" "$units/$unit"
done
dropins=$units/edge-gateway.service.d
if [[ $gpu == none ]]; then
    rm -f "$dropins/gpu.conf"
    rmdir "$dropins" 2>/dev/null || true
else
    install -d -m 0755 "$dropins"
    install -m 0644 "$sources/gpu/$gpu.conf" "$dropins/gpu.conf"
fi

if [[ ! -x $prefix$venv/bin/edge-gateway ]]; then
    say "warning: $venv/bin/edge-gateway does not exist yet; install the gateway there (see README)" >&2
fi
if [[ $root == / && -d /run/systemd/system ]]; then
    systemctl daemon-reload
fi
if ((enable)); then
    systemctl --root="$root" enable edge-gateway.service
fi
say "done: units in $units, config in $config_dir (gpu: $gpu)"
