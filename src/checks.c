#include "config.h"

#include <string.h>

#include "checks.h"

#define S "SECURITY"
#define P "PERFORMANCE"
#define EXT "EXTERNAL"
#define INT "INTERNAL"

/* splinter's categories and facing where it has the check */
const struct check_info check_table[] = {
	/* row level security */
	{ "rls_disabled_in_public", S, EXT, "a table the API exposes has row level security off" },
	{ "policy_exists_rls_disabled", S, EXT, "a table has policies while row level security is off" },
	{ "rls_enabled_no_policy", S, EXT, "row level security is on and no policy lets anyone see a row" },
	{ "rls_policy_always_true", S, EXT, "a permissive write policy is always true for a role other than service_role" },
	{ "rls_references_user_metadata", S, EXT, "a policy trusts the JWT's user_metadata, which users edit" },
	{ "anon_write_policy", S, EXT, "a permissive write policy applies to anon, who may write the table" },
	{ "auth_rls_initplan", P, EXT, "a policy calls auth.*() or current_setting() once per row" },
	{ "multiple_permissive_policies", P, EXT, "several permissive policies for one role and action" },
	/* what the API exposes */
	{ "auth_users_exposed", S, EXT, "a view the API exposes reads auth.users" },
	{ "security_definer_view", S, EXT, "a view the API exposes runs with its owner's rights" },
	{ "materialized_view_in_api", S, EXT, "a materialized view (no row level security) the API exposes" },
	{ "foreign_table_in_api", S, EXT, "a foreign table (no row level security) the API exposes" },
	{ "anon_security_definer_function_executable", S, EXT, "anon may call a SECURITY DEFINER function through /rpc" },
	{ "authenticated_security_definer_function_executable", S, EXT,
	  "authenticated may call a SECURITY DEFINER function through /rpc" },
	{ "function_search_path_mutable", S, EXT, "a function without a fixed search_path" },
	{ "insecure_queue_exposed_in_api", S, EXT, "a pgmq queue without row level security behind pgmq_public" },
	{ "public_bucket_allows_listing", S, EXT, "a public bucket's SELECT policy lets anyone list its files" },
	{ "sensitive_columns_exposed", S, EXT,
	  "a table the API serves without row level security has columns named like secrets" },
	{ "pg_graphql_anon_table_exposed", S, EXT, "pg_graphql shows anon a relation it may select" },
	{ "pg_graphql_authenticated_table_exposed", S, EXT, "pg_graphql shows authenticated a relation it may select" },
	/* the database */
	{ "extension_in_public", S, EXT, "an extension installed in schema public" },
	{ "extension_versions_outdated", S, EXT, "an extension older than its default version" },
	{ "unsupported_reg_types", S, EXT, "a column of a reg* type that pg_upgrade cannot carry" },
	{ "fkey_to_auth_unique", S, EXT, "a foreign key to a unique constraint of the auth schema" },
	{ "bypassrls_role", S, INT, "a role the platform does not expect bypasses row level security" },
	/* indexes and keys */
	{ "unindexed_foreign_keys", P, EXT, "a foreign key without an index that starts with its columns" },
	{ "duplicate_index", P, EXT, "indexes with the same definition" },
	{ "redundant_index", P, EXT, "an index that a leading part of another index already covers" },
	{ "invalid_index", P, INT, "an index left invalid (a failed CREATE INDEX CONCURRENTLY)" },
	{ "unused_index", P, EXT, "an index never scanned since the statistics were reset" },
	{ "no_primary_key", P, EXT, "a table without a primary key" },
	{ "table_bloat", P, EXT, "a table far larger than its rows need (dead space)" },
	/* drift against the snapshot the migrations left */
	{ "drift_dropped", S, INT, "an object the migrations made is gone" },
	{ "drift_changed", S, INT, "an object the migrations made changed outside them" },
	{ "drift_rls_disabled", S, INT, "row level security the migrations turned on is off" },
	{ "drift_index_invalid", P, INT, "an index the migrations made valid is invalid" },
	{ "drift_added", S, INT, "a policy or bucket that no migration made" },
	{ "drift_unchecked", S, INT, "no snapshot matches the applied migrations: drift is not checked" },
	/* the functional probe */
	{ "probe_policy_error", S, EXT, "reading a table as anon or authenticated fails (a policy raises)" },
	{ "probe_isolation_leak", S, EXT, "user B reads user A's rows" },
	{ "probe_isolation_unchecked", S, INT, "the probe could not test a table's isolation" },
	{ "probe_unchecked", S, INT, "the probe could not act as a role" },
	{ "probe_skipped", S, INT, "the probe skipped a locked table" },
	{ "probe_timeout", S, INT, "the probe did not finish within its timeout" },
	{ "probe_failed", S, INT, "the probe failed" },
};
const size_t check_count = sizeof(check_table) / sizeof(check_table[0]);

const struct check_info *check_find(const char *name)
{
	size_t i;

	for (i = 0; i < check_count; i++)
		if (strcmp(check_table[i].name, name) == 0)
			return &check_table[i];
	return NULL;
}

const char *check_categories(const char *name)
{
	const struct check_info *c = check_find(name);

	return c ? c->categories : S;
}

const char *check_facing(const char *name)
{
	const struct check_info *c = check_find(name);

	return c ? c->facing : EXT;
}
