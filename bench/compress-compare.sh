#!/usr/bin/env bash
# Times hermetic-repart's --compress against the zstd and xz command-line
# tools in the same run, on images built from the same generated trees
# (an ESP and an ext4 root). See bench/README.md, "Compression".
#
#   bench/compress-compare.sh [--entries N] [--bytes SIZE] [--xz-entries N]
#                             [--xz-bytes SIZE] [--seed N] [--runs N]
#                             [--xz-runs N] [--level N] [--parts LIST]
#                             [--work DIR] [--timeout SECONDS] [--settle SECONDS]
set -euo pipefail

entries=60000
bytes=1G
xz_entries=20000
xz_bytes=256M
seed=1
runs=3
xz_runs=1
level=3
parts="zstd xz"
work=
timeout=0
settle=5
image_seed=0b7a3c2e-8f61-4d2a-9c3e-5a1f6b7d8e90

usage() {
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
	cat <<'EOF'
Options:
  --entries N       names in the zstd workload's root tree (default 60000)
  --bytes SIZE      its data bytes, K/M/G suffixes (default 1G)
  --xz-entries N    names in the xz workload's tree (default 20000)
  --xz-bytes SIZE   its data bytes (default 256M: xz -T1 runs at a few MB/s
                    on this data, so the xz part uses a smaller tree)
  --seed N          workload seed (default 1)
  --runs N          timed runs per tool in the zstd part; median reported
                    (default 3)
  --xz-runs N       timed runs per tool in the xz part (default 1)
  --level N         zstd level and xz preset for everyone (default 3, as
                    NixOS image.repart)
  --parts LIST      which of "zstd xz" to run (default both)
  --work DIR        trees, binaries and outputs (default
                    $TMPDIR/hermetic-repart-bench; trees are shared with
                    ext4-compare.sh)
  --timeout SEC     give up on a run after SEC seconds (default: none)
  --settle SEC      idle seconds before each timed run (default 5), so that
                    every run starts with the same memory state (see below)
EOF
}

while [ $# -gt 0 ]; do
	case $1 in
	--entries) entries=$2; shift ;;
	--bytes) bytes=$2; shift ;;
	--xz-entries) xz_entries=$2; shift ;;
	--xz-bytes) xz_bytes=$2; shift ;;
	--seed) seed=$2; shift ;;
	--runs) runs=$2; shift ;;
	--xz-runs) xz_runs=$2; shift ;;
	--level) level=$2; shift ;;
	--parts) parts=$2; shift ;;
	--work) work=$2; shift ;;
	--timeout) timeout=$2; shift ;;
	--settle) settle=$2; shift ;;
	-h | --help) usage; exit 0 ;;
	*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
	shift
done

repo=$(cd "$(dirname "$0")/.." && pwd)
work=${work:-${TMPDIR:-/tmp}/hermetic-repart-bench}
bin=$work/bin
out=$work/compress-out
mkdir -p "$bin" "$out"

for tool in zstd xz tar; do
	command -v "$tool" >/dev/null || { echo "$tool is needed" >&2; exit 1; }
done

echo "building into $bin" >&2
(cd "$repo" && go build -o "$bin/hermetic-repart" ./cmd/hermetic-repart &&
	go build -o "$bin/gentree" ./bench/cmd/gentree &&
	go build -o "$bin/runstat" ./bench/cmd/runstat &&
	go build -o "$bin/compressfile" ./bench/cmd/compressfile)

. "$repo/bench/lib.sh"

