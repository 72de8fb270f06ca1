/* Durations as users write them: "90 days", "30 min", "1 h 30 min", "500 ms". */
#ifndef MOMENTUM_DURATION_H
#define MOMENTUM_DURATION_H

#include <stddef.h>
#include <stdint.h>

/* Parses s into milliseconds.  On failure returns -1 and points *why at a
 * static explanation. */
int duration_parse(const char *s, int64_t *ms, const char **why);
/* Formats ms with the largest units that divide it: "90 days", "1 h 30 min". */
void duration_format(int64_t ms, char *buf, size_t size);

#endif
