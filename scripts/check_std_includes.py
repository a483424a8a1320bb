#!/usr/bin/env python3
"""Checks that every source file includes the standard header of each standard-library name it
uses, directly (a .cpp/.cu may also rely on its own header, e.g. core/tensor.cpp on
core/tensor.h).

Why: a standard library may stop including one header from another at any release (GCC 13's
libstdc++ dropped <cstdint> from <string>; libc++ removes transitive includes step by step), and
then a tree that compiled with GCC 12 no longer does. The clang + libc++ compile pass in CI
catches some of this; this check catches the rest without needing every compiler at hand.

    python3 scripts/check_std_includes.py [--fix] [paths...]   # default: the tracked C++/CUDA files
Prints one line per missing include and exits 1 if there is any. --fix adds the missing includes to
the file's block of standard includes (kept sorted). Textual fragments (*.inc, included inside a
namespace by their users) are not checked: their includer provides the headers.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name pattern (after comment and string stripping) -> the header that declares it
TABLE = [
    (r"\b(?:std::)?u?int(?:8|16|32|64)_t\b|\bu?intptr_t\b|\bU?INT(?:8|16|32|64)_(?:MAX|MIN)\b", "cstdint"),
    (r"std::(?:min|max|minmax|sort|partial_sort|stable_sort|nth_element|fill|fill_n|find|find_if|"
     r"count|count_if|reverse|all_of|any_of|none_of|max_element|min_element|minmax_element|equal|"
     r"transform|unique|lower_bound|upper_bound|clamp|remove_if|copy_if|mismatch|search|"
     r"lexicographical_compare|rotate|shuffle|is_sorted|binary_search)\b(?!_)", "algorithm"),
    (r"std::(?:copy|copy_n)\b(?!_)", "algorithm"),
    (r"std::(?:accumulate|iota|inner_product|partial_sum|gcd|lcm|midpoint|reduce)\b", "numeric"),
    (r"std::(?:w?string|to_string|stoi|stol|stoll|stoul|stoull|stod|stof|getline)\b(?!_view)", "string"),
    (r"std::string_view\b", "string_view"),
    (r"std::vector\b", "vector"),
    (r"std::(?:multi)?map\b", "map"),
    (r"std::unordered_(?:multi)?map\b", "unordered_map"),
    (r"std::(?:multi)?set\b", "set"),
    (r"std::unordered_(?:multi)?set\b", "unordered_set"),
    (r"std::array\b", "array"),
    (r"std::(?:optional|nullopt)\b", "optional"),
    (r"std::variant\b|std::(?:visit|holds_alternative|get_if)\b", "variant"),
    (r"std::function\b", "functional"),
    (r"std::(?:unique_ptr|shared_ptr|weak_ptr|make_unique|make_shared|enable_shared_from_this)\b", "memory"),
    (r"std::(?:memcpy|memmove|memset|memcmp|strlen|strcmp|strncmp|strerror|strchr|strrchr|strstr)\b", "cstring"),
    (r"std::(?:sqrt|exp|expm1|log|log1p|log2|log10|pow|fabs|abs|floor|ceil|round|lround|llround|"
     r"trunc|tanh|sinh|cosh|sin|cos|tan|atan|atan2|asin|acos|isfinite|isnan|isinf|fma|fmod|hypot|"
     r"erf|erfc|lgamma|tgamma|ldexp|frexp|nextafter|copysign|signbit|cbrt|fmax|fmin)\s*\(", "cmath"),
    (r"std::(?:runtime_error|logic_error|invalid_argument|out_of_range|length_error|overflow_error)\b", "stdexcept"),
    (r"std::(?:[io]?stringstream)\b", "sstream"),
    (r"std::(?:[io]?fstream)\b", "fstream"),
    (r"std::(?:cout|cerr|clog|cin)\b", "iostream"),
    (r"std::(?:printf|fprintf|snprintf|sprintf|fputs|fopen|fclose|fwrite|fread|fflush|puts|remove|rename|fseek|ftell|FILE)\b", "cstdio"),
    (r"std::(?:getenv|abort|exit|strtol|strtoll|strtoul|strtoull|strtod|strtof|atoi|malloc|free|"
     r"aligned_alloc|quick_exit|_Exit|system)\b", "cstdlib"),
    (r"std::(?:mutex|lock_guard|unique_lock|scoped_lock|once_flag|call_once)\b", "mutex"),
    (r"std::condition_variable\b", "condition_variable"),
    (r"std::(?:thread|this_thread)\b", "thread"),
    (r"std::atomic\b|std::memory_order", "atomic"),
    (r"std::chrono\b", "chrono"),
    (r"std::numeric_limits\b", "limits"),
    (r"std::(?:tuple|make_tuple|tie|apply)\b|std::get<\d", "tuple"),
    (r"std::(?:pair|make_pair|swap|move|forward|exchange|declval|in_place)\b(?!_)", "utility"),
    (r"std::span\b", "span"),
    (r"std::(?:is_same_v|is_same|enable_if_t|enable_if|conditional_t|decay_t|is_floating_point_v|"
     r"is_integral_v|remove_cv_t|remove_reference_t|is_trivially_copyable_v|underlying_type_t|"
     r"is_signed_v|is_unsigned_v|make_unsigned_t|is_arithmetic_v)\b", "type_traits"),
    (r"std::initializer_list\b", "initializer_list"),
    (r"std::filesystem\b", "filesystem"),
    (r"std::deque\b", "deque"),
    (r"std::list\b", "list"),
    (r"std::(?:queue|priority_queue)\b", "queue"),
    (r"std::bit_cast\b|std::(?:popcount|countl_zero|countr_zero|bit_width|has_single_bit)\b", "bit"),
    (r"std::(?:mt19937|mt19937_64|uniform_int_distribution|uniform_real_distribution|random_device)\b", "random"),
    (r"std::regex\b", "regex"),
    (r"std::(?:exception|exception_ptr|current_exception|rethrow_exception|terminate)\b", "exception"),
    (r"std::(?:setw|setprecision|fixed|scientific|setfill|hex|dec)\b", "iomanip"),
    (r"std::(?:ostream|istream)\b(?!_iterator)", "ostream|istream|iosfwd|iostream|sstream|fstream"),
    (r"std::(?:back_inserter|begin|end|size|data|next|prev|distance|advance|ostream_iterator|istreambuf_iterator)\b", "iterator|vector|string|array|map|set|span|string_view|unordered_map|unordered_set|deque|list"),
    (r"std::(?:ptrdiff_t|byte|nullptr_t|max_align_t)\b", "cstddef"),
    (r"std::(?:size_t)\b", "cstddef|cstdio|cstdlib|cstring|ctime|cwchar"),
    (r"std::(?:signal|sig_atomic_t)\b", "csignal"),
    (r"std::(?:time|time_t|strftime|gmtime|localtime|clock)\b", "ctime"),
    (r"std::(?:isalpha|isdigit|isspace|isalnum|isupper|islower|tolower|toupper|isprint|isxdigit)\b", "cctype"),
    (r"std::(?:errc|error_code)\b", "system_error"),
    (r"std::(?:from_chars|to_chars)\b", "charconv"),
    (r"std::(?:format)\b", "format"),
    (r"std::(?:ranges|views)::", "ranges|algorithm"),
    (r"std::(?:complex)\b", "complex"),
    (r"std::(?:bitset)\b", "bitset"),
]

INCLUDE = re.compile(r'^\s*#\s*include\s*[<"]([^>"]+)[>"]', re.M)


def strip(text):
    """Removes comments and string/char literals (so names in them do not count)."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    text = re.sub(r'R"(\w*)\(.*?\)\1"', '""', text, flags=re.S)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    text = re.sub(r"'(?:\\.|[^'\\\n])'", "''", text)
    return text


