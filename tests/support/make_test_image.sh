#!/usr/bin/env bash
# Builds the offline test image edge-agent-test/busybox:latest (no registry
# needed): a rootfs holding the static busybox from Debian's busybox-static,
# plus one symlink per applet, imported with `docker import`.
#
# Idempotent: does nothing when the image already exists (set
# EDGE_TEST_IMAGE_REBUILD=1 to force). Prints the image reference on stdout.
# Exit status: 0 on success; 2 when Docker is unreachable; 1 otherwise.
set -euo pipefail

IMAGE="${EDGE_TEST_IMAGE:-edge-agent-test/busybox:latest}"
BUSYBOX="${EDGE_TEST_BUSYBOX:-/bin/busybox}"

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "make_test_image: the Docker engine is not reachable" >&2
  exit 2
fi

if [[ "${EDGE_TEST_IMAGE_REBUILD:-0}" != "1" ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "$IMAGE"
  exit 0
fi

if [[ ! -x "$BUSYBOX" ]]; then
  echo "make_test_image: $BUSYBOX is missing; install it with: apt-get install -y busybox-static" >&2
  exit 1
fi
# A dynamically linked busybox would need its libc inside the image.
if ! "$BUSYBOX" --list >/dev/null 2>&1 || ldd "$BUSYBOX" >/dev/null 2>&1; then
  echo "make_test_image: $BUSYBOX is not a static busybox (need Debian's busybox-static)" >&2
  exit 1
fi

rootfs="$(mktemp -d)"
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,proc,sys,dev,root,var/run}
chmod 1777 "$rootfs/tmp"
cp "$BUSYBOX" "$rootfs/bin/busybox"
# Every applet in /bin (a single PATH entry is enough; Docker's default PATH
# includes /bin).
while read -r applet; do
  [[ "$applet" == "busybox" ]] && continue
  ln -sf busybox "$rootfs/bin/$applet"
done < <("$BUSYBOX" --list)
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"

# Import by id and tag only after the checks pass, so a broken image never
# carries the real name (and concurrent runs just retag the same content).
image_id="$(tar -C "$rootfs" -c . |
  docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' \
    -)"

# The applets the suites rely on must really run.
for cmd in "sleep 0" "sh -c true" "ip -o link show lo" "cat /etc/passwd"; do
  if ! out="$(docker run --rm --network none "$image_id" $cmd 2>&1)"; then
    echo "make_test_image: '$cmd' does not run in the imported image: $out" >&2
    docker image rm "$image_id" >/dev/null 2>&1 || true
    exit 1
  fi
done
docker tag "$image_id" "$IMAGE"
echo "$IMAGE"