# setup NAME TREE: the definitions $out/NAME/defs for an image of two
# partitions, and the ESP's content $out/NAME/esp:
#   00-esp.conf   Type=esp, Format=vfat, 128 MiB fixed (FAT32): a boot
#                 loader, a kernel and an initrd (150 000 bytes, 8 MiB,
#                 20 MiB: incompressible, as compressed kernels and initrds
#                 are, cut from the tree's files in path order, so the same
#                 on every run) and loader entries;
#   10-root.conf  Type=root, Format=ext4, CopyFiles=TREE, a fixed size as in
#                 ext4-compare.sh: the tree's allocated size +10%, 1 KiB per
#                 entry and 192 MiB (so the image is the same on every run
#                 and has the free space a fixed-size root has).
# Then builds the raw image once, untimed, into $out/NAME/raw.img: the
# input of the zstd/xz tools and of compressfile.
setup() {
	local name=$1 tree=$2 d=$out/$1
	rm -rf "$d" && mkdir -p "$d/defs" "$d/esp/EFI/BOOT" "$d/esp/loader/entries"
	# cat stops early when head has enough, hence the || true.
	{ find "$tree" -type f -print0 | LC_ALL=C sort -z | xargs -0 cat 2>/dev/null || true; } |
		head -c $((28 << 20)) >"$d/pool"
	cut_pool() { dd if="$d/pool" of="$1" bs=1M iflag=skip_bytes,count_bytes skip="$2" count="$3" status=none; }
	cut_pool "$d/esp/EFI/BOOT/BOOTX64.EFI" 0 150000
	cut_pool "$d/esp/vmlinuz" 150000 $((8 << 20))
	cut_pool "$d/esp/initrd.img" $((150000 + (8 << 20))) $((20 << 20))
	rm "$d/pool"
	printf 'timeout 0\n' >"$d/esp/loader/loader.conf"
	printf 'title Bench\nlinux /vmlinuz\ninitrd /initrd.img\noptions root=PARTLABEL=root rw\n' \
		>"$d/esp/loader/entries/bench.conf"
	printf '[Partition]\nType=esp\nFormat=vfat\nCopyFiles=%s:/\nSizeMinBytes=128M\nSizeMaxBytes=128M\n' \
		"$d/esp" >"$d/defs/00-esp.conf"
	local alloc e size
	alloc=$(du -s -B1 "$tree" | cut -f1)
	e=$(json_field entries <"$tree.json")
	size=$(((alloc * 11 / 10 + e * 1024 + 192 * 1024 * 1024 + 1048575) / 1048576 * 1048576))
	printf '[Partition]\nType=root\nLabel=root\nFormat=ext4\nCopyFiles=%s:/\nSizeMinBytes=%s\nSizeMaxBytes=%s\n' \
		"$tree" "$size" "$size" >"$d/defs/10-root.conf"
	rm -f "$d/raw.img"
	cli "$d"
	"${cli[@]}" "$d/raw.img" >"$d/setup.log" 2>&1 ||
		{ echo "building $d/raw.img failed, see $d/setup.log" >&2; cat "$d/setup.log" >&2; exit 1; }
}

# cli DIR: our CLI on DIR's definitions, as an array for runstat ("${cli[@]}"
# OPTION... IMAGE). The source paths in the definitions are absolute, so
# no --copy-source.
cli() {
	cli=("$bin/hermetic-repart" --empty=create --size=auto --seed="$image_seed" --definitions="$1/defs"
		--dry-run=no --pretty=no --quiet)
}

# timed NAME CMD...: run CMD under runstat after sync(1), so that writing
# back the previous run's output is not paid inside this one, and after
# $settle idle seconds; appends "WALL USER SYS RSS STATUS" to
# $out/NAME.times. A timeout is recorded, not fatal.
#
# The settling is for virtual machines with free page reporting
# (virtio-balloon): memory the guest freed is handed back to the host
# within seconds, and touching it again costs a host fault per page. On
# the 2-core VM of bench/README.md writing 1.5 GiB with dd takes 4.0 s of
# system time on handed-back memory and 0.29 s on memory freed just
# before, so a run that follows the deletion of a large output of its
# own (as every tool's does, one round earlier) is cheap or expensive
# depending on the order of the runs. After a few idle seconds all free
# memory has been handed back and every run pays the same.
timed() {
	local name=$1; shift
	local rc=0
	sync
	sleep "$settle"
	"$bin/runstat" -o "$out/$name.last" -timeout "${timeout}s" -- "$@" \
		>>"$out/$name.log" 2>&1 || rc=$?
	cat "$out/$name.last" >>"$out/$name.times"
	if [ $rc -ne 0 ] && [ $rc -ne 124 ]; then
		echo "$name failed (status $rc), see $out/$name.log" >&2
		tail -5 "$out/$name.log" >&2
		exit 1
	fi
}

