#!/usr/bin/env bash
# Where the six services' memory goes (issue 16), from /proc/PID/smaps of
# the running services (scripts/services.sh up, or scripts/demo.sh):
#   rss     what `ps` and VmRSS show: every page the process maps, shared
#           library pages included (each process counts them in full)
#   pss     the same with each shared page divided among the processes
#           mapping it (any process on the machine, not only these six)
#   anon    anonymous pages (heap, malloc arenas, thread stacks, and the
#           shared libraries' relocated data, copied per process)
#   file    file-backed pages (the binaries and shared libraries)
#   arenas  anonymous pages of glibc's per-thread malloc arenas
#   stacks  anonymous pages of thread stacks (8 MiB mappings)
# and for the six together: the sum of each column, and the pages they
# really occupy: their anonymous pages plus each mapped file once (the
# largest resident part any of them has of it).
#
#   bench/rss.sh            (AD_STATE_DIR as for scripts/services.sh)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
state=${AD_STATE_DIR:-$root/.stack}
services=(api coordinator analyzer builder provisioner deployer)
files=$(mktemp)
trap 'rm -f "$files"' EXIT

printf '%-12s %8s %8s %8s %8s %8s %8s %8s\n' service rss pss anon file arenas stacks threads
for s in "${services[@]}"; do
  pid=$(cat "$state/run/services/$s.pid")
  # One line per mapping: size, Rss, Pss, Anonymous, path ("" if none).
  awk -v svc="$s" -v threads="$(find "/proc/$pid/task" -mindepth 1 -maxdepth 1 | wc -l)" -v files="$files" '
    # A mapping is complete when the next one starts (or at the end).
    function flush() {
      if (!have) return
      rss += r; pss += p; anon += a
      if (path ~ /^\//) { file += r - a; fr[path] += r - a }
      else if (path == "" && perm == "rw-p" && size == 8192) stacks += a
      # an arena heap: read-write, then PROT_NONE to the 64 MiB boundary
      if (path == "" && perm == "---p" && pperm == "rw-p" && ppath == "" && psize + size == 65536)
        arenas += pa
      pperm = perm; ppath = path; psize = size; pa = a
    }
    /^[0-9a-f]+-[0-9a-f]+ / { flush(); perm = $2; path = $6; r = p = a = size = 0; have = 1; next }
    $1 == "Size:" { size = $2 } $1 == "Rss:" { r = $2 } $1 == "Pss:" { p = $2 } $1 == "Anonymous:" { a = $2 }
    END {
      flush()
      printf "%-12s %6.1f M %6.1f M %6.1f M %6.1f M %6.1f M %6.1f M %8d\n", svc, rss/1024, pss/1024, anon/1024, file/1024, arenas/1024, stacks/1024, threads
      for (f in fr) print f, fr[f] >> files
      print "ANON", anon >> files
      print "TOTAL", rss, pss >> files
    }' "/proc/$pid/smaps"
done
awk '
  $1 == "ANON" { anon += $2; next }
  $1 == "TOTAL" { rss += $2; pss += $3; next }
  { if ($2 > once[$1]) once[$1] = $2 }
  END {
    for (f in once) files += once[f]
    printf "six together: rss %.1f MiB, pss %.1f MiB; anonymous %.1f MiB + each file once %.1f MiB = %.1f MiB\n", rss/1024, pss/1024, anon/1024, files/1024, (anon + files)/1024
  }' "$files"
