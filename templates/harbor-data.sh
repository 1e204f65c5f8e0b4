# Shell functions of the operations that change Harbor's data on a server (backup,
# restore, upgrade, rollback: harbor_deploy/operations/harbor_data.py), bash. The
# operation puts its settings first as variables:
#   volume backups link marker project tls keep protect database database_note
#   manifest trivy
# and defines healthy() (Harbor's health wait). Nothing here prints a secret.

set -u
umask 077

harbor_compose() {  # <release dir> <compose arguments...>
  docker compose -p "$project" -f "$1/docker-compose.yml" "${@:2}"
}

now() { date -u +%Y-%m-%dT%H:%M:%SZ; }

# An operation on Harbor's data says what it is doing before it starts; a marker left
# behind (a failure, a host gone down under it) stops every later run but a restore.
mark() { mkdir -p "$(dirname "$marker")" && printf '%s\n' "$*" > "$marker"; }
unmark() { rm -f "$marker"; }

database_up() {  # <release dir>: harbor-db answering, the one running or that release's alone
  docker exec harbor-db pg_isready -q -U postgres 2>/dev/null && return 0
  harbor_compose "$1" up -d postgresql >&2 || return 1
  local i
  for i in $(seq 120); do
    docker exec harbor-db pg_isready -q -U postgres 2>/dev/null && return 0
    sleep 1
  done
  echo "harbor-db of $1 did not answer within 120s" >&2
  return 1
}

admin_sql() { docker exec harbor-db psql -v ON_ERROR_STOP=1 -qAt -U postgres -d postgres -c "$1"; }

database_exists() { [ "$(admin_sql "select 1 from pg_database where datname = '$1'" 2>/dev/null)" = 1 ]; }

prune_backups() {  # <names kept whatever their age...>: the newest $keep by their time on this server stay
  local kept=0 dir name
  for dir in $(ls -1dt "$backups"/harbor-*/ 2>/dev/null); do
    name=$(basename "$dir")
    case "$name" in *.partial) continue ;; esac
    kept=$((kept + 1))
    case " $* " in *" $name "*) continue ;; esac
    if [ "$kept" -gt "$keep" ]; then
      rm -rf "$dir" && echo "removed the older backup $name" >&2
    fi
  done
}

make_backup() {  # <version> <release dir> <with registry: 0|1>: a complete backup or none; sets backup_name
  local version=$1 release=$2 with_registry=$3 created name partial need free files dumped
  created=$(date -u +%Y%m%dT%H%M%SZ)
  name="harbor-$created-$version"
  partial="$backups/$name.partial"
  mkdir -p "$backups" || return 1
  need=$(($(du -sb "$volume/secret" | cut -f1) + 64 * 1048576))
  dumped=$database
  if [ "$database" = pg_dump ]; then
    if database_exists registry; then
      need=$((need + $(admin_sql "select pg_database_size('registry')")))
    else
      dumped="none: harbor-db holds no database registry here"
    fi
  fi
  if [ "$with_registry" = 1 ]; then need=$((need + $(du -sb "$volume/registry" | cut -f1))); fi
  free=$(df -B1 --output=avail "$backups" | tail -n 1)
  if [ "$free" -lt "$need" ]; then
    echo "backup refused: $backups needs $((need / 1048576 + 1)) MiB free, it has $((free / 1048576)) MiB" >&2
    return 1
  fi
  rm -rf "$partial" && mkdir "$partial" || return 1
  if ! (
    cd "$partial" &&
      if [ "$dumped" = pg_dump ]; then docker exec harbor-db pg_dump -U postgres -Fc registry > registry.pgdump; fi &&
      tar -C "$volume" -czf secret.tgz secret &&
      tar -C "$release" -czf config.tgz harbor.yml &&
      if [ -d "$tls" ]; then
        tar -C "$(dirname "$tls")" -czf tls.tgz "$(basename "$tls")"
      else
        tar -czf tls.tgz -T /dev/null
      fi &&
      if [ "$with_registry" = 1 ]; then tar -C "$volume" -cf registry.tar registry; fi &&
      printf '{"name": "%s", "created": "%s", "version": "%s", "database": "%s", "registry": %s, "database_dirs": "%s", %s}\n' \
        "$name" "$created" "$version" "$([ "$dumped" = pg_dump ] && echo pg_dump || echo "$database_note")" \
        "$([ "$with_registry" = 1 ] && echo true || echo false)" \
        "$(ls "$volume/database" 2>/dev/null | tr '\n' ' ')" "$manifest" > manifest.json &&
      files=$(ls) && sha256sum $files > SHA256SUMS
  ); then
    rm -rf "$partial"
    echo "backup $name failed: nothing of it is kept" >&2
    return 1
  fi
  mv "$partial" "$backups/$name" && ln -sfn "$name" "$backups/.last" || return 1
  prune_backups "$name" $protect
  backup_name=$name
  echo "backed up to $backups/$name" >&2
}