# calc EXPR A B: awk arithmetic on two medians, "-" if either is missing;
# three decimals, so that a verdict is not made on a rounded 1.00.
calc() {
	case "$2 $3" in *timeout* | "- "* | *" -") echo "-" ;; *) awk -v a="$2" -v b="$3" "BEGIN {printf \"%.3f\", $1}" ;; esac
}
size() { stat -c %s "$1"; }
# cpu NAME: the median user+system CPU seconds of a timed tool. Unlike
# wall time, it hardly depends on what else runs on the machine.
cpu() { awk '{print $2 + $3}' "$out/$1.times" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
mib() { awk -v b="$1" 'BEGIN {printf "%.1f", b/1048576}'; }
verdict() { # verdict VALUE OP TARGET
	case $1 in -) echo "not measured"; return ;; esac
	if awk -v v="$1" -v t="$3" "BEGIN {exit !(v $2 t)}"; then echo met; else echo MISSED; fi
}

tools() {
	printf 'tools: %s; %s\n' "$(zstd --version | head -1)" "$(xz --version | head -1)"
}

describe() { # describe NAME TREE
	local s=$2.json d=$out/$1
	printf '%s workload: %s (%s entries, %s data bytes) + ESP of %s bytes of files\n' "$1" "$2" \
		"$(json_field entries <"$s")" "$(json_field data_bytes <"$s")" "$(du -s -B1 --apparent-size "$d/esp" | cut -f1)"
	printf '  raw image: %s bytes apparent (%s MiB), %s MiB allocated\n' "$(size "$d/raw.img")" \
		"$(mib "$(size "$d/raw.img")")" "$(mib "$(du -B1 "$d/raw.img" | cut -f1)")"
}

# row NAME LABEL [OUTPUT]: a line of the table for one timed tool.
row() {
	local f=$out/$1.times s=-
	[ -s "$f" ] || return 0
	[ -n "${3:-}" ] && [ -f "$3" ] && s=$(mib "$(size "$3")")
	printf '%-40s %8s %8s %8s %9s %10s   %s\n' "$2" "$(median "$f" 1)" "$(median "$f" 2)" "$(median "$f" 3)" \
		"$(awk '{if ($4 > m) m = $4} END {printf "%.0f", m/1024}' "$f")" "$s" \
		"$(awk '{printf "%s%s ", $1, ($5 == "0" ? "" : "(" $5 ")")}' "$f")"
}
header() { printf '%-40s %8s %8s %8s %9s %10s   %s\n' run "median s" "user s" "sys s" "RSS MiB" "out MiB" "all runs (s)"; }

machine
tools

