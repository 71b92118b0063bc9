#!/usr/bin/env bash
# Starts the Spring reference app on 127.0.0.1:PORT in the foreground (builds it once).
# Stopping this process stops the app. Test and benchmark equipment, not part of the product.
set -euo pipefail
port="${1:?usage: tests/spring/run.sh PORT}"
cd "$(dirname "$0")"
jar=target/spring-reference.jar
if [[ ! -f "$jar" || -n "$(find src pom.xml -newer "$jar" -print -quit)" ]]; then
  mvn -q -B -DskipClientTests=true package >&2
fi
exec java ${SPRING_JAVA_OPTS:-} -jar "$jar" --server.port="$port" --server.address=127.0.0.1
