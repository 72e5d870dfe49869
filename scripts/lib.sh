# Shared by scripts/run, scripts/test and scripts/build-site: every step that prepares a fresh
# machine lives here, and each is idempotent so the second run costs seconds.
# shellcheck shell=bash

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
mkdir -p "$TOOLS/bin"
export PATH="$TOOLS/bin:$PATH"

step() { printf '\n\033[1;34m==>\033[0m \033[1m%s\033[0m\n' "$*" >&2; }
note() { printf '    %s\n' "$*" >&2; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, through sudo otherwise.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $* (install it by hand, or run as root)"
  fi
}

APT_UPDATED=""
apt_install() {
  command -v apt-get >/dev/null || die "apt-get not found; install these packages by hand: $*"
  if [ -z "$APT_UPDATED" ]; then
    as_root apt-get update -qq >&2
    APT_UPDATED=1
  fi
  note "apt-get install $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >&2
}

# Postgres binaries for the embedded cluster (and the test cluster).
ensure_postgres() {
  if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then return; fi
  if compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then return; fi
  step "Installing Postgres"
  apt_install postgresql
}

# Debian's Chromium for the browser tests (Playwright never downloads its own here).
ensure_chromium() {
  if [ -x /usr/bin/chromium ]; then return; fi
  step "Installing Chromium"
  apt_install chromium chromium-driver
}

ensure_rust() {
  command -v cargo >/dev/null || die "cargo not found: install Rust with rustup (https://rustup.rs)"
  if command -v rustup >/dev/null; then
    rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt >&2 || true
  fi
}

# The wasm32 toolchain for the browser bundle. Where rustup can add the target, that is all.
# Where it cannot (no download of rust-std), Debian's rustc-web supplies a compiler with the std
# sources: std is built once for wasm32 into a private sysroot, keyed by the compiler version.
# Exports WASM_ENV: the environment the wasm cargo build runs under.
WASM_ENV=()
ensure_wasm_toolchain() {
  local probe="$TOOLS/wasm-probe"
  mkdir -p "$probe"
  echo 'pub fn f() -> usize { std::hint::black_box(vec![1u8]).len() }' > "$probe/lib.rs"
  if [ "${GATEHOUSE_WASM_TOOLCHAIN:-auto}" != "debian" ] && command -v rustup >/dev/null; then
    rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown \
      || rustup target add wasm32-unknown-unknown >&2 2>/dev/null || true
    if rustc --target wasm32-unknown-unknown --crate-type lib --edition 2021 -o "$probe/out.rlib" "$probe/lib.rs" 2>/dev/null; then
      WASM_ENV=()
      return
    fi
    note "rustup cannot provide the wasm32 std here; using Debian's rustc-web"
  fi

  if ! dpkg -s rustc-web cargo-web rust-web-src lld-22 >/dev/null 2>&1; then
    step "Installing Debian's rustc-web (wasm32 compiler and std sources)"
    apt_install rustc-web cargo-web rust-web-src rust-web-llvm lld-22
  fi
  if ! rustup toolchain list 2>/dev/null | grep -q '^debweb'; then
    rustup toolchain link debweb /usr >&2
  fi
  local version key sysroot
  version="$(RUSTUP_TOOLCHAIN=debweb rustc -vV)"
  key="$(printf '%s' "$version" | sha256sum | cut -c1-16)"
  sysroot="$TOOLS/wasm-sysroot-$key"
  if ! [ -f "$sysroot/.complete" ]; then
    step "Building the wasm32 standard library once ($(RUSTUP_TOOLCHAIN=debweb rustc --version))"
    local scratch="$TOOLS/wasm-std-build"
    rm -rf "$scratch" "$sysroot"
    mkdir -p "$scratch/src"
    printf '[package]\nname = "wasm-std"\nversion = "0.0.0"\nedition = "2021"\n[lib]\npath = "src/lib.rs"\n[profile.release]\npanic = "abort"\n' > "$scratch/Cargo.toml"
    echo '#![no_std]' > "$scratch/src/lib.rs"
    (cd "$scratch" && RUSTUP_TOOLCHAIN=debweb RUSTC_BOOTSTRAP=1 cargo build --release -q \
       -Zbuild-std=std,panic_abort --target wasm32-unknown-unknown >&2)
    mkdir -p "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib"
    cp "$scratch"/target/wasm32-unknown-unknown/release/deps/lib*.rlib "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib/"
    ln -sfn /usr/lib/rustlib/x86_64-unknown-linux-gnu "$sysroot/lib/rustlib/x86_64-unknown-linux-gnu"
    rm -rf "$scratch"
    touch "$sysroot/.complete"
  fi
  WASM_ENV=(RUSTUP_TOOLCHAIN=debweb "CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUSTFLAGS=--sysroot $sysroot")
}