# The zstd part: (a) our build with --compress=zstd, (b) our build
# without, (c) zstd -T0 of (b)'s image (then sync of its output, since
# ours fsyncs), and our compressor alone on the same image (compressfile,
# all cores) against (c) for throughput. Interleaved, so that noise from
# other processes spreads over all of them.
if [[ " $parts " == *" zstd "* ]]; then
	tree=$work/tree-e$entries-b$bytes-s$seed
	gen_tree "$entries" "$(to_bytes "$bytes")" "$tree"
	setup zstd "$tree"
	d=$out/zstd raw=$out/zstd/raw.img
	rm -f "$out"/z-*.times "$out"/z-*.log
	tar -cf - -C "$tree" . | cat >/dev/null # warm caches: every run reads the tree from memory
	for _ in $(seq "$runs"); do
		rm -f "$d"/a.img*
		timed z-a "${cli[@]}" --compress=zstd --compress-level="$level" "$d/a.img"
		rm -f "$d"/b.img*
		timed z-b "${cli[@]}" "$d/b.img"
		rm -f "$d/c.zst"
		timed z-c sh -c 'zstd -q -T0 -"$1" -f "$2" -o "$3" && sync "$3"' sh "$level" "$raw" "$d/c.zst"
		rm -f "$d/o.zst"
		timed z-o "$bin/compressfile" -format zstd -level "$level" "$raw" "$d/o.zst"
	done
	if [ -e "$d/a.img" ]; then echo "--compress=zstd left the raw image $d/a.img behind" >&2; exit 1; fi
	same=no
	cmp -s "$d/a.img.zst" "$d/o.zst" && same=yes
	cmp -s "$d/b.img" "$raw" || { echo "our raw images differ between runs" >&2; exit 1; }

	printf '\n'
	describe zstd "$tree"
	printf 'zstd part: level %s, %s timed runs per tool, interleaved, tree in the page cache; median shown\n' "$level" "$runs"
	header
	row z-a "(a) ours --compress=zstd" "$d/a.img.zst"
	row z-b "(b) ours, raw" "$d/b.img"
	row z-c "(c) zstd -T0 -$level of (b)'s image + sync" "$d/c.zst"
	row z-o "ours compressor alone (compressfile)" "$d/o.zst"
	printf '(a) and compressfile write the same bytes: %s\n' "$same"
	a=$(median "$out/z-a.times" 1) b=$(median "$out/z-b.times" 1) c=$(median "$out/z-c.times" 1) o=$(median "$out/z-o.times" 1)
	bc=$(calc 'a+b' "$b" "$c")
	r1=$(calc 'a/b' "$a" "$bc")
	tz=$(calc "$(size "$raw")/1048576/a" "$c" 1) to=$(calc "$(size "$raw")/1048576/a" "$o" 1)
	r2=$(calc 'a/b' "$to" "$tz")
	printf '(a) / ((b) + (c))                  = %s   (target: at most 1.1; %s)\n' "$r1" "$(verdict "$r1" '<=' 1.1)"
	printf 'compressor throughput, raw MiB/s   : ours %s, zstd -T0 %s; ours/zstd = %s   (target: at least 1; %s)\n' \
		"$to" "$tz" "$r2" "$(verdict "$r2" '>=' 1)"
	printf 'size: ours/zstd = %s\n' "$(calc 'a/b' "$(size "$d/a.img.zst")" "$(size "$d/c.zst")")"
	printf 'CPU s: (a) %s, (b) %s, (c) %s, compressfile %s; (a) / ((b) + (c)) = %s, compressfile/(c) = %s\n' \
		"$(cpu z-a)" "$(cpu z-b)" "$(cpu z-c)" "$(cpu z-o)" "$(calc 'a/b' "$(cpu z-a)" "$(calc 'a+b' "$(cpu z-b)" "$(cpu z-c)")")" \
		"$(calc 'a/b' "$(cpu z-o)" "$(cpu z-c)")"
	rm -f "$d"/a.img.zst "$d"/b.img "$d"/c.zst "$d"/o.zst
fi

