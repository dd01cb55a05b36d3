#!/usr/bin/env bash
# CPU cost of kvse2eesink as a share of a camera pipeline (issue 6, docs/BENCHMARKS.md):
# the same `videotestsrc ! x264enc` pipeline ending once in `kvse2eesink` (streaming to a
# kvs-local started here) and once in `fakesink`, each run RUNS times; prints the median
# user+system CPU seconds of gst-launch-1.0 (kvs-local's own CPU is not counted: it stands
# in for AWS) and the element's share.
#
#   cargo build --release -p gst-plugin-kvse2ee -p kvs-local -p kvs-e2ee-keys
#   producer/kvse2eesink/benches/cpu-share.sh [FRAMES] [RUNS]
set -euo pipefail
FRAMES=${1:-900}
RUNS=${2:-5}
root=$(cd "$(dirname "$0")/../../.." && pwd)
bin=$root/target/release
work=$(mktemp -d)
trap 'kill "$kvs_pid" 2>/dev/null || true; rm -rf "$work"' EXIT

# shellcheck source=kvs-local.sh
. "$(dirname "$0")/kvs-local.sh"

export GST_PLUGIN_PATH=$bin
src="videotestsrc num-buffers=$FRAMES is-live=false ! video/x-raw,width=1280,height=720,framerate=30/1 \
  ! x264enc speed-preset=veryfast tune=zerolatency key-int-max=30 bitrate=4000 threads=1 ! h264parse \
  ! video/x-h264,stream-format=avc,alignment=au"  # the same caps for both sinks

cpu() { # prints user+system seconds of one gst-launch-1.0 run of "$src ! $1"
  /usr/bin/time -f '%U %S' -o "$work/time" gst-launch-1.0 -q $src ! $1 >/dev/null
  awk '{printf "%.3f\n", $1 + $2}' "$work/time"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

sink="kvse2eesink stream-name=bench-%d endpoint-url=$endpoint aws-region=us-east-1 \
  access-key=$key_id secret-key=$secret retention-period=1 \
  identity=$work/camera.key recipients=$work/recipients.txt"
# Interleaved, so drift in the machine's load hits both sides alike.
for i in $(seq "$RUNS"); do
  cpu "fakesink sync=false" >>"$work/runs-fakesink"
  cpu "$(printf "$sink" "$i")" >>"$work/runs-kvse2eesink"
done
median <"$work/runs-fakesink" >"$work/cpu-fakesink"
median <"$work/runs-kvse2eesink" >"$work/cpu-kvse2eesink"
echo "runs (s CPU): fakesink $(tr '\n' ' ' <"$work/runs-fakesink")| kvse2eesink $(tr '\n' ' ' <"$work/runs-kvse2eesink")"
fake=$(cat "$work/cpu-fakesink"); kvs=$(cat "$work/cpu-kvse2eesink")
awk -v f="$fake" -v k="$kvs" -v n="$FRAMES" 'BEGIN {
  printf "frames: %d (1280x720, 30 fps, x264 4 Mbps)\n", n
  printf "fakesink:    %.3f s CPU (median)\n", f
  printf "kvse2eesink: %.3f s CPU (median)\n", k
  printf "element: %.3f s = %.1f%% of the pipeline, %.2f ms per frame\n", k - f, 100 * (k - f) / k, 1000 * (k - f) / n
}'
