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