# wasm-bindgen's CLI must be exactly the version of the wasm-bindgen crate in Cargo.lock.
ensure_wasm_bindgen() {
  local want have=""
  want="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/"/, "", $3); print $3; exit }' "$ROOT/Cargo.lock")"
  [ -n "$want" ] || die "wasm-bindgen is not in Cargo.lock"
  if [ -x "$TOOLS/bin/wasm-bindgen" ]; then have="$("$TOOLS/bin/wasm-bindgen" --version | awk '{print $2}')"; fi
  if [ "$have" != "$want" ]; then
    step "Installing wasm-bindgen-cli $want (a few minutes, once)"
    # Not --locked: its lockfile pins crates some registries no longer serve.
    cargo install -q wasm-bindgen-cli --version "$want" --root "$TOOLS" --force >&2
  fi
}

# wasm-opt from npm's binaryen (Debian's is too old for what rustc emits), plus other node tools.
ensure_node_tools() {
  command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer"
  if ! [ -x "$ROOT/tools/node_modules/.bin/wasm-opt" ] || [ "$ROOT/tools/package-lock.json" -nt "$ROOT/tools/node_modules/.package-lock.json" ]; then
    step "Installing build tools from npm (binaryen)"
    (cd "$ROOT/tools" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  ln -sfn "$ROOT/tools/node_modules/.bin/wasm-opt" "$TOOLS/bin/wasm-opt"
}

# The real MCP clients and servers the tests drive, at pinned versions: npm packages in
# tests/clients/node_modules, Python packages in .venv.
ensure_test_clients() {
  command -v npm >/dev/null || die "npm not found: install Node.js 20 or newer"
  local clients="$ROOT/tests/clients"
  if ! [ -d "$clients/node_modules/@modelcontextprotocol/sdk" ] || [ "$clients/package-lock.json" -nt "$clients/node_modules/.package-lock.json" ]; then
    step "Installing the Node MCP test clients (pinned)"
    (cd "$clients" && npm ci --no-audit --no-fund --loglevel=error >&2)
  fi
  # conformance 0.2.0-alpha imports fs.globSync (Node 22+) for a command we do not use; on
  # Node 20 that import alone kills it, so drop it.
  sed -i -E 's/globSync as [A-Za-z_$]+,//' "$clients/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  local venv="$ROOT/.venv" stamp="$ROOT/.venv/.requirements"
  if ! [ -x "$venv/bin/python" ] || ! cmp -s "$clients/requirements.txt" "$stamp"; then
    step "Installing the Python MCP test clients (pinned)"
    command -v python3 >/dev/null || die "python3 not found: install Python 3.10 or newer"
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$clients/requirements.txt" >&2
    cp "$clients/requirements.txt" "$stamp"
  fi
}

# Builds the browser bundle and the static assets into target/site.
build_site() {
  local site="$ROOT/target/site" pkg="$ROOT/target/site/pkg" wasm_target="$ROOT/target/wasm"
  step "Building the browser bundle"
  mkdir -p "$pkg"
  (cd "$ROOT" && env "${WASM_ENV[@]}" CARGO_TARGET_DIR="$wasm_target" cargo rustc -q --lib --crate-type cdylib \
     --target wasm32-unknown-unknown --no-default-features --features hydrate --profile wasm-release >&2)
  local built="$wasm_target/wasm32-unknown-unknown/wasm-release/gatehouse.wasm"
  # Leptos loads `<name>_bg.wasm` unless the server was compiled with LEPTOS_OUTPUT_NAME set;
  # keeping wasm-bindgen's own name spares every server build that variable.
  if ! [ -f "$pkg/gatehouse_bg.wasm" ] || [ "$built" -nt "$pkg/gatehouse_bg.wasm" ]; then
    wasm-bindgen --target web --no-typescript --out-dir "$pkg" --out-name gatehouse "$built"
    wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      -o "$pkg/gatehouse_bg.wasm" "$pkg/gatehouse_bg.wasm"
  fi
  cp "$ROOT/style/gatehouse.css" "$pkg/gatehouse.css"
  cp -r "$ROOT/public/." "$site/"
  # Precompressed copies; the server picks them by Accept-Encoding.
  for f in "$pkg/gatehouse_bg.wasm" "$pkg/gatehouse.js" "$pkg/gatehouse.css"; do
    gzip -9 -k -f "$f"
  done
  note "bundle: $(du -h "$pkg/gatehouse_bg.wasm" | cut -f1) wasm, $(du -h "$pkg/gatehouse_bg.wasm.gz" | cut -f1) gzipped"
}

# Everything the browser bundle needs, then the bundle.
prepare_site() {
  ensure_rust
  ensure_wasm_toolchain
  ensure_wasm_bindgen
  ensure_node_tools
  build_site
}
