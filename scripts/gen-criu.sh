#!/bin/sh
# Regenerates src/core/criu/gen/ from proto/criu/*.proto with protoc and protoc-gen-es.
# The generated code is committed; run this after editing a .proto file.
set -eu
cd "$(dirname "$0")/.."
out=src/core/criu/gen
rm -rf "$out"
mkdir -p "$out"
protoc \
  --plugin=protoc-gen-es=node_modules/.bin/protoc-gen-es \
  --es_out="$out" \
  --es_opt=target=ts,import_extension=ts \
  --proto_path=proto/criu \
  proto/criu/*.proto
