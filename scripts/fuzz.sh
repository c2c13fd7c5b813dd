#!/usr/bin/env bash
# fuzz.sh DIR...: run every Go fuzz target found under the given module
# directories for $FUZZTIME (default 30s) each, one after the other.
set -euo pipefail
fuzztime="${FUZZTIME:-30s}"
found=0
for dir in "$@"; do
	# "package-dir<TAB>FuzzName" for every func FuzzXxx(f *testing.F) in a _test.go file.
	while IFS=$'\t' read -r pkgdir name; do
		found=$((found + 1))
		echo "== fuzz $pkgdir $name for $fuzztime"
		(cd "$pkgdir" && go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" .)
	done < <(grep -rl --include='*_test.go' -E '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' "$dir" 2>/dev/null |
		while read -r f; do
			grep -oE '^func Fuzz[A-Za-z0-9_]*' "$f" | sed 's/^func //' | while read -r n; do
				printf '%s\t%s\n' "$(dirname "$f")" "$n"
			done
		done | sort -u)
done
if [ "$found" -eq 0 ]; then
	echo "fuzz.sh: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz.sh: $found fuzz target(s) ran without a failure"
