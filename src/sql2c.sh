#!/bin/sh
# Embeds an SQL file in the binary as a C string: sql2c.sh NAME FILE > out.c
set -eu
name=$1
file=$2
printf '/* generated from %s by sql2c.sh; do not edit */\n' "$(basename "$file")"
printf 'extern const char %s[];\nconst char %s[] =\n' "$name" "$name"
sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$/\\n"/' "$file"
printf ';\n'
