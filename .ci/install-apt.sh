#!/usr/bin/env bash
# Installs the Debian packages the tests need, and only those that are missing.
set -euo pipefail

PACKAGES=(
  clickhouse-server
  clickhouse-client
  # The Kafka transport tests compile librdkafka's mock cluster (test/helpers/kafka-mock/).
  librdkafka-dev
  gcc
  libc6-dev
  # The live PKCS#11 suites (attestation/pkcs11, attestation/probe, attest/probe CLI) run against
  # SoftHSM2: module /usr/lib/softhsm/libsofthsm2.so plus softhsm2-util to make throw-away tokens.
  softhsm2
  # npm ci builds pkcs11js's native addon with node-gyp, which needs a C++ compiler, make and python3.
  g++
  make
  python3
  # The compliance report (reports/) prints its HTML to PDF and screenshots it with headless
  # chromium; its tests read the PDF back with pdftotext.
  chromium
  poppler-utils
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg -s "$pkg" >/dev/null 2>&1; then
    missing+=("$pkg")
  fi
done

if [ "${#missing[@]}" -eq 0 ]; then
  echo "install-apt: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "install-apt: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
