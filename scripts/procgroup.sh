#!/usr/bin/env bash
# procgroup.sh COMMAND [ARG...]: run one Procfile process so that nothing it forks outlives it.
#
# honcho starts each Procfile line in a process group of its own and stops it by signalling
# that group, but it notices that a process ended only when the process's output pipe
# closes. When a django-q2 cluster's main process is killed (kill -9, the OOM killer), its
# sentinel, workers and monitor keep running and keep that pipe open: honcho would neither
# notice nor stop the other processes (measured with honcho 2.0.0). This wrapper stays in
# the group; when COMMAND ends, for whatever reason, it stops whatever COMMAND left in the
# group (SIGTERM, then SIGKILL after PROCGROUP_GRACE seconds) and exits with COMMAND's status.
# Meant for a Procfile line (its own process group): everything else in the group is stopped.
set -u
grace=${PROCGROUP_GRACE:-5}
case "$grace" in
  ''|*[!0-9]*) echo "procgroup: PROCGROUP_GRACE must be a whole number of seconds, got '$grace'" >&2; exit 2 ;;
esac

"$@" &
child=$!
echo "procgroup: started pid $child: $*"
# honcho's SIGTERM reaches the whole group: COMMAND handles it, and this shell keeps waiting
# for COMMAND (an ignored signal does not interrupt `wait`).
trap '' TERM INT
wait "$child"
status=$?

read -r stat < "/proc/$$/stat"
read -r _ _ group _ <<< "${stat##*) }"  # state, ppid, pgrp
left=()
find_left() {  # the processes of this group other than this shell and the shell that ran it
  local file pid rest pgrp
  left=()
  for file in /proc/[0-9]*/stat; do
    { read -r rest < "$file"; } 2>/dev/null || continue
    pid=${rest%% *}
    read -r _ _ pgrp _ <<< "${rest##*) }"  # state, ppid, pgrp (the command name may hold spaces)
    [ "$pgrp" = "$group" ] && [ "$pid" != $$ ] && [ "$pid" != "$PPID" ] && left+=("$pid")
  done
  [ "${#left[@]}" -gt 0 ]
}

if find_left; then
  echo "procgroup: pid $child exited with status $status; stopping ${#left[@]} process(es) it left: ${left[*]}"
  kill -TERM "${left[@]}" 2>/dev/null
  for _ in $(seq 1 $((grace * 10))); do
    find_left || break
    sleep 0.1
  done
  find_left && kill -KILL "${left[@]}" 2>/dev/null
fi
exit "$status"
