# Sourced by the bench scripts (growth-share.sh, fan-in-noise.sh, auto-gain.sh, mnist-growth.sh,
# senn.sh): one run of a bench, kept across reruns. Needs `bin` (the grownet binary).

# kept_run OUT NAME ARG…: `"$bin" train ARG… --out OUT/NAME`, its output in OUT/NAME.log, unless
# OUT/NAME already holds a run that reached its end: then nothing runs and it returns 1. A run
# left unfinished is started again; a run that fails stops the bench.
kept_run() {
  local out=$1 name=$2
  shift 2
  if [ -f "$out/$name/metrics.jsonl" ] && grep -q '"event":"end"' "$out/$name/metrics.jsonl"; then
    return 1
  fi
  rm -rf "${out:?}/$name"
  "$bin" train "$@" --out "$out/$name" > "$out/$name.log" 2>&1 ||
    { echo "$name failed: see $out/$name.log" >&2; exit 1; }
}

# wanted NAME: whether NAME's recipe (NAME without its -sSEED) is one of GROWNET_RECIPES (every
# recipe when it is unset).
wanted() {
  [ -z "${GROWNET_RECIPES:-}" ] || [[ " $GROWNET_RECIPES " == *" ${1%-s*} "* ]]
}
