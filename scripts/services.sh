# Functions that make sure the database servers the tests use are up on 127.0.0.1,
# starting them, or installing them from Debian's packages, when they are not.
# Sourced by scripts/test. Loopback only.

log() { printf '== %s\n' "$*" >&2; }

wait_for() { # wait_for SECONDS COMMAND...
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then return 1; fi
    sleep 0.5
  done
}

apt_install() {
  log "installing $* from Debian's packages"
  if [ "$(id -u)" != 0 ]; then log "need root to install $*"; return 1; fi
  apt-get update -q >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null
}

ensure_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
    local fresh=0
    if ! command -v pg_ctlcluster >/dev/null; then apt_install postgresql; fresh=1; fi
    local version
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    if [ "$fresh" = 1 ]; then
      # A fresh cluster asks for passwords over TCP; the tests connect as postgres
      # from loopback only, so trust loopback (and nothing else).
      local hba="/etc/postgresql/$version/main/pg_hba.conf"
      { echo "host all all 127.0.0.1/32 trust"; echo "host all all ::1/128 trust"; cat "$hba"; } > "$hba.new"
      mv "$hba.new" "$hba"
    fi
    log "starting PostgreSQL $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for 60 pg_isready -q -h 127.0.0.1 -p 5432 || { log "PostgreSQL did not come up"; return 1; }
  fi
  if ! psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname = 'test'" | grep -q 1; then
    psql -h 127.0.0.1 -U postgres -d postgres -c "CREATE DATABASE test" >/dev/null
  fi
}

mariadb_up() { mysqladmin -h 127.0.0.1 -u root ping; }

ensure_mariadb() {
  if ! mariadb_up >/dev/null 2>&1; then
    local fresh=0
    if [ ! -x /usr/sbin/mariadbd ]; then apt_install mariadb-server; fresh=1; fi
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_for 60 mariadb_up || wait_for 1 mysqladmin -u root ping || { log "MariaDB did not come up"; return 1; }
    if [ "$fresh" = 1 ]; then
      # Let root in from loopback TCP without a password, as on the project machines.
      mariadb -u root -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')" || true
    fi
  fi
  mariadb -h 127.0.0.1 -u root -e "CREATE DATABASE IF NOT EXISTS test"
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping | grep -q PONG; }

ensure_redis() {
  if ! command -v redis-server >/dev/null; then apt_install redis-server; fi
  if ! redis_up >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
    wait_for 30 redis_up || { log "Redis did not come up"; return 1; }
  fi
}

# The demo's browser test drives Debian's Chromium through chromedriver.
ensure_chromium() {
  if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    apt_install chromium chromium-driver
  fi
}