def includes_of(path):
    try:
        with open(path, encoding="utf-8") as f:
            return set(INCLUDE.findall(f.read()))
    except OSError:
        return set()


def own_header(path):
    """The header a .cpp/.cu implements (same folder and stem), if it exists."""
    stem, ext = os.path.splitext(path)
    if ext not in (".cpp", ".cu", ".cc"):
        return None
    for h in (".h", ".cuh", ".hpp"):
        if os.path.exists(stem + h):
            return stem + h
    return None


def missing(path):
    """[(line, name, header)] for every standard name used without its header."""
    with open(path, encoding="utf-8") as f:
        raw = f.read()
    code = strip(raw)
    have = set(INCLUDE.findall(raw))
    header = own_header(path)
    if header:
        have |= includes_of(header)
    # <cstdint> names are also declared by <stdint.h>; <cmath>'s by <math.h>, etc.
    have |= {"c" + h[:-2] for h in have if h.endswith(".h") and "/" not in h}
    found = []
    for pattern, headers in TABLE:
        m = re.search(pattern, code)
        if not m:
            continue
        options = headers.split("|")
        if not any(h in have for h in options):
            found.append((code.count("\n", 0, m.start()) + 1, m.group(0).strip("( "), options[0]))
    return found


def add_includes(path, headers):
    """Adds #include <h> for each h to the file's first block of standard includes, sorted; or,
    when it has none, as a new block before its first include (or after #pragma once)."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    system = [i for i, l in enumerate(lines) if re.match(r"\s*#\s*include\s*<", l)]
    new = [f"#include <{h}>" for h in sorted(set(headers))]
    if system:
        start = end = system[0]
        while end + 1 < len(lines) and re.match(r"\s*#\s*include\s*<", lines[end + 1]):
            end += 1
        block = sorted(set(lines[start:end + 1] + new))
        lines[start:end + 1] = block
    else:
        anchor = next((i for i, l in enumerate(lines) if re.match(r'\s*#\s*include\s*"', l)), None)
        if anchor is not None:
            own = lines[anchor]
            stem = os.path.splitext(os.path.basename(path))[0]
            if os.path.splitext(os.path.basename(own.split('"')[1]))[0] == stem:
                # The file's own header stays first: the new block goes after it.
                lines[anchor + 1:anchor + 1] = [""] + new
            else:
                lines[anchor:anchor] = new + [""]
        else:
            pragma = next((i for i, l in enumerate(lines) if l.strip() == "#pragma once"), -1)
            lines[pragma + 1:pragma + 1] = ([""] if pragma >= 0 else []) + new
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))


def main(argv):
    fix = "--fix" in argv
    files = [a for a in argv if a != "--fix"]
    if not files:
        out = subprocess.run(["git", "ls-files", "*.h", "*.cpp", "*.cu", "*.cuh"], cwd=ROOT,
                             capture_output=True, text=True, check=True).stdout
        files = [os.path.join(ROOT, f) for f in out.split()]
    problems = 0
    for path in files:
        found = missing(path)
        for line, name, header in found:
            print(f"{os.path.relpath(path, ROOT)}:{line}: uses {name} without #include <{header}>")
        problems += len(found)
        if fix and found:
            add_includes(path, [h for _, _, h in found])
    if problems and not fix:
        print(f"check_std_includes: {problems} missing standard include(s); "
              f"scripts/check_std_includes.py --fix adds them", file=sys.stderr)
        return 1
    print(f"check_std_includes: {len(files)} files, every standard name has its header")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
