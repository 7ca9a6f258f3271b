#!/usr/bin/env bash
# Times hermetic-repart's ext4 build against `mke2fs -d` and the `tar -cf`
# floor (every source byte read once, one output file written), in the
# same run and on the same generated tree. See bench/README.md.
#
#   bench/ext4-compare.sh [--entries N] [--bytes SIZE] [--seed N] [--runs N]
#                         [--cache warm|cold|both] [--tree DIR] [--work DIR]
#                         [--minimize] [--no-check] [--timeout SECONDS]
#   bench/ext4-compare.sh --scaling [--points "ENTRIES:SIZE ..."] [...]
set -euo pipefail

entries=60000
bytes=1G
seed=1
runs=
cache=warm
tree=
work=
minimize=no
check=yes
timeout=0
scaling=no
points="10000:64M 100000:640M 1000000:6400M"
tools="ours mke2fs tar"
# The seed of our build; mke2fs gets the file-system UUID derived from it.
image_seed=0b7a3c2e-8f61-4d2a-9c3e-5a1f6b7d8e90

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'
Options:
  --entries N       names in the tree (default 60000)
  --bytes SIZE      data bytes of the tree, K/M/G suffixes (default 1G)
  --seed N          workload seed (default 1)
  --runs N          timed runs per tool; the median is reported
                    (default 3; 1 with --scaling)
  --cache MODE      warm: the tree is read once before each tool's runs
                    (default); cold: caches are dropped before every run
                    (needs root); both: warm, then cold
  --tree DIR        where the tree is (re)used or generated (default
                    $TMPDIR/hermetic-repart-bench/tree-e<N>-b<SIZE>-s<SEED>)
  --work DIR        binaries and outputs (default $TMPDIR/hermetic-repart-bench)
  --minimize        use Minimize=best instead of a fixed partition size
  --no-check        skip e2fsck -fn of our image
  --timeout SEC     give up on a run after SEC seconds and report "timeout"
                    (default: none; 3600 with --scaling)
  --scaling         time ours, mke2fs and tar at each of --points
  --points LIST     scaling points, ENTRIES:SIZE (default
                    "10000:64M 100000:640M 1000000:6400M")
  --tools LIST      which of "ours mke2fs tar" to time (default all three)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--entries) entries=$2; shift ;;
	--bytes) bytes=$2; shift ;;
	--seed) seed=$2; shift ;;
	--runs) runs=$2; shift ;;
	--cache) cache=$2; shift ;;
	--tree) tree=$2; shift ;;
	--work) work=$2; shift ;;
	--minimize) minimize=yes ;;
	--no-check) check=no ;;
	--timeout) timeout=$2; shift ;;
	--scaling) scaling=yes ;;
	--points) points=$2; shift ;;
	--tools) tools=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done
case $cache in warm | cold | both) ;; *) echo "--cache must be warm, cold or both" >&2; exit 2 ;; esac
if [ "$scaling" = yes ]; then
	runs=${runs:-1}
	[ "$timeout" = 0 ] && timeout=3600
fi
runs=${runs:-3}

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${work:-${TMPDIR:-/tmp}/hermetic-repart-bench}
bin=$work/bin
out=$work/out
mkdir -p "$bin" "$out"

for tool in mke2fs tar dumpe2fs; do
	command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done
if [ "$cache" != warm ] && ! [ -w /proc/sys/vm/drop_caches ]; then
	echo "--cache=$cache needs to write /proc/sys/vm/drop_caches (root)" >&2
	exit 1
fi

echo "building into $bin" >&2
(cd "$repo" && go build -o "$bin/hermetic-repart" ./cmd/hermetic-repart &&
	go build -o "$bin/gentree" ./bench/cmd/gentree &&
	go build -o "$bin/runstat" ./bench/cmd/runstat)

. "$repo/bench/lib.sh"

# prepare_cache: warm reads the whole tree (data and metadata) so that
# every tool starts from the same page, dentry and inode caches; cold
# writes back and drops them.
prepare_cache() {
	sync
	if [ "$mode" = cold ]; then
		echo 3 >/proc/sys/vm/drop_caches
	fi
}
warm_tree() { tar -cf - -C "$1" . | cat >/dev/null; }