swap_data() {  # in|out <stamp> <restore registry: 0|1>: the restored data in the live data's place, or back
  local kept="before-restore-$2" db="registry_before_restore_$(echo "$2" | tr 'TZ' 'tz')"
  if [ "$1" = in ]; then
    if database_exists registry_restoring; then
      if database_exists registry; then admin_sql "ALTER DATABASE registry RENAME TO $db" || return 1; fi
      admin_sql "ALTER DATABASE registry_restoring RENAME TO registry" || return 1
    fi
    mv "$volume/secret" "$volume/secret.$kept" && mv "$volume/.restoring/secret" "$volume/secret" || return 1
    if [ "$3" = 1 ]; then
      mv "$volume/registry" "$volume/registry.$kept" && mv "$volume/.restoring/registry" "$volume/registry" || return 1
    fi
  else
    if database_exists "$db"; then
      admin_sql "DROP DATABASE IF EXISTS registry" && admin_sql "ALTER DATABASE $db RENAME TO registry" || return 1
    fi
    if [ -d "$volume/secret.$kept" ]; then rm -rf "$volume/secret" && mv "$volume/secret.$kept" "$volume/secret"; fi
    if [ "$3" = 1 ] && [ -d "$volume/registry.$kept" ]; then
      rm -rf "$volume/registry" && mv "$volume/registry.$kept" "$volume/registry"
    fi
  fi
}

start_release() {  # <release dir>: its configuration generated, Harbor started and healthy
  ln -sfn "$1" "$link" && (cd "$1" && TERM=xterm ./prepare $trivy) >&2 && systemctl start harbor.service && healthy
}

# The backup's data in place of the live data, Harbor then running <target release>;
# or, when anything fails, the live data and <current release> as they were. Only the
# swap stops Harbor: the database is restored beside the live one, the files beside
# theirs, first. The registry's storage the restore replaces is kept, named.
restore_data() {  # <backup folder> <target release dir> <current release dir>
  local from=$1 target=$2 current=$3 stamp side registry=0
  stamp=$(date -u +%Y%m%dT%H%M%SZ)
  side="$volume/.restoring"
  (cd "$from" && sha256sum -c --quiet SHA256SUMS) || {
    echo "$from does not match its SHA256SUMS: the live data is as it was" >&2
    return 1
  }
  [ ! -f "$from/registry.tar" ] || registry=1
  database_up "$current" && rm -rf "$side" && mkdir -p "$side" || return 1
  if [ -f "$from/registry.pgdump" ]; then
    if ! admin_sql "DROP DATABASE IF EXISTS registry_restoring" || ! admin_sql "CREATE DATABASE registry_restoring" ||
      ! docker exec -i harbor-db pg_restore --exit-on-error --single-transaction -U postgres \
        -d registry_restoring < "$from/registry.pgdump" >&2; then
      admin_sql "DROP DATABASE IF EXISTS registry_restoring" >&2
      rm -rf "$side"
      echo "the database of $from does not load: the live data is as it was" >&2
      return 1
    fi
  fi
  if ! tar -C "$side" -xzf "$from/secret.tgz" || { [ "$registry" = 1 ] && ! tar -C "$side" -xf "$from/registry.tar"; }; then
    admin_sql "DROP DATABASE IF EXISTS registry_restoring" >&2
    rm -rf "$side"
    echo "the files of $from do not unpack: the live data is as it was" >&2
    return 1
  fi
  echo "restored beside the live data; Harbor stops for the swap" >&2
  if systemctl stop harbor.service && database_up "$target" && swap_data in "$stamp" "$registry" &&
    harbor_compose "$target" down >&2 && start_release "$target"; then
    admin_sql "DROP DATABASE IF EXISTS registry_before_restore_$(echo "$stamp" | tr 'TZ' 'tz')" >&2
    rm -rf "$volume/secret.before-restore-$stamp" "$side"
    if [ "$registry" = 1 ]; then
      echo "the registry's storage from before the restore is kept in $volume/registry.before-restore-$stamp:" \
        "remove it once it is no longer needed" >&2
    fi
    return 0
  fi
  echo "Harbor is not healthy on the restored data: the live data goes back" >&2
  systemctl stop harbor.service
  database_up "$current" && swap_data out "$stamp" "$registry"
  admin_sql "DROP DATABASE IF EXISTS registry_restoring" >&2
  rm -rf "$side"
  harbor_compose "$current" down >&2
  start_release "$current" || echo "Harbor $current is not healthy either" >&2
  return 1
}

# After a rollback: the database folders the newer release's harbor-db made (it moves
# <volume>/database/pgNN to a newer major) go aside, so that a later upgrade does not
# start on them: kept, named, for the operator to remove.
set_aside_newer_database_dirs() {  # <folders the older release had...>
  local dir
  for dir in "$volume"/database/pg*; do
    [ -d "$dir" ] || continue
    case " $* " in *" $(basename "$dir") "*) continue ;; esac
    case "$dir" in *.after-rollback-*) continue ;; esac
    mv "$dir" "$dir.after-rollback-$(date -u +%Y%m%dT%H%M%SZ)" &&
      echo "$dir, made by the newer release, is kept aside as $dir.after-rollback-*" >&2
  done
}
