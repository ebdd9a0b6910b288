#!/usr/bin/env bash
# The layering of common/ and the binaries (docs/architecture.md), checked
# on the sources and on the built binaries:
#  - each file of a layer includes headers of its own layer or the layers
#    it may use, never one above it (the layers and their files are read
#    from common/CMakeLists.txt's ad_layer() calls);
#  - the clients and the base layer never log (no ad/log.h, no ad_log);
#  - a service includes no other service's headers; adctl no server-side one;
#  - the builder's planner kit includes no analyzer header, and the language
#    providers no builder header but the kit's;
#  - no result is read by position (PQgetvalue, PQgetisnull) outside the
#    db layer (common/src/db.c) but in the allow-listed files;
#  - adctl links neither libpq, libgit2 nor cnats;
#  - the five workers use nothing of libmicrohttpd (the API alone does).
# Usage: layering.sh SOURCE_DIR BIN_DIR
set -euo pipefail
src=${1:?usage: layering.sh SOURCE_DIR BIN_DIR}
bin=${2:?usage: layering.sh SOURCE_DIR BIN_DIR}
failures=0
fail() {
  echo "FAIL: $*" >&2
  failures=$((failures + 1))
}

# "layer: file.c file.c" for every ad_layer() call.
declare -A files_of=()
while IFS= read -r call; do
  layer=${call%% *}
  rest=${call#* SOURCES }
  rest=${rest%% LIBS *}
  files_of[$layer]=$rest
done < <(sed "s/#.*//" "$src/common/CMakeLists.txt" | tr "\n" " " | grep -oE 'ad_layer\([^)]*\)' |
  sed -e 's/^ad_layer(//' -e 's/)$//' -e 's/  */ /g')
((${#files_of[@]} >= 5)) || fail "could not read the layers from common/CMakeLists.txt"

# Header of each library file (its .c name, same stem), per layer.
declare -A layer_of_header=()
for layer in "${!files_of[@]}"; do
  for f in ${files_of[$layer]}; do
    [[ $f == *.c ]] || continue
    layer_of_header[${f%.c}.h]=$layer
  done
done
# Header-only parts of the base layer.
layer_of_header[cleanup.h]=adbase
layer_of_header[limits.h]=adbase

# Which layers each layer may include (its own and the ones below it).
clients="adhttp adbus addb adsecret adgit adengine adcaddy"
declare -A may=(
  [adbase]="adbase"
  [adhttp]="adbase adhttp" [adbus]="adbase adbus" [addb]="adbase addb"
  [adsecret]="adbase adsecret" [adgit]="adbase adgit"
  [adengine]="adbase adhttp adengine" [adcaddy]="adbase adhttp adcaddy"
  [adcontracts]="adbase adbus adcontracts"
  [adruntime]="adbase $clients adcontracts adruntime"
  [adingress]="adbase $clients adcontracts adruntime adingress"
)
for layer in "${!files_of[@]}"; do
  [[ -n ${may[$layer]:-} ]] || {
    fail "layer $layer has no rule in tests/unit/layering.sh"
    continue
  }
  for f in ${files_of[$layer]}; do
    [[ $f == *.c ]] || continue
    path=$src/common/src/$f
    [[ -f $path ]] || continue # generated (migrations.c)
    # The file and its own header.
    for hdr in "$path" "$src/common/include/ad/${f%.c}.h"; do
      [[ -f $hdr ]] || continue
      while IFS= read -r inc; do
        other=${layer_of_header[$inc]:-}
        [[ -n $other ]] || {
          fail "${hdr#"$src"/} includes ad/$inc, which belongs to no layer"
          continue
        }
        [[ " ${may[$layer]} " == *" $other "* ]] ||
          fail "${hdr#"$src"/} ($layer) includes ad/$inc of $other, a layer above it"
      done < <(sed -n 's|^#include "ad/\([a-z_]*\.h\)".*|\1|p' "$hdr")
    done
    if [[ $layer != adruntime && $layer != adingress ]] && grep -q '\bad_log\b\|\bad_log(' "$path"; then
      fail "${path#"$src"/} ($layer) logs: only services and the runtime log"
    fi
  done
done

# Services keep to themselves; adctl to the client side.
for dir in "$src"/services/*/; do
  svc=$(basename "$dir")
  if grep -rn --include='*.[ch]' -E '#include "\.\./' "$dir" >/dev/null; then
    fail "services/$svc includes another folder's headers: $(grep -rln --include='*.[ch]' -E '#include "\.\./' "$dir" | tr '\n' ' ')"
  fi
done
# The language providers (addetect: services/analyzer/detect*.c) write
# their plans with the builder's kit (adbuildkit: buildplan_kit.[ch]) and
# the planner's entry points (adbuildplan: buildplan.c) find them: the kit
# is below the providers, so it includes none of the analyzer's headers,
# and the providers include no builder header but the kit's.
if grep -n -E '#include "(detect|analyzer_[a-z_]*)\.h"' "$src"/services/builder/buildplan_kit.[ch]; then
  fail "the builder's planner kit (buildplan_kit.[ch]) includes an analyzer header: it is below the language providers"
fi
if grep -n -E '#include "(buildplan|builder[a-z_]*)\.h"' "$src"/services/analyzer/detect*.[ch]; then
  fail "a language provider (services/analyzer/detect*) includes a builder header other than buildplan_kit.h"
fi
if grep -n -E '#include "ad/(db|git|bus|engine|caddy|service|step|outbox|runtime)\.h"' "$src"/cli/*.c "$src"/cli/*.h; then
  fail "adctl includes a server-side header"
fi
# Rows are read by column name through the db layer's typed rows
# (ad_db_read_row, ad_db_rows_*: common/src/db.c), never by position.
while IFS= read -r f; do
  [[ ${f#"$src"/} == common/src/db.c ]] && continue
  fail "${f#"$src"/} reads a result by position (PQgetvalue/PQgetisnull): declare its row with ad_db_field and read it with ad_db_read_row or ad_db_rows_read"
done < <(grep -rlE --include='*.[ch]' '\bPQget(value|isnull)[[:space:]]*\(' "$src"/common "$src"/services "$src"/cli)

libs=$(ldd "$bin/adctl" | awk '{print $1}')
for lib in libpq libgit2 libnats; do
  grep -q "^$lib\." <<<"$libs" && fail "adctl links $lib"
done
# The five workers answer /healthz and /metrics with the probe server:
# nothing of libmicrohttpd is in them (its constructor initialises GnuTLS
# in every process that loads it).  Undefined symbols, not NEEDED: a
# sanitizer build links without --as-needed.
for svc in coordinator analyzer builder provisioner deployer; do
  [[ -x $bin/ad$svc ]] || continue
  if nm -D --undefined-only "$bin/ad$svc" | grep -q ' MHD_'; then
    fail "ad$svc uses libmicrohttpd (service.c must reach ad_httpd only through opts.http_server)"
  fi
done

if ((failures)); then
  echo "$failures layering violation(s)" >&2
  exit 1
fi
echo "ok: ${#files_of[@]} layers of common/ respect their order; adctl links $(wc -l <<<"$libs") libraries, none of libpq, libgit2, cnats"