# timed NAME CMD...: run CMD under runstat; appends "WALL USER SYS RSS
# STATUS" to $out/NAME.times. A timeout is recorded, not fatal.
timed() {
	local name=$1; shift
	local rc=0
	"$bin/runstat" -o "$out/$name.last" -timeout "${timeout}s" -- "$@" \
		>>"$out/$name.log" 2>&1 || rc=$?
	cat "$out/$name.last" >>"$out/$name.times"
	if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
		echo "$name failed (status $rc), see $out/$name.log" >&2
		tail -5 "$out/$name.log" >&2
		exit 1
	fi
}

# The three builds. Each starts from a missing output file (the removal
# and, for mke2fs, the truncation to the file-system size are not timed)
# and ends with the output on disk: ours and mke2fs fsync their output
# themselves, tar is followed by sync(1) of its archive.
run_ours() {
	rm -f "$out/ours.img"
	timed ours "$bin/hermetic-repart" --empty=create --size=auto --seed="$image_seed" \
		--definitions="$out/defs" --copy-source="$1" --dry-run=no --pretty=no --json=short \
		"$out/ours.img"
}
run_mke2fs() {
	rm -f "$out/mke2fs.img"
	truncate -s "$fs_size" "$out/mke2fs.img"
	timed mke2fs mke2fs -q -F -t ext4 -d "$1" -T default -I 256 -m 0 -b 4096 \
		-E lazy_itable_init=1,nodiscard -U "$fs_uuid" -N "$fs_inodes" -L root "$out/mke2fs.img"
}
run_tar() {
	rm -f "$out/tar.tar"
	timed tar sh -c 'tar -cf "$1" -C "$2" . && sync "$1"' sh "$out/tar.tar" "$1"
}

