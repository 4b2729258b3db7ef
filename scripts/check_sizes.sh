#!/usr/bin/env bash
# Prints the source files over 600 lines and the functions over 80 lines in the code that ships
# (every top-level folder with a CMakeLists.txt except tests/, bench/ and fuzz/). A size that has
# a reason is written down beside it and then not printed:
#   - a function: `// size: <reason>` in the comment just above its signature (the reason runs
#     to the end of that comment);
#   - a file: `// size: <reason>` in its first 20 lines.
# --all also lists the excused items with their reasons. It only reports: the exit status is 0
# whatever it finds (2 only for a bad argument).
#
# Function lengths come from a brace-matching scan that skips comments, string and character
# literals, raw strings and preprocessor lines; a function is a `{` at namespace or class scope
# whose header has a parameter list. It counts from the signature's first line to the closing
# brace, both included.
set -uo pipefail
cd "$(dirname "$0")/.."

show_all=0
case "${1:-}" in
  "") ;;
  --all) show_all=1 ;;
  *) echo "usage: scripts/check_sizes.sh [--all]" >&2; exit 2 ;;
esac

folders=()
for dir in */; do
  dir=${dir%/}
  case "$dir" in tests | bench | fuzz | build* | docs | etc | scripts) continue ;; esac
  [ -f "$dir/CMakeLists.txt" ] || [ -d "$dir/sdk" ] || continue
  [ -f "$dir/CMakeCache.txt" ] && continue
  folders+=("$dir")
done

if ! command -v python3 >/dev/null; then
  echo "check_sizes.sh: python3 is not installed; nothing checked" >&2
  exit 0
fi
python3 - "$show_all" "${folders[@]}" <<'PY'
import os
import re
import sys

MAX_FILE_LINES = 600
MAX_FUNCTION_LINES = 80
SIZE_TAG = re.compile(r"//\s*size:\s*(.*\S)")
SOURCE_SUFFIXES = (".cc", ".h")
SKIPPED_DIRS = {"tests", "testing", "bench", "fuzz"}


def blank_out(text):
    """Returns text with comments, literals and preprocessor lines replaced by spaces (newlines
    kept), so that braces and parentheses in them do not count."""
    out = []
    i, n = 0, len(text)
    at_line_start = True
    while i < n:
        c = text[i]
        if at_line_start and c == "#":
            # A preprocessor line, with its continuations.
            while i < n and text[i] != "\n":
                if text[i] == "\\" and i + 1 < n and text[i + 1] == "\n":
                    out.append(" \n")
                    i += 2
                    continue
                out.append(" ")
                i += 1
            continue
        if c == "\n":
            out.append(c)
            at_line_start = True
            i += 1
            continue
        if c in " \t":
            out.append(c)
            i += 1
            continue
        at_line_start = False
        if text.startswith("//", i):
            while i < n and text[i] != "\n":
                out.append(" ")
                i += 1
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append("".join(ch if ch == "\n" else " " for ch in text[i:end]))
            i = end
            continue
        raw = re.match(r'(?:u8|[uUL])?R"([^()\\ \t\n]{0,16})\(', text[i:i + 24])
        if raw and (i == 0 or not (text[i - 1].isalnum() or text[i - 1] == "_")):
            close = ")" + raw.group(1) + '"'
            end = text.find(close, i + raw.end())
            end = n if end < 0 else end + len(close)
            out.append(" " + "".join(ch if ch == "\n" else " " for ch in text[i + 1:end]))
            i = end
            continue
        if c in "\"'":
            # A digit separator (1'000) is not a character literal.
            if c == "'" and i > 0 and text[i - 1].isalnum() and re.match(r"[0-9A-Fa-f]", text[i + 1:i + 2] or " ") \
                    and re.search(r"\b(?:0[xXbB])?[0-9][0-9A-Fa-f']*$", text[max(0, i - 40):i]):
                out.append(" ")
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            end = min(j + 1, n)
            out.append(c + "".join(ch if ch == "\n" else " " for ch in text[i + 1:end - 1]) + c)
            i = end
            continue
        out.append(c)
        i += 1
    return "".join(out)


def top_level(header):
    """header with everything inside (), [] and <> after a template keyword dropped."""
    depth = 0
    kept = []
    for ch in header:
        if ch in "([":
            depth += 1
            kept.append(ch if depth == 1 else "")
        elif ch in ")]":
            depth = max(0, depth - 1)
            kept.append(ch if depth == 0 else "")
        elif depth == 0:
            kept.append(ch)
    return "".join(kept)


def function_name(header):
    flat = " ".join(header.split())
    depth = 0
    for k, ch in enumerate(flat):
        if ch == "(":
            if depth == 0:
                before = flat[:k].rstrip()
                m = re.search(r"(operator\s*(?:\(\s*\)|[^\s\w(]+|\w[\w:<>, *&]*?)|[~\w][\w:<>,~]*)$", before)
                if m and not before.endswith("]"):
                    name = m.group(1)
                    if name not in ("if", "for", "while", "switch", "return", "noexcept"):
                        return name
                lhs = re.search(r"(\w+)\s*=\s*(?:\[[^\]]*\]\s*)?$", before)
                if lhs:
                    return lhs.group(1) + " (lambda)"
                return before[-40:] or "?"
            depth += 1
        elif ch == ")":
            depth -= 1
    return flat[:40]


