#!/usr/bin/env bash
# Make sure the services and tools the test suite uses are installed (Debian packages) and running.
# MongoDB needs nothing here: the tests start a SecantusDB server, or use MONGO_URL.
set -euo pipefail

need=()
command -v memcached >/dev/null 2>&1 || need+=(memcached)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
# Static checks of docker-compose.yml (v1 `docker-compose config -q`) and the benchmark load tool.
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v wrk >/dev/null 2>&1 || need+=(wrk)

if [ ${#need[@]} -gt 0 ]; then
  echo "ensure-services: installing ${need[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "ensure-services: need root to install ${need[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# RabbitMQ is expected at 127.0.0.1:5672; start it when it is installed but stopped.
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  if command -v rabbitmq-server >/dev/null 2>&1; then
    echo "ensure-services: starting rabbitmq-server"
    rabbitmq-server -detached
  fi
fi
exit 0
