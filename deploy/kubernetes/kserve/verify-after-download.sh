#!/bin/sh
# Usage (as KServe calls a storage initializer): verify-after-download SRC_URI DEST_PATH
set -eu
if [ "$#" -ne 2 ]; then
    echo "usage: verify-after-download SRC_URI DEST_PATH" >&2
    exit 2
fi
/storage-initializer/scripts/initializer-entrypoint "$1" "$2"
exec mlchain verify "$2" --policy "${MLCHAIN_POLICY:-/etc/mlchain/policy.yaml}"
