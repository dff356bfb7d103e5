#!/usr/bin/env bash
# Build go-ethereum 1.13.15 (the consortium network's node, Clique) into a cache outside the
# repository, once: later runs find the binary and return at once. The module comes from the Go
# module proxy; Go >= 1.23 refuses the old `linkname` uses in geth's dependencies unless
# -checklinkname=0 is passed, hence the ldflag.
set -euo pipefail
GETH_VERSION=1.13.15
GO=${GO:-$(command -v go || echo /usr/local/go/bin/go)}
CACHE_DIR=${KPLEDGER_GETH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kpledger/geth-$GETH_VERSION}
TARGET="$CACHE_DIR/geth"
if [ -x "$TARGET" ] && "$TARGET" version 2>/dev/null | grep -q "Version: $GETH_VERSION"; then
  echo "geth $GETH_VERSION present: $TARGET"
  exit 0
fi
mkdir -p "$CACHE_DIR"
start=$(date +%s)
module_dir=$("$GO" mod download -json "github.com/ethereum/go-ethereum@v$GETH_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
build_dir=$(mktemp -d "$CACHE_DIR/src.XXXXXX")
trap 'chmod -R u+w "$build_dir" 2>/dev/null; rm -rf "$build_dir"' EXIT
cp -r "$module_dir/." "$build_dir"
chmod -R u+w "$build_dir"
(cd "$build_dir" && GOFLAGS=-mod=mod "$GO" build -trimpath -ldflags=-checklinkname=0 -o "$TARGET.tmp" ./cmd/geth)
mv "$TARGET.tmp" "$TARGET"
echo "built geth $GETH_VERSION in $(( $(date +%s) - start )) s: $TARGET"
