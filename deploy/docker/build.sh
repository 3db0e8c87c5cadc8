#!/bin/sh
# The build stage of the Dockerfiles: puts what the image holds in OUT (its /app), the process's
# package bundled by deploy/src/build/image-bundle.ts, unless the context already holds it in
# dist/image/<what>/ (the tests build it on the host: a build in their engine has no network).
#   build.sh sidecar|collector OUT
set -eu
what=$1 out=$2
if [ -d "dist/image/$what" ]; then
  cp -a "dist/image/$what" "$out"
  exit 0
fi
corepack enable && corepack prepare pnpm@10.34.8 --activate
# Scripts off: the `node` dev package would download a second Node; the stage has one. esbuild
# finds its binary in its platform package without its install script.
pnpm install --frozen-lockfile --ignore-scripts
node deploy/src/build/image-bundle.ts "$what" "$out"
