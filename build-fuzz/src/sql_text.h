/* generated from src/sql/ by Makefile; do not edit */
#ifndef MOMENTUM_SQL_TEXT_H
#define MOMENTUM_SQL_TEXT_H
extern const char sql_lints[];
extern const char sql_manifest[];
extern const char sql_fingerprint[];
extern const char sql_drift[];
extern const char sql_record[];
extern const char sql_probe[];
extern const char sql_probe_login[];
extern const char sql_migrate_applied[];
extern const char sql_migrate_blockers[];
extern const char sql_migrate_bootstrap[];
extern const char sql_migrate_invalid_index_guard[];
extern const char sql_migrate_not_owner[];
extern const char sql_verify_lifecycle[];
extern const char sql_job_lock[];
extern const char sql_job_stale[];
extern const char sql_job_claim[];
extern const char sql_job_skipped[];
extern const char sql_job_finished[];
extern const char sql_job_run_lost[];
extern const char sql_job_prune[];
extern const char sql_job_last_ok[];
extern const char sql_job_cleanup_lag[];
extern const char sql_job_cleanup_batch[];
#endif
