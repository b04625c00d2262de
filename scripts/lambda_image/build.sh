#!/usr/bin/env bash
# Build a local stand-in for Lambda's public python3.13 image, for `sam local invoke --invoke-image`
# where the public image cannot be pulled (no route to its registry). Made from packages only:
#   - a minimal Debian bookworm (debootstrap, from the Debian archive apt already uses),
#   - the CPython 3.13 found as $PYTHON313 (default `python3.13` on PATH: pyenv, deadsnakes,
#     python.org), copied to /var/lang as in Lambda's image (Debian bookworm has no 3.13),
#   - awslambdaric (the runtime interface client) and boto3 from PyPI into /var/runtime,
#   - /var/runtime/bootstrap, which the SAM CLI's emulator starts.
# SAM adds its emulator and the layer (/opt) on top; the function's code is mounted at /var/task.
#
#   scripts/lambda_image/build.sh            # builds skill-router/lambda-python3.13:local once
#   REBUILD=1 scripts/lambda_image/build.sh  # again
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
IMAGE=${IMAGE:-skill-router/lambda-python3.13:local}
PYTHON313=${PYTHON313:-python3.13}
WORK=${WORK:-$ROOT/.lambda-image}

fail() { echo "lambda image: $*" >&2; exit 1; }

command -v docker >/dev/null || fail "no docker: install a container engine (Debian: apt-get install docker.io) and start it"
docker info >/dev/null 2>&1 || fail "docker is installed but its daemon does not answer: start dockerd (or Docker Desktop)"
if docker image inspect "$IMAGE" >/dev/null 2>&1 && [ -z "${REBUILD:-}" ]; then
    echo "lambda image: $IMAGE is there (REBUILD=1 to build it again)"
    exit 0
fi
"$PYTHON313" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null \
    || fail "no Python 3.13 at '$PYTHON313' (Lambda's runtime): install one (pyenv install 3.13) or set PYTHON313=/path/to/python3.13"
command -v debootstrap >/dev/null || fail "no debootstrap (Debian: apt-get install debootstrap)"
[ "$(id -u)" = 0 ] || fail "debootstrap needs root: run as root (or with sudo)"

started=$(date +%s)
rootfs="$WORK/rootfs"
if [ ! -x "$rootfs/bin/sh" ]; then
    rm -rf "$rootfs"
    mkdir -p "$WORK"
    echo "lambda image: debootstrap a minimal Debian bookworm into $rootfs"
    # The shared libraries CPython's extension modules load (ssl, ctypes, sqlite3, lzma, bz2, ...).
    debootstrap --variant=minbase \
        --include=ca-certificates,libssl3,libffi8,libsqlite3-0,libbz2-1.0,liblzma5,zlib1g,libexpat1,libreadline8,libncursesw6,libgdbm6,libuuid1 \
        bookworm "$rootfs" >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; fail "debootstrap failed"; }
fi

stage="$WORK/stage"
rm -rf "$stage"
mkdir -p "$stage/var/lang" "$stage/var/runtime" "$stage/var/task" "$stage/opt"
prefix=$("$PYTHON313" -c 'import sys; print(sys.base_prefix)')
version=$("$PYTHON313" -c 'import platform; print(platform.python_version())')
echo "lambda image: CPython $version from $prefix -> /var/lang"
tar -C "$prefix" \
    --exclude='lib/python3.13/test' --exclude='lib/python3.13/idlelib' --exclude='lib/python3.13/tkinter' \
    --exclude='lib/python3.13/turtledemo' --exclude='lib/python3.13/site-packages/*' --exclude='__pycache__' \
    --exclude='include' --exclude='share' --exclude='lib/pkgconfig' --exclude='lib/*.a' \
    -cf - . | tar -C "$stage/var/lang" -xf -
ln -sf python3.13 "$stage/var/lang/bin/python3"
"$PYTHON313" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --no-compile --only-binary=:all: \
    --target "$stage/var/runtime" -r "$HERE/requirements.txt"
install -m 0755 "$HERE/bootstrap" "$stage/var/runtime/bootstrap"
cp -a "$stage/." "$rootfs/"

echo "lambda image: docker import $IMAGE"
tar -C "$rootfs" --exclude='./proc/*' --exclude='./sys/*' --exclude='./dev/*' -cf - . | docker import \
    --change 'ENV PATH=/var/lang/bin:/usr/local/bin:/usr/bin:/bin:/opt/bin' \
    --change 'ENV LD_LIBRARY_PATH=/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'ENV TZ=:/etc/localtime' \
    --change 'ENV LAMBDA_TASK_ROOT=/var/task' \
    --change 'ENV LAMBDA_RUNTIME_DIR=/var/runtime' \
    --change 'WORKDIR /var/task' \
    --change "LABEL skill-router.python=$version skill-router.base=debian-bookworm" \
    - "$IMAGE" >/dev/null
docker run --rm -e PYTHONPATH=/var/runtime --entrypoint /var/lang/bin/python3 "$IMAGE" \
    -c 'import ssl, sqlite3, ctypes, lzma, bz2, awslambdaric, boto3, sys; print("lambda image: python", sys.version.split()[0], "boto3", boto3.__version__)'
echo "lambda image: $IMAGE built in $(( $(date +%s) - started )) s"
