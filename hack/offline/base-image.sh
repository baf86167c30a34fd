#!/usr/bin/env bash
# Usage: hack/offline/base-image.sh
#
# Makes the runtime base image that stands in for
# gcr.io/distroless/static-debian12:nonroot when no registry is reachable:
# no shell, no package manager; /etc/passwd and /etc/group with root (0),
# nobody (65534) and nonroot (65532) as in distroless; /tmp mode 1777;
# /home/nonroot owned by 65532; CA bundle; time zone data; USER 65532:65532.
# Prints the image reference on stdout.
set -euo pipefail
# shellcheck source=hack/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"

CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

base=$("$GOKV_HACK_DIR/offline/debian-base.sh")
REF=$(image_ref static-nonroot "$DEBIAN_SUITE" "${BASH_SOURCE[0]}" "$(image_id "$base")" "$CA_BUNDLE")

build() {
  log "building $REF"
  local root=$tmp/rootfs
  mkdir -p "$root"/{etc/ssl/certs,home/nonroot,root,tmp,usr/share,var/lib/dpkg/status.d}
  # Same accounts as distroless (its base-files: root, nobody, nonroot).
  cat >"$root/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
PASSWD
  cat >"$root/etc/group" <<'GROUP'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
GROUP
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
  cat >"$root/etc/os-release" <<OSRELEASE
PRETTY_NAME="gokv offline stand-in for distroless static ($DEBIAN_SUITE)"
NAME="Distroless"
ID=gokv-static
OSRELEASE
  cp "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
  # Time zone data from the Debian base, as distroless ships tzdata.
  docker run --rm --entrypoint tar "$base" -C /usr/share -c zoneinfo | tar -C "$root/usr/share" -x
  chmod 0644 "$root"/etc/{passwd,group,nsswitch.conf,os-release}
  chmod 0700 "$root/root" "$root/home/nonroot"
  chmod 1777 "$root/tmp"
  chown -R 65532:65532 "$root/home/nonroot"
  import_rootfs "$REF" "$root" \
    --change 'USER 65532:65532' \
    --change 'WORKDIR /home/nonroot' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt'
}

ensure_image "$REF" "$(image_tarball "$REF")" build
printf '%s\n' "$REF"
