# Sourced by the benches here: starts a release kvs-local (no IoT) on a fresh data dir in
# $work (logs in $work/kvs.out / kvs.err, at RUST_LOG if set), waits for it, and sets
# $kvs_pid, $endpoint, $key_id, $secret; writes a camera key and a recipients file with
# one viewer ($work/camera.key, $work/recipients.txt). Needs $bin and $work; the caller's
# EXIT trap kills $kvs_pid.
"$bin/kvs-local" --data-dir "$work/kvs" --no-iot >"$work/kvs.out" 2>"$work/kvs.err" &
kvs_pid=$!
for _ in $(seq 100); do grep -q '^control plane:' "$work/kvs.out" 2>/dev/null && break; sleep 0.1; done
endpoint=$(sed -n 's/^control plane: //p' "$work/kvs.out")
[ -n "$endpoint" ] || { cat "$work/kvs.err"; exit 1; }
key_id=$(sed -n 's/^aws_access_key_id *= *//p' "$work/kvs/credentials")
secret=$(sed -n 's/^aws_secret_access_key *= *//p' "$work/kvs/credentials")
"$bin/kvs-e2ee-keys" generate --kind camera --out "$work/camera.key" >/dev/null 2>&1
"$bin/kvs-e2ee-keys" generate --kind viewer --out "$work/viewer.key" >"$work/recipients.txt" 2>/dev/null
