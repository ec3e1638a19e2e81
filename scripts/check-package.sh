#!/usr/bin/env bash
# The udprx package as crates.io would serve it (issue 24): its tests build and pass from the
# packaged files alone (no `testsupport/`, no workspace), and a non-Linux target stops at udprx's
# own compile_error! instead of an error deep inside a dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
cargo package -p udprx --allow-dirty --no-verify --quiet
version=$(cargo pkgid -p udprx | sed 's/.*[#@]//')
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
tar -xzf "target/package/udprx-$version.crate" -C "$dir"
# The .crate stores fixed old mtimes and the unit's hash does not include the unpack path, so
# without this a reused target directory would take the previous package's build as fresh.
find "$dir" -type f -exec touch {} +
echo "packaged udprx $version: cargo test in $dir/udprx-$version"
target_dir=$PWD/target/package-test
(cd "$dir/udprx-$version" && cargo test --locked --target-dir "$target_dir" --all-features)

target=x86_64-apple-darwin
if ! rustup target add "$target" >/dev/null; then
    echo "SKIP non-Linux check: the $target standard library could not be installed here" >&2
    exit 0
fi
if out=$(cargo check -p udprx --lib --target "$target" 2>&1); then
    echo "udprx compiled for $target; it must refuse non-Linux targets" >&2
    exit 1
fi
if ! grep -q "udprx supports Linux only" <<<"$out"; then
    echo "udprx on $target failed without its own message:" >&2
    echo "$out" >&2
    exit 1
fi
echo "non-Linux ($target): refused with udprx's compile_error!"
