# Shell functions shared by the comparison scripts; sourced, not run.
# gen_tree uses the caller's $bin (built tools) and $seed.

# to_bytes SIZE: K/M/G/T suffixes are powers of 1024.
to_bytes() {
	local n=${1%[KkMmGgTt]} m=1
	case $1 in
	*[Kk]) m=1024 ;; *[Mm]) m=$((1024 ** 2)) ;; *[Gg]) m=$((1024 ** 3)) ;; *[Tt]) m=$((1024 ** 4)) ;;
	esac
	echo $((n * m))
}

# gen_tree ENTRIES SIZE DIR: generate the tree unless DIR holds a finished
# one (DIR.json, written last, records its statistics), so that the
# scripts share trees of the same parameters.
gen_tree() {
	local e=$1 b=$2 dir=$3
	if [ -f "$dir.json" ] && [ -d "$dir" ]; then
		echo "reusing $dir" >&2
		return
	fi
	rm -rf "$dir" "$dir.json"
	echo "generating $dir ($e entries, $b bytes, seed $seed)" >&2
	"$bin/gentree" -entries "$e" -bytes "$b" -seed "$seed" "$dir" >"$dir.json.tmp"
	mv "$dir.json.tmp" "$dir.json"
}

# json_field NAME: the first integer field NAME of the JSON on stdin.
json_field() { grep -o "\"$1\":[0-9]*" | head -1 | cut -d: -f2; }

# median FILE COLUMN: the median of a column of the times file ("timeout"
# if any run timed out, "-" if the tool was not timed).
median() {
	if ! [ -s "$1" ]; then echo -; return; fi
	if grep -q timeout "$1"; then echo timeout; return; fi
	cut -d' ' -f"$2" "$1" | sort -g | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}

# machine: one line on the machine and the time. "AMD EPYC" names several
# generations; the CPU family, model and stepping tell which, and the
# speed of one tool relative to another differs between them.
machine() {
	printf 'machine: %s CPUs, %s (family %s model %s stepping %s), %s; %s\n' "$(nproc)" \
		"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$(sed -n 's/^cpu family[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$(sed -n 's/^model[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$(sed -n 's/^stepping[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
		"$(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo)" "$(date -u +%Y-%m-%dT%H:%MZ)"
	printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
}
