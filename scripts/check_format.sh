#!/usr/bin/env bash
# Fails when a C++ source file is not laid out as .clang-format says (Debian's clang-format).
# To fix them all: git ls-files '*.cc' '*.h' | xargs clang-format -i
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t files < <(git ls-files '*.cc' '*.h')
if ! clang-format --dry-run -Werror "${files[@]}" 2>/tmp/certinbox-format.$$; then
  grep -E '^[^ ].*: error:' /tmp/certinbox-format.$$ | sed 's/ error: code should be clang-formatted.*//' |
    sort -u | head -50 >&2
  rm -f /tmp/certinbox-format.$$
  echo "clang-format: the files above are not formatted; run: git ls-files '*.cc' '*.h' | xargs clang-format -i" >&2
  exit 1
fi
rm -f /tmp/certinbox-format.$$
echo "clang-format: ${#files[@]} files formatted"
