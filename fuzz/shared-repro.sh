#!/bin/bash
# The done-when of the fuzzing issue: every reproducer in ../shared/fuzz-repro, with each command
# its README lists, through the built CLI (node bin/sigframe.js), under GNU time: exit status,
# stderr lines, wall and CPU seconds, peak resident memory. The first row is `node -e 0`, the floor
# on this machine. Run from the repository: bash fuzz/shared-repro.sh
R=../shared/fuzz-repro; T=$(mktemp -d)
run() {
  /usr/bin/time -f "%e %U %S %M" -o "$T/time" node bin/sigframe.js "$@" > "$T/out" 2> "$T/err"; c=$?
  read -r e u s m <<EOT
$(tail -1 "$T/time")
EOT
  printf '%s | %s | %s | %s | %s | %s\n' "$(echo "$*" | sed "s#$R/##g; s#$T/##g")" "$c" "$(grep -c . "$T/err")" "$e" "$(awk "BEGIN { print $u + $s }")" "$((m / 1024))"
}
if [ ! -d "$R" ]; then echo "no $R: nothing to check"; exit 0; fi
echo "command | exit | stderr lines | wall s | CPU s | max RSS MiB"
/usr/bin/time -f "%e %U %S %M" -o "$T/time" node -e 0
read -r e u s m <<EOT
$(tail -1 "$T/time")
EOT
printf 'node -e 0 | 0 | 0 | %s | %s | %s\n' "$e" "$(awk "BEGIN { print $u + $s }")" "$((m / 1024))"
run scan $R/elf-overlapping-pt-load.core
run check --core $R/elf-overlapping-pt-load.core --to amd-zen2
run check --from intel-skylake-server --to $R/cpuid-r-huge-component.txt
run build --cpu $R/memory-profile-a.json -o $T/out.bin
run check --from $R/memory-profile-a.json --to intel-haswell
run build --cpu $R/memory-profile-b.json -o $T/out.bin
run scan $R/elf-legacy-area-hole.core
run check --core $R/elf-xsave-area-hole.core --to intel-sapphirerapids
run check --from amd-zen4 --to $R/profile-ymm-size-4GiB.json
run check --from $R/profile-ymm-size-4GiB.json --to amd-zen4
run matrix $R/profile-ymm-size-4GiB.json intel-skylake-server
run build --cpu $R/profile-ymm-offset-2GiB.json -o -
run matrix $R/profile-ymm-offset-2GiB.json intel-skylake-server
run translate --from $R/profile-ymm-offset-2GiB.json --to amd-zen4 $R/profile-ymm-offset-2GiB.json -o $T/t.bin
run scan $R/elf-xsave-area-hole.core
run check --core $R/elf-legacy-area-hole.core --to intel-sapphirerapids
rm -rf "$T"