# setup_fs DIR: write the definitions, build once untimed to learn the
# file-system size, UUID and inode count mke2fs gets, and check it.
setup_fs() {
	local dir=$1 stats=$1.json size
	rm -rf "$out/defs" && mkdir -p "$out/defs"
	if [ "$minimize" = yes ]; then
		printf '[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nMinimize=best\n' >"$out/defs/10-root.conf"
	else
		# Room for the allocated data (as on the source file system), 10%
		# slack, inode tables for the entries and a journal.
		local alloc e
		alloc=$(du -s -B1 "$dir" | cut -f1)
		e=$(json_field entries <"$stats")
		size=$(((alloc * 11 / 10 + e * 1024 + 192 * 1024 * 1024 + 1048575) / 1048576 * 1048576))
		printf '[Partition]\nType=root\nFormat=ext4\nCopyFiles=/:/\nSizeMinBytes=%s\nSizeMaxBytes=%s\n' \
			"$size" "$size" >"$out/defs/10-root.conf"
	fi
	rm -f "$out"/*.times "$out"/*.log
	run_ours "$dir"
	local json offset
	json=$(cat "$out/ours.log")
	offset=$(echo "$json" | json_field offset)
	fs_size=$(echo "$json" | json_field raw_size)
	local dump
	dump=$(dumpe2fs -h "$out/ours.img?offset=$offset" 2>/dev/null)
	fs_uuid=$(echo "$dump" | sed -n 's/^Filesystem UUID: *//p')
	fs_inodes=$(echo "$dump" | sed -n 's/^Inode count: *//p')
	if [ "$check" = yes ]; then
		echo "checking our image with e2fsck -fn" >&2
		e2fsck -fn "$out/ours.img?offset=$offset" >"$out/e2fsck.log" 2>&1 ||
			{ echo "e2fsck found problems in our image, see $out/e2fsck.log" >&2; exit 1; }
	fi
	rm -f "$out/ours.img" "$out"/*.times
	: >"$out/ours.log"
}

ratio() {
	case "$1 $2" in *timeout* | "- "* | *" -") echo "-" ;; *) awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a/b}' ;; esac
}

# measure DIR MODE: interleaved timed runs of the three tools, so that
# noise from other processes spreads over all of them.
measure() {
	local dir=$1 mode=$2
	rm -f "$out"/*.times
	[ "$mode" = warm ] && warm_tree "$dir"
	for _ in $(seq "$runs"); do
		for t in $tools; do
			prepare_cache "$mode"
			"run_$t" "$dir"
			rm -f "$out/ours.img" "$out/mke2fs.img" "$out/tar.tar"
		done
	done
}

describe_tree() {
	local s=$1.json
	printf 'tree: %s\n  %s entries (%s dirs, %s files, %s symlinks, %s hard links), %s data bytes, %s apparent\n' \
		"$1" "$(json_field entries <"$s")" "$(json_field dirs <"$s")" "$(json_field files <"$s")" \
		"$(json_field symlinks <"$s")" "$(json_field hard_links <"$s")" \
		"$(json_field data_bytes <"$s")" "$(json_field apparent_bytes <"$s")"
}

report() {
	local mode=$1
	printf '\ncache: %s (%s), %s timed runs per tool, interleaved; median shown\n' "$mode" \
		"$([ "$mode" = warm ] && echo "tree read once before the runs" || echo "caches dropped before every run")" "$runs"
	printf 'file system: %s bytes, %s inodes, UUID %s\n' "$fs_size" "$fs_inodes" "$fs_uuid"
	printf '%-16s %10s %8s %8s %10s   %s\n' tool "median s" "user s" "sys s" "RSS MiB" "all runs (s)"
	for t in tar ours mke2fs; do
		local f=$out/$t.times
		[ -s "$f" ] || continue
		printf '%-16s %10s %8s %8s %10s   %s\n' "$t" "$(median "$f" 1)" "$(median "$f" 2)" "$(median "$f" 3)" \
			"$(awk '{if ($4 > m) m = $4} END {printf "%.1f", m/1024}' "$f")" "$(awk '{printf "%s%s ", $1, ($5 == "0" ? "" : "(" $5 ")")}' "$f")"
	done
	local o m t
	o=$(median "$out/ours.times" 1); m=$(median "$out/mke2fs.times" 1); t=$(median "$out/tar.times" 1)
	printf 'ours/tar    = %s   (target: at most 2)\n' "$(ratio "$o" "$t")"
	printf 'mke2fs/ours = %s   (target: at least 5)\n' "$(ratio "$m" "$o")"
}

if [ "$scaling" = no ]; then
	b=$(to_bytes "$bytes")
	tree=${tree:-$work/tree-e$entries-b$bytes-s$seed}
	gen_tree "$entries" "$b" "$tree"
	setup_fs "$tree"
	machine
	describe_tree "$tree"
	modes=$cache
	[ "$cache" = both ] && modes="warm cold"
	for mode in $modes; do
		measure "$tree" "$mode"
		report "$mode"
	done
	exit 0
fi

# Scaling: one tree per point, generated under $work unless it exists.
machine
printf 'cache: warm (tree read once before the runs), %s timed run(s) per tool, median; timeout %ss\n' "$runs" "$timeout"
printf '%9s %12s | %9s %9s %9s %8s | %9s %9s | %9s | %8s %8s\n' entries "data bytes" "ours s" "us/entry" "ns/byte" "RSS MiB" \
	"mke2fs s" "us/entry" "tar s" "ours/tar" "mke2fs/ours"
for p in $points; do
	e=${p%%:*}
	b=$(to_bytes "${p#*:}")
	dir=$work/tree-e$e-b${p#*:}-s$seed
	gen_tree "$e" "$b" "$dir"
	setup_fs "$dir"
	measure "$dir" warm
	o=$(median "$out/ours.times" 1); m=$(median "$out/mke2fs.times" 1); t=$(median "$out/tar.times" 1)
	rss=$(awk '{if ($4 > m) m = $4} END {printf "%.1f", m/1024}' "$out/ours.times" 2>/dev/null || echo -)
	per() { case $1 in timeout | -) echo "-" ;; *) awk -v s="$1" -v n="$2" -v k="$3" 'BEGIN {printf "%.2f", s*k/n}' ;; esac; }
	printf '%9s %12s | %9s %9s %9s %8s | %9s %9s | %9s | %8s %8s\n' "$e" "$b" "$o" "$(per "$o" "$e" 1e6)" \
		"$(per "$o" "$b" 1e9)" "$rss" "$m" "$(per "$m" "$e" 1e6)" "$t" "$(ratio "$o" "$t")" "$(ratio "$m" "$o")"
done
