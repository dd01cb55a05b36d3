#!/usr/bin/env bash
# kvse2eesink against AWS's kvssink in the same camera pipeline (issue 11, docs/BENCHMARKS.md):
# `videotestsrc is-live=true ! WxH 30 fps ! x264enc ! h264parse ! avc` ending in fakesink,
# kvssink (plaintext, producer-sdk-cpp 3.5.0) and kvse2eesink (encrypting), interleaved,
# each streaming to its own stream on one kvs-local started here (its CPU is not counted: it
# stands in for AWS). 2 s fragments: key-int-max=60 and no scene-cut I frames (h264parse flags
# those as key frames too, and kvssink would start a fragment at each). Per run: user+system CPU and peak RSS
# of gst-launch-1.0, and the time from launch to the stream's first PERSISTED ack (from
# kvs-local's log). The sink's own CPU is the run's CPU minus fakesink's median.
#
#   bash ../shared/conformance/aws-kvs-sdk/build.sh        # kvssink, into ~/.cache/aws-kvs-sdk
#   cargo build --release -p gst-plugin-kvse2ee -p kvs-local -p kvs-e2ee-keys
#   producer/kvse2eesink/benches/vs-kvssink.sh [FRAMES] [RUNS] [RESOLUTIONS]
#       default: 300 frames (10 s), 3 runs, "1280x720 1920x1080"
set -euo pipefail
FRAMES=${1:-300}
RUNS=${2:-3}
RESOLUTIONS=${3:-"1280x720 1920x1080"}
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=$root/target/release
sdk=${AWS_KVS_SDK_PREFIX:-$HOME/.cache/aws-kvs-sdk}
[ -f "$sdk/gst/libgstkvssink.so" ] || { echo "kvssink not built in $sdk (run build.sh)" >&2; exit 1; }
work=$(mktemp -d)
trap 'kill "$kvs_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

export RUST_LOG=kvs_local=debug  # its PERSISTED lines time the first ack
# shellcheck source=kvs-local.sh
. "$(dirname "$0")/kvs-local.sh"

export GST_PLUGIN_PATH="$bin:$sdk/gst" LD_LIBRARY_PATH="$sdk/gst${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export CONTROL_PLANE_URI=$endpoint AWS_ACCESS_KEY_ID=$key_id AWS_SECRET_ACCESS_KEY=$secret AWS_DEFAULT_REGION=us-east-1

# One run: prints "cpu_s rss_kb first_persisted_s".
run() { # $1 = WxH, $2 = sink kind, $3 = stream name
  local w=${1%x*} h=${1#*x} sink
  case $2 in
    fakesink) sink="fakesink sync=false" ;;
    kvssink) sink="kvssink stream-name=$3 storage-size=128 fragment-duration=2000 log-config=$sdk/kvs_log_configuration" ;;
    kvse2eesink) sink="kvse2eesink stream-name=$3 endpoint-url=$endpoint aws-region=us-east-1 \
      access-key=$key_id secret-key=$secret fragment-duration=2000 storage-size=128 \
      identity=$work/camera.key recipients=$work/recipients.txt" ;;
  esac
  local start
  start=$(date +%s.%N)
  # shellcheck disable=SC2086
  /usr/bin/time -f '%U %S %M' -o "$work/time" gst-launch-1.0 -q -e \
    videotestsrc is-live=true num-buffers="$FRAMES" ! video/x-raw,format=I420,width="$w",height="$h",framerate=30/1 \
    ! x264enc speed-preset=veryfast tune=zerolatency key-int-max=60 bframes=0 bitrate=4000 threads=1 option-string=scenecut=0 \
    ! h264parse ! video/x-h264,stream-format=avc,alignment=au,profile=baseline ! $sink \
    >"$work/gst-$3.log" 2>&1
  local first=NaN
  if [ "$2" != fakesink ]; then
    local line
    line=$(grep -a "PERSISTED" "$work/kvs.err" | grep -a "stream=$3 " | head -1 || true)
    if [ -n "$line" ]; then
      local ts
      ts=$(echo "$line" | sed 's/\x1b\[[0-9;]*m//g' | awk '{print $1}')
      first=$(echo "$(date -d "$ts" +%s.%N) - $start" | bc)
    fi
  fi
  awk -v f="$first" '{printf "%.3f %d %s\n", $1 + $2, $3, f}' "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

n=0
for res in $RESOLUTIONS; do
  for i in $(seq "$RUNS"); do # interleaved, so drift in the machine's load hits all alike
    for kind in fakesink kvssink kvse2eesink; do
      n=$((n + 1))
      run "$res" "$kind" "bench-$n" >>"$work/$res-$kind"
    done
  done
  echo "== $res, $FRAMES frames at 30 fps, x264 4 Mbps veryfast 1 thread, 2 s fragments, $RUNS runs"
  for kind in fakesink kvssink kvse2eesink; do
    printf '%-12s CPU s: %s| peak RSS MB: %s| first PERSISTED s: %s\n' "$kind" \
      "$(awk '{printf "%s ", $1}' "$work/$res-$kind")" \
      "$(awk '{printf "%.1f ", $2 / 1024}' "$work/$res-$kind")" \
      "$(awk '{printf "%s ", $3}' "$work/$res-$kind")"
  done
  fake=$(awk '{print $1}' "$work/$res-fakesink" | median)
  for kind in kvssink kvse2eesink; do
    awk '{print $1}' "$work/$res-$kind" | median >"$work/$res-$kind-cpu"
    awk '{print $2}' "$work/$res-$kind" | median >"$work/$res-$kind-rss"
    awk '{print $3}' "$work/$res-$kind" | median >"$work/$res-$kind-first"
  done
  awk -v f="$fake" \
    -v kc="$(cat "$work/$res-kvssink-cpu")" -v ec="$(cat "$work/$res-kvse2eesink-cpu")" \
    -v kr="$(cat "$work/$res-kvssink-rss")" -v er="$(cat "$work/$res-kvse2eesink-rss")" \
    -v kf="$(cat "$work/$res-kvssink-first")" -v ef="$(cat "$work/$res-kvse2eesink-first")" 'BEGIN {
    printf "medians: fakesink %.3f s; kvssink %.3f s (sink %.3f s), %.1f MB, first PERSISTED %.2f s\n", f, kc, kc - f, kr / 1024, kf
    printf "         kvse2eesink %.3f s (sink %.3f s), %.1f MB, first PERSISTED %.2f s\n", ec, ec - f, er / 1024, ef
    printf "ratios kvse2eesink/kvssink: process CPU %.2f, sink CPU %.2f, peak RSS %.2f\n", ec / kc, (ec - f) / (kc - f), er / kr
  }'
done
