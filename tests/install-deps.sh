#!/usr/bin/env bash
# Installs the Debian packages async-inspect needs to build and test. A no-op when all are there;
# otherwise `apt-get update` then `apt-get install` (as root, or through sudo).
set -euo pipefail

packages=(
	build-essential pkg-config
	libdwarf-dev libelf-dev libunwind-dev libncurses-dev libjansson-dev zlib1g-dev libzstd-dev
	libcapstone-dev
	# serve: the HTTP server, and the real browser its page is tested in (headless)
	libmicrohttpd-dev chromium chromium-driver python3-selenium
	# dump --otlp URL: the HTTP client
	libcurl4-openssl-dev
	libcriterion-dev
	gdb elfutils tmux time
	# debuginfod (loaded with dlopen when DEBUGINFOD_URLS is set), and its test's HTTP server
	libdebuginfod1 python3
	# make fuzz: libFuzzer and the sanitizers of clang
	clang libclang-rt-dev
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if ((${#missing[@]} > 0)); then
	echo "Installing: ${missing[*]}" >&2
	sudo=""
	if [[ $(id -u) -ne 0 ]]; then
		command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
		sudo=sudo
	fi
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# Rust fixtures are built with the machine's cargo and rustc.
if ! command -v cargo >/dev/null && [[ ! -x "$HOME/.cargo/bin/cargo" ]]; then
	echo "install-deps: cargo and rustc are needed to build the test fixtures (https://rustup.rs)" >&2
	exit 1
fi
