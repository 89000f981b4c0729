#!/bin/sh
# KServe storage initializer for oci:// models, verified by mlchain.
# Usage (as KServe calls a storage initializer): pull-verify-publish SRC_URI DEST_PATH
#
# 1. SRC_URI must be pinned by digest and start with MLCHAIN_ALLOWED_PREFIX (the registry and
#    repository this cluster may serve from).
# 2. mlchain pulls every layer (digest-checked) into a staging folder inside DEST_PATH, verifies
#    the signature stored as a referrer of the manifest with the policy's authorities, scans, and
#    evaluates the policy; only then are the files renamed into DEST_PATH (read-only). A denied
#    model leaves DEST_PATH empty and the pod does not start (exit 1).
# Registry credentials: a docker-config JSON mounted from a Secret, named by REGISTRY_AUTH_FILE.
set -eu
if [ "$#" -ne 2 ]; then
    echo "usage: pull-verify-publish SRC_URI DEST_PATH" >&2
    exit 2
fi
src=$1
dest=$2
case "$src" in
    "${MLCHAIN_ALLOWED_PREFIX:?set MLCHAIN_ALLOWED_PREFIX, e.g. oci://registry.example/models/}"*) ;;
    *)
        echo "refusing $src: not under $MLCHAIN_ALLOWED_PREFIX" >&2
        exit 1
        ;;
esac
case "$src" in
    *@sha256:*) ;;
    *)
        echo "refusing $src: pin the model by digest (oci://REGISTRY/REPO@sha256:...)" >&2
        exit 1
        ;;
esac
mkdir -p "$dest"
exec mlchain verify "$src" --policy "${MLCHAIN_POLICY:-/etc/mlchain/policy.yaml}" --copy-to "$dest"
