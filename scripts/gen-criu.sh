#!/bin/sh
# Regenerates src/core/criu/gen/ from proto/criu/*.proto: protoc with protoc-gen-es, then
# scripts/criu-embed.ts (descriptors embedded as objects, CRIU's field options as a table).
# The generated code is committed; run this after editing a .proto file.
# Usage: sh scripts/gen-criu.sh [OUT_DIR]   (default src/core/criu/gen; the tests pass a scratch folder)
set -eu
cd "$(dirname "$0")/.."
out=${1:-src/core/criu/gen}
es=$(mktemp -d)
trap 'rm -rf "$es"' EXIT
protoc \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out="$es" \
  --es_opt=target=ts,import_extension=ts \
  --proto_path=proto/criu \
  proto/criu/*.proto
rm -rf "$out"
mkdir -p "$out"
node --import tsx scripts/criu-embed.ts "$es" "$out"
