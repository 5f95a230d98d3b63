#!/usr/bin/env bash
# The kernel crate's layering check (make layers): every `crate::X` a
# top-level module names must come before it in the order listed in the
# "layers:" block of kernel/src/lib.rs. Fails listing each upward or
# sideways reference (file:line), and on a module missing from the list.
set -euo pipefail
cd "$(dirname "$0")/../kernel/src"

# The order: the words after the layer name on each line of the block.
mapfile -t order < <(sed -n '/^\/\/! layers:/,/^\/\/! ```/p' lib.rs | grep -E '^//!   +[a-z]+ ' | awk '{for (i = 3; i <= NF; i++) print $i}')
declare -A rank
for i in "${!order[@]}"; do rank[${order[$i]}]=$i; done
# Macros exported at the crate root belong to the module that defines them.
rank[ratelimited]=${rank[ratelimit]}

bad=0
for m in "${order[@]}"; do
    if [ ! -e "$m.rs" ] && [ ! -d "$m" ]; then
        echo "layers: '$m' is in the layers block but kernel/src has no such module"; bad=1
    fi
done
for path in *.rs */; do
    mod=${path%.rs}; mod=${mod%/}
    [ "$mod" = lib ] || [ "$mod" = main ] && continue
    if [ -z "${rank[$mod]+x}" ]; then
        echo "layers: module '$mod' is not in the layers block of kernel/src/lib.rs"; bad=1; continue
    fi
    while IFS=: read -r file line dep; do
        dep=${dep#crate::}
        if [ -z "${rank[$dep]+x}" ]; then
            echo "layers: $file:$line names crate::$dep, which is not in the layers block"; bad=1
        elif [ "${rank[$dep]}" = "${rank[$mod]}" ]; then
            continue
        elif [ "${rank[$dep]}" -gt "${rank[$mod]}" ]; then
            echo "layers: $file:$line: $mod uses crate::$dep, which is not below it"; bad=1
        fi
    done < <(grep -rHnoE 'crate::[a-z_]+' --include='*.rs' "$path")
done
if [ "$bad" = 0 ]; then
    echo "layers: ${#order[@]} modules, every crate:: reference points down"
fi
exit $bad
