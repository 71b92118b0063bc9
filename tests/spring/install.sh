#!/usr/bin/env bash
# Installs what the Spring tests need: a JDK (17+) and Maven from Debian when missing, then
# builds the reference app once, which downloads every Maven dependency the tests use.
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v java >/dev/null || ! command -v mvn >/dev/null; then
  apt-get install -y -qq --no-install-recommends default-jdk-headless maven >/dev/null
fi
mvn -q -B -DskipClientTests=true package
# The client tests' own plugins and dependencies (surefire's JUnit provider), without a server.
mvn -q -B -DskipClientTests=true test-compile surefire:test >/dev/null
echo "tests/spring: $(java -version 2>&1 | head -1); reference app at tests/spring/target/spring-reference.jar"
