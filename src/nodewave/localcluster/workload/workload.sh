#!/bin/sh
# The test workload of real-node clusters (image localhost/nodewave/workload): one static
# busybox and this script, whose behaviour the pod chooses by its arguments.
#
#   workload run                 ready at once, runs until SIGTERM (then exits 0)
#   workload ready-after SECONDS ready after SECONDS, runs until SIGTERM
#   workload never-ready         runs until SIGTERM, never ready
#   workload exit CODE [SECONDS] runs SECONDS (default 1), then exits CODE
#   workload crash [SECONDS]     runs SECONDS (default 1), then exits 1 (a crash loop under
#                                restartPolicy Always)
#   workload config [MODE ARGS]  prints the Job's config (the mounted file and the
#                                NODEWAVE_CONFIG variable), then behaves as MODE (default run)
#
# "Ready" is the file /tmp/ready: give the pod a readiness probe `exec: [test, -f, /tmp/ready]`.
# The exit message goes to /dev/termination-log, which Kubernetes shows in the pod's status.
set -u
trap 'echo "workload: SIGTERM"; exit 0' TERM

ready() { touch /tmp/ready; echo "workload: ready"; }
forever() { while :; do sleep 3600 & wait $!; done; }

mode="${1:-run}"
[ $# -gt 0 ] && shift
case "$mode" in
  run) ready; forever ;;
  ready-after) sleep "${1:?seconds}"; ready; forever ;;
  never-ready) echo "workload: never ready"; forever ;;
  exit)
    code="${1:?exit code}"; sleep "${2:-1}"
    echo "workload: exiting with $code" | tee /dev/termination-log
    exit "$code" ;;
  crash)
    sleep "${1:-1}"
    echo "workload: crashing" | tee /dev/termination-log
    exit 1 ;;
  config)
    echo "config file: $(tr -d '\n' < /etc/nodewave/config.json)"
    echo "config env: ${NODEWAVE_CONFIG:-}"
    [ $# -eq 0 ] && set -- run
    exec "$0" "$@" ;;
  *) echo "workload: unknown mode $mode" >&2; exit 64 ;;
esac