def classify(header):
    """'scope' (namespace, class, extern "C"), 'function', or 'other' (an initializer)."""
    flat = " ".join(header.split())
    if re.match(r"^(?:inline\s+)?namespace\b", flat) or re.match(r'^extern\s*"', flat):
        return "scope"
    if "(" in flat and ")" in flat:
        tl = top_level(re.sub(r"^template\s*<.*?>\s*", "", flat))
        if re.match(r"^(?:class|struct|union|enum)\b", tl) and "(" not in tl.split(":")[0]:
            return "scope"
        if re.search(r"(?<![=!<>+\-*/%&|^])=\s*(?:\{|$)", tl):
            return "other"
        return "function"
    if re.search(r"\b(?:class|struct|union|enum)\b", flat) and "=" not in top_level(flat):
        return "scope"
    return "other"


def has_ctor_init_colon(header):
    tl = top_level(header)
    close = tl.rfind(")")
    if close < 0:
        return False
    tail = tl[close + 1:].replace("::", "  ")
    return ":" in tail and "?" not in tail


def scan_functions(text):
    """Yields (first_line, last_line, name) of every function body outside other functions."""
    clean = blank_out(text)
    line_of = []
    line = 1
    for ch in clean:
        line_of.append(line)
        if ch == "\n":
            line += 1
    stack = []  # kinds of the open braces outside function bodies
    header_start = None
    i, n = 0, len(clean)
    while i < n:
        ch = clean[i]
        if ch in ";}":
            if ch == "}" and stack:
                stack.pop()
            header_start = None
            i += 1
            continue
        if ch == "{":
            start = header_start if header_start is not None else i
            access = re.match(r"(?:(?:public|private|protected)\s*:(?!:)\s*)+", clean[start:i])
            if access:
                start += access.end()
            header = clean[start:i]
            kind = classify(header)
            if kind == "function" and has_ctor_init_colon(header):
                before = header.rstrip()
                if before and (before[-1].isalnum() or before[-1] in "_>"):
                    # A member's brace initializer in a constructor's init list.
                    i = match_brace(clean, i) + 1
                    continue
            if kind == "function" or kind == "other":
                end = match_brace(clean, i)
                if kind == "function":
                    yield line_of[start], line_of[min(end, n - 1)], function_name(header)
                i = end + 1
                # "other" ends at its ';'; a function body ends here.
                header_start = None if kind == "function" else start
                continue
            stack.append(kind)
            header_start = None
            i += 1
            continue
        if header_start is None and not ch.isspace():
            header_start = i
        i += 1


def match_brace(clean, open_at):
    depth = 0
    for k in range(open_at, len(clean)):
        if clean[k] == "{":
            depth += 1
        elif clean[k] == "}":
            depth -= 1
            if depth == 0:
                return k
    return len(clean) - 1


def reason_before(lines, first_line):
    """The `// size:` reason in the comment just above first_line (1-based), if any: from the
    tag to the end of that comment."""
    k = first_line - 2
    while k >= 0:
        m = SIZE_TAG.search(lines[k])
        if m:
            more = [line.strip()[2:].strip() for line in lines[k + 1:first_line - 1]]
            return " ".join([m.group(1)] + [text for text in more if text])
        if lines[k].strip().startswith("//"):
            k -= 1  # the tag may be on any line of the comment above the signature
            continue
        return None
    return None


def main():
    show_all = sys.argv[1] == "1"
    files = []
    for folder in sys.argv[2:]:
        for root, dirs, names in os.walk(folder):
            dirs[:] = sorted(d for d in dirs if d not in SKIPPED_DIRS)
            files += [os.path.join(root, f) for f in sorted(names) if f.endswith(SOURCE_SUFFIXES)]
    found = excused = 0
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
        lines = text.split("\n")
        count = len(lines) - (1 if text.endswith("\n") else 0)
        if count > MAX_FILE_LINES:
            reason = next((m.group(1) for m in map(SIZE_TAG.search, lines[:20]) if m), None)
            if reason is None:
                print(f"{path}: {count} lines (over {MAX_FILE_LINES})")
                found += 1
            else:
                excused += 1
                if show_all:
                    print(f"{path}: {count} lines; size: {reason}")
        if not path.endswith(".cc") and not path.endswith(".h"):
            continue
        for first, last, name in scan_functions(text):
            length = last - first + 1
            if length <= MAX_FUNCTION_LINES:
                continue
            reason = reason_before(lines, first)
            if reason is None:
                print(f"{path}:{first}: {name} is {length} lines (over {MAX_FUNCTION_LINES})")
                found += 1
            else:
                excused += 1
                if show_all:
                    print(f"{path}:{first}: {name} is {length} lines; size: {reason}")
    if show_all or found:
        print(f"{found} over the limits without a reason, {excused} with one")


main()
PY
exit 0