# The xz part, on a smaller tree: our build with --compress=xz on all
# cores and with --compress-threads=1, our compressor alone (all cores),
# and xz -T1 / xz -T0 of the raw image (with sync of their output).
if [[ " $parts " == *" xz "* ]]; then
	tree=$work/tree-e$xz_entries-b$xz_bytes-s$seed
	gen_tree "$xz_entries" "$(to_bytes "$xz_bytes")" "$tree"
	setup xz "$tree"
	d=$out/xz raw=$out/xz/raw.img
	rm -f "$out"/x-*.times "$out"/x-*.log
	tar -cf - -C "$tree" . | cat >/dev/null
	for _ in $(seq "$xz_runs"); do
		rm -f "$d"/b.img*
		timed x-b "${cli[@]}" "$d/b.img"
		rm -f "$d"/a.img*
		timed x-a "${cli[@]}" --compress=xz --compress-level="$level" "$d/a.img"
		rm -f "$d"/t.img*
		timed x-t "${cli[@]}" --compress=xz --compress-level="$level" --compress-threads=1 "$d/t.img"
		rm -f "$d/o.xz"
		timed x-o "$bin/compressfile" -format xz -level "$level" "$raw" "$d/o.xz"
		rm -f "$d/x1.xz"
		timed x-x1 sh -c 'xz -T1 -"$1" -k -c "$2" >"$3" && sync "$3"' sh "$level" "$raw" "$d/x1.xz"
		rm -f "$d/x0.xz"
		timed x-x0 sh -c 'xz -T0 -"$1" -k -c "$2" >"$3" && sync "$3"' sh "$level" "$raw" "$d/x0.xz"
	done
	cmp -s "$d/a.img.xz" "$d/t.img.xz" || { echo "--compress-threads=1 changed the .xz" >&2; exit 1; }
	same=no
	cmp -s "$d/a.img.xz" "$d/o.xz" && same=yes
	xz -t "$d/a.img.xz" || { echo "xz -t rejects our $d/a.img.xz" >&2; exit 1; }

	printf '\n'
	describe xz "$tree"
	printf 'xz part: preset -%s, %s timed run(s) per tool; median shown\n' "$level" "$xz_runs"
	header
	row x-b "ours, raw" "$d/b.img"
	row x-a "ours --compress=xz (all cores)" "$d/a.img.xz"
	row x-t "ours --compress=xz --compress-threads=1" "$d/t.img.xz"
	row x-o "ours compressor alone (compressfile)" "$d/o.xz"
	row x-x1 "xz -T1 -$level of the raw image + sync" "$d/x1.xz"
	row x-x0 "xz -T0 -$level of the raw image + sync" "$d/x0.xz"
	printf 'ours --compress=xz and compressfile write the same bytes: %s\n' "$same"
	a=$(median "$out/x-a.times" 1) t=$(median "$out/x-t.times" 1) o=$(median "$out/x-o.times" 1)
	x1=$(median "$out/x-x1.times" 1) x0=$(median "$out/x-x0.times" 1)
	r1=$(calc 'a/b' "$x1" "$o") r2=$(calc 'a/b' "$x1" "$a")
	rs=$(calc '(a/b-1)*100' "$(size "$d/a.img.xz")" "$(size "$d/x1.xz")")
	printf 'speed vs xz -T1, compressor alone  = %s×   (target: at least 1.8; %s)\n' "$r1" "$(verdict "$r1" '>=' 1.8)"
	printf 'speed vs xz -T1, whole build       = %s×\n' "$r2"
	printf 'ours all cores vs ours 1 thread    = %s×; xz -T0 vs xz -T1 = %s×\n' "$(calc 'a/b' "$t" "$a")" "$(calc 'a/b' "$x1" "$x0")"
	printf 'size vs xz -T1                     = %+.1f%%   (target: within 2%%; %s); xz -T0 vs xz -T1 = %+.1f%%\n' \
		"$rs" "$(verdict "${rs#-}" '<=' 2)" "$(calc '(a/b-1)*100' "$(size "$d/x0.xz")" "$(size "$d/x1.xz")")"
	# With ours needing k times xz's CPU per byte, n cores make ours at
	# most n/k times as fast as xz -T1.
	k=$(calc 'a/b' "$(cpu x-t)" "$(cpu x-x1)")
	printf 'CPU s, ours 1 thread / xz -T1      = %s; so on %s cores ours is at most %s× xz -T1\n' \
		"$k" "$(nproc)" "$(calc 'a/b' "$(nproc)" "$k")"
	rm -f "$d"/*.img.xz "$d"/b.img "$d"/*.xz
fi
printf '\nload average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
