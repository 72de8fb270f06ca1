/* Verification lints in the spirit of Supabase's splinter: each finding has
 * a stable check name, a level, the object and a one-line remedy.  One
 * catalog query, whatever the number of tables. */
#ifndef MOMENTUM_VERIFY_H
#define MOMENTUM_VERIFY_H

extern const char verify_lints_sql[];

#endif
