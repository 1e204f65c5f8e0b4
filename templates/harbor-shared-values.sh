#!/bin/sh
# Managed by harbor-deploy. Writes the values Harbor's prepare draws afresh on every run
# (JOBSERVICE_SECRET, CORE_SECRET, CSRF_KEY, ROBOT_SCANNER_NAME_PREFIX: KEY=value lines
# of <values file>) into the env files prepare generated under <config dir>, so that
# every node of one Harbor holds the same. harbor.service runs it before every start.
# Usage: shared-values.sh <values file> <config dir>
set -eu
umask 077
values=$1 config=$2
for env in "$config/core/env" "$config/jobservice/env" "$config/registryctl/env"; do
  [ -f "$env" ] || continue
  awk -F= 'NR == FNR { wanted[$1] = substr($0, length($1) + 2); next }
    ($1 in wanted) { $0 = $1 "=" wanted[$1] } { print }' "$values" "$env" > "$env.shared"
  # In place: the file keeps its owner and mode.
  cat "$env.shared" > "$env"
  rm -f "$env.shared"
done
